"""moto's ASL interpreter (the local engine) accepts the definition.

CreateStateMachine only parses the definition when moto's
`{"stepfunctions": {"execute_state_machine": true}}` is set (the `sfn`
fixture sets it). Its parser checks field types and ranges that
asl-validator does not (JitterStrategy values, MaxDelaySeconds >= 1,
HeartbeatSeconds < TimeoutSeconds, intrinsic function names).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from asl_harness import ROLE_ARN

S = "States"


def create(sfn: Any, definition: dict[str, Any], name: str) -> dict[str, Any]:
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)


def test_moto_accepts_the_definition(sfn: Any, definition: dict[str, Any]) -> None:
    arn = create(sfn, definition, "makenaide")["stateMachineArn"]
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"]) == definition


def _retrier(state: str, index: int, **fields: Any):
    return lambda d: d[S][state]["Retry"][index].update(fields)


BROKEN = [
    ("negative-max-delay", _retrier("Check database", 0, MaxDelaySeconds=-1), "mismatched input '-1' expecting INT"),
    ("zero-max-delay", _retrier("Cleanup: stop workers", 1, MaxDelaySeconds=0), "MaxDelaySeconds value MUST be"),
    ("jitter-partial", _retrier("Start workers", 2, JitterStrategy="PARTIAL"), "expecting {'\"FULL\"', '\"NONE\"'}"),
    ("backoff-below-one", _retrier("Stop database", 2, BackoffRate=0.5), "BackoffRate MUST be greater than or equal to 1.0"),
    ("interval-zero", _retrier("Launch job", 1, IntervalSeconds=0), "IntervalSeconds value MUST be"),
    ("heartbeat-equals-timeout", lambda d: d[S]["Check job"].update(HeartbeatSeconds=30), "'HeartbeatSeconds' interval MUST be smaller"),
    ("heartbeat-above-timeout", lambda d: d[S]["Stop workers"].update(HeartbeatSeconds=90), "'HeartbeatSeconds' interval MUST be smaller"),
    ("all-not-alone", lambda d: d[S]["Check job"]["Catch"][0]["ErrorEquals"].append("JobFailed"), "States.ALL must appear alone"),
    ("unknown-intrinsic", lambda d: d[S]["Begin workers"]["Parameters"].update(
        {"instanceIds.$": "States.SplitString('i-0123456789abcdef0', ',')"}), "is not a valid StatesFunctionNameType"),
    ("unknown-intrinsic-in-a-record", lambda d: d[S]["Record workers found"]["Parameters"]["ExpressionAttributeValues"].update(
        {":found": {"S.$": "States.JsonToStr($.ec2.foundRunning)"}}), "is not a valid StatesFunctionNameType"),
    ("negative-wait", lambda d: (d[S]["Wait for job"].pop("SecondsPath"), d[S]["Wait for job"].update(Seconds=-5)), "no viable alternative at input '\"Seconds\":-5'"),
]


@pytest.mark.parametrize("mutation, expected", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_moto_rejects_a_broken_copy(sfn: Any, definition: dict[str, Any], mutation, expected: str) -> None:
    good = json.loads(json.dumps(definition))
    mutation(definition)
    with pytest.raises(ClientError) as raised:
        create(sfn, definition, "broken")
    assert expected in str(raised.value)
    # The rejection was the mutation's doing: the unbroken copy still goes in.
    create(sfn, good, "unbroken")
