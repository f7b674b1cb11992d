"""Shared fixtures: the package under test from ../src unless installed, and live breakerd processes."""
from __future__ import annotations

import os
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if os.environ.get("HB_PY_INSTALLED") != "1":
    sys.path.insert(0, str(HERE.parent / "src"))
