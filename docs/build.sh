#!/usr/bin/env bash
# Builds the DocC documentation of HighwayBreaker and BreakerCore (issue #20); warnings are errors, so a broken
# symbol link in an article or a catalog fails the build.
#   bash docs/build.sh [OUT_DIR]        (default .build/docs; open OUT_DIR/HighwayBreaker/index.html through a
#                                        web server: python3 -m http.server -d OUT_DIR, then
#                                        http://127.0.0.1:8000/HighwayBreaker/documentation/highwaybreaker/)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.build/docs}"
mkdir -p "$out"
for target in HighwayBreaker BreakerCore; do
    swift package --allow-writing-to-directory "$out" generate-documentation --target "$target" \
        --output-path "$out/$target" --warnings-as-errors --transform-for-static-hosting \
        --hosting-base-path "$target"
done
echo "documentation in $out: HighwayBreaker/ and BreakerCore/"
