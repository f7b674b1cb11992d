#!/usr/bin/env python3
"""Leased mode's server load does not grow with the call rate (issue #14, "Measure it").

For each scenario: a fresh release breakerd on 127.0.0.1:0, CLIENTS client processes
(`breaker-inprocess-bench --load`), each with RESOURCES leased breakers (`load-0` … shared by all clients) that
it calls in turn for SECONDS, as fast as it can or at a given rate, some calls failing at random. Prints the
clients' calls/s, the lines/s breakerd received (the `stats` op counts before and after, `stats` itself left
out), breakerd's CPU, and the check: lines/s <= clients x (1 s / 50 ms) + failure-triggered sends, where a
client's failure-triggered sends are at most one per 5 ms and at most one per failure.

usage: lease_load.py [--bin .build/release] [--clients 4] [--resources 100] [--seconds 10] [--threads 1]
                     [--scenario NAME:RATE:FAILURE_RATE ...]
RATE is calls/s per client (0: as fast as it can); FAILURE_RATE the probability that a call fails.
Build first: swift build -c release --product breakerd && swift build -c release --product breaker-inprocess-bench
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time

from benchlib import cpu_seconds

FLUSH_S = 0.050          # LeaseBook.defaultFlushInterval
FAILURE_SPACING_S = 0.005  # LeaseBook.failureFlushSpacing

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--bin", default=".build/release", help="directory with breakerd and breaker-inprocess-bench")
parser.add_argument("--clients", type=int, default=4)
parser.add_argument("--resources", type=int, default=100)
parser.add_argument("--seconds", type=float, default=10)
parser.add_argument("--threads", type=int, default=1, help="calling threads per client")
parser.add_argument("--scenario", action="append", default=[],
                    help="NAME:RATE:FAILURE_RATE (default: fastest, 10k and 100 calls/s per client, "
                         "fastest with 0.1%% failing)")
args = parser.parse_args()
scenarios = args.scenario or [
    "fastest:0:0", "10k-per-client:10000:0", "100-per-client:100:0", "fastest-0.1%-failing:0:0.001"]
breakerd_bin = os.path.join(args.bin, "breakerd")
client_bin = os.path.join(args.bin, "breaker-inprocess-bench")
for b in (breakerd_bin, client_bin):
    if not os.access(b, os.X_OK):
        sys.exit(f"{b} is missing: build it with swift build -c release --product {os.path.basename(b)}")


def stats(port):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b'{"op":"stats"}\n')
        return json.loads(s.makefile("r").readline())["stats"]


def run(name, rate, failure_rate):
    work = tempfile.mkdtemp(prefix="lease-load-")
    server = subprocess.Popen([breakerd_bin, "--listen", "127.0.0.1:0", "--db", os.path.join(work, "b.sqlite"),
                               "--log-level", "warning"], stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline().rsplit(":", 1)[1])
    clients = [subprocess.Popen([client_bin, "--load", "--server", f"127.0.0.1:{port}",
                                 "--resources", str(args.resources), "--seconds", str(args.seconds),
                                 "--threads", str(args.threads), "--rate", str(rate),
                                 "--failure-rate", str(failure_rate)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(args.clients)]
    try:
        for c in clients:
            line = c.stdout.readline().strip()
            if line != "ready":
                sys.exit(f"a client did not get ready: {line!r}")
        before, cpu0, t0 = stats(port), cpu_seconds(server.pid), time.monotonic()
        for c in clients:
            c.stdin.write("go\n")
            c.stdin.flush()
        results = [json.loads(c.stdout.readline()) for c in clients]
        after, cpu1, t1 = stats(port), cpu_seconds(server.pid), time.monotonic()
    finally:
        for c in clients:
            try:
                c.stdin.close()
            except BrokenPipeError:
                pass
            c.wait(timeout=30)
        server.terminate()
        server.wait(timeout=30)
    window = t1 - t0
    ops = {op: after["ops"].get(op, 0) - before["ops"].get(op, 0) for op in after["ops"]}
    ops = {op: n for op, n in ops.items() if n and op != "stats"}
    lines_per_s = sum(ops.values()) / window
    calls_per_s = [r["calls"] / r["seconds"] for r in results]
    failures_per_s = [r["failures"] / r["seconds"] for r in results]
    triggered_per_s = sum(min(f, 1 / FAILURE_SPACING_S) for f in failures_per_s)
    bound = args.clients / FLUSH_S + triggered_per_s
    return {
        "scenario": name, "rate_per_client": rate, "failure_rate": failure_rate,
        "calls_per_s": round(sum(calls_per_s)), "calls_per_s_each": [round(c) for c in calls_per_s],
        "failures_per_s": round(sum(failures_per_s)),
        "rejected": sum(r["rejected"] for r in results),
        "lines_per_s": round(lines_per_s, 1), "ops_per_s": {op: round(n / window, 1) for op, n in ops.items()},
        "bound_lines_per_s": round(bound, 1), "within_bound": lines_per_s <= bound,
        "transitions": after["transitions"] - before["transitions"],
        "breakerd_cpu_percent": round(100 * (cpu1 - cpu0) / window, 1), "window_s": round(window, 2),
    }


rows = []
for spec in scenarios:
    name, rate, failure_rate = spec.split(":")
    row = run(name, float(rate), float(failure_rate))
    print(json.dumps(row), flush=True)
    rows.append(row)
print()
print("| scenario | clients' calls/s (total) | failures/s | breakerd lines/s (by op) | bound | within | breakerd CPU |")
print("|---|---:|---:|---|---:|---|---:|")
for r in rows:
    by_op = ", ".join(f"{op} {n:g}" for op, n in sorted(r["ops_per_s"].items()))
    print(f"| {r['scenario']} | {r['calls_per_s']:,} | {r['failures_per_s']:,} | {r['lines_per_s']:g} ({by_op}) "
          f"| {r['bound_lines_per_s']:g} | {'yes' if r['within_bound'] else 'NO'} | {r['breakerd_cpu_percent']}% |")
