"""Pieces of the definition executed by moto's ASL interpreter.

Not the end-to-end run (that is the sandbox's job, with the real Lambdas):
each test runs a fragment made of COPIES of the file's states, so what runs
here is what the file says. States the fragment leads to but does not include
become a Pass recording `$.reached`. Lambda tasks here hit moto's own Lambda
backend, which has no functions: every invocation fails ("Function not found"),
which is exactly what the cleanup tests need.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from asl_harness import WORKER_IDS, fragment, run_machine

CLEANUP = ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: stop database",
           "Cleanup: publish metrics", "Cleanup failed?", "Describe failure",
           "Run failed (cleanup incomplete)", "Run failed"]
ORIGINAL = {"Error": "JobTimeout", "Cause": "job deadline 2026-11-22T03:00:00Z passed; {not a template} 'quoted'"}


def test_init_keeps_the_input_and_execution_facts(sfn: Any, definition: dict[str, Any]) -> None:
    run = run_machine(sfn, fragment(definition, "Init", ["Init"]), {"dryRun": True, "jobTimeoutSeconds": 600}, "init")
    assert run.status == "ExecutionSucceeded"
    out = run.output
    assert out["input"] == {"dryRun": True, "jobTimeoutSeconds": 600}
    assert out["execution"]["name"] == "init-run"
    # moto hands $$.Execution.StartTime over as a datetime, serialised ISO 8601
    # with an offset (AWS: "...Z"). The Lambdas must accept both forms.
    assert datetime.fromisoformat(out["execution"]["startTime"].replace("Z", "+00:00")).tzinfo is not None
    assert out["reached"] == "Check database"


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
        ("Stop workers?", {"workers": {"dryRun": True}}, "Stop database"),
        ("Stop workers?", {"workers": {"dryRun": False}}, "Stop workers"),
        ("Cleanup: stop workers?", {"error": ORIGINAL}, "Cleanup: stop database"),
        ("Cleanup: stop workers?", {"error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": True}}, "Cleanup: stop database"),
        ("Cleanup: stop workers?", {"error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}, "Cleanup: stop workers"),
        ("Cleanup failed?", {"error": ORIGINAL}, "Run failed"),
        ("Cleanup failed?", {"error": ORIGINAL, "cleanupErrors": {"stopWorkers": ORIGINAL}}, "Describe failure"),
    ],
)
def test_choice_routes(sfn: Any, definition: dict[str, Any], choice: str, document: dict, expected: str) -> None:
    run = run_machine(sfn, fragment(definition, choice, [choice]), document, "choice")
    assert run.status == "ExecutionSucceeded", (run.error, run.cause)
    assert run.output["reached"] == expected


def test_wait_reads_the_lambdas_interval(sfn: Any, definition: dict[str, Any]) -> None:
    run = run_machine(sfn, fragment(definition, "Wait for job", ["Wait for job"]), {"poll": {"retryAfterSeconds": 0}}, "wait")
    assert run.status == "ExecutionSucceeded" and run.output["reached"] == "Check job"


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
    """The real cleanup chain, with every step failing: the workers do not exist
    in moto's EC2, the functions do not exist in moto's Lambda. Retries are
    stripped to keep this fast (the retry rules are checked structurally)."""
    document = {"error": ORIGINAL, "workers": {"instanceIds": WORKER_IDS, "dryRun": False}}
    run = run_machine(sfn, fragment(definition, "Cleanup: stop workers?", CLEANUP, strip_retry=True), document, "cleanup")
    assert run.status == "ExecutionFailed"
    assert run.error == ORIGINAL["Error"]
    assert run.entered() == ["Cleanup: stop workers?", "Cleanup: stop workers", "Cleanup: stop database",
                             "Cleanup: publish metrics", "Cleanup failed?", "Describe failure",
                             "Run failed (cleanup incomplete)"]
    prefix = ORIGINAL["Cause"] + " | cleanup also failed: "
    assert run.cause.startswith(prefix)
    errors = json.loads(run.cause[len(prefix):])
    assert set(errors) == {"stopWorkers", "stopDatabase", "publishMetrics"}
    assert all(set(e) == {"Error", "Cause"} for e in errors.values())
    assert "Function not found" in errors["stopDatabase"]["Cause"]

    # The name moto gives the EC2 failure is one the stopInstances retriers know.
    ec2_error = errors["stopWorkers"]["Error"]
    for name in ("Stop workers", "Cleanup: stop workers"):
        retried = [n for r in definition["States"][name]["Retry"] for n in r["ErrorEquals"]]
        assert ec2_error in retried, (name, ec2_error)
    assert re.search(r"do(es)? not exist", errors["stopWorkers"]["Cause"])


def test_cleanup_stops_real_workers(sfn: Any, definition: dict[str, Any]) -> None:
    """`Cleanup: stop workers` stops instances that exist (moto's EC2), writes a
    readable $.ec2Stop, and the chain still ends with the original error."""
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2)["Instances"]]
    document = {"error": ORIGINAL, "workers": {"instanceIds": ids, "dryRun": False}}
    machine = fragment(definition, "Cleanup: stop workers?", ["Cleanup: stop workers?", "Cleanup: stop workers"])
    run = run_machine(sfn, machine, document, "stop")
    assert run.status == "ExecutionSucceeded"
    assert run.output["reached"] == "Cleanup: stop database"
    stopping = run.output["ec2Stop"]["StoppingInstances"]
    assert sorted(i["InstanceId"] for i in stopping) == sorted(ids)
    assert run.output["error"] == ORIGINAL
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
              for i in r["Instances"]}
    assert set(states.values()) <= {"stopping", "stopped"}
