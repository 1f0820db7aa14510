"""The job document: filled from statemachine/job-document.json as the stack
fills it, the only document a command may run, its parameters checked as SSM
checks them. Through boto3 against the sandbox endpoint (no Rust build)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sandbox import jobdocument
from sandbox.runner import SANDBOX_CONFIG, SANDBOX_JOB_COMMANDS, SANDBOX_JOB_WORKING_DIRECTORY
from sandbox.world import JobBehaviour

from test_server import JOB_DOCUMENT, Sandbox, _new_instance, _ping, _wait_for
from test_server import sandbox as sandbox  # noqa: F401 (the module-scoped fixture)


def _refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    error = refused.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_the_template_is_filled_with_the_deployment_job() -> None:
    content = jobdocument.load(["cd app", "./run.sh --fast"], "/opt/makenaide")
    assert "$comment" not in content
    assert content["schemaVersion"] == "2.2"
    (step,) = content["mainSteps"]
    assert step["action"] == "aws:runShellScript"
    assert step["inputs"]["runCommand"] == ["cd app", "./run.sh --fast"]
    assert step["inputs"]["workingDirectory"] == "/opt/makenaide"
    # The only run-time parameter: the timeout, never command text.
    assert list(content["parameters"]) == ["executionTimeout"]
    assert step["inputs"]["timeoutSeconds"] == "{{ executionTimeout }}"
    assert "${" not in json.dumps(content)


@pytest.mark.parametrize("bad", ["${JobCommandz}", "cd ${JobWorkingDirectory}"])
def test_a_placeholder_the_deployment_does_not_fill_is_an_error(bad: str) -> None:
    template = {"mainSteps": [{"inputs": {"runCommand": bad}}]}
    with pytest.raises(jobdocument.DocumentError):
        jobdocument.fill(template, ["x"], "/")


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("1", True), ("3600", True), ("172800", True), ("99999", True), ("0", False), ("172801", False), ("600; reboot", False), ("", False)],
)
def test_the_execution_timeout_pattern_bounds_the_value(value: str, accepted: bool) -> None:
    document = jobdocument.Document("Job", jobdocument.load(["x"], "/"))
    result = document.parameters({"executionTimeout": [value]})
    assert isinstance(result, dict) is accepted, result


def test_the_runner_registers_the_stack_document_from_the_template() -> None:
    assert SANDBOX_CONFIG["JOB_DOCUMENT_NAME"] and "JOB_COMMANDS" not in SANDBOX_CONFIG
    expected = jobdocument.load(SANDBOX_JOB_COMMANDS, SANDBOX_JOB_WORKING_DIRECTORY)
    assert expected["mainSteps"][0]["inputs"]["runCommand"] == SANDBOX_JOB_COMMANDS


def test_only_the_job_document_runs_with_only_its_parameters(sandbox: Sandbox) -> None:  # noqa: F811
    iid = _new_instance(sandbox, "running")
    _wait_for(lambda: _ping(sandbox, iid) == "Online")
    ssm = sandbox.client("ssm")
    send = lambda **kw: ssm.send_command(InstanceIds=[iid], **kw)  # noqa: E731
    before = len(sandbox.world.commands)
    # An AWS-owned document exists, but the stack's policy allows only the job document.
    code, status, message = _refusal(lambda: send(DocumentName="AWS-RunShellScript", Parameters={"commands": ["reboot"]}))
    assert (code, status) == ("AccessDeniedException", 400)
    assert "ssm:SendCommand" in message and "document/AWS-RunShellScript" in message
    assert _refusal(lambda: send(DocumentName="Someone-Else"))[0] == "InvalidDocument"
    # Command text cannot ride along as a parameter of the job document.
    for parameters in ({"commands": ["reboot"]}, {"workingDirectory": ["/tmp"]}, {"executionTimeout": ["0"]}):
        assert _refusal(lambda: send(DocumentName=JOB_DOCUMENT, Parameters=parameters))[0] == "InvalidParameters", parameters
    assert _refusal(lambda: send(DocumentName=JOB_DOCUMENT, DocumentVersion="7"))[0] == "InvalidDocumentVersion"
    assert len(sandbox.world.commands) == before, "a refused command is not kept"
    # Accepted: the parameter left out takes the document's default; $LATEST is a version.
    sent = send(DocumentName=JOB_DOCUMENT, DocumentVersion="$LATEST", Comment="makenaide:doc")["Command"]
    assert sent["DocumentName"] == JOB_DOCUMENT
    assert sent["Parameters"] == {"executionTimeout": ["3600"]}


def test_the_plugin_is_the_documents_step(sandbox: Sandbox) -> None:  # noqa: F811
    iid = _new_instance(sandbox, "running")
    sandbox.world.instance_jobs[iid] = JobBehaviour(duration=0.1)
    _wait_for(lambda: _ping(sandbox, iid) == "Online")
    ssm = sandbox.client("ssm")
    sent = ssm.send_command(InstanceIds=[iid], DocumentName=JOB_DOCUMENT)["Command"]
    _wait_for(lambda: ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=iid)["Status"] == "Success")
    assert ssm.get_command_invocation(CommandId=sent["CommandId"], InstanceId=iid)["PluginName"] == "runJob"
    plugins = ssm.list_command_invocations(CommandId=sent["CommandId"], Details=True)["CommandInvocations"][0]["CommandPlugins"]
    assert [p["Name"] for p in plugins] == ["runJob"]
