"""The sandbox endpoint, through boto3: simulated time, SSM, faults, Lambda and the ASL engine.

These use `standin_runtime.py` as the only function, so they need no Rust build.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core.config import default_user_config
from sandbox import jobdocument, moto_patches
from sandbox.lambda_host import FunctionFault, FunctionHost, lambda_environment
from sandbox.runner import _client as runner_client
from sandbox.server import AwsFault, Faults, SandboxApp, SandboxServer
from sandbox.world import JobBehaviour, Timings, World

STANDIN = Path(__file__).with_name("standin_runtime.py")
JOB_DOCUMENT = "Sandbox-Job"  # the stack's job document, registered from statemachine/job-document.json
# Transitions long enough that the request right after a call still sees the
# transitional state on a busy machine.
FAST = Timings(ec2_start=0.6, ec2_stop=0.6, ec2_terminate=1.2, rds_start=0.6, rds_stop=0.6, agent_online=0.6, initial_transition=0.6)


@dataclass
class Sandbox:
    app: SandboxApp
    port: int
    faults: Faults
    world: World

    def client(self, service: str, key: str = "sandbox-fn-tester") -> Any:
        return runner_client(service, self.port, key)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    world = World("123456789012", "us-east-1", FAST, JobBehaviour(duration=0.5))
    world.register_document(JOB_DOCUMENT, jobdocument.load(["run.sh"], "/opt"))
    faults = Faults()
    app = SandboxApp(world, faults)
    server = serve(app, tmp_path_factory)
    yield Sandbox(app, server.port, faults, world)
    server.stop()


def serve(app: SandboxApp, tmp_path_factory: pytest.TempPathFactory) -> SandboxServer:
    """A started sandbox server on `app`, moto patched, with the stand-in function `standin`."""
    server = SandboxServer(app)
    server.start()
    os.environ["MOTO_PORT"] = str(server.port)
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    moto_patches.apply()
    log = tmp_path_factory.mktemp("logs") / "standin.log"
    app.functions["standin"] = FunctionHost("standin", [sys.executable, str(STANDIN)], lambda_environment("standin", {}), log, 10.0)
    return server


def _wait_for(predicate: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@contextmanager
def _frozen(sb: Sandbox) -> Iterator[float]:
    """The sandbox's time stands still in the block (World.hold): a transitional
    state begun in it is still there at the block's last request, however slow
    the machine. Yields the World's time at the hold (when what the block
    begins is timed from). Never wait for a transition inside it."""
    sb.world.hold()
    try:
        yield sb.world.now()
    finally:
        sb.world.release()


@contextmanager
def _frozen_once(sb: Sandbox, predicate: Any, seconds: float = 5.0) -> Iterator[None]:
    """Waits until `predicate` holds, checking it with the sandbox's time
    stopped, and keeps it stopped for the block: the block sees the moment the
    predicate saw."""
    deadline = time.monotonic() + seconds
    while True:
        sb.world.hold()
        if predicate():
            break
        sb.world.release()
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
    try:
        yield
    finally:
        sb.world.release()


def _new_instance(sb: Sandbox, state: str) -> str:
    made = sb.client("ec2", "sandbox-runner").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small")
    instance_id = str(made["Instances"][0]["InstanceId"])
    sb.world.init_instance(instance_id, state)
    return instance_id


def _state(sb: Sandbox, instance_id: str) -> str:
    found = sb.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(found["Reservations"][0]["Instances"][0]["State"]["Name"])


def _ping(sb: Sandbox, instance_id: str) -> str | None:
    info = sb.client("ssm").describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])
    items = info["InstanceInformationList"]
    return str(items[0]["PingStatus"]) if items else None


def test_ec2_start_is_timed_and_the_agent_comes_online_after_running(sandbox: Sandbox) -> None:
    iid = _new_instance(sandbox, "stopped")
    assert _ping(sandbox, iid) is None
    with _frozen(sandbox):
        started = sandbox.client("ec2").start_instances(InstanceIds=[iid])["StartingInstances"][0]
        assert (started["PreviousState"]["Name"], started["CurrentState"]["Name"]) == ("stopped", "pending")
        assert _state(sandbox, iid) == "pending"
    _wait_for(lambda: _state(sandbox, iid) == "running")
    _wait_for(lambda: _ping(sandbox, iid) == "Online")
    with _frozen(sandbox):
        sandbox.client("ec2").stop_instances(InstanceIds=[iid])
        assert _state(sandbox, iid) == "stopping"
        assert _ping(sandbox, iid) == "ConnectionLost"
    _wait_for(lambda: _state(sandbox, iid) == "stopped")


def test_ec2_dry_run_and_incorrect_state_answer_like_ec2(sandbox: Sandbox) -> None:
    iid = _new_instance(sandbox, "stopped")
    with pytest.raises(ClientError) as dry:
        sandbox.client("ec2").start_instances(InstanceIds=[iid], DryRun=True)
    assert dry.value.response["Error"]["Code"] == "DryRunOperation"
    assert dry.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert _state(sandbox, iid) == "stopped"
    stopping = _new_instance(sandbox, "stopping")
    with pytest.raises(ClientError) as wrong:
        sandbox.client("ec2").start_instances(InstanceIds=[stopping])
    assert wrong.value.response["Error"]["Code"] == "IncorrectInstanceState"


def _held(sb: Sandbox, state: str) -> str:
    """An instance held in `state`: no transition is scheduled, so it stays there for the test."""
    instance_id = _new_instance(sb, "stopped")
    sb.world.set_instance_state(instance_id, state, sb.world.now())
    return instance_id


def _refused(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        call()
    return dict(refused.value.response)


@pytest.mark.parametrize("bad_state", ["terminated", "shutting-down", "pending"])
def test_a_stop_batch_with_one_instance_that_cannot_stop_is_refused_whole(sandbox: Sandbox, bad_state: str) -> None:
    """EC2 checks the whole call first: one id it cannot stop refuses the call
    (IncorrectInstanceState, HTTP 400, naming that instance and its state) and
    no instance in it changes state. A dry run gives the same refusal."""
    running = _new_instance(sandbox, "running")
    stopped = _new_instance(sandbox, "stopped")
    bad = _held(sandbox, bad_state)
    batch = [running, bad, stopped]
    ec2 = sandbox.client("ec2")
    for dry_run in (True, False):
        answer = _refused(lambda dry_run=dry_run: ec2.stop_instances(InstanceIds=batch, DryRun=dry_run))
        assert answer["Error"]["Code"] == "IncorrectInstanceState"
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert bad in answer["Error"]["Message"] and f"'{bad_state}'" in answer["Error"]["Message"]
    time.sleep(FAST.ec2_stop + 0.2)  # a stop that had begun would have ended by now
    assert [_state(sandbox, i) for i in batch] == ["running", bad_state, "stopped"]
    assert _ping(sandbox, running) == "Online"
    mutating = [c for c in sandbox.app.reported_calls() if c.key == "ec2:StopInstances" and bad in c.params.values()]
    assert [(c.status, c.mutating) for c in mutating] == [(400, False), (400, False)]


def test_a_stop_batch_of_running_stopping_and_stopped_instances_is_accepted(sandbox: Sandbox) -> None:
    """Stopping a `stopping` or `stopped` instance is accepted as on EC2: a no-op
    that answers its current state; the running one starts stopping."""
    running = _new_instance(sandbox, "running")
    stopping = _held(sandbox, "stopping")
    stopped = _new_instance(sandbox, "stopped")
    ec2 = sandbox.client("ec2")
    dry = _refused(lambda: ec2.stop_instances(InstanceIds=[running, stopping, stopped], DryRun=True))
    assert (dry["Error"]["Code"], dry["ResponseMetadata"]["HTTPStatusCode"]) == ("DryRunOperation", 412)
    assert _state(sandbox, running) == "running"
    answer = ec2.stop_instances(InstanceIds=[running, stopping, stopped])["StoppingInstances"]
    changes = {i["InstanceId"]: (i["PreviousState"]["Name"], i["CurrentState"]["Name"]) for i in answer}
    assert changes == {running: ("running", "stopping"), stopping: ("stopping", "stopping"), stopped: ("stopped", "stopped")}
    _wait_for(lambda: _state(sandbox, running) == "stopped")
    assert _state(sandbox, stopped) == "stopped"


def test_per_instance_stops_stop_the_running_one_and_refuse_the_terminated_one(sandbox: Sandbox) -> None:
    """The same set one call per instance: each call stands alone."""
    running = _new_instance(sandbox, "running")
    gone = _held(sandbox, "terminated")
    ec2 = sandbox.client("ec2")
    batch = _refused(lambda: ec2.stop_instances(InstanceIds=[running, gone]))
    assert batch["Error"]["Code"] == "IncorrectInstanceState"
    assert _state(sandbox, running) == "running"
    first = ec2.stop_instances(InstanceIds=[running])["StoppingInstances"][0]
    assert (first["InstanceId"], first["CurrentState"]["Name"]) == (running, "stopping")
    second = _refused(lambda: ec2.stop_instances(InstanceIds=[gone]))
    assert (second["Error"]["Code"], second["ResponseMetadata"]["HTTPStatusCode"]) == ("IncorrectInstanceState", 400)
    assert gone in second["Error"]["Message"] and "'terminated'" in second["Error"]["Message"]
    _wait_for(lambda: _state(sandbox, running) == "stopped")
    assert _state(sandbox, gone) == "terminated"


def test_a_termination_goes_shutting_down_then_terminated_and_leaves_the_command_in_progress(sandbox: Sandbox) -> None:
    """World.terminate_instance (the runner's terminateAfterSeconds): `shutting-down`
    for timings.ec2_terminate, then `terminated`; the agent is ConnectionLost; the
    job command stays InProgress; a stop is refused all along."""
    iid = _new_instance(sandbox, "running")
    ssm = sandbox.client("ssm")
    sent = ssm.send_command(InstanceIds=[iid], DocumentName=JOB_DOCUMENT)["Command"]
    with _frozen(sandbox) as started:
        assert sandbox.world.terminate_instance(iid) == "running"
        assert _state(sandbox, iid) == "shutting-down"
        assert _ping(sandbox, iid) == "ConnectionLost"
        described = sandbox.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
        assert described["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
        refused = _refused(lambda: sandbox.client("ec2").stop_instances(InstanceIds=[iid]))
        assert "'shutting-down'" in refused["Error"]["Message"]
    _wait_for(lambda: _state(sandbox, iid) == "terminated")
    assert time.monotonic() - started >= sandbox.world.timings.ec2_terminate - 0.05
    assert _ping(sandbox, iid) == "ConnectionLost"
    time.sleep(max(0.0, sandbox.world.job.duration - (time.monotonic() - started)) + 0.1)  # past the job's end
    assert ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=iid)["Status"] == "InProgress"
    assert _refused(lambda: sandbox.client("ec2").stop_instances(InstanceIds=[iid]))["Error"]["Code"] == "IncorrectInstanceState"
    assert sandbox.world.terminate_instance(iid) == "terminated"  # a second termination changes nothing
    # A transition under way is cancelled: a pending instance never reaches running.
    assert sandbox.world.timings.ec2_terminate > FAST.initial_transition + 0.4
    with _frozen(sandbox) as t0:
        pending = _new_instance(sandbox, "pending")
        assert sandbox.world.terminate_instance(pending) == "pending"
        sandbox.world.tick(t0 + FAST.initial_transition + 0.1)  # when it would have reached running
        assert (_state(sandbox, pending), _ping(sandbox, pending)) == ("shutting-down", None)
    _wait_for(lambda: _state(sandbox, pending) == "terminated")


def test_rds_start_and_stop_are_timed(sandbox: Sandbox) -> None:
    rds = sandbox.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="timed-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        AllocatedStorage=20, MasterUsername="u", MasterUserPassword="sandbox-pw",
    )
    sandbox.world.init_db("timed-db", "stopped")
    answer = rds.start_db_instance(DBInstanceIdentifier="timed-db")
    assert answer["DBInstance"]["DBInstanceStatus"] == "starting"

    def status() -> str:
        return str(rds.describe_db_instances(DBInstanceIdentifier="timed-db")["DBInstances"][0]["DBInstanceStatus"])

    _wait_for(lambda: status() == "available")
    assert rds.describe_db_instances(DBInstanceIdentifier="timed-db")["DBInstances"][0]["DBInstanceClass"] == "db.t3.micro"
    with _frozen(sandbox):
        rds.stop_db_instance(DBInstanceIdentifier="timed-db")
        assert status() == "stopping"
    _wait_for(lambda: status() == "stopped")


def test_rds_refuses_a_stop_while_a_backup_runs_as_rds_does(sandbox: Sandbox) -> None:
    """StopDBInstance on a `backing-up` DB: InvalidDBInstanceState (HTTP 400), the
    error `rds_stop` reads as "not yet"; once the backup ends the stop works."""
    rds = sandbox.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="busy-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        AllocatedStorage=20, MasterUsername="u", MasterUserPassword="sandbox-pw",
    )
    sandbox.world.init_db("busy-db", "available")
    sandbox.world.timings.rds_busy = 1.0
    assert sandbox.world.backup_db("busy-db") == "available"
    with pytest.raises(ClientError) as refused:
        rds.stop_db_instance(DBInstanceIdentifier="busy-db")
    assert refused.value.response["Error"]["Code"] == "InvalidDBInstanceState"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    def status() -> str:
        return str(rds.describe_db_instances(DBInstanceIdentifier="busy-db")["DBInstances"][0]["DBInstanceStatus"])

    _wait_for(lambda: status() == "available")
    with _frozen(sandbox):
        rds.stop_db_instance(DBInstanceIdentifier="busy-db")
        assert status() == "stopping"
        # A backup starts only on an available DB.
        assert sandbox.world.backup_db("busy-db") == "stopping"


def test_ssm_job_lifecycle_and_comment_lookup(sandbox: Sandbox) -> None:
    iid = _new_instance(sandbox, "running")
    ssm = sandbox.client("ssm")
    with _frozen(sandbox):
        sent = ssm.send_command(
            InstanceIds=[iid], DocumentName=JOB_DOCUMENT, Comment="makenaide:exec-1",
            Parameters={"executionTimeout": ["60"]},
        )["Command"]
        inv = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=iid)
        assert (inv["Status"], inv["ResponseCode"]) == ("InProgress", -1)
    listed = ssm.list_commands(InstanceId=iid, Filters=[{"key": "DocumentName", "value": JOB_DOCUMENT}])["Commands"]
    assert [c["Comment"] for c in listed] == ["makenaide:exec-1"]
    _wait_for(lambda: ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=iid)["Status"] == "Success")
    done = ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=iid)
    assert done["ResponseCode"] == 0
    plugins = ssm.list_command_invocations(CommandId=sent["CommandId"], Details=True)["CommandInvocations"]
    assert plugins[0]["CommandPlugins"][0]["Status"] == "Success"


def test_send_command_to_an_offline_instance_is_refused(sandbox: Sandbox) -> None:
    iid = _new_instance(sandbox, "stopped")
    with pytest.raises(ClientError) as refused:
        sandbox.client("ssm").send_command(InstanceIds=[iid], DocumentName=JOB_DOCUMENT)
    assert refused.value.response["Error"]["Code"] == "InvalidInstanceId"


@pytest.mark.parametrize(
    ("service", "call", "key", "code", "status"),
    [
        ("ec2", lambda c: c.describe_instances(), "ec2:DescribeInstances", "RequestLimitExceeded", 503),
        ("rds", lambda c: c.describe_db_instances(), "rds:DescribeDBInstances", "Throttling", 400),
        ("ssm", lambda c: c.list_commands(), "ssm:ListCommands", "ThrottlingException", 400),
    ],
)
def test_injected_faults_parse_as_the_sdk_expects(sandbox: Sandbox, service: str, call: Any, key: str, code: str, status: int) -> None:
    sandbox.faults.aws.append(AwsFault(key=key, code=code, count=1))
    client = sandbox.client(service)
    with pytest.raises(ClientError) as failed:
        call(client)
    assert failed.value.response["Error"]["Code"] == code
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    call(client)  # count 1: the next call goes through
    logged = [c for c in sandbox.app.reported_calls() if c.key == key][-2:]
    assert [(c.injected, c.error) for c in logged] == [(True, code), (False, None)]
    assert logged[0].caller == "tester"


def test_cloudwatch_query_protocol_fault_and_success(sandbox: Sandbox) -> None:
    """The functions' aws-sdk-cloudwatch 1.99 speaks the query protocol (boto3 no longer does)."""
    form = "Action=PutMetricData&Version=2010-08-01&Namespace=Sandbox%2FTest&MetricData.member.1.MetricName=Runs&MetricData.member.1.Value=1"
    auth = "AWS4-HMAC-SHA256 Credential=sandbox-fn-tester/20260101/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0"

    def post() -> tuple[int, str]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{sandbox.port}/", data=form.encode(), method="POST",
            headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    sandbox.faults.aws.append(AwsFault(key="cloudwatch:PutMetricData", code="Throttling", count=1))
    status, body = post()
    assert status == 400
    assert "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>" in body
    status, body = post()
    assert status == 200 and "PutMetricDataResponse" in body
    metrics = sandbox.client("cloudwatch").list_metrics(Namespace="Sandbox/Test")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["Runs"]


def test_lambda_invoke_answers_function_errors_like_lambda(sandbox: Sandbox) -> None:
    lam = sandbox.client("lambda")
    ok = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:standin", Payload=b'{"do":"echo"}')
    assert "FunctionError" not in ok and json.loads(ok["Payload"].read())["echo"] == {"do": "echo"}
    bad = lam.invoke(FunctionName="standin", Payload=b'{"do":"fail"}')
    assert bad["FunctionError"] == "Unhandled"
    assert json.loads(bad["Payload"].read())["errorType"] == "JobFailed"


def _run_machine(sb: Sandbox, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:lambda:us-east-1:123456789012:function:standin",
                "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "End": True,
            }
        },
    }
    sfn = sb.client("stepfunctions", "sandbox-runner")
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(event))["executionArn"]
    _wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", 20)
    return sfn.describe_execution(executionArn=execution), sfn.get_execution_history(executionArn=execution)["events"]


def test_asl_engine_sees_lambda_service_exception_and_retries(sandbox: Sandbox) -> None:
    sandbox.faults.functions.append(FunctionFault("standin", "lostResult", count=1))
    described, events = _run_machine(sandbox, "lost-result", {"do": "echo"})
    assert described["status"] == "SUCCEEDED"
    errors = [e["lambdaFunctionFailedEventDetails"]["error"] for e in events if e["type"] == "LambdaFunctionFailed"]
    assert errors == ["Lambda.ServiceException"]


def test_asl_engine_fails_with_the_function_error_type(sandbox: Sandbox) -> None:
    described, _ = _run_machine(sandbox, "function-error", {"do": "fail"})
    assert (described["status"], described["error"]) == ("FAILED", "JobFailed")


def _machine(sb: Sandbox, name: str, definition: dict[str, Any]) -> str:
    sfn = sb.client("stepfunctions", "sandbox-runner")
    return str(sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/r")["stateMachineArn"])


def _run(sb: Sandbox, machine: str, event: Any, name: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sfn = sb.client("stepfunctions", "sandbox-runner")
    name = name or f"run-{time.monotonic_ns()}"
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(event), name=name)["executionArn"]
    _wait_for(lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING", 20)
    return sfn.describe_execution(executionArn=execution), sfn.get_execution_history(executionArn=execution)["events"]


@pytest.fixture(scope="module")
def lease_table(sandbox: Sandbox) -> str:
    sandbox.client("dynamodb", "sandbox-runner").create_table(
        TableName="lease",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return "lease"


def test_aws_sdk_task_speaks_the_aws_api_names(sandbox: Sandbox) -> None:
    """moto_patches 3: `ExecutionArn` in, `Status`/`StartDate` (an ISO string) out, errors named Sfn.*."""
    target = _machine(sandbox, "describe-target", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    done, _ = _run(sandbox, target, {"x": 1}, "the-target")
    describe = _machine(
        sandbox,
        "describer",
        {
            "StartAt": "Describe",
            "States": {
                "Describe": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
                    "Parameters": {"ExecutionArn.$": "$.arn"},
                    "ResultSelector": {"status.$": "$.Status", "start.$": "$.StartDate", "input.$": "$.Input"},
                    "Catch": [{"ErrorEquals": ["Sfn.ExecutionDoesNotExistException"], "ResultPath": "$.error", "Next": "Missing"}],
                    "End": True,
                },
                "Missing": {"Type": "Pass", "Parameters": {"missing.$": "$.error.Error"}, "End": True},
            },
        },
    )
    found, _ = _run(sandbox, describe, {"arn": done["executionArn"]})
    assert found["status"] == "SUCCEEDED", found
    output = json.loads(found["output"])
    assert (output["status"], output["input"]) == ("SUCCEEDED", '{"x": 1}')
    assert output["start"].endswith("Z") and len(output["start"]) == len("2026-11-22T01:00:03.512Z")
    missing, _ = _run(sandbox, describe, {"arn": done["executionArn"] + "-gone"})
    assert json.loads(missing["output"]) == {"missing": "Sfn.ExecutionDoesNotExistException"}
    engine = [c for c in sandbox.app.reported_calls() if c.key == "states:DescribeExecution"]
    assert [c.params for c in engine[-2:]] == [{"executionArn": done["executionArn"]}, {"executionArn": done["executionArn"] + "-gone"}]
    # An injected fault: a code the Sfn model knows keeps its name, any other is Sfn.SfnException.
    sandbox.faults.aws.append(AwsFault(key="states:DescribeExecution", code="ThrottlingException", count=1, caller="statemachine"))
    throttled, _ = _run(sandbox, describe, {"arn": done["executionArn"]})
    assert (throttled["status"], throttled["error"]) == ("FAILED", "Sfn.SfnException")


def test_dynamodb_integrations_conditions_and_injected_faults(sandbox: Sandbox, lease_table: str) -> None:
    put = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {
            "TableName": lease_table,
            "Item": {"pk": {"S": "run-lease"}, "holder": {"S.$": "$$.Execution.Name"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
        "ResultPath": None,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Refused"}],
        "Next": "Read",
    }
    read = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName": lease_table, "Key": {"pk": {"S": "run-lease"}}, "ConsistentRead": True},
        "ResultSelector": {"holder.$": "$.Item.holder.S"},
        "End": True,
    }
    refused = {"Type": "Pass", "Parameters": {"error.$": "$.error.Error"}, "End": True}
    machine = _machine(sandbox, "lease-taker", {"StartAt": "Take", "States": {"Take": put, "Read": read, "Refused": refused}})
    first, _ = _run(sandbox, machine, {}, "first-taker")
    assert json.loads(first["output"]) == {"holder": "first-taker"}
    second, _ = _run(sandbox, machine, {}, "second-taker")
    assert json.loads(second["output"]) == {"error": "DynamoDB.ConditionalCheckFailedException"}
    sandbox.faults.aws.append(AwsFault(key="dynamodb:PutItem", code="ProvisionedThroughputExceededException", count=1, caller="statemachine"))
    third, events = _run(sandbox, machine, {}, "third-taker")
    assert json.loads(third["output"]) == {"error": "DynamoDB.ProvisionedThroughputExceededException"}
    failed = [e["taskFailedEventDetails"] for e in events if e["type"] == "TaskFailed"]
    assert "Status Code: 400" in failed[0]["cause"] and "Request ID: " in failed[0]["cause"]
    # The same fault as an SDK client sees it.
    sandbox.faults.aws.append(AwsFault(key="dynamodb:GetItem", code="InternalServerError", count=1))
    with pytest.raises(ClientError) as err:
        sandbox.client("dynamodb").get_item(TableName=lease_table, Key={"pk": {"S": "run-lease"}})
    assert (err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("InternalServerError", 500)
    calls = [c for c in sandbox.app.reported_calls() if c.key.startswith("dynamodb:") and c.caller == "statemachine"]
    assert {c.execution for c in calls} == {"first-taker", "second-taker", "third-taker"}
    assert [(c.execution, c.key, c.status) for c in calls if c.execution == "second-taker"] == [("second-taker", "dynamodb:PutItem", 400)]


def test_calls_are_attributed_to_the_execution_whose_step_made_them(sandbox: Sandbox) -> None:
    """The engine's calls carry their execution; a function's own calls belong to the invocation it serves."""
    machine = _machine(
        sandbox,
        "attributed",
        {"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:standin", "End": True}}},
    )
    sfn = sandbox.client("stepfunctions", "sandbox-runner")
    arns = [sfn.start_execution(stateMachineArn=machine, name=n, input=json.dumps({"do": "sleep", "seconds": 0.5}))["executionArn"] for n in ("att-1", "att-2")]
    for arn in arns:
        _wait_for(lambda arn=arn: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING", 20)
    invokes = [c for c in sandbox.app.reported_calls() if c.key == "lambda:Invoke" and c.execution in ("att-1", "att-2")]
    assert sorted(c.execution for c in invokes) == ["att-1", "att-2"]
    assert sorted(i.execution for i in sandbox.app.invocations if i.execution in ("att-1", "att-2")) == ["att-1", "att-2"]
    # While the function serves an invocation, a call signed with its key belongs to that invocation's execution.
    host = sandbox.app.functions["standin"]
    worker = threading.Thread(target=host.invoke, args=(json.dumps({"do": "sleep", "seconds": 1, "execution": {"name": "by-payload"}}).encode(),))
    worker.start()
    _wait_for(lambda: host.current_execution == "by-payload")
    sandbox.client("ec2", "sandbox-fn-standin").describe_instances()
    worker.join()
    sandbox.client("ec2", "sandbox-fn-standin").describe_instances()
    mine = [c.execution for c in sandbox.app.reported_calls() if c.key == "ec2:DescribeInstances" and c.caller == "standin"][-2:]
    assert mine == ["by-payload", None]


def test_the_runners_own_calls_take_no_fault(sandbox: Sandbox) -> None:
    sandbox.faults.aws.append(AwsFault(key="states:ListStateMachines", code="ThrottlingException", count=1))
    sandbox.client("stepfunctions", "sandbox-runner").list_state_machines()
    with pytest.raises(ClientError) as err:
        sandbox.client("stepfunctions").list_state_machines()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
