"""EventBridge, as far as the stack's own triggers need it.

`statemachine/rules.json` declares the rules the stack deploys besides the
schedule: an event pattern and what the target (the workflow's state
machine) receives, a constant `input` or an `inputTransformer`. moto can
match event patterns but cannot deliver an event to a Step Functions target,
and its InputTransformer renders strings differently from EventBridge, so
this module does the delivery itself, as EventBridge does:

1. `load_rules()` reads the file and fills its `${...}` placeholders
   (`${StateMachineArn}`, `${DbInstanceIdentifier}`); an unknown one is an
   error, as for the definition.
2. `EventBus.put(event)` matches the event against every rule with moto's
   own pattern matcher (`moto.events.models.EventPattern`), renders the
   target input (`render_template()`, below) and calls `StartExecution` on
   the target ARN (the stack's targets name the alias `live`), with a
   generated execution name, as the rule's target would. Every event and
   every delivery (rule, input, the execution it started, or why none) is
   logged in `EventBus.log`.
3. `EventBus.start_watcher()` plays Step Functions' side: a thread lists the
   state machine's executions every 0.2 s and emits a "Step Functions
   Execution Status Change" event (`status_change_event()`, shaped as AWS
   sends it) when one starts (`RUNNING`) and when it ends (`SUCCEEDED`,
   `FAILED`, `TIMED_OUT`, `ABORTED`), whoever started it.

`rds_instance_event()` builds the "RDS DB Instance Event" RDS sends, e.g.
RDS-EVENT-0154 when it starts a DB that stayed stopped for 7 days.

InputTransformer rendering follows EventBridge's documented rules:
- `inputPathsMap` names variables by JSON paths into the event (dot notation,
  `-` and `_` in names, array indices `[0]`); `<aws.events.rule-arn>`,
  `<aws.events.rule-name>`, `<aws.events.event.ingestion-time>`,
  `<aws.events.event>` and `<aws.events.event.json>` are predefined;
- a placeholder outside quotes is replaced by its value as JSON (a string gets
  its quotes, an object stays an object);
- a placeholder inside a quoted string is replaced by the value's text: a
  string as is (EventBridge does not escape it), a number or boolean as
  written, an object or array as its JSON with the inner quotes removed;
- a variable whose path is not in the event is not created: its placeholder
  becomes nothing (outside quotes that leaves invalid JSON, and the target,
  here `StartExecution`, refuses the input: the delivery fails);
- a placeholder that names no variable is an error of the rule (the sandbox
  refuses it at load time: a typo must not pass silently).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from .definition import REPO_ROOT

RULES_PATH = REPO_ROOT / "statemachine" / "rules.json"
STATUS_CHANGE = "Step Functions Execution Status Change"
RDS_INSTANCE_EVENT = "RDS DB Instance Event"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
RDS_AUTO_START_ID = "RDS-EVENT-0154"
RDS_AUTO_START_MESSAGE = "DB instance is being started due to it exceeding the maximum allowed time being stopped."
PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time", "aws.events.event", "aws.events.event.json")

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
_VARIABLE = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
MISSING = object()


class RuleError(ValueError):
    """A rule the sandbox cannot deliver (a bad placeholder, template or path)."""


# -- JSON paths and templates -------------------------------------------------------
def json_path(document: Any, path: str) -> Any:
    """The value at an EventBridge JSON path (`$.detail.status`, `$.resources[0]`), or MISSING."""
    if not path.startswith("$"):
        raise RuleError(f"JSON path {path!r}: must start with $")
    rest = path[1:]
    current = document
    while rest:
        step = _PATH_STEP.match(rest)
        if step is None:
            raise RuleError(f"JSON path {path!r}: only dot notation and array indices are supported")
        rest = rest[step.end() :]
        name, index = step.group(1), step.group(2)
        if name is not None:
            if not isinstance(current, dict) or name not in current:
                return MISSING
            current = current[name]
        else:
            position = int(index)
            if not isinstance(current, list) or position >= len(current):
                return MISSING
            current = current[position]
    return current


def _as_text(value: Any) -> str:
    """A value placed inside a quoted string."""
    if isinstance(value, str):
        return value  # EventBridge inserts it as is, without escaping
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":")).replace('"', "")
    return json.dumps(value)


def template_variables(template: str) -> list[str]:
    """The variable names a template uses, in order."""
    return [m.group(1) for m in _VARIABLE.finditer(template)]


def render_template(template: str, values: dict[str, Any]) -> str:
    """Fill an InputTemplate as EventBridge does (the rules are in the module doc).

    `values` maps each variable to its value; a variable whose path is not in
    the event is absent from it (or MISSING) and becomes nothing.
    """
    stripped = template.lstrip()
    json_mode = stripped[:1] in ("{", "[", '"')
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "<":
            found = _VARIABLE.match(template, i)
            if found is not None:
                value = values.get(found.group(1), MISSING)
                if value is not MISSING:
                    out.append(json.dumps(value) if json_mode and not in_string else _as_text(value))
                i = found.end()
                continue
        if json_mode and ch == "\\" and in_string:
            out.append(template[i : i + 2])
            i += 2
            continue
        if json_mode and ch == '"':
            in_string = not in_string
        out.append(ch)
        i += 1
    return "".join(out)


# -- rules ---------------------------------------------------------------------------
def _fill(value: Any, values: dict[str, str], where: str) -> Any:
    """Replace `${Key}` in every string of a JSON document."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                raise RuleError(f"{where}: no value for ${{{key}}}")
            return values[key]

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, list):
        return [_fill(v, values, where) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values, where) for k, v in value.items()}
    return value


@dataclass
class Rule:
    """One EventBridge rule whose target is the workflow's state machine."""

    id: str
    description: str
    pattern: dict[str, Any]
    constant_input: Any = None  # the target's `Input`, when there is no transformer
    input_paths: dict[str, str] | None = None
    input_template: str | None = None
    arn: str = ""
    _matcher: EventPattern | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            self._matcher = EventPattern.load(json.dumps(self.pattern))
        except Exception as exc:  # moto raises its own validation errors
            raise RuleError(f"rule {self.id}: invalid event pattern: {exc}") from exc
        if self.input_template is not None:
            for name in template_variables(self.input_template):
                if name not in (self.input_paths or {}) and name not in PREDEFINED:
                    raise RuleError(f"rule {self.id}: the input template uses <{name}>, which inputPathsMap does not define")
            for name, path in (self.input_paths or {}).items():
                json_path({}, path)  # the syntax must be one the sandbox supports
                if name.startswith("aws."):
                    raise RuleError(f"rule {self.id}: variable names may not start with aws. ({name})")

    def matches(self, event: dict[str, Any]) -> bool:
        assert self._matcher is not None
        return bool(self._matcher.matches_event(event))

    def render_input(self, event: dict[str, Any], ingestion_time: str) -> str:
        """The text the target receives for an event."""
        if self.input_template is None:
            return json.dumps(self.constant_input if self.constant_input is not None else event)
        values: dict[str, Any] = {
            "aws.events.rule-arn": self.arn,
            "aws.events.rule-name": self.id,
            "aws.events.event.ingestion-time": ingestion_time,
            "aws.events.event": event,
            "aws.events.event.json": event,
        }
        for name, path in (self.input_paths or {}).items():
            value = json_path(event, path)
            if value is not MISSING:
                values[name] = value
        return render_template(self.input_template, values)


def load_rules(values: dict[str, str], account: str, region: str, path: Path = RULES_PATH) -> list[Rule]:
    """The rules of `rules.json` with their placeholders filled."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuleError(f"{path}: {exc}") from exc
    rules: list[Rule] = []
    for i, entry in enumerate(raw.get("rules", [])):
        rule_id = str(entry.get("id", f"rule{i}"))
        filled = _fill(entry, values, f"{path.name}: rule {rule_id}")
        transformer = filled.get("inputTransformer")
        if transformer is not None and "input" in filled:
            raise RuleError(f"rule {rule_id}: either input or inputTransformer, not both")
        rules.append(
            Rule(
                id=rule_id,
                description=str(filled.get("description", "")),
                pattern=filled["eventPattern"],
                constant_input=filled.get("input"),
                input_paths=dict(transformer.get("inputPathsMap", {})) if transformer else None,
                input_template=str(transformer["inputTemplate"]) if transformer else None,
                arn=f"arn:aws:events:{region}:{account}:rule/{rule_id}",
            )
        )
    return rules


# -- events as AWS sends them ---------------------------------------------------------------
def _iso_seconds(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_millis(at: dt.datetime) -> str:
    utc = at.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _epoch_millis(at: Any) -> int | None:
    return int(at.timestamp() * 1000) if isinstance(at, dt.datetime) else None


def status_change_event(described: dict[str, Any], account: str, region: str, status: str | None = None) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event from a DescribeExecution answer.

    `status` overrides the described one (e.g. the `RUNNING` event of an
    execution first seen after it ended: the fields of its end are left out).
    """
    status = status or str(described["status"])
    ended = status in TERMINAL
    output = described.get("output") if ended else None
    start, stop = described.get("startDate"), described.get("stopDate") if ended else None
    if status == "SUCCEEDED":
        redrive, reason = "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven"
    elif ended:
        redrive, reason = "REDRIVABLE", None
    else:
        redrive, reason = "NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven"
    detail: dict[str, Any] = {
        "executionArn": described["executionArn"],
        "stateMachineArn": described["stateMachineArn"],
        "name": described["name"],
        "status": status,
        "startDate": _epoch_millis(start),
        "stopDate": _epoch_millis(stop),
        "input": described.get("input"),
        "output": output,
        "stateMachineVersionArn": described.get("stateMachineVersionArn"),
        "stateMachineAliasArn": described.get("stateMachineAliasArn"),
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": redrive,
        "redriveStatusReason": reason,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": described.get("error") if ended else None,
        "cause": described.get("cause") if ended else None,
    }
    when = stop if isinstance(stop, dt.datetime) else start if isinstance(start, dt.datetime) else dt.datetime.now(dt.timezone.utc)
    return _envelope(STATUS_CHANGE, "aws.states", account, region, when, described["executionArn"], detail)


def _envelope(detail_type: str, source: str, account: str, region: str, when: dt.datetime, resource: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event around a service's `detail`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": _iso_seconds(when),
        "region": region,
        "resources": [resource],
        "detail": detail,
    }


def paginate(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a paginated boto3 list call (`nextToken`)."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items.extend(page[key])
        kwargs["nextToken"] = page.get("nextToken")
        if not kwargs["nextToken"]:
            return items


def rds_instance_event(
    identifier: str,
    account: str,
    region: str,
    event_id: str = RDS_AUTO_START_ID,
    message: str = RDS_AUTO_START_MESSAGE,
    categories: tuple[str, ...] = ("notification",),
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """An "RDS DB Instance Event" as RDS sends it to EventBridge."""
    at = at or dt.datetime.now(dt.timezone.utc)
    arn = f"arn:aws:rds:{region}:{account}:db:{identifier}"
    detail = {
        "EventCategories": list(categories),
        "SourceType": "DB_INSTANCE",
        "SourceArn": arn,
        "Date": _iso_millis(at),
        "Message": message,
        "SourceIdentifier": identifier,
        "EventID": event_id,
    }
    return _envelope(RDS_INSTANCE_EVENT, "aws.rds", account, region, at, arn, detail)


def summary(event: dict[str, Any]) -> str:
    """One line naming an event."""
    detail = event.get("detail", {})
    if event.get("detail-type") == STATUS_CHANGE:
        return f"{detail.get('name')} {detail.get('status')}"
    if event.get("detail-type") == RDS_INSTANCE_EVENT:
        return f"{detail.get('SourceIdentifier')} {detail.get('EventID')}"
    return str(event.get("detail-type"))


# -- the bus -----------------------------------------------------------------------------
@dataclass
class Started:
    """An execution a rule's target started."""

    name: str
    arn: str
    rule: str
    input: Any
    at: float


class EventBus:
    """Matches events against the rules and starts the state machine for each match.

    `state_machine_arn` is the unqualified ARN, whose executions the watcher
    lists; `target_arn` (default: the same) is what a delivery starts, e.g.
    the alias ARN. `client` makes a Step Functions client (one per thread).
    `on_start` is told of each execution a delivery started; `on_log` gets
    one line per event for live progress. At most `max_started` executions are started: past that a
    delivery fails with `Sandbox.TooManyExecutions` (a loop of rules starting
    executions whose end starts more must not run forever).
    """

    def __init__(
        self,
        rules: list[Rule],
        state_machine_arn: str,
        client: Callable[[], Any],
        account: str,
        region: str,
        *,
        max_started: int = 20,
        on_start: Callable[[Started], None] | None = None,
        on_log: Callable[[str], None] | None = None,
        poll_seconds: float = 0.2,
        target_arn: str | None = None,
    ) -> None:
        self.rules = rules
        self.state_machine_arn = state_machine_arn
        self.target_arn = target_arn or state_machine_arn
        self._client = client
        self.account = account
        self.region = region
        self.max_started = max_started
        self.on_start = on_start
        self.on_log = on_log
        self.poll_seconds = poll_seconds
        self.log: list[dict[str, Any]] = []
        self.started: list[Started] = []
        self.refused = 0  # deliveries refused past max_started
        self.t0 = time.monotonic()
        self._lock = threading.RLock()
        self._emitted: dict[str, str] = {}  # execution arn -> last status emitted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._quiet_pass_started: float | None = None  # start of the last pass that found nothing to do
        self.watch_errors: list[str] = []

    # -- delivery ---------------------------------------------------------------------
    def put(self, event: dict[str, Any]) -> dict[str, Any]:
        """Deliver one event to every matching rule's target; returns its log entry."""
        with self._lock:
            now = dt.datetime.now(dt.timezone.utc)
            entry: dict[str, Any] = {
                "at": round(time.monotonic() - self.t0, 3),
                "source": event.get("source"),
                "detailType": event.get("detail-type"),
                "summary": summary(event),
                "event": event,
                "deliveries": [],
            }
            self.log.append(entry)
            for rule in self.rules:
                if rule.matches(event):
                    entry["deliveries"].append(self._deliver(rule, event, _iso_millis(now)))
            starting = event.get("detail-type") == STATUS_CHANGE and event.get("detail", {}).get("status") == "RUNNING"
            if self.on_log is not None and (entry["deliveries"] or not starting):
                targets = ", ".join(
                    f"{d['rule']} -> {d['execution'] or d['error']}" for d in entry["deliveries"]
                ) or "no rule matched"
                self.on_log(f"event {entry['summary']} ({entry['source']}): {targets}")
            return entry

    def _deliver(self, rule: Rule, event: dict[str, Any], ingestion_time: str) -> dict[str, Any]:
        delivery: dict[str, Any] = {"rule": rule.id, "input": None, "execution": None, "executionArn": None, "error": None}
        text = rule.render_input(event, ingestion_time)
        try:
            delivery["input"] = json.loads(text)
        except ValueError:
            delivery["input"] = text
            delivery["error"] = "InvalidExecutionInput: the rendered input is not JSON"
            return delivery
        if len(self.started) >= self.max_started:
            self.refused += 1
            delivery["error"] = f"Sandbox.TooManyExecutions: the sandbox starts at most {self.max_started} executions from events"
            return delivery
        name = str(uuid.uuid4())
        try:
            answer = self._client().start_execution(stateMachineArn=self.target_arn, name=name, input=text)
        except ClientError as exc:
            delivery["error"] = f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}"
            return delivery
        started = Started(name, str(answer["executionArn"]), rule.id, delivery["input"], round(time.monotonic() - self.t0, 3))
        self.started.append(started)
        delivery["execution"], delivery["executionArn"] = started.name, started.arn
        if self.on_start is not None:
            self.on_start(started)
        return delivery

    def note(self, text: str) -> None:
        """Log something that happened instead of an event (e.g. an RDS auto-start that did not apply)."""
        with self._lock:
            self.log.append({"at": round(time.monotonic() - self.t0, 3), "source": "sandbox", "detailType": None, "summary": text, "event": None, "deliveries": []})
            if self.on_log is not None:
                self.on_log(text)

    # -- Step Functions' status change events ----------------------------------------------
    def start_watcher(self) -> None:
        self._thread = threading.Thread(target=self._watch, daemon=True, name="sfn-status-events")
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (and delivering); waits for a pass under way."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _watch(self) -> None:
        client = self._client()
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                busy = self.poll(client)
            except Exception as exc:  # a failed pass is retried; it is reported, never fatal
                self.watch_errors.append(repr(exc))
                busy = True
            if not busy:
                self._quiet_pass_started = began
            self._stop.wait(self.poll_seconds)

    def poll(self, client: Any) -> bool:
        """One pass: emit the status changes not emitted yet. True when an execution runs or an event was emitted."""
        executions = paginate(client.list_executions, "executions", stateMachineArn=self.state_machine_arn, maxResults=1000)
        busy = False
        for item in sorted(executions, key=lambda e: e["startDate"]):
            if self._stop.is_set():
                return True
            arn, status = str(item["executionArn"]), str(item["status"])
            seen = self._emitted.get(arn)
            if status == "RUNNING":
                busy = True
            if seen == status:
                continue
            described = client.describe_execution(executionArn=arn)
            status = str(described["status"])
            if seen is None:
                self._emitted[arn] = "RUNNING"
                self.put(status_change_event(described, self.account, self.region, "RUNNING"))
                busy = True
            if status in TERMINAL and self._emitted.get(arn) != status:
                self._emitted[arn] = status
                self.put(status_change_event(described, self.account, self.region))
                busy = True
        return busy

    def quiet_since(self, moment: float) -> bool:
        """Whether a full pass that began after `moment` (monotonic) found nothing running and nothing to emit."""
        quiet = self._quiet_pass_started
        return quiet is not None and quiet > moment
