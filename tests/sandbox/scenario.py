"""Scenario files: parse and check them (the format is in tests/scenarios/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .lambda_host import FunctionFault
from .server import AwsFault
from .world import JobBehaviour, Timings

FUNCTIONS = ("rds_check", "ec2_start", "ssm_launch", "poll_ec2_state", "rds_stop", "emit_metrics")
_TOP_KEYS = {"description", "rds", "ec2", "timings", "job", "faults", "input", "executionName", "config", "timeoutSeconds", "expect"}
_EXPECT_KEYS = {"status", "error", "causeContains", "resources", "calls", "attempts", "mutatingCalls", "metrics", "state", "nothingLeftRunning", "maxSeconds"}


class ScenarioError(ValueError):
    """A scenario file that does not follow the format."""


@dataclass
class Instance:
    name: str
    state: str = "stopped"
    instance_type: str = "t3.medium"
    agent_online: bool = True  # only for an instance that starts `running`


@dataclass
class Database:
    identifier: str = "makenaide-db"
    status: str = "stopped"
    instance_class: str = "db.t3.micro"
    exists: bool = True
    start_ends_in: str = "available"  # the status `starting` leads to


@dataclass
class Scenario:
    """A parsed scenario file."""

    path: Path
    name: str
    description: str
    rds: Database
    instances: list[Instance]
    timings: Timings
    job: JobBehaviour
    aws_faults: list[AwsFault]
    function_faults: list[FunctionFault]
    execution_input: Any
    execution_name: str | None
    config: dict[str, str]
    timeout_seconds: float
    expect: dict[str, Any] = field(default_factory=dict)


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def load(path: Path) -> Scenario:
    """Read and validate one scenario file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a JSON object")
    _check_keys(str(path), data, _TOP_KEYS)

    rds_raw = data.get("rds", {})
    _check_keys("rds", rds_raw, {"identifier", "status", "instanceClass", "exists", "startEndsIn"})
    rds = Database(
        identifier=rds_raw.get("identifier", "makenaide-db"),
        status=rds_raw.get("status", "stopped"),
        instance_class=rds_raw.get("instanceClass", "db.t3.micro"),
        exists=bool(rds_raw.get("exists", True)),
        start_ends_in=rds_raw.get("startEndsIn", "available"),
    )

    instances: list[Instance] = []
    for i, raw in enumerate(data.get("ec2", {}).get("instances", [{"name": "worker"}])):
        _check_keys(f"ec2.instances[{i}]", raw, {"name", "state", "type", "agentOnline"})
        instances.append(
            Instance(raw.get("name", f"worker{i}"), raw.get("state", "stopped"), raw.get("type", "t3.medium"), bool(raw.get("agentOnline", True)))
        )

    t = data.get("timings", {})
    _check_keys("timings", t, {"ec2Start", "ec2Stop", "rdsStart", "rdsStop", "agentOnline", "initialTransition"})
    defaults = Timings()
    timings = Timings(
        ec2_start=float(t.get("ec2Start", defaults.ec2_start)),
        ec2_stop=float(t.get("ec2Stop", defaults.ec2_stop)),
        rds_start=float(t.get("rdsStart", defaults.rds_start)),
        rds_stop=float(t.get("rdsStop", defaults.rds_stop)),
        agent_online=float(t.get("agentOnline", defaults.agent_online)),
        initial_transition=float(t.get("initialTransition", defaults.initial_transition)),
    )

    j = data.get("job", {})
    _check_keys("job", j, {"duration", "outcome", "exitCode", "shutdownInstance", "neverEnds"})
    outcome = j.get("outcome", "Success")
    if outcome not in ("Success", "Failed"):
        raise ScenarioError(f"job.outcome: Success or Failed, not {outcome!r}")
    job = JobBehaviour(
        duration=float(j.get("duration", 2.0)),
        outcome=outcome,
        exit_code=int(j.get("exitCode", 0 if outcome == "Success" else 1)),
        shutdown_instance=bool(j.get("shutdownInstance", False)),
        never_ends=bool(j.get("neverEnds", False)),
    )

    faults = data.get("faults", {})
    _check_keys("faults", faults, {"aws", "functions"})
    aws_faults: list[AwsFault] = []
    for i, raw in enumerate(faults.get("aws", [])):
        _check_keys(f"faults.aws[{i}]", raw, {"call", "code", "count", "skip", "status", "message", "caller"})
        if ":" not in raw.get("call", ""):
            raise ScenarioError(f"faults.aws[{i}].call: `service:Operation`, e.g. ec2:StartInstances")
        aws_faults.append(
            AwsFault(
                key=raw["call"],
                code=raw["code"],
                count=int(raw.get("count", 1)),
                skip=int(raw.get("skip", 0)),
                status=raw.get("status"),
                message=raw.get("message", "injected by the sandbox"),
                caller=raw.get("caller"),
            )
        )
    function_faults: list[FunctionFault] = []
    for i, raw in enumerate(faults.get("functions", [])):
        _check_keys(f"faults.functions[{i}]", raw, {"function", "mode", "count", "skip", "errorType", "errorMessage"})
        if raw.get("function") not in FUNCTIONS:
            raise ScenarioError(f"faults.functions[{i}].function: one of {FUNCTIONS}")
        if raw.get("mode") not in ("error", "crash", "lostResult"):
            raise ScenarioError(f"faults.functions[{i}].mode: error, crash or lostResult")
        function_faults.append(
            FunctionFault(
                function=raw["function"],
                mode=raw["mode"],
                count=int(raw.get("count", 1)),
                skip=int(raw.get("skip", 0)),
                error_type=raw.get("errorType", "InjectedError"),
                error_message=raw.get("errorMessage", "injected by the sandbox"),
            )
        )

    expect = data.get("expect", {})
    _check_keys("expect", expect, _EXPECT_KEYS)
    if "status" not in expect:
        raise ScenarioError("expect.status is required (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)")
    config = {str(k): (v if isinstance(v, str) else json.dumps(v)) for k, v in data.get("config", {}).items()}
    return Scenario(
        path=path,
        name=path.stem,
        description=str(data.get("description", "")),
        rds=rds,
        instances=instances,
        timings=timings,
        job=job,
        aws_faults=aws_faults,
        function_faults=function_faults,
        execution_input=data.get("input", {}),
        execution_name=data.get("executionName"),
        config=config,
        timeout_seconds=float(data.get("timeoutSeconds", 120)),
        expect=expect,
    )
