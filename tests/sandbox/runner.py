"""Run one scenario end to end and check its expectation.

    .venv/bin/python tests/run_scenario.py tests/scenarios/happy_path.json [--json] [--live]
        [--definition PATH] [--bin-dir target/debug] [--artifacts DIR]

Sets up the sandbox (moto executing the ASL, the Lambda host running the real
function binaries, the simulated world), creates the scenario's resources and
the run lease's DynamoDB table, deploys the state machine file with the
sandbox's substitutions, and starts the main execution. Meanwhile it does
what the scenario asks at its times (a StopExecution, more executions of the
same state machine, RDS starting the DB by itself) while the event bus
(`events.py`) delivers the stack's own EventBridge rules, which may start
more executions (cleanup runs). It waits until every one of them has ended,
then prints the main execution's status, error and cause, every other
execution, the events, the final resource states, the metrics published, the
number of state transitions, a per-step timeline and the AWS calls made
(each attributed to the execution whose step made it); then every
expectation check. Exit code 0 when the expectation holds, 1 when it does
not, 2 when the scenario could not run at all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto.cloudwatch.models import cloudwatch_backends
from moto.sns.models import sns_backends

from . import definition, deployment, events, states
from .deployment import (  # noqa: F401 (SANDBOX_*: imported from here by other tests and tools)
    ACCOUNT,
    REGION,
    SANDBOX_CONFIG,
    SANDBOX_JOB_COMMANDS,
    SANDBOX_JOB_WORKING_DIRECTORY,
)
from .deployment import client as _client
from .scenario import Scenario, ScenarioError, load
from .server import CallRecord

RUNNING_STATES = {"pending", "running", "available", "starting", "backing-up", "modifying", "rebooting"}
# The most executions the stack's rules may start in one scenario (a loop of
# cleanup runs starting cleanup runs must end).
MAX_EVENT_EXECUTIONS = 20


def _spec_ok(spec: Any, value: int) -> bool:
    if isinstance(spec, dict):
        return spec.get("min", 0) <= value <= spec.get("max", 1 << 30)
    return value == int(spec)


def _dig(document: Any, dotted: str) -> Any:
    current = document
    for part in dotted.split("."):
        if isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            return "<missing>"
    return current


def _contains(wanted: Any, actual: Any) -> bool:
    """`wanted` is a subset of `actual`: objects key by key, strings with `*` as a glob, else equal."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(v, actual[k]) for k, v in wanted.items())
    if isinstance(wanted, str) and "*" in wanted:
        return isinstance(actual, str) and fnmatch.fnmatchcase(actual, wanted)
    return bool(wanted == actual)


def _parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _count_calls(calls: list[CallRecord]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for call in calls:
        entry = counts.setdefault(call.key, {"ok": 0, "attempts": 0})
        entry["attempts"] += 1
        if call.status == 200 and not call.dry_run:
            entry["ok"] += 1
    return counts


@dataclass
class Execution:
    """One execution of the sandbox's state machine, whoever started it."""

    label: str  # main | concurrent[i] | the rule id and a number
    name: str
    arn: str
    started_by: str  # runner | concurrent | the rule's id
    execution_input: Any
    started_at: float  # seconds after the main execution started
    expect: dict[str, Any] | None = None
    status: str = "RUNNING"
    described: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    seen_ended: float | None = None  # when the runner saw it end (monotonic)


class Run:
    """One scenario run: the sandbox, the executions and the report."""

    def __init__(self, scenario: Scenario, definition_path: Path, bin_dir: Path, artifacts: Path, live: bool) -> None:
        self.scenario = scenario
        self.definition_path = definition_path
        self.bin_dir = bin_dir
        self.artifacts = artifacts
        self.live = live
        self.server = deployment.make_server(scenario)
        self.app = self.server.app
        self.world = self.app.world
        self.faults = self.app.faults
        self.instance_ids: dict[str, str] = {}
        self.initial: dict[str, str | None] = {}
        self.executions: list[Execution] = []
        self.actions: list[dict[str, Any]] = []  # what the runner did at its times
        self._lock = threading.Lock()
        self._t0 = time.monotonic()  # reset when the main execution starts
        self._events_started = 0
        self.bus: events.EventBus | None = None
        self.rules_active = False
        self.alias_arn = ""  # what every execution is started on (set by _deploy)

    # -- setup (deployment.py) ------------------------------------------------------
    def _setup_resources(self) -> None:
        deployment.setup_resources(self.scenario, self.world, self.server.port, self.instance_ids, self.initial)

    def _start_functions(self) -> None:
        deployment.start_functions(self.scenario, self.app, self.server.port, self.instance_ids, self.bin_dir, self.artifacts / "logs")

    def _deploy(self, sfn: Any) -> deployment.Deployed:
        """Deploy the definition file as the stack does; every execution is started on the alias ARN."""
        deployed = deployment.deploy(sfn, self.scenario, self.definition_path, list(self.instance_ids.values()))
        self.rules_active = deployed.rules_active
        return deployed

    # -- run ---------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        deployment.start_server(self.server)
        try:
            self._setup_resources()
            self._start_functions()
            return self._execute()
        finally:
            if self.bus is not None:
                self.bus.stop()
            self.server.stop()

    def _say(self, text: str) -> None:
        if self.live:
            print(f"  [{time.monotonic() - self._t0:6.1f}s] {text}", flush=True)

    def _track(self, label: str, name: str, arn: str, started_by: str, execution_input: Any, expect: dict[str, Any] | None) -> Execution:
        execution = Execution(label, name, arn, started_by, execution_input, round(time.monotonic() - self._t0, 3), expect)
        with self._lock:
            self.executions.append(execution)
        return execution

    def _on_event_start(self, started: events.Started) -> None:
        with self._lock:
            self._events_started += 1
            number = self._events_started
        self._track(f"{started.rule}#{number}", started.name, started.arn, started.rule, started.input, None)

    def _start(self, sfn: Any, machine_arn: str, label: str, name: str, execution_input: Any, started_by: str, expect: dict[str, Any] | None) -> Execution:
        answer = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input))
        return self._track(label, name, str(answer["executionArn"]), started_by, execution_input, expect)

    def _schedule(self, sfn: Any, machine_arn: str, main: Execution) -> list[tuple[float, str, Callable[[], None]]]:
        """What the runner does at its times: (seconds after the main start, what, action)."""
        s = self.scenario
        plan: list[tuple[float, str, Callable[[], None]]] = []
        if s.abort_after is not None:

            def abort() -> None:
                try:
                    sfn.stop_execution(executionArn=main.arn)
                    self.actions.append({"at": self._now(), "action": f"StopExecution {main.name}"})
                except ClientError as exc:
                    self.actions.append({"at": self._now(), "action": f"StopExecution {main.name}", "error": str(exc)})
                self._say(f"runner: StopExecution {main.name}")

            plan.append((s.abort_after, "abort", abort))
        for i, run in enumerate(s.concurrent):

            def start(i: int = i, run: Any = run) -> None:
                name = run.execution_name or f"{s.name[:30]}-c{i}-{uuid.uuid4().hex[:8]}"
                started = self._start(sfn, machine_arn, f"concurrent[{i}]", name, run.execution_input, "concurrent", run.expect)
                self.actions.append({"at": self._now(), "action": f"StartExecution {name}", "input": run.execution_input})
                self._say(f"runner: started {started.label} {name} {json.dumps(run.execution_input)}")

            plan.append((run.start_after, f"concurrent[{i}]", start))
        if s.rds_auto_start_after is not None:
            plan.append((s.rds_auto_start_after, "rdsAutoStart", self._rds_auto_start))
        if s.rds_busy_after is not None:
            plan.append((s.rds_busy_after, "rdsBusy", self._rds_busy))
        for inst in s.instances:
            if inst.terminate_after is not None:
                plan.append((inst.terminate_after, f"terminate[{inst.name}]", lambda name=inst.name: self._terminate_instance(name)))
        for stop in s.external_stops:
            plan.append((stop.after, f"externalStop[{stop.instance}]", lambda stop=stop: self._external_stop(stop.instance, stop.reason)))
        return sorted(plan, key=lambda item: item[0])

    def _now(self) -> float:
        return round(time.monotonic() - self._t0, 3)

    def _rds_busy(self) -> None:
        """An automated backup starts on the DB (`backing-up` for timings.rdsBusy)."""
        identifier = self.scenario.rds.identifier
        before = self.world.backup_db(identifier) if self.scenario.rds.exists else None
        note = f"rdsBusy: {identifier} backing-up for {self.scenario.timings.rds_busy} s" if before == "available" else f"rdsBusy: {identifier} is {before or 'absent'}, not available: no backup"
        self.actions.append({"at": self._now(), "action": note})

    def _terminate_instance(self, name: str) -> None:
        """Someone outside the workflow terminates a worker (`shutting-down`, then `terminated`)."""
        instance_id = self.instance_ids[name]
        before = self.world.terminate_instance(instance_id)
        if before in ("shutting-down", "terminated"):
            note = f"ec2Terminate: {name} ({instance_id}) is already {before}: nothing to do"
        else:
            note = f"ec2Terminate: {name} ({instance_id}) {before} -> shutting-down, terminated in {self.scenario.timings.ec2_terminate} s"
        self.actions.append({"at": self._now(), "action": note})
        self._say(f"runner: {note}")

    def _external_stop(self, name: str, reason: str) -> None:
        """Someone or something outside the workflow stops a worker (`stopping`, then `stopped`)."""
        instance_id = self.instance_ids[name]
        before = self.world.external_stop(instance_id, reason)
        if before != "running":
            note = f"ec2Stop ({reason}): {name} ({instance_id}) is {before}, not running: nothing to stop"
        else:
            note = f"ec2Stop ({reason}): {name} ({instance_id}) running -> stopping, stopped in {self.scenario.timings.ec2_stop} s"
        self.actions.append({"at": self._now(), "action": note})
        self._say(f"runner: {note}")

    def _rds_auto_start(self) -> None:
        """RDS starts the DB that stayed stopped for 7 days, and says so (RDS-EVENT-0154)."""
        assert self.bus is not None
        identifier = self.scenario.rds.identifier
        before = self.world.auto_start_db(identifier) if self.scenario.rds.exists else None
        if before != "stopped":
            note = f"RDS does not start {identifier} by itself: it is {before or 'absent'}, not stopped"
            self.actions.append({"at": self._now(), "action": "rdsAutoStart", "note": note})
            self.bus.note(note)
            return
        self.actions.append({"at": self._now(), "action": f"rdsAutoStart: {identifier} starting, {events.RDS_AUTO_START_ID}"})
        self.bus.put(events.rds_instance_event(identifier, ACCOUNT, REGION))

    def _execute(self) -> dict[str, Any]:
        s = self.scenario
        port = self.server.port
        sfn = _client("stepfunctions", port)
        # Status change events carry the unqualified ARN (the rules' patterns
        # match it); the rules' targets, the schedule and the runner start the alias.
        deployed = self._deploy(sfn)
        machine_arn = self.alias_arn = deployed.alias_arn
        self.bus = deployment.event_bus(
            s, port, deployed, max_started=MAX_EVENT_EXECUTIONS, on_start=self._on_event_start, on_log=self._say if self.live else None
        )
        name = s.execution_name or f"{s.name[:40]}-{uuid.uuid4().hex[:8]}"
        self._t0 = time.monotonic()
        self.bus.t0 = self._t0
        main = self._start(sfn, machine_arn, "main", name, s.execution_input, "runner", s.expect)
        self.bus.start_watcher()
        if self.live:
            print(f"execution {name} started ({len(self.instance_ids)} worker(s), sandbox on 127.0.0.1:{port})", flush=True)
        plan = self._schedule(sfn, machine_arn, main)
        fired = 0
        seen = 0
        all_ended_since: float | None = None
        timed_out = False
        while True:
            elapsed = time.monotonic() - self._t0
            while fired < len(plan) and plan[fired][0] <= elapsed:
                plan[fired][2]()
                fired += 1
                all_ended_since = None
            if self.live:
                history = self._history(sfn, main.arn)
                seen = self._print_progress(history, seen)
            if self._refresh(sfn):
                all_ended_since = None
            running = [e for e in self._snapshot() if e.status == "RUNNING"]
            if fired == len(plan) and not running:
                all_ended_since = all_ended_since or time.monotonic()
                if self.bus.quiet_since(all_ended_since):
                    break
            else:
                all_ended_since = None
            if elapsed > s.timeout_seconds:
                timed_out = True
                break
            time.sleep(0.2)
        self.bus.stop()
        if timed_out:
            for execution in self._snapshot():
                if execution.status == "RUNNING":
                    try:
                        sfn.stop_execution(executionArn=execution.arn, error="Sandbox.Timeout", cause=f"scenario timeout {s.timeout_seconds}s")
                    except ClientError:
                        pass
                    execution.status = "SANDBOX_TIMEOUT"
        for execution in self._snapshot():
            execution.described = sfn.describe_execution(executionArn=execution.arn)
            execution.history = self._history(sfn, execution.arn)
            if execution.status != "SANDBOX_TIMEOUT":
                execution.status = str(execution.described["status"])
        self.world.settle()
        return self._report(main)

    def _snapshot(self) -> list[Execution]:
        with self._lock:
            return list(self.executions)

    def _refresh(self, sfn: Any) -> bool:
        """Update the status of every running execution; True when one ended."""
        changed = False
        for execution in self._snapshot():
            if execution.status != "RUNNING":
                continue
            status = str(sfn.describe_execution(executionArn=execution.arn)["status"])
            if status != "RUNNING":
                execution.status = status
                execution.seen_ended = time.monotonic()
                changed = True
                if execution.label != "main":
                    self._say(f"{execution.label} {execution.name} ended {status}")
        return changed

    @staticmethod
    def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
        return events.paginate(sfn.get_execution_history, "events", executionArn=arn, maxResults=1000)

    def _print_progress(self, events_: list[dict[str, Any]], seen: int) -> int:
        if not events_:
            return seen
        t0 = events_[0]["timestamp"]
        for event in events_[seen:]:
            at = (event["timestamp"] - t0).total_seconds()
            if event["type"].endswith("StateEntered"):
                print(f"  [{at:6.1f}s] -> {event['stateEnteredEventDetails']['name']}", flush=True)
            note = _failure_note(event) or _result_note(event)
            if note:
                print(f"  [{at:6.1f}s]      {note}", flush=True)
        return len(events_)

    # -- report --------------------------------------------------------------------
    def _execution_report(self, execution: Execution, calls: list[CallRecord]) -> dict[str, Any]:
        d = execution.described
        start, stop = d.get("startDate"), d.get("stopDate")
        seconds = (stop - start).total_seconds() if isinstance(start, dt.datetime) and isinstance(stop, dt.datetime) else None
        mine = [c for c in calls if c.execution == execution.name]
        return {
            "label": execution.label,
            "name": execution.name,
            "arn": execution.arn,
            "startedBy": execution.started_by,
            "startedAt": execution.started_at,
            "input": execution.execution_input,
            "status": execution.status,
            "error": d.get("error"),
            "cause": d.get("cause"),
            "output": _parse_json(d.get("output")),
            "seconds": None if seconds is None else round(seconds, 2),
            "stateTransitions": sum(1 for e in execution.history if e["type"].endswith("StateEntered")),
            "timeline": _timeline(execution.history),
            "state": _last_document(execution.history, d),
            "callCounts": _count_calls(mine),
            "mutatingCalls": [f"{c.key} by {c.caller}" for c in mine if c.mutating],
            "stateMachineVersionArn": d.get("stateMachineVersionArn"),
            "stateMachineAliasArn": d.get("stateMachineAliasArn"),
        }

    def _report(self, main: Execution) -> dict[str, Any]:
        s = self.scenario
        assert self.bus is not None
        final: dict[str, Any] = {"rds": {"identifier": s.rds.identifier, "initial": self.initial["rds"], "final": self.world.db_status(s.rds.identifier)}}
        final["ec2"] = {
            inst: {"instanceId": iid, "initial": self.initial[inst], "final": self.world.instance_state(iid)}
            for inst, iid in self.instance_ids.items()
        }
        metrics = [
            {
                "namespace": d.namespace,
                "name": d.name,
                "dimensions": {dim.name: dim.value for dim in d.dimensions},
                "value": getattr(d, "value", None),
                "unit": d.unit,
            }
            for d in cloudwatch_backends[ACCOUNT][REGION].metric_data
        ]
        topic = sns_backends[ACCOUNT][REGION].topics.get(definition.alarm_topic_arn(REGION, ACCOUNT))
        notifications = [
            {"messageId": message_id, "subject": subject, "message": message}
            for message_id, message, subject, *_ in (topic.sent_notifications if topic is not None else [])
        ]
        calls = self.app.reported_calls()
        executions = [self._execution_report(e, calls) for e in self._snapshot()]
        main_report = executions[0]
        report: dict[str, Any] = {
            "scenario": s.name,
            "description": s.description,
            "definition": str(self.definition_path),
            "execution": {
                "name": main.name,
                "status": main.status,
                "error": main_report["error"],
                "cause": main_report["cause"],
                "seconds": main_report["seconds"] if main_report["seconds"] is not None else round(time.monotonic() - self._t0, 2),
                "stateTransitions": main_report["stateTransitions"],
                "output": main_report["output"],
            },
            "executions": executions,
            "rulesActive": [r.id for r in self.bus.rules],
            "events": self.bus.log,
            "eventWatchErrors": self.bus.watch_errors,
            "runnerActions": self.actions,
            "resources": final,
            "instanceIds": self.instance_ids,
            "metrics": metrics,
            "notifications": notifications,
            "commands": self.world.commands_report({iid: name for name, iid in self.instance_ids.items()}),
            "stateReasons": {name: dict(zip(("code", "transitionReason"), self.world.state_reason(iid), strict=True)) for name, iid in self.instance_ids.items()},
            "callCounts": main_report["callCounts"],
            "allCallCounts": _count_calls(calls),
            "calls": [
                {
                    "at": c.at, "call": c.key, "caller": c.caller, "execution": c.execution, "status": c.status,
                    "error": c.error, "injected": c.injected, "dryRun": c.dry_run, "params": c.params,
                }
                for c in calls
            ],
            "invocations": [asdict(i) | {"started": round(i.started - self.app.started, 3), "seconds": round(i.seconds, 3)} for i in self.app.invocations],
            "timeline": main_report["timeline"],
            "state": main_report["state"],
            "artifacts": str(self.artifacts),
            "coldStarts": {n: h.cold_starts for n, h in self.app.functions.items()},
        }
        report["checks"] = self._checks(report, calls)
        report["passed"] = all(c["ok"] for c in report["checks"])
        return report

    def _checks(self, report: dict[str, Any], calls: list[CallRecord]) -> list[dict[str, Any]]:
        expect = self.scenario.expect
        checks: list[dict[str, Any]] = []

        def check(name: str, ok: bool, expected: Any, actual: Any) -> None:
            checks.append({"check": name, "ok": bool(ok), "expected": expected, "actual": actual})

        executions = report["executions"]
        main = executions[0]
        # The top-level mutatingCalls counts everyone's: "nothing was touched" is about the whole system.
        self._execution_checks(check, "", main, expect, all_mutating=[f"{c.key} by {c.caller}" for c in calls if c.mutating])
        resources = expect.get("resources", {})
        if "rds" in resources:
            actual = report["resources"]["rds"]["final"]
            check("resources.rds", actual == resources["rds"], resources["rds"], actual)
        for inst, state in resources.get("ec2", {}).items():
            actual = report["resources"]["ec2"].get(inst, {}).get("final")
            check(f"resources.ec2.{inst}", actual == state, state, actual)
        for key, spec in expect.get("allCalls", {}).items():
            actual = report["allCallCounts"].get(key, {}).get("ok", 0)
            check(f"allCalls[{key}] (answered OK, every execution)", _spec_ok(spec, actual), spec, actual)
        m = expect.get("metrics", {})
        metrics = report["metrics"]
        if "published" in m:
            check("metrics.published", bool(metrics) == m["published"], m["published"], len(metrics))
        if "namespace" in m:
            spaces = sorted({d["namespace"] for d in metrics})
            check("metrics.namespace", spaces == [m["namespace"]], [m["namespace"]], spaces)
        names = {d["name"] for d in metrics}
        for metric in m.get("names", []):
            check(f"metric {metric} published", metric in names, True, sorted(names))
        for metric, value in m.get("values", {}).items():
            values = [d["value"] for d in metrics if d["name"] == metric]
            check(f"metric {metric} value", value in values, value, values)
        if "notifications" in expect:
            sent = report["notifications"]
            wanted_notes = expect["notifications"]
            check("notifications (published to the alarm topic)", len(sent) == len(wanted_notes), len(wanted_notes),
                  [n["subject"] for n in sent])
            for i, (want, note) in enumerate(zip(wanted_notes, sent, strict=False)):
                if "subjectContains" in want:
                    check(f"notifications[{i}].subject contains {want['subjectContains']!r}",
                          want["subjectContains"] in (note["subject"] or ""), want["subjectContains"], note["subject"])
                texts = want.get("messageContains", [])
                for text in [texts] if isinstance(texts, str) else texts:
                    check(f"notifications[{i}].message contains {text!r}", text in note["message"], text, note["message"])
                texts = want.get("messageNotContains", [])
                for text in [texts] if isinstance(texts, str) else texts:
                    check(f"notifications[{i}].message does not contain {text!r}", text not in note["message"],
                          f"no {text!r}", note["message"])
        for i, run in enumerate(self.scenario.concurrent):
            found = next((e for e in executions if e["label"] == f"concurrent[{i}]"), None)
            if found is None:
                check(f"concurrent[{i}] started", False, True, False)
                continue
            self._execution_checks(check, f"concurrent[{i}] ", found, run.expect)
        by_events = [e for e in executions if e["startedBy"] not in ("runner", "concurrent")]
        if "executionsStarted" in expect:
            started = [f"{e['name']} by {e['startedBy']}" for e in by_events]
            check("executionsStarted (by events)", _spec_ok(expect["executionsStarted"], len(started)), expect["executionsStarted"], started)
        position = 0
        for i, wanted in enumerate(expect.get("eventExecutions", [])):
            pattern = wanted.get("input")
            index = next((j for j in range(position, len(by_events)) if pattern is None or _contains(pattern, by_events[j]["input"])), None)
            if index is None:
                rest = [{"name": e["name"], "input": e["input"]} for e in by_events[position:]]
                check(f"eventExecutions[{i}] found", False, pattern if pattern is not None else "one more execution", rest)
                continue
            position = index + 1
            found = by_events[index]
            self._execution_checks(check, f"eventExecutions[{i}] ({found['name']}) ", found, {k: v for k, v in wanted.items() if k != "input"})
        if self.bus is not None and self.bus.refused:
            check("executions started by events within the sandbox's limit", False, MAX_EVENT_EXECUTIONS, MAX_EVENT_EXECUTIONS + self.bus.refused)
        # As deployed: every trigger starts the alias, so every execution ran a version through it.
        off_alias = [e["name"] for e in executions if e["stateMachineAliasArn"] != self.alias_arn or not e["stateMachineVersionArn"]]
        check(f"every execution started through the alias {states.ALIAS_NAME}", not off_alias, [], off_alias)
        if expect.get("nothingLeftRunning", True):
            check("nothing the workflow started is left running", *self._left_running(calls, report))
        return checks

    @staticmethod
    def _execution_checks(check: Callable[[str, bool, Any, Any], None], prefix: str, ex: dict[str, Any], expect: dict[str, Any], all_mutating: list[str] | None = None) -> None:
        """The checks of one execution's expectation (its own calls only)."""
        if "status" in expect:
            check(f"{prefix}status", ex["status"] == expect["status"], expect["status"], ex["status"])
        if "error" in expect:
            check(f"{prefix}error", ex["error"] == expect["error"], expect["error"], ex["error"])
        wanted = expect.get("causeContains", [])
        for text in [wanted] if isinstance(wanted, str) else wanted:
            check(f"{prefix}cause contains {text!r}", text in (ex["cause"] or ""), text, ex["cause"])
        unwanted = expect.get("causeNotContains", [])
        for text in [unwanted] if isinstance(unwanted, str) else unwanted:
            check(f"{prefix}cause does not contain {text!r}", text not in (ex["cause"] or ""), f"no {text!r}", ex["cause"])
        counts = ex["callCounts"]
        for key, spec in expect.get("calls", {}).items():
            actual = counts.get(key, {}).get("ok", 0)
            check(f"{prefix}calls[{key}] (answered OK)", _spec_ok(spec, actual), spec, actual)
        for key, spec in expect.get("attempts", {}).items():
            actual = counts.get(key, {}).get("attempts", 0)
            check(f"{prefix}attempts[{key}] (all answers)", _spec_ok(spec, actual), spec, actual)
        if "mutatingCalls" in expect:
            mutating = all_mutating if all_mutating is not None else ex["mutatingCalls"]
            check(f"{prefix}mutatingCalls", _spec_ok(expect["mutatingCalls"], len(mutating)), expect["mutatingCalls"], mutating)
        for path, value in expect.get("state", {}).items():
            actual = _dig(ex["state"], path)
            check(f"{prefix}state.{path}", actual == value, value, actual)
        for path, value in expect.get("output", {}).items():
            actual = _dig(ex["output"], path) if ex["output"] is not None else "<no output>"
            check(f"{prefix}output.{path}", actual == value, value, actual)
        if "maxSeconds" in expect:
            check(f"{prefix}maxSeconds", ex["seconds"] is not None and ex["seconds"] <= expect["maxSeconds"], expect["maxSeconds"], ex["seconds"])

    def _left_running(self, calls: list[CallRecord], report: dict[str, Any]) -> tuple[bool, Any, Any]:
        started: set[str] = set()
        for call in calls:
            if call.key == "ec2:StartInstances" and call.mutating:
                started.update(v for k, v in call.params.items() if k.startswith("InstanceId."))
            if call.key == "rds:StartDBInstance" and call.mutating:
                started.add("rds")
        by_id = {v["instanceId"]: v["final"] for v in report["resources"]["ec2"].values()}
        left = sorted(
            f"{rid}={by_id[rid] if rid != 'rds' else report['resources']['rds']['final']}"
            for rid in started
            if (by_id.get(rid) if rid != "rds" else report["resources"]["rds"]["final"]) in RUNNING_STATES
        )
        return (not left, [], left)


_NOTE_FIELDS = ("status", "state", "pingStatus", "action", "ready", "done", "outcome", "reusedExisting", "instanceState", "stateReason", "commandStatus", "statusDetails", "exitCode", "metricCount", "published", "retryAfterSeconds")


def _brief(block: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(block[k])}" for k in _NOTE_FIELDS if k in block and not isinstance(block[k], (dict, list)))


def _result_note(event: dict[str, Any]) -> str | None:
    """A one-line summary of what a function returned (for live progress)."""
    details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails")
    if not details or not details.get("output"):
        return None
    try:
        block = json.loads(details["output"])
    except ValueError:
        return None
    if not isinstance(block, dict):
        return None
    parts = [_brief(block)]
    for key in ("instances", "invocations"):
        for item in block.get(key, []) if isinstance(block.get(key), list) else []:
            if isinstance(item, dict):
                parts.append(f"[{item.get('instanceId', '?')}: {_brief(item)}]")
    text = " ".join(p for p in parts if p)
    return f"= {text}" if text else None


def _failure_note(event: dict[str, Any]) -> str | None:
    for key, value in event.items():
        if key.endswith("FailedEventDetails") or key.endswith("TimedOutEventDetails"):
            error = value.get("error", "")
            cause = str(value.get("cause", ""))[:160]
            return f"! {event['type']}: {error} {cause}".strip()
    return None


def _timeline(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entered states with their elapsed time, failures attached."""
    if not events:
        return []
    t0 = events[0]["timestamp"]
    lines: list[dict[str, Any]] = []
    for event in events:
        at = round((event["timestamp"] - t0).total_seconds(), 2)
        if event["type"].endswith("StateEntered"):
            lines.append({"at": at, "state": event["stateEnteredEventDetails"]["name"], "notes": []})
        else:
            note = _failure_note(event)
            if note and lines:
                lines[-1]["notes"].append(note)
            elif note:
                lines.append({"at": at, "state": "(execution)", "notes": [note]})
    return lines


def _last_document(events: list[dict[str, Any]], described: dict[str, Any]) -> Any:
    """The state document as it last was: the output, else the last state's input/output."""
    if described.get("output"):
        return json.loads(described["output"])
    for event in reversed(events):
        for key in ("stateExitedEventDetails", "stateEnteredEventDetails"):
            details = event.get(key)
            if details:
                raw = details.get("output") or details.get("input")
                if raw:
                    try:
                        return json.loads(raw)
                    except ValueError:
                        return raw
    return None


def _collapse(lines: list[dict[str, Any]]) -> list[str]:
    """Render the timeline, folding repeated polling loops (A, B, A, B...) into one line."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        folded = False
        for width in (2, 3, 1):
            names = [ln["state"] for ln in lines[i : i + width]]
            if len(names) < width or any(ln["notes"] for ln in lines[i : i + width]):
                continue
            reps = 1
            while [ln["state"] for ln in lines[i + reps * width : i + (reps + 1) * width]] == names and not any(
                ln["notes"] for ln in lines[i + reps * width : i + (reps + 1) * width]
            ):
                reps += 1
            if reps >= 3:
                end = lines[i + reps * width - 1]["at"]
                out.append(f"  {lines[i]['at']:7.2f}s  ({' -> '.join(names)}) x{reps}, until {end:.2f}s")
                i += reps * width
                folded = True
                break
        if not folded:
            line = lines[i]
            out.append(f"  {line['at']:7.2f}s  {line['state']}")
            out.extend(f"            {note}" for note in line["notes"])
            i += 1
    return out


def _brief_json(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_text(report: dict[str, Any]) -> str:
    """The human summary of a report."""
    ex = report["execution"]
    out = [f"scenario  {report['scenario']}: {report['description']}"]
    out.append(f"execution {ex['name']}: {ex['status']} in {ex['seconds']:.1f} s, {ex['stateTransitions']} state transitions")
    if ex["error"] or ex["cause"]:
        out.append(f"  error   {ex['error']}")
        out.append(f"  cause   {ex['cause']}")
    others = report["executions"][1:]
    if others:
        out.append(f"other executions: {len(others)}")
        for other in others:
            seconds = f"{other['seconds']:.1f} s" if other["seconds"] is not None else "?"
            out.append(f"  {other['label']:20} {other['name']}: {other['status']} in {seconds} (started at {other['startedAt']:.1f} s by {other['startedBy']})")
            out.append(f"      input  {_brief_json(other['input'])}")
            if other["error"] or other["cause"]:
                out.append(f"      error  {other['error']}: {str(other['cause'] or '')[:200]}")
            if other["output"] is not None:
                out.append(f"      output {_brief_json(other['output'])}")
            states = [line["state"] for line in other["timeline"]]
            if states:
                out.append(f"      states {' -> '.join(states[:4])}{' ... ' + states[-1] if len(states) > 4 else ''}")
    if report["rulesActive"] or report["events"]:
        out.append(f"events (rules delivered: {', '.join(report['rulesActive']) or 'none, the definition has no run lease'})")
        for event in report["events"]:
            targets = "; ".join(
                f"{d['rule']} -> {d['execution'] or 'nothing'} {_brief_json(d['input'], 100)}" + (f" ({d['error']})" if d["error"] else "")
                for d in event["deliveries"]
            )
            out.append(f"  {event['at']:7.2f}s  {event['source']}: {event['summary']}" + (f"  => {targets}" if targets else ""))
        for error in report["eventWatchErrors"][:3]:
            out.append(f"  (status watcher error: {error})")
    for action in report["runnerActions"]:
        out.append(f"runner at {action['at']:.1f} s: {action['action']}" + (f" ({action.get('note') or action.get('error')})" if action.get("note") or action.get("error") else ""))
    r = report["resources"]
    out.append("resources (initial -> final)")
    out.append(f"  rds {r['rds']['identifier']}: {r['rds']['initial']} -> {r['rds']['final']}")
    for name, inst in r["ec2"].items():
        reason = report.get("stateReasons", {}).get(name, {}).get("code")
        out.append(f"  ec2 {name} ({inst['instanceId']}): {inst['initial']} -> {inst['final']}" + (f" ({reason})" if reason else ""))
    for command in report.get("commands", []):
        invocations = ", ".join(f"{i['instance']} {i['status']}/{i['statusDetails']} rc={i['responseCode']}" for i in command["invocations"])
        out.append(f"ssm command {command['commandId'][:8]} {command['comment']!r}: {command['status']}/{command['statusDetails']} [{invocations}]")
    out.append(f"metrics published: {len(report['metrics'])}")
    for d in report["metrics"]:
        dims = ",".join(f"{k}={v}" for k, v in sorted(d["dimensions"].items()))
        out.append(f"  {d['namespace']} {d['name']}{{{dims}}} = {d['value']} {d['unit'] or ''}".rstrip())
    out.append(f"notifications published: {len(report.get('notifications', []))}")
    for note in report.get("notifications", []):
        out.append(f"  subject: {note['subject']}")
        out.extend(f"    {line}" for line in note["message"].splitlines())
    if others:
        names = [e["label"] for e in report["executions"]]
        out.append("AWS calls (answered OK / attempts) by execution: " + ", ".join(names))
        for key, c in sorted(report["allCallCounts"].items()):
            per = "  ".join(f"{e['callCounts'].get(key, {}).get('ok', 0)}/{e['callCounts'].get(key, {}).get('attempts', 0)}" for e in report["executions"])
            out.append(f"  {key:32} {c['ok']:3} / {c['attempts']:<4} = {per}")
    else:
        out.append("AWS calls (answered OK / attempts)")
        for key, c in sorted(report["allCallCounts"].items()):
            out.append(f"  {key:32} {c['ok']:3} / {c['attempts']}")
    unattributed = [c for c in report["calls"] if c["execution"] is None]
    if unattributed:
        out.append(f"  calls not attributed to an execution: {len(unattributed)}")
    injected = [c for c in report["calls"] if c["injected"]]
    if injected:
        out.append(f"  injected AWS faults answered: {len(injected)}")
    inv = Counter((i["function"], i["outcome"]) for i in report["invocations"])
    out.append("function invocations")
    for (fn, outcome), n in sorted(inv.items()):
        out.append(f"  {fn:16} {outcome:28} x{n}")
    out.append("timeline" + (f" of {ex['name']}" if others else ""))
    out.extend(_collapse(report["timeline"]))
    out.append("checks")
    for c in report["checks"]:
        mark = "ok  " if c["ok"] else "FAIL"
        line = f"  {mark} {c['check']}"
        if not c["ok"]:
            line += f"\n         expected: {json.dumps(c['expected'])}\n         actual:   {json.dumps(c['actual'], default=str)}"
        out.append(line)
    verdict = "PASSED" if report["passed"] else "FAILED"
    out.append(f"{verdict}: {report['scenario']} ({sum(c['ok'] for c in report['checks'])}/{len(report['checks'])} checks held; logs in {report['artifacts']})")
    return "\n".join(out)


def _log_tails(artifacts: Path, lines: int = 12) -> str:
    out = []
    for log in sorted((artifacts / "logs").glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
        if text:
            out.append(f"--- {log.name} (last {min(lines, len(text))} lines)")
            out.extend(text[-lines:])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", type=Path, help="a scenario file (tests/scenarios/*.json)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--live", action="store_true", help="print each state as it is entered")
    deployment.add_deploy_arguments(parser)
    parser.add_argument("--artifacts", type=Path, default=None, help="where function logs go (default: a temp dir)")
    args = parser.parse_args(argv)
    deployment.quiet_server_logs()
    try:
        scenario = load(args.scenario)
        artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix=f"sandbox-{scenario.name}-"))
        artifacts.mkdir(parents=True, exist_ok=True)
        report = Run(scenario, args.definition, args.bin_dir, artifacts, args.live and not args.json).execute()
    except (ScenarioError, events.RuleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    (artifacts / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(render_text(report))
        if not report["passed"]:
            print(_log_tails(artifacts))
    return 0 if report["passed"] else 1
