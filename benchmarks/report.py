#!/usr/bin/env python3
"""Writes RESULTS.md from benchmark lines (breaker-bench JSON) and the million-breaker figures."""
import json, os, platform, subprocess, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
million = json.load(open(sys.argv[2]))


def get(target, workload, c, p):
    return next(r for r in rows if r["target"] == target and r["workload"] == workload and r["connections"] == c and r["pipeline"] == p)


def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
shapes = [(1, 1), (50, 1), (8, 32)]
scrapes = json.load(open(sys.argv[4])) if len(sys.argv) > 4 and os.path.exists(sys.argv[4]) else None
scrape_line = (
    f"breakerd's HTTP port was on and `/metrics` was scraped every second throughout the runs: {scrapes['scrapes']} "
    f"scrapes, {scrapes['mean_ms']:.1f} ms on average (at most {scrapes['max_ms']:.1f} ms), {scrapes['bytes']:,} bytes."
    if scrapes else "")
out = ["# Benchmark results", "",
       f"Machine: {os.cpu_count()} cores ({cpu()}), Linux {platform.release()}; client and servers share it, over loopback.",
       f"{swift}; Redis {redis.replace('v=', '')} (persistence off); breakerd release build with `--db` on a real file.",
       "Command: `bash benchmarks/run.sh` (each row: 1 s warm-up, then 5 s measured, one `breaker-bench` process).",
       "Absolute figures drift between runs on this shared machine; compare the ratios, which come from one run.",
       scrape_line, "",
       "## Round trips", "",
       "| connections × in flight | breakerd acquire (hot) | acquire (10k resources) | acquire+report | Redis PING | Redis EVALSHA |",
       "|---|---|---|---|---|---|"]
for c, p in shapes:
    cells = []
    for t, w in [("breakerd", "acquire-hot"), ("breakerd", "acquire-spread"), ("breakerd", "acquire-report"), ("redis", "ping"), ("redis", "evalsha")]:
        r = get(t, w, c, p)
        cells.append(f"{r['per_second']:,.0f}/s (p50 {r['p50_us']:.0f} µs, p99 {r['p99_us']:.0f}, p99.9 {r['p999_us']:.0f})")
    out.append(f"| {c} × {p} | " + " | ".join(cells) + " |")

a50, e50 = get("breakerd", "acquire-hot", 50, 1), get("redis", "evalsha", 50, 1)
a832, e832 = get("breakerd", "acquire-hot", 8, 32), get("redis", "evalsha", 8, 32)
a1, p1 = get("breakerd", "acquire-hot", 1, 1), get("redis", "ping", 1, 1)
r1 = a50["per_second"] / e50["per_second"]
r2 = a832["per_second"] / e832["per_second"]
r3 = a1["p50_us"] / p1["p50_us"]
mem_gib = million["rss_kib"] / 1024 / 1024
out += ["", "## Targets", "", "| workload | target | measured | met |", "|---|---|---|---|",
        f"| acquire, 50 connections, unpipelined | ≥ 1.0× Redis EVALSHA | {r1:.2f}× ({a50['per_second']:,.0f} vs {e50['per_second']:,.0f}/s) | {'yes' if r1 >= 1.0 else 'no'} |",
        f"| acquire, 8 connections × 32 in flight | ≥ 2.0× Redis EVALSHA pipelined | {r2:.2f}× ({a832['per_second']:,.0f} vs {e832['per_second']:,.0f}/s) | {'yes' if r2 >= 2.0 else 'no'} |",
        f"| acquire, 1 connection: p50 latency | ≤ 1.5× Redis PING's p50 | {r3:.2f}× ({a1['p50_us']:.0f} vs {p1['p50_us']:.0f} µs) | {'yes' if r3 <= 1.5 else 'no'} |",
        f"| 1,000,000 breakers | ≤ 1 GiB RSS; restart with all restored in ≤ 10 s | {mem_gib:.2f} GiB RSS; {million['breakers']:,} restored, listening after {million['restart_to_listening_s']} s | {'yes' if mem_gib <= 1 and million['restart_to_listening_s'] <= 10 else 'no'} |",
        "", "## 1,000,000 breakers", "",
        f"Created with pipelined `acquire` (the default policy: count window 20). RSS {million['rss_kib']:,} KiB "
        f"(empty server: {million['rss_empty_kib']:,} KiB), about {(million['rss_kib'] - million['rss_empty_kib']) * 1024 / max(1, million['breakers']):.0f} bytes per breaker. "
        f"Graceful shutdown with a snapshot of all of them: {million['shutdown_with_snapshot_s']} s; database {million['db_bytes'] / 1e6:.0f} MB. "
        f"Restart: listening after {million['restart_to_listening_s']} s (`{million['restored_log'].split('breakerd: ')[-1]}`).", ""]
profile = [l.rstrip() for l in open(sys.argv[3])] if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else []
if profile:
    out += ["## Profile", "", "`perf record -F 999 -g` of breakerd for 4 s under acquire (hot), 8 connections × 32 in flight;",
            "self time by symbol (`perf report --no-children --sort symbol`), the top entries:", "", "```"]
    out += [l.strip()[:150] for l in profile]
    out += ["```", ""]
findings = os.path.join(os.path.dirname(os.path.abspath(__file__)), "findings.md")
if os.path.exists(findings):
    out += [open(findings).read().rstrip(), ""]
print("\n".join(out))
