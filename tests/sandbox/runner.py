"""Run one scenario end to end and check its expectation.

    .venv/bin/python tests/run_scenario.py tests/scenarios/happy_path.json [--json] [--live]
        [--definition PATH] [--bin-dir target/debug] [--artifacts DIR]

Sets up the sandbox (moto executing the ASL, the Lambda host running the real
function binaries, the simulated world), creates the scenario's resources,
deploys the state machine file with the sandbox's substitutions, starts one
execution and waits for it. Prints the execution status, error and cause, the
final resource states, the metrics published, the number of state transitions,
a per-step timeline and the AWS calls made; then every expectation check.
Exit code 0 when the expectation holds, 1 when it does not, 2 when the
scenario could not run at all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.config import default_user_config

from . import definition, moto_patches
from .lambda_host import FunctionHost, lambda_environment
from .scenario import FUNCTIONS, Scenario, ScenarioError, load
from .server import FUNCTION_KEY_PREFIX, RUNNER_ACCESS_KEY, Faults, SandboxApp, SandboxServer
from .world import World

ACCOUNT = "123456789012"
REGION = "us-east-1"
SANDBOX_AMI = "ami-12c6146b"  # one of moto's built-in images

# Deployment config for the sandbox (the contract's variables, sandbox-sized).
SANDBOX_CONFIG: dict[str, str] = {
    "JOB_COMMANDS": json.dumps(["/opt/makenaide/bin/run-batch.sh"]),
    "JOB_WORKING_DIRECTORY": "/opt/makenaide",
    "JOB_TIMEOUT_SECONDS": "60",
    "JOB_TIMEOUT_MAX_SECONDS": "300",
    "RDS_READY_TIMEOUT_SECONDS": "20",
    "EC2_READY_TIMEOUT_SECONDS": "20",
    "RDS_POLL_SECONDS": "1",
    "EC2_POLL_SECONDS": "1",
    "JOB_POLL_SECONDS": "1",
    "RDS_STOP_POLICY": "always",
    "METRICS_NAMESPACE": "Makenaide/Orchestrator",
    "WORKFLOW_NAME": "makenaide-sandbox",
    "SCHEDULE_INTERVAL_HOURS": "4",
    "PRICE_OVERRIDES": "{}",
}
RUNNING_STATES = {"pending", "running", "available", "starting", "backing-up", "modifying", "rebooting"}


def _client(service: str, port: int) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=RUNNER_ACCESS_KEY,
        aws_secret_access_key="sandbox",
        config=Config(retries={"total_max_attempts": 1}),
    )


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


class Run:
    """One scenario run: the sandbox, the execution and its report."""

    def __init__(self, scenario: Scenario, definition_path: Path, bin_dir: Path, artifacts: Path, live: bool) -> None:
        self.scenario = scenario
        self.definition_path = definition_path
        self.bin_dir = bin_dir
        self.artifacts = artifacts
        self.live = live
        self.world = World(ACCOUNT, REGION, scenario.timings, scenario.job, scenario.rds.start_ends_in)
        self.faults = Faults(scenario.aws_faults, scenario.function_faults)
        self.app = SandboxApp(self.world, self.faults)
        self.server = SandboxServer(self.app)
        self.instance_ids: dict[str, str] = {}
        self.initial: dict[str, str | None] = {}

    # -- setup -----------------------------------------------------------------
    def _setup_resources(self) -> None:
        s = self.scenario
        port = self.server.port
        if s.rds.exists:
            _client("rds", port).create_db_instance(
                DBInstanceIdentifier=s.rds.identifier,
                DBInstanceClass=s.rds.instance_class,
                Engine="postgres",
                AllocatedStorage=20,
                MasterUsername="makenaide",
                MasterUserPassword="sandbox-only-not-a-secret",
            )
            self.world.init_db(s.rds.identifier, s.rds.status)
        self.initial["rds"] = s.rds.status if s.rds.exists else None
        ec2 = _client("ec2", port)
        for inst in s.instances:
            made = ec2.run_instances(ImageId=SANDBOX_AMI, MinCount=1, MaxCount=1, InstanceType=inst.instance_type)
            instance_id = made["Instances"][0]["InstanceId"]
            self.instance_ids[inst.name] = instance_id
            self.world.init_instance(instance_id, inst.state, inst.agent_online)
            self.initial[inst.name] = inst.state

    def _start_functions(self) -> None:
        s = self.scenario
        base = dict(SANDBOX_CONFIG)
        base.update(
            {
                "DB_INSTANCE_IDENTIFIER": s.rds.identifier,
                "WORKER_INSTANCE_IDS": ",".join(self.instance_ids.values()),
            }
        )
        base.update(s.config)
        log_dir = self.artifacts / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        for name in FUNCTIONS:
            binary = self.bin_dir / name
            if not binary.is_file():
                raise ScenarioError(f"function binary {binary} is missing: run `make build` first")
            env = lambda_environment(name, base)
            env.update(
                {
                    "AWS_REGION": REGION,
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.server.port}",
                    "AWS_ACCESS_KEY_ID": f"{FUNCTION_KEY_PREFIX}{name}",
                    "AWS_SECRET_ACCESS_KEY": "sandbox",
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_CONFIG_FILE": "/dev/null",
                    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                }
            )
            self.app.functions[name] = FunctionHost(name, [str(binary)], env, log_dir / f"{name}.log", 30.0, REGION, ACCOUNT)

    # -- run ---------------------------------------------------------------------
    def execute(self) -> dict[str, Any]:
        self.server.start()
        os.environ["MOTO_PORT"] = str(self.server.port)  # where moto's ASL engine sends its calls
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        moto_patches.apply()
        try:
            self._setup_resources()
            self._start_functions()
            return self._execute()
        finally:
            self.server.stop()

    def _execute(self) -> dict[str, Any]:
        s = self.scenario
        sfn = _client("stepfunctions", self.server.port)
        text = self.definition_path.read_text(encoding="utf-8")
        rendered = definition.render(text, definition.substitutions(list(self.instance_ids.values()), REGION))
        machine = sfn.create_state_machine(
            name="makenaide-sandbox",
            definition=rendered,
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/makenaide-sandbox-states",
            type="STANDARD",
        )
        name = s.execution_name or f"{s.name[:40]}-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"], name=name, input=json.dumps(s.execution_input)
        )
        arn = execution["executionArn"]
        if self.live:
            print(f"execution {name} started ({len(self.instance_ids)} worker(s), sandbox on 127.0.0.1:{self.server.port})", flush=True)
        seen = 0
        status = "RUNNING"
        events: list[dict[str, Any]] = []
        while True:
            status = sfn.describe_execution(executionArn=arn)["status"]
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            if self.live:
                seen = self._print_progress(events, seen)
            if status != "RUNNING":
                break
            if time.monotonic() - started > s.timeout_seconds:
                sfn.stop_execution(executionArn=arn, error="Sandbox.Timeout", cause=f"scenario timeout {s.timeout_seconds}s")
                status = "SANDBOX_TIMEOUT"
                break
            time.sleep(0.2)
        seconds = time.monotonic() - started
        described = sfn.describe_execution(executionArn=arn)
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        self.world.settle()
        return self._report(name, status, described, events, seconds)

    def _print_progress(self, events: list[dict[str, Any]], seen: int) -> int:
        if not events:
            return seen
        t0 = events[0]["timestamp"]
        for event in events[seen:]:
            at = (event["timestamp"] - t0).total_seconds()
            if event["type"].endswith("StateEntered"):
                print(f"  [{at:6.1f}s] -> {event['stateEnteredEventDetails']['name']}", flush=True)
            note = _failure_note(event) or _result_note(event)
            if note:
                print(f"  [{at:6.1f}s]      {note}", flush=True)
        return len(events)

    # -- report --------------------------------------------------------------------
    def _report(self, name: str, status: str, described: dict[str, Any], events: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        s = self.scenario
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
        calls = self.app.reported_calls()
        counts: dict[str, dict[str, int]] = {}
        for call in calls:
            entry = counts.setdefault(call.key, {"ok": 0, "attempts": 0})
            entry["attempts"] += 1
            if call.status == 200 and not call.dry_run:
                entry["ok"] += 1
        timeline = _timeline(events)
        state_doc = _last_document(events, described)
        report: dict[str, Any] = {
            "scenario": s.name,
            "description": s.description,
            "definition": str(self.definition_path),
            "execution": {
                "name": name,
                "status": status,
                "error": described.get("error"),
                "cause": described.get("cause"),
                "seconds": round(seconds, 2),
                "stateTransitions": sum(1 for e in events if e["type"].endswith("StateEntered")),
            },
            "resources": final,
            "instanceIds": self.instance_ids,
            "metrics": metrics,
            "callCounts": counts,
            "calls": [
                {"at": c.at, "call": c.key, "caller": c.caller, "status": c.status, "error": c.error, "injected": c.injected, "dryRun": c.dry_run, "params": c.params}
                for c in calls
            ],
            "invocations": [asdict(i) | {"started": round(i.started - self.app.started, 3), "seconds": round(i.seconds, 3)} for i in self.app.invocations],
            "timeline": timeline,
            "state": state_doc,
            "artifacts": str(self.artifacts),
            "coldStarts": {n: h.cold_starts for n, h in self.app.functions.items()},
        }
        report["checks"] = self._checks(report, calls)
        report["passed"] = all(c["ok"] for c in report["checks"])
        return report

    def _checks(self, report: dict[str, Any], calls: list[Any]) -> list[dict[str, Any]]:
        expect = self.scenario.expect
        checks: list[dict[str, Any]] = []

        def check(name: str, ok: bool, expected: Any, actual: Any) -> None:
            checks.append({"check": name, "ok": bool(ok), "expected": expected, "actual": actual})

        ex = report["execution"]
        check("status", ex["status"] == expect["status"], expect["status"], ex["status"])
        if "error" in expect:
            check("error", ex["error"] == expect["error"], expect["error"], ex["error"])
        wanted = expect.get("causeContains", [])
        for text in [wanted] if isinstance(wanted, str) else wanted:
            check(f"cause contains {text!r}", text in (ex["cause"] or ""), text, ex["cause"])
        resources = expect.get("resources", {})
        if "rds" in resources:
            actual = report["resources"]["rds"]["final"]
            check("resources.rds", actual == resources["rds"], resources["rds"], actual)
        for inst, state in resources.get("ec2", {}).items():
            actual = report["resources"]["ec2"].get(inst, {}).get("final")
            check(f"resources.ec2.{inst}", actual == state, state, actual)
        counts = report["callCounts"]
        for key, spec in expect.get("calls", {}).items():
            actual = counts.get(key, {}).get("ok", 0)
            check(f"calls[{key}] (answered OK)", _spec_ok(spec, actual), spec, actual)
        for key, spec in expect.get("attempts", {}).items():
            actual = counts.get(key, {}).get("attempts", 0)
            check(f"attempts[{key}] (all answers)", _spec_ok(spec, actual), spec, actual)
        if "mutatingCalls" in expect:
            mutating = [f"{c.key} by {c.caller}" for c in calls if c.mutating]
            check("mutatingCalls", _spec_ok(expect["mutatingCalls"], len(mutating)), expect["mutatingCalls"], mutating)
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
        for path, value in expect.get("state", {}).items():
            actual = _dig(report["state"], path)
            check(f"state.{path}", actual == value, value, actual)
        if "maxSeconds" in expect:
            check("maxSeconds", ex["seconds"] <= expect["maxSeconds"], expect["maxSeconds"], ex["seconds"])
        if expect.get("nothingLeftRunning", True):
            check("nothing the workflow started is left running", *self._left_running(calls, report))
        return checks

    def _left_running(self, calls: list[Any], report: dict[str, Any]) -> tuple[bool, Any, Any]:
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


_NOTE_FIELDS = ("status", "state", "pingStatus", "action", "ready", "done", "outcome", "reusedExisting", "commandStatus", "exitCode", "metricCount", "retryAfterSeconds")


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


def render_text(report: dict[str, Any]) -> str:
    """The human summary of a report."""
    ex = report["execution"]
    out = [f"scenario  {report['scenario']}: {report['description']}"]
    out.append(f"execution {ex['name']}: {ex['status']} in {ex['seconds']:.1f} s, {ex['stateTransitions']} state transitions")
    if ex["error"] or ex["cause"]:
        out.append(f"  error   {ex['error']}")
        out.append(f"  cause   {ex['cause']}")
    r = report["resources"]
    out.append("resources (initial -> final)")
    out.append(f"  rds {r['rds']['identifier']}: {r['rds']['initial']} -> {r['rds']['final']}")
    for name, inst in r["ec2"].items():
        out.append(f"  ec2 {name} ({inst['instanceId']}): {inst['initial']} -> {inst['final']}")
    out.append(f"metrics published: {len(report['metrics'])}")
    for d in report["metrics"]:
        dims = ",".join(f"{k}={v}" for k, v in sorted(d["dimensions"].items()))
        out.append(f"  {d['namespace']} {d['name']}{{{dims}}} = {d['value']} {d['unit'] or ''}".rstrip())
    out.append("AWS calls (answered OK / attempts)")
    for key, c in sorted(report["callCounts"].items()):
        out.append(f"  {key:32} {c['ok']:3} / {c['attempts']}")
    injected = [c for c in report["calls"] if c["injected"]]
    if injected:
        out.append(f"  injected AWS faults answered: {len(injected)}")
    inv = Counter((i["function"], i["outcome"]) for i in report["invocations"])
    out.append("function invocations")
    for (fn, outcome), n in sorted(inv.items()):
        out.append(f"  {fn:16} {outcome:28} x{n}")
    out.append("timeline")
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
    parser.add_argument("--definition", type=Path, default=definition.DEFINITION_PATH, help="the ASL file to run")
    parser.add_argument("--bin-dir", type=Path, default=definition.REPO_ROOT / "target" / "debug", help="where the function binaries are")
    parser.add_argument("--artifacts", type=Path, default=None, help="where function logs go (default: a temp dir)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # its engine logs every caught failure
    try:
        scenario = load(args.scenario)
        artifacts = args.artifacts or Path(tempfile.mkdtemp(prefix=f"sandbox-{scenario.name}-"))
        artifacts.mkdir(parents=True, exist_ok=True)
        report = Run(scenario, args.definition, args.bin_dir, artifacts, args.live and not args.json).execute()
    except ScenarioError as exc:
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
