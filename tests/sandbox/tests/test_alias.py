"""Versions and aliases: Step Functions' alias routing and Lambda's qualified invokes, as the sandbox plays them.

They use `standin_runtime.py` as the only function, so they need no Rust build.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sandbox import definition, events, states
from sandbox.runner import _client as runner_client
from sandbox.server import RUNNER_ACCESS_KEY, Faults, SandboxApp
from sandbox.world import JobBehaviour, Timings, World

from test_server import serve

STANDIN = Path(__file__).with_name("standin_runtime.py")
ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
SEED = 20261201


@dataclass
class Sandbox:
    app: SandboxApp
    port: int

    def client(self, service: str, key: str = RUNNER_ACCESS_KEY) -> Any:
        return runner_client(service, self.port, key)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    app = SandboxApp(World(ACCOUNT, REGION, Timings(), JobBehaviour(duration=0.5)), Faults())
    server = serve(app, tmp_path_factory)
    yield Sandbox(app, server.port)
    server.stop()


def _pass(result: str) -> str:
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"version": result}, "End": True}}})


def _ran(described: dict[str, Any]) -> str:
    """Which version's definition an execution ran (its output)."""
    return str(json.loads(described["output"])["version"])


def _two_versions(sb: Sandbox, name: str) -> tuple[str, str, str]:
    """A state machine with version 1 (answers "v1") and version 2 (answers "v2")."""
    sfn = sb.client("stepfunctions")
    made = sfn.create_state_machine(name=name, definition=_pass("v1"), roleArn=ROLE, publish=True)
    v2 = sfn.update_state_machine(stateMachineArn=made["stateMachineArn"], definition=_pass("v2"), publish=True)
    return str(made["stateMachineArn"]), str(made["stateMachineVersionArn"]), str(v2["stateMachineVersionArn"])


def _alias(sb: Sandbox, routing: list[tuple[str, int]]) -> str:
    config = [{"stateMachineVersionArn": arn, "weight": weight} for arn, weight in routing]
    return str(sb.client("stepfunctions").create_state_machine_alias(name=states.ALIAS_NAME, routingConfiguration=config)["stateMachineAliasArn"])


def _ended(sb: Sandbox, execution_arn: str) -> dict[str, Any]:
    sfn = sb.client("stepfunctions")
    deadline = time.monotonic() + 20
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.05)


def _start(sb: Sandbox, arn: str, name: str) -> str:
    return str(sb.client("stepfunctions").start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"])


# -- the chooser ------------------------------------------------------------------------
def test_the_weighted_chooser_follows_the_weights() -> None:
    routing = [{"stateMachineVersionArn": "m:1", "weight": 90}, {"stateMachineVersionArn": "m:2", "weight": 10}]
    choose = states.weighted_chooser(random.Random(SEED))
    picks = Counter(choose(routing) for _ in range(10_000))
    assert 8_800 <= picks["m:1"] <= 9_200 and picks["m:1"] + picks["m:2"] == 10_000
    again = states.weighted_chooser(random.Random(SEED))
    first = states.weighted_chooser(random.Random(SEED))
    assert [again(routing) for _ in range(50)] == [first(routing) for _ in range(50)], "a seeded chooser must repeat itself"
    only = [{"stateMachineVersionArn": "m:2", "weight": 100}, {"stateMachineVersionArn": "m:1", "weight": 0}]
    assert {choose(only) for _ in range(1_000)} == {"m:2"}


def test_arns_are_split_into_the_state_machine_and_its_qualifier() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:m"
    assert states.split_arn(machine) == (machine, None)
    assert states.split_arn(f"{machine}:3") == (machine, "3")
    assert states.split_arn(f"{machine}:live") == (machine, "live")
    assert states.is_alias_arn(f"{machine}:live") and not states.is_alias_arn(f"{machine}:3") and not states.is_alias_arn(machine)


# -- StartExecution through an alias ----------------------------------------------------------
def test_an_alias_routing_100_0_starts_only_its_first_version(sandbox: Sandbox) -> None:
    machine, v1, v2 = _two_versions(sandbox, "alias-100-0")
    alias = _alias(sandbox, [(v2, 100), (v1, 0)])
    for i in range(12):
        described = _ended(sandbox, _start(sandbox, alias, f"r100-{i}"))
        assert (described["status"], _ran(described)) == ("SUCCEEDED", "v2"), "version 2's definition must run"
        assert described["stateMachineVersionArn"] == v2


def test_an_alias_routing_90_10_splits_starts_by_its_weights(sandbox: Sandbox) -> None:
    machine, v1, v2 = _two_versions(sandbox, "alias-90-10")
    alias = _alias(sandbox, [(v1, 90), (v2, 10)])
    sandbox.app.states.choose = states.weighted_chooser(random.Random(SEED))
    try:
        arns = [_start(sandbox, alias, f"r90-{i}") for i in range(60)]
    finally:
        sandbox.app.states.choose = states.weighted_chooser()
    expected_chooser = states.weighted_chooser(random.Random(SEED))
    routing = [{"stateMachineVersionArn": v1, "weight": 90}, {"stateMachineVersionArn": v2, "weight": 10}]
    expected = [expected_chooser(routing) for _ in arns]
    described = [_ended(sandbox, arn) for arn in arns]
    assert [d["stateMachineVersionArn"] for d in described] == expected, "one pick per start, in order, by the injected chooser"
    ran = Counter(_ran(d) for d in described)
    assert ran == Counter({"v1": expected.count(v1), "v2": expected.count(v2)}), "each execution runs the version it was routed to"
    assert 0 < expected.count(v2) < 20


def test_an_alias_that_does_not_exist_is_refused(sandbox: Sandbox) -> None:
    machine, v1, _ = _two_versions(sandbox, "alias-missing")
    _alias(sandbox, [(v1, 100)])
    sfn = sandbox.client("stepfunctions")
    for arn in (f"{machine}:nosuchalias", f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:no-such-machine:live"):
        with pytest.raises(ClientError) as refused:
            sfn.start_execution(stateMachineArn=arn, name="never", input="{}")
        assert refused.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert arn in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=f"{machine}:9", name="never", input="{}")
    assert refused.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []


# -- what DescribeExecution, ListExecutions and the status change events say -------------------------
def test_executions_carry_the_version_and_alias_they_were_started_through(sandbox: Sandbox) -> None:
    machine, v1, v2 = _two_versions(sandbox, "alias-fields")
    alias = _alias(sandbox, [(v1, 100)])
    by_alias, by_version, unqualified = _start(sandbox, alias, "via-alias"), _start(sandbox, v2, "via-version"), _start(sandbox, machine, "plain")
    for arn, name in ((by_alias, "via-alias"), (by_version, "via-version"), (unqualified, "plain")):
        assert arn == f"arn:aws:states:{REGION}:{ACCOUNT}:execution:alias-fields:{name}", "an execution ARN names no version"
    described = _ended(sandbox, by_alias)
    assert (described["stateMachineArn"], described["stateMachineVersionArn"], described["stateMachineAliasArn"]) == (machine, v1, alias)
    assert _ran(described) == "v1"
    described = _ended(sandbox, by_version)
    assert (described["stateMachineArn"], described["stateMachineVersionArn"]) == (machine, v2)
    assert "stateMachineAliasArn" not in described, "an execution started on a version is associated with no alias"
    described = _ended(sandbox, unqualified)
    assert described["stateMachineArn"] == machine and _ran(described) == "v2", "the unqualified ARN runs the latest revision"
    assert "stateMachineVersionArn" not in described and "stateMachineAliasArn" not in described
    sfn = sandbox.client("stepfunctions")
    listed = {e["name"]: e for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    assert set(listed) == {"via-alias", "via-version", "plain"}
    assert (listed["via-alias"]["stateMachineVersionArn"], listed["via-alias"]["stateMachineAliasArn"]) == (v1, alias)
    assert listed["via-version"]["stateMachineVersionArn"] == v2 and "stateMachineAliasArn" not in listed["via-version"]
    assert {e["name"] for e in sfn.list_executions(stateMachineArn=alias)["executions"]} == {"via-alias"}
    assert {e["name"] for e in sfn.list_executions(stateMachineArn=v1)["executions"]} == {"via-alias"}
    assert {e["name"] for e in sfn.list_executions(stateMachineArn=v2)["executions"]} == {"via-version"}
    history = sfn.get_execution_history(executionArn=by_alias)["events"]
    assert history[0]["type"] == "ExecutionStarted" and history[-1]["type"] == "ExecutionSucceeded"


def test_an_execution_started_through_the_alias_can_be_stopped(sandbox: Sandbox) -> None:
    sfn = sandbox.client("stepfunctions")
    wait = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}})
    made = sfn.create_state_machine(name="alias-stop", definition=wait, roleArn=ROLE, publish=True)
    alias = _alias(sandbox, [(str(made["stateMachineVersionArn"]), 100)])
    arn = _start(sandbox, alias, "to-stop")
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=arn)
    assert _ended(sandbox, arn)["status"] == "ABORTED"


def test_status_change_events_carry_the_version_and_alias(sandbox: Sandbox) -> None:
    machine, v1, _ = _two_versions(sandbox, "alias-events")
    alias = _alias(sandbox, [(v1, 100)])
    bus = events.EventBus([], machine, lambda: sandbox.client("stepfunctions"), ACCOUNT, REGION, target_arn=alias)
    started = _start(sandbox, alias, "evented")
    plain = _start(sandbox, machine, "evented-plain")
    _ended(sandbox, started), _ended(sandbox, plain)
    bus.poll(sandbox.client("stepfunctions"))
    details = {(e["event"]["detail"]["name"], e["event"]["detail"]["status"]): e["event"]["detail"] for e in bus.log}
    assert set(details) == {("evented", "RUNNING"), ("evented", "SUCCEEDED"), ("evented-plain", "RUNNING"), ("evented-plain", "SUCCEEDED")}
    for status in ("RUNNING", "SUCCEEDED"):
        detail = details[("evented", status)]
        assert (detail["stateMachineArn"], detail["stateMachineVersionArn"], detail["stateMachineAliasArn"]) == (machine, v1, alias)
        detail = details[("evented-plain", status)]
        assert (detail["stateMachineArn"], detail["stateMachineVersionArn"], detail["stateMachineAliasArn"]) == (machine, None, None)


def test_a_rule_target_starts_the_alias(sandbox: Sandbox) -> None:
    machine, v1, _ = _two_versions(sandbox, "alias-target")
    alias = _alias(sandbox, [(v1, 100)])
    rule = events.Rule(id="Sweep", description="", pattern={"source": ["sandbox.test"]}, constant_input={"sweep": "scheduled"})
    bus = events.EventBus([rule], machine, lambda: sandbox.client("stepfunctions"), ACCOUNT, REGION, target_arn=alias)
    entry = bus.put({"source": "sandbox.test", "detail-type": "x", "detail": {}})
    execution = entry["deliveries"][0]["executionArn"]
    described = _ended(sandbox, execution)
    assert (described["stateMachineVersionArn"], described["stateMachineAliasArn"]) == (v1, alias)


# -- Lambda: qualified invokes ---------------------------------------------------------------------
def _invoke(sb: Sandbox, function_name: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    answer = sb.client("lambda", "sandbox-fn-tester").invoke(FunctionName=function_name, Payload=json.dumps({"do": "echo"}), **kwargs)
    return dict(answer), json.loads(answer["Payload"].read())


def test_a_qualified_name_or_arn_invokes_that_version(sandbox: Sandbox) -> None:
    arn = definition.local_function_arn("standin", REGION, ACCOUNT)
    cases = [
        ("standin:1", {}, "1", f"{arn}:1"),
        (f"{arn}:1", {}, "1", f"{arn}:1"),
        (f"{ACCOUNT}:function:standin:1", {}, "1", f"{arn}:1"),
        ("standin", {"Qualifier": "1"}, "1", f"{arn}:1"),
        ("standin:$LATEST", {}, "$LATEST", f"{arn}:$LATEST"),
        (arn, {}, "$LATEST", arn),
    ]
    for name, extra, version, invoked in cases:
        answer, body = _invoke(sandbox, name, **extra)
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer, name
        assert answer["ExecutedVersion"] == version, name
        assert body["invokedFunctionArn"] == invoked, name


def test_an_unknown_version_is_refused_as_lambda_does(sandbox: Sandbox) -> None:
    arn = definition.local_function_arn("standin", REGION, ACCOUNT)
    for name, extra in (("standin:7", {}), (f"{arn}:7", {}), ("standin", {"Qualifier": "7"}), ("standin:live", {})):
        with pytest.raises(ClientError) as refused:
            _invoke(sandbox, name, **extra)
        error = refused.value.response
        assert error["Error"]["Code"] == "ResourceNotFoundException", name
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404, name
        assert error["Error"]["Message"].startswith(f"Function not found: {arn}:"), name
    with pytest.raises(ClientError) as refused:
        _invoke(sandbox, "standin:1", Qualifier="$LATEST")
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_the_state_machine_invokes_a_function_version(sandbox: Sandbox) -> None:
    sfn = sandbox.client("stepfunctions")
    for version, status in (("1", "SUCCEEDED"), ("7", "FAILED")):
        task = {"Type": "Task", "Resource": f"{definition.local_function_arn('standin', REGION, ACCOUNT)}:{version}", "End": True}
        made = sfn.create_state_machine(name=f"invoke-v{version}", definition=json.dumps({"StartAt": "T", "States": {"T": task}}), roleArn=ROLE)
        described = _ended(sandbox, _start(sandbox, str(made["stateMachineArn"]), "once"))
        assert described["status"] == status, described
        if status == "FAILED":
            assert described["error"] == "Lambda.ResourceNotFoundException"
        else:
            assert json.loads(described["output"])["invokedFunctionArn"].endswith(":function:standin:1")


# -- the definition's substitutions ------------------------------------------------------------------
def test_the_definition_gets_version_arns_and_a_revision() -> None:
    values = definition.substitutions(["i-1"], REGION, "text")
    for key, name in definition.FUNCTION_KEYS.items():
        assert values[key] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:{definition.FUNCTION_VERSION}"
    assert values[definition.REVISION_KEY] == definition.revision("text") != definition.revision("text2")
    assert len(values[definition.REVISION_KEY]) == 12
    assert definition.render('{"r": "${Revision}"}', values) == f'{{"r": "{definition.revision("text")}"}}'
    assert definition.render("{}", values) == "{}", "a key the definition does not use is harmless"
    with pytest.raises(KeyError):
        definition.render('"${NoSuchKey}"', values)
