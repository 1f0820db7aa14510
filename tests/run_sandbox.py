"""`make sandbox`: the local sandbox as a long-running AWS endpoint on 127.0.0.1.

    .venv/bin/python tests/run_sandbox.py [--port 4566] [--scenario tests/scenarios/happy_path.json]

See tests/README.md. `--help` lists the options.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox import run_and_exit  # noqa: E402
from sandbox.serve import main  # noqa: E402

if __name__ == "__main__":
    run_and_exit(main)
