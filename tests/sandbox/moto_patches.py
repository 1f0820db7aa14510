"""Where moto's ASL engine differs from Step Functions in a way our workflow sees.

Four differences, found in moto 5.2.5, and one piece of instrumentation.

1. `$$.Execution.StartTime` is a Python datetime in moto's context object;
   Step Functions gives an ISO 8601 string such as `2026-11-22T01:00:03.512Z`.
   The workflow copies it into the state document (`$.execution.startTime`),
   so with moto the functions would receive `...+00:00` with microseconds,
   and moto's own `DescribeExecution` fails to serialise the output (HTTP 500).
   `apply()` makes it the string Step Functions sends.

2. A Task whose `Resource` is a Lambda function ARN (the form
   `statemachine/workflow.asl.json` uses) turns an error of the Lambda
   *service* (the Invoke API answering HTTP 5xx, e.g. `ServiceException`) into
   the error name `Exception`. Step Functions names it
   `Lambda.ServiceException` (as moto already does for the `lambda:invoke`
   integration), and the workflow's Retry matches that name. `apply()` makes
   the ARN form behave the same way; function errors (`X-Amz-Function-Error`)
   are untouched.

3. `arn:aws:states:::aws-sdk:*` tasks take and return the member names of
   boto3 instead of the AWS API's. Step Functions takes the API's names
   (`{"ExecutionArn.$": ...}` for `sfn:describeExecution`) and returns them
   (`$.Status`, `$.StartDate`), with timestamps as ISO 8601 strings. moto
   carries LocalStack's converters (`_to_boto_request`, `_from_boto_response`)
   but its aws-sdk task never calls them, so `ExecutionArn` reaches botocore
   as an unknown parameter (`States.Runtime`) and the result says `status`,
   with datetime objects that moto cannot even serialise in the execution's
   output. `apply()` wires both converters into the aws-sdk task, using the
   botocore model of the called operation, and writes every datetime of a
   result as `2026-11-22T01:00:03.512Z`. For services whose boto3 names are
   already the API's (EC2 `InstanceIds`, `StoppingInstances`) nothing changes.
   (The DynamoDB integrations `arn:aws:states:::dynamodb:*` already take and
   return the API's names, `Item`, `Attributes`: untouched.) Checked by
   `test_aws_sdk_task_speaks_the_aws_api_names`.

4. moto keeps state machine versions (`publish=True`, PublishStateMachineVersion)
   but cannot start an execution on one: `StartExecution` with a version ARN
   fails inside moto (a version has no idempotency check and no backend to
   snapshot), and an execution filed under its version would be invisible to
   `DescribeExecution`, `ListExecutions`, `StopExecution` and
   `GetExecutionHistory`, which look executions up by the state machine's
   name. `apply()` starts it as Step Functions does: it runs a snapshot of the
   version's definition, its ARN is `...:execution:<machine>:<name>` (no
   version in it), it is listed with the state machine's executions, and its
   `stateMachineArn` is the unqualified one. (Alias ARNs are resolved to a
   version before moto sees them: `states.py`.) Checked by `test_alias.py`.

Instrumentation (not a difference): each task of moto's engine runs in a
thread of that execution, and makes its AWS calls from that thread with a
client it creates right then (signed with the access key id `ak`).
`apply()` notes, for the thread running a task, the ARN of the execution the
task belongs to, and a botocore `before-sign` hook on boto3's default session
(where moto's engine makes its clients) adds that ARN to each call as the
header `x-sandbox-execution-arn`. The sandbox server attributes the engine's
calls (Lambda Invoke, DynamoDB, aws-sdk) to executions with it; clients made
by anyone else, in any other thread, send no such header.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.models import StateMachineVersion
from moto.stepfunctions.parser.api import InvalidExecutionInput
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

EXECUTION_HEADER = "x-sandbox-execution-arn"

_original_from_error = StateTaskLambda._from_error
_original_environment = ExecutionWorker._get_evaluation_environment
_original_lambda_execution = StateTaskLambda._eval_execution
_original_service_execution = StateTaskService._eval_execution
_original_start_execution = StepFunctionsParserBackend.start_execution
_applied = False
_apply_lock = threading.Lock()
_current = threading.local()  # .execution_arn: the execution whose task this thread runs
_models: dict[tuple[str, str], Any] = {}


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


# -- 3. aws-sdk tasks speak the AWS API's member names ------------------------------
def _operation_model(task: StateTaskServiceAwsSdk) -> Any:
    """The botocore model of the operation an aws-sdk task calls (None if unknown)."""
    service = task._get_boto_service_name()
    action = task.resource.api_action
    key = (service, action.lower())
    if key not in _models:
        model = boto3.session.Session()._session.get_service_model(service)
        names = {name.lower(): name for name in model.operation_names}
        _models[key] = model.operation_model(names[key[1]]) if key[1] in names else None
    return _models[key]


def _iso_datetimes(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso_datetimes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_datetimes(v) for v in value]
    if isinstance(value, dt.datetime):
        return aws_timestamp(value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc))
    return value


def _normalise_parameters(self: StateTaskServiceAwsSdk, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    operation = _operation_model(self)
    if operation is not None and operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(self: StateTaskServiceAwsSdk, response: Any, *args: Any, **kwargs: Any) -> None:
    if not isinstance(response, dict):
        return
    operation = _operation_model(self)
    if operation is not None and operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)
    converted = _iso_datetimes(response)
    response.clear()
    response.update(converted)


# -- 4. executions of a state machine version ---------------------------------------
def _start_execution(
    self: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, execution_input: Any = None, trace_header: Any = None
) -> Any:
    target = self.describe_state_machine(state_machine_arn)
    if not isinstance(target, StateMachineVersion):
        return _original_start_execution(self, state_machine_arn, name, execution_input, trace_header)
    source = self.describe_state_machine(target.source_arn)
    name = name or str(uuid.uuid4())
    self._validate_name(name)
    existing = source._handle_name_input_idempotency(name, execution_input)
    if existing is not None:
        return existing
    input_data = "{}" if execution_input is None else execution_input
    try:
        json.loads(input_data)
    except ValueError as exc:
        raise InvalidExecutionInput(str(exc)) from exc
    snapshot = copy.deepcopy(target, {id(target.executions): []})
    execution = Execution(
        name=name,
        sm_type=snapshot.sm_type,
        role_arn=snapshot.roleArn,
        exec_arn=f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:execution:{source.name}:{name}",
        account_id=self.account_id,
        region_name=self.region_name,
        state_machine=snapshot,
        start_date=dt.datetime.now(tz=dt.timezone.utc),
        cloud_watch_logging_session=None,
        input_data=input_data,
        trace_header=trace_header,
        activity_store={},
    )
    execution.state_machine_arn = source.arn  # what DescribeExecution answers: the unqualified ARN
    source.executions.append(execution)
    execution.start()
    return execution


# -- instrumentation: which execution a call of the engine belongs to ---------------
def _execution_arn(env: Any) -> str | None:
    try:
        return str(env.states.context_object.context_object_data["Execution"]["Id"])
    except (AttributeError, KeyError, TypeError):
        return None


def _noting_execution(original: Any) -> Any:
    def run(self: Any, env: Any) -> None:
        previous = getattr(_current, "execution_arn", None)
        _current.execution_arn = _execution_arn(env)
        try:
            original(self, env)
        finally:
            _current.execution_arn = previous

    return run


def current_execution_arn() -> str | None:
    """The execution whose task the calling thread runs (None outside moto's engine)."""
    return getattr(_current, "execution_arn", None)


def _add_execution_header(request: Any, **kwargs: Any) -> None:
    arn = current_execution_arn()
    if arn:
        request.headers[EXECUTION_HEADER] = arn


def apply() -> None:
    """Patch moto once per process."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        StateTaskLambda._from_error = _from_error  # type: ignore[method-assign]
        ExecutionWorker._get_evaluation_environment = _evaluation_environment  # type: ignore[method-assign]
        StateTaskServiceAwsSdk._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
        StateTaskServiceAwsSdk._normalise_response = _normalise_response  # type: ignore[method-assign]
        StateTaskLambda._eval_execution = _noting_execution(_original_lambda_execution)  # type: ignore[method-assign]
        StateTaskService._eval_execution = _noting_execution(_original_service_execution)  # type: ignore[method-assign]
        StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign]
        # moto's engine makes its clients with boto3.client(), i.e. from the default session.
        boto3._get_default_session().events.register("before-sign", _add_execution_header)
        _applied = True
