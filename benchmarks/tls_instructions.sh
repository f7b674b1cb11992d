#!/usr/bin/env bash
# What TLS adds to each round trip, in instructions the server executes (user space, valgrind's callgrind), for
# breakerd and for Redis: a figure the machine's other load does not move, to tell a real difference in the
# TLS-to-plain ratio from the noise of throughput runs (issue #18).
#   bash benchmarks/tls_instructions.sh [CONNECTIONS PIPELINE SECONDS]     (default 8 32 3)
#   BREAKERD=path/to/breakerd ONLY=breakerd bash benchmarks/tls_instructions.sh …   (another build; Redis skipped)
#   REDIS_WORKLOAD=echo bash benchmarks/tls_instructions.sh …   (Redis ECHO of 33 bytes, as many bytes as acquire)
#   CONNECT=1 bash benchmarks/tls_instructions.sh 1 1 6   (new connections: connect, handshake, one ping, close;
#                                                          the figures are then per connection)
# Each server runs under callgrind twice: plain text, then TLS (a P-256 certificate made here; TLS 1.3); the
# same breaker-bench drives acquire (breakerd) and PING or ECHO (Redis) after 1 s unmeasured.
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
objcopy --strip-debug "${BREAKERD:-$bin/breakerd}" "$work/breakerd"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# measure NAME TARGET WORKLOAD PORT TLS(0/1) PID CG_OUT: prints instructions per round trip. Two runs, of 1 s
# and of SECONDS, each counted on its own (zeroed, then dumped): every run opens its connections, so each count
# holds one set of handshakes; the difference of the two counts over the difference of their round trips holds
# none. (With CONNECT=1 the handshakes are the point: the longer run's count per connection.)
measure() {
    local name=$1 target=$2 workload=$3 port=$4 tls=$5 vpid=$6 out=$7
    local args=(--target "$target" --port "$port" --workload "$workload" --connections "$c" --pipeline "$p")
    [ "$tls" = 1 ] && args+=(--tls-ca "$work/ca.pem")
    "$bin/breaker-bench" "${args[@]}" --duration 1 --warmup 0 >/dev/null
    local runs=() seconds part counts=()
    for seconds in 1 "$d"; do
        callgrind_control -z "$vpid" >/dev/null 2>&1
        runs+=("$("$bin/breaker-bench" "${args[@]}" --duration "$seconds" --warmup 0)")
        callgrind_control -d "$vpid" >/dev/null 2>&1
    done
    kill -INT "$vpid"
    wait "$vpid" 2>/dev/null || true
    for part in "$out".1 "$out".2; do
        counts+=("$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$part" | head -1)")
    done
    python3 - "$name" "${runs[0]}" "${runs[1]}" "${counts[0]}" "${counts[1]}" "${CONNECT:-0}" <<'PY'
import json, sys
name, connect = sys.argv[1], sys.argv[6] == "1"
n1, n2 = (json.loads(run)["round_trips"] for run in sys.argv[2:4])
i1, i2 = int(sys.argv[4]), int(sys.argv[5])
per = i2 / n2 if connect else (i2 - i1) / (n2 - n1)
print(f"{name}: {n2} round trips, {i2:,} instructions; {per:,.0f} per {'connection' if connect else 'round trip'}")
PY
}

breakerd_workload=acquire-hot; redis_workload=${REDIS_WORKLOAD:-ping}
[ "${CONNECT:-0}" = 1 ] && breakerd_workload=connect && redis_workload=connect

for tls in 0 1; do
    flags=(); [ "$tls" = 1 ] && flags=(--tls-cert "$work/s.pem" --tls-key "$work/s.key")
    valgrind --tool=callgrind --callgrind-out-file="$work/b$tls.out" "$work/breakerd" --listen 127.0.0.1:0 \
        --db "$work/db$tls.sqlite" --http-listen off --log-level warning "${flags[@]}" >"$work/b$tls" 2>/dev/null &
    vpid=$!; pids+=($vpid)
    for _ in $(seq 300); do grep -q listening "$work/b$tls" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/b$tls" | head -1)
    measure "breakerd $([ "$tls" = 1 ] && echo TLS || echo plain)" breakerd "$breakerd_workload" "$port" "$tls" "$vpid" \
        "$work/b$tls.out"
    [ "${ONLY:-}" = breakerd ] && continue

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
    measure "Redis $redis_workload $([ "$tls" = 1 ] && echo TLS || echo plain)" redis "$redis_workload" "$port" "$tls" \
        "$vpid" "$work/r$tls.out"
done
