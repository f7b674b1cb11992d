#!/usr/bin/env bash
# What TLS adds to each round trip, in instructions the server executes (user space, valgrind's callgrind), for
# breakerd and for Redis: a figure the machine's other load does not move, to tell a real difference in the
# TLS-to-plain ratio from the noise of throughput runs (issue #18).
#   bash benchmarks/tls_instructions.sh [CONNECTIONS PIPELINE SECONDS]     (default 8 32 3)
# Each server runs under callgrind twice: plain text, then TLS (a P-256 certificate made here; TLS 1.3); the
# same breaker-bench drives acquire (breakerd) and PING (Redis) after 1 s unmeasured.
set -euo pipefail
c=${1:-8}; p=${2:-32}; d=${3:-3}
cd "$(dirname "$0")/.."
for tool in valgrind redis-server openssl; do
    command -v "$tool" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        "$( [ "$tool" = redis-server ] && echo redis-server || echo "$tool")"; }
done
swift build -c release --product breakerd >&2
swift build -c release --product breaker-bench >&2
bin="$(swift build -c release --show-bin-path)"
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
(cd "$work" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj /CN=ca 2>/dev/null && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout s.key -out s.csr -subj /CN=127.0.0.1 2>/dev/null && echo "subjectAltName=IP:127.0.0.1" >ext \
    && openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out s.pem -days 2 -extfile ext 2>/dev/null)
objcopy --strip-debug "$bin/breakerd" "$work/breakerd"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# measure NAME TARGET WORKLOAD PORT TLS(0/1) PID CG_OUT: prints instructions per round trip.
measure() {
    local name=$1 target=$2 workload=$3 port=$4 tls=$5 vpid=$6 out=$7
    local args=(--target "$target" --port "$port" --workload "$workload" --connections "$c" --pipeline "$p")
    [ "$tls" = 1 ] && args+=(--tls-ca "$work/ca.pem")
    "$bin/breaker-bench" "${args[@]}" --duration 1 --warmup 0 >/dev/null
    callgrind_control -z "$vpid" >/dev/null 2>&1
    local json n ir
    json=$("$bin/breaker-bench" "${args[@]}" --duration "$d" --warmup 0)
    kill -INT "$vpid"
    wait "$vpid" 2>/dev/null || true
    n=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["round_trips"])' "$json")
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$out" | head -1)
    echo "$name: $n round trips, $ir instructions, $((ir / n)) per round trip"
}

for tls in 0 1; do
    flags=(); [ "$tls" = 1 ] && flags=(--tls-cert "$work/s.pem" --tls-key "$work/s.key")
    valgrind --tool=callgrind --callgrind-out-file="$work/b$tls.out" "$work/breakerd" --listen 127.0.0.1:0 \
        --db "$work/db$tls.sqlite" --http-listen off --log-level warning "${flags[@]}" >"$work/b$tls" 2>/dev/null &
    vpid=$!; pids+=($vpid)
    for _ in $(seq 300); do grep -q listening "$work/b$tls" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/b$tls" | head -1)
    measure "breakerd $([ "$tls" = 1 ] && echo TLS || echo plain)" breakerd acquire-hot "$port" "$tls" "$vpid" "$work/b$tls.out"

    port=$(free_port)
    if [ "$tls" = 1 ]; then
        rflags=(--port 0 --tls-port "$port" --tls-cert-file "$work/s.pem" --tls-key-file "$work/s.key"
            --tls-ca-cert-file "$work/ca.pem" --tls-auth-clients no)
    else
        rflags=(--port "$port")
    fi
    valgrind --tool=callgrind --callgrind-out-file="$work/r$tls.out" redis-server "${rflags[@]}" --bind 127.0.0.1 \
        --save '' --appendonly no --loglevel warning >/dev/null 2>&1 &
    vpid=$!; pids+=($vpid)
    for _ in $(seq 300); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.1; done
    measure "Redis $([ "$tls" = 1 ] && echo TLS || echo plain)" redis ping "$port" "$tls" "$vpid" "$work/r$tls.out"
done
