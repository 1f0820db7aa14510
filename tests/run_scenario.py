"""Run one sandbox scenario: `.venv/bin/python tests/run_scenario.py tests/scenarios/<name>.json`.

See tests/README.md. `--help` lists the options.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox import run_and_exit  # noqa: E402
from sandbox.runner import main  # noqa: E402

if __name__ == "__main__":
    run_and_exit(main)
