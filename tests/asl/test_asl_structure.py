"""Structural rules on the definition (pure Python, no AWS, no engine).

Every rule runs on the real file and must find nothing; then each rule runs on
a copy broken on purpose and must report it, so no rule is vacuous.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

import asl_rules
from asl_harness import README_PATH, REPO_ROOT
from sandbox import definition as sandbox_definition

S = "States"


@pytest.mark.parametrize("check", asl_rules.ALL_CHECKS, ids=lambda c: c.__name__)
def test_rule_holds_on_the_rendered_definition(check: Callable, definition: dict[str, Any]) -> None:
    assert check(definition) == []


@pytest.mark.parametrize("check", asl_rules.ALL_CHECKS, ids=lambda c: c.__name__)
def test_rule_holds_on_the_raw_definition(check: Callable, raw_definition: dict[str, Any]) -> None:
    assert check(copy.deepcopy(raw_definition)) == []


def test_placeholders_are_exactly_the_documented_set(raw_text: str) -> None:
    assert asl_rules.check_placeholders(raw_text) == []


def test_placeholder_keys_match_the_sandbox_substitution() -> None:
    # The sandbox (and the CDK app) fill exactly these keys.
    assert set(sandbox_definition.FUNCTION_KEYS) == asl_rules.FUNCTION_PLACEHOLDERS
    assert sandbox_definition.WORKER_IDS_KEY == asl_rules.WORKER_IDS_PLACEHOLDER


def test_rendering_leaves_no_placeholder(definition: dict[str, Any]) -> None:
    assert "${" not in json.dumps(definition)


def test_the_flow_is_the_designed_one(definition: dict[str, Any]) -> None:
    """The named steps, in order, as the design describes them."""
    states = definition[S]
    happy = [
        "Init", "Check database", "Database ready?", "Begin workers", "Start workers", "Workers ready?",
        "Launch job", "Check job", "Job over?", "Stop workers?", "Stop workers", "Stop database",
        "Publish metrics", "Done",
    ]
    for before, after in zip(happy, happy[1:]):
        assert after in asl_rules.successors(definition, before, catches=False), (before, after)
    assert definition["StartAt"] == "Init"
    assert definition["TimeoutSeconds"] == 21600 and definition["Comment"]
    loops = {"Check database": ("Database ready?", "Wait for database", "$.rds"),
             "Start workers": ("Workers ready?", "Wait for workers", "$.ec2"),
             "Check job": ("Job over?", "Wait for job", "$.poll")}
    for task, (choice, wait, block) in loops.items():
        assert states[task]["ResultPath"] == block
        assert states[choice]["Default"] == wait
        assert states[wait]["SecondsPath"] == f"{block}.retryAfterSeconds"
        assert states[wait]["Next"] == task
    assert states["Begin workers"]["Parameters"]["instanceIds.$"] == "States.StringSplit('i-0123456789abcdef0,i-0fedcba9876543210', ',')"
    expected_resources = {
        "Check database": "rds_check", "Start workers": "ec2_start", "Launch job": "ssm_launch",
        "Check job": "poll_ec2_state", "Stop database": "rds_stop", "Publish metrics": "emit_metrics",
        "Cleanup: stop database": "rds_stop", "Cleanup: publish metrics": "emit_metrics",
    }
    for name, function in expected_resources.items():
        assert states[name]["Resource"] == f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
        assert states[name]["TimeoutSeconds"] == 30
    for name in ("Stop workers", "Cleanup: stop workers"):
        assert states[name]["Resource"] == "arn:aws:states:::aws-sdk:ec2:stopInstances"
        assert states[name]["Parameters"] == {"InstanceIds.$": "$.workers.instanceIds"}
        assert states[name]["ResultPath"] == "$.ec2Stop"
        assert states[name]["TimeoutSeconds"] == 30
    cleanup = ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: stop database",
               "Cleanup: publish metrics", "Cleanup failed?"]
    assert asl_rules.cleanup_entries(definition) == {"Cleanup: stop workers?"}
    for before, after in zip(cleanup, cleanup[1:]):
        assert after in asl_rules.successors(definition, before), (before, after)


def _retrier(definition: dict[str, Any], state: str, error: str) -> dict[str, Any]:
    for retrier in definition[S][state]["Retry"]:
        if error in retrier["ErrorEquals"]:
            return retrier
    raise AssertionError(f"{state} does not retry {error}")


@pytest.mark.parametrize(
    "state, error, policy",
    [
        ("Check database", "Lambda.TooManyRequestsException", (1, 4, 2, 20)),
        ("Check database", "AwsThrottled", (1, 5, 2, 30)),
        ("Launch job", "AwsServiceUnavailable", (1, 5, 2, 30)),
        ("Start workers", "Ec2InsufficientCapacity", (2, 3, 2, 60)),
        ("Stop database", "RdsNotStoppableYet", (15, 12, 1.5, 60)),
        ("Cleanup: stop database", "RdsNotStoppableYet", (15, 12, 1.5, 60)),
        ("Stop workers", "Ec2.Ec2Exception", (2, 5, 2, 30)),
        ("Cleanup: stop workers", "Ec2.Ec2Exception", (2, 5, 2, 30)),
        ("Cleanup: publish metrics", "States.TaskFailed", (2, 2, 2, 10)),
        ("Cleanup: stop workers", "States.Timeout", (2, 2, 2, 10)),
    ],
)
def test_retry_policy(definition: dict[str, Any], state: str, error: str, policy: tuple) -> None:
    retrier = _retrier(definition, state, error)
    got = (retrier["IntervalSeconds"], retrier["MaxAttempts"], retrier["BackoffRate"], retrier["MaxDelaySeconds"])
    assert got == policy and retrier["JitterStrategy"] == "FULL"


def test_every_lambda_task_retries_lambda_service_errors(definition: dict[str, Any]) -> None:
    for name, state in definition[S].items():
        if asl_rules.is_lambda_task(state):
            for error in ("Lambda.ServiceException", "Lambda.AWSLambdaException",
                          "Lambda.SdkClientException", "Lambda.TooManyRequestsException",
                          "AwsThrottled", "AwsServiceUnavailable"):
                _retrier(definition, name, error)


# --- each rule can fail ----------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(state: str, **fields: Any) -> Mutation:
    return lambda d: d[S][state].update(fields)


def _drop(state: str, field: str) -> Mutation:
    return lambda d: d[S][state].pop(field)


def _retrier_field(state: str, index: int, **fields: Any) -> Mutation:
    return lambda d: d[S][state]["Retry"][index].update(fields)


def _rename_state(old: str, new: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        d[S][new] = d[S].pop(old)
    return mutate


BROKEN: list[tuple[str, Mutation, Callable, str]] = [
    # (id, mutation, rule, expected fragment of the problem)
    ("jsonata-query-language", lambda d: d.update(QueryLanguage="JSONata"), asl_rules.check_jsonpath_only, "QueryLanguage"),
    ("assign", _set("Init", Assign={"x.$": "$"}), asl_rules.check_jsonpath_only, "Assign"),
    ("jsonata-expression", _set("Wait for job", SecondsPath="{% $states.input.poll %}"), asl_rules.check_jsonpath_only, "JSONata expression"),
    ("arguments", _set("Check database", Arguments={"a": 1}), asl_rules.check_jsonpath_only, "Arguments"),
    ("next-nowhere", _set("Launch job", Next="Launch the job"), asl_rules.check_graph, "no such state"),
    ("default-nowhere", _set("Job over?", Default="Wait"), asl_rules.check_graph, "no such state"),
    ("catch-nowhere", lambda d: d[S]["Check job"]["Catch"][0].update(Next="Cleanup"), asl_rules.check_graph, "no such state"),
    ("unreachable", _set("Describe failure", Next="Run failed"), asl_rules.check_graph, "unreachable"),
    ("orphan-state", lambda d: d[S].update({"Spare": {"Type": "Succeed"}}), asl_rules.check_graph, "'Spare' is unreachable"),
    ("start-nowhere", lambda d: d.update(StartAt="Begin"), asl_rules.check_graph, "StartAt"),
    ("dead-end", _drop("Begin workers", "Next"), asl_rules.check_graph, "without Next"),
    ("long-name", _rename_state("Done", "D" * 81), asl_rules.check_graph, "80 characters"),
    ("task-without-retry", _drop("Launch job", "Retry"), asl_rules.check_tasks, "without Retry"),
    ("task-without-timeout", _drop("Stop workers", "TimeoutSeconds"), asl_rules.check_tasks, "TimeoutSeconds"),
    ("heartbeat", _set("Check job", HeartbeatSeconds=10), asl_rules.check_tasks, "HeartbeatSeconds"),
    ("task-without-catch", _drop("Start workers", "Catch"), asl_rules.check_tasks, "without Catch"),
    ("retrier-without-backoff", lambda d: d[S]["Check job"]["Retry"][0].pop("BackoffRate"), asl_rules.check_retriers, "missing BackoffRate"),
    ("retrier-without-max-delay", lambda d: d[S]["Cleanup: stop workers"]["Retry"][1].pop("MaxDelaySeconds"), asl_rules.check_retriers, "missing MaxDelaySeconds"),
    ("retrier-jitter-none", _retrier_field("Stop database", 2, JitterStrategy="NONE"), asl_rules.check_retriers, "FULL"),
    ("retrier-without-jitter", lambda d: d[S]["Start workers"]["Retry"][2].pop("JitterStrategy"), asl_rules.check_retriers, "missing JitterStrategy"),
    ("happy-retries-fatal", lambda d: d[S]["Check job"]["Retry"][1]["ErrorEquals"].append("JobTimeout"), asl_rules.check_retriers, "must not retry JobTimeout"),
    ("happy-retries-all", lambda d: d[S]["Launch job"]["Retry"].append(dict(d[S]["Launch job"]["Retry"][0], ErrorEquals=["States.ALL"])), asl_rules.check_retriers, "must not retry States.ALL"),
    ("happy-retries-task-failed", lambda d: d[S]["Stop workers"]["Retry"][0]["ErrorEquals"].append("States.TaskFailed"), asl_rules.check_retriers, "must not retry States.TaskFailed"),
    ("all-not-last", lambda d: d[S]["Cleanup: stop database"]["Retry"].insert(0, dict(d[S]["Cleanup: stop database"]["Retry"][0], ErrorEquals=["States.ALL"])), asl_rules.check_retriers, "alone and last"),
    ("no-cleanup-catch", lambda d: d[S]["Check job"]["Catch"][0].update(ErrorEquals=["JobFailed"]), asl_rules.check_catches, "States.ALL to cleanup"),
    ("catch-replaces-document", lambda d: d[S]["Launch job"]["Catch"][0].pop("ResultPath"), asl_rules.check_catches, "ResultPath"),
    ("catch-other-path", lambda d: d[S]["Publish metrics"]["Catch"][0].update(ResultPath="$.failed"), asl_rules.check_catches, "must write $.error"),
    ("late-skip-cleanup", lambda d: d[S]["Check job"]["Catch"].insert(0, {"ErrorEquals": ["InvalidInput"], "ResultPath": "$.error", "Next": "Run failed"}), asl_rules.check_catches, "only the first Task"),
    ("first-skips-cleanup-too-often", lambda d: d[S]["Check database"]["Catch"][0]["ErrorEquals"].append("RdsReadyTimeout"), asl_rules.check_catches, "only the first Task"),
    ("cleanup-catch-stops", lambda d: d[S]["Cleanup: stop workers"]["Catch"][0].update(Next="Cleanup failed?"), asl_rules.check_catches, "must go on"),
    ("cleanup-catch-clobbers-error", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(ResultPath="$.error"), asl_rules.check_catches, "cleanupErrors"),
    ("cleanup-catch-shared-path", lambda d: d[S]["Cleanup: publish metrics"]["Catch"][0].update(ResultPath="$.cleanupErrors.stopDatabase"), asl_rules.check_catches, "both write"),
    ("cleanup-catch-partial", lambda d: d[S]["Cleanup: publish metrics"]["Catch"][0].update(ErrorEquals=["States.TaskFailed"]), asl_rules.check_catches, "catches States.ALL"),
    ("loop-without-exit", lambda d: d[S]["Database ready?"]["Choices"][0].update(Next="Wait for database"), asl_rules.check_loops, "a Choice with a way out"),
    ("loop-without-deadline-owner", _set("Check job", Type="Pass"), asl_rules.check_loops, "a Lambda Task"),
    ("loop-catch-stays-in-loop", lambda d: d[S]["Start workers"]["Catch"][0].update(Next="Wait for workers"), asl_rules.check_loops, "a Lambda Task"),
    ("wait-outside-loop", lambda d: (d[S].update({"Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"}}), d[S]["Publish metrics"].update(Next="Pause")), asl_rules.check_loops, "outside a poll loop"),
    ("fail-fixed-error", _set("Run failed", Error="States.TaskFailed"), asl_rules.check_fail_states, "fixed Error"),
    ("fail-without-error-path", _drop("Run failed (cleanup incomplete)", "ErrorPath"), asl_rules.check_fail_states, "needs ErrorPath"),
    ("fail-other-cause", _set("Run failed", CausePath="$.error"), asl_rules.check_fail_states, "CausePath"),
    ("describe-loses-error", lambda d: d[S]["Describe failure"]["Parameters"].update({"error.$": "$.cleanupErrors.stopWorkers.Error"}), asl_rules.check_fail_states, "not the original"),
    ("workers-marked-late", lambda d: d[S]["Database ready?"]["Choices"][0].update(Next="Start workers"), asl_rules.check_workers_marked_first, "before $.workers"),
]


@pytest.mark.parametrize("mutation, check, fragment", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_rule_catches_a_broken_copy(definition: dict[str, Any], mutation: Mutation, check: Callable, fragment: str) -> None:
    assert check(definition) == []
    mutation(definition)
    problems = check(definition)
    assert any(fragment in p for p in problems), problems


PLACEHOLDER_BREAKS = [
    ("unknown-key", lambda t: t.replace("${RdsStopFunctionArn}", "${RdsStopFunction}", 1), "unknown placeholder"),
    ("missing-key", lambda t: t.replace("${EmitMetricsFunctionArn}", "arn:aws:lambda:us-east-1:1:function:x"), "never used"),
    ("key-outside-resource", lambda t: t.replace('"ResultPath": "$.job"', '"ResultPath": "$.job", "Parameters": {"fn": "${SsmLaunchFunctionArn}"}'), "outside its documented place"),
    ("worker-ids-elsewhere", lambda t: t.replace('"ResultPath": "$.poll"', '"ResultPath": "$.poll", "Parameters": {"ids": "${WorkerInstanceIds}"}'), "outside its documented place"),
    ("not-json", lambda t: t.replace('"Init",', '"Init"', 1), "not valid JSON"),
]


@pytest.mark.parametrize("mutation, fragment", [b[1:] for b in PLACEHOLDER_BREAKS], ids=[b[0] for b in PLACEHOLDER_BREAKS])
def test_placeholder_rule_catches_a_broken_copy(raw_text: str, mutation: Callable[[str], str], fragment: str) -> None:
    broken = mutation(raw_text)
    assert broken != raw_text
    problems = asl_rules.check_placeholders(broken)
    assert any(fragment in p for p in problems), problems


# --- the README shows this file ------------------------------------------------------


def _flow_section() -> str:
    text = README_PATH.read_text(encoding="utf-8")
    assert "\n## The flow\n" in text, "statemachine/README.md lacks its '## The flow' section"
    return text.split("\n## The flow\n", 1)[1]


def test_readme_diagram_matches_the_file(raw_definition: dict[str, Any]) -> None:
    expected = asl_rules.mermaid(raw_definition)
    assert "```mermaid\n" + expected + "\n```" in _flow_section(), (
        "regenerate the diagram: PYTHONPATH=tests .venv/bin/python tests/asl/render_docs.py")


def test_readme_policy_table_matches_the_file(raw_definition: dict[str, Any]) -> None:
    assert asl_rules.policy_table(raw_definition) in _flow_section(), (
        "regenerate the table: PYTHONPATH=tests .venv/bin/python tests/asl/render_docs.py")


def test_diagram_shows_every_transition(raw_definition: dict[str, Any]) -> None:
    diagram = asl_rules.mermaid(raw_definition)
    edges = [line for line in diagram.splitlines()
             if ("-->" in line or "-.->" in line) and "start((" not in line]
    expected = sum(len(asl_rules.transitions(s)) for s in raw_definition[S].values())
    assert len(edges) == expected


# --- the error names are the Lambdas' ---------------------------------------------


def _rust_error_names() -> tuple[set[str], set[str]]:
    """(every name, the retryable ones) from functions/core/src/error.rs."""
    source = (REPO_ROOT / "functions" / "core" / "src" / "error.rs").read_text(encoding="utf-8")
    names = set(re.findall(r'Self::(\w+)\s*=>\s*"(\w+)"', source))
    assert names and all(a == b for a, b in names), "error.rs: ErrorName::as_str not found or renamed"
    block = re.search(r"fn is_retryable\(self\) -> bool \{(.*?)\n    \}", source, re.S)
    assert block, "error.rs: ErrorName::is_retryable not found"
    return {a for a, _ in names}, set(re.findall(r"Self::(\w+)", block.group(1)))


def _custom_names(definition: dict[str, Any], field: str) -> set[str]:
    found = set()
    for state in definition[S].values():
        for rule in state.get(field, []):
            found.update(n for n in rule["ErrorEquals"]
                         if not n.startswith(("States.", "Lambda.", "Ec2.", "ec2.")))
    return found


def test_error_names_match_the_lambdas(definition: dict[str, Any]) -> None:
    every, retryable = _rust_error_names()
    assert every - retryable == asl_rules.FATAL_ERRORS
    assert _custom_names(definition, "Retry") == retryable
    assert _custom_names(definition, "Catch") <= every
