"""The scenario runner end to end, with stand-in functions and small definitions.

The six "binaries" are wrappers around `standin_runtime.py` and the definitions
are short workflows with the real substitution keys, so this checks the
runner's plumbing (setup, deploy, executions, events, report, checks, exit
codes) without a Rust build. The real workflow is covered by `make e2e`'s
scenarios.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from standin_binaries import write_standin_binaries

TESTS_DIR = Path(__file__).resolve().parents[2]

DEFINITION = {
    "StartAt": "Check database",
    "States": {
        "Check database": {
            "Type": "Task",
            "Resource": "${RdsCheckFunctionArn}",
            "Parameters": {"do": "echo"},
            "ResultPath": "$.rds",
            "Next": "Stop workers",
        },
        "Stop workers": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:ec2:stopInstances",
            "Parameters": {"InstanceIds.$": "States.StringSplit('${WorkerInstanceIds}', ',')"},
            "ResultPath": "$.ec2Stop",
            "Next": "Publish metrics",
        },
        "Publish metrics": {
            "Type": "Task",
            "Resource": "${EmitMetricsFunctionArn}",
            "Parameters": {"do.$": "$.mode"},
            "ResultPath": "$.metrics",
            "End": True,
        },
    },
}


# A workflow with a run lease (so the stack's rules are delivered): a run takes
# the lease or ends skipped, a cleanup run describes the ended execution, a
# sweep just says so.
LEASE_DEFINITION = {
    "StartAt": "Mode",
    "States": {
        "Mode": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.cleanupAfter", "IsPresent": True, "Next": "Describe ended run"},
                {"Variable": "$.sweep", "IsPresent": True, "Next": "Sweep"},
            ],
            "Default": "Take lease",
        },
        "Describe ended run": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
            "Parameters": {"ExecutionArn.$": "$.cleanupAfter"},
            "ResultSelector": {"status.$": "$.Status"},
            "ResultPath": "$.ended",
            "Next": "Cleaned up",
        },
        "Cleaned up": {"Type": "Pass", "Parameters": {"cleanup": {"after.$": "$.cleanupAfter", "endedStatus.$": "$.ended.status"}}, "End": True},
        "Sweep": {"Type": "Pass", "Parameters": {"swept.$": "$.sweep"}, "End": True},
        "Take lease": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {
                "TableName": "${LeaseTableName}",
                "Item": {"pk": {"S": "run-lease"}, "heldBy": {"S.$": "$$.Execution.Name"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            },
            "ResultPath": None,
            "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": "$.error", "Next": "Skipped"}],
            "Next": "Check database",
        },
        "Skipped": {"Type": "Pass", "Parameters": {"skipped": {"reason": "RunInProgress"}}, "End": True},
        "Check database": {
            "Type": "Task",
            "Resource": "${RdsCheckFunctionArn}",
            "Parameters": {"do": "sleep", "seconds.$": "$.seconds"},
            "ResultPath": "$.rds",
            "Next": "Release lease",
        },
        "Release lease": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:deleteItem",
            "Parameters": {"TableName": "${LeaseTableName}", "Key": {"pk": {"S": "run-lease"}}},
            "ResultPath": None,
            "End": True,
        },
    },
}


# Publishes the input's subject and message to the alarm topic, as `Cleanup: notify` does.
NOTIFY_DEFINITION = {
    "StartAt": "Notify",
    "States": {
        "Notify": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"TopicArn": "${AlarmTopicArn}", "Subject.$": "$.subject", "Message.$": "$.message"},
            "ResultPath": None,
            "End": True,
        },
    },
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runner")
    bins = write_standin_binaries(root / "bin")
    definition = root / "small.asl.json"
    definition.write_text(json.dumps(DEFINITION), encoding="utf-8")
    (root / "lease.asl.json").write_text(json.dumps(LEASE_DEFINITION), encoding="utf-8")
    (root / "notify.asl.json").write_text(json.dumps(NOTIFY_DEFINITION), encoding="utf-8")
    return bins, definition


def _run(setup: tuple[Path, Path], tmp_path: Path, scenario: dict[str, Any], definition_name: str | None = None) -> tuple[int, dict[str, Any]]:
    bins, definition = setup
    if definition_name:
        definition = definition.with_name(definition_name)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    cmd = [sys.executable, str(TESTS_DIR / "run_scenario.py"), str(path), "--json", "--definition", str(definition), "--bin-dir", str(bins)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_holding_expectation_exits_zero_with_a_full_report(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "rds": {"status": "available"},
            "ec2": {"instances": [{"name": "worker", "state": "running"}]},
            "input": {"mode": "echo"},
            "expect": {
                "status": "SUCCEEDED",
                "resources": {"rds": "available", "ec2": {"worker": "stopped"}},
                "calls": {"ec2:StopInstances": 1},
                "mutatingCalls": 1,
                "state": {"rds.echo.do": "echo"},
            },
        },
    )
    assert code == 0, report["checks"]
    assert report["execution"]["stateTransitions"] == 3
    assert [line["state"] for line in report["timeline"]] == ["Check database", "Stop workers", "Publish metrics"]
    stop = [c for c in report["calls"] if c["call"] == "ec2:StopInstances"]
    assert [c["caller"] for c in stop] == ["statemachine"]
    name = report["execution"]["name"]
    assert {c["execution"] for c in report["calls"]} == {name}, "every call is attributed to the one execution"
    # No run lease in this definition: the stack's rules are not delivered, the status events are still logged.
    assert report["rulesActive"] == []
    assert [e["summary"] for e in report["events"]] == [f"{name} RUNNING", f"{name} SUCCEEDED"]
    assert [e["startedBy"] for e in report["executions"]] == ["runner"]
    # Deployed as the stack deploys it: version 1 behind the alias `live`, started on the alias.
    main = report["executions"][0]
    assert main["arn"] == f"arn:aws:states:us-east-1:123456789012:execution:makenaide-sandbox:{name}"
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:makenaide-sandbox"
    assert (main["stateMachineVersionArn"], main["stateMachineAliasArn"]) == (f"{machine}:1", f"{machine}:live")
    assert next(c for c in report["checks"] if c["check"] == "every execution started through the alias live")["ok"]


def test_a_failed_expectation_exits_one_and_names_what_did_not_hold(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "input": {"mode": "fail"},
            "expect": {
                "status": "SUCCEEDED",
                "calls": {"ec2:StopInstances": 2},
                "causeContains": "the job failed",
                "causeNotContains": ["the job failed", "a secret"],
            },
        },
    )
    assert code == 1
    failed = {c["check"]: c for c in report["checks"] if not c["ok"]}
    assert failed["status"]["actual"] == "FAILED"
    assert failed["calls[ec2:StopInstances] (answered OK)"]["actual"] == 1
    assert "cause does not contain 'the job failed'" in failed
    held = {c["check"] for c in report["checks"] if c["ok"]}
    assert {"cause contains 'the job failed'", "cause does not contain 'a secret'"} <= held
    assert report["execution"]["error"] == "JobFailed"


def test_a_malformed_scenario_exits_two(setup: tuple[Path, Path], tmp_path: Path) -> None:
    bins, definition = setup
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"expect": {"status": "SUCCEEDED"}, "faults": {"aws": [{"call": "StartInstances", "code": "X"}]}}), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(TESTS_DIR / "run_scenario.py"), str(path), "--bin-dir", str(bins)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "service:Operation" in proc.stderr


def test_concurrent_runs_and_rds_auto_start_start_executions_and_count_calls_per_execution(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "rds": {"status": "stopped"},
            "timings": {"rdsStart": 0.5},
            "input": {"seconds": 2},
            "executionName": "first",
            "concurrent": [
                {
                    "startAfterSeconds": 0.5,
                    "input": {"seconds": 0},
                    "executionName": "second",
                    "expect": {
                        "status": "SUCCEEDED",
                        "output": {"skipped.reason": "RunInProgress"},
                        "calls": {"lambda:Invoke": 0, "dynamodb:PutItem": 0},
                        "attempts": {"dynamodb:PutItem": 1},
                    },
                }
            ],
            "rdsAutoStartAfterSeconds": 1,
            "expect": {
                "status": "SUCCEEDED",
                "calls": {"lambda:Invoke": 1, "dynamodb:PutItem": 1, "dynamodb:DeleteItem": 1},
                "allCalls": {"lambda:Invoke": 1, "dynamodb:PutItem": 1},
                "executionsStarted": 1,
                "eventExecutions": [{"input": {"sweep": "rds-auto-start"}, "status": "SUCCEEDED", "output": {"swept": "rds-auto-start"}}],
                "resources": {"rds": "available"},
            },
        },
        "lease.asl.json",
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert [(e["label"], e["startedBy"]) for e in report["executions"]] == [("main", "runner"), ("concurrent[0]", "concurrent"), ("DbAutoStartGuard#1", "DbAutoStartGuard")]
    assert report["rulesActive"] == ["CleanupAfterEnd", "DbAutoStartGuard"]
    rds_events = [e for e in report["events"] if e["source"] == "aws.rds"]
    assert [e["event"]["detail"]["EventID"] for e in rds_events] == ["RDS-EVENT-0154"]
    assert rds_events[0]["deliveries"][0]["execution"] == report["executions"][2]["name"]
    assert {c["execution"] for c in report["calls"]} == {e["name"] for e in report["executions"][:2]}, "the sweep made no call"
    checks = {c["check"] for c in report["checks"]}
    assert {"concurrent[0] output.skipped.reason", "executionsStarted (by events)"} <= checks


def test_an_aborted_run_gets_a_cleanup_run_from_the_rule(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "input": {"seconds": 4},
            "executionName": "abort-me",
            "abortAfterSeconds": 1,
            "expect": {
                "status": "ABORTED",
                "executionsStarted": 1,
                "eventExecutions": [
                    {
                        "input": {"endedWith": "ABORTED", "cleanupAfter": "*:execution:makenaide-sandbox:abort-me"},
                        "status": "SUCCEEDED",
                        "output": {"cleanup.endedStatus": "ABORTED"},
                        "calls": {"states:DescribeExecution": 1},
                    }
                ],
            },
        },
        "lease.asl.json",
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["runnerActions"][0]["action"] == "StopExecution abort-me"
    ended = next(e for e in report["events"] if e["summary"] == "abort-me ABORTED")
    assert ended["event"]["detail"]["status"] == "ABORTED"
    assert ended["deliveries"][0]["input"] == {"cleanupAfter": report["executions"][0]["arn"], "endedWith": "ABORTED"}
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:makenaide-sandbox"
    detail = ended["event"]["detail"]
    assert (detail["stateMachineArn"], detail["stateMachineVersionArn"], detail["stateMachineAliasArn"]) == (machine, f"{machine}:1", f"{machine}:live")
    assert report["executions"][1]["stateMachineAliasArn"] == f"{machine}:live", "the rule's target is the alias"


def test_the_alarm_topic_records_what_the_state_machine_publishes(setup: tuple[Path, Path], tmp_path: Path) -> None:
    message = "Execution: run-1\nStatus: FAILED\nCause: boom"
    code, report = _run(
        setup,
        tmp_path,
        {
            "input": {"subject": "makenaide: run-1 FAILED (JobFailed)", "message": message},
            "expect": {
                "status": "SUCCEEDED",
                "notifications": [{"subjectContains": "FAILED (JobFailed)", "messageContains": ["Status: FAILED", "boom"],
                                   "messageNotContains": "hunter2"}],
            },
        },
        "notify.asl.json",
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert [(n["subject"], n["message"]) for n in report["notifications"]] == [("makenaide: run-1 FAILED (JobFailed)", message)]
    assert report["notifications"][0]["messageId"]
    # The same run against wrong expectations: each part is checked, and the count.
    code, report = _run(
        setup,
        tmp_path,
        {
            "input": {"subject": "makenaide: run-1 FAILED (JobFailed)", "message": message},
            "expect": {"status": "SUCCEEDED", "notifications": [{"subjectContains": "ABORTED", "messageNotContains": ["boom"]}, {}]},
        },
        "notify.asl.json",
    )
    assert code == 1
    failed = {c["check"] for c in report["checks"] if not c["ok"]}
    assert failed == {"notifications (published to the alarm topic)", "notifications[0].subject contains 'ABORTED'",
                      "notifications[0].message does not contain 'boom'"}


def test_nothing_published_holds_an_empty_notifications_list(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(setup, tmp_path, {"input": {"mode": "echo"}, "expect": {"status": "SUCCEEDED", "notifications": []}})
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    assert report["notifications"] == []


def test_execution_timeout_overrides_the_definition_and_an_unmet_event_expectation_fails(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "input": {"seconds": 4},
            "executionTimeoutSeconds": 1,
            "expect": {
                "status": "TIMED_OUT",
                "eventExecutions": [
                    {"input": {"endedWith": "TIMED_OUT"}, "status": "SUCCEEDED"},
                    {"input": {"endedWith": "FAILED"}},
                ],
            },
        },
        "lease.asl.json",
    )
    assert code == 1
    failed = [c["check"] for c in report["checks"] if not c["ok"]]
    assert failed == ["eventExecutions[1] found"], failed
    assert report["execution"]["status"] == "TIMED_OUT" and report["execution"]["seconds"] < 3


def test_terminate_after_seconds_terminates_the_worker_and_is_reported(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "ec2": {"instances": [{"name": "worker", "state": "running", "terminateAfterSeconds": 0.5}, {"name": "other", "state": "running"}]},
            "timings": {"ec2Terminate": 0.5},
            "input": {"seconds": 2},
            "expect": {"status": "SUCCEEDED", "resources": {"ec2": {"worker": "terminated", "other": "running"}}},
        },
        "lease.asl.json",
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    worker = report["instanceIds"]["worker"]
    actions = [a["action"] for a in report["runnerActions"]]
    assert actions == [f"ec2Terminate: worker ({worker}) running -> shutting-down, terminated in 0.5 s"]
    assert 0.5 <= report["runnerActions"][0]["at"] < 2


def test_external_stop_stops_the_worker_with_its_reason_and_is_reported(setup: tuple[Path, Path], tmp_path: Path) -> None:
    code, report = _run(
        setup,
        tmp_path,
        {
            "ec2": {"instances": [{"name": "worker", "state": "running"}, {"name": "other", "state": "running"}]},
            "timings": {"ec2Stop": 0.5},
            "externalStop": [
                {"afterSeconds": 0.5, "instance": "worker", "reason": "Server.ScheduledStop"},
                {"afterSeconds": 1.5, "instance": "worker"},
            ],
            "input": {"seconds": 2.5},
            "expect": {"status": "SUCCEEDED", "resources": {"ec2": {"worker": "stopped", "other": "running"}}},
        },
        "lease.asl.json",
    )
    assert code == 0, [c for c in report["checks"] if not c["ok"]]
    worker = report["instanceIds"]["worker"]
    assert [a["action"] for a in report["runnerActions"]] == [
        f"ec2Stop (Server.ScheduledStop): worker ({worker}) running -> stopping, stopped in 0.5 s",
        f"ec2Stop (Client.UserInitiatedShutdown): worker ({worker}) is stopped, not running: nothing to stop",
    ]
    assert 0.5 <= report["runnerActions"][0]["at"] < 1.5
    assert report["stateReasons"]["worker"] == {"code": "Server.ScheduledStop", "transitionReason": "User initiated"}
    assert report["stateReasons"]["other"] == {"code": "", "transitionReason": ""}
    assert report["calls"] == [] or all(c["call"] != "ec2:StopInstances" for c in report["calls"]), "an outside stop is no call of the workflow"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"concurrent": [{"expect": {"resources": {"rds": "stopped"}}}]}, "top-level expect"),
        ({"concurrent": [{"startAfter": 1}]}, "unknown key"),
        ({"executionTimeoutSeconds": 0.5}, "whole number"),
        ({"expect": {"status": "SUCCEEDED", "eventExecutions": [{"statuz": "FAILED"}]}}, "unknown key"),
        ({"executionName": "x", "concurrent": [{"executionName": "x"}]}, "must differ"),
        ({"ec2": {"instances": [{"name": "w", "terminateAfterSeconds": -1}]}}, "ec2.instances[0].terminateAfterSeconds"),
        ({"ec2": {"instances": [{"name": "w", "terminateAfterSeconds": "soon"}]}}, "at least 0"),
        ({"ec2": {"instances": [{"name": "w", "terminateAfter": 3}]}}, "unknown key"),
        ({"ec2": {"instances": [{"name": "w"}, {"name": "w"}]}}, "must differ"),
        ({"externalStop": {"afterSeconds": 1, "instance": "nobody"}}, "externalStop[0].instance"),
        ({"externalStop": {"afterSeconds": 1, "instance": "worker", "reason": "Server.Whatever"}}, "externalStop[0].reason"),
        ({"externalStop": [{"instance": "worker"}]}, "afterSeconds and instance are required"),
        ({"externalStop": {"afterSeconds": -2, "instance": "worker"}}, "externalStop[0].afterSeconds"),
        ({"externalStop": {"afterSeconds": 1, "instance": "worker", "why": "x"}}, "unknown key"),
        ({"job": {"statusDetails": "InProgress"}}, "job.statusDetails: a terminal StatusDetails"),
        ({"job": {"statusDetails": "Undelivered"}}, "job.statusDetails"),
        ({"job": {"statusDetails": "Undeliverable", "outcome": "Failed"}}, "not both"),
        ({"job": {"statusDetails": "Undeliverable", "neverEnds": True}}, "neverEnds does not end it"),
        ({"job": {"stderr": 3}}, "job.stderr"),
        ({"job": {"pendingSeconds": -1}}, "job.pendingSeconds"),
        ({"ec2": {"instances": [{"name": "w", "job": {"pendingSecond": 1}}]}}, "unknown key"),
        ({"ec2": {"instances": [{"name": "w", "job": {"statusDetails": "Cancelling"}}]}}, "ec2.instances[w].job.statusDetails"),
        ({"expect": {"status": "SUCCEEDED", "causeNotContains": 3}}, "causeNotContains"),
        ({"expect": {"status": "SUCCEEDED", "notifications": {"subjectContains": "x"}}}, "notifications: a list"),
        ({"expect": {"status": "SUCCEEDED", "notifications": [{"subject": "x"}]}}, "unknown key"),
        ({"expect": {"status": "SUCCEEDED", "notifications": [{"messageContains": 3}]}}, "notifications[0].messageContains"),
        ({"expect": {"status": "SUCCEEDED", "notifications": [{"subjectContains": ["x"]}]}}, "notifications[0].subjectContains"),
        ({"expect": {"status": "SUCCEEDED", "eventExecutions": [{"notifications": []}]}}, "top-level expect"),
    ],
)
def test_new_keys_are_validated(setup: tuple[Path, Path], tmp_path: Path, scenario: dict[str, Any], message: str) -> None:
    bins, definition = setup
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"expect": {"status": "SUCCEEDED"}, **scenario}), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(TESTS_DIR / "run_scenario.py"), str(path), "--bin-dir", str(bins)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_an_instances_own_job_replaces_the_scenarios_ending_and_inherits_the_rest(tmp_path: Path) -> None:
    from sandbox.scenario import load

    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps(
            {
                "job": {"duration": 3, "outcome": "Failed", "exitCode": 3, "stderr": "boom\n"},
                "ec2": {"instances": [{"name": "w1"}, {"name": "w2", "job": {"pendingSeconds": 30, "statusDetails": "Delivery Timed Out"}}]},
                "externalStop": {"afterSeconds": 4, "instance": "w1", "reason": "Server.SpotInstanceShutdown"},
                "expect": {"status": "FAILED"},
            }
        ),
        encoding="utf-8",
    )
    scenario = load(path)
    assert scenario.instances[0].job is None
    own = scenario.instances[1].job
    assert own is not None
    assert (own.duration, own.pending_seconds, own.stderr) == (3.0, 30.0, "boom\n"), "inherited"
    assert (own.final_details, own.exit_code, own.response_code()) == ("Delivery Timed Out", None, -1), "its own ending, not exit 3"
    assert (scenario.job.final_details, scenario.job.response_code()) == ("Failed", 3)
    assert [(s.after, s.instance, s.reason) for s in scenario.external_stops] == [(4.0, "w1", "Server.SpotInstanceShutdown")]
