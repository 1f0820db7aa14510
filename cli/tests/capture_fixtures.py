"""Record the execution histories the CLI's rendering tests read.

    make build && PYTHONPATH=tests .venv/bin/python cli/tests/capture_fixtures.py [SCENARIO ...]

Runs each sandbox scenario (tests/scenarios/<name>.json, default: the list
below) with the sandbox's own runner, then writes one file per execution the
scenario produced to cli/tests/fixtures/<scenario>[.<label>].json:

    {"scenario": ..., "label": ..., "describe": <DescribeExecution>, "events": [<GetExecutionHistory events>]}

both in the Step Functions wire shape (camelCase, timestamps as epoch
seconds), as `aws stepfunctions get-execution-history --output json` prints
them apart from the timestamps' format. The sandbox's names are random
(execution names, instance and command ids): a new capture changes them, and
the tests read them from the files, never from constants.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from sandbox import definition  # noqa: E402
from sandbox.runner import Run  # noqa: E402
from sandbox.scenario import load  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULT = ["happy_path", "job_fails_with_stderr", "dry_run", "second_run_mid_job", "abort_during_job"]


def wire(value: Any) -> Any:
    """boto3's parsed answer back to the wire shape: datetimes as epoch seconds."""
    if isinstance(value, dt.datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def capture(name: str) -> list[Path]:
    scenario = load(REPO / "tests" / "scenarios" / f"{name}.json")
    artifacts = Path(tempfile.mkdtemp(prefix=f"cli-fixture-{name}-"))
    run = Run(scenario, definition.DEFINITION_PATH, REPO / "target" / "debug", artifacts, False)
    report = run.execute()
    if not report["passed"]:
        raise SystemExit(f"{name}: the scenario's expectation failed; see {artifacts}")
    written = []
    for execution in run.executions:
        label = "" if execution.label == "main" else "." + re.sub(r"[^a-z0-9]+", "-", execution.label.lower()).strip("-")
        path = FIXTURES / f"{name}{label}.json"
        record = {
            "scenario": name,
            "label": execution.label,
            "describe": wire(execution.described),
            "events": wire(execution.history),
        }
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    names = sys.argv[1:] or DEFAULT
    if len(names) > 1:
        # moto's backends are process-wide: one process per scenario.
        for name in names:
            if subprocess.run([sys.executable, __file__, name], check=False).returncode != 0:
                return 1
        return 0
    for path in capture(names[0]):
        print(path.relative_to(REPO), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # moto's execution threads are not daemons: leave without waiting for them.
    os._exit(code)
