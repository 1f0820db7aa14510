"""Where moto's ASL engine differs from Step Functions in a way our workflow sees.

Two differences, found in moto 5.2.5.

1. `$$.Execution.StartTime` is a Python datetime in moto's context object;
   Step Functions gives an ISO 8601 string such as `2026-11-22T01:00:03.512Z`.
   The workflow copies it into the state document (`$.execution.startTime`),
   so with moto the functions would receive `...+00:00` with microseconds,
   and moto's own `DescribeExecution` fails to serialise the output (HTTP 500).
   `apply()` makes it the string Step Functions sends.

2. A Task whose `Resource` is a Lambda
function ARN (the form `statemachine/workflow.asl.json` uses) turns an error
of the Lambda *service* (the Invoke API answering HTTP 5xx, e.g.
`ServiceException`) into the error name `Exception`. Step Functions names it
`Lambda.ServiceException` (as moto already does for the `lambda:invoke`
integration), and the workflow's Retry matches that name. `apply()` makes the
ARN form behave the same way; function errors (`X-Amz-Function-Error`) are
untouched.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_original_from_error = StateTaskLambda._from_error
_original_environment = ExecutionWorker._get_evaluation_environment
_applied = False


def _from_error(self: StateTaskLambda, env: Any, ex: Exception) -> FailureEvent:
    if isinstance(ex, ClientError):
        code = ex.response["Error"]["Code"]
        meta = ex.response["ResponseMetadata"]
        error = f"Lambda.{code}"
        cause = (
            f"{ex.response['Error']['Message']} (Service: AWSLambda; Status Code: {meta['HTTPStatusCode']}; "
            f"Error Code: {code}; Request ID: {meta.get('RequestId', '')}; Proxy: null)"
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )
    return _original_from_error(self, env, ex)


def aws_timestamp(value: dt.datetime) -> str:
    """A UTC time as Step Functions writes it: milliseconds and `Z`."""
    utc = value.astimezone(dt.timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _evaluation_environment(self: ExecutionWorker) -> Any:
    env = _original_environment(self)
    execution = env.states.context_object.context_object_data["Execution"]
    if isinstance(execution.get("StartTime"), dt.datetime):
        execution["StartTime"] = aws_timestamp(execution["StartTime"])
    return env


def apply() -> None:
    """Patch moto once per process."""
    global _applied
    if not _applied:
        StateTaskLambda._from_error = _from_error  # type: ignore[method-assign]
        ExecutionWorker._get_evaluation_environment = _evaluation_environment  # type: ignore[method-assign]
        _applied = True
