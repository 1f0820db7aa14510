"""Load `statemachine/workflow.asl.json` and apply deployment substitutions.

The same file is deployed by the CDK app (CloudFormation `DefinitionSubstitutions`)
and run by the sandbox; this module is the sandbox's side of that substitution.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFINITION_PATH = REPO_ROOT / "statemachine" / "workflow.asl.json"

# Substitution key -> function (binary) name. The CDK app fills the same keys
# with the deployed functions' ARNs.
FUNCTION_KEYS: dict[str, str] = {
    "RdsCheckFunctionArn": "rds_check",
    "Ec2StartFunctionArn": "ec2_start",
    "SsmLaunchFunctionArn": "ssm_launch",
    "PollEc2StateFunctionArn": "poll_ec2_state",
    "RdsStopFunctionArn": "rds_stop",
    "EmitMetricsFunctionArn": "emit_metrics",
}
WORKER_IDS_KEY = "WorkerInstanceIds"
# The run lease: a DynamoDB table with the partition key `pk` (String), which
# the sandbox creates in moto before the run.
LEASE_TABLE_KEY = "LeaseTableName"
LEASE_TABLE_NAME = "makenaide-sandbox-lease"
# The alarm topic the failure notification is published to (`Cleanup: notify`);
# the sandbox creates it in moto's SNS before the run and reads what it got.
ALARM_TOPIC_KEY = "AlarmTopicArn"
ALARM_TOPIC_NAME = "makenaide-sandbox-alarms"
# A short string naming the deployed revision of the workflow (the CDK app
# computes one per deploy; the sandbox's is `revision()` of the definition text).
REVISION_KEY = "Revision"
# The Lambda version the state machine invokes: the CDK app publishes a version
# of each function per deploy and substitutes its qualified ARN; the sandbox's
# functions have one published version, 1 (the same code as `$LATEST`).
FUNCTION_VERSION = "1"

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def local_function_arn(name: str, region: str = "us-east-1", account: str = "123456789012") -> str:
    """The unqualified ARN of a sandbox function (`$LATEST`)."""
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def function_version_arn(name: str, region: str = "us-east-1", account: str = "123456789012", version: str = FUNCTION_VERSION) -> str:
    """The qualified ARN of a published version of a sandbox function (what the definition invokes)."""
    return f"{local_function_arn(name, region, account)}:{version}"


def revision(text: str) -> str:
    """The sandbox's `${Revision}`: the first 12 hex digits of the SHA-256 of the definition text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def alarm_topic_arn(region: str = "us-east-1", account: str = "123456789012") -> str:
    return f"arn:aws:sns:{region}:{account}:{ALARM_TOPIC_NAME}"


def substitutions(worker_instance_ids: list[str], region: str = "us-east-1", text: str | None = None) -> dict[str, str]:
    """Every key the sandbox substitutes. `text` is the definition (for `${Revision}`; default: the file's)."""
    values = {key: function_version_arn(name, region) for key, name in FUNCTION_KEYS.items()}
    values[WORKER_IDS_KEY] = ",".join(worker_instance_ids)
    values[LEASE_TABLE_KEY] = LEASE_TABLE_NAME
    values[ALARM_TOPIC_KEY] = alarm_topic_arn(region)
    values[REVISION_KEY] = revision(text if text is not None else DEFINITION_PATH.read_text(encoding="utf-8"))
    return values


def uses(text: str, key: str) -> bool:
    """Whether a definition's text has the placeholder `${key}`."""
    return any(match.group(1) == key for match in _PLACEHOLDER.finditer(text))


def render(text: str, values: dict[str, str]) -> str:
    """Replace every `${Key}`; an unknown key is an error, as in CloudFormation."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"no substitution for ${{{key}}} in the state machine definition")
        return values[key]

    return _PLACEHOLDER.sub(replace, text)


def load(worker_instance_ids: list[str], region: str = "us-east-1") -> dict[str, Any]:
    """The definition as the sandbox runs it (a dict)."""
    raw = DEFINITION_PATH.read_text(encoding="utf-8")
    return json.loads(render(raw, substitutions(worker_instance_ids, region, raw)))
