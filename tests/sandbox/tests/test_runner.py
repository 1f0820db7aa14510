"""The scenario runner end to end, with stand-in functions and a small definition.

The six "binaries" are wrappers around `standin_runtime.py` and the definition
is a short workflow with the real substitution keys, so this checks the
runner's plumbing (setup, deploy, execution, report, checks, exit codes)
without a Rust build. The real workflow is covered by `make e2e`'s scenarios.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS_DIR = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("standin_runtime.py")
FUNCTIONS = ("rds_check", "ec2_start", "ssm_launch", "poll_ec2_state", "rds_stop", "emit_metrics")

DEFINITION = {
    "StartAt": "Check database",
    "States": {
        "Check database": {
            "Type": "Task",
            "Resource": "${RdsCheckFunctionArn}",
            "Parameters": {"do": "echo"},
            "ResultPath": "$.rds",
            "Next": "Stop workers",
        },
        "Stop workers": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ec2:stopInstances",
            "Parameters": {"InstanceIds.$": "States.StringSplit('${WorkerInstanceIds}', ',')"},
            "ResultPath": "$.ec2Stop",
            "Next": "Publish metrics",
        },
        "Publish metrics": {
            "Type": "Task",
            "Resource": "${EmitMetricsFunctionArn}",
            "Parameters": {"do.$": "$.mode"},
            "ResultPath": "$.metrics",
            "End": True,
        },
    },
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runner")
    bins = root / "bin"
    bins.mkdir()
    for name in FUNCTIONS:
        wrapper = bins / name
        wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {STANDIN}\n", encoding="utf-8")
        wrapper.chmod(0o755)
    definition = root / "small.asl.json"
    definition.write_text(json.dumps(DEFINITION), encoding="utf-8")
    return bins, definition


def _run(setup: tuple[Path, Path], tmp_path: Path, scenario: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    bins, definition = setup
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    cmd = [sys.executable, str(TESTS_DIR / "run_scenario.py"), str(path), "--json", "--definition", str(definition), "--bin-dir", str(bins)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_holding_expectation_exits_zero_with_a_full_report(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "rds": {"status": "available"},
            "ec2": {"instances": [{"name": "worker", "state": "running"}]},
            "input": {"mode": "echo"},
            "expect": {
                "status": "SUCCEEDED",
                "resources": {"rds": "available", "ec2": {"worker": "stopped"}},
                "calls": {"ec2:StopInstances": 1},
                "mutatingCalls": 1,
                "state": {"rds.echo.do": "echo"},
            },
        },
    )
    assert code == 0, report["checks"]
    assert report["execution"]["stateTransitions"] == 3
    assert [line["state"] for line in report["timeline"]] == ["Check database", "Stop workers", "Publish metrics"]
    stop = [c for c in report["calls"] if c["call"] == "ec2:StopInstances"]
    assert [c["caller"] for c in stop] == ["statemachine"]


def test_a_failed_expectation_exits_one_and_names_what_did_not_hold(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "input": {"mode": "fail"},
            "expect": {"status": "SUCCEEDED", "calls": {"ec2:StopInstances": 2}},
        },
    )
    assert code == 1
    failed = {c["check"]: c for c in report["checks"] if not c["ok"]}
    assert failed["status"]["actual"] == "FAILED"
    assert failed["calls[ec2:StopInstances] (answered OK)"]["actual"] == 1
    assert report["execution"]["error"] == "JobFailed"


def test_a_malformed_scenario_exits_two(setup: tuple[Path, Path], tmp_path: Path) -> None:
    bins, definition = setup
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"expect": {"status": "SUCCEEDED"}, "faults": {"aws": [{"call": "StartInstances", "code": "X"}]}}), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(TESTS_DIR / "run_scenario.py"), str(path), "--bin-dir", str(bins)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "service:Operation" in proc.stderr
