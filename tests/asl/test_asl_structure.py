"""Structural rules on the definition (pure Python, no AWS, no engine).

Every rule runs on the real file and must find nothing; then each rule runs on
a copy broken on purpose and must report it, so no rule is vacuous.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
import re
from collections.abc import Callable
from typing import Any

import pytest

import asl_rules
from asl_harness import README_PATH, REPO_ROOT, WORKER_IDS
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
    assert sandbox_definition.FUNCTION_KEYS == asl_rules.PLACEHOLDER_FUNCTIONS
    assert sandbox_definition.WORKER_IDS_KEY == asl_rules.WORKER_IDS_PLACEHOLDER
    assert sandbox_definition.LEASE_TABLE_KEY == asl_rules.LEASE_TABLE_PLACEHOLDER
    assert sandbox_definition.ALARM_TOPIC_KEY == asl_rules.ALARM_TOPIC_PLACEHOLDER
    assert set(sandbox_definition.substitutions(WORKER_IDS)) == asl_rules.ALL_PLACEHOLDERS


def test_rendering_leaves_no_placeholder(definition: dict[str, Any]) -> None:
    assert "${" not in json.dumps(definition)


def _follows(definition: dict[str, Any], chain: list[str], *, catches: bool = False) -> None:
    for before, after in zip(chain, chain[1:]):
        assert after in asl_rules.successors(definition, before, catches=catches), (before, after)


# A run's normal path with one lap of each poll loop.
NORMAL_PATH = [
    "Init", "Which mode?", "Take lease", "Check database", "DB found recorded?", "Record DB found",
    "Database ready?", "Begin workers", "Start workers", "Workers found recorded?", "Record workers found",
    "Workers ready?", "Launch job", "Check job", "Job over?", "Stop workers?", "Stop workers", "Workers stopped?",
    "Stop database", "Database stopped?", "Publish metrics", "Release lease", "Done",
]
EMIT_METRICS = REPO_ROOT / "functions" / "emit_metrics" / "src" / "handler.rs"


def test_emit_metrics_counts_the_transitions_of_this_path(definition: dict[str, Any]) -> None:
    """emit_metrics estimates a run's Step Functions transitions (its cost) from
    the states of the normal path; its constant and its list must be this file's."""
    source = EMIT_METRICS.read_text(encoding="utf-8")
    constant = re.search(r"pub const RUN_STATES_WITH_ONE_LAP: u32 = (\d+);", source)
    assert constant, "RUN_STATES_WITH_ONE_LAP not found in emit_metrics"
    assert int(constant.group(1)) == len(NORMAL_PATH)
    # The doc comment above it names the same states in the same order.
    comment = source[:constant.start()].rsplit("\n\n", 1)[-1]
    words = " ".join(line.strip().removeprefix("///").strip() for line in comment.splitlines())
    positions = [words.find(name) for name in NORMAL_PATH]
    assert -1 not in positions and positions == sorted(positions), dict(zip(NORMAL_PATH, positions))
    assert set(NORMAL_PATH) <= set(definition[S])


def test_the_flow_is_the_designed_one(definition: dict[str, Any]) -> None:
    """The named steps, in order, as the design describes them."""
    states = definition[S]
    _follows(definition, NORMAL_PATH)
    _follows(definition, ["Which mode?", "Dry run?", "Check database"])
    _follows(definition, ["Take lease", "Read lease", "Lease still held?", "Describe lease holder", "Holder running?",
                          "Skip: run in progress", "Publish skip", "Skipped"], catches=True)
    _follows(definition, ["Holder running?", "Skip: cleanup pending", "Publish skip"])
    _follows(definition, ["Which mode?", "Cleanup run: valid input?", "Cleanup run: did it end?",
                          "Cleanup run: ended?", "Cleanup run: take over lease", "Cleanup run: begin",
                          "Cleanup: stop workers?"])
    _follows(definition, ["Which mode?", "Sweep: valid input?", "Sweep: take lease", "Cleanup run: begin"])
    _follows(definition, ["Sweep: take lease", "Sweep: read lease", "Sweep: lease still held?", "Sweep: describe holder",
                          "Sweep: holder running?", "Sweep: take over lease", "Cleanup run: begin"], catches=True)
    assert definition["StartAt"] == "Init"
    # The file's own timeout (the sandbox's, and the CDK's placeholder) must
    # outlast the default deadlines a run can legitimately spend: the DB and
    # workers ready, the job, the DB stop, and the worker stop (up to
    # EC2_READY_TIMEOUT_SECONDS from its first try; the cleanup's stop goes
    # on with the same first try, as the CDK's derived timeout counts it).
    settings = json.loads((Path(__file__).resolve().parents[2] / "functions" / "core" / "settings.json").read_text())
    deadlines = sum(settings["environment"][v]["default"] for v in (
        "RDS_READY_TIMEOUT_SECONDS", "EC2_READY_TIMEOUT_SECONDS", "JOB_TIMEOUT_MAX_SECONDS", "RDS_STOP_DEADLINE_SECONDS",
        "EC2_READY_TIMEOUT_SECONDS"))
    assert definition["TimeoutSeconds"] > deadlines and definition["Comment"]
    assert asl_rules.mode_entries(definition) == {"cleanupAfter": "Cleanup run: valid input?",
                                                  "sweep": "Sweep: valid input?"}
    loops = {"Check database": ("Database ready?", "Wait for database", "$.rds"),
             "Start workers": ("Workers ready?", "Wait for workers", "$.ec2"),
             "Check job": ("Job over?", "Wait for job", "$.poll"),
             "Stop workers": ("Workers stopped?", "Wait for workers to stop", "$.workersStop"),
             "Cleanup: stop workers": ("Cleanup: workers stopped?", "Cleanup: wait for workers to stop", "$.workersStop"),
             "Stop database": ("Database stopped?", "Wait for database stop", "$.rdsStop"),
             "Cleanup: stop database": ("Cleanup: database stopped?", "Cleanup: wait for database stop", "$.rdsStop")}
    component = asl_rules.strongly_connected(definition)
    for task, (choice, wait, block) in loops.items():
        assert states[task]["ResultPath"] == block
        assert states[choice]["Default"] == wait
        assert states[wait]["SecondsPath"] == f"{block}.retryAfterSeconds"
        assert states[wait]["Next"] == task
        assert {task, choice, wait} <= component[task]
        assert asl_rules.deadline_owner(definition, task)
    # The two DB stop loops leave on $.rdsStop.done; the cleanup one's failure
    # is recorded and cleanup goes on with the metrics, as when it leaves.
    for task, choice, leaves_to in (("Stop database", "Database stopped?", "Publish metrics"),
                                    ("Cleanup: stop database", "Cleanup: database stopped?", "Cleanup: publish metrics")):
        assert states[task]["Next"] == choice and component[task] == {task, choice, loops[task][1]}
        assert states[choice]["Choices"] == [{"Variable": "$.rdsStop.done", "BooleanEquals": True, "Next": leaves_to}]
    assert states["Cleanup: stop database"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanupErrors.stopDatabase", "Next": "Cleanup: publish metrics"}]
    assert asl_rules.loop_exits(definition, "Cleanup: stop database") == {"Cleanup: publish metrics"}
    # The two worker stop loops (poll_ec2_state, action stopWorkers) leave on
    # $.workersStop.done to the DB stop; a failure goes to cleanup from the
    # normal flow, and is recorded in cleanup, which goes on with the DB.
    for task, choice, leaves_to in (("Stop workers", "Workers stopped?", "Stop database"),
                                    ("Cleanup: stop workers", "Cleanup: workers stopped?", "Cleanup: stop database")):
        assert states[task]["Next"] == choice and component[task] == {task, choice, loops[task][1]}
        assert states[choice]["Choices"] == [{"Variable": "$.workersStop.done", "BooleanEquals": True, "Next": leaves_to}]
        assert states[task]["Parameters"] == {"action": "stopWorkers", "state.$": "$"}
        assert asl_rules.lambda_step(states[task]) == ("poll_ec2_state", "stopWorkers")
        assert asl_rules.deadline_error(states[task]) == "Ec2StopTimeout"
    assert states["Stop workers"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Cleanup: stop workers?"}]
    assert states["Cleanup: stop workers"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.cleanupErrors.stopWorkers", "Next": "Cleanup: stop database"}]
    assert asl_rules.loop_exits(definition, "Cleanup: stop workers") == {"Cleanup: stop database"}
    # Retried like the other Lambda steps: the main stop like the job poll, the
    # cleanup one like the cleanup DB stop without RdsNotStoppableYet.
    assert states["Stop workers"]["Retry"] == states["Check job"]["Retry"]
    assert states["Cleanup: stop workers"]["Retry"] == [
        r for r in states["Cleanup: stop database"]["Retry"] if r["ErrorEquals"] != ["RdsNotStoppableYet"]]
    # The job poll is the same function's default step: the whole document, JobTimeout.
    assert "Parameters" not in states["Check job"]
    assert asl_rules.deadline_error(states["Check job"]) == "JobTimeout"
    # What ec2_start found is recorded once in the lease, like what rds_check found.
    assert states["Workers found recorded?"]["Choices"] == [
        {"Or": [{"Variable": "$.leaseRecord.workers", "IsPresent": True},
                {"Variable": "$.ec2.dryRun", "BooleanEquals": True}], "Next": "Workers ready?"}]
    assert states["Workers found recorded?"]["Default"] == "Record workers found"
    record, record_db = states["Record workers found"], states["Record DB found"]
    assert record["Parameters"]["UpdateExpression"] == \
        "SET workersFoundRunning = if_not_exists(workersFoundRunning, :found)"
    assert record["Parameters"]["ConditionExpression"] == record_db["Parameters"]["ConditionExpression"] \
        == "executionArn = :me"
    assert record["Parameters"]["ExpressionAttributeValues"] == {
        ":found": {"S.$": "States.JsonToString($.ec2.foundRunning)"}, ":me": {"S.$": "$$.Execution.Id"}}
    assert record["ResultSelector"] == {"recorded": True} and record["ResultPath"] == "$.leaseRecord.workers"
    assert record["Retry"] == record_db["Retry"]
    assert record["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.leaseRecordError",
                                "Next": "Workers ready?"}] and record["Next"] == "Workers ready?"
    split = "States.StringSplit('i-0123456789abcdef0,i-0fedcba9876543210', ',')"
    assert states["Begin workers"]["Parameters"]["instanceIds.$"] == split
    assert states["Cleanup run: begin"]["Parameters"] == {"instanceIds.$": split, "dryRun": False}
    expected_resources = {
        "Check database": "rds_check", "Start workers": "ec2_start", "Launch job": "ssm_launch",
        "Check job": "poll_ec2_state", "Stop database": "rds_stop", "Publish metrics": "emit_metrics",
        "Cleanup: stop database": "rds_stop", "Cleanup: publish metrics": "emit_metrics",
        "Publish skip": "emit_metrics", "Stop workers": "poll_ec2_state", "Cleanup: stop workers": "poll_ec2_state",
    }
    for name, function in expected_resources.items():
        assert states[name]["Resource"] == f"arn:aws:lambda:us-east-1:123456789012:function:{function}:1", "a published version, as deployed"
        assert states[name]["TimeoutSeconds"] == 30
    for name in ("Stop workers", "Cleanup: stop workers"):
        assert states[name]["Resource"] == states["Check job"]["Resource"]
        assert states[name]["Parameters"] == {"action": "stopWorkers", "state.$": "$"}
        assert states[name]["ResultPath"] == "$.workersStop"
        assert states[name]["TimeoutSeconds"] == 30
        assert "ResultSelector" not in states[name]  # the function's block as it answers it
    # No state writes the old StopInstances answer any more, and no Task calls EC2 itself.
    assert not [n for n, s in states.items() if s.get("ResultPath") == "$.ec2Stop"]
    assert not [n for n, s in states.items() if ":ec2:" in s.get("Resource", "")]
    lease_tasks = {
        "Take lease": "putItem", "Read lease": "getItem", "Record DB found": "updateItem",
        "Record workers found": "updateItem",
        "Release lease": "deleteItem", "Cleanup: release lease": "deleteItem",
        "Cleanup run: take over lease": "updateItem", "Sweep: take lease": "putItem",
        "Sweep: read lease": "getItem", "Sweep: take over lease": "updateItem",
    }
    for name, action in lease_tasks.items():
        assert states[name]["Resource"] == f"arn:aws:states:::dynamodb:{action}"
        assert states[name]["Parameters"]["TableName"] == sandbox_definition.LEASE_TABLE_NAME
        assert states[name]["TimeoutSeconds"] == 20
    for name in ("Read lease", "Sweep: read lease"):
        assert states[name]["Parameters"]["ConsistentRead"] is True
    for name in ("Describe lease holder", "Sweep: describe holder", "Cleanup run: did it end?"):
        assert states[name]["Resource"] == "arn:aws:states:::aws-sdk:sfn:describeExecution"
    assert asl_rules.lease_takers(definition) == {"Take lease", "Cleanup run: take over lease", "Sweep: take lease",
                                                  "Sweep: take over lease"}
    assert asl_rules.lease_releases(definition) == {"Release lease", "Cleanup: release lease"}
    cleanup = ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: workers stopped?", "Cleanup: stop database",
               "Cleanup: database stopped?", "Cleanup: publish metrics", "Cleanup: notify?", "Cleanup: notify",
               "Cleanup complete?", "Cleanup: release lease", "After cleanup",
               "Cleanup failed?"]
    assert asl_rules.cleanup_entries(definition) == {"Cleanup: stop workers?"}
    _follows(definition, cleanup, catches=True)
    _follows(definition, ["After cleanup", "Cleanup run: result", "Cleanup run: describe failure", "Cleanup run: failed"])
    assert states["Check database"]["Catch"][0]["Next"] == "Cleanup: release lease"


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
        ("Stop workers", "AwsThrottled", (1, 5, 2, 30)),
        ("Stop workers", "Lambda.ServiceException", (1, 4, 2, 20)),
        ("Cleanup: stop workers", "AwsServiceUnavailable", (1, 5, 2, 30)),
        ("Cleanup: stop workers", "Lambda.TooManyRequestsException", (1, 4, 2, 20)),
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
    ("catch-other-path", lambda d: d[S]["Stop database"]["Catch"][-1].update(ResultPath="$.failed"), asl_rules.check_catches, "must write $.error"),
    # the failure notification is best effort: it never changes the outcome nor the lease
    ("notify-catch-writes-error", lambda d: d[S]["Cleanup: notify"]["Catch"][0].update(ResultPath="$.error"), asl_rules.check_catches, "its own key"),
    ("notify-catch-keeps-the-lease", lambda d: d[S]["Cleanup: notify"]["Catch"][0].update(ResultPath="$.cleanupErrors.notify"), asl_rules.check_catches, "its own key"),
    ("notify-failure-skips-the-lease", lambda d: d[S]["Cleanup: notify"]["Catch"][0].update(Next="After cleanup"), asl_rules.check_catches, "goes on to 'Cleanup complete?'"),
    ("notify-without-throttling-retry", lambda d: d[S]["Cleanup: notify"]["Retry"][0]["ErrorEquals"].remove("SNS.ThrottledException"), asl_rules.check_service_retries, "must retry SNS.ThrottledException"),
    ("notify-retries-all", lambda d: d[S]["Cleanup: notify"]["Retry"][0]["ErrorEquals"].append("Lambda.ServiceException"), asl_rules.check_service_retries, "a name of another service"),
    # metrics are best effort: a failure of emit_metrics never sends a run into cleanup, nor fails its cleanup
    ("metrics-failure-cleans-up-again", lambda d: d[S]["Publish metrics"]["Catch"][0].update(Next="Cleanup: stop workers?", ResultPath="$.error"), asl_rules.check_catches, "'Publish metrics': a best-effort step goes on to 'Release lease'"),
    ("cleanup-metrics-failure-keeps-the-lease", lambda d: d[S]["Cleanup: publish metrics"]["Catch"][0].update(ResultPath="$.cleanupErrors.publishMetrics"), asl_rules.check_catches, "its own key"),
    ("late-skip-cleanup", lambda d: d[S]["Check job"]["Catch"].insert(0, {"ErrorEquals": ["InvalidInput"], "ResultPath": "$.error", "Next": "Run failed"}), asl_rules.check_catches, "only the first Lambda Task"),
    ("first-skips-cleanup-too-often", lambda d: d[S]["Check database"]["Catch"][0]["ErrorEquals"].append("RdsReadyTimeout"), asl_rules.check_catches, "only the first Lambda Task"),
    ("first-skips-to-a-stop", lambda d: d[S]["Check database"]["Catch"][0].update(Next="Cleanup: publish metrics"), asl_rules.check_catches, "only the first Lambda Task"),
    ("cleanup-catch-stops", lambda d: d[S]["Cleanup: stop workers"]["Catch"][0].update(Next="Cleanup failed?"), asl_rules.check_catches, "must go on"),
    ("cleanup-catch-clobbers-error", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(ResultPath="$.error"), asl_rules.check_catches, "cleanupErrors"),
    ("cleanup-catch-shared-path", lambda d: d[S]["Cleanup: publish metrics"]["Catch"][0].update(ResultPath="$.cleanupErrors.stopDatabase"), asl_rules.check_catches, "both write"),
    ("cleanup-catch-partial", lambda d: d[S]["Cleanup: publish metrics"]["Catch"][0].update(ErrorEquals=["States.TaskFailed"]), asl_rules.check_catches, "catches States.ALL"),
    ("loop-without-exit", lambda d: d[S]["Database ready?"]["Choices"][0].update(Next="Wait for database"), asl_rules.check_loops, "a Choice with a way out"),
    ("loop-without-deadline-owner", _set("Check job", Type="Pass"), asl_rules.check_loops, "a Lambda Task"),
    ("loop-catch-stays-in-loop", lambda d: d[S]["Start workers"]["Catch"][0].update(Next="Wait for workers"), asl_rules.check_loops, "a Lambda Task"),
    ("wait-outside-loop", lambda d: (d[S].update({"Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"}}), d[S]["Publish metrics"].update(Next="Pause")), asl_rules.check_loops, "outside a poll loop"),
    # the DB stop loops: rds_stop owns their deadline (RdsStopTimeout)
    ("stop-loop-without-exit", lambda d: d[S]["Database stopped?"]["Choices"][0].update(Next="Wait for database stop"), asl_rules.check_loops, "a Choice with a way out"),
    ("cleanup-stop-loop-without-exit", lambda d: d[S]["Cleanup: database stopped?"]["Choices"][0].update(Next="Cleanup: wait for database stop"), asl_rules.check_loops, "a Choice with a way out"),
    ("stop-loop-owned-by-another-lambda", lambda d: d[S]["Stop database"].update(Resource=d[S]["Publish metrics"]["Resource"]), asl_rules.check_loops, "a Lambda Task owning a deadline"),
    ("stop-loop-timeout-stays", lambda d: d[S]["Stop database"]["Catch"].insert(0, {"ErrorEquals": ["RdsStopTimeout"], "ResultPath": "$.error", "Next": "Wait for database stop"}), asl_rules.check_loops, "a Lambda Task owning a deadline"),
    ("cleanup-stop-catch-polls-again", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(Next="Cleanup: database stopped?"), asl_rules.check_loops, "a Lambda Task owning a deadline"),
    ("cleanup-stop-catch-to-the-choice", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(Next="Cleanup: database stopped?"), asl_rules.check_catches, "must go on to 'Cleanup: publish metrics' (where its poll loop goes on)"),
    ("cleanup-stop-catch-choice-unguarded", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(Next="Cleanup: database stopped?"), asl_rules.check_paths_present, "reads $.rdsStop.done, which may be absent"),
    ("cleanup-stop-catch-leaves-cleanup", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(Next="Cleanup failed?"), asl_rules.check_catches, "'Cleanup: stop database': a failed cleanup step must go on to 'Cleanup: publish metrics'"),
    ("cleanup-stop-catch-skips-metrics", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(Next="Cleanup complete?"), asl_rules.check_catches, "must go on to 'Cleanup: publish metrics'"),
    ("cleanup-stop-catch-into-the-run", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(Next="Publish metrics"), asl_rules.check_catches, "'Publish metrics' is both on the normal flow and in cleanup"),
    ("cleanup-stop-catch-loses-key", lambda d: d[S]["Cleanup: stop database"]["Catch"][0].update(ResultPath="$.rdsStopError"), asl_rules.check_catches, "cleanup errors go under $.cleanupErrors."),
    ("cleanup-stop-loop-two-ways-out", lambda d: d[S]["Cleanup: database stopped?"]["Choices"].append({"Variable": "$.rdsStop.action", "StringEquals": "notFound", "Next": "Cleanup complete?"}), asl_rules.check_catches, "must have one way out"),
    ("stop-retries-its-deadline", lambda d: d[S]["Stop database"]["Retry"][1]["ErrorEquals"].append("RdsStopTimeout"), asl_rules.check_retriers, "must not retry RdsStopTimeout"),
    ("launch-retries-the-window", lambda d: d[S]["Launch job"]["Retry"][1]["ErrorEquals"].append("LaunchWindowMissed"), asl_rules.check_retriers, "must not retry LaunchWindowMissed"),
    ("first-skips-cleanup-past-the-window", lambda d: d[S]["Check database"]["Catch"][0]["ErrorEquals"].append("LaunchWindowMissed"), asl_rules.check_catches, "only the first Lambda Task"),
    ("fail-fixed-error", _set("Run failed", Error="States.TaskFailed"), asl_rules.check_fail_states, "fixed Error"),
    ("fail-without-error-path", _drop("Run failed (cleanup incomplete)", "ErrorPath"), asl_rules.check_fail_states, "needs ErrorPath"),
    ("fail-other-cause", _set("Run failed", CausePath="$.error"), asl_rules.check_fail_states, "CausePath"),
    ("describe-loses-error", lambda d: d[S]["Describe failure"]["Parameters"].update({"error.$": "$.cleanupErrors.stopWorkers.Error"}), asl_rules.check_fail_states, "not the original"),
    ("workers-marked-late", lambda d: d[S]["Database ready?"]["Choices"][0].update(Next="Start workers"), asl_rules.check_workers_marked_first, "before $.workers"),
    # the lease, the modes, the skip (rules adapted or added with the run lease)
    ("mode-dangling", _set("Sweep: holder running?", Default="Sweep: take over"), asl_rules.check_graph, "no such state"),
    ("retries-conditional-check", lambda d: d[S]["Take lease"]["Retry"][0]["ErrorEquals"].append("DynamoDB.ConditionalCheckFailedException"), asl_rules.check_retriers, "must not retry DynamoDB.ConditionalCheckFailedException"),
    ("retries-holder-gone", lambda d: d[S]["Sweep: describe holder"]["Retry"][0]["ErrorEquals"].append("Sfn.ExecutionDoesNotExistException"), asl_rules.check_retriers, "an expected branch"),
    ("cleanup-release-retries-task-failed", lambda d: d[S]["Cleanup: release lease"]["Retry"].append(dict(d[S]["Cleanup: release lease"]["Retry"][0], ErrorEquals=["States.TaskFailed"])), asl_rules.check_retriers, "a wildcard would retry"),
    ("mode-retries-task-failed", lambda d: d[S]["Cleanup run: did it end?"]["Retry"][0]["ErrorEquals"].append("States.TaskFailed"), asl_rules.check_retriers, "outside cleanup, must not retry States.TaskFailed"),
    ("lease-retries-fatal", lambda d: d[S]["Read lease"]["Retry"][0]["ErrorEquals"].append("AccessDenied"), asl_rules.check_retriers, "must not retry AccessDenied"),
    ("dynamodb-without-throttling", lambda d: d[S]["Release lease"]["Retry"][0]["ErrorEquals"].remove("DynamoDB.ThrottlingException"), asl_rules.check_service_retries, "must retry DynamoDB.ThrottlingException"),
    ("sfn-without-throttling", lambda d: d[S]["Describe lease holder"]["Retry"][0].update(ErrorEquals=["Sfn.SdkClientException"]), asl_rules.check_service_retries, "must retry Sfn.ThrottlingException"),
    ("dynamodb-retries-lambda-name", lambda d: d[S]["Take lease"]["Retry"][0]["ErrorEquals"].append("Lambda.ServiceException"), asl_rules.check_service_retries, "a name of another service"),
    ("sfn-retries-dynamodb-name", lambda d: d[S]["Cleanup run: did it end?"]["Retry"][0]["ErrorEquals"].append("DynamoDB.ThrottlingException"), asl_rules.check_service_retries, "a name of another service"),
    ("dynamodb-retries-custom-name", lambda d: d[S]["Record DB found"]["Retry"][0]["ErrorEquals"].append("AwsThrottled"), asl_rules.check_service_retries, "a Lambda's error name"),
    ("lambda-without-service-errors", lambda d: d[S]["Publish skip"]["Retry"].pop(0), asl_rules.check_service_retries, "must retry Lambda.ServiceException"),
    # An aws-sdk EC2 Task (as the workers' stop once was) must retry EC2's transient name, and no Lambda's.
    ("ec2-without-ec2-errors", lambda d: (d[S]["Stop workers"].update(Resource="arn:aws:states:::aws-sdk:ec2:stopInstances", Parameters={"InstanceIds.$": "$.workers.instanceIds"}), d[S]["Stop workers"]["Retry"][0].update(ErrorEquals=["Ec2.SdkClientException"])), asl_rules.check_service_retries, "must retry Ec2.Ec2Exception"),
    ("ec2-retries-lambda-names", lambda d: d[S]["Cleanup: stop workers"].update(Resource="arn:aws:states:::aws-sdk:ec2:stopInstances", Parameters={"InstanceIds.$": "$.workers.instanceIds"}), asl_rules.check_service_retries, "retries AwsThrottled, a Lambda's error name"),
    ("lambda-without-aws-throttled", lambda d: d[S]["Stop workers"]["Retry"].pop(1), asl_rules.check_service_retries, "must retry AwsThrottled"),
    ("lambda-without-aws-unavailable", lambda d: d[S]["Cleanup: stop workers"]["Retry"][1]["ErrorEquals"].remove("AwsServiceUnavailable"), asl_rules.check_service_retries, "must retry AwsServiceUnavailable"),
    ("unknown-integration", _set("Publish skip", Resource="arn:aws:states:::sqs:sendMessage"), asl_rules.check_service_retries, "unknown integration"),
    ("best-effort-fails-the-run", lambda d: d[S]["Record DB found"]["Catch"][0].update(Next="Cleanup: stop workers?"), asl_rules.check_catches, "a best-effort step goes on"),
    ("best-effort-clobbers-error", lambda d: d[S]["Release lease"]["Catch"][0].update(ResultPath="$.error"), asl_rules.check_catches, "its own key"),
    ("best-effort-into-cleanup-errors", lambda d: d[S]["Cleanup: release lease"]["Catch"][0].update(ResultPath="$.cleanupErrors.releaseLease"), asl_rules.check_catches, "its own key"),
    ("best-effort-partial", lambda d: d[S]["Publish skip"]["Catch"].insert(0, {"ErrorEquals": ["Lambda.ServiceException"], "ResultPath": "$.metricsError", "Next": "Skipped"}), asl_rules.check_catches, "catches States.ALL, once"),
    ("best-effort-gone", _rename_state("Record DB found", "Record what the DB was"), asl_rules.check_catches, "does not exist"),
    ("lease-failure-into-cleanup", lambda d: d[S]["Take lease"]["Catch"][1].update(Next="Cleanup: stop workers?"), asl_rules.check_catches, "before anything started"),
    ("lease-failure-loses-error", lambda d: d[S]["Read lease"]["Catch"][0].update(ResultPath="$.leaseError"), asl_rules.check_catches, "must write $.error"),
    ("lease-without-catch-all", lambda d: d[S]["Take lease"]["Catch"].pop(), asl_rules.check_catches, "last Catch must be States.ALL"),
    ("mode-without-catch-all", lambda d: d[S]["Sweep: take over lease"]["Catch"].pop(), asl_rules.check_catches, "last Catch must be States.ALL"),
    ("side-task-after-start", lambda d: (d[S].update({"Note": dict(d[S]["Read lease"], Next="Cleanup: stop workers?")}), d[S]["Start workers"]["Catch"].insert(0, {"ErrorEquals": ["Ec2InsufficientCapacity"], "ResultPath": "$.error", "Next": "Note"})), asl_rules.check_catches, "neither on the normal flow"),
    ("lease-race-success-loops", _set("Take lease", Next="Read lease"), asl_rules.check_loops, "or a lost lease race"),
    ("lease-race-other-error-loops", lambda d: d[S]["Sweep: take lease"]["Catch"][0]["ErrorEquals"].append("DynamoDB.ThrottlingException"), asl_rules.check_loops, "or a lost lease race"),
    ("lease-loop-without-exit", _set("Lease still held?", Default="Take lease"), asl_rules.check_loops, "a Choice with a way out"),
    ("run-overwrites-error", lambda d: d[S]["Cleanup failed?"]["Choices"][0].update(Next="Cleanup run: describe failure"), asl_rules.check_fail_states, "would replace the original error"),
    ("mode-fail-without-cause", _drop("Invalid input", "Cause"), asl_rules.check_fail_states, "needs an Error"),
    ("run-fail-fixed", _set("Run failed", Error="LeaseUnavailable"), asl_rules.check_fail_states, "fixed Error"),
    ("sweep-unmarked-workers", _set("Sweep: take lease", Next="Cleanup: stop workers?"), asl_rules.check_workers_marked_first, "before $.workers"),
    ("run-ends-holding-lease", _set("Publish metrics", Next="Done"), asl_rules.check_lease_released, "can end without releasing it"),
    ("cleanup-skips-release", _set("Cleanup complete?", Default="After cleanup"), asl_rules.check_lease_released, "can end without releasing it"),
    ("invalid-input-keeps-lease", lambda d: d[S]["Check database"]["Catch"][0].update(Next="Run failed"), asl_rules.check_lease_released, "can end without releasing it"),
    ("skip-after-taking", lambda d: d[S]["Database ready?"].update(Default="Skip: run in progress"), asl_rules.check_lease_released, "can end without releasing it"),
    ("sweep-ends-holding-lease", _set("Sweep: take lease", Next="Sweep: a run holds the lease"), asl_rules.check_lease_released, "'Sweep: take lease' takes the lease"),
    ("release-is-a-read", _set("Release lease", Resource="arn:aws:states:::dynamodb:getItem"), asl_rules.check_lease_released, "'Take lease' takes the lease"),
    ("keep-lease-other-rule", lambda d: d[S]["Cleanup complete?"]["Choices"][0].update(Variable="$.leaseReleaseError"), asl_rules.check_lease_released, "must be a Choice with the rule"),
    ("no-lease-taken", lambda d: [d[S][n]["Parameters"]["Item"].pop("executionArn") for n in ("Take lease", "Sweep: take lease")] and [d[S][n]["Parameters"].update(UpdateExpression="SET heldBy = :name") for n in ("Cleanup run: take over lease", "Sweep: take over lease")], asl_rules.check_lease_released, "no state takes the run lease"),
    ("run-without-lease", _set("Which mode?", Default="Check database"), asl_rules.check_starts_need_lease, "without the lease or a dry run"),
    ("dry-run-false-skips-lease", lambda d: d[S]["Dry run?"]["Choices"][0]["And"][1].update(BooleanEquals=False), asl_rules.check_starts_need_lease, "'Check database' can start something"),
    ("holder-gone-starts", lambda d: d[S]["Describe lease holder"]["Catch"][0].update(Next="Check database"), asl_rules.check_starts_need_lease, "without the lease"),
    ("sweep-lease-starts", _set("Sweep: take lease", Next="Check database"), asl_rules.check_starts_need_lease, "'Check database' can start something"),
    ("lease-failure-starts-workers", lambda d: d[S]["Take lease"]["Catch"][1].update(Next="Begin workers"), asl_rules.check_starts_need_lease, "'Start workers' can start something"),
    ("sweep-starts-workers", _set("Cleanup run: begin", Next="Begin workers"), asl_rules.check_modes, "mode reaches 'Start workers'"),
    ("sweep-falls-into-a-run", lambda d: d[S]["Sweep: lease still held?"]["Choices"][0].update(Next="Take lease"), asl_rules.check_modes, "the sweep mode reaches 'Check database'"),
    ("cleanup-polls-the-job", lambda d: d[S]["Cleanup run: ended?"]["Choices"][0].update(Next="Check job"), asl_rules.check_modes, "the cleanupAfter mode reaches 'Check job'"),
    ("cleanup-launches", lambda d: d[S]["Cleanup run: take over lease"]["Catch"][1].update(Next="Launch job"), asl_rules.check_modes, "reaches 'Launch job'"),
    ("no-sweep-dispatch", lambda d: d[S]["Which mode?"]["Choices"].pop(1), asl_rules.check_modes, "{$.input.sweep IsPresent true}"),
    ("input-overwritten", _set("Record DB found", ResultPath="$.input.db"), asl_rules.check_modes, "written once"),
    ("document-replaced", _drop("Begin workers", "ResultPath"), asl_rules.check_modes, "replaces the whole document"),
    ("output-path-drops-input", _set("Describe lease holder", OutputPath="$.leaseHolder"), asl_rules.check_modes, "OutputPath"),
    ("unconditional-release", lambda d: (d[S]["Release lease"]["Parameters"].pop("ConditionExpression"), d[S]["Release lease"]["Parameters"].pop("ExpressionAttributeValues")), asl_rules.check_lease_writes, "an unconditional deleteItem"),
    ("unconditional-take", lambda d: d[S]["Sweep: take lease"]["Parameters"].pop("ConditionExpression"), asl_rules.check_lease_writes, "an unconditional putItem"),
    ("condition-on-another-attribute", lambda d: d[S]["Record DB found"]["Parameters"].update(ConditionExpression="attribute_exists(pk) AND heldBy <> :me"), asl_rules.check_lease_writes, "names neither"),
    ("take-over-any-holder", lambda d: d[S]["Sweep: take over lease"]["Parameters"].update(ConditionExpression="attribute_exists(pk) OR heldBy = :holder"), asl_rules.check_lease_writes, "names neither"),
    ("unused-value", lambda d: d[S]["Sweep: take lease"]["Parameters"].update(ExpressionAttributeValues={":me": {"S.$": "$$.Execution.Id"}}), asl_rules.check_lease_writes, ":me is never used"),
    ("undefined-value", lambda d: d[S]["Take lease"]["Parameters"].update(ConditionExpression="attribute_not_exists(pk) OR executionArn = :self"), asl_rules.check_lease_writes, ":self is not in ExpressionAttributeValues"),
    ("undefined-name", lambda d: d[S]["Cleanup run: take over lease"]["Parameters"].pop("ExpressionAttributeNames"), asl_rules.check_lease_writes, "#mode is not both defined and used"),
    ("another-item", lambda d: d[S]["Release lease"]["Parameters"].update(Key={"pk": {"S": "lease"}}), asl_rules.check_lease_writes, "the lease item's key"),
    ("take-without-holder-name", lambda d: d[S]["Take lease"]["Parameters"]["Item"].pop("heldBy"), asl_rules.check_lease_writes, "without writing heldBy"),
    ("batch-write", _set("Record DB found", Resource="arn:aws:states:::aws-sdk:dynamodb:batchWriteItem"), asl_rules.check_lease_writes, "batchWriteItem is not used"),
    ("skip-output-extra", lambda d: d[S]["Skipped"]["Parameters"].update({"lease.$": "$.lease"}), asl_rules.check_skip_output, "a Pass whose Parameters are"),
    ("skip-output-whole-document", lambda d: d[S].update({"Skipped": {"Type": "Succeed"}}), asl_rules.check_skip_output, "not the whole document"),
    ("skip-output-merged", _set("Skipped", ResultPath="$.out"), asl_rules.check_skip_output, "a Pass whose Parameters are"),
    ("skip-fails", lambda d: d[S]["Publish skip"]["Catch"][0].update(Next="Run failed"), asl_rules.check_skip_output, "must not end failed"),
    ("skip-without-holder", lambda d: d[S]["Skip: run in progress"]["Parameters"].pop("heldBy.$"), asl_rules.check_skip_output, "records exactly"),
    ("skip-reason-from-state", lambda d: d[S]["Skip: cleanup pending"]["Parameters"].update({"reason.$": "$.leaseHolder.status"}), asl_rules.check_skip_output, "records exactly"),
    ("skip-overwritten", _set("Publish skip", ResultPath="$.skipped"), asl_rules.check_skip_output, "overwrites $.skipped"),
    ("skip-starts", _set("Publish skip", Next="Check database"), asl_rules.check_skip_output, "reaches a step that starts something"),
    ("no-skip", lambda d: [d[S][n].update(ResultPath="$.skip") for n in ("Skip: run in progress", "Skip: cleanup pending")], asl_rules.check_skip_output, "no Pass records a skip"),
    ("guard-after-read", lambda d: d[S]["Cleanup: stop workers?"]["Choices"].reverse(), asl_rules.check_paths_present, "reads $.workers.dryRun, which may be absent"),
    ("guard-inside-the-rule", lambda d: d[S]["Cleanup: stop workers?"].update(Choices=[{"Or": [{"Variable": "$.workers", "IsPresent": False}, {"Variable": "$.workers.dryRun", "BooleanEquals": True}], "Next": "Cleanup: stop database"}]), asl_rules.check_paths_present, "reads $.workers.dryRun"),
    ("catch-loses-error", lambda d: d[S]["Take lease"]["Catch"][1].update(ResultPath="$.leaseError"), asl_rules.check_paths_present, "'Run failed': ErrorPath reads $.error.Error"),
    ("lease-read-unguarded", _set("Read lease", Next="Describe lease holder"), asl_rules.check_paths_present, "reads $.lease.Item.executionArn.S"),
    ("cleanup-run-wrong-guard", lambda d: d[S]["Cleanup run: result"]["Choices"][0].update(Variable="$.leaseReleaseError"), asl_rules.check_paths_present, "reads $.rdsStop, which may be absent"),
    ("cleanup-run-not-routed", lambda d: d[S]["After cleanup"]["Choices"].pop(0), asl_rules.check_paths_present, "'Describe failure': Parameters reads $.error"),
    ("wait-reads-nothing", _set("Wait for job", SecondsPath="$.pollResult.retryAfterSeconds"), asl_rules.check_paths_present, "SecondsPath reads $.pollResult"),
    ("dry-run-choice-unguarded", lambda d: d[S]["Which mode?"]["Choices"][2].update(Next="Take lease") or d[S]["Which mode?"].update(Default="Dry run?"), asl_rules.check_paths_present, "'Dry run?': Choices[0] reads $.input.dryRun"),
    # the worker stop loops: poll_ec2_state's stopWorkers owns their deadline (Ec2StopTimeout)
    ("worker-stop-loop-without-exit", lambda d: d[S]["Workers stopped?"]["Choices"][0].update(Next="Wait for workers to stop"), asl_rules.check_loops, "a Choice with a way out"),
    ("cleanup-worker-stop-loop-without-exit", lambda d: d[S]["Cleanup: workers stopped?"]["Choices"][0].update(Next="Cleanup: wait for workers to stop"), asl_rules.check_loops, "a Choice with a way out"),
    ("worker-stop-loop-owned-by-another-lambda", lambda d: d[S]["Stop workers"].update(Resource=d[S]["Publish metrics"]["Resource"]), asl_rules.check_loops, "a Lambda Task owning a deadline"),
    ("worker-stop-timeout-stays", lambda d: d[S]["Stop workers"]["Catch"].insert(0, {"ErrorEquals": ["Ec2StopTimeout"], "ResultPath": "$.error", "Next": "Wait for workers to stop"}), asl_rules.check_loops, "a Lambda Task owning a deadline"),
    ("cleanup-worker-stop-timeout-stays", lambda d: d[S]["Cleanup: stop workers"]["Catch"].insert(0, {"ErrorEquals": ["Ec2StopTimeout"], "ResultPath": "$.cleanupErrors.stopWorkers", "Next": "Cleanup: wait for workers to stop"}), asl_rules.check_loops, "a Lambda Task owning a deadline"),
    ("cleanup-worker-stop-catch-polls-again", lambda d: d[S]["Cleanup: stop workers"]["Catch"][0].update(Next="Cleanup: workers stopped?"), asl_rules.check_catches, "must go on to 'Cleanup: stop database' (where its poll loop goes on)"),
    ("cleanup-worker-stop-catch-choice-unguarded", lambda d: d[S]["Cleanup: stop workers"]["Catch"][0].update(Next="Cleanup: workers stopped?"), asl_rules.check_paths_present, "reads $.workersStop.done, which may be absent"),
    ("cleanup-worker-stop-catch-skips-the-db", lambda d: d[S]["Cleanup: stop workers"]["Catch"][0].update(Next="Cleanup: publish metrics"), asl_rules.check_catches, "must go on to 'Cleanup: stop database'"),
    ("worker-stop-retries-its-deadline", lambda d: d[S]["Stop workers"]["Retry"][1]["ErrorEquals"].append("Ec2StopTimeout"), asl_rules.check_retriers, "must not retry Ec2StopTimeout"),
    ("worker-stop-before-workers", lambda d: d[S]["Database ready?"]["Choices"][0].update(Next="Stop workers"), asl_rules.check_workers_marked_first, "'Stop workers' can run before $.workers"),
    ("cleanup-worker-stop-polls-the-job", lambda d: d[S]["Cleanup: stop workers"].pop("Parameters"), asl_rules.check_modes, "mode reaches 'Cleanup: stop workers'"),
    # what a Lambda Task hands its function
    ("lambda-event-not-the-document", lambda d: d[S]["Stop workers"]["Parameters"].update({"state.$": "$.workers"}), asl_rules.check_tasks, "Parameters are none (the whole document)"),
    ("lambda-event-extra-field", lambda d: d[S]["Cleanup: stop workers"]["Parameters"].update({"instanceIds.$": "$.workers.instanceIds"}), asl_rules.check_tasks, "Parameters are none (the whole document)"),
    ("lambda-action-from-the-document", lambda d: d[S]["Stop workers"].update(Parameters={"action.$": "$.input.action", "state.$": "$"}), asl_rules.check_tasks, "Parameters are none (the whole document)"),
    ("lambda-unknown-action", lambda d: d[S]["Stop workers"]["Parameters"].update(action="stopWorker"), asl_rules.check_tasks, "poll_ec2_state has no action 'stopWorker'"),
    ("lambda-action-of-another-function", lambda d: d[S]["Publish metrics"].update(Parameters={"action": "stopWorkers", "state.$": "$"}), asl_rules.check_tasks, "emit_metrics has no action 'stopWorkers'"),
    ("lambda-input-path", _set("Check database", InputPath="$.input"), asl_rules.check_tasks, "not InputPath '$.input'"),
    # what ec2_start found, in the lease
    ("workers-record-gone", _rename_state("Record workers found", "Record the workers"), asl_rules.check_catches, "'Record workers found' does not exist"),
    ("workers-record-fails-the-run", lambda d: d[S]["Record workers found"]["Catch"][0].update(Next="Cleanup: stop workers?"), asl_rules.check_catches, "a best-effort step goes on"),
    ("workers-record-into-error", lambda d: d[S]["Record workers found"]["Catch"][0].update(ResultPath="$.error"), asl_rules.check_catches, "its own key"),
    ("workers-record-unconditional", lambda d: (d[S]["Record workers found"]["Parameters"].pop("ConditionExpression"), d[S]["Record workers found"]["Parameters"]["ExpressionAttributeValues"].pop(":me")), asl_rules.check_lease_writes, "an unconditional updateItem"),
    ("workers-record-undefined-value", lambda d: d[S]["Record workers found"]["Parameters"].update(UpdateExpression="SET workersFoundRunning = if_not_exists(workersFoundRunning, :workers)"), asl_rules.check_lease_writes, ":workers is not in ExpressionAttributeValues"),
    ("workers-record-retries-wildcard", lambda d: d[S]["Record workers found"]["Retry"][0]["ErrorEquals"].append("States.TaskFailed"), asl_rules.check_retriers, "must not retry States.TaskFailed"),
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
    ("lease-table-unknown", lambda t: t.replace("${LeaseTableName}", "${LeaseTable}", 1), "unknown placeholder"),
    ("lease-table-never-used", lambda t: t.replace("${LeaseTableName}", "makenaide-lease"), "never used"),
    ("lease-table-elsewhere", lambda t: t.replace('"ResultPath": "$.job"', '"ResultPath": "$.job", "Parameters": {"TableName": "${LeaseTableName}"}'), "outside its documented place"),
    ("revision-elsewhere", lambda t: t.replace('"ResultPath": "$.job"', '"ResultPath": "$.job", "Comment": "${Revision}"'), "outside its documented place"),
    ("revision-never-used", lambda t: t.replace('"revision": "${Revision}"', '"revision": "fixed"'), "never used"),
    ("alarm-topic-never-used", lambda t: t.replace("${AlarmTopicArn}", "arn:aws:sns:us-east-1:1:alarms"), "never used"),
    ("alarm-topic-elsewhere", lambda t: t.replace('"ResultPath": "$.job"', '"ResultPath": "$.job", "Parameters": {"TopicArn": "${AlarmTopicArn}"}'), "outside its documented place"),
    ("lease-table-inside-a-name", lambda t: t.replace('"TableName": "${LeaseTableName}"', '"TableName": "${LeaseTableName}-v2"', 1), "outside its documented place"),
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
            # Service names (Lambda., DynamoDB., Sfn., Ec2., ...) are AWS's, not the Lambdas'.
            found.update(n for n in rule["ErrorEquals"] if "." not in n)
    return found


def _function_source(function: str) -> str:
    return "".join(p.read_text(encoding="utf-8")
                   for p in sorted((REPO_ROOT / "functions" / function / "src").rglob("*.rs")))


def test_error_names_match_the_lambdas(definition: dict[str, Any]) -> None:
    every, retryable = _rust_error_names()
    assert every - retryable == asl_rules.FATAL_ERRORS
    # Each poll loop's deadline owner fails with its own fatal name, and its
    # function's source raises it.
    assert set(asl_rules.DEADLINE_OWNERS.values()) <= asl_rules.FATAL_ERRORS
    for (function, action), error in asl_rules.DEADLINE_OWNERS.items():
        source = _function_source(function)
        assert f"ErrorName::{error}" in source, (function, action, error)
    # Each action the file passes is one its function knows (a string literal in its source).
    for name, state in definition[S].items():
        step = asl_rules.lambda_step(state)
        if step and step[1] is not None:
            assert f'"{step[1]}"' in _function_source(step[0]), (name, step)
    assert {(f, a) for f, actions in asl_rules.LAMBDA_ACTIONS.items() for a in actions} <= \
        {asl_rules.lambda_step(s) for s in definition[S].values()}
    assert _custom_names(definition, "Retry") == retryable
    assert _custom_names(definition, "Catch") <= every
