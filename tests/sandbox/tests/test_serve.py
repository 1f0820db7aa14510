"""`make sandbox` (`tests/run_sandbox.py`, `sandbox/serve.py`): the sandbox as a long-running endpoint.

- The world repeats its timed transitions run after run (no Rust build needed).
- The stack and its schedule, as tools find them in AWS, read with the AWS CLI
  of the venv, with stand-in functions (no Rust build needed).
- The real workflow and the real function binaries (`target/debug`, built by
  `make e2e`), driven by the AWS CLI as the README shows: a run, a second
  start while it runs (skipped by the lease), a run after it, then Ctrl-C.

Every AWS CLI call gets `serve.client_environment()`: the sandbox's endpoint,
dummy credentials, no profile, config and credentials files /dev/null.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox import definition, jobdocument, serve
from sandbox.runner import _client as runner_client
from sandbox.scenario import FUNCTIONS
from sandbox.server import Faults, SandboxApp, SandboxServer
from sandbox.world import JobBehaviour, Timings, World
from standin_binaries import write_standin_binaries

AWS = Path(sys.executable).with_name("aws")
HAPPY_PATH = definition.REPO_ROOT / "tests" / "scenarios" / "happy_path.json"
DEBUG_BINARIES = definition.REPO_ROOT / "target" / "debug"
ACCOUNT_REGION = "us-east-1:123456789012"

# A small workflow with the real substitution keys: the lease's table, one function.
SMALL_DEFINITION = {
    "StartAt": "Check database",
    "States": {
        "Check database": {"Type": "Task", "Resource": "${RdsCheckFunctionArn}", "Parameters": {"do": "echo", "table": "${LeaseTableName}"}, "End": True},
    },
}


def aws(endpoint: str, *args: str) -> Any:
    """The venv's AWS CLI against the sandbox; its JSON answer."""
    assert AWS.is_file(), f"{AWS} is missing: `make venv` installs the AWS CLI (tests/requirements.txt)"
    proc = subprocess.run([str(AWS), *args, "--output", "json"], env=serve.client_environment(endpoint), capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, f"aws {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# -- the world, run after run ---------------------------------------------------------------
FAST = Timings(ec2_start=0.4, ec2_stop=0.4, rds_start=0.6, rds_stop=0.4, agent_online=0.4)


@pytest.fixture(scope="module")
def world_endpoint() -> Iterator[tuple[World, int]]:
    world = World("123456789012", "us-east-1", FAST, JobBehaviour(duration=0.5))
    world.register_document("Repeat-Job", jobdocument.load(["run.sh"], "/opt"))
    server = SandboxServer(SandboxApp(world, Faults()))
    server.start()
    yield world, server.port
    server.stop()


STEP = 0.02  # how far the World's held time moves between two polls


def _until(world: World, what: Any, wanted: Any, seconds: float = 5.0) -> float:
    """Poll `what()` until it answers `wanted`, moving the World's held time on
    by STEP between polls; the World's seconds it took (a busy machine cannot
    stretch them)."""
    started = world.now()
    while what() != wanted:
        assert world.now() - started < seconds, f"not {wanted!r} within {seconds} s: {what()!r}"
        world.advance(STEP)
    return world.now() - started


def test_a_second_start_goes_through_the_same_timed_transitions(world_endpoint: tuple[World, int]) -> None:
    """What a run does to the world (start the DB and the worker, wait for the agent, run the job, stop
    both), three times over: each time the same states, for the same time (the World's, held and
    moved on by the polls), and a new command."""
    world, port = world_endpoint
    key = "sandbox-fn-tester"
    rds, ec2, ssm = (runner_client(s, port, key) for s in ("rds", "ec2", "ssm"))
    runner_client("rds", port).create_db_instance(
        DBInstanceIdentifier="repeat-db", DBInstanceClass="db.t3.micro", Engine="postgres",
        AllocatedStorage=20, MasterUsername="u", MasterUserPassword="sandbox-pw",
    )
    world.init_db("repeat-db", "stopped")
    made = runner_client("ec2", port).run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.small")
    iid = str(made["Instances"][0]["InstanceId"])
    world.init_instance(iid, "stopped")

    def db() -> str:
        return str(rds.describe_db_instances(DBInstanceIdentifier="repeat-db")["DBInstances"][0]["DBInstanceStatus"])

    def instance() -> str:
        return str(ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"])

    def ping() -> str | None:
        items = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [iid]}])["InstanceInformationList"]
        return str(items[0]["PingStatus"]) if items else None

    cycles = []
    world.hold()  # the World's time moves only with _until
    try:
        for run in range(3):
            assert (db(), instance()) == ("stopped", "stopped")
            assert ping() == (None if run == 0 else "ConnectionLost")
            assert rds.start_db_instance(DBInstanceIdentifier="repeat-db")["DBInstance"]["DBInstanceStatus"] == "starting"
            db_start = _until(world, db, "available")
            assert ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]["CurrentState"]["Name"] == "pending"
            ec2_start = _until(world, instance, "running")
            agent = _until(world, ping, "Online")
            command = ssm.send_command(InstanceIds=[iid], DocumentName="Repeat-Job", Comment=f"makenaide:run-{run}")["Command"]["CommandId"]
            job = _until(world, lambda c=command: ssm.get_command_invocation(CommandId=c, InstanceId=iid)["Status"], "Success")
            ec2.stop_instances(InstanceIds=[iid])
            rds.stop_db_instance(DBInstanceIdentifier="repeat-db")
            assert (db(), instance(), ping()) == ("stopping", "stopping", "ConnectionLost")
            stops = _until(world, lambda: (db(), instance()), ("stopped", "stopped"))
            cycles.append((db_start, ec2_start, agent, job, stops))
    finally:
        world.release()
    first = cycles[0]
    assert first[:3] == pytest.approx((FAST.rds_start, FAST.ec2_start, FAST.agent_online), abs=STEP + 1e-6), cycles
    for later in cycles[1:]:
        for seconds, before, timing in zip(later, first, ("rds start", "ec2 start", "agent online", "job", "stops"), strict=True):
            # The same World time each cycle, to a polling step: a timer left over from
            # the first cycle would end early, one never re-armed would not end at all.
            assert seconds == pytest.approx(before, abs=STEP + 1e-6), f"{timing}: {seconds:.2f} s after {before:.2f} s the first time ({cycles})"
    assert len(ssm.list_commands(InstanceId=iid)["Commands"]) == 3


# -- the stack and its schedule (stand-in functions) ------------------------------------------
@pytest.fixture(scope="module")
def standins(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("serve")
    bins = write_standin_binaries(root / "bin")
    small = root / "small.asl.json"
    small.write_text(json.dumps(SMALL_DEFINITION), encoding="utf-8")
    return ["--bin-dir", str(bins), "--definition", str(small), "--logs", str(root / "logs")]


def test_the_stack_and_its_schedule_are_found_as_in_aws(standins: list[str]) -> None:
    with serve.started(extra_args=standins) as (endpoint, machine):
        assert endpoint.startswith("http://127.0.0.1:") and int(endpoint.rsplit(":", 1)[1]) > 0
        assert machine == f"arn:aws:states:{ACCOUNT_REGION}:stateMachine:makenaide-sandbox"
        stacks = aws(endpoint, "cloudformation", "describe-stacks", "--stack-name", serve.STACK_NAME)["Stacks"]
        assert [(s["StackName"], s["StackStatus"]) for s in stacks] == [("MakenaideOrchestrator", "CREATE_COMPLETE")]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
        assert outputs["StateMachineArn"] == machine
        assert outputs["LiveAliasArn"] == f"{machine}:live"
        assert outputs["AlarmTopicArn"] == f"arn:aws:sns:{ACCOUNT_REGION}:makenaide-sandbox-alarms"
        assert outputs["LeaseTableName"] == "makenaide-sandbox-lease"
        assert outputs["ScheduleName"] == "MakenaideOrchestrator-Schedule"
        assert outputs["JobOutputLogGroupName"] == "/makenaide/sandbox/job-output"
        # The bound the functions run with (the CLI checks `run --input` against it).
        assert outputs["JobTimeoutMaxSeconds"] == serve.SANDBOX_CONFIG["JOB_TIMEOUT_MAX_SECONDS"] == "300"
        assert len(outputs["Revision"]) == 12
        # Each output names something that is there.
        alias = aws(endpoint, "stepfunctions", "describe-state-machine-alias", "--state-machine-alias-arn", outputs["LiveAliasArn"])
        assert [r["weight"] for r in alias["routingConfiguration"]] == [100]
        table = aws(endpoint, "dynamodb", "describe-table", "--table-name", outputs["LeaseTableName"])["Table"]
        assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        assert aws(endpoint, "sns", "get-topic-attributes", "--topic-arn", outputs["AlarmTopicArn"])["Attributes"]["TopicArn"] == outputs["AlarmTopicArn"]
        groups = aws(endpoint, "logs", "describe-log-groups", "--log-group-name-prefix", outputs["JobOutputLogGroupName"])["logGroups"]
        assert [g["logGroupName"] for g in groups] == [outputs["JobOutputLogGroupName"]]
        schedule = aws(endpoint, "scheduler", "get-schedule", "--name", outputs["ScheduleName"])
        assert (schedule["State"], schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == (
            "ENABLED", "cron(0 1,5,9,13,17,21 * * ? *)", "Asia/Seoul",
        )
        assert (schedule["Target"]["Arn"], schedule["Target"]["Input"]) == (outputs["LiveAliasArn"], "{}")
        assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
        # The AWS CLI v1 ignores AWS_ENDPOINT_URL for `rds` in us-east-1: the dead proxy stops it.
        once = serve.client_environment(endpoint) | {"AWS_MAX_ATTEMPTS": "1"}
        stray = subprocess.run([str(AWS), "rds", "describe-db-instances"], env=once, capture_output=True, text=True, timeout=60, check=False)
        assert stray.returncode != 0 and "proxy" in stray.stderr.lower(), stray.stdout + stray.stderr
        assert aws(endpoint, "rds", "describe-db-instances", "--endpoint-url", endpoint)["DBInstances"][0]["DBInstanceIdentifier"] == "makenaide-db"


def test_a_port_in_use_exits_two_with_a_message(standins: list[str]) -> None:
    with serve.started(extra_args=standins) as (endpoint, _):
        port = endpoint.rsplit(":", 1)[1]
        proc = subprocess.run([sys.executable, str(serve.RUN_SCRIPT), "--port", port, *standins], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in proc.stderr
    assert "sandbox: ready" not in proc.stdout


# -- the real workflow, through the AWS CLI ----------------------------------------------------
def _described(endpoint: str, arn: str, seconds: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        described: dict[str, Any] = aws(endpoint, "stepfunctions", "describe-execution", "--execution-arn", arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return described
        time.sleep(1.0)


def test_make_sandbox_runs_the_workflow_for_the_aws_cli_run_after_run(tmp_path: Path) -> None:
    missing = [name for name in FUNCTIONS if not (DEBUG_BINARIES / name).is_file()]
    assert not missing, f"no debug build of {missing} in {DEBUG_BINARIES}: `make build` (make e2e builds them)"
    expected = json.loads(HAPPY_PATH.read_text(encoding="utf-8"))["expect"]["state"]
    sandbox = serve.SandboxProcess(scenario=HAPPY_PATH, extra_args=["--logs", str(tmp_path / "logs")], output=tmp_path / "stdout.txt")
    endpoint, machine = sandbox.start()
    assert sandbox.process is not None
    try:
        banner = sandbox.text()
        for command in ("stepfunctions start-execution", "stepfunctions describe-execution", "stepfunctions list-executions"):
            assert command in banner
        alias = f"{machine}:live"
        executions = f"arn:aws:states:{ACCOUNT_REGION}:execution:makenaide-sandbox"
        started = aws(endpoint, "stepfunctions", "start-execution", "--state-machine-arn", alias, "--name", "run-1")
        assert started["executionArn"] == f"{executions}:run-1"
        # A second start while run-1 holds the lease: it touches nothing and says who holds it.
        aws(endpoint, "stepfunctions", "start-execution", "--state-machine-arn", alias, "--name", "run-2")
        second = _described(endpoint, f"{executions}:run-2")
        assert second["status"] == "SUCCEEDED", second
        assert json.loads(second["output"]) == {"skipped": {"reason": "RunInProgress", "heldBy": "run-1"}}
        first = _described(endpoint, f"{executions}:run-1")
        assert (first["status"], first["stateMachineArn"], first["stateMachineAliasArn"], first["stateMachineVersionArn"]) == (
            "SUCCEEDED", machine, alias, f"{machine}:1",
        ), first
        # Once run-1 stopped the DB and the worker, a run finds them stopped and does it all again.
        aws(endpoint, "stepfunctions", "start-execution", "--state-machine-arn", alias, "--name", "run-3")
        third = _described(endpoint, f"{executions}:run-3")
        assert third["status"] == "SUCCEEDED", third
        for described in (first, third):
            output = json.loads(described["output"])
            for path, value in expected.items():
                if path != "job.comment":
                    assert _dig(output, path) == value, (described["name"], path)
            assert output["job"]["comment"] == f"makenaide:{described['name']}"
            assert output["ec2"]["startedByWorkflow"] == [i["instanceId"] for i in output["ec2"]["instances"]]
        assert json.loads(first["output"])["job"]["commandId"] != json.loads(third["output"])["job"]["commandId"]
        listed = aws(endpoint, "stepfunctions", "list-executions", "--state-machine-arn", machine)["executions"]
        assert sorted((e["name"], e["status"]) for e in listed) == [("run-1", "SUCCEEDED"), ("run-2", "SUCCEEDED"), ("run-3", "SUCCEEDED")]
        assert {e["stateMachineAliasArn"] for e in listed} == {alias}
        # The AWS CLI v1 sends `rds` commands in us-east-1 to AWS unless --endpoint-url says otherwise.
        rds = aws(endpoint, "rds", "describe-db-instances", "--db-instance-identifier", "makenaide-db", "--endpoint-url", endpoint)["DBInstances"][0]
        assert rds["DBInstanceStatus"] in ("stopping", "stopped")
        functions = children(sandbox.process.pid)
        assert len(functions) == len(FUNCTIONS), f"one warm process per function expected, found {functions}"
    finally:
        code = sandbox.stop()
    assert code == 0, sandbox.stderr()
    assert sandbox.text().rstrip().endswith("sandbox: stopping")
    assert [pid for pid in functions if alive(pid)] == []


def _dig(document: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        document = document[part]
    return document
