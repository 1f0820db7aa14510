"""Scenario files: parse and check them (the format is in tests/scenarios/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .lambda_host import FunctionFault
from .server import AwsFault
from .world import STATUS_DETAILS, STOP_REASONS, JobBehaviour, Timings, canonical_detail, detail_of

FUNCTIONS = ("rds_check", "ec2_start", "ssm_launch", "poll_ec2_state", "rds_stop", "emit_metrics")
_TOP_KEYS = {
    "description", "rds", "ec2", "timings", "job", "faults", "input", "executionName", "config", "timeoutSeconds",
    "abortAfterSeconds", "executionTimeoutSeconds", "concurrent", "rdsAutoStartAfterSeconds", "rdsBusyAfterSeconds", "externalStop",
    "expect",
}
# What can be expected of any one execution (the main one, a concurrent one, one an event started).
EXECUTION_EXPECT_KEYS = {"status", "error", "causeContains", "causeNotContains", "calls", "attempts", "mutatingCalls", "state", "output", "maxSeconds"}
# What only the top-level `expect` checks: the world at the end, and everything every execution did.
_GLOBAL_EXPECT_KEYS = {"resources", "metrics", "nothingLeftRunning", "allCalls", "executionsStarted", "eventExecutions",
                       "notifications"}
_NOTIFICATION_KEYS = {"subjectContains", "messageContains", "messageNotContains"}
_EXPECT_KEYS = EXECUTION_EXPECT_KEYS | _GLOBAL_EXPECT_KEYS
STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class ScenarioError(ValueError):
    """A scenario file that does not follow the format."""


@dataclass
class Instance:
    name: str
    state: str = "stopped"
    instance_type: str = "t3.medium"
    agent_online: bool = True  # only for an instance that starts `running`
    terminate_after: float | None = None  # terminated by someone outside the workflow after that long
    job: JobBehaviour | None = None  # what commands on this instance do (None: the scenario's job)


@dataclass
class Database:
    identifier: str = "makenaide-db"
    status: str = "stopped"
    instance_class: str = "db.t3.micro"
    exists: bool = True
    start_ends_in: str = "available"  # the status `starting` leads to


@dataclass
class ExternalStop:
    """Someone or something outside the workflow stops a worker (`externalStop`)."""

    after: float
    instance: str  # the instance's name in the scenario
    reason: str  # the StateReason code, e.g. Server.ScheduledStop


@dataclass
class ConcurrentRun:
    """Another execution of the same state machine, started by the runner."""

    start_after: float
    execution_input: Any
    execution_name: str | None
    expect: dict[str, Any] = field(default_factory=dict)


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
    abort_after: float | None = None  # StopExecution on the main execution after that long
    execution_timeout: int | None = None  # replaces the definition's TimeoutSeconds
    concurrent: list[ConcurrentRun] = field(default_factory=list)
    rds_auto_start_after: float | None = None  # RDS starts the stopped DB by itself (RDS-EVENT-0154)
    rds_busy_after: float | None = None  # an available DB turns backing-up for timings.rdsBusy
    external_stops: list[ExternalStop] = field(default_factory=list)


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _seconds(where: str, value: Any, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (integer and (not float(value).is_integer() or value < 1)):
        kind = "a whole number of seconds, at least 1" if integer else "a number of seconds, at least 0"
        raise ScenarioError(f"{where}: {kind}, not {value!r}")
    return float(value)


def _check_count(where: str, spec: Any) -> None:
    if isinstance(spec, dict):
        _check_keys(where, spec, {"min", "max"})
        values = list(spec.values())
    else:
        values = [spec]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
        raise ScenarioError(f"{where}: a count (a whole number) or {{\"min\": a, \"max\": b}}, not {spec!r}")


def _check_expect(where: str, expect: Any, allowed: set[str], status_required: bool) -> None:
    """Validate an expectation block (the keys are documented in tests/scenarios/README.md)."""
    if not isinstance(expect, dict):
        raise ScenarioError(f"{where}: an object")
    misplaced = sorted(set(expect) & _GLOBAL_EXPECT_KEYS - allowed)
    if misplaced:
        raise ScenarioError(f"{where}: {misplaced} can only be expected in the top-level expect (they cover every execution)")
    _check_keys(where, expect, allowed)
    if status_required and "status" not in expect:
        raise ScenarioError(f"{where}.status is required ({', '.join(STATUSES)})")
    if "status" in expect and expect["status"] not in STATUSES:
        raise ScenarioError(f"{where}.status: one of {', '.join(STATUSES)}, not {expect['status']!r}")
    for key in ("calls", "attempts", "allCalls"):
        block = expect.get(key, {})
        if not isinstance(block, dict):
            raise ScenarioError(f"{where}.{key}: an object {{\"service:Operation\": count}}")
        for call, spec in block.items():
            if ":" not in call:
                raise ScenarioError(f"{where}.{key}: `service:Operation`, e.g. ec2:StartInstances, not {call!r}")
            _check_count(f"{where}.{key}[{call}]", spec)
    for key in ("mutatingCalls", "executionsStarted"):
        if key in expect:
            _check_count(f"{where}.{key}", expect[key])
    for key in ("causeContains", "causeNotContains"):
        texts = expect.get(key, [])
        if not isinstance(texts, (str, list)) or (isinstance(texts, list) and not all(isinstance(t, str) for t in texts)):
            raise ScenarioError(f"{where}.{key}: a string or a list of strings")
    for key in ("state", "output"):
        if not isinstance(expect.get(key, {}), dict):
            raise ScenarioError(f"{where}.{key}: an object {{\"dotted.path\": value}}")
    if "maxSeconds" in expect:
        _seconds(f"{where}.maxSeconds", expect["maxSeconds"])
    notes = expect.get("notifications", [])
    if not isinstance(notes, list):
        raise ScenarioError(f"{where}.notifications: a list, one object per message published to the alarm topic")
    for i, note in enumerate(notes):
        if not isinstance(note, dict):
            raise ScenarioError(f"{where}.notifications[{i}]: an object")
        _check_keys(f"{where}.notifications[{i}]", note, _NOTIFICATION_KEYS)
        if not isinstance(note.get("subjectContains", ""), str):
            raise ScenarioError(f"{where}.notifications[{i}].subjectContains: a string")
        for key in ("messageContains", "messageNotContains"):
            texts = note.get(key, [])
            if not isinstance(texts, (str, list)) or (isinstance(texts, list) and not all(isinstance(t, str) for t in texts)):
                raise ScenarioError(f"{where}.notifications[{i}].{key}: a string or a list of strings")
    wanted = expect.get("eventExecutions", [])
    if not isinstance(wanted, list):
        raise ScenarioError(f"{where}.eventExecutions: a list of expectations, one per execution an event started")
    for i, item in enumerate(wanted):
        _check_expect(f"{where}.eventExecutions[{i}]", item, EXECUTION_EXPECT_KEYS | {"input"}, status_required=False)


# How a job ends: an instance's own job that says one of these replaces all of the scenario's.
_ENDING_KEYS = {"outcome", "statusDetails", "exitCode", "shutdownInstance", "neverEnds"}
_JOB_KEYS = {"duration", "outcome", "exitCode", "shutdownInstance", "neverEnds", "statusDetails", "stdout", "stderr", "pendingSeconds"}
# StatusDetails a job can end with (the non-terminal ones are `pendingSeconds` and `neverEnds`).
_TERMINAL_DETAILS = sorted(d for d, v in STATUS_DETAILS.items() if v.terminal)


def _job(where: str, j: dict[str, Any]) -> JobBehaviour:
    """A `job` block (the scenario's, or one instance's merged over it)."""
    _check_keys(where, j, _JOB_KEYS)
    outcome = j.get("outcome", "Success")
    if outcome not in ("Success", "Failed"):
        raise ScenarioError(f"{where}.outcome: Success or Failed, not {outcome!r}")
    details = j.get("statusDetails")
    if details is not None:
        if "outcome" in j:
            raise ScenarioError(f"{where}: give outcome or statusDetails, not both (statusDetails Success/Failed is an outcome)")
        if not isinstance(details, str) or canonical_detail(details) not in STATUS_DETAILS or not detail_of(details).terminal:
            raise ScenarioError(f"{where}.statusDetails: a terminal StatusDetails, one of {_TERMINAL_DETAILS} (or the docs' spelling, e.g. \"Delivery Timed Out\"), not {details!r}")
        for key in ("shutdownInstance", "neverEnds"):
            if j.get(key):
                raise ScenarioError(f"{where}: statusDetails ends the command; {key} does not end it")
    exit_code = j.get("exitCode")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise ScenarioError(f"{where}.exitCode: a whole number, not {exit_code!r}")
    if exit_code is None and details is None:
        exit_code = 0 if outcome == "Success" else 1
    for key in ("stdout", "stderr"):
        if key in j and not isinstance(j[key], str):
            raise ScenarioError(f"{where}.{key}: the text the job writes, a string")
    return JobBehaviour(
        duration=_seconds(f"{where}.duration", j.get("duration", 2.0)),
        outcome=outcome,
        exit_code=exit_code,
        shutdown_instance=bool(j.get("shutdownInstance", False)),
        never_ends=bool(j.get("neverEnds", False)),
        status_details=details,
        stdout=j.get("stdout"),
        stderr=j.get("stderr", ""),
        pending_seconds=_seconds(f"{where}.pendingSeconds", j.get("pendingSeconds", 0)),
    )


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
    raw_instances = data.get("ec2", {}).get("instances", [{"name": "worker"}])
    for i, raw in enumerate(raw_instances):
        where = f"ec2.instances[{i}]"
        _check_keys(where, raw, {"name", "state", "type", "agentOnline", "terminateAfterSeconds", "job"})
        terminate_after = raw.get("terminateAfterSeconds")
        instances.append(
            Instance(
                raw.get("name", f"worker{i}"),
                raw.get("state", "stopped"),
                raw.get("type", "t3.medium"),
                bool(raw.get("agentOnline", True)),
                None if terminate_after is None else _seconds(f"{where}.terminateAfterSeconds", terminate_after),
            )
        )
    names = [inst.name for inst in instances]
    if len(names) != len(set(names)):
        raise ScenarioError(f"ec2.instances: the names of the instances must differ ({names})")
    names_of_instances = names

    t = data.get("timings", {})
    _check_keys("timings", t, {"ec2Start", "ec2Stop", "ec2Terminate", "rdsStart", "rdsStop", "agentOnline", "initialTransition", "rdsBusy"})
    defaults = Timings()
    timings = Timings(
        ec2_start=float(t.get("ec2Start", defaults.ec2_start)),
        ec2_stop=float(t.get("ec2Stop", defaults.ec2_stop)),
        ec2_terminate=float(t.get("ec2Terminate", defaults.ec2_terminate)),
        rds_start=float(t.get("rdsStart", defaults.rds_start)),
        rds_stop=float(t.get("rdsStop", defaults.rds_stop)),
        agent_online=float(t.get("agentOnline", defaults.agent_online)),
        initial_transition=float(t.get("initialTransition", defaults.initial_transition)),
        rds_busy=float(t.get("rdsBusy", defaults.rds_busy)),
    )

    top_job = data.get("job", {})
    if not isinstance(top_job, dict):
        raise ScenarioError("job: an object")
    job = _job("job", top_job)
    for inst, raw in zip(instances, raw_instances, strict=True):
        if "job" in raw:
            if not isinstance(raw["job"], dict):
                raise ScenarioError(f"ec2.instances[{inst.name}].job: an object")
            # The instance's keys replace the scenario's; what it does not say, it inherits.
            merged = {**top_job, **raw["job"]}
            if _ENDING_KEYS & set(raw["job"]):
                # Its own ending replaces the scenario's whole ending.
                for key in _ENDING_KEYS - set(raw["job"]):
                    merged.pop(key, None)
            inst.job = _job(f"ec2.instances[{inst.name}].job", merged)

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
    _check_expect("expect", expect, _EXPECT_KEYS, status_required=True)

    concurrent: list[ConcurrentRun] = []
    raw_concurrent = data.get("concurrent", [])
    if not isinstance(raw_concurrent, list):
        raise ScenarioError("concurrent: a list of {startAfterSeconds, input, executionName, expect}")
    for i, raw in enumerate(raw_concurrent):
        where = f"concurrent[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: an object")
        _check_keys(where, raw, {"startAfterSeconds", "input", "executionName", "expect"})
        run_expect = raw.get("expect", {})
        _check_expect(f"{where}.expect", run_expect, EXECUTION_EXPECT_KEYS, status_required=False)
        concurrent.append(
            ConcurrentRun(
                start_after=_seconds(f"{where}.startAfterSeconds", raw.get("startAfterSeconds", 0)),
                execution_input=raw.get("input", {}),
                execution_name=raw.get("executionName"),
                expect=run_expect,
            )
        )
    names = [n for n in [data.get("executionName"), *(c.execution_name for c in concurrent)] if n]
    if len(names) != len(set(names)):
        raise ScenarioError(f"executionName: the names of the executions must differ ({names})")

    def optional_seconds(key: str, integer: bool = False) -> float | None:
        return None if data.get(key) is None else _seconds(key, data[key], integer)

    execution_timeout = optional_seconds("executionTimeoutSeconds", integer=True)
    raw_stops = data.get("externalStop", [])
    raw_stops = [raw_stops] if isinstance(raw_stops, dict) else raw_stops
    if not isinstance(raw_stops, list):
        raise ScenarioError("externalStop: an object {afterSeconds, instance, reason}, or a list of them")
    external_stops: list[ExternalStop] = []
    for i, raw in enumerate(raw_stops):
        where = f"externalStop[{i}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: an object {{afterSeconds, instance, reason}}")
        _check_keys(where, raw, {"afterSeconds", "instance", "reason"})
        if "afterSeconds" not in raw or "instance" not in raw:
            raise ScenarioError(f"{where}: afterSeconds and instance are required")
        if raw["instance"] not in names_of_instances:
            raise ScenarioError(f"{where}.instance: one of the ec2.instances names {names_of_instances}, not {raw['instance']!r}")
        reason = raw.get("reason", "Client.UserInitiatedShutdown")
        if reason not in STOP_REASONS:
            raise ScenarioError(f"{where}.reason: a StateReason code EC2 gives a stop, one of {list(STOP_REASONS)}, not {reason!r}")
        external_stops.append(ExternalStop(_seconds(f"{where}.afterSeconds", raw["afterSeconds"]), raw["instance"], reason))
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
        abort_after=optional_seconds("abortAfterSeconds"),
        execution_timeout=None if execution_timeout is None else int(execution_timeout),
        concurrent=concurrent,
        rds_auto_start_after=optional_seconds("rdsAutoStartAfterSeconds"),
        rds_busy_after=optional_seconds("rdsBusyAfterSeconds"),
        external_stops=external_stops,
    )
