#!/usr/bin/env bash
# Instructions breakerd executes per round trip (user space only), counted by valgrind's callgrind: a figure
# that does not move with the machine's other load, for A/B of hot-path changes.
#   bash benchmarks/instructions.sh BREAKERD [CONNECTIONS PIPELINE SECONDS] [OUT]
# Default 8 × 32 for 3 s, acquire on one hot resource, after 1 s unmeasured (counters zeroed after it). With
# OUT, the callgrind profile is kept there (`callgrind_annotate --threshold=100 OUT` shows where they go).
# Valgrind 3.19 cannot read the toolchain's DWARF 5, so a copy of the binary without debug info is run.
set -euo pipefail
bin=$1; c=${2:-8}; p=${3:-32}; d=${4:-3}; keep=${5:-}
if ! command -v valgrind >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
fi
cd "$(dirname "$0")/.."
bench="$(swift build -c release --show-bin-path)/breaker-bench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
objcopy --strip-debug "$bin" "$work/breakerd"
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$work/breakerd" --listen 127.0.0.1:0 \
    --db "$work/db.sqlite" --log-level warning >"$work/out" 2>"$work/err" &
vpid=$!
for _ in $(seq 300); do grep -q listening "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/out")
args=(--target breakerd --port "$port" --workload acquire-hot --connections "$c" --pipeline "$p")
"$bench" "${args[@]}" --duration 1 --warmup 0 >/dev/null
callgrind_control -z "$vpid" >/dev/null 2>&1
json=$("$bench" "${args[@]}" --duration "$d" --warmup 0)
kill -INT "$vpid"
wait "$vpid" || true
n=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["round_trips"])' "$json")
ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$work/cg.out" | head -1)
echo "$(basename "$bin"): $n round trips, $ir instructions, $((ir / n)) per round trip"
[ -z "$keep" ] || cp "$work/cg.out" "$keep"
