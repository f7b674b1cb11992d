"""Processes: a forked child (a pre-forking server's worker) gets a connection of its own, and the package
runs on every supported Python (its sources parse as Python 3.9)."""
from __future__ import annotations

import ast
import os
import pathlib

from highway_breaker import SharedCircuitBreakerPolicy
from live import ask

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "highway_breaker"


def test_a_forked_child_gets_its_own_connection(breakerd):
    breaker = SharedCircuitBreakerPolicy("forked", breakerd.address, fallback="reject", timeout=1)
    assert breaker.execute(lambda: "parent") == "parent"
    pid = os.fork()
    if pid == 0:                                              # the child: the same breaker object, used at once
        code = 1
        try:
            ok = breaker.execute(lambda: "child") == "child" and not breaker.is_in_fallback
            breaker.flush()
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert breaker.execute(lambda: "parent again") == "parent again"
    breaker.flush()
    assert ask(breakerd.address, {"op": "status", "resource": "forked"})["breaker"]["window"]["calls"] == 3


def test_sources_are_python_3_9():
    for path in SRC.glob("*.py"):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
