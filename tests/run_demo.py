"""`make demo`: one run of the workflow in the local sandbox, watched with the operators' CLI.

    .venv/bin/python tests/run_demo.py [--scenario tests/scenarios/happy_path.json]

Starts the sandbox (`make sandbox`) on a free loopback port, runs
`makenaide run --follow` against it (the live view: each step as it happens,
then the outcome, durations and cost), then `makenaide status` (what is
left running: nothing), and stops the sandbox. Exits with the CLI's exit code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from sandbox import run_and_exit  # noqa: E402
from sandbox.serve import DEFAULT_SCENARIO, client_environment, started  # noqa: E402

CLI = REPO / "target" / "debug" / "makenaide"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=Path(os.environ.get("SCENARIO") or DEFAULT_SCENARIO))
    parser.add_argument("--cli", type=Path, default=CLI, help="the makenaide binary (default: the debug build)")
    parser.add_argument("--bin-dir", type=Path, help="where the six function binaries are (default: the sandbox's, target/debug)")
    args = parser.parse_args()
    if not args.cli.is_file():
        print(f"demo: {args.cli} is missing: run `make build`", file=sys.stderr)
        return 2
    print(f"demo: starting the local sandbox with {args.scenario.relative_to(REPO) if args.scenario.is_absolute() else args.scenario}", flush=True)
    extra = ["--bin-dir", str(args.bin_dir.resolve())] if args.bin_dir else []
    with started(scenario=args.scenario.resolve(), extra_args=extra) as sandbox:
        env = client_environment(sandbox.endpoint)
        print(f"demo: sandbox ready at {sandbox.endpoint}; makenaide run --follow\n", flush=True)
        run = subprocess.run([str(args.cli), "run", "--follow"], env=env, check=False)
        print("\ndemo: makenaide status", flush=True)
        subprocess.run([str(args.cli), "status"], env=env, check=False)
        print("\ndemo: stopping the sandbox", flush=True)
    return run.returncode


if __name__ == "__main__":
    run_and_exit(main)
