#!/usr/bin/env python3
"""TLS against plain text, for breakerd and for Redis (issue #18), with the same load generator.

    python3 benchmarks/tls.py [--seconds 4] [--rounds 3] [--out benchmarks/RESULTS-tls.md]

Builds breakerd and breaker-bench in release, makes a CA and a server certificate for 127.0.0.1 with the openssl
command, and starts: breakerd twice (plain, and with --tls-cert/--tls-key), and one redis-server (Debian's,
built with TLS) with both --port and --tls-port. Every row alternates plain and TLS for `--rounds` rounds and
takes the median round: 1 connection (p50), 50 connections unpipelined, 8 connections × 32 in flight, and new
connections per second (connect, handshake, one ping, close). The target: breakerd's TLS-to-plain ratio no
worse than Redis's.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import ROOT, cpu_seconds, free_port, release_binaries


def openssl(work: str, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=work, check=True, capture_output=True)


def certificates(work: str) -> None:
    openssl(work, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=bench-ca")
    openssl(work, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(work, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    openssl(work, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "30", "-extfile", "server.ext")


def start_breakerd(binary: str, work: str, name: str, tls: bool) -> tuple[subprocess.Popen, int]:
    args = [binary, "--listen", "127.0.0.1:0", "--db", os.path.join(work, f"{name}.sqlite"), "--log-level", "warning"]
    if tls:
        args += ["--tls-cert", os.path.join(work, "server.pem"), "--tls-key", os.path.join(work, "server.key")]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "listening" not in line:
        sys.exit(f"breakerd ({name}) did not start: {line!r}")
    return proc, int(line.strip().rsplit(":", 1)[1])


def bench(binary: str, target: str, port: int, workload: str, connections: int, pipeline: int, seconds: float,
          ca: str | None, server_pid: int) -> dict:
    """One run; adds `server_cpu_us`: the server's CPU time per round trip (per connection for `connect`),
    sampled over the measured window (after the 0.5 s warm-up)."""
    args = [binary, "--target", target, "--port", str(port), "--workload", workload, "--connections",
            str(connections), "--pipeline", str(pipeline), "--duration", str(seconds), "--warmup", "0.5"]
    if ca:
        args += ["--tls-ca", ca]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.55)
    t0, c0 = time.monotonic(), cpu_seconds(server_pid)
    time.sleep(max(seconds - 0.15, 0.1))
    t1, c1 = time.monotonic(), cpu_seconds(server_pid)
    out, err = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0:
        sys.exit(f"breaker-bench {' '.join(args[1:])}: {err.strip()}")
    result = json.loads(out)
    result["server_cpu_us"] = (c1 - c0) / (t1 - t0) * seconds / max(result["round_trips"], 1) * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS-tls.md"))
    parser.add_argument("--shapes", default="1x1,50x1,8x32,connect", help="which rows, comma-separated")
    args = parser.parse_args()
    for tool in ("openssl", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool} (apt-get install {'openssl' if tool == 'openssl' else 'redis-server'})")
    bin_dir = release_binaries("breakerd", "breaker-bench")
    bench_bin = os.path.join(bin_dir, "breaker-bench")
    work = tempfile.mkdtemp(prefix="hb-tls-bench-")
    procs: list[subprocess.Popen] = []
    try:
        certificates(work)
        ca = os.path.join(work, "ca.pem")
        plain, plain_port = start_breakerd(os.path.join(bin_dir, "breakerd"), work, "plain", False)
        tls, tls_port = start_breakerd(os.path.join(bin_dir, "breakerd"), work, "tls", True)
        procs += [plain, tls]
        rport, rtls = free_port(), free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--tls-port", str(rtls), "--tls-cert-file",
                                  os.path.join(work, "server.pem"), "--tls-key-file", os.path.join(work, "server.key"),
                                  "--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--loglevel", "warning"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(redis)
        time.sleep(0.5)
        servers = {  # name: (target, workload, plain port, TLS port, plain server's pid, TLS server's pid)
            "breakerd acquire": ("breakerd", "acquire-hot", plain_port, tls_port, plain.pid, tls.pid),
            "Redis PING": ("redis", "ping", rport, rtls, redis.pid, redis.pid),
            "Redis EVALSHA": ("redis", "evalsha", rport, rtls, redis.pid, redis.pid),
            # ECHO of 33 bytes: 94 bytes on the wire per round trip, as acquire's 95 (TLS's cost is per byte and
            # per record: this is the row whose TLS work is acquire's).
            "Redis ECHO": ("redis", "echo", rport, rtls, redis.pid, redis.pid),
        }
        every = {"1x1": ("1 × 1 (p50 µs)", 1, 1, "p50"), "50x1": ("50 × 1 (/s)", 50, 1, "rate"),
                 "8x32": ("8 × 32 (/s)", 8, 32, "rate"), "connect": ("new connections (/s)", 1, 1, "connect")}
        shapes = [every[k] for k in args.shapes.split(",")]
        rows = []
        for shape, conns, pipe, kind in shapes:
            # Every server, plain and TLS, once per round, in an order that rotates: the machine's drift falls
            # on all of them alike.
            runs = [(name, target, workload if kind != "connect" else "connect", is_tls, tport if is_tls else pport,
                     tpid if is_tls else ppid)
                    for name, (target, workload, pport, tport, ppid, tpid) in servers.items()
                    if not (kind == "connect" and workload in ("evalsha", "echo")) for is_tls in (False, True)]
            values: dict = {(name, is_tls): [] for name, _, _, is_tls, _, _ in runs}
            cpu: dict = {(name, is_tls): [] for name, _, _, is_tls, _, _ in runs}
            for r in range(args.rounds):
                for name, target, wl, is_tls, port, pid in runs[r % len(runs):] + runs[:r % len(runs)]:
                    out = bench(bench_bin, target, port, wl, conns, pipe, args.seconds, ca if is_tls else None, pid)
                    values[(name, is_tls)].append(out["p50_us"] if kind == "p50" else out["per_second"])
                    cpu[(name, is_tls)].append(out["server_cpu_us"])
            for name in servers:
                if (name, False) not in values:
                    continue
                plain_runs, tls_runs = values[(name, False)], values[(name, True)]
                p, t = statistics.median(plain_runs), statistics.median(tls_runs)
                # The ratio is what TLS keeps of plain's figure: rates TLS/plain, latency plain/TLS (1.0 = no cost).
                ratio = (t / p) if kind != "p50" else (p / t)
                # The server's CPU time per round trip, plain ÷ TLS: the same question asked of CPU time, which the
                # machine's other load moves less than rates (the client's share is not in it).
                cp, ct = statistics.median(cpu[(name, False)]), statistics.median(cpu[(name, True)])
                rows.append((shape, name, p, t, ratio, plain_runs, tls_runs, cp, ct))
                print(f"{shape:22} {name:18} plain {p:>12,.1f}  TLS {t:>12,.1f}  ratio {ratio:.3f}  "
                      f"server CPU/rt {cp:.2f} → {ct:.2f} µs ({cp / ct:.3f})", flush=True)
        lines = [
            "# TLS against plain text: breakerd and Redis (issue #18)",
            "",
            f"Command: `python3 benchmarks/tls.py --seconds {args.seconds:g} --rounds {args.rounds} --shapes "
            f"{args.shapes}` (release "
            "breakerd; Redis 7.0.15 from Debian with `--tls-port`; the same `breaker-bench` for both, OpenSSL "
            "TLS 1.3 with a P-256 certificate, verified). Redis ECHO carries 33 bytes: 94 bytes on the wire per "
            "round trip, as acquire's 95 (PING's are 21). Each cell is the median of the rounds; every round runs "
            "each server plain and TLS once, in an order that rotates. The ratio is what TLS keeps of plain's figure (rates: TLS ÷ plain; p50: plain ÷ TLS): "
            "1.0 means TLS costs nothing. Client and servers share 2 cores over loopback. Server CPU: the server "
            "process's user + system time per round trip (per connection for new connections) over the measured "
            "window, from /proc (median of the rounds); its ratio is plain ÷ TLS.",
            "",
            "| shape | server | plain | TLS | ratio | plain rounds | TLS rounds | server CPU µs plain → TLS (ratio) |",
            "|---|---|---:|---:|---:|---|---|---|",
        ]
        for shape, name, p, t, ratio, pr, tr, cp, ct in rows:
            lines.append(f"| {shape} | {name} | {p:,.1f} | {t:,.1f} | {ratio:.3f} | "
                         f"{', '.join(f'{x:,.0f}' for x in pr)} | {', '.join(f'{x:,.0f}' for x in tr)} | "
                         f"{cp:.2f} → {ct:.2f} ({cp / ct:.3f}) |")
        lines += ["", "| shape | breakerd's ratio | Redis PING's | Redis ECHO's (same bytes) | Redis EVALSHA's | "
                  "breakerd's no worse than PING's / ECHO's | server CPU ratio: breakerd | PING | ECHO |",
                  "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
        for shape, *_ in shapes:
            got = {name: (ratio, cp / ct) for s, name, _, _, ratio, _, _, cp, ct in rows if s == shape}
            mine = got["breakerd acquire"]

            def cell(name: str, i: int) -> str:
                return f"{got[name][i]:.3f}" if name in got else "–"

            def verdict(name: str) -> str:
                return ("yes" if mine[0] >= got[name][0] else "no") if name in got else "–"

            lines.append(f"| {shape} | {mine[0]:.3f} | {cell('Redis PING', 0)} | {cell('Redis ECHO', 0)} | "
                         f"{cell('Redis EVALSHA', 0)} | {verdict('Redis PING')} / {verdict('Redis ECHO')} | "
                         f"{mine[1]:.3f} | {cell('Redis PING', 1)} | {cell('Redis ECHO', 1)} |")
        pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
