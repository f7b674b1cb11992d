#!/usr/bin/env bash
# Side-by-side benchmark of breakerd and Redis on this machine, same load generator, same run.
#   bash benchmarks/run.sh            the full matrix (about 3 minutes) and 1,000,000 breakers; writes RESULTS.md
#   bash benchmarks/run.sh --smoke    a few seconds, checks that everything still runs (CI); writes nothing
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
duration=5; warmup=1
$smoke && { duration=0.2; warmup=0.1; }

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; fi

echo "building in release ..." >&2
swift build -c release --product breakerd >&2
swift build -c release --product breaker-bench >&2
bin="$(swift build -c release --show-bin-path)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning >"$work/redis.log" 2>&1 &
pids+=($!)
"$bin/breakerd" --listen 127.0.0.1:0 --db "$work/bench.sqlite" --log-level warning >"$work/breakerd.out" 2>"$work/breakerd.err" &
bpid=$!; pids+=($bpid)
for _ in $(seq 100); do grep -q listening "$work/breakerd.out" 2>/dev/null && redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
bport=$(sed -n 's/^breakerd listening on .*:\([0-9]*\)$/\1/p' "$work/breakerd.out")
haddr=$(sed -n 's/^breakerd http on //p' "$work/breakerd.out")

# As in production: the HTTP port is on and Prometheus scrapes it every second during every run (issue #15).
python3 - "$haddr" "$work/scrapes.json" <<'PY' &
import json, signal, sys, time, urllib.request
address, out = sys.argv[1], sys.argv[2]
times, sizes = [], []
def stop(*_):
    json.dump({"scrapes": len(times), "mean_ms": 1000 * sum(times) / max(1, len(times)),
               "max_ms": 1000 * max(times, default=0), "bytes": max(sizes, default=0)}, open(out, "w"))
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    t = time.perf_counter()
    body = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read()
    times.append(time.perf_counter() - t); sizes.append(len(body))
    time.sleep(max(0, 1 - (time.perf_counter() - t)))
PY
scraper=$!; pids+=($scraper)

# Wait (at most 60 s) until the machine is quiet: more than 90% idle over one second.
if ! $smoke; then
    for _ in $(seq 60); do
        idle=$(python3 -c '
import time
def read():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return v[3] + v[4], sum(v)
i1, t1 = read(); time.sleep(1); i2, t2 = read(); print(int(100 * (i2 - i1) / max(1, t2 - t1)))')
        [ "$idle" -ge 90 ] && break
        echo "waiting for a quiet machine (idle ${idle}%)" >&2
    done
fi

results="$work/results.jsonl"
run() {  # target port workload connections pipeline
    "$bin/breaker-bench" --target "$1" --port "$2" --workload "$3" --connections "$4" --pipeline "$5" \
        --duration "$duration" --warmup "$warmup" | tee -a "$results" >&2
}
for shape in "1 1" "50 1" "8 32"; do
    set -- $shape
    run breakerd "$bport" acquire-hot "$1" "$2"
    run breakerd "$bport" acquire-spread "$1" "$2"
    run breakerd "$bport" acquire-report "$1" "$2"
    run redis "$rport" ping "$1" "$2"
    run redis "$rport" evalsha "$1" "$2"
done
kill -TERM "$scraper"; wait "$scraper" || true
$smoke && { echo "smoke: $(wc -l < "$results") runs finished; $(cat "$work/scrapes.json")"; exit 0; }

# Where the time goes: a CPU profile of breakerd under the 8 × 32 acquire load (when perf works here).
if command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null 2>&1 && command -v perf >/dev/null; }; then
    "$bin/breaker-bench" --target breakerd --port "$bport" --workload acquire-hot --connections 8 --pipeline 32 \
        --duration 6 --warmup 0 >/dev/null &
    lpid=$!
    sleep 1
    perf record -F 999 -g -p "$bpid" -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1 || true
    wait "$lpid" || true
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | head -25 > "$work/profile.txt" || true
fi
touch "$work/profile.txt"

# Memory of 1,000,000 breakers (count window 20: the default policy), and the restore time of their database.
python3 benchmarks/million.py "$bin/breakerd" "$work" > "$work/million.json"
python3 benchmarks/report.py "$results" "$work/million.json" "$work/profile.txt" "$work/scrapes.json" \
    > benchmarks/RESULTS.md
echo "wrote benchmarks/RESULTS.md" >&2
