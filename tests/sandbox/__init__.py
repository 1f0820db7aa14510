"""The local sandbox: moto plus a Lambda Runtime API host and a simulated world (tests/README.md)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_and_exit(main: Callable[[], int]) -> None:
    """Runs a sandbox entry point (`tests/run_*.py`) and exits with its code.

    moto's execution threads are not daemons: the process leaves without
    waiting for them, once its output is flushed.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
