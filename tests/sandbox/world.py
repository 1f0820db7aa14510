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
- who stopped an instance, as EC2 says it: `StateReason` and
  `StateTransitionReason` (`STATE_REASONS`, `_set_reason`);
- an instance terminated by someone outside the workflow (`terminate_instance`,
  the runner's `ec2.instances[].terminateAfterSeconds`): `shutting-down`, then
  `terminated`; or stopped by someone or something outside the workflow
  (`external_stop`, the runner's `externalStop`: an operator, a scheduled
  retirement, a Spot interruption): `stopping`, then `stopped`;
- the SSM agent of each instance: it registers and goes `Online` some seconds
  after the instance is `running`, and reports `ConnectionLost` once it stops;
- RDS starting a DB that stayed stopped too long by itself (`auto_start_db`,
  the runner's `rdsAutoStartAfterSeconds`);
- SSM Run Command with the (Status, StatusDetails) pairs SSM answers
  (`STATUS_DETAILS`), `MaxConcurrency`/`MaxErrors` (an invocation not yet
  started when the command passes `MaxErrors` ends `Failed`/`Terminated`),
  the delivery timeout, `CloudWatchOutputConfig` (echoed, and the output
  written to CloudWatch Logs), `ListCommands` filters as SSM applies them;
- the account's Command documents: the stack's job document
  (`register_document`, from statemachine/job-document.json) is the only one a
  command may run; its parameters are checked as SSM checks them
  (`InvalidParameters`), and an AWS-owned `AWS-` document is refused as the
  stack's IAM policy refuses it (`AccessDeniedException`);
- a simulated job per invocation: `Pending` until the agent takes it, then
  `InProgress` for a duration, then `Success` or `Failed` with an exit code and
  what it wrote to stdout/stderr (capped as SSM caps them), or any other
  terminal status detail (`Undeliverable`, `DeliveryTimedOut`, ...), or it
  shuts its own instance down while the command stays `InProgress` (as
  `shutdown -h now` does on real SSM), or never ends.

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
from moto.logs.models import logs_backends
from moto.rds.models import rds_backends

from .jobdocument import Document
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

# Who stopped an instance, as EC2 tells it: `StateReason` {Code, Message} and
# `StateTransitionReason`. What AWS documents and what real answers show:
# - The EC2 API Reference's StateReason lists the codes with a description
#   (not the message text): Client.UserInitiatedShutdown "shut down using the
#   Amazon EC2 API", Client.InstanceInitiatedShutdown "shut down from the
#   operating system of the instance", Server.ScheduledStop "stopped due to a
#   scheduled retirement", Server.SpotInstanceShutdown "stopped because [of]
#   Spot capacity or price", Client.UserInitiatedHibernate "Hibernation was
#   initiated". (Server.SpotInstanceTermination, Server.InternalError,
#   Server.InsufficientInstanceCapacity, Client.InternalError, ... end in
#   `terminated`, not a stop.)
# - The Message is "<Code>: <text>". Real describe-instances answers show
#   "Client.UserInitiatedShutdown: User initiated shutdown" (also what moto
#   writes), "Client.InstanceInitiatedShutdown: Instance initiated shutdown",
#   "Server.ScheduledStop: Stopped due to scheduled retirement". The two
#   others' text is not documented (marked below).
# - StateTransitionReason: an API stop reads "User initiated (2021-10-04
#   14:13:33 GMT)" (moto writes "... UTC)", EC2 writes GMT); a stop EC2 did not
#   get through its API reads "User initiated", without a time (real answers
#   for Client.InstanceInitiatedShutdown and Server.ScheduledStop stops;
#   cloud-custodian/cloud-custodian#6924 for stops by AWS).
# - A `running` or `pending` instance has no StateReason (the element is
#   absent; moto answers an empty {Code: "", Message: ""}) and an empty
#   StateTransitionReason.
# Code -> (Message, whether StateTransitionReason carries the time).
STATE_REASONS: dict[str, tuple[str, bool]] = {
    "Client.UserInitiatedShutdown": ("Client.UserInitiatedShutdown: User initiated shutdown", True),
    "Client.InstanceInitiatedShutdown": ("Client.InstanceInitiatedShutdown: Instance initiated shutdown", False),
    "Server.ScheduledStop": ("Server.ScheduledStop: Stopped due to scheduled retirement", False),
    # Not seen in a real answer: the API Reference's description (Spot), a guess after
    # the user-initiated shutdown's (hibernate).
    "Server.SpotInstanceShutdown": (
        "Server.SpotInstanceShutdown: The instance was stopped because the number of Spot requests with a maximum "
        "price equal to or higher than the Spot price exceeded available capacity or because of an increase in the Spot price.",
        False,
    ),
    "Client.UserInitiatedHibernate": ("Client.UserInitiatedHibernate: User initiated hibernate", True),
}
# StateReason codes a stop from outside the workflow may carry (`externalStop`).
STOP_REASONS = tuple(STATE_REASONS)
USER_STOP = "Client.UserInitiatedShutdown"  # StopInstances, an operator in the console
OWN_SHUTDOWN = "Client.InstanceInitiatedShutdown"  # the job ran `shutdown -h now`


@dataclass(frozen=True)
class Detail:
    """What a StatusDetails value of an SSM command invocation means."""

    status: str  # the Status SSM pairs with it
    ran: bool  # the agent started the command (ExecutionStartDateTime, output)
    terminal: bool
    response_code: int | None  # the ResponseCode; None: the job's exit code
    error: bool  # counts against MaxErrors (the command's ErrorCount)


# SSM Run Command: the (Status, StatusDetails) pairs of a command invocation.
# What AWS documents:
# - GetCommandInvocation / CommandInvocation `StatusDetails` (API Reference):
#   Pending (not sent to the node), "In Progress", Delayed (the node was not
#   available, SSM retries), Success, "Delivery Timed Out" (not delivered
#   before the delivery timeout; does not count against MaxErrors), "Execution
#   Timed Out" (started, not complete before its execution timeout; counts
#   against MaxErrors), Failed (a non-zero result code; counts against
#   MaxErrors), Cancelled, Undeliverable (the node does not exist or does not
#   respond; does not count against MaxErrors), Terminated ("The parent
#   command exceeded its MaxErrors limit and subsequent command invocations
#   were canceled by the system"). The CommandFilter reference adds
#   InvalidPlatform and AccessDenied to the values ListCommandInvocations'
#   Status filter takes. The user guide's "Understanding command statuses"
#   describes those two (the document's platform does not match the node; the
#   caller may not reach the node), says neither counts against MaxErrors, and
#   that a command all of whose invocations are Undeliverable is Failed while
#   Undeliverable ones do not change a Success (from that page as published;
#   the search tool returned only its introduction, so not re-read here).
# - `Status` is an enum (botocore's model): Pending, InProgress, Delayed,
#   Success, Cancelled, TimedOut, Failed, Cancelling. The docs do not pair each
#   detail with a Status; the only fits are the ones below (TimedOut for both
#   timeouts, Failed for the four "not run" details: real answers show
#   Failed/Undeliverable, TimedOut/ExecutionTimedOut).
# - Spelling: the reference text writes "In Progress", "Delivery Timed Out",
#   ...; what SSM sends has no spaces: its own sample ListCommands answer has
#   StatusDetails "InProgress", real GetCommandInvocation answers have
#   "ExecutionTimedOut" (with Status TimedOut, ResponseCode 137), and the
#   ListCommandInvocations `Status` filter takes DeliveryTimedOut,
#   ExecutionTimedOut, InvalidPlatform, AccessDenied. The sandbox answers the
#   no-space form; a scenario's `job.statusDetails` may use either, and is
#   answered as written (to test a client's tolerance).
# - ResponseCode: "If the response code is -1, then the command hasn't started
#   running on the managed node, or it wasn't received by the node." A command
#   SSM Agent stops on Linux (execution timeout, cancel) exits 137 (the agent's
#   CommandStoppedPreemptivelyExitCode: 128 + SIGKILL).
# - Output: StandardOutputContent is "the first 24,000 characters written by
#   the plugin to stdout", empty unless the execution Succeeded or Failed;
#   StandardErrorContent "the first 8,000 characters written by the plugin to
#   stderr", empty until the command finished (STDOUT_CAP, STDERR_CAP).
# Chosen where the docs are silent: Cancelled ran (137, not an error for
# MaxErrors); a command's Status when some invocations failed without
# reaching MaxErrors is Failed with StatusDetails Incomplete.
STATUS_DETAILS: dict[str, Detail] = {
    "Pending": Detail("Pending", ran=False, terminal=False, response_code=-1, error=False),
    "InProgress": Detail("InProgress", ran=True, terminal=False, response_code=-1, error=False),
    "Delayed": Detail("Delayed", ran=False, terminal=False, response_code=-1, error=False),
    "Success": Detail("Success", ran=True, terminal=True, response_code=None, error=False),
    "Failed": Detail("Failed", ran=True, terminal=True, response_code=None, error=True),
    "DeliveryTimedOut": Detail("TimedOut", ran=False, terminal=True, response_code=-1, error=False),
    "ExecutionTimedOut": Detail("TimedOut", ran=True, terminal=True, response_code=137, error=True),
    "Cancelled": Detail("Cancelled", ran=True, terminal=True, response_code=137, error=False),
    "Undeliverable": Detail("Failed", ran=False, terminal=True, response_code=-1, error=False),
    "Terminated": Detail("Failed", ran=False, terminal=True, response_code=-1, error=False),
    "InvalidPlatform": Detail("Failed", ran=False, terminal=True, response_code=-1, error=False),
    "AccessDenied": Detail("Failed", ran=False, terminal=True, response_code=-1, error=False),
}
# The documentation's spellings of the same details.
DETAIL_SPELLINGS: dict[str, str] = {
    "In Progress": "InProgress",
    "Delivery Timed Out": "DeliveryTimedOut",
    "Execution Timed Out": "ExecutionTimedOut",
    "Invalid Platform": "InvalidPlatform",
    "Access Denied": "AccessDenied",
    "Canceled": "Cancelled",
}
# GetCommandInvocation's caps, in characters: StandardOutputContent, StandardErrorContent.
STDOUT_CAP = 24_000
STDERR_CAP = 8_000
# CommandPlugin.Output (ListCommandInvocations with Details): the agent's
# combined output, 2,500 characters of each stream (its plugin default).
PLUGIN_OUTPUT_CAP = 2_500


def canonical_detail(value: str) -> str:
    """A StatusDetails value in SSM's own spelling ("Delivery Timed Out" -> "DeliveryTimedOut")."""
    return DETAIL_SPELLINGS.get(value, value)


def detail_of(value: str) -> Detail:
    return STATUS_DETAILS[canonical_detail(value)]


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
    """What the simulated batch job does with a command `SendCommand` sent.

    The invocation is `Pending` until the agent takes it (`pending_seconds`
    after SSM dispatched it), then `InProgress` for `duration`, then ends with
    `status_details` (any terminal StatusDetails, in either spelling; the
    Status is SSM's pair, `STATUS_DETAILS`) or else `outcome`. A detail SSM
    gives a command the agent never ran (`Undeliverable`, `DeliveryTimedOut`,
    ...) keeps it `Pending` for `duration` instead, then ends it.
    """

    duration: float = 2.0
    outcome: str = "Success"  # Success | Failed (when no status_details)
    exit_code: int | None = None  # None: 0 for Success, 1 for Failed, 137 for a stopped one
    shutdown_instance: bool = False  # the job runs `shutdown -h now` at its end
    never_ends: bool = False
    status_details: str | None = None  # e.g. "Undeliverable", "Delivery Timed Out"
    stdout: str | None = None  # None: one line saying how it ended
    stderr: str = ""
    pending_seconds: float = 0.0  # from dispatch to the agent taking the command

    @property
    def final_details(self) -> str:
        """The StatusDetails the invocation ends with, as the scenario spells it."""
        return self.status_details or self.outcome

    def response_code(self) -> int:
        detail = detail_of(self.final_details)
        if detail.ran and self.exit_code is not None:
            return self.exit_code
        if detail.response_code is not None:
            return detail.response_code
        return 0 if detail.status == "Success" else 1


@dataclass
class Invocation:
    """One instance's part of a command."""

    instance_id: str
    job: JobBehaviour
    details: str = "Pending"  # StatusDetails, as answered
    response_code: int = -1
    dispatched: bool = False  # SSM sent it to the agent (within MaxConcurrency)
    started: dt.datetime | None = None  # the agent started it (ExecutionStartDateTime)
    ended: dt.datetime | None = None
    stdout: str = ""
    stderr: str = ""

    @property
    def detail(self) -> Detail:
        return detail_of(self.details)

    @property
    def status(self) -> str:
        return self.detail.status

    @property
    def terminal(self) -> bool:
        return self.detail.terminal


def _limit(value: str, targets: int, default: int) -> int:
    """MaxConcurrency / MaxErrors: a number, or a percentage of the targets."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            return int(targets * float(text[:-1]) / 100)
        return int(text)
    except ValueError:
        return default


@dataclass
class Command:
    """An SSM Run Command as the sandbox keeps it."""

    command_id: str
    document_name: str
    comment: str
    parameters: dict[str, list[str]]
    timeout_seconds: int  # SendCommand's TimeoutSeconds: the delivery timeout
    requested: dt.datetime  # at millisecond precision, as SSM keeps it
    invocations: dict[str, Invocation]
    max_concurrency: str = "50"
    max_errors: str = "0"
    # The document's step (schema 2.2): the plugin name in invocation details and
    # the <step> of CloudWatch Logs streams <command>/<instance>/<step>/stdout|stderr.
    step_name: str = "runJob"
    cloudwatch: dict[str, Any] = field(default_factory=lambda: {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False})

    @property
    def concurrency(self) -> int:
        return max(1, _limit(self.max_concurrency, len(self.invocations), 50))

    @property
    def error_limit(self) -> int:
        return max(0, _limit(self.max_errors, len(self.invocations), 0))

    @property
    def error_count(self) -> int:
        """Invocations that count against MaxErrors (Failed, ExecutionTimedOut)."""
        return sum(1 for i in self.invocations.values() if i.terminal and i.detail.error)

    @property
    def status_pair(self) -> tuple[str, str]:
        """The command's (Status, StatusDetails), from its invocations (see STATUS_DETAILS)."""
        invocations = list(self.invocations.values())
        if not all(i.terminal for i in invocations):
            if all(canonical_detail(i.details) == "Pending" for i in invocations):
                return ("Pending", "Pending")
            return ("InProgress", "InProgress")
        details = [canonical_detail(i.details) for i in invocations]
        if self.error_count > self.error_limit:
            errors = [d for d, i in zip(details, invocations, strict=True) if i.detail.error]
            if all(d == "ExecutionTimedOut" for d in errors):
                return ("TimedOut", "ExecutionTimedOut")
            return ("Failed", "Failed")
        if details.count("DeliveryTimedOut") > self.error_limit:
            return ("TimedOut", "DeliveryTimedOut")
        counted = [d for d in details if d not in ("Undeliverable", "Terminated")]
        if not counted:
            return ("Failed", "Failed")
        if all(d == "Success" for d in counted):
            return ("Success", "Success")
        if all(d == "Cancelled" for d in counted):
            return ("Cancelled", "Cancelled")
        return ("Failed", "Incomplete")

    @property
    def status(self) -> str:
        return self.status_pair[0]


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    action: Callable[[float], None] = field(compare=False)
    settles: bool = field(compare=False, default=True)  # a resource transition


def _epoch(value: dt.datetime) -> float:
    """Epoch seconds with milliseconds, as SSM's JSON answers carry times."""
    return round(value.timestamp(), 3)


def _iso(value: dt.datetime) -> str:
    """`2024-02-20T23:34:42.758Z`: how SSM writes ExecutionStartDateTime."""
    utc = value.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _now_ms() -> dt.datetime:
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _elapsed(seconds: float) -> str:
    """An ISO 8601 duration as SSM writes ExecutionElapsedTime (`PT44.002S`, `PT1H0.271S`)."""
    hours, rest = divmod(max(0.0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{int(hours)}H"
    if minutes:
        text += f"{int(minutes)}M"
    return text + f"{secs:.3f}S"


def parse_time_filter(value: str) -> dt.datetime | None:
    """An InvokedAfter/InvokedBefore value: ISO 8601 as the API Reference writes it
    (`2024-07-07T00:00:00Z`), with or without fractional seconds or a UTC
    offset, or a date (`2024-07-07`); a time without an offset is UTC. None
    for anything else."""
    text = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", text):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


class World:
    """The simulated account: moto's models plus time."""

    def __init__(self, account: str, region: str, timings: Timings, job: JobBehaviour, rds_start_result: str = "available") -> None:
        self.account = account
        self.rds_start_result = rds_start_result  # where `starting` ends (e.g. incompatible-parameters)
        self.region = region
        self.timings = timings
        self.job = job
        self.instance_jobs: dict[str, JobBehaviour] = {}  # instance id -> its own job (ec2.instances[].job)
        self.lock = threading.RLock()
        self._held_at: float | None = None  # see hold()
        self._ahead = 0.0  # how far advance() has moved the World's time past the clock
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._agents: dict[str, str | None] = {}  # instance id -> PingStatus or None
        self._agent_epoch: dict[str, int] = {}  # bumps cancel stale "go online" events
        self.commands: list[Command] = []
        # The account's own Command documents (the stack's job document, registered
        # by the runner from statemachine/job-document.json). AWS-owned ones are
        # refused as the stack's IAM policy refuses them (see _send_command).
        self.documents: dict[str, Document] = {}
        self.shutdowns_by_job: list[str] = []
        self.terminated_by_others: list[str] = []
        self.stopped_by_others: list[tuple[str, str]] = []  # (instance id, StateReason code)

    # -- moto models ---------------------------------------------------------
    @property
    def ec2(self) -> Any:
        return ec2_backends[self.account][self.region]

    @property
    def rds(self) -> Any:
        return rds_backends[self.account][self.region]

    @property
    def logs(self) -> Any:
        return logs_backends[self.account][self.region]

    def register_document(self, name: str, content: dict[str, Any]) -> Document:
        """A Command document of the account, as CloudFormation creates the stack's."""
        document = Document(name, content)
        with self.lock:
            self.documents[name] = document
        return document

    def job_for(self, instance_id: str) -> JobBehaviour:
        """What the job does on that instance (its own `job`, else the scenario's)."""
        return self.instance_jobs.get(instance_id, self.job)

    def instance_state(self, instance_id: str) -> str:
        return str(self.ec2.get_instance(instance_id)._state.name)

    def db_status(self, identifier: str) -> str | None:
        db = self.rds.databases.get(identifier)
        return None if db is None else str(db.status)

    # -- clock ---------------------------------------------------------------
    def now(self) -> float:
        """The World's time: the monotonic clock (plus what `advance()` added),
        stopped while `hold()` is on. It never goes back."""
        held = self._held_at
        return time.monotonic() + self._ahead if held is None else held

    def hold(self) -> None:
        """Stop the World's time: nothing scheduled happens until `release()`,
        however slow the caller. For self-tests that must see a transitional
        state right after the call that began it (a busy machine can delay the
        next request by more than the state lasts). Time not passed while held
        is made up at once on release, so no event comes early."""
        with self.lock:
            if self._held_at is None:
                self._held_at = self.now()

    def release(self) -> None:
        """Let the World's time run with the clock again: from the clock's time,
        or, if `advance()` moved it past that, from where it was held."""
        with self.lock:
            if self._held_at is not None:
                self._ahead = max(self._ahead, self._held_at - time.monotonic())
                self._held_at = None

    def advance(self, seconds: float) -> None:
        """Move held time on by `seconds` and apply what came due: a test then
        times transitions in the World's time, not the machine's."""
        with self.lock:
            assert self._held_at is not None, "advance() needs hold()"
            self._held_at += seconds
            self.tick()

    def _schedule(self, at: float, action: Callable[[float], None], settles: bool = True) -> None:
        heapq.heappush(self._events, _Event(at, next(self._seq), action, settles))

    def tick(self, now: float | None = None) -> None:
        """Apply every event due at `now` (default: the World's time, `now()`)."""
        now = self.now() if now is None else now
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
        if name in ("pending", "running"):
            # A started instance has no StateReason and an empty StateTransitionReason.
            instance._reason = ""
            instance.state_reason = None
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

    def _set_reason(self, instance_id: str, code: str) -> None:
        """Say who stopped or terminated the instance, as EC2 does (STATE_REASONS)."""
        instance = self.ec2.get_instance(instance_id)
        message, timed = STATE_REASONS[code]
        instance.state_reason = StateReason(message, code)
        instance._reason = f"User initiated ({dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S} GMT)" if timed else "User initiated"

    def state_reason(self, instance_id: str) -> tuple[str, str]:
        """(StateReason code, StateTransitionReason) of an instance, as DescribeInstances answers them."""
        instance = self.ec2.get_instance(instance_id)
        reason = instance.state_reason
        return (reason.code if reason is not None else "", str(instance._reason or ""))

    def init_instance(self, instance_id: str, state: str, agent_online: bool = True) -> None:
        """Set a fresh instance's initial state; a running one's agent is Online unless told.
        One found `stopped` or `stopping` was stopped through the API (by an operator, an
        earlier run)."""
        now = self.now()
        self.set_instance_state(instance_id, state, now)
        if state in ("stopped", "stopping"):
            self._set_reason(instance_id, USER_STOP)
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
        now = self.now()
        items = []
        for instance_id in ids:
            before = self.instance_state(instance_id)
            if start and before == "stopped":
                self.set_instance_state(instance_id, "pending", now)
                self._schedule_transition(instance_id, "pending", "running", now + self.timings.ec2_start)
            elif not start and before == "running":
                self._begin_stop(instance_id, now, USER_STOP)
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

    def _begin_stop(self, instance_id: str, at: float, reason: str) -> None:
        """`stopping` for timings.ec2_stop, then `stopped`; `reason` is the StateReason code."""
        self.set_instance_state(instance_id, "stopping", at)
        self._set_reason(instance_id, reason)
        self._schedule_transition(instance_id, "stopping", "stopped", at + self.timings.ec2_stop)

    def external_stop(self, instance_id: str, reason: str) -> str:
        """Someone or something outside the workflow stops a running instance:
        an operator (`Client.UserInitiatedShutdown`), a scheduled retirement
        (`Server.ScheduledStop`), a Spot interruption
        (`Server.SpotInstanceShutdown`), a shutdown typed on the machine
        (`Client.InstanceInitiatedShutdown`). `stopping` for
        timings.ec2_stop, then `stopped`, with that StateReason. Its SSM agent
        reports `ConnectionLost`; a command running on it is left
        `InProgress` (nothing reports its end).

        Returns the state the instance had; only a `running` one is stopped.
        """
        with self.lock:
            self.tick()
            before = self.instance_state(instance_id)
            if before == "running":
                self.stopped_by_others.append((instance_id, reason))
                self._begin_stop(instance_id, self.now(), reason)
            return before

    def terminate_instance(self, instance_id: str) -> str:
        """Someone outside the workflow terminates the instance (the console, an
        Auto Scaling or Spot interruption): `shutting-down` for
        `timings.ec2_terminate`, then `terminated`. Its SSM agent reports
        `ConnectionLost`; a command running on it is left `InProgress`, as SSM
        leaves it until its timeout (`_invocation_ends`). Any transition under way
        (`pending`, `stopping`) is cancelled.

        Returns the state the instance had; one already `shutting-down` or
        `terminated` is left alone.
        """
        with self.lock:
            self.tick()
            before = self.instance_state(instance_id)
            if before in ("shutting-down", "terminated"):
                return before
            now = self.now()
            self.terminated_by_others.append(instance_id)
            self.set_instance_state(instance_id, "shutting-down", now)
            self._set_reason(instance_id, USER_STOP)
            self._schedule_transition(instance_id, "shutting-down", "terminated", now + self.timings.ec2_terminate)
            return before

    # -- RDS -----------------------------------------------------------------
    def init_db(self, identifier: str, status: str) -> None:
        db = self.rds.databases[identifier]
        db.status = status
        if status in RDS_TRANSIENT_END:
            end = RDS_TRANSIENT_END[status]
            self._schedule(self.now() + self.timings.initial_transition, lambda t: self._set_db(identifier, end))

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
                now = self.now()
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
                self._schedule(self.now() + self.timings.rds_busy, lambda t: self._set_db(identifier, "available"))
            return before

    def after_rds(self, req: AwsRequest, answer: HttpAnswer) -> HttpAnswer:
        """Turn moto's instant Start/StopDBInstance into a timed transition."""
        if answer.status != 200 or req.operation not in ("StartDBInstance", "StopDBInstance"):
            return answer
        identifier = str(req.params.get("DBInstanceIdentifier", ""))
        now = self.now()
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
        registered = self.documents.get(document)
        if registered is None:
            if document.lower().startswith("aws-"):
                # AWS-owned documents exist in every account; what refuses one is
                # the stack's policy, which allows ssm:SendCommand on the job
                # document only (IAM's AccessDeniedException, HTTP 400).
                return error_answer(
                    "ssm", "AccessDeniedException",
                    f"User: arn:aws:sts::{self.account}:assumed-role/ssm_launch is not authorized to perform: ssm:SendCommand "
                    f"on resource: arn:aws:ssm:{self.region}::document/{document} because no identity-based policy allows the ssm:SendCommand action",
                )
            return error_answer("ssm", "InvalidDocument", f"Document {document} does not exist in your account")
        version = str(p.get("DocumentVersion", "$DEFAULT"))
        if version not in ("$DEFAULT", "$LATEST", "1"):
            return error_answer("ssm", "InvalidDocumentVersion", f"Document {document} version {version} does not exist")
        parameters = registered.parameters(p.get("Parameters"))
        if isinstance(parameters, str):
            return error_answer("ssm", "InvalidParameters", parameters)
        ids = list(p.get("InstanceIds", []) or [])
        if not ids:
            return error_answer("ssm", "ValidationException", "InstanceIds or Targets is required")
        not_ready = [i for i in ids if self._agents.get(i) != "Online"]
        if not_ready:
            return error_answer("ssm", "InvalidInstanceId", f"Instances [{', '.join(not_ready)}] not in a valid state for account {self.account}")
        output = p.get("CloudWatchOutputConfig")
        if output is not None and not isinstance(output, dict):
            return error_answer("ssm", "ValidationException", "CloudWatchOutputConfig must be an object")
        output = output or {}
        group = str(output.get("CloudWatchLogGroupName", "") or "")
        if group and not re.fullmatch(r"[\.\-_/#A-Za-z0-9]{1,512}", group):
            return error_answer("ssm", "ValidationException", f"1 validation error detected: Value '{group}' at 'cloudWatchOutputConfig.cloudWatchLogGroupName' failed to satisfy constraint")
        enabled = bool(output.get("CloudWatchOutputEnabled", False))
        if enabled and not group:
            group = f"aws/ssm/{document}"  # the API Reference: "aws/ssm/SystemsManagerDocumentName"
        for key, default in (("MaxConcurrency", "50"), ("MaxErrors", "0")):
            value = str(p.get(key, default))
            if not re.fullmatch(r"\d+%?", value):
                return error_answer("ssm", "ValidationException", f"1 validation error detected: Value '{value}' at '{key[0].lower() + key[1:]}' failed to satisfy constraint")
        command = Command(
            command_id=str(uuid.uuid4()),
            document_name=document,
            comment=str(p.get("Comment", "")),
            parameters=parameters,
            timeout_seconds=int(p.get("TimeoutSeconds", 3600)),
            requested=_now_ms(),
            invocations={i: Invocation(i, self.job_for(i)) for i in ids},
            max_concurrency=str(p.get("MaxConcurrency", "50")),
            max_errors=str(p.get("MaxErrors", "0")),
            cloudwatch={"CloudWatchLogGroupName": group, "CloudWatchOutputEnabled": enabled},
            step_name=registered.step_name,
        )
        self.commands.append(command)
        now = self.now()
        self._dispatch(command, now)
        # "If the command isn't received by the agent before the length of time passes that is
        # equal to the sum of the Timeout (seconds) parameter and the Execution timeout
        # parameter, the status changes to Delivery Timed Out." (user guide)
        execution_timeout = command.parameters.get("executionTimeout", ["3600"])
        try:
            delivery = command.timeout_seconds + int(execution_timeout[0])
        except (ValueError, IndexError):
            delivery = command.timeout_seconds + 3600
        self._schedule(now + delivery, lambda t: self._delivery_deadline(command, t), settles=False)
        # SendCommand answers before any agent took it: Pending.
        return json_answer({"Command": self._command_json(command)})

    def _dispatch(self, command: Command, at: float) -> None:
        """Send invocations to their agents, at most MaxConcurrency at a time and
        none once the command passed MaxErrors; each agent takes its command
        `pending_seconds` later."""
        while command.error_count <= command.error_limit:
            active = sum(1 for i in command.invocations.values() if i.dispatched and not i.terminal)
            waiting = next((i for i in command.invocations.values() if not i.dispatched and not i.terminal), None)
            if waiting is None or active >= command.concurrency:
                return
            waiting.dispatched = True
            self._schedule(at + waiting.job.pending_seconds, lambda t, inv=waiting: self._agent_takes(command, inv, t), settles=False)

    def _agent_takes(self, command: Command, invocation: Invocation, at: float) -> None:
        """The agent on the instance takes the command (or SSM decides it never will)."""
        if invocation.terminal:
            return
        job = invocation.job
        if not detail_of(job.final_details).ran:
            # Undeliverable, DeliveryTimedOut, InvalidPlatform, AccessDenied, Terminated:
            # the agent never runs it; SSM says so after `duration`.
            self._schedule(at + job.duration, lambda t: self._invocation_ends(command, invocation, t), settles=False)
            return
        if self.instance_state(invocation.instance_id) != "running" or self._agents.get(invocation.instance_id) != "Online":
            # The node is not available: SSM retries (Delayed) until the delivery deadline.
            invocation.details = "Delayed"
            self._schedule(at + 1.0, lambda t: self._agent_takes(command, invocation, t), settles=False)
            return
        invocation.details = "InProgress"
        invocation.started = _now_ms()
        if not job.never_ends:
            self._schedule(at + job.duration, lambda t: self._invocation_ends(command, invocation, t), settles=False)

    def _invocation_ends(self, command: Command, invocation: Invocation, at: float) -> None:
        if invocation.terminal:
            return
        job = invocation.job
        if invocation.started is not None:
            state = self.instance_state(invocation.instance_id)
            if state != "running":
                # The machine went away under the agent (stopped or terminated by
                # someone else): nothing reports the end, SSM keeps the command
                # InProgress (until its timeout).
                return
            if job.shutdown_instance:
                # The job runs `shutdown -h now`: the machine goes down under the
                # agent, the command never reports.
                self.shutdowns_by_job.append(invocation.instance_id)
                self._begin_stop(invocation.instance_id, at, OWN_SHUTDOWN)
                return
        self._finish(command, invocation, job.final_details, job.response_code())
        self._after_invocation(command, at)

    def _finish(self, command: Command, invocation: Invocation, details: str, response_code: int) -> None:
        invocation.details = details
        invocation.response_code = response_code
        detail = invocation.detail
        if detail.ran and invocation.started is not None:
            invocation.ended = _now_ms()
            job = invocation.job
            stdout = job.stdout if job.stdout is not None else ("job finished\n" if detail.status == "Success" else "job failed\n")
            # StandardOutputContent: "If ... ExecutionStatus is neither Succeeded nor Failed, then this string is empty."
            invocation.stdout = stdout if detail.status in ("Success", "Failed") else ""
            invocation.stderr = job.stderr
            self._write_output(command, invocation, stdout, job.stderr)
        else:
            invocation.response_code = -1

    def _after_invocation(self, command: Command, at: float) -> None:
        """Past MaxErrors, SSM cancels the invocations not started yet (Failed/Terminated);
        else it sends the next ones."""
        if command.error_count > command.error_limit:
            for other in command.invocations.values():
                if not other.terminal and other.started is None:
                    self._finish(command, other, "Terminated", -1)
            return
        self._dispatch(command, at)

    def _delivery_deadline(self, command: Command, at: float) -> None:
        for invocation in command.invocations.values():
            if not invocation.terminal and invocation.started is None:
                self._finish(command, invocation, "DeliveryTimedOut", -1)
        self._after_invocation(command, at)

    def _write_output(self, command: Command, invocation: Invocation, stdout: str, stderr: str) -> None:
        """With CloudWatchOutputConfig enabled, the agent sends the whole output to
        CloudWatch Logs: streams <command id>/<instance id>/<step>/stdout|stderr."""
        if not command.cloudwatch["CloudWatchOutputEnabled"]:
            return
        group = command.cloudwatch["CloudWatchLogGroupName"]
        now_ms = int(time.time() * 1000)
        for name, text in (("stdout", stdout), ("stderr", stderr)):
            if not text:
                continue
            stream = f"{command.command_id}/{invocation.instance_id}/{command.step_name}/{name}"
            if group not in self.logs.groups:
                self.logs.create_log_group(group, {})
            if stream not in self.logs.groups[group].streams:
                self.logs.create_log_stream(group, stream)
            events = [{"timestamp": now_ms, "message": line} for line in text.splitlines() or [text]]
            self.logs.put_log_events(group, stream, events)

    def _command_json(self, command: Command) -> dict[str, Any]:
        status, details = command.status_pair
        invocations = list(command.invocations.values())
        return {
            "CommandId": command.command_id,
            "DocumentName": command.document_name,
            "DocumentVersion": "$DEFAULT",
            "Comment": command.comment,
            "ExpiresAfter": _epoch(command.requested + dt.timedelta(seconds=command.timeout_seconds)),
            "Parameters": command.parameters,
            "InstanceIds": list(command.invocations),
            "Targets": [],
            "RequestedDateTime": _epoch(command.requested),
            "Status": status,
            "StatusDetails": details,
            "OutputS3Region": self.region,
            "OutputS3BucketName": "",
            "OutputS3KeyPrefix": "",
            "MaxConcurrency": command.max_concurrency,
            "MaxErrors": command.max_errors,
            "TargetCount": len(invocations),
            "CompletedCount": sum(1 for i in invocations if i.terminal),
            "ErrorCount": command.error_count,
            "DeliveryTimedOutCount": sum(1 for i in invocations if canonical_detail(i.details) == "DeliveryTimedOut"),
            "ServiceRole": "",
            "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
            "CloudWatchOutputConfig": dict(command.cloudwatch),
            "TimeoutSeconds": command.timeout_seconds,
        }

    def _find_command(self, command_id: str) -> Command | None:
        return next((c for c in self.commands if c.command_id == command_id), None)

    @staticmethod
    def _page(req: AwsRequest, items: list[Any], key: str) -> HttpAnswer:
        """MaxResults (1-50, default 50) and NextToken, as ListCommands pages."""
        p = req.params
        try:
            size = int(p.get("MaxResults", 50))
            start = int(p.get("NextToken") or 0)
        except ValueError:
            return error_answer("ssm", "InvalidNextToken", "The specified token isn't valid.")
        if not 1 <= size <= 50:
            return error_answer("ssm", "ValidationException", f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50")
        page: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["NextToken"] = str(start + size)
        return json_answer(page)

    def _filtered(self, req: AwsRequest, commands: list[Command], status_of: Callable[[Command], set[str]]) -> list[Command] | HttpAnswer:
        """Apply ListCommands/ListCommandInvocations `Filters` (the API Reference's CommandFilter):
        InvokedAfter (at or after, compared with RequestedDateTime at SSM's millisecond
        precision), InvokedBefore (before), Status (a Status or StatusDetails value;
        TimedOut covers both timeouts), DocumentName, ExecutionStage (ListCommands)."""
        for flt in req.params.get("Filters", []) or []:
            key, value = flt.get("key"), str(flt.get("value", ""))
            if key == "DocumentName":
                commands = [c for c in commands if c.document_name == value]
            elif key == "Status":
                commands = [c for c in commands if canonical_detail(value) in status_of(c)]
            elif key == "ExecutionStage" and req.operation == "ListCommands":
                if value not in ("Executing", "Complete"):
                    return error_answer("ssm", "InvalidFilterValue", f"Invalid value {value} for filter {key}")
                commands = [c for c in commands if (c.status_pair[0] in ("Pending", "InProgress")) == (value == "Executing")]
            elif key in ("InvokedAfter", "InvokedBefore"):
                bound = parse_time_filter(value)
                if bound is None:
                    return error_answer("ssm", "InvalidFilterValue", f"Invalid value {value} for filter {key}")
                after = key == "InvokedAfter"
                commands = [c for c in commands if (c.requested >= bound) == after]
            else:
                return error_answer("ssm", "InvalidFilterKey", f"Invalid filter key {key}")
        return commands

    def _list_commands(self, req: AwsRequest) -> HttpAnswer:
        p = req.params
        commands = list(self.commands)
        if p.get("CommandId"):
            found = self._find_command(str(p["CommandId"]))
            if found is None:
                return error_answer("ssm", "InvalidCommandId", "Invalid command id.")
            commands = [found]
        if p.get("InstanceId"):
            # "You can't specify a managed node ID in the same command that you specify
            # Status = Pending. This is because the command hasn't reached the managed node
            # yet." (API Reference): filtered by the node, a command whose invocation on it
            # is still Pending is not listed.
            instance_id = p["InstanceId"]
            commands = [c for c in commands if instance_id in c.invocations and c.invocations[instance_id].status != "Pending"]

        def statuses(c: Command) -> set[str]:
            status, details = c.status_pair
            return {status, details}

        filtered = self._filtered(req, commands, statuses)
        if isinstance(filtered, HttpAnswer):
            return filtered
        filtered.sort(key=lambda c: c.requested, reverse=True)
        return self._page(req, [self._command_json(c) for c in filtered], "Commands")

    def _invocation_json(self, command: Command, inv: Invocation) -> dict[str, Any]:
        if inv.started is not None:
            end = inv.ended or dt.datetime.now(dt.timezone.utc)
            elapsed = _elapsed((end - inv.started).total_seconds())
        else:
            elapsed = ""
        done = inv.terminal and inv.started is not None
        return {
            "CommandId": command.command_id,
            "InstanceId": inv.instance_id,
            "Comment": command.comment,
            "DocumentName": command.document_name,
            "DocumentVersion": "$DEFAULT",
            "PluginName": command.step_name,
            "ResponseCode": inv.response_code,
            "ExecutionStartDateTime": _iso(inv.started) if inv.started else "",
            "ExecutionElapsedTime": elapsed,
            "ExecutionEndDateTime": _iso(inv.ended) if inv.ended else "",
            "Status": inv.status,
            "StatusDetails": inv.details,
            "StandardOutputContent": inv.stdout[:STDOUT_CAP] if done else "",
            "StandardOutputUrl": "",
            "StandardErrorContent": inv.stderr[:STDERR_CAP] if done else "",
            "StandardErrorUrl": "",
            "CloudWatchOutputConfig": dict(command.cloudwatch),
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
        for command in sorted(commands, key=lambda c: c.requested, reverse=True):
            for inv in command.invocations.values():
                if p.get("InstanceId") and inv.instance_id != p["InstanceId"]:
                    continue
                filtered = self._filtered(req, [command], lambda c, inv=inv: {inv.status, canonical_detail(inv.details)})
                if isinstance(filtered, HttpAnswer):
                    return filtered
                if not filtered:
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
                    "StatusDetails": inv.details,
                    "TraceOutput": "",
                    "StandardOutputUrl": "",
                    "StandardErrorUrl": "",
                    "CommandPlugins": [],
                    "ServiceRole": "",
                    "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
                    "CloudWatchOutputConfig": dict(command.cloudwatch),
                }
                if p.get("Details"):
                    output = one["StandardOutputContent"][:PLUGIN_OUTPUT_CAP]
                    if one["StandardErrorContent"]:
                        output += "\n----------ERROR-------\n" + one["StandardErrorContent"][:PLUGIN_OUTPUT_CAP]
                    item["CommandPlugins"] = [
                        {
                            "Name": command.step_name,
                            "Status": inv.status,
                            "StatusDetails": inv.details,
                            "ResponseCode": inv.response_code,
                            "Output": output,
                            "StandardOutputUrl": "",
                            "StandardErrorUrl": "",
                            "OutputS3Region": self.region,
                            "OutputS3BucketName": "",
                            "OutputS3KeyPrefix": "",
                        }
                    ]
                    # Timestamps in this shape (epoch seconds), absent until there is one.
                    if inv.started is not None:
                        item["CommandPlugins"][0]["ResponseStartDateTime"] = _epoch(inv.started)
                    if inv.ended is not None:
                        item["CommandPlugins"][0]["ResponseFinishDateTime"] = _epoch(inv.ended)
                items.append(item)
        return self._page(req, items, "CommandInvocations")

    def commands_report(self, names: dict[str, str]) -> list[dict[str, Any]]:
        """Every command and its invocations, for the scenario report (`names`: instance id -> name)."""
        with self.lock:
            return [
                {
                    "commandId": c.command_id,
                    "comment": c.comment,
                    "documentName": c.document_name,
                    "parameters": c.parameters,
                    "requested": _iso(c.requested),
                    "status": c.status_pair[0],
                    "statusDetails": c.status_pair[1],
                    "invocations": [
                        {
                            "instance": names.get(i.instance_id, i.instance_id),
                            "status": i.status,
                            "statusDetails": i.details,
                            "responseCode": i.response_code,
                        }
                        for i in c.invocations.values()
                    ],
                }
                for c in self.commands
            ]

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
