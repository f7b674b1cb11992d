"""Shared fixtures: the package under test (../src unless HB_PY_INSTALLED=1 says it is installed), and live
breakerd processes (the binary from $HB_BREAKERD, else the repository's .build/debug/breakerd)."""
from __future__ import annotations

import os
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if os.environ.get("HB_PY_INSTALLED") != "1":
    sys.path.insert(0, str(HERE.parent / "src"))

from live import Breakerd, find_breakerd  # noqa: E402


@pytest.fixture(scope="session")
def breakerd_binary():
    binary = find_breakerd()
    if binary is None or not os.access(binary, os.X_OK):
        pytest.fail("these tests run the real breakerd: build it (swift build --product breakerd) or set "
                    "HB_BREAKERD=/path/to/breakerd")
    return binary


@pytest.fixture
def breakerd(breakerd_binary, tmp_path):
    """A fresh breakerd on port 0, without token files (every connection is admin)."""
    server = Breakerd(breakerd_binary, str(tmp_path)).start()
    yield server
    server.stop()


@pytest.fixture
def secured_breakerd(breakerd_binary, tmp_path):
    """A fresh breakerd with client and admin token files (live.CLIENT_TOKEN, live.ADMIN_TOKEN)."""
    server = Breakerd(breakerd_binary, str(tmp_path), tokens=True).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh_connections():
    """Each test starts without the shared connections of the one before (whose breakerd may have had the same
    port)."""
    yield
    from highway_breaker._connection import close_shared_connections
    close_shared_connections()
