#!/usr/bin/env bash
# The release build of the container image, in one place: the Dockerfile runs this script, and CI runs it too
# (no Docker engine there), so the flags cannot drift apart.
#   bash deploy/docker/build.sh OUT_DIR      builds breakerd, breakerctl and breaker-driver into OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out"
flags=(-c release --static-swift-stdlib --scratch-path .build-docker)
for product in breakerd breakerctl breaker-driver; do
    swift build "${flags[@]}" --product "$product"
done
bin="$(swift build "${flags[@]}" --show-bin-path)"
cp "$bin/breakerd" "$bin/breakerctl" "$bin/breaker-driver" "$out/"
"$out/breakerd" --help >/dev/null
echo "built into $out: $(ls "$out" | tr '\n' ' ')"
