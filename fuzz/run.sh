#!/usr/bin/env bash
# Fuzzes the protocol's input path (LineFramer, Request.decode, JSON round trip) and, behind it, the
# BreakerStateMachine that every decoded request drives, with libFuzzer.
#   bash fuzz/run.sh            60 s (what CI runs)
#   bash fuzz/run.sh 1800       30 minutes
# Replays every input in fuzz/crashes first (past crashes stay fixed). New crash inputs are written to
# fuzz/crashes/; commit them with the fix. The corpus grows in a temporary copy; copy interesting new
# inputs from it into fuzz/corpus if you like.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(-sanitize=fuzzer,address -parse-as-library -O -g)

mkdir -p crashes
# gold's notes about ASan's local symbols are harmless; everything else the build says is shown.
quiet() { "$@" 2> >(grep -v "Cannot export local symbol" >&2); }

echo "building the fuzz target (swiftc -sanitize=fuzzer,address) ..."
quiet swiftc "${flags[@]}" -emit-library -static -emit-module -module-name BreakerCore \
    -emit-module-path "$work/BreakerCore.swiftmodule" ../Sources/BreakerCore/*.swift -o "$work/libBreakerCore.a"
quiet swiftc "${flags[@]}" -emit-library -static -emit-module -module-name BreakerProtocol -I "$work" \
    -emit-module-path "$work/BreakerProtocol.swiftmodule" ../Sources/BreakerProtocol/*.swift -o "$work/libBreakerProtocol.a"
quiet swiftc "${flags[@]}" -I "$work" FuzzProtocol.swift "$work/libBreakerProtocol.a" "$work/libBreakerCore.a" -o "$work/fuzz-protocol"

shopt -s nullglob
crashes=()
for f in crashes/*; do [[ "$f" == *.md ]] || crashes+=("$f"); done
if [ ${#crashes[@]} -gt 0 ]; then
    echo "replaying ${#crashes[@]} past crash input(s)"
    "$work/fuzz-protocol" "${crashes[@]}"
fi

mkdir -p "$work/corpus"
cp corpus/* "$work/corpus/"
echo "fuzzing for ${seconds}s"
"$work/fuzz-protocol" -max_total_time="$seconds" -max_len=8192 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$PWD/crashes/" "$work/corpus" 2>&1 | tail -n 25
