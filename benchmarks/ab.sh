#!/usr/bin/env bash
# A/B of two breakerd binaries under the same load generator, alternating them (the order flips each round),
# for a machine too busy for absolute figures to be compared across runs.
#   bash benchmarks/ab.sh OLD_BREAKERD NEW_BREAKERD [ROUNDS] ["CONNECTIONS PIPELINE" ...]
# Default: 3 rounds of "8 32" and "50 1", acquire on one hot resource. Each run: 1 s unmeasured, then 4 s
# measured. Prints round trips/s and the server's CPU time per round trip (user and system, ns, from
# /proc/PID/stat): user time per round trip moves least with the machine's other load.
# AB_TLS=1: both servers and the load generator speak TLS 1.3 (a P-256 certificate for 127.0.0.1 made here).
# Build the tools first: swift build -c release --product breaker-bench
set -u
old=$1; new=$2; rounds=${3:-3}; shift $(( $# < 3 ? $# : 3 ))
shapes=("$@"); [ ${#shapes[@]} -eq 0 ] && shapes=("8 32" "50 1")
cd "$(dirname "$0")/.."
bench="$(swift build -c release --show-bin-path)/breaker-bench"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
server_tls=(); bench_tls=()
if [ "${AB_TLS:-0}" = 1 ]; then
    (cd "$work" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
        -days 2 -subj /CN=ca && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout s.key \
        -out s.csr -subj /CN=127.0.0.1 && echo "subjectAltName=IP:127.0.0.1" >ext && openssl x509 -req -in s.csr \
        -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile ext) 2>/dev/null
    server_tls=(--tls-cert "$work/s.pem" --tls-key "$work/s.key"); bench_tls=(--tls-ca "$work/ca.pem")
fi
start() {  # binary name
    "$1" --listen 127.0.0.1:0 --db "$work/$2.sqlite" --log-level warning "${server_tls[@]}" >"$work/$2.out" \
        2>"$work/$2.err" &
    pids+=($!)
    echo $! >"$work/$2.pid"
    for _ in $(seq 100); do grep -q listening "$work/$2.out" 2>/dev/null && break; sleep 0.1; done
}
start "$old" old
start "$new" new
port() { sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/$1.out"; }
cpu() { awk '{print $14" "$15}' "/proc/$(cat "$work/$1.pid")/stat"; }
for r in $(seq "$rounds"); do
    for shape in "${shapes[@]}"; do
        set -- $shape
        order="old new"; [ $((r % 2)) -eq 0 ] && order="new old"
        for who in $order; do
            args=(--target breakerd --port "$(port $who)" --workload acquire-hot --connections "$1" --pipeline "$2"
                "${bench_tls[@]}")
            "$bench" "${args[@]}" --duration 1 --warmup 0 >/dev/null
            c0=$(cpu $who)
            j=$("$bench" "${args[@]}" --duration 4 --warmup 0)
            c1=$(cpu $who)
            python3 - "$j" "$c0" "$c1" "$r" "$1 x $2" "$who" <<'PY'
import json, os, sys
j = json.loads(sys.argv[1])
u0, s0 = map(int, sys.argv[2].split()); u1, s1 = map(int, sys.argv[3].split())
hz = os.sysconf("SC_CLK_TCK"); n = max(j["round_trips"], 1)
print(f"round {sys.argv[4]}  {sys.argv[5]:7}  {sys.argv[6]}  {int(j['per_second']):>9,}/s  "
      f"user {1e9 * (u1 - u0) / hz / n:5.0f} ns  sys {1e9 * (s1 - s0) / hz / n:5.0f} ns per round trip")
PY
        done
    done
done
