#!/usr/bin/env python3
"""What the Python client adds to a call on a closed circuit (issue #17): `run` of a no-op function through
an in-process `CircuitBreakerPolicy`, a strict `SharedCircuitBreakerPolicy` (one `acquire` round trip and a
`noreply` report per call) and a leased one (closed, holding a lease: no round trip), one thread, against a
breakerd it starts on 127.0.0.1:0 with its database in a temporary directory.

    python3 benchmarks/python_overhead.py [BREAKERD] [--seconds 2] [--rounds 3] [--async]

BREAKERD defaults to .build/release/breakerd (else .build/debug/breakerd). Each mode runs `--rounds` times on a
fresh resource (a leased one is warmed up until breakerd shows its lease), for `--seconds` each; the row shows
the median round. "median ns/call" times every batch of 64 calls and takes the median batch divided by 64 (the
machine is shared: unlike the mean, it does not count the time the thread was preempted); "overhead" subtracts
the bare function call's. "requests/s" is the difference of breakerd's `stats` op counts over the round.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "clients" / "python" / "src"))

from highway_breaker import CircuitBreakerPolicy, SharedCircuitBreakerPolicy  # noqa: E402
from highway_breaker._connection import close_shared_connections  # noqa: E402

BATCH = 64


def start_breakerd(binary, directory):
    proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--db", os.path.join(directory, "bench.sqlite"),
                             "--http-listen", "off", "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("breakerd listening on "):
        proc.kill()
        sys.exit(f"breakerd did not start: {line!r}")
    return proc, line.strip().rsplit(" ", 1)[1]


def ask(address, request):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(sock.makefile("rb").readline())


def ops(address):
    return ask(address, {"op": "stats"})["stats"]["ops"]


def measure(call, seconds):
    """(calls per second, median ns per call over batches of 64) of `call` for `seconds`."""
    batches = []
    calls = 0
    clock = time.perf_counter_ns
    start = clock()
    end = start + int(seconds * 1e9)
    now = start
    while now < end:
        t0 = clock()
        for _ in range(BATCH):
            call()
        now = clock()
        batches.append(now - t0)
        calls += BATCH
    return calls / ((now - start) / 1e9), statistics.median(batches) / BATCH


async def measure_async(call, seconds):
    batches = []
    calls = 0
    clock = time.perf_counter_ns
    start = clock()
    end = start + int(seconds * 1e9)
    now = start
    while now < end:
        t0 = clock()
        for _ in range(BATCH):
            await call()
        now = clock()
        batches.append(now - t0)
        calls += BATCH
    return calls / ((now - start) / 1e9), statistics.median(batches) / BATCH


async def warm_up_async(call):
    for _ in range(1000):
        await call()


def noop():
    return None


async def anoop():
    return None


def make(mode, address, round_):
    resource = f"bench-{mode.replace(' ', '-')}-{round_}"
    if mode in ("bare", "bare async"):
        return None, noop if mode == "bare" else anoop
    if mode.startswith("policy"):
        breaker = CircuitBreakerPolicy()
    else:
        consistency = "leased" if mode.startswith("leased") else "strict"
        breaker = SharedCircuitBreakerPolicy(resource, address, consistency=consistency, timeout=1)
        breaker.wait_connected()
        if consistency == "leased":
            deadline = time.monotonic() + 5
            breaker.execute(noop)
            while ask(address, {"op": "status", "resource": resource})["breaker"].get("leases") != 1:
                if time.monotonic() > deadline:
                    sys.exit("the leased breaker got no lease")
                time.sleep(0.01)
            time.sleep(0.06)
    return breaker, breaker(anoop if mode.endswith("async") else noop)


def run_mode(mode, address, seconds, rounds):
    results = []
    for round_ in range(rounds):
        breaker, call = make(mode, address, round_)
        if mode.endswith("async"):                      # warm-up, before the op counts are read
            asyncio.run(warm_up_async(call))
        else:
            for _ in range(1000):
                call()
        before = ops(address)
        if mode.endswith("async"):
            rate, ns = asyncio.run(measure_async(call, seconds))
        else:
            rate, ns = measure(call, seconds)
        after = ops(address)
        requests = sum(after.values()) - sum(before.values()) - 1          # this round's own stats request
        results.append((rate, ns, requests / seconds))
        if breaker is not None and hasattr(breaker, "flush"):
            breaker.flush()
        close_shared_connections()
    results.sort(key=lambda r: r[1])
    return results[len(results) // 2], [round(r[0]) for r in results]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("breakerd", nargs="?")
    parser.add_argument("--seconds", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--async", dest="with_async", action="store_true", help="also the async def variants")
    args = parser.parse_args()
    binary = args.breakerd or next((str(p) for p in (ROOT / ".build/release/breakerd", ROOT / ".build/debug/breakerd")
                                    if p.exists()), None)
    if binary is None:
        sys.exit("build breakerd first: swift build -c release --product breakerd")
    modes = ["bare", "policy", "strict", "leased"]
    if args.with_async:
        modes += ["bare async", "policy async", "strict async", "leased async"]
    with tempfile.TemporaryDirectory() as directory:
        proc, address = start_breakerd(binary, directory)
        try:
            rows = {m: run_mode(m, address, args.seconds, args.rounds) for m in modes}
        finally:
            proc.terminate()
            proc.wait()
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), {os.cpu_count()} cores, "
          f"breakerd {binary}, one thread, {args.seconds:g} s x {args.rounds} rounds\n")
    print("| mode | calls/s (median round) | median ns/call | overhead ns/call (minus bare call) | requests to "
          "breakerd per s | rounds (calls/s) |")
    print("|---|---:|---:|---:|---:|---|")
    for mode in modes:
        (rate, ns, requests), rounds = rows[mode]
        bare = rows["bare async" if mode.endswith("async") else "bare"][0][1]
        overhead = "–" if mode.startswith("bare") else f"{ns - bare:,.0f}"
        req = "–" if mode.startswith(("bare", "policy")) else f"{requests:,.1f}"
        print(f"| {mode} | {rate:,.0f} | {ns:,.0f} | {overhead} | {req} | {', '.join(f'{r:,}' for r in rounds)} |")


if __name__ == "__main__":
    main()
