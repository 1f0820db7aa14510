"""Pieces of the definition executed by moto's ASL interpreter.

Not the end-to-end run (that is the sandbox's job, with the real Lambdas):
each test runs a fragment made of COPIES of the file's states, so what runs
here is what the file says. States the fragment leads to but does not include
become a Pass recording `$.reached`. Lambda tasks here hit moto's own Lambda
backend, which has no functions: every invocation fails ("Function not found"),
which is exactly what the cleanup tests need. Where a test needs a function's
answer, the `fake_lambdas` fixture answers for the functions it is given
(scripted results or errors, in order) and records each event; the other
functions stay missing. The run lease lives in moto's DynamoDB (the
`lease_table` fixture); moto's engine runs with the sandbox's patches
(conftest `sfn`), as in the sandbox.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from asl_harness import ACCOUNT
from asl_harness import REGION as REGION_OF_TOPIC
from asl_harness import ROLE_ARN, WORKER_IDS, execution_arn, fragment, run_machine

CLEANUP = ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: workers stopped?",
           "Cleanup: wait for workers to stop", "Cleanup: stop database",
           "Cleanup: database stopped?", "Cleanup: wait for database stop", "Cleanup: publish metrics",
           "Cleanup: notify?", "Cleanup: notify", "Cleanup complete?", "Cleanup: release lease", "After cleanup",
           "Cleanup failed?", "Describe failure", "Run failed (cleanup incomplete)", "Run failed"]
ORIGINAL = {"Error": "JobTimeout", "Cause": "job deadline 2026-11-22T03:00:00Z passed; {not a template} 'quoted'"}
ENDED = execution_arn("makenaide", "ended-run")
LEASE_ITEM = {"pk": {"S": "run-lease"}, "executionArn": {"S": ENDED}, "heldBy": {"S": "ended-run"},
              "startTime": {"S": "2026-11-22T01:00:03.512Z"}, "mode": {"S": "run"}}
STOP_EVENT_ACTION = "stopWorkers"
NOTIFICATION = {"subject": "makenaide: run-1 FAILED (JobTimeout)", "message": "Execution: run-1\nStatus: FAILED"}


class FakeLambdas:
    """Answers moto's Lambda invocations for the scripted functions, in order;
    records every event they get (function name, decoded payload)."""

    def __init__(self, original: Any):
        self._original = original
        self.answers: dict[str, list[dict[str, Any]]] = {}
        self.events: list[tuple[str, Any]] = []

    def script(self, function: str, *answers: dict[str, Any]) -> None:
        self.answers.setdefault(function, []).extend(answers)

    def events_of(self, function: str) -> list[Any]:
        return [event for name, event in self.events if name == function]

    def __call__(self, parameters: dict, region: str, state_credentials: Any) -> dict[str, Any]:
        function = str(parameters["FunctionName"]).rsplit(":function:", 1)[-1].split(":")[0]
        if function not in self.answers:
            return self._original(parameters=parameters, region=region, state_credentials=state_credentials)
        payload = parameters["Payload"]
        self.events.append((function, json.loads(payload.decode() if isinstance(payload, bytes) else payload)))
        assert self.answers[function], f"{function} invoked more often than scripted"
        answer = self.answers[function].pop(0)
        if "errorType" in answer:  # a function error, as Lambda answers it
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": answer}
        return {"StatusCode": 200, "Payload": answer}


@pytest.fixture
def fake_lambdas(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> FakeLambdas:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    fake = FakeLambdas(lambda_eval_utils._invoke_lambda_function)
    monkeypatch.setattr(lambda_eval_utils, "_invoke_lambda_function", fake)
    return fake


def _workers_stop(done: bool, action: str = "stopped", **fields: Any) -> dict[str, Any]:
    """A `$.workersStop` block as poll_ec2_state answers it."""
    return dict({
        "done": done, "policy": "always", "dryRun": False,
        "instances": [{"instanceId": i, "stateBefore": "running", "foundRunning": False, "action": action,
                       "error": None} for i in WORKER_IDS],
        "checkedAt": "2026-11-22T03:00:00.000Z", "firstTriedAt": "2026-11-22T03:00:00.000Z",
        "deadline": "2026-11-22T03:15:00.000Z", "retryAfterSeconds": 0}, **fields)


def test_init_keeps_the_input_and_execution_facts(sfn: Any, definition: dict[str, Any]) -> None:
    run = run_machine(sfn, fragment(definition, "Init", ["Init"]), {"dryRun": True, "jobTimeoutSeconds": 600}, "init")
    assert run.status == "ExecutionSucceeded"
    out = run.output
    assert out["input"] == {"dryRun": True, "jobTimeoutSeconds": 600}
    assert out["execution"]["name"] == "init-run"
    assert out["execution"]["arn"] == run.arn
    # moto alone hands $$.Execution.StartTime over as a datetime; the sandbox's
    # patch (as AWS) gives "...Z". The Lambdas accept any RFC 3339 offset.
    assert datetime.fromisoformat(out["execution"]["startTime"].replace("Z", "+00:00")).tzinfo is not None
    assert out["reached"] == "Which mode?"


def test_begin_workers_splits_the_substituted_ids(sfn: Any, definition: dict[str, Any]) -> None:
    state_in = {"rds": {"dryRun": False, "ready": True}}
    run = run_machine(sfn, fragment(definition, "Begin workers", ["Begin workers"]), state_in, "begin")
    assert run.status == "ExecutionSucceeded"
    assert run.output["workers"] == {"instanceIds": WORKER_IDS, "dryRun": False}
    assert run.output["rds"] == state_in["rds"]


@pytest.mark.parametrize(
    "choice, document, expected",
    [
        ("Database ready?", {"rds": {"ready": True}}, "Begin workers"),
        ("Database ready?", {"rds": {"ready": False}}, "Wait for database"),
        ("Workers ready?", {"ec2": {"ready": True}}, "Launch job"),
        ("Workers ready?", {"ec2": {"ready": False}}, "Wait for workers"),
        ("Job over?", {"poll": {"done": True}}, "Stop workers?"),
        ("Job over?", {"poll": {"done": False}}, "Wait for job"),
        ("Database stopped?", {"rdsStop": {"done": True, "action": "stopped"}}, "Publish metrics"),
        ("Database stopped?", {"rdsStop": {"done": True, "action": "leftRunning"}}, "Publish metrics"),
        ("Database stopped?", {"rdsStop": {"done": False, "action": "notYet"}}, "Wait for database stop"),
        ("Cleanup: database stopped?", {"error": ORIGINAL, "rdsStop": {"done": True}}, "Cleanup: publish metrics"),
        ("Cleanup: database stopped?", {"error": ORIGINAL, "rdsStop": {"done": False}}, "Cleanup: wait for database stop"),
        ("Workers stopped?", {"workersStop": {"done": True}}, "Stop database"),
        ("Workers stopped?", {"workersStop": {"done": False}}, "Wait for workers to stop"),
        ("Cleanup: workers stopped?", {"error": ORIGINAL, "workersStop": {"done": True}}, "Cleanup: stop database"),
        ("Cleanup: workers stopped?", {"error": ORIGINAL, "workersStop": {"done": False}}, "Cleanup: wait for workers to stop"),
        ("Workers found recorded?", {"ec2": {"dryRun": False}}, "Record workers found"),
        ("Workers found recorded?", {"ec2": {"dryRun": True}}, "Workers ready?"),
        ("Workers found recorded?", {"ec2": {"dryRun": False}, "leaseRecord": {"workers": {"recorded": True}}}, "Workers ready?"),
        ("Workers found recorded?", {"ec2": {"dryRun": False}, "leaseRecord": {"db": {"recorded": True}}}, "Record workers found"),
        ("Stop workers?", {"workers": {"dryRun": True}}, "Stop database"),
        ("Stop workers?", {"workers": {"dryRun": False}}, "Stop workers"),
        ("Cleanup: stop workers?", {"error": ORIGINAL}, "Cleanup: stop database"),
        ("Cleanup: stop workers?", {"error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": True}}, "Cleanup: stop database"),
        ("Cleanup: stop workers?", {"error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}, "Cleanup: stop workers"),
        ("Cleanup failed?", {"error": ORIGINAL}, "Run failed"),
        ("Cleanup failed?", {"error": ORIGINAL, "cleanupErrors": {"stopWorkers": ORIGINAL}}, "Describe failure"),
        # the modes, the lease, the skip
        ("Which mode?", {"input": {}}, "Take lease"),
        ("Which mode?", {"input": {"jobTimeoutSeconds": 600}}, "Take lease"),
        ("Which mode?", {"input": {"dryRun": True}}, "Dry run?"),
        ("Which mode?", {"input": {"cleanupAfter": ENDED, "endedWith": "FAILED"}}, "Cleanup run: valid input?"),
        ("Which mode?", {"input": {"sweep": "scheduled"}}, "Sweep: valid input?"),
        ("Which mode?", {"input": {"cleanupAfter": ENDED, "sweep": "scheduled", "dryRun": True}}, "Cleanup run: valid input?"),
        ("Dry run?", {"input": {"dryRun": True}}, "Check database"),
        ("Dry run?", {"input": {"dryRun": False}}, "Take lease"),
        ("Dry run?", {"input": {"dryRun": "true"}}, "Take lease"),
        ("Cleanup run: valid input?", {"input": {"cleanupAfter": ENDED, "endedWith": "TIMED_OUT"}}, "Cleanup run: did it end?"),
        ("Cleanup run: valid input?", {"input": {"cleanupAfter": ENDED}}, "Invalid input"),
        ("Cleanup run: valid input?", {"input": {"cleanupAfter": "i-0123456789abcdef0", "endedWith": "FAILED"}}, "Invalid input"),
        ("Cleanup run: valid input?", {"input": {"cleanupAfter": 42, "endedWith": "FAILED"}}, "Invalid input"),
        ("Sweep: valid input?", {"input": {"sweep": "scheduled"}}, "Sweep: take lease"),
        ("Sweep: valid input?", {"input": {"sweep": "rds-auto-start"}}, "Sweep: take lease"),
        ("Sweep: valid input?", {"input": {"sweep": "daily"}}, "Invalid input"),
        ("Sweep: valid input?", {"input": {"sweep": True}}, "Invalid input"),
        ("Lease still held?", {"lease": {}}, "Take lease"),
        ("Lease still held?", {"lease": {"Item": LEASE_ITEM}}, "Describe lease holder"),
        ("Holder running?", {"leaseHolder": {"status": "RUNNING"}}, "Skip: run in progress"),
        ("Holder running?", {"leaseHolder": {"status": "TIMED_OUT"}}, "Skip: cleanup pending"),
        ("DB found recorded?", {"rds": {"dryRun": False}}, "Record DB found"),
        ("DB found recorded?", {"rds": {"dryRun": True}}, "Database ready?"),
        ("DB found recorded?", {"rds": {"dryRun": False}, "leaseRecord": {"db": {"recorded": True}}}, "Database ready?"),
        ("Cleanup: notify?", {"error": ORIGINAL}, "Cleanup complete?"),
        ("Cleanup: notify?", {"error": ORIGINAL, "metrics": {"outcome": "Swept"}}, "Cleanup complete?"),
        ("Cleanup: notify?", {"error": ORIGINAL, "metrics": {"notification": NOTIFICATION}}, "Cleanup: notify"),
        ("Cleanup complete?", {"error": ORIGINAL}, "Cleanup: release lease"),
        ("Cleanup complete?", {"error": ORIGINAL, "cleanupErrors": {"stopDatabase": ORIGINAL}}, "After cleanup"),
        ("After cleanup", {"input": {}, "error": ORIGINAL}, "Cleanup failed?"),
        ("After cleanup", {"input": {"cleanupAfter": ENDED, "endedWith": "ABORTED"}}, "Cleanup run: result"),
        ("After cleanup", {"input": {"sweep": "scheduled"}}, "Cleanup run: result"),
        ("Cleanup run: ended?", {"endedRun": {"status": "RUNNING"}}, "Cleanup run: nothing to do"),
        ("Cleanup run: ended?", {"endedRun": {"status": "ABORTED"}}, "Cleanup run: take over lease"),
        ("Cleanup run: result", {"rdsStop": {}, "metrics": {}}, "Cleanup run: done"),
        ("Cleanup run: result", {"cleanupErrors": {"stopWorkers": ORIGINAL}}, "Cleanup run: describe failure"),
        ("Sweep: lease still held?", {"lease": {}}, "Sweep: take lease"),
        ("Sweep: lease still held?", {"lease": {"Item": LEASE_ITEM}}, "Sweep: describe holder"),
        ("Sweep: holder running?", {"leaseHolder": {"status": "RUNNING"}}, "Sweep: a run holds the lease"),
        ("Sweep: holder running?", {"leaseHolder": {"status": "SUCCEEDED"}}, "Sweep: take over lease"),
    ],
)
def test_choice_routes(sfn: Any, definition: dict[str, Any], choice: str, document: dict, expected: str) -> None:
    run = run_machine(sfn, fragment(definition, choice, [choice]), document, "choice")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == expected


@pytest.mark.parametrize(
    "wait, block, task",
    [
        ("Wait for database", "rds", "Check database"),
        ("Wait for workers", "ec2", "Start workers"),
        ("Wait for job", "poll", "Check job"),
        ("Wait for database stop", "rdsStop", "Stop database"),
        ("Cleanup: wait for database stop", "rdsStop", "Cleanup: stop database"),
        ("Wait for workers to stop", "workersStop", "Stop workers"),
        ("Cleanup: wait for workers to stop", "workersStop", "Cleanup: stop workers"),
    ],
)
def test_wait_reads_the_lambdas_interval(sfn: Any, definition: dict[str, Any], wait: str, block: str,
                                         task: str) -> None:
    run = run_machine(sfn, fragment(definition, wait, [wait]), {block: {"retryAfterSeconds": 0}}, "wait")
    assert run.status == "ExecutionSucceeded" and run.output["reached"] == task


def test_failure_without_cleanup_errors_keeps_the_original_error(sfn: Any, definition: dict[str, Any]) -> None:
    machine = fragment(definition, "Cleanup failed?", ["Cleanup failed?", "Describe failure",
                                                       "Run failed (cleanup incomplete)", "Run failed"])
    run = run_machine(sfn, machine, {"error": ORIGINAL, "rdsStop": {"action": "stopped"}}, "fail")
    assert run.status == "ExecutionFailed"
    assert (run.error, run.cause) == (ORIGINAL["Error"], ORIGINAL["Cause"])
    assert run.entered()[-1] == "Run failed"


def test_describe_failure_keeps_both_errors(sfn: Any, definition: dict[str, Any]) -> None:
    cleanup_errors = {"stopDatabase": {"Error": "AccessDenied", "Cause": "not allowed: \"rds:StopDBInstance\" {x}"}}
    machine = fragment(definition, "Cleanup failed?", ["Cleanup failed?", "Describe failure",
                                                       "Run failed (cleanup incomplete)", "Run failed"])
    run = run_machine(sfn, machine, {"error": ORIGINAL, "cleanupErrors": cleanup_errors}, "describe")
    assert run.status == "ExecutionFailed"
    assert run.error == "JobTimeout"
    prefix = ORIGINAL["Cause"] + " | cleanup also failed: "
    assert run.cause.startswith(prefix)
    assert json.loads(run.cause[len(prefix):]) == cleanup_errors
    assert run.entered()[-1] == "Run failed (cleanup incomplete)"


def test_cleanup_goes_on_after_each_failed_step(sfn: Any, definition: dict[str, Any]) -> None:
    """The real cleanup chain, with every step failing: the functions (the
    workers' stop, poll_ec2_state, included) do not exist in moto's Lambda.
    Retries are stripped to keep this fast (the retry rules are checked
    structurally)."""
    document = {"error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}
    document = dict(document, input={})
    run = run_machine(sfn, fragment(definition, "Cleanup: stop workers?", CLEANUP, strip_retry=True), document, "cleanup")
    assert run.status == "ExecutionFailed"
    assert run.error == ORIGINAL["Error"]
    # Cleanup errors keep the lease: no release on this way. A failed worker
    # stop skips its poll Choice (it would read a $.workersStop never written).
    assert run.entered() == ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: stop database",
                             "Cleanup: publish metrics", "Cleanup: notify?", "Cleanup complete?", "After cleanup",
                             "Cleanup failed?",
                             "Describe failure", "Run failed (cleanup incomplete)"]
    prefix = ORIGINAL["Cause"] + " | cleanup also failed: "
    assert run.cause.startswith(prefix)
    errors = json.loads(run.cause[len(prefix):])
    # The failed metrics step is no cleanup failure: metrics are best effort.
    assert set(errors) == {"stopWorkers", "stopDatabase"}
    assert all(set(e) == {"Error", "Cause"} for e in errors.values())
    assert "Function not found" in errors["stopDatabase"]["Cause"]

    # The workers' stop is a Lambda step now (poll_ec2_state): moto names its
    # service failure as Step Functions does, `Lambda.<code>`, the prefix of the
    # names the stop's retriers list.
    assert errors["stopWorkers"]["Error"] == errors["stopDatabase"]["Error"] == "Lambda.ResourceNotFoundException"
    assert re.search(r"Function not found: .*:function:poll_ec2_state", errors["stopWorkers"]["Cause"])
    for name in ("Stop workers", "Cleanup: stop workers"):
        retried = [n for r in definition["States"][name]["Retry"] for n in r["ErrorEquals"]]
        assert "Lambda.ServiceException" in retried and all(
            n.startswith(("Lambda.", "States.")) or "." not in n for n in retried), (name, retried)
    # What the engine handed the function: the action and the whole document.
    scheduled = [json.loads(e["lambdaFunctionScheduledEventDetails"]["input"]) for e in run.events
                 if e["type"] == "LambdaFunctionScheduled"]
    assert scheduled[0] == {"action": STOP_EVENT_ACTION, "state": document}


@pytest.mark.parametrize("publish, goes_on_to", [("Publish metrics", "Release lease"),
                                                 ("Cleanup: publish metrics", "Cleanup: notify?")])
def test_a_failed_metrics_step_changes_no_outcome(sfn: Any, definition: dict[str, Any], publish: str,
                                                  goes_on_to: str) -> None:
    """emit_metrics itself fails (here: it does not exist in moto's Lambda): the
    run goes on where it would have gone, the failure noted in $.metricsError,
    the original error (if any) and the cleanup record untouched."""
    document = {"input": {}, "error": ORIGINAL} if publish.startswith("Cleanup") else {"input": {}}
    run = run_machine(sfn, fragment(definition, publish, [publish], strip_retry=True), document, "metrics")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == goes_on_to
    assert run.output["metricsError"]["Error"] == "Lambda.ResourceNotFoundException"
    assert "cleanupErrors" not in run.output
    assert run.output.get("error") == document.get("error")


def test_cleanup_stops_the_workers(sfn: Any, definition: dict[str, Any], fake_lambdas: FakeLambdas) -> None:
    """`Cleanup: stop workers` hands poll_ec2_state the action and the whole
    document, keeps its answer in $.workersStop, and goes on to the DB with
    the original error kept."""
    document = {"input": {}, "error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}
    answer = _workers_stop(True)
    fake_lambdas.script("poll_ec2_state", answer)
    keep = ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: workers stopped?",
            "Cleanup: wait for workers to stop"]
    run = run_machine(sfn, fragment(definition, "Cleanup: stop workers?", keep), document, "stop")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == "Cleanup: stop database"
    assert run.output["workersStop"] == answer
    assert run.output["error"] == ORIGINAL and "cleanupErrors" not in run.output
    assert fake_lambdas.events_of("poll_ec2_state") == [{"action": STOP_EVENT_ACTION, "state": document}]
    assert run.entered() == ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: workers stopped?",
                             "Cleanup: stop database"]


@pytest.mark.parametrize("start, keep", [
    ("Stop workers", ["Stop workers", "Workers stopped?", "Wait for workers to stop"]),
    ("Cleanup: stop workers", ["Cleanup: stop workers", "Cleanup: workers stopped?", "Cleanup: wait for workers to stop"]),
])
def test_a_pending_worker_is_waited_for_then_stopped(sfn: Any, definition: dict[str, Any], fake_lambdas: FakeLambdas,
                                                     start: str, keep: list[str]) -> None:
    """A worker still pending: poll_ec2_state answers notYet (done false), the
    loop waits and asks again with its previous answer in the document (where
    the deadline counts from), then goes on to the DB."""
    document = {"input": {}, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}
    if start.startswith("Cleanup"):
        document["error"] = ORIGINAL
    first = _workers_stop(False, action="notYet")
    second = _workers_stop(True, checkedAt="2026-11-22T03:00:15.000Z")
    fake_lambdas.script("poll_ec2_state", first, second)
    run = run_machine(sfn, fragment(definition, start, keep), document, "pending")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    choice, wait = keep[1], keep[2]
    assert run.entered() == [start, choice, wait, start, choice, run.output["reached"]]
    assert run.output["reached"] == ("Cleanup: stop database" if start.startswith("Cleanup") else "Stop database")
    assert run.output["workersStop"] == second
    events = fake_lambdas.events_of("poll_ec2_state")
    assert [e["action"] for e in events] == [STOP_EVENT_ACTION, STOP_EVENT_ACTION]
    assert events[0]["state"] == document
    assert events[1]["state"] == dict(document, workersStop=first)


def test_a_failed_worker_stop_goes_to_cleanup(sfn: Any, definition: dict[str, Any], fake_lambdas: FakeLambdas) -> None:
    """Ec2StopTimeout (a worker pending past its deadline, the others stopped)
    on the normal flow: the original error, then cleanup from its start."""
    error = {"errorType": "Ec2StopTimeout", "errorMessage": "i-0fedcba9876543210 still pending after 900 s"}
    fake_lambdas.script("poll_ec2_state", error)
    document = {"input": {}, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}
    run = run_machine(sfn, fragment(definition, "Stop workers", ["Stop workers", "Workers stopped?",
                                                                 "Wait for workers to stop"]), document, "timeout")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == "Cleanup: stop workers?"
    assert run.output["error"]["Error"] == "Ec2StopTimeout"
    assert json.loads(run.output["error"]["Cause"]) == error
    assert "workersStop" not in run.output


def test_a_failed_worker_stop_in_cleanup_goes_on_with_the_db(sfn: Any, definition: dict[str, Any],
                                                               fake_lambdas: FakeLambdas) -> None:
    """A failure of the cleanup's worker stop (the retried names exhausted, or a
    fatal one) is recorded under $.cleanupErrors.stopWorkers, the original
    error is kept, and the chain goes on to the DB and the metrics."""
    error = {"errorType": "AccessDenied", "errorMessage": "not allowed: ec2:StopInstances on i-0123456789abcdef0"}
    fake_lambdas.script("poll_ec2_state", error)
    document = {"input": {}, "error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}
    run = run_machine(sfn, fragment(definition, "Cleanup: stop workers?", CLEANUP, strip_retry=True), document,
                      "cleanup-stop")
    assert run.status == "ExecutionFailed" and run.error == ORIGINAL["Error"]
    entered = run.entered()
    assert entered[:3] == ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: stop database"]
    assert "Cleanup: publish metrics" in entered
    prefix = ORIGINAL["Cause"] + " | cleanup also failed: "
    errors = json.loads(run.cause[len(prefix):])
    assert errors["stopWorkers"]["Error"] == "AccessDenied"
    assert json.loads(errors["stopWorkers"]["Cause"]) == error
    # rds_stop (missing in moto) was still asked, with the failure noted in the document.
    scheduled = [json.loads(e["lambdaFunctionScheduledEventDetails"]["input"]) for e in run.events
                 if e["type"] == "LambdaFunctionScheduled"]
    assert scheduled[1]["cleanupErrors"]["stopWorkers"]["Error"] == "AccessDenied"


# --- the run lease, in moto's DynamoDB ------------------------------------------------
# What moto's engine runs here is the file's own DynamoDB and DescribeExecution
# calls; the error names it gives (DynamoDB.ConditionalCheckFailedException,
# Sfn.ExecutionDoesNotExistException) are the ones Step Functions gives, so the
# Catches that branch on them are exercised, not only read.

CONTENDED = ["Take lease", "Read lease", "Lease still held?", "Describe lease holder", "Holder running?",
             "Skip: run in progress", "Skip: cleanup pending", "Publish skip", "Skipped"]
SWEEP_LEASE = ["Sweep: take lease", "Sweep: read lease", "Sweep: lease still held?", "Sweep: describe holder",
               "Sweep: holder running?", "Sweep: take over lease", "Sweep: a run holds the lease"]


def _table(definition: dict[str, Any]) -> str:
    return definition["States"]["Take lease"]["Parameters"]["TableName"]


def _lease(dynamodb: Any, definition: dict[str, Any]) -> dict[str, Any] | None:
    return dynamodb.get_item(TableName=_table(definition), Key={"pk": {"S": "run-lease"}},
                             ConsistentRead=True).get("Item")


def _hold(dynamodb: Any, definition: dict[str, Any], holder: str, **extra: dict[str, Any]) -> None:
    item = dict(LEASE_ITEM, executionArn={"S": holder}, heldBy={"S": holder.rsplit(":", 1)[-1]}, **extra)
    dynamodb.put_item(TableName=_table(definition), Item=item)


def _running_holder(sfn: Any) -> str:
    """An execution that is RUNNING for a while (the tests using it take about a second)."""
    machine = {"StartAt": "Work", "States": {"Work": {"Type": "Wait", "Seconds": 10, "End": True}}}
    arn = sfn.create_state_machine(name="holder", definition=json.dumps(machine), roleArn=ROLE_ARN)["stateMachineArn"]
    return sfn.start_execution(stateMachineArn=arn, name="holder-run", input="{}")["executionArn"]


def _ended_holder(sfn: Any) -> str:
    machine = {"StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": True}}}
    return run_machine(sfn, machine, {}, "ended").arn


def test_take_lease_when_nobody_holds_it(sfn: Any, lease_table: Any, definition: dict[str, Any]) -> None:
    run = run_machine(sfn, fragment(definition, "Take lease", ["Take lease"]), {"input": {}}, "take")
    assert run.status == "ExecutionSucceeded" and run.output["reached"] == "Check database"
    assert run.output == {"input": {}, "reached": "Check database"}  # ResultPath null: nothing added
    item = _lease(lease_table, definition)
    assert item["executionArn"] == {"S": run.arn} and item["heldBy"] == {"S": "take-run"}
    assert item["mode"] == {"S": "run"} and item["startTime"]["S"].endswith("Z")


def test_the_same_execution_takes_its_lease_again(sfn: Any, lease_table: Any, definition: dict[str, Any]) -> None:
    _hold(lease_table, definition, execution_arn("retake", "retake-run"))
    run = run_machine(sfn, fragment(definition, "Take lease", ["Take lease"]), {"input": {}}, "retake")
    assert run.status == "ExecutionSucceeded" and run.output["reached"] == "Check database"


def test_a_running_holder_skips_the_run(sfn: Any, lease_table: Any, definition: dict[str, Any]) -> None:
    holder = _running_holder(sfn)
    _hold(lease_table, definition, holder)
    run = run_machine(sfn, fragment(definition, "Take lease", CONTENDED, strip_retry=True),
                      {"input": {}, "execution": {"name": "contender"}}, "contender")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    # The output is exactly the skip; emit_metrics (absent in moto) failed and did not matter.
    assert run.output == {"skipped": {"reason": "RunInProgress", "heldBy": "holder-run"}}
    assert run.entered()[-3:] == ["Skip: run in progress", "Publish skip", "Skipped"]
    assert _lease(lease_table, definition)["executionArn"] == {"S": holder}


def test_an_ended_holder_skips_the_run_as_cleanup_pending(sfn: Any, lease_table: Any,
                                                          definition: dict[str, Any]) -> None:
    holder = _ended_holder(sfn)
    _hold(lease_table, definition, holder)
    run = run_machine(sfn, fragment(definition, "Take lease", CONTENDED, strip_retry=True), {"input": {}}, "contender")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output == {"skipped": {"reason": "CleanupPending", "heldBy": "ended-run"}}
    assert "Holder running?" in run.entered()


def test_a_vanished_holder_skips_the_run_as_cleanup_pending(sfn: Any, lease_table: Any,
                                                            definition: dict[str, Any]) -> None:
    """DescribeExecution of an execution that does not exist: the Catch on
    Sfn.ExecutionDoesNotExistException is the branch taken."""
    _hold(lease_table, definition, execution_arn("makenaide", "gone"))
    run = run_machine(sfn, fragment(definition, "Take lease", CONTENDED, strip_retry=True), {"input": {}}, "contender")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output == {"skipped": {"reason": "CleanupPending", "heldBy": "gone"}}
    assert "Holder running?" not in run.entered()


@pytest.mark.parametrize("name", ["Release lease", "Cleanup: release lease"])
def test_release_gives_back_only_our_own_lease(sfn: Any, lease_table: Any, definition: dict[str, Any],
                                               name: str) -> None:
    other = execution_arn("makenaide", "other")
    _hold(lease_table, definition, other)
    run = run_machine(sfn, fragment(definition, name, [name]), {"input": {}}, "release-other")
    assert run.status == "ExecutionSucceeded"  # best effort: a failed release never fails the execution
    assert run.output["leaseReleaseError"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert _lease(lease_table, definition)["executionArn"] == {"S": other}

    _hold(lease_table, definition, execution_arn("release", "release-run"))
    run = run_machine(sfn, fragment(definition, name, [name]), {"input": {}}, "release")
    assert run.status == "ExecutionSucceeded" and "leaseReleaseError" not in run.output
    assert _lease(lease_table, definition) is None


def test_record_db_found_writes_once_and_only_in_our_lease(sfn: Any, lease_table: Any,
                                                           definition: dict[str, Any]) -> None:
    machine = fragment(definition, "Record DB found", ["Record DB found"])
    _hold(lease_table, definition, execution_arn("record", "record-run"))
    # foundRunning, not availableAtFirstCheck: a DB found backing-up was running.
    run = run_machine(sfn, machine, {"rds": {"availableAtFirstCheck": False, "foundRunning": True}}, "record")
    assert run.status == "ExecutionSucceeded" and run.output["reached"] == "Database ready?"
    assert run.output["leaseRecord"] == {"db": {"recorded": True}}
    assert _lease(lease_table, definition)["dbFoundRunning"] == {"BOOL": True}

    run = run_machine(sfn, machine, {"rds": {"availableAtFirstCheck": False, "foundRunning": False}}, "record-again")
    assert run.output["leaseRecordError"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert run.output["reached"] == "Database ready?"  # best effort: the run goes on
    assert _lease(lease_table, definition)["dbFoundRunning"] == {"BOOL": True}


def test_record_workers_found_writes_once_and_only_in_our_lease(sfn: Any, lease_table: Any,
                                                                definition: dict[str, Any]) -> None:
    """`workersFoundRunning` is the JSON array of $.ec2.foundRunning in a string
    attribute, written once (if_not_exists), only while we hold the lease."""
    machine = fragment(definition, "Record workers found", ["Record workers found"])
    _hold(lease_table, definition, execution_arn("record", "record-run"))
    run = run_machine(sfn, machine, {"ec2": {"dryRun": False, "foundRunning": [WORKER_IDS[1]]}}, "record")
    assert run.status == "ExecutionSucceeded" and run.output["reached"] == "Workers ready?"
    assert run.output["leaseRecord"] == {"workers": {"recorded": True}}
    item = _lease(lease_table, definition)
    assert item["workersFoundRunning"] == {"S": json.dumps([WORKER_IDS[1]], separators=(",", ":"))}
    assert item["workersFoundRunning"] == {"S": '["i-0fedcba9876543210"]'}
    assert "dbFoundRunning" not in item

    # Another execution's lease: nothing written, the run goes on (best effort).
    run = run_machine(sfn, machine, {"ec2": {"foundRunning": WORKER_IDS}}, "record-again")
    assert run.output["leaseRecordError"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert run.output["reached"] == "Workers ready?"
    assert _lease(lease_table, definition)["workersFoundRunning"] == {"S": '["i-0fedcba9876543210"]'}

    # Our own lease with a record already in it (a later lap, a redrive): kept as first written.
    _hold(lease_table, definition, execution_arn("record-later", "record-later-run"),
          workersFoundRunning={"S": "[]"})
    run = run_machine(sfn, machine, {"ec2": {"foundRunning": WORKER_IDS}}, "record-later")
    assert run.status == "ExecutionSucceeded" and "leaseRecordError" not in run.output
    assert run.output["leaseRecord"] == {"workers": {"recorded": True}}
    assert _lease(lease_table, definition)["workersFoundRunning"] == {"S": "[]"}


def test_record_workers_found_writes_an_empty_list(sfn: Any, lease_table: Any, definition: dict[str, Any]) -> None:
    """No worker running at the first check is a record too ("[]": leave-as-found
    stops them all), not a missing one (unknown: stopped as well)."""
    _hold(lease_table, definition, execution_arn("record-none", "record-none-run"))
    run = run_machine(sfn, fragment(definition, "Record workers found", ["Record workers found"]),
                      {"ec2": {"foundRunning": []}}, "record-none")
    assert run.status == "ExecutionSucceeded" and "leaseRecordError" not in run.output
    assert _lease(lease_table, definition)["workersFoundRunning"] == {"S": "[]"}


def test_the_first_workers_answer_is_recorded_once(sfn: Any, lease_table: Any, definition: dict[str, Any],
                                                   fake_lambdas: FakeLambdas) -> None:
    """The worker loop with ec2_start answering twice: the record is written
    after the first answer only, then the loop goes on to the job."""
    keep = ["Start workers", "Workers found recorded?", "Record workers found", "Workers ready?", "Wait for workers"]
    ec2 = {"ready": False, "instances": [], "startedByWorkflow": WORKER_IDS, "foundRunning": [WORKER_IDS[0]],
           "dryRun": False, "retryAfterSeconds": 0}
    fake_lambdas.script("ec2_start", ec2, dict(ec2, ready=True, foundRunning=WORKER_IDS))
    _hold(lease_table, definition, execution_arn("workers", "workers-run"))
    run = run_machine(sfn, fragment(definition, "Start workers", keep), {"input": {}}, "workers")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.entered() == ["Start workers", "Workers found recorded?", "Record workers found", "Workers ready?",
                             "Wait for workers", "Start workers", "Workers found recorded?", "Workers ready?",
                             "Launch job"]
    assert _lease(lease_table, definition)["workersFoundRunning"] == {"S": '["i-0123456789abcdef0"]'}


def test_a_cleanup_run_takes_over_the_lease_of_the_ended_run(sfn: Any, lease_table: Any,
                                                             definition: dict[str, Any]) -> None:
    keep = ["Cleanup run: take over lease", "Cleanup run: begin", "Cleanup run: nothing to do"]
    machine = fragment(definition, "Cleanup run: take over lease", keep)
    document = {"input": {"cleanupAfter": ENDED, "endedWith": "ABORTED"}}
    _hold(lease_table, definition, ENDED, dbFoundRunning={"BOOL": False},
          workersFoundRunning={"S": '["i-0123456789abcdef0"]'})

    first = run_machine(sfn, machine, document, "cleanup-1")
    assert first.status == "ExecutionSucceeded" and first.output["reached"] == "Cleanup: stop workers?"
    assert first.output["workers"] == {"instanceIds": WORKER_IDS, "dryRun": False}
    assert first.output["found"]["item"]["dbFoundRunning"] == {"BOOL": False}
    # poll_ec2_state's stop reads the ended run's record here (leave-as-found).
    assert first.output["found"]["item"]["workersFoundRunning"] == {"S": '["i-0123456789abcdef0"]'}
    item = _lease(lease_table, definition)
    assert item["executionArn"] == {"S": first.arn} and item["mode"] == {"S": "cleanup"}
    assert item["cleaningUpAfter"] == {"S": ENDED} and item["cleanups"] == {"N": "1"}

    # A cleanup run for another execution finds nothing to do.
    other = run_machine(sfn, machine, document, "cleanup-other")
    assert other.output == {"cleanup": {"after": ENDED, "needed": False}}

    # Cleanup runs in a row (each for the one before) take it over at most
    # `:max` times in all, so a cleanup that keeps failing ends.
    limit = int(definition["States"]["Cleanup run: take over lease"]["Parameters"]
                ["ExpressionAttributeValues"][":max"]["N"])
    assert limit >= 1
    holder = first
    for count in range(2, limit + 1):
        holder = run_machine(sfn, machine, {"input": {"cleanupAfter": holder.arn, "endedWith": "FAILED"}},
                             f"cleanup-{count}")
        assert holder.output["reached"] == "Cleanup: stop workers?"
        assert _lease(lease_table, definition)["cleanups"] == {"N": str(count)}
    last = run_machine(sfn, machine, {"input": {"cleanupAfter": holder.arn, "endedWith": "FAILED"}}, "cleanup-last")
    assert last.output == {"cleanup": {"after": holder.arn, "needed": False}}
    assert _lease(lease_table, definition)["executionArn"] == {"S": holder.arn}


@pytest.mark.parametrize("holder", ["none", "running", "ended", "vanished"])
def test_a_sweep_acts_only_when_no_run_holds_the_lease(sfn: Any, lease_table: Any, definition: dict[str, Any],
                                                       holder: str) -> None:
    held_by = {"none": None, "running": _running_holder, "ended": _ended_holder,
               "vanished": lambda _: execution_arn("makenaide", "gone")}[holder]
    if held_by is not None:
        _hold(lease_table, definition, held_by(sfn), workersFoundRunning={"S": "[]"})
    keep = SWEEP_LEASE + ["Cleanup run: begin"]
    run = run_machine(sfn, fragment(definition, "Sweep: take lease", keep, strip_retry=True),
                      {"input": {"sweep": "scheduled"}}, "sweep")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    item = _lease(lease_table, definition)
    if holder == "running":
        assert run.output == {"sweep": {"needed": False, "heldBy": "holder-run"}}
        assert item["mode"] == {"S": "run"}
    else:
        assert run.output["reached"] == "Cleanup: stop workers?"
        assert item["executionArn"] == {"S": run.arn} and item["mode"] == {"S": "sweep"}
        if holder in ("ended", "vanished"):
            # The ended holder's record reaches the sweep's stop of the workers.
            assert run.output["found"]["item"]["workersFoundRunning"] == {"S": "[]"}


def test_a_run_that_cannot_clean_up_keeps_the_lease_for_its_cleanup_run(sfn: Any, lease_table: Any,
                                                                        definition: dict[str, Any]) -> None:
    """The whole file, retries stripped: in moto every Lambda is missing, so the
    run fails at its first check and its cleanup fails too. The lease stays with
    it (on purpose); the cleanup run for it takes the lease over, fails to
    clean up as well, and ends with CleanupIncomplete, holding the lease."""
    whole = fragment(definition, definition["StartAt"], list(definition["States"]), strip_retry=True)
    run = run_machine(sfn, whole, {}, "run")
    assert run.status == "ExecutionFailed"
    assert run.error == "Lambda.ResourceNotFoundException", run.cause
    assert run.entered()[:4] == ["Init", "Which mode?", "Take lease", "Check database"]
    assert "Cleanup: release lease" not in run.entered()
    assert _lease(lease_table, definition)["executionArn"] == {"S": run.arn}

    cleanup = run_machine(sfn, whole, {"cleanupAfter": run.arn, "endedWith": "FAILED"}, "cleanup")
    assert cleanup.status == "ExecutionFailed"
    assert cleanup.error == "CleanupIncomplete"
    assert set(json.loads(cleanup.cause)) == {"stopWorkers", "stopDatabase"}
    entered = cleanup.entered()
    assert "Cleanup run: take over lease" in entered and "Cleanup run: result" in entered
    assert not set(entered) & {"Take lease", "Check database", "Start workers", "Launch job", "Check job"}
    item = _lease(lease_table, definition)
    assert item["executionArn"] == {"S": cleanup.arn} and item["cleanups"] == {"N": "1"}


def test_a_dry_run_takes_no_lease(sfn: Any, lease_table: Any, definition: dict[str, Any]) -> None:
    whole = fragment(definition, definition["StartAt"], list(definition["States"]), strip_retry=True)
    other = execution_arn("makenaide", "real-run")
    _hold(lease_table, definition, other)
    run = run_machine(sfn, whole, {"dryRun": True}, "dry")
    assert run.status == "ExecutionFailed"
    entered = run.entered()
    assert entered[:4] == ["Init", "Which mode?", "Dry run?", "Check database"]
    assert "Take lease" not in entered
    # Its cleanup never stops the workers ($.workers absent) and leaves the real run's lease alone.
    assert "Cleanup: stop workers" not in entered
    assert _lease(lease_table, definition)["executionArn"] == {"S": other}


@pytest.mark.parametrize("execution_input", [{"cleanupAfter": "not-an-arn", "endedWith": "FAILED"},
                                             {"sweep": "hourly"}])
def test_a_malformed_mode_input_fails_before_any_call(sfn: Any, lease_table: Any, definition: dict[str, Any],
                                                      execution_input: dict[str, Any]) -> None:
    whole = fragment(definition, definition["StartAt"], list(definition["States"]), strip_retry=True)
    run = run_machine(sfn, whole, execution_input, "invalid")
    assert run.status == "ExecutionFailed" and run.error == "InvalidInput"
    assert run.entered()[-1] == "Invalid input"
    assert not [e for e in run.events if e["type"] == "TaskScheduled"]


def test_the_mode_ends_say_what_happened(sfn: Any, definition: dict[str, Any]) -> None:
    document = {"input": {"cleanupAfter": ENDED, "endedWith": "TIMED_OUT"}, "rdsStop": {"action": "stopped"},
                "metrics": {"outcome": "TimedOut"}, "lease": {"Item": LEASE_ITEM}, "error": ORIGINAL}
    done = run_machine(sfn, fragment(definition, "Cleanup run: done", ["Cleanup run: done"]), document, "done")
    assert done.output == {"cleanup": {"needed": True, "rdsStop": {"action": "stopped"},
                                       "metrics": {"outcome": "TimedOut"}}}
    held = run_machine(sfn, fragment(definition, "Sweep: a run holds the lease", ["Sweep: a run holds the lease"]),
                       document, "held")
    assert held.output == {"sweep": {"needed": False, "heldBy": "ended-run"}}
    errors = {"stopDatabase": {"Error": "AccessDenied", "Cause": "no \"rds:StopDBInstance\" {x}"}}
    failed = run_machine(sfn, fragment(definition, "Cleanup run: describe failure",
                                       ["Cleanup run: describe failure", "Cleanup run: failed"]),
                         {"input": document["input"], "cleanupErrors": errors}, "failed")
    assert failed.status == "ExecutionFailed" and failed.error == "CleanupIncomplete"
    assert json.loads(failed.cause) == errors


def test_the_notification_reaches_the_alarm_topic(sfn: Any, definition: dict[str, Any]) -> None:
    """`Cleanup: notify` publishes emit_metrics' subject and message to the
    alarm topic and goes on to `Cleanup complete?` with the document kept."""
    import boto3

    from sandbox import definition as sandbox_definition
    sns = boto3.client("sns", region_name=REGION_OF_TOPIC)
    topic = sns.create_topic(Name=sandbox_definition.ALARM_TOPIC_NAME)["TopicArn"]
    assert topic == definition["States"]["Cleanup: notify"]["Parameters"]["TopicArn"]
    document = {"input": {}, "error": ORIGINAL, "metrics": {"notification": NOTIFICATION}}
    run = run_machine(sfn, fragment(definition, "Cleanup: notify?", ["Cleanup: notify?", "Cleanup: notify"]),
                      document, "notify")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == "Cleanup complete?"
    assert "notifyError" not in run.output and run.output == dict(document, reached="Cleanup complete?")
    from moto.sns.models import sns_backends
    sent = sns_backends[ACCOUNT][REGION_OF_TOPIC].topics[topic].sent_notifications
    assert [(message, subject) for _, message, subject, *_ in sent] == [
        (NOTIFICATION["message"], NOTIFICATION["subject"])]


def test_a_failed_notification_changes_no_outcome(sfn: Any, definition: dict[str, Any]) -> None:
    """No such topic (SNS refuses the publish): the failure is noted in
    $.notifyError and the cleanup goes on to `Cleanup complete?`, the
    original error and the cleanup record untouched."""
    document = {"input": {}, "error": ORIGINAL, "metrics": {"notification": NOTIFICATION}}
    run = run_machine(sfn, fragment(definition, "Cleanup: notify", ["Cleanup: notify"], strip_retry=True),
                      document, "notify-fails")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == "Cleanup complete?"
    assert set(run.output["notifyError"]) == {"Error", "Cause"}
    assert "cleanupErrors" not in run.output
    assert run.output["error"] == ORIGINAL
