"""EC2's StateReason, outside stops, and SSM Run Command as SSM answers it.

Through boto3 against the sandbox endpoint, like test_server.py (no Rust build
needed). Each test gives its instances their own job
(`World.instance_jobs`), so the module's shared world stays as the other
tests expect it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sandbox.world import STATE_REASONS, STDERR_CAP, STDOUT_CAP, JobBehaviour, World

from test_server import FAST, JOB_DOCUMENT, Sandbox, _frozen, _frozen_once, _held, _new_instance, _ping, _state, _wait_for
from test_server import sandbox as sandbox  # noqa: F401 (the module-scoped fixture, one server for this module)

API_STOP = re.compile(r"^User initiated \(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} GMT\)$")


def _described(sb: Sandbox, instance_id: str) -> dict[str, Any]:
    return dict(sb.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0])


def _worker(sb: Sandbox, job: JobBehaviour | None = None, state: str = "running") -> str:
    instance_id = _new_instance(sb, state)
    if job is not None:
        sb.world.instance_jobs[instance_id] = job
    return instance_id


def _send(sb: Sandbox, *instance_ids: str, **extra: Any) -> dict[str, Any]:
    return dict(
        sb.client("ssm").send_command(
            InstanceIds=list(instance_ids), DocumentName=JOB_DOCUMENT, Comment=extra.pop("Comment", "makenaide:test"),
            Parameters=extra.pop("Parameters", {}), **extra,
        )["Command"]
    )


def _invocation(sb: Sandbox, command_id: str, instance_id: str) -> dict[str, Any]:
    return dict(sb.client("ssm").get_command_invocation(CommandId=command_id, InstanceId=instance_id))


def _until_done(sb: Sandbox, command_id: str, instance_id: str, seconds: float = 5.0) -> dict[str, Any]:
    terminal = {"Success", "Failed", "TimedOut", "Cancelled"}
    _wait_for(lambda: _invocation(sb, command_id, instance_id)["Status"] in terminal, seconds)
    return _invocation(sb, command_id, instance_id)


def _listed(sb: Sandbox, **kwargs: Any) -> list[str]:
    return [c["CommandId"] for c in sb.client("ssm").list_commands(**kwargs)["Commands"]]


# -- EC2 StateReason -------------------------------------------------------------------


def test_state_reason_follows_who_stopped_the_instance(sandbox: Sandbox) -> None:  # noqa: F811
    """Stopped at the start: an API stop. Started: no StateReason, empty
    StateTransitionReason. StopInstances: Client.UserInitiatedShutdown with
    EC2's message and "User initiated (<time> GMT)", already while stopping."""
    iid = _worker(sandbox, state="stopped")
    found = _described(sandbox, iid)
    assert found["StateReason"] == {"Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
    assert API_STOP.match(found["StateTransitionReason"]), found["StateTransitionReason"]
    ec2 = sandbox.client("ec2")
    with _frozen(sandbox):
        ec2.start_instances(InstanceIds=[iid])
        pending = _described(sandbox, iid)
        assert (pending["State"]["Name"], "StateReason" in pending, pending["StateTransitionReason"]) == ("pending", False, "")
    _wait_for(lambda: _state(sandbox, iid) == "running")
    assert "StateReason" not in _described(sandbox, iid)
    with _frozen(sandbox):
        ec2.stop_instances(InstanceIds=[iid])
        stopping = _described(sandbox, iid)
        assert stopping["State"]["Name"] == "stopping"
        assert stopping["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
        assert API_STOP.match(stopping["StateTransitionReason"]), stopping["StateTransitionReason"]
    _wait_for(lambda: _state(sandbox, iid) == "stopped")
    assert _described(sandbox, iid)["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    filtered = ec2.describe_instances(Filters=[{"Name": "state-reason-code", "Values": ["Client.UserInitiatedShutdown"]}])
    assert iid in [i["InstanceId"] for r in filtered["Reservations"] for i in r["Instances"]]


def test_the_jobs_own_shutdown_is_instance_initiated_and_leaves_the_command_in_progress(sandbox: Sandbox) -> None:  # noqa: F811
    iid = _worker(sandbox, JobBehaviour(duration=0.3, shutdown_instance=True))
    sent = _send(sandbox, iid)
    with _frozen_once(sandbox, lambda: _state(sandbox, iid) == "stopping"):
        found = _described(sandbox, iid)
        assert found["StateReason"] == {"Code": "Client.InstanceInitiatedShutdown", "Message": "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
        assert found["StateTransitionReason"] == "User initiated"  # no time: EC2 did not get it through its API
        assert _ping(sandbox, iid) == "ConnectionLost"
    _wait_for(lambda: _state(sandbox, iid) == "stopped")
    inv = _invocation(sandbox, sent["CommandId"], iid)
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"]) == ("InProgress", "InProgress", -1)
    assert iid in sandbox.world.shutdowns_by_job


@pytest.mark.parametrize("reason", ["Server.ScheduledStop", "Client.UserInitiatedShutdown", "Server.SpotInstanceShutdown"])
def test_an_outside_stop_mid_job_says_why_and_leaves_the_command_in_progress(sandbox: Sandbox, reason: str) -> None:  # noqa: F811
    """World.external_stop (the runner's externalStop): stopping for
    timings.ec2_stop, then stopped, with that StateReason; the agent is
    ConnectionLost; the job command never reports its end."""
    iid = _worker(sandbox, JobBehaviour(duration=0.6))
    sent = _send(sandbox, iid)
    with _frozen_once(sandbox, lambda: _invocation(sandbox, sent["CommandId"], iid)["Status"] == "InProgress"):
        started = sandbox.world.now()
        assert sandbox.world.external_stop(iid, reason) == "running"
        found = _described(sandbox, iid)
        assert found["State"]["Name"] == "stopping"
        assert found["StateReason"] == {"Code": reason, "Message": STATE_REASONS[reason][0]}
        assert found["StateReason"]["Message"].startswith(f"{reason}: ")
        if reason == "Client.UserInitiatedShutdown":
            assert API_STOP.match(found["StateTransitionReason"])
        else:
            assert found["StateTransitionReason"] == "User initiated"
        assert _ping(sandbox, iid) == "ConnectionLost"
    _wait_for(lambda: _state(sandbox, iid) == "stopped")
    assert time.monotonic() - started >= FAST.ec2_stop - 0.05
    time.sleep(0.8)  # past the job's end
    inv = _invocation(sandbox, sent["CommandId"], iid)
    assert (inv["Status"], inv["StatusDetails"], inv["ResponseCode"], inv["StandardErrorContent"]) == ("InProgress", "InProgress", -1, "")
    assert (iid, reason) in sandbox.world.stopped_by_others
    # Only a running instance is stopped from outside.
    assert sandbox.world.external_stop(iid, reason) == "stopped"
    held = _held(sandbox, "pending")
    assert sandbox.world.external_stop(held, reason) == "pending"
    assert _state(sandbox, held) == "pending"


# -- SSM status pairs ------------------------------------------------------------------

# (job.statusDetails as written, Status, ResponseCode, the agent ran it)
PAIRS = [
    ("Success", "Success", 0, True),
    ("Failed", "Failed", 1, True),
    ("ExecutionTimedOut", "TimedOut", 137, True),
    ("Execution Timed Out", "TimedOut", 137, True),
    ("Cancelled", "Cancelled", 137, True),
    ("DeliveryTimedOut", "TimedOut", -1, False),
    ("Delivery Timed Out", "TimedOut", -1, False),
    ("Undeliverable", "Failed", -1, False),
    ("InvalidPlatform", "Failed", -1, False),
    ("Invalid Platform", "Failed", -1, False),
    ("AccessDenied", "Failed", -1, False),
    ("Terminated", "Failed", -1, False),
]


@pytest.mark.parametrize(("details", "status", "code", "ran"), PAIRS)
def test_an_invocation_ends_with_the_status_ssm_pairs_with_its_details(sandbox: Sandbox, details: str, status: str, code: int, ran: bool) -> None:  # noqa: F811
    iid = _worker(sandbox, JobBehaviour(duration=0.4, status_details=details, stdout="out\n", stderr="boom\n"))
    with _frozen(sandbox):
        sent = _send(sandbox, iid)
        first = _invocation(sandbox, sent["CommandId"], iid)
    assert (sent["Status"], sent["StatusDetails"]) == ("Pending", "Pending"), "SendCommand answers before any agent took it"
    if ran:
        assert (first["Status"], first["StatusDetails"], first["ResponseCode"]) == ("InProgress", "InProgress", -1)
        assert first["ExecutionStartDateTime"].endswith("Z") and first["StandardErrorContent"] == ""
    else:  # the agent never takes it: Pending until SSM gives up
        assert (first["Status"], first["StatusDetails"], first["ResponseCode"], first["ExecutionStartDateTime"]) == ("Pending", "Pending", -1, "")
    done = _until_done(sandbox, sent["CommandId"], iid)
    assert (done["Status"], done["StatusDetails"], done["ResponseCode"]) == (status, details, code)
    assert bool(done["ExecutionStartDateTime"]) == ran
    assert done["StandardErrorContent"] == ("boom\n" if ran else "")
    # "If ExecutionStatus is neither Succeeded nor Failed, then this string is empty."
    assert done["StandardOutputContent"] == ("out\n" if ran and status in ("Success", "Failed") else "")
    listed = sandbox.client("ssm").list_command_invocations(CommandId=sent["CommandId"], Details=True)["CommandInvocations"][0]
    assert (listed["Status"], listed["StatusDetails"]) == (status, details)
    assert (listed["CommandPlugins"][0]["Status"], listed["CommandPlugins"][0]["ResponseCode"]) == (status, code)
    command = sandbox.client("ssm").list_commands(CommandId=sent["CommandId"])["Commands"][0]
    assert command["CompletedCount"] == 1
    assert command["ErrorCount"] == (1 if details.replace(" ", "") in ("Failed", "ExecutionTimedOut") else 0)
    assert command["DeliveryTimedOutCount"] == (1 if details.replace(" ", "") == "DeliveryTimedOut" else 0)


def test_command_status_follows_its_invocations(sandbox: Sandbox) -> None:  # noqa: F811
    """Success when all succeeded; one Undeliverable does not change it; all Undeliverable is Failed."""
    ok = _worker(sandbox, JobBehaviour(duration=0.2))
    gone = _worker(sandbox, JobBehaviour(duration=0.2, status_details="Undeliverable"))
    mixed = _send(sandbox, ok, gone)
    only = _send(sandbox, gone)
    _until_done(sandbox, mixed["CommandId"], gone)
    _until_done(sandbox, mixed["CommandId"], ok)
    _until_done(sandbox, only["CommandId"], gone)
    ssm = sandbox.client("ssm")
    first = ssm.list_commands(CommandId=mixed["CommandId"])["Commands"][0]
    assert (first["Status"], first["StatusDetails"], first["ErrorCount"], first["CompletedCount"]) == ("Success", "Success", 0, 2)
    second = ssm.list_commands(CommandId=only["CommandId"])["Commands"][0]
    assert (second["Status"], second["StatusDetails"]) == ("Failed", "Failed")
    assert [c["CommandId"] for c in ssm.list_commands(Filters=[{"key": "Status", "value": "Failed"}])["Commands"]].count(only["CommandId"]) == 1


def test_past_max_errors_the_invocations_not_started_are_terminated(sandbox: Sandbox) -> None:  # noqa: F811
    """SendCommand's MaxErrors defaults to 0: one Failed invocation cancels the ones
    whose agent has not started the command (Failed/Terminated, ResponseCode -1);
    with MaxErrors 1 the other one runs."""
    failing = _worker(sandbox, JobBehaviour(duration=0.2, outcome="Failed", exit_code=3, stderr="ERROR: nope\n"))
    slow = _worker(sandbox, JobBehaviour(duration=0.2, pending_seconds=1.5))
    sent = _send(sandbox, failing, slow)
    assert (sent["MaxErrors"], sent["MaxConcurrency"]) == ("0", "50")
    failed = _until_done(sandbox, sent["CommandId"], failing)
    assert (failed["Status"], failed["ResponseCode"]) == ("Failed", 3)
    other = _invocation(sandbox, sent["CommandId"], slow)
    assert (other["Status"], other["StatusDetails"], other["ResponseCode"], other["ExecutionStartDateTime"]) == ("Failed", "Terminated", -1, "")
    command = sandbox.client("ssm").list_commands(CommandId=sent["CommandId"])["Commands"][0]
    assert (command["Status"], command["StatusDetails"], command["ErrorCount"], command["CompletedCount"]) == ("Failed", "Failed", 1, 2)
    time.sleep(1.6)
    assert _invocation(sandbox, sent["CommandId"], slow)["StatusDetails"] == "Terminated", "a terminated invocation stays so"
    tolerant = _send(sandbox, failing, slow, MaxErrors="1")
    with _frozen_once(sandbox, lambda: _invocation(sandbox, tolerant["CommandId"], failing)["Status"] == "Failed"):
        assert _invocation(sandbox, tolerant["CommandId"], slow)["Status"] == "Pending"
    assert _until_done(sandbox, tolerant["CommandId"], slow)["Status"] == "Success"


def test_max_concurrency_holds_the_next_invocation_pending(sandbox: Sandbox) -> None:  # noqa: F811
    first = _worker(sandbox, JobBehaviour(duration=0.5, outcome="Failed"))
    second = _worker(sandbox, JobBehaviour(duration=0.2))
    sent = _send(sandbox, first, second, MaxConcurrency="1")
    with _frozen_once(sandbox, lambda: _invocation(sandbox, sent["CommandId"], first)["Status"] == "InProgress"):
        assert _invocation(sandbox, sent["CommandId"], second)["Status"] == "Pending"
    _until_done(sandbox, sent["CommandId"], first)
    assert _invocation(sandbox, sent["CommandId"], second)["StatusDetails"] == "Terminated"
    ok = _worker(sandbox, JobBehaviour(duration=0.3))
    also = _worker(sandbox, JobBehaviour(duration=0.3))
    serial = _send(sandbox, ok, also, MaxConcurrency="50%")  # 50% of 2: one at a time
    with _frozen_once(sandbox, lambda: _invocation(sandbox, serial["CommandId"], ok)["Status"] == "InProgress"):
        assert _invocation(sandbox, serial["CommandId"], also)["Status"] == "Pending"
    assert _until_done(sandbox, serial["CommandId"], also)["Status"] == "Success"


def test_a_node_gone_before_its_agent_took_the_command_is_delayed_then_delivery_timed_out(sandbox: Sandbox) -> None:  # noqa: F811
    """Delayed while the node is unavailable, then TimedOut/DeliveryTimedOut at
    TimeoutSeconds + the executionTimeout parameter (the user guide's sum)."""
    iid = _worker(sandbox, JobBehaviour(duration=0.2, pending_seconds=0.3))
    # TimeoutSeconds below SSM's minimum (30) keeps the test short: botocore's own check is off.
    ssm = boto3.client(
        "ssm", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{sandbox.port}", aws_access_key_id="sandbox-fn-tester",
        aws_secret_access_key="x", config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )
    with _frozen(sandbox):  # the node goes before its agent takes the command
        sent = ssm.send_command(
            InstanceIds=[iid], DocumentName=JOB_DOCUMENT, TimeoutSeconds=1, Parameters={"executionTimeout": ["1"]}
        )["Command"]
        sandbox.world.external_stop(iid, "Client.UserInitiatedShutdown")
    _wait_for(lambda: _invocation(sandbox, sent["CommandId"], iid)["Status"] == "Delayed")
    done = _until_done(sandbox, sent["CommandId"], iid, 4)
    assert (done["Status"], done["StatusDetails"], done["ResponseCode"], done["ExecutionStartDateTime"]) == ("TimedOut", "DeliveryTimedOut", -1, "")
    command = sandbox.client("ssm").list_commands(CommandId=sent["CommandId"])["Commands"][0]
    assert (command["Status"], command["StatusDetails"], command["DeliveryTimedOutCount"]) == ("TimedOut", "DeliveryTimedOut", 1)


def test_output_is_capped_as_get_command_invocation_caps_it(sandbox: Sandbox) -> None:  # noqa: F811
    stderr = "".join(f"line {n:05d}\n" for n in range(1000))  # 11,000 characters
    stdout = "x" * (STDOUT_CAP + 500)
    iid = _worker(sandbox, JobBehaviour(duration=0.2, outcome="Failed", exit_code=2, stdout=stdout, stderr=stderr))
    sent = _send(sandbox, iid)
    done = _until_done(sandbox, sent["CommandId"], iid)
    assert done["StandardErrorContent"] == stderr[:STDERR_CAP]
    assert len(done["StandardErrorContent"]) == 8000 and not done["StandardErrorContent"].endswith("line 00999\n")
    assert done["StandardOutputContent"] == stdout[:24000]


# -- CloudWatchOutputConfig and ListCommands ------------------------------------------


def test_cloudwatch_output_config_is_echoed_and_the_output_sent_to_logs(sandbox: Sandbox) -> None:  # noqa: F811
    iid = _worker(sandbox, JobBehaviour(duration=0.2, outcome="Failed", exit_code=4, stderr="first\nERROR: last line\n"))
    config = {"CloudWatchLogGroupName": "/makenaide/job", "CloudWatchOutputEnabled": True}
    sent = _send(sandbox, iid, CloudWatchOutputConfig=config)
    assert sent["CloudWatchOutputConfig"] == config
    assert sandbox.client("ssm").list_commands(CommandId=sent["CommandId"])["Commands"][0]["CloudWatchOutputConfig"] == config
    done = _until_done(sandbox, sent["CommandId"], iid)
    assert done["CloudWatchOutputConfig"] == config
    listed = sandbox.client("ssm").list_command_invocations(CommandId=sent["CommandId"])["CommandInvocations"][0]
    assert listed["CloudWatchOutputConfig"] == config
    events = sandbox.client("logs", "sandbox-runner").get_log_events(
        logGroupName="/makenaide/job", logStreamName=f"{sent['CommandId']}/{iid}/runJob/stderr"
    )["events"]
    assert [e["message"] for e in events] == ["first", "ERROR: last line"]
    plain = _send(sandbox, iid if _state(sandbox, iid) == "running" else _worker(sandbox))
    assert plain["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}
    with pytest.raises(ClientError) as bad:
        _send(sandbox, _worker(sandbox), MaxErrors="some")
    assert bad.value.response["Error"]["Code"] == "ValidationException"


def _ms(value: dt.datetime, delta_ms: int = 0) -> str:
    value = value.astimezone(dt.timezone.utc) + dt.timedelta(milliseconds=delta_ms)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def test_list_commands_invoked_after_compares_at_millisecond_precision(sandbox: Sandbox) -> None:  # noqa: F811
    iid = _worker(sandbox, JobBehaviour(duration=0.2))
    sent = _send(sandbox, iid, Comment="makenaide:ms-run")
    requested = sent["RequestedDateTime"]
    assert requested.microsecond % 1000 == 0, "SSM keeps milliseconds"

    def after(value: str) -> bool:
        return sent["CommandId"] in _listed(sandbox, Filters=[{"key": "InvokedAfter", "value": value}])

    def before(value: str) -> bool:
        return sent["CommandId"] in _listed(sandbox, Filters=[{"key": "InvokedBefore", "value": value}])

    assert after(_ms(requested)), "InvokedAfter is inclusive ('... and later')"
    assert not after(_ms(requested, 1))
    assert after(_ms(requested, -1))
    assert after(requested.strftime("%Y-%m-%dT%H:%M:%SZ")), "a whole second at or before it"
    assert after(requested.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00")
    assert after(requested.strftime("%Y-%m-%d"))
    assert not before(_ms(requested)) and before(_ms(requested, 1))
    # The same filter with the document name, without an instance id, as the comment lookup does it.
    found = sandbox.client("ssm").list_commands(
        Filters=[{"key": "DocumentName", "value": JOB_DOCUMENT}, {"key": "InvokedAfter", "value": _ms(requested)}]
    )["Commands"]
    assert "makenaide:ms-run" in [c["Comment"] for c in found]
    for bad in ("yesterday", "1582244543.188", "2026-13-01T00:00:00Z"):
        with pytest.raises(ClientError) as refused:
            sandbox.client("ssm").list_commands(Filters=[{"key": "InvokedAfter", "value": bad}])
        assert refused.value.response["Error"]["Code"] == "InvalidFilterValue", bad
    with pytest.raises(ClientError) as unknown:
        sandbox.client("ssm").list_commands(Filters=[{"key": "Invoked", "value": _ms(requested)}])
    assert unknown.value.response["Error"]["Code"] == "InvalidFilterKey"


def test_a_command_still_pending_is_listed_without_an_instance_id_only(sandbox: Sandbox) -> None:  # noqa: F811
    """"You can't specify a managed node ID in the same command that you specify
    Status = Pending ... the command hasn't reached the managed node yet." A
    lookup by instance id misses a command whose agent has not taken it."""
    iid = _worker(sandbox, JobBehaviour(duration=0.2, pending_seconds=1.0))
    with _frozen(sandbox):
        sent = _send(sandbox, iid, Comment="makenaide:pending-run")
        assert _invocation(sandbox, sent["CommandId"], iid)["Status"] == "Pending"
        assert sent["CommandId"] in _listed(sandbox)
        assert sent["CommandId"] in _listed(sandbox, Filters=[{"key": "Status", "value": "Pending"}])
        assert sent["CommandId"] not in _listed(sandbox, InstanceId=iid)
    _wait_for(lambda: _invocation(sandbox, sent["CommandId"], iid)["Status"] == "InProgress")
    assert sent["CommandId"] in _listed(sandbox, InstanceId=iid)
    assert sent["CommandId"] in _listed(sandbox, Filters=[{"key": "ExecutionStage", "value": "Executing"}])


def test_list_commands_pages(sandbox: Sandbox) -> None:  # noqa: F811
    ssm = sandbox.client("ssm")
    total = len(ssm.list_commands()["Commands"])
    if total < 3:
        for _ in range(3 - total):
            _send(sandbox, _worker(sandbox))
        total = max(total, 3)
    first = ssm.list_commands(MaxResults=2)
    assert len(first["Commands"]) == 2 and first["NextToken"]
    rest: list[Any] = []
    token = first["NextToken"]
    while token:
        page = ssm.list_commands(MaxResults=2, NextToken=token)
        rest.extend(page["Commands"])
        token = page.get("NextToken")
    ids = [c["CommandId"] for c in first["Commands"] + rest]
    assert len(ids) == len(set(ids)) == len(ssm.list_commands()["Commands"])


def test_world_keeps_one_job_per_instance() -> None:
    world = World("123456789012", "us-east-1", FAST, JobBehaviour(duration=1.0))
    special = JobBehaviour(duration=5.0, status_details="Undeliverable")
    world.instance_jobs["i-special"] = special
    assert world.job_for("i-special") is special
    assert world.job_for("i-other") is world.job
    assert special.response_code() == -1
    assert JobBehaviour(outcome="Failed").response_code() == 1
    assert JobBehaviour(status_details="ExecutionTimedOut").response_code() == 137
    assert JobBehaviour(status_details="Failed", exit_code=7).response_code() == 7


def test_held_time_delays_every_event_and_release_makes_it_up() -> None:
    """World.hold: while held nothing scheduled happens however long the wait;
    on release what came due meanwhile happens at its own time, none early."""
    world = World("123456789012", "us-east-1", FAST, JobBehaviour(duration=1.0))
    fired: list[float] = []
    world.hold()
    held_at = world.now()
    world._schedule(held_at + 0.05, fired.append)
    world._schedule(held_at + 60.0, fired.append)
    time.sleep(0.15)
    world.tick()
    assert (fired, world.now()) == ([], held_at)
    world.tick(held_at + 0.05)  # an explicit time still applies what is due by then
    assert fired == [held_at + 0.05]
    world.release()
    assert world.now() >= held_at + 0.15
    world.tick()
    assert fired == [held_at + 0.05], "the event a minute ahead waits"


def test_time_moved_on_while_held_does_not_go_back_on_release() -> None:
    """World.advance moves held time past the clock; release goes on from there."""
    world = World("123456789012", "us-east-1", FAST, JobBehaviour(duration=1.0))
    fired: list[float] = []
    world.hold()
    world.advance(30.0)
    advanced_to = world.now()
    world._schedule(advanced_to + 0.05, fired.append)
    world.release()
    assert world.now() >= advanced_to
    world.tick()
    assert fired == [], "an event 50 ms after the advanced time is not due at once"
    world.hold()  # a second hold starts from the advanced time, not the clock's
    assert world.now() >= advanced_to
    world.release()


@pytest.fixture(autouse=True)
def _no_leak(sandbox: Sandbox) -> Iterator[None]:  # noqa: F811
    yield
