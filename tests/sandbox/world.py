"""What moto lacks: time, SSM agents and a job that takes a while.

moto keeps the resources (its EC2 instances and RDS instances are the source of
truth for states, so its own Describe* answers stay valid), but its transitions
are instant and its SSM commands succeed at once. `World` adds a small
discrete-event simulation on top of moto's models:

- timed transitional states: EC2 `pending`/`stopping`, RDS `starting`/`stopping`
  (and any initial transitional state such as `backing-up`);
- EC2 `StartInstances`/`StopInstances` with EC2's rules: a call naming an
  instance in a state the action does not apply to is refused whole with
  `IncorrectInstanceState` (see `_refusal`);
- an instance terminated by someone outside the workflow (`terminate_instance`,
  the runner's `ec2.instances[].terminateAfterSeconds`): `shutting-down`, then
  `terminated`;
- the SSM agent of each instance: it registers and goes `Online` some seconds
  after the instance is `running`, and reports `ConnectionLost` once it stops;
- RDS starting a DB that stayed stopped too long by itself (`auto_start_db`,
  the runner's `rdsAutoStartAfterSeconds`);
- a simulated job per `SendCommand`: `InProgress` for a duration, then `Success`
  or `Failed` with an exit code, or shuts its own instance down while the
  command stays `InProgress` (as `shutdown -h now` does on real SSM), or never
  ends.

Events are applied lazily: every request first calls `tick()`, which applies,
in time order, every event whose time has come (an event may schedule others,
relative to its own time, so the result is the same as a real clock's).
Callers hold `World.lock` around a request so moto's models see one request at
a time.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.instances import StateReason
from moto.rds.models import rds_backends

from .protocol import AwsRequest, HttpAnswer, error_answer, indexed_values, json_answer

EC2_CODES: dict[str, int] = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}
# Where each EC2 action cannot be applied: StartInstances/StopInstances naming an
# instance in one of these states is refused whole with IncorrectInstanceState
# (HTTP 400), and nothing in the call changes state. What AWS documents:
# - The EC2 API Reference's StopInstances page lists no per-state error (only the
#   common error codes); it says to call StopInstances again with `Force` on an
#   instance that appears stuck `stopping`.
# - The EC2 User Guide's "Instance lifecycle" (table and diagram): `pending` leads
#   only to `running`; `stopping` to `stopped`; `shutting-down` to `terminated`,
#   which "has been permanently deleted and cannot be started". The diagram has no
#   stop from `pending`, `shutting-down` or `terminated`.
# So, for StopInstances:
# - `shutting-down`, `terminated`: refused (no way back from a termination).
# - `pending`: refused, following the lifecycle diagram. The docs' maintainers
#   call the diagram conceptual (awsdocs/amazon-ec2-user-guide#67, where a user
#   reports stopping a pending instance); AWS does refuse an instance that never
#   reached `running` ("cannot be stopped as it has never reached the 'running'
#   state", quoted in cloud-custodian/cloud-custodian#6014).
# - `stopping`: accepted (the Force advice above); `stopped`: accepted, a no-op.
#   Both answer the instance's current state.
# For StartInstances: `stopping`, `shutting-down`, `terminated` refused;
# `pending`, `running` accepted, a no-op.
EC2_REFUSED: dict[str, tuple[str, ...]] = {
    "StartInstances": ("stopping", "shutting-down", "terminated"),
    "StopInstances": ("pending", "shutting-down", "terminated"),
}
# Initial RDS states that end by themselves, and where they end.
RDS_TRANSIENT_END: dict[str, str] = {
    "starting": "available",
    "stopping": "stopped",
    "backing-up": "available",
    "modifying": "available",
    "rebooting": "available",
    "configuring-enhanced-monitoring": "available",
}


@dataclass
class Timings:
    """Seconds each simulated transition takes (sandbox-sized)."""

    ec2_start: float = 1.0  # pending -> running
    ec2_stop: float = 1.0  # stopping -> stopped
    ec2_terminate: float = 1.0  # shutting-down -> terminated (terminate_instance)
    rds_start: float = 2.0  # starting -> available
    rds_stop: float = 1.0  # stopping -> stopped
    agent_online: float = 1.0  # running -> SSM PingStatus Online
    initial_transition: float = 2.0  # an initial transitional state -> its end
    rds_busy: float = 10.0  # an automated backup: backing-up -> available (rdsBusyAfterSeconds)


@dataclass
class JobBehaviour:
    """What the simulated batch job does once `SendCommand` delivered it."""

    duration: float = 2.0
    outcome: str = "Success"  # Success | Failed
    exit_code: int = 0
    shutdown_instance: bool = False  # the job runs `shutdown -h now` at its end
    never_ends: bool = False


@dataclass
class Invocation:
    """One instance's part of a command."""

    instance_id: str
    status: str = "InProgress"
    response_code: int = -1
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    ended: dt.datetime | None = None
    output: str = ""


@dataclass
class Command:
    """An SSM Run Command as the sandbox keeps it."""

    command_id: str
    document_name: str
    comment: str
    parameters: dict[str, list[str]]
    timeout_seconds: int
    requested: dt.datetime
    invocations: dict[str, Invocation]

    @property
    def status(self) -> str:
        states = {inv.status for inv in self.invocations.values()}
        if "InProgress" in states:
            return "InProgress"
        if "Failed" in states:
            return "Failed"
        return "Success"


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    action: Callable[[float], None] = field(compare=False)
    settles: bool = field(compare=False, default=True)  # a resource transition


def _epoch(value: dt.datetime) -> float:
    return value.timestamp()


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


class World:
    """The simulated account: moto's models plus time."""

    def __init__(self, account: str, region: str, timings: Timings, job: JobBehaviour, rds_start_result: str = "available") -> None:
        self.account = account
        self.rds_start_result = rds_start_result  # where `starting` ends (e.g. incompatible-parameters)
        self.region = region
        self.timings = timings
        self.job = job
        self.lock = threading.RLock()
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._agents: dict[str, str | None] = {}  # instance id -> PingStatus or None
        self._agent_epoch: dict[str, int] = {}  # bumps cancel stale "go online" events
        self.commands: list[Command] = []
        self.shutdowns_by_job: list[str] = []
        self.terminated_by_others: list[str] = []

    # -- moto models ---------------------------------------------------------
    @property
    def ec2(self) -> Any:
        return ec2_backends[self.account][self.region]

    @property
    def rds(self) -> Any:
        return rds_backends[self.account][self.region]

    def instance_state(self, instance_id: str) -> str:
        return str(self.ec2.get_instance(instance_id)._state.name)

    def db_status(self, identifier: str) -> str | None:
        db = self.rds.databases.get(identifier)
        return None if db is None else str(db.status)

    # -- clock ---------------------------------------------------------------
    def _schedule(self, at: float, action: Callable[[float], None], settles: bool = True) -> None:
        heapq.heappush(self._events, _Event(at, next(self._seq), action, settles))

    def tick(self, now: float | None = None) -> None:
        """Apply every event due at `now` (default: the monotonic clock)."""
        now = time.monotonic() if now is None else now
        with self.lock:
            while self._events and self._events[0].at <= now:
                event = heapq.heappop(self._events)
                event.action(event.at)

    def settle(self) -> None:
        """Finish every pending resource transition at once (for the final report)."""
        with self.lock:
            self.tick()
            while any(e.settles for e in self._events):
                event = heapq.heappop(self._events)
                if event.settles:
                    event.action(event.at)

    # -- EC2 -----------------------------------------------------------------
    def set_instance_state(self, instance_id: str, name: str, at: float) -> None:
        instance = self.ec2.get_instance(instance_id)
        instance._state.name = name
        instance._state.code = EC2_CODES[name]
        epoch = self._agent_epoch.get(instance_id, 0) + 1
        self._agent_epoch[instance_id] = epoch
        if name == "running":
            self._schedule(at + self.timings.agent_online, lambda t: self._agent_online(instance_id, epoch))
        elif self._agents.get(instance_id) is not None:
            self._agents[instance_id] = "ConnectionLost"

    def _transition(self, instance_id: str, expected: str, name: str, at: float) -> None:
        """A scheduled end of a transitional state: applies only if the instance is
        still in it (a termination meanwhile cancels a pending `running`)."""
        if self.instance_state(instance_id) == expected:
            self.set_instance_state(instance_id, name, at)

    def _schedule_transition(self, instance_id: str, expected: str, name: str, at: float) -> None:
        self._schedule(at, lambda t: self._transition(instance_id, expected, name, t))

    def _agent_online(self, instance_id: str, epoch: int) -> None:
        if self._agent_epoch.get(instance_id) == epoch:
            self._agents[instance_id] = "Online"

    def init_instance(self, instance_id: str, state: str, agent_online: bool = True) -> None:
        """Set a fresh instance's initial state; a running one's agent is Online unless told."""
        now = time.monotonic()
        self.set_instance_state(instance_id, state, now)
        if state == "running" and agent_online:
            self._agents[instance_id] = "Online"
        elif state == "pending":
            self._schedule_transition(instance_id, "pending", "running", now + self.timings.initial_transition)
        elif state == "stopping":
            self._schedule_transition(instance_id, "stopping", "stopped", now + self.timings.initial_transition)

    def _ec2_state_change(self, req: AwsRequest, start: bool) -> HttpAnswer:
        ids = indexed_values(req.params, "InstanceId")
        for instance_id in ids:
            try:
                self.ec2.get_instance(instance_id)
            except Exception:  # moto's InvalidInstanceIdError
                return error_answer("ec2", "InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist")
        # The whole call is checked before anything changes: one instance that
        # cannot take the action refuses the call, for every instance in it.
        # A dry run answers the same refusal, else DryRunOperation.
        refusal = self._refusal(req.operation, ids)
        if refusal is not None:
            return refusal
        if str(req.params.get("DryRun", "false")).lower() == "true":
            return error_answer("ec2", "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
        now = time.monotonic()
        items = []
        for instance_id in ids:
            before = self.instance_state(instance_id)
            if start and before == "stopped":
                self.set_instance_state(instance_id, "pending", now)
                self._schedule_transition(instance_id, "pending", "running", now + self.timings.ec2_start)
            elif not start and before == "running":
                self._begin_stop(instance_id, now)
            after = self.instance_state(instance_id)
            items.append(
                f"<item><instanceId>{instance_id}</instanceId>"
                f"<currentState><code>{EC2_CODES[after]}</code><name>{after}</name></currentState>"
                f"<previousState><code>{EC2_CODES[before]}</code><name>{before}</name></previousState></item>"
            )
        tag = "StartInstancesResponse" if start else "StopInstancesResponse"
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{tag} xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
            f"<requestId>{uuid.uuid4()}</requestId><instancesSet>{''.join(items)}</instancesSet></{tag}>"
        )
        return HttpAnswer(200, body.encode(), [("Content-Type", "text/xml")])

    def _refusal(self, operation: str, ids: list[str]) -> HttpAnswer | None:
        """IncorrectInstanceState for the first instance the action cannot apply to (EC2_REFUSED)."""
        verb = "started" if operation == "StartInstances" else "stopped"
        for instance_id in ids:
            state = self.instance_state(instance_id)
            if state in EC2_REFUSED[operation]:
                return error_answer(
                    "ec2",
                    "IncorrectInstanceState",
                    f"The instance '{instance_id}' is not in a state from which it can be {verb}: it is '{state}'.",
                )
        return None

    def _begin_stop(self, instance_id: str, at: float) -> None:
        self.set_instance_state(instance_id, "stopping", at)
        self._schedule_transition(instance_id, "stopping", "stopped", at + self.timings.ec2_stop)

    def terminate_instance(self, instance_id: str) -> str:
        """Someone outside the workflow terminates the instance (the console, an
        Auto Scaling or Spot interruption): `shutting-down` for
        `timings.ec2_terminate`, then `terminated`. Its SSM agent reports
        `ConnectionLost`; a command running on it is left `InProgress`, as SSM
        leaves it until its timeout (`_job_ends`). Any transition under way
        (`pending`, `stopping`) is cancelled.

        Returns the state the instance had; one already `shutting-down` or
        `terminated` is left alone.
        """
        with self.lock:
            self.tick()
            before = self.instance_state(instance_id)
            if before in ("shutting-down", "terminated"):
                return before
            now = time.monotonic()
            self.terminated_by_others.append(instance_id)
            self.set_instance_state(instance_id, "shutting-down", now)
            instance = self.ec2.get_instance(instance_id)
            instance._reason = f"User initiated ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} GMT)"
            instance.state_reason = StateReason("Client.UserInitiatedShutdown: User initiated shutdown", "Client.UserInitiatedShutdown")
            self._schedule_transition(instance_id, "shutting-down", "terminated", now + self.timings.ec2_terminate)
            return before

    # -- RDS -----------------------------------------------------------------
    def init_db(self, identifier: str, status: str) -> None:
        db = self.rds.databases[identifier]
        db.status = status
        if status in RDS_TRANSIENT_END:
            end = RDS_TRANSIENT_END[status]
            self._schedule(time.monotonic() + self.timings.initial_transition, lambda t: self._set_db(identifier, end))

    def _set_db(self, identifier: str, status: str) -> None:
        db = self.rds.databases.get(identifier)
        if db is not None:
            db.status = status

    def auto_start_db(self, identifier: str) -> str | None:
        """RDS starts a DB that stayed stopped for 7 days: `starting`, then as a start ends.

        Returns the status the DB had (it acts only on a `stopped` one), None when it does not exist.
        """
        with self.lock:
            self.tick()
            before = self.db_status(identifier)
            if before == "stopped":
                now = time.monotonic()
                self._set_db(identifier, "starting")
                end = self.rds_start_result
                self._schedule(now + self.timings.rds_start, lambda t: self._set_db(identifier, end))
            return before

    def backup_db(self, identifier: str) -> str | None:
        """An automated backup starts on an available DB: `backing-up` for
        `timings.rds_busy`, then `available` again. While it lasts RDS (moto)
        refuses StopDBInstance with InvalidDBInstanceState, as AWS does.

        Returns the status the DB had (it acts only on an `available` one).
        """
        with self.lock:
            self.tick()
            before = self.db_status(identifier)
            if before == "available":
                self._set_db(identifier, "backing-up")
                self._schedule(time.monotonic() + self.timings.rds_busy, lambda t: self._set_db(identifier, "available"))
            return before

    def after_rds(self, req: AwsRequest, answer: HttpAnswer) -> HttpAnswer:
        """Turn moto's instant Start/StopDBInstance into a timed transition."""
        if answer.status != 200 or req.operation not in ("StartDBInstance", "StopDBInstance"):
            return answer
        identifier = str(req.params.get("DBInstanceIdentifier", ""))
        now = time.monotonic()
        if req.operation == "StartDBInstance":
            middle, end, seconds = "starting", self.rds_start_result, self.timings.rds_start
        else:
            middle, end, seconds = "stopping", "stopped", self.timings.rds_stop
        self._set_db(identifier, middle)
        self._schedule(now + seconds, lambda t: self._set_db(identifier, end))
        body = re.sub(
            rb"<DBInstanceStatus>[^<]*</DBInstanceStatus>",
            f"<DBInstanceStatus>{middle}</DBInstanceStatus>".encode(),
            answer.body,
        )
        return HttpAnswer(answer.status, body, answer.headers)

    # -- SSM -----------------------------------------------------------------
    def ping_status(self, instance_id: str) -> str | None:
        return self._agents.get(instance_id)

    def _describe_instance_information(self, req: AwsRequest) -> HttpAnswer:
        wanted: set[str] | None = None
        for flt in req.params.get("Filters", []) or []:
            if flt.get("Key") in ("InstanceIds", "InstanceId"):
                wanted = set(flt.get("Values", []))
        for flt in req.params.get("InstanceInformationFilterList", []) or []:
            if flt.get("key") == "InstanceIds":
                wanted = set(flt.get("valueSet", []))
        now = dt.datetime.now(dt.timezone.utc)
        items = []
        for instance_id, ping in sorted(self._agents.items()):
            if ping is None or (wanted is not None and instance_id not in wanted):
                continue
            items.append(
                {
                    "InstanceId": instance_id,
                    "PingStatus": ping,
                    "LastPingDateTime": _epoch(now),
                    "AgentVersion": "3.3.0.0",
                    "IsLatestVersion": True,
                    "PlatformType": "Linux",
                    "PlatformName": "Amazon Linux",
                    "PlatformVersion": "2023",
                    "ResourceType": "EC2Instance",
                    "ComputerName": f"{instance_id}.sandbox.internal",
                    "IPAddress": "10.0.0.10",
                }
            )
        return json_answer({"InstanceInformationList": items})

    def _send_command(self, req: AwsRequest) -> HttpAnswer:
        p = req.params
        document = str(p.get("DocumentName", ""))
        if not document:
            return error_answer("ssm", "ValidationException", "DocumentName is required")
        if document != "AWS-RunShellScript":
            return error_answer("ssm", "InvalidDocument", f"Document {document} does not exist in your account")
        ids = list(p.get("InstanceIds", []) or [])
        if not ids:
            return error_answer("ssm", "ValidationException", "InstanceIds or Targets is required")
        not_ready = [i for i in ids if self._agents.get(i) != "Online"]
        if not_ready:
            return error_answer("ssm", "InvalidInstanceId", f"Instances [{', '.join(not_ready)}] not in a valid state for account {self.account}")
        now = dt.datetime.now(dt.timezone.utc)
        command = Command(
            command_id=str(uuid.uuid4()),
            document_name=document,
            comment=str(p.get("Comment", "")),
            parameters={k: list(v) for k, v in (p.get("Parameters") or {}).items()},
            timeout_seconds=int(p.get("TimeoutSeconds", 3600)),
            requested=now,
            invocations={i: Invocation(i, started=now) for i in ids},
        )
        self.commands.append(command)
        if not self.job.never_ends:
            self._schedule(time.monotonic() + self.job.duration, lambda t: self._job_ends(command, t), settles=False)
        return json_answer({"Command": self._command_json(command)})

    def _job_ends(self, command: Command, at: float) -> None:
        for invocation in command.invocations.values():
            if invocation.status != "InProgress":
                continue
            if self.instance_state(invocation.instance_id) in ("shutting-down", "terminated"):
                # The instance is gone under the agent: nothing reports the end,
                # SSM keeps the command InProgress (until its timeout).
                continue
            if self.job.shutdown_instance:
                # The machine goes down under the agent: the command never reports.
                if self.instance_state(invocation.instance_id) == "running":
                    self.shutdowns_by_job.append(invocation.instance_id)
                    self._begin_stop(invocation.instance_id, at)
                continue
            invocation.status = "Success" if self.job.outcome == "Success" else "Failed"
            invocation.response_code = self.job.exit_code
            invocation.ended = dt.datetime.now(dt.timezone.utc)
            invocation.output = "job finished\n" if invocation.status == "Success" else "job failed\n"

    def _command_json(self, command: Command) -> dict[str, Any]:
        done = [i for i in command.invocations.values() if i.status != "InProgress"]
        return {
            "CommandId": command.command_id,
            "DocumentName": command.document_name,
            "DocumentVersion": "$DEFAULT",
            "Comment": command.comment,
            "ExpiresAfter": _epoch(command.requested) + command.timeout_seconds,
            "Parameters": command.parameters,
            "InstanceIds": list(command.invocations),
            "Targets": [],
            "RequestedDateTime": _epoch(command.requested),
            "Status": command.status,
            "StatusDetails": command.status,
            "OutputS3Region": self.region,
            "MaxConcurrency": "50",
            "MaxErrors": "0",
            "TargetCount": len(command.invocations),
            "CompletedCount": len(done),
            "ErrorCount": sum(1 for i in done if i.status == "Failed"),
            "DeliveryTimedOutCount": 0,
            "ServiceRole": "",
            "NotificationConfig": {},
            "CloudWatchOutputConfig": {"CloudWatchOutputEnabled": False},
            "TimeoutSeconds": command.timeout_seconds,
        }

    def _find_command(self, command_id: str) -> Command | None:
        return next((c for c in self.commands if c.command_id == command_id), None)

    def _list_commands(self, req: AwsRequest) -> HttpAnswer:
        p = req.params
        commands = list(self.commands)
        if p.get("CommandId"):
            found = self._find_command(str(p["CommandId"]))
            if found is None:
                return error_answer("ssm", "InvalidCommandId", "Invalid command id.")
            commands = [found]
        if p.get("InstanceId"):
            commands = [c for c in commands if p["InstanceId"] in c.invocations]
        for flt in p.get("Filters", []) or []:
            key, value = flt.get("key"), str(flt.get("value", ""))
            if key == "DocumentName":
                commands = [c for c in commands if c.document_name == value]
            elif key == "Status":
                commands = [c for c in commands if c.status == value]
            elif key in ("InvokedAfter", "InvokedBefore"):
                try:
                    bound = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    return error_answer("ssm", "InvalidFilterValue", f"Invalid value {value} for filter {key}")
                after = key == "InvokedAfter"
                commands = [c for c in commands if (c.requested >= bound) == after]
            else:
                return error_answer("ssm", "InvalidFilterKey", f"Invalid filter key {key}")
        commands.sort(key=lambda c: c.requested, reverse=True)
        return json_answer({"Commands": [self._command_json(c) for c in commands]})

    def _invocation_json(self, command: Command, inv: Invocation) -> dict[str, Any]:
        end = inv.ended or dt.datetime.now(dt.timezone.utc)
        elapsed = max(0.0, (end - inv.started).total_seconds())
        return {
            "CommandId": command.command_id,
            "InstanceId": inv.instance_id,
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": "$DEFAULT",
            "PluginName": "aws:runShellScript",
            "ResponseCode": inv.response_code,
            "ExecutionStartDateTime": _iso(inv.started),
            "ExecutionElapsedTime": f"PT{elapsed:.3f}S",
            "ExecutionEndDateTime": _iso(inv.ended) if inv.ended else "",
            "Status": inv.status,
            "StatusDetails": inv.status,
            "StandardOutputContent": inv.output,
            "StandardOutputUrl": "",
            "StandardErrorContent": "",
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        }

    def _get_command_invocation(self, req: AwsRequest) -> HttpAnswer:
        command = self._find_command(str(req.params.get("CommandId", "")))
        if command is None:
            return error_answer("ssm", "InvalidCommandId", "Invalid command id.")
        inv = command.invocations.get(str(req.params.get("InstanceId", "")))
        if inv is None:
            return error_answer("ssm", "InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist)")
        return json_answer(self._invocation_json(command, inv))

    def _list_command_invocations(self, req: AwsRequest) -> HttpAnswer:
        p = req.params
        commands = list(self.commands)
        if p.get("CommandId"):
            commands = [c for c in commands if c.command_id == p["CommandId"]]
        items = []
        for command in commands:
            for inv in command.invocations.values():
                if p.get("InstanceId") and inv.instance_id != p["InstanceId"]:
                    continue
                one = self._invocation_json(command, inv)
                item = {
                    "CommandId": command.command_id,
                    "InstanceId": inv.instance_id,
                    "InstanceName": "",
                    "Comment": command.comment,
                    "DocumentName": command.document_name,
                    "DocumentVersion": "$DEFAULT",
                    "RequestedDateTime": _epoch(command.requested),
                    "Status": inv.status,
                    "StatusDetails": inv.status,
                    "StandardOutputUrl": "",
                    "StandardErrorUrl": "",
                    "CommandPlugins": [],
                }
                if p.get("Details"):
                    item["CommandPlugins"] = [
                        {
                            "Name": "aws:runShellScript",
                            "Status": inv.status,
                            "StatusDetails": inv.status,
                            "ResponseCode": inv.response_code,
                            "Output": one["StandardOutputContent"],
                        }
                    ]
                items.append(item)
        return json_answer({"CommandInvocations": items})

    # -- dispatch ------------------------------------------------------------
    def handle(self, req: AwsRequest) -> HttpAnswer | None:
        """Answer what the sandbox implements itself; None passes the call to moto."""
        if req.service == "ec2" and req.operation in ("StartInstances", "StopInstances"):
            return self._ec2_state_change(req, req.operation == "StartInstances")
        if req.service == "ssm":
            handlers: dict[str, Callable[[AwsRequest], HttpAnswer]] = {
                "DescribeInstanceInformation": self._describe_instance_information,
                "SendCommand": self._send_command,
                "ListCommands": self._list_commands,
                "GetCommandInvocation": self._get_command_invocation,
                "ListCommandInvocations": self._list_command_invocations,
            }
            if req.operation in handlers:
                return handlers[req.operation](req)
        return None
