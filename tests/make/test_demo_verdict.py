"""`make demo`'s verdict (tests/run_demo.py `verdict`): what it says once the run is over, and its exit code.

No sandbox, no binary: the decision alone, on the real scenario files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from run_demo import runner_only_keys, verdict  # noqa: E402
from sandbox.scenario import load  # noqa: E402

SCENARIOS = REPO / "tests" / "scenarios"
FILE = "tests/scenarios/x.json"


def test_a_failure_the_scenario_expects_is_the_demo_working() -> None:
    v = verdict({"status": "FAILED", "error": "JobFailed"}, [], 1, "FAILED", "JobFailed", FILE)
    assert v.exit_code == 0
    assert v.lines[0] == "demo: this scenario's run is meant to fail: expected FAILED JobFailed, got FAILED JobFailed."
    assert "makenaide run itself exited 1" in v.lines[1]


def test_an_input_the_cli_refuses_is_the_invalid_input_scenario_working() -> None:
    v = verdict({"status": "FAILED", "error": "InvalidInput"}, [], 2, None, None, FILE)
    assert v.exit_code == 0
    assert "meant to be refused" in v.lines[0] and "exited 2" in v.lines[1]
    # A refusal is the point only where the scenario expects InvalidInput.
    assert verdict({"status": "FAILED", "error": "JobFailed"}, [], 2, None, None, FILE).exit_code == 2


def test_the_expected_success() -> None:
    v = verdict({"status": "SUCCEEDED"}, [], 0, "SUCCEEDED", None, FILE)
    assert (v.exit_code, v.lines) == (0, ["demo: the run ended as this scenario expects: SUCCEEDED."])


def test_without_an_expected_error_the_status_decides() -> None:
    v = verdict({"status": "TIMED_OUT"}, [], 1, "TIMED_OUT", "States.Timeout", FILE)
    assert v.exit_code == 0
    assert "expected TIMED_OUT, got TIMED_OUT States.Timeout" in v.lines[0]


@pytest.mark.parametrize(
    ("status", "error", "cli_code", "exit_code"),
    [
        ("SUCCEEDED", None, 0, 1),  # the CLI's 0 is no pass: the demo exits 1
        ("FAILED", "JobInterrupted", 1, 1),  # another error than the expected one
        ("ABORTED", None, 1, 1),
    ],
)
def test_an_unexpected_outcome_fails_the_demo(status: str, error: str | None, cli_code: int, exit_code: int) -> None:
    v = verdict({"status": "FAILED", "error": "JobFailed"}, [], cli_code, status, error, FILE)
    assert v.exit_code == exit_code
    got = f"{status} {error}" if error else status
    assert v.lines[0] == f"demo: the run did NOT end as this scenario expects: expected FAILED JobFailed, got {got}."
    assert v.lines[1].endswith(f"tests/run_scenario.py {FILE} --live")


def test_an_unexpected_failure_keeps_the_clis_code() -> None:
    assert verdict({"status": "SUCCEEDED"}, [], 3, "FAILED", "JobFailed", FILE).exit_code == 3


def test_what_only_the_scenario_runner_acts_out_leaves_the_run_its_own_code() -> None:
    v = verdict({"status": "ABORTED"}, ["abortAfterSeconds"], 0, "SUCCEEDED", None, FILE)
    assert v.exit_code == 0
    assert "this scenario expects ABORTED, but also needs what only the scenario runner acts out (abortAfterSeconds)" in v.lines[0]
    assert v.lines[1].endswith(f"tests/run_scenario.py {FILE} --live")
    assert verdict({"status": "FAILED"}, ["concurrent"], 1, "FAILED", "JobFailed", FILE).exit_code == 1


@pytest.mark.parametrize("cli_code", [2, 4])
def test_a_cli_that_could_not_run_it_gives_its_code(cli_code: int) -> None:
    v = verdict({"status": "FAILED", "error": "JobFailed"}, [], cli_code, None, None, FILE)
    assert v.exit_code == cli_code
    assert "could not start or follow the run" in v.lines[0]


def test_the_scenarios_runner_only_keys() -> None:
    found = {path.stem: runner_only_keys(load(path)) for path in sorted(SCENARIOS.glob("*.json"))}
    assert found["happy_path"] == []
    assert found["job_fails_with_stderr"] == []
    assert found["invalid_input"] == []  # its input goes to `makenaide run --input`
    assert found["abort_during_job"] == ["abortAfterSeconds"]
    assert found["second_run_mid_job"] == ["concurrent"]
    assert found["worker_stopped_by_operator"] == ["externalStop"]
    assert found["rds_auto_start"] == ["rdsAutoStartAfterSeconds"]
    assert found["worker_terminated_mid_job"] == ["ec2.instances[].terminateAfterSeconds"]
    # Most scenarios are for the demo too.
    assert sum(1 for keys in found.values() if not keys) > len(found) // 2, found


def test_the_make_target_passes_the_scenario() -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), "demo", "SCENARIO=tests/scenarios/job_fails.json"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    assert out.rstrip().splitlines()[-1] == ".venv/bin/python tests/run_demo.py --scenario tests/scenarios/job_fails.json"
