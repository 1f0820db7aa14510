"""Run every sandbox scenario, several at once, and summarise.

    .venv/bin/python tests/run_suite.py [--jobs N] [--definition PATH] [--bin-dir DIR] [SCENARIO ...]

Each scenario runs in its own process (moto's backends are global to a
process) on its own port. A line per scenario as it finishes, the full report
of each failed one, then `N passed, N failed`. Exit code 0 only when all pass.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent


def _expected_weight(path: Path) -> float:
    """Start the long scenarios first (their timeoutSeconds says they are long)."""
    try:
        return float(json.loads(path.read_text(encoding="utf-8")).get("timeoutSeconds", 120))
    except (OSError, ValueError):
        return 0.0


def _run_one(path: Path, artifacts: Path, extra: list[str]) -> tuple[Path, int, float, str]:
    started = time.monotonic()
    out_dir = artifacts / path.stem
    cmd = [sys.executable, str(TESTS_DIR / "run_scenario.py"), str(path), "--artifacts", str(out_dir), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    return path, proc.returncode, time.monotonic() - started, proc.stdout + proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", type=Path, help="default: tests/scenarios/*.json")
    parser.add_argument("--jobs", type=int, default=2 * (os.cpu_count() or 1), help="scenarios run at once (default: two per core)")
    parser.add_argument("--definition", type=Path, help="another ASL file to run (e.g. a broken copy)")
    parser.add_argument("--bin-dir", type=Path, help="where the function binaries are")
    parser.add_argument("--artifacts", type=Path, help="where reports and function logs go")
    args = parser.parse_args()
    scenarios = args.scenarios or sorted((TESTS_DIR / "scenarios").glob("*.json"))
    scenarios.sort(key=_expected_weight, reverse=True)
    extra: list[str] = []
    if args.definition:
        extra += ["--definition", str(args.definition)]
    if args.bin_dir:
        extra += ["--bin-dir", str(args.bin_dir)]
    artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix="sandbox-suite-"))
    started = time.monotonic()
    print(f"running {len(scenarios)} scenarios, {args.jobs} at a time (reports in {artifacts})", flush=True)
    failed: list[tuple[Path, int, str]] = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(_run_one, path, artifacts, extra) for path in scenarios]
        for future in as_completed(futures):
            path, code, seconds, output = future.result()
            verdict = "PASS" if code == 0 else "FAIL"
            print(f"  {verdict}  {path.stem:32} {seconds:6.1f} s", flush=True)
            if code != 0:
                failed.append((path, code, output))
    for path, code, output in failed:
        print(f"\n===== {path.stem} (exit {code}) =====")
        print(output[-12000:])
    total = time.monotonic() - started
    print(f"\nsandbox scenarios: {total:.1f} s wall time")
    print(f"{len(scenarios) - len(failed)} passed, {len(failed)} failed")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
