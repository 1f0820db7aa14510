"""The sandbox's one HTTP endpoint: moto, wrapped.

Every AWS call of the functions, of moto's ASL engine (moto sends its Lambda
and `aws-sdk:*` task calls to `http://localhost:$MOTO_PORT`, so `MOTO_PORT` is
this server's port) and of the runner reaches `SandboxApp`, which, in order:

1. identifies the call (service, operation, caller from the SigV4 access key
   id, parameters), attributes it to the execution whose step made it, and
   records it in the call log;
2. answers an injected AWS fault if one matches (never to the runner's own
   calls: a scenario's faults are the workflow's);
3. routes Lambda `Invoke` to the function's `FunctionHost` (a qualified
   name or ARN, `name:1`, must name a version the function has: `$LATEST`
   or the published `1`; else `ResourceNotFoundException`, 404, as Lambda);
   hands Step Functions' `StartExecution`, `DescribeExecution` and
   `ListExecutions` to `states.StateMachineRouting`, which starts an alias
   ARN on a version picked by the alias's routing weights and gives
   executions their version and alias ARNs, as Step Functions does;
4. answers what the sandbox implements itself (`World.handle`: EC2
   start/stop with timed transitions, SSM agents and commands);
5. passes everything else to moto's own WSGI app, then lets `World` adjust
   the answer (RDS start/stop become timed).

Attribution. A call of moto's engine (Lambda Invoke, DynamoDB, `aws-sdk:*`)
carries the ARN of its execution in the header `x-sandbox-execution-arn`
(`moto_patches` adds it). A function's own calls are signed with its key
`sandbox-fn-<name>`; its `FunctionHost` serves one invocation at a time and
knows which execution that invocation is for (from the same header on the
Invoke call, else the event's `execution.name`), so the call belongs to it.
"""

from __future__ import annotations

import io
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import get_input_stream

from .lambda_host import FunctionFault, FunctionHost, InvokeRecord
from .moto_patches import EXECUTION_HEADER
from .protocol import AwsRequest, HttpAnswer, error_answer, parse_request
from .states import Chooser, StateMachineRouting
from .world import World

# Access key id moto's ASL engine signs with (moto/stepfunctions/parser/asl/utils/boto_client.py).
ENGINE_ACCESS_KEY = "ak"
RUNNER_ACCESS_KEY = "sandbox-runner"
FUNCTION_KEY_PREFIX = "sandbox-fn-"

# Operations that change something: scenarios assert on these.
MUTATING = frozenset(
    {
        "ec2:StartInstances",
        "ec2:StopInstances",
        "rds:StartDBInstance",
        "rds:StopDBInstance",
        "ssm:SendCommand",
    }
)


def caller_of(access_key_id: str) -> str:
    """The name a call log shows for a signer."""
    if access_key_id == ENGINE_ACCESS_KEY:
        return "statemachine"
    if access_key_id.startswith(FUNCTION_KEY_PREFIX):
        return access_key_id[len(FUNCTION_KEY_PREFIX) :]
    if access_key_id == RUNNER_ACCESS_KEY:
        return "runner"
    return access_key_id


@dataclass
class AwsFault:
    """Answer `code` to `count` calls of `key` (e.g. `ec2:StartInstances`), after `skip` normal ones."""

    key: str
    code: str
    count: int = 1
    skip: int = 0
    status: int | None = None
    message: str = "injected by the sandbox"
    caller: str | None = None


@dataclass
class CallRecord:
    """One AWS call in the log."""

    at: float  # seconds since the sandbox started
    key: str
    caller: str
    params: dict[str, Any]
    status: int = 0
    error: str | None = None
    injected: bool = False
    dry_run: bool = False
    execution: str | None = None  # name of the execution whose step made the call

    @property
    def mutating(self) -> bool:
        """A call that changed (or would have changed) a resource."""
        return self.key in MUTATING and not self.dry_run and self.status == 200


_ERROR_CODE = re.compile(rb"<Code>([^<]+)</Code>|\"__type\"\s*:\s*\"(?:[^\"#]*#)?([^\"]+)\"")


@dataclass
class Faults:
    """The faults of a scenario, consumed as matching calls arrive."""

    aws: list[AwsFault] = field(default_factory=list)
    functions: list[FunctionFault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_aws(self, req: AwsRequest, caller: str) -> AwsFault | None:
        if caller == "runner":
            return None
        with self.lock:
            for fault in self.aws:
                if fault.key != req.key or (fault.caller and fault.caller != caller):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def take_function(self, name: str) -> FunctionFault | None:
        with self.lock:
            for fault in self.functions:
                if fault.function != name:
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.count > 0:
                    fault.count -= 1
                    return fault
        return None


class SandboxApp:
    """The WSGI application of the sandbox (see the module doc)."""

    def __init__(self, world: World, faults: Faults, choose: Chooser | None = None) -> None:
        self.world = world
        self.faults = faults
        self.states = StateMachineRouting(choose)  # `choose`: how an alias picks a version (default: random by weight)
        self.functions: dict[str, FunctionHost] = {}
        self.calls: list[CallRecord] = []
        self.invocations: list[InvokeRecord] = []
        self.started = time.monotonic()
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._log_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = get_input_stream(environ).read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        req = parse_request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers, body, environ.get("QUERY_STRING", ""))
        if req is None:
            return self._moto(environ, start_response)
        caller = caller_of(req.access_key_id)
        record = CallRecord(
            at=round(time.monotonic() - self.started, 3),
            key=req.key,
            caller=caller,
            params=req.params,
            dry_run=str(req.params.get("DryRun", "false")).lower() == "true",
            execution=self._execution_of(caller, headers),
        )
        answer = self._answer(req, caller, record, environ)
        if answer is None:
            return self._moto(environ, start_response)  # not logged: the runner's moto-only calls
        record.status = answer.status
        if answer.status >= 300 or any(k.lower() == "x-amz-function-error" for k, _ in answer.headers):
            found = _ERROR_CODE.search(answer.body)
            record.error = (found.group(1) or found.group(2)).decode() if found else f"HTTP {answer.status}"
        if caller != "runner":
            with self._log_lock:
                self.calls.append(record)
        start_response(f"{answer.status} {_REASONS.get(answer.status, 'Status')}", answer.headers)
        return [answer.body]

    def _answer(self, req: AwsRequest, caller: str, record: CallRecord, environ: dict[str, Any]) -> HttpAnswer | None:
        fault = self.faults.take_aws(req, caller)
        if fault is not None:
            record.injected = True
            return error_answer(req.service, fault.code, fault.message, fault.status)
        if req.operation == "Invoke" and req.function_name is not None:
            return self._invoke(req, environ, record.execution)
        if caller == "runner" and req.service in ("states",):
            return self.states.answer(req, environ, self._call_moto)
        with self.world.lock:
            self.world.tick()
            answer = self.world.handle(req)
            if answer is not None:
                return answer
            if req.service == "states":
                answer = self.states.answer(req, environ, self._call_moto)
                if answer is not None:
                    return answer
            answer = _call_wsgi(self._moto, environ)
            if req.service == "rds":
                answer = self.world.after_rds(req, answer)
            return answer

    def _execution_of(self, caller: str, headers: dict[str, str]) -> str | None:
        """The execution a call belongs to (see the module doc); None when unknown."""
        arn = headers.get(EXECUTION_HEADER)
        if arn:
            return execution_name(arn)
        host = self.functions.get(caller)
        return host.current_execution if host is not None else None

    def _call_moto(self, environ: dict[str, Any]) -> HttpAnswer:
        return _call_wsgi(self._moto, environ)

    def _invoke(self, req: AwsRequest, environ: dict[str, Any], execution: str | None) -> HttpAnswer:
        name = str(req.function_name)
        host = self.functions.get(name)
        if host is None:
            return error_answer("lambda", "ResourceNotFoundException", f"Function not found: {name}", 404)
        if req.qualifier_conflict:
            message = "The derived qualifier from the function name does not match the specified qualifier."
            return error_answer("lambda", "InvalidParameterValueException", message, 400)
        if req.qualifier is not None and req.qualifier not in host.versions:
            return error_answer("lambda", "ResourceNotFoundException", f"Function not found: {host.arn}:{req.qualifier}", 404)
        payload = environ["wsgi.input"].read()
        answer, record = host.invoke(payload, self.faults.take_function(name), execution, req.qualifier)
        with self._log_lock:
            self.invocations.append(record)
        return answer

    def reported_calls(self) -> list[CallRecord]:
        with self._log_lock:
            return list(self.calls)


def execution_name(arn: str) -> str:
    """`arn:aws:states:<region>:<account>:execution:<machine>:<name>` -> `<name>`."""
    return arn.rsplit(":", 1)[-1]


_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 412: "Precondition Failed", 500: "Internal Server Error", 503: "Service Unavailable"}


def _call_wsgi(app: Any, environ: dict[str, Any]) -> HttpAnswer:
    """Run a WSGI app to completion and keep its answer."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"] = int(status.split()[0])
        captured["headers"] = headers
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "transfer-encoding")]
    return HttpAnswer(captured["status"], body, headers)


class SandboxServer:
    """The HTTP server thread around a `SandboxApp` on 127.0.0.1."""

    def __init__(self, app: SandboxApp, port: int = 0) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="sandbox")

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the function processes and every server (at once: each shutdown polls)."""
        closers = [threading.Thread(target=host.close) for host in self.app.functions.values()]
        closers.append(threading.Thread(target=self._server.shutdown))
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join()
