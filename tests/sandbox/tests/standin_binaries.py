"""The six function "binaries" as wrappers around `standin_runtime.py`, for tests that need no Rust build."""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.scenario import FUNCTIONS

STANDIN = Path(__file__).with_name("standin_runtime.py")


def write_standin_binaries(directory: Path) -> Path:
    """Create `directory` with one executable per function name, each running the stand-in runtime; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in FUNCTIONS:
        wrapper = directory / name
        wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN}\n", encoding="utf-8")
        wrapper.chmod(0o755)
    return directory
