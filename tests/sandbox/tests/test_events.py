"""The sandbox's EventBridge: the InputTransformer renderer, the rules of statemachine/rules.json
matched against events shaped as AWS sends them, and delivery to the state machine."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sandbox import events
from sandbox.events import MISSING, EventBus, Rule, RuleError, json_path, load_rules, render_template

ACCOUNT = "123456789012"
REGION = "us-east-1"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:makenaide-sandbox"
OTHER_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:someone-else"
DB = "makenaide-db"


def _described(status: str, machine: str = MACHINE, name: str = "run-1") -> dict[str, Any]:
    """A DescribeExecution answer as boto3 returns it."""
    start = dt.datetime(2026, 11, 22, 1, 0, 3, 512000, tzinfo=dt.timezone.utc)
    answer: dict[str, Any] = {
        "executionArn": machine.replace(":stateMachine:", ":execution:") + f":{name}",
        "stateMachineArn": machine,
        "name": name,
        "status": status,
        "startDate": start,
        "input": "{}",
    }
    if status != "RUNNING":
        answer["stopDate"] = start + dt.timedelta(seconds=42, milliseconds=7)
    if status == "SUCCEEDED":
        answer["output"] = '{"ok": true}'
    if status in ("FAILED", "TIMED_OUT"):
        answer["error"], answer["cause"] = "JobFailed", "the job failed"
    return answer


@pytest.fixture(scope="module")
def rules() -> dict[str, Rule]:
    loaded = load_rules({"StateMachineArn": MACHINE, "DbInstanceIdentifier": DB}, ACCOUNT, REGION)
    return {rule.id: rule for rule in loaded}


# -- the renderer ---------------------------------------------------------------------------
def test_an_unquoted_placeholder_becomes_the_json_value() -> None:
    values = {"arn": "arn:aws:states:x", "n": 3, "flag": True, "obj": {"a": "b"}, "list": ["x", 1]}
    text = render_template('{"arn": <arn>, "n": <n>, "flag": <flag>, "obj": <obj>, "list": <list>}', values)
    assert json.loads(text) == {"arn": "arn:aws:states:x", "n": 3, "flag": True, "obj": {"a": "b"}, "list": ["x", 1]}


def test_a_quoted_placeholder_is_replaced_by_its_raw_text() -> None:
    values = {"id": "i-0abc", "state": "stopped", "n": 3, "obj": {"a": "b"}}
    text = render_template('{"msg": "<id> is <state> (<n>) <obj>", "exact": "<id>"}', values)
    assert json.loads(text) == {"msg": "i-0abc is stopped (3) {a:b}", "exact": "i-0abc"}


def test_a_quoted_string_value_is_not_escaped() -> None:
    # EventBridge does not escape what it inserts inside quotes: a quote in the value breaks the JSON.
    text = render_template('{"msg": "<v>"}', {"v": 'say "hi"'})
    assert text == '{"msg": "say "hi""}'
    with pytest.raises(ValueError):
        json.loads(text)


def test_escaped_quotes_in_the_template_keep_the_string_open() -> None:
    text = render_template('{"msg": "<id> is in state \\"<state>\\"", "raw": <state>}', {"id": "i-1", "state": "on"})
    assert json.loads(text) == {"msg": 'i-1 is in state "on"', "raw": "on"}


def test_a_missing_path_becomes_nothing() -> None:
    event = {"detail": {"status": "FAILED"}}
    assert json_path(event, "$.detail.absent") is MISSING
    values = {"status": json_path(event, "$.detail.status")}  # `gone` was not created
    assert json.loads(render_template('{"s": <status>, "q": "<gone>"}', values)) == {"s": "FAILED", "q": ""}
    unquoted = render_template('{"s": <status>, "g": <gone>}', values)
    assert unquoted == '{"s": "FAILED", "g": }'
    with pytest.raises(ValueError):
        json.loads(unquoted)


def test_json_paths_take_names_with_dashes_and_array_indices() -> None:
    event = {"detail-type": "X", "resources": ["arn:1", "arn:2"], "detail": {"a": [{"b": 5}]}}
    assert json_path(event, "$.detail-type") == "X"
    assert json_path(event, "$.resources[1]") == "arn:2"
    assert json_path(event, "$.detail.a[0].b") == 5
    assert json_path(event, "$.resources[5]") is MISSING
    assert json_path(event, "$") == event


def test_a_plain_text_template_inserts_raw_text() -> None:
    assert render_template("<id> is in state <state>", {"id": "i-1", "state": "stopped"}) == "i-1 is in state stopped"


def test_a_template_variable_without_a_path_is_refused() -> None:
    with pytest.raises(RuleError, match="<typo>"):
        Rule("R", "", {"source": ["x"]}, input_paths={"a": "$.a"}, input_template='{"a": <a>, "b": <typo>}')


def test_an_unknown_rules_placeholder_is_refused() -> None:
    with pytest.raises(RuleError, match="StateMachineArn"):
        load_rules({"DbInstanceIdentifier": DB}, ACCOUNT, REGION)


# -- the rules of rules.json against AWS-shaped events -----------------------------------------
def test_rules_json_declares_the_two_rules(rules: dict[str, Rule]) -> None:
    assert set(rules) == {"CleanupAfterEnd", "DbAutoStartGuard"}
    assert rules["CleanupAfterEnd"].arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/CleanupAfterEnd"


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED"])
def test_cleanup_rule_matches_an_unsuccessful_end_and_renders_the_cleanup_input(rules: dict[str, Rule], status: str) -> None:
    event = events.status_change_event(_described(status), ACCOUNT, REGION)
    rule = rules["CleanupAfterEnd"]
    assert rule.matches(event)
    assert not rules["DbAutoStartGuard"].matches(event)
    rendered = json.loads(rule.render_input(event, "2026-11-22T01:00:45.000Z"))
    assert rendered == {"cleanupAfter": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:makenaide-sandbox:run-1", "endedWith": status}


@pytest.mark.parametrize(
    "described",
    [
        _described("SUCCEEDED"),
        _described("RUNNING"),
        _described("FAILED", machine=OTHER_MACHINE),
        _described("ABORTED", machine=MACHINE + "-v2"),
    ],
    ids=["succeeded", "running", "other-state-machine", "longer-arn"],
)
def test_cleanup_rule_ignores_success_a_start_and_other_state_machines(rules: dict[str, Rule], described: dict[str, Any]) -> None:
    assert not rules["CleanupAfterEnd"].matches(events.status_change_event(described, ACCOUNT, REGION))


def test_db_guard_matches_rds_event_0154_of_our_db(rules: dict[str, Rule]) -> None:
    event = events.rds_instance_event(DB, ACCOUNT, REGION)
    assert rules["DbAutoStartGuard"].matches(event)
    assert not rules["CleanupAfterEnd"].matches(event)
    assert json.loads(rules["DbAutoStartGuard"].render_input(event, "t")) == {"sweep": "rds-auto-start"}


@pytest.mark.parametrize(
    "event",
    [
        events.rds_instance_event("another-db", ACCOUNT, REGION),
        events.rds_instance_event(DB, ACCOUNT, REGION, event_id="RDS-EVENT-0088", message="DB instance started."),
        {**events.rds_instance_event(DB, ACCOUNT, REGION), "source": "aws.ec2"},
        {**events.rds_instance_event(DB, ACCOUNT, REGION), "detail-type": "RDS DB Cluster Event"},
    ],
    ids=["other-db", "other-event-id", "other-source", "other-detail-type"],
)
def test_db_guard_ignores_other_dbs_and_other_events(rules: dict[str, Rule], event: dict[str, Any]) -> None:
    assert not rules["DbAutoStartGuard"].matches(event)


def test_status_change_event_has_the_aws_shape() -> None:
    event = events.status_change_event(_described("FAILED"), ACCOUNT, REGION)
    assert {k: event[k] for k in ("version", "detail-type", "source", "account", "region")} == {
        "version": "0", "detail-type": "Step Functions Execution Status Change", "source": "aws.states", "account": ACCOUNT, "region": REGION,
    }
    detail = event["detail"]
    assert event["resources"] == [detail["executionArn"]]
    assert detail["startDate"] == 1795309203512 and detail["stopDate"] == 1795309245519  # epoch millis
    assert event["time"] == "2026-11-22T01:00:45Z"
    assert (detail["status"], detail["error"], detail["cause"], detail["output"], detail["input"]) == ("FAILED", "JobFailed", "the job failed", None, "{}")
    running = events.status_change_event(_described("FAILED"), ACCOUNT, REGION, status="RUNNING")["detail"]
    assert (running["status"], running["stopDate"], running["error"]) == ("RUNNING", None, None)


def test_rds_event_has_the_aws_shape() -> None:
    at = dt.datetime(2026, 11, 22, 1, 2, 3, 456000, tzinfo=dt.timezone.utc)
    event = events.rds_instance_event(DB, ACCOUNT, REGION, at=at)
    assert event["source"] == "aws.rds" and event["detail-type"] == "RDS DB Instance Event"
    assert event["resources"] == [f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{DB}"]
    assert event["detail"] == {
        "EventCategories": ["notification"],
        "SourceType": "DB_INSTANCE",
        "SourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{DB}",
        "Date": "2026-11-22T01:02:03.456Z",
        "Message": "DB instance is being started due to it exceeding the maximum allowed time being stopped.",
        "SourceIdentifier": DB,
        "EventID": "RDS-EVENT-0154",
    }


# -- delivery ---------------------------------------------------------------------------------
class FakeStepFunctions:
    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def start_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.started.append(kwargs)
        return {"executionArn": f"{MACHINE.replace(':stateMachine:', ':execution:')}:{kwargs['name']}"}


def test_the_bus_starts_one_execution_per_match_and_logs_it(rules: dict[str, Rule]) -> None:
    sfn = FakeStepFunctions()
    seen: list[events.Started] = []
    bus = EventBus(list(rules.values()), MACHINE, lambda: sfn, ACCOUNT, REGION, on_start=seen.append)
    bus.put(events.status_change_event(_described("SUCCEEDED"), ACCOUNT, REGION))
    bus.put(events.status_change_event(_described("TIMED_OUT"), ACCOUNT, REGION))
    assert [json.loads(s["input"]) for s in sfn.started] == [{"cleanupAfter": _described("TIMED_OUT")["executionArn"], "endedWith": "TIMED_OUT"}]
    assert sfn.started[0]["stateMachineArn"] == MACHINE
    assert [entry["deliveries"] for entry in bus.log][0] == []
    delivery = bus.log[1]["deliveries"][0]
    assert (delivery["rule"], delivery["execution"], delivery["error"]) == ("CleanupAfterEnd", seen[0].name, None)
    assert delivery["input"]["endedWith"] == "TIMED_OUT"


def test_the_bus_refuses_past_its_limit_and_reports_an_input_that_is_not_json() -> None:
    sfn = FakeStepFunctions()
    loop = Rule("Loop", "", {"source": ["aws.states"]}, input_paths={"s": "$.detail.absent"}, input_template='{"s": <s>}')
    constant = Rule("Constant", "", {"source": ["aws.states"]}, constant_input={"sweep": "scheduled"})
    bus = EventBus([loop, constant], MACHINE, lambda: sfn, ACCOUNT, REGION, max_started=1)
    entry = bus.put(events.status_change_event(_described("FAILED"), ACCOUNT, REGION))
    assert entry["deliveries"][0]["error"].startswith("InvalidExecutionInput")
    assert entry["deliveries"][1]["error"] is None and len(sfn.started) == 1
    again = bus.put(events.status_change_event(_described("FAILED"), ACCOUNT, REGION))
    assert again["deliveries"][1]["error"].startswith("Sandbox.TooManyExecutions")
    assert bus.refused == 1 and len(sfn.started) == 1


def test_rules_json_is_valid_for_the_sandbox(tmp_path: Path) -> None:
    broken = tmp_path / "rules.json"
    broken.write_text(json.dumps({"rules": [{"id": "R", "eventPattern": {"source": "aws.states"}, "input": {}}]}), encoding="utf-8")
    with pytest.raises(RuleError, match="invalid event pattern"):
        load_rules({}, ACCOUNT, REGION, broken)
