#!/usr/bin/env bash
# CI for the Python client: a fresh virtual environment, the package installed from this directory (as users
# install it: pip install ./clients/python), and the whole pytest suite against BIN_DIR/breakerd.
#
#   bash clients/python/ci.sh BIN_DIR        (BIN_DIR: the directory holding the freshly built breakerd)
#
# PYTHON=python3.9 picks the interpreter (default python3; the package supports 3.9 and later).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 BIN_DIR (the directory holding breakerd)" >&2; exit 2; }
bin="$(cd "$1" && pwd)"
[ -x "$bin/breakerd" ] || { echo "no breakerd in $bin: build it with swift build --product breakerd" >&2; exit 1; }
python="${PYTHON:-python3}"
venv="$(mktemp -d /tmp/hb-python-ci-XXXXXX)"
trap 'rm -rf "$venv"' EXIT
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q pytest
"$venv/bin/python" -m pip install -q "$here"
"$venv/bin/python" -c 'import highway_breaker, sys; print("highway_breaker", highway_breaker.__version__, "on Python",
sys.version.split()[0], "from", highway_breaker.__file__)'
cd "$here"
HB_BREAKERD="$bin/breakerd" HB_PY_INSTALLED=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests
