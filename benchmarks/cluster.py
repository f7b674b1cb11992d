#!/usr/bin/env python3
"""Cluster mode's acquire path against a single server (issue #19), with the same load generator.

    python3 benchmarks/cluster.py [--seconds 4] [--rounds 3] [--breakers 100000]

Builds breakerd and breaker-bench in release; starts 3 etcd members on loopback, a breakerd replica with
--cluster (the leader: only transitions and admin operations touch etcd), and a single breakerd with its SQLite
file. Alternating the two, it measures acquire (one hot resource) at 1 × 1 (p50), 50 × 1 and 8 × 32. Then it
creates `--breakers` breakers on the leader and reads how long its snapshot of every window to etcd takes
(transactions of 100 puts). Writes benchmarks/RESULTS-cluster.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT, free_port, release_binaries


def ask(port: int, body: dict) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((json.dumps(body) + "\n").encode())
        return json.loads(s.makefile("r").readline())


def bench(binary: str, port: int, workload: str, connections: int, pipeline: int, seconds: float,
          resources: int = 10_000) -> dict:
    r = subprocess.run([binary, "--target", "breakerd", "--port", str(port), "--workload", workload, "--connections",
                        str(connections), "--pipeline", str(pipeline), "--duration", str(seconds), "--warmup", "0.5",
                        "--resources", str(resources)], capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode != 0:
        sys.exit(f"breaker-bench: {r.stderr.strip()}")
    return json.loads(r.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--breakers", type=int, default=100_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS-cluster.md"))
    args = parser.parse_args()
    if shutil.which("etcd") is None:
        sys.exit("needs etcd (apt-get install etcd-server)")
    bin_dir = release_binaries("breakerd", "breaker-bench")
    bench_bin = os.path.join(bin_dir, "breaker-bench")
    work = tempfile.mkdtemp(prefix="hb-cluster-bench-")
    procs: list[subprocess.Popen] = []
    try:
        members = {f"m{i}": (free_port(), free_port()) for i in range(3)}
        initial = ",".join(f"{n}=http://127.0.0.1:{peer}" for n, (_, peer) in members.items())
        for name, (client, peer) in members.items():
            procs.append(subprocess.Popen(
                ["etcd", "--name", name, "--data-dir", os.path.join(work, name),
                 "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls",
                 f"http://127.0.0.1:{client}", "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}", "--initial-cluster", initial,
                 "--initial-cluster-state", "new", "--log-level", "error"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(2)
        endpoints = ",".join(f"127.0.0.1:{c}" for c, _ in members.values())
        cport = free_port()
        replica = subprocess.Popen([os.path.join(bin_dir, "breakerd"), "--listen", f"127.0.0.1:{cport}",
                                    "--cluster", f"etcd://{endpoints}", "--cluster-name", "bench",
                                    "--log-level", "warning", "--max-breakers", str(args.breakers + 1_000)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(replica)
        replica.stdout.readline()
        single = subprocess.Popen([os.path.join(bin_dir, "breakerd"), "--listen", "127.0.0.1:0", "--db",
                                   os.path.join(work, "single.sqlite"), "--log-level", "warning"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(single)
        sport = int(single.stdout.readline().strip().rsplit(":", 1)[1])
        end = time.monotonic() + 20
        while ask(cport, {"op": "list", "limit": 1}).get("ok") is not True:
            if time.monotonic() > end:
                sys.exit("the replica did not lead within 20 s")
            time.sleep(0.1)

        rows = []
        for shape, conns, pipe, key in (("1 × 1 (p50 µs)", 1, 1, "p50_us"), ("50 × 1 (/s)", 50, 1, "per_second"),
                                        ("8 × 32 (/s)", 8, 32, "per_second")):
            runs = {"single": [], "cluster": []}
            for r in range(args.rounds):
                order = [("single", sport), ("cluster", cport)]
                for name, port in order if r % 2 == 0 else reversed(order):
                    runs[name].append(bench(bench_bin, port, "acquire-hot", conns, pipe, args.seconds)[key])
            s, c = statistics.median(runs["single"]), statistics.median(runs["cluster"])
            ratio = (c / s) if key == "per_second" else (s / c)
            rows.append((shape, s, c, ratio, runs))
            print(f"{shape:16} single {s:>12,.1f}  cluster {c:>12,.1f}  ratio {ratio:.3f}", flush=True)

        # Many breakers: create them, then time the leader's snapshot of every window to etcd.
        bench(bench_bin, cport, "acquire-spread", 8, 32, 8, resources=args.breakers)
        held = ask(cport, {"op": "stats"})["stats"]["breakers"]["total"]
        before = ask(cport, {"op": "stats"})["stats"]["snapshot"]["count"]
        end = time.monotonic() + 120
        while ask(cport, {"op": "stats"})["stats"]["snapshot"]["count"] < before + 2 and time.monotonic() < end:
            time.sleep(0.5)
        snap = ask(cport, {"op": "stats"})["stats"]["snapshot"]
        # A full snapshot (SIGUSR1): every breaker, changed or not.
        replica.send_signal(10)
        end = time.monotonic() + 300
        count = snap["count"]
        while ask(cport, {"op": "stats"})["stats"]["snapshot"]["count"] <= count and time.monotonic() < end:
            time.sleep(0.5)
        full = ask(cport, {"op": "stats"})["stats"]["snapshot"]
        db = sum(f.stat().st_size for f in pathlib.Path(work, "m0").rglob("*") if f.is_file())
        print(f"snapshot of {full['rows']} rows in {full['duration_ms']} ms; etcd member data {db / 1e6:.1f} MB")

        lines = [
            "# Cluster mode against a single server (issue #19)",
            "",
            f"Command: `python3 benchmarks/cluster.py --seconds {args.seconds:g} --rounds {args.rounds} --breakers "
            f"{args.breakers}` (release breakerd; 3 etcd {subprocess.run(['etcd', '--version'], capture_output=True, text=True).stdout.split()[2]} "
            "members on loopback; the leader of a one-replica cluster against a single server with its SQLite file; "
            "acquire on one hot resource, the same `breaker-bench`; median of the rounds, the two alternating). "
            "Client, servers and etcd share 2 cores.",
            "",
            "| shape | single server | cluster leader | cluster ÷ single | single rounds | cluster rounds |",
            "|---|---:|---:|---:|---|---|",
        ]
        for shape, s, c, ratio, runs in rows:
            lines.append(f"| {shape} | {s:,.1f} | {c:,.1f} | {ratio:.3f} | "
                         f"{', '.join(f'{x:,.0f}' for x in runs['single'])} | "
                         f"{', '.join(f'{x:,.0f}' for x in runs['cluster'])} |")
        lines += [
            "",
            f"Snapshots to etcd with {held:,} breakers: a snapshot of the changed windows took {snap['duration_ms']} ms "
            f"({snap['rows']:,} rows); a full one (SIGUSR1) took {full['duration_ms']} ms for {full['rows']:,} rows "
            f"(transactions of 100 puts, about {full['rows'] // 100:,} of them); one etcd member's data directory "
            f"then held {db / 1e6:.1f} MB.",
        ]
        pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
