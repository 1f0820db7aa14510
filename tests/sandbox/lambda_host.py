"""A local Lambda service: runs function binaries through the Lambda Runtime API.

Like the Runtime Interface Emulator, each function gets its own Runtime API
endpoint (a small HTTP server on a free loopback port) that its process
long-polls:

- `GET  /2018-06-01/runtime/invocation/next` hands over the next event with the
  `Lambda-Runtime-*` headers;
- `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`
  deliver the result;
- `POST /2018-06-01/runtime/init/error` reports a failed initialisation.

`FunctionHost.invoke()` is what the Lambda `Invoke` endpoint calls. It answers
as Lambda does: the payload on success; `X-Amz-Function-Error: Unhandled` and
`{errorType, errorMessage}` on a function error; `Runtime.ExitError` when the
process dies during the invocation; `Sandbox.Timedout` past the timeout. The
process is kept warm across invocations (one execution environment per
function: invocations of the same function are serialised) and started again
after it died, as Lambda does after a crash.

While it serves an invocation the host knows which execution that invocation
is for (`current_execution`): the server attributes the function's own AWS
calls, made meanwhile with its key, to that execution.

Faults (`FunctionFault`): `error` answers a function error without running the
function; `crash` kills the process as it takes the event; `lostResult` lets
the function run, then replaces its answer by a Lambda service error (HTTP 500
`ServiceException`), which the state machine sees as `Lambda.ServiceException`.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from .protocol import HttpAnswer, error_answer

RUNTIME_PREFIX = "/2018-06-01/runtime"
# How Lambda words a runtime killed by a signal ("Runtime exited with error: signal: killed").
_SIGNAL_TEXT: dict[int, str] = {
    signal.SIGKILL: "killed",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated",
}


@dataclass
class FunctionFault:
    """Make `count` invocations of `function` misbehave, after `skip` normal ones."""

    function: str
    mode: str  # error | crash | lostResult
    count: int = 1
    skip: int = 0
    error_type: str = "InjectedError"
    error_message: str = "injected by the sandbox"


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    crash: bool = False
    invoked_arn: str = ""  # the ARN the caller invoked (qualified when it named a version)
    done: threading.Event = field(default_factory=threading.Event)
    kind: str = ""  # response | error | exit | timeout
    body: bytes = b""


@dataclass
class InvokeRecord:
    """One invocation as it happened, for reports."""

    function: str
    request_id: str
    started: float
    seconds: float
    outcome: str  # ok | the error type
    injected: str | None
    cold: bool
    execution: str | None = None  # the execution the invocation was for


class FunctionHost:
    """One function: its binary, its warm process and its Runtime API server."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        timeout_seconds: float = 30.0,
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_path
        self.timeout_seconds = timeout_seconds
        self.arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        # The versions an Invoke may name: `$LATEST` and the published ones. The
        # sandbox publishes version 1 of the same code: one process serves both.
        self.versions: tuple[str, ...] = ("$LATEST", "1")
        self._queue: queue.Queue[_Invocation] = queue.Queue()
        self._current: _Invocation | None = None
        self._invoke_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._init_error: bytes | None = None
        self._closing = False
        self._log: IO[bytes] | None = None
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name=f"runtime-{name}")
        self._thread.start()
        self.cold_starts = 0
        self.current_execution: str | None = None  # while an invocation is served

    @property
    def runtime_api(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    # -- Runtime API ---------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._runtime_api(request)
        return response(environ, start_response)

    def _runtime_api(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET" and path == f"{RUNTIME_PREFIX}/invocation/next":
            return self._next()
        if request.method == "POST" and path == f"{RUNTIME_PREFIX}/init/error":
            self._init_error = request.get_data() or b'{"errorType":"Runtime.Unknown","errorMessage":"init error"}'
            return Response(status=202)
        parts = path[len(RUNTIME_PREFIX) :].strip("/").split("/")
        if request.method == "POST" and len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            current = self._current
            if current is None or current.request_id != parts[1]:
                return Response('{"errorType":"InvalidRequestID"}', status=400, content_type="application/json")
            current.kind = parts[2]
            current.body = request.get_data()
            current.done.set()
            return Response(status=202)
        return Response("not found", status=404)

    def _next(self) -> Response:
        while not self._closing:
            try:
                invocation = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self._current = invocation
            if invocation.crash:
                self._kill()
                return Response(status=500)
            headers = {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.invoked_arn or self.arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            }
            return Response(invocation.payload, status=200, headers=headers, content_type="application/json")
        return Response(status=500)

    # -- process ---------------------------------------------------------------
    def _ensure_process(self) -> bool:
        """Start the process if none runs; True when this was a cold start."""
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None:
                return False
            if self._log is None:
                self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in close())
            env = dict(self.env)
            env["AWS_LAMBDA_RUNTIME_API"] = self.runtime_api
            self._init_error = None
            self._proc = subprocess.Popen(
                self.command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.cold_starts += 1
            return True

    def _kill(self) -> None:
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.send_signal(signal.SIGKILL)
                self._proc.wait()

    def _exit_reason(self) -> str:
        proc = self._proc
        code = None if proc is None else proc.poll()
        if code is None:
            return "Runtime exited without providing a reason"
        if code < 0:
            return f"Runtime exited with error: signal: {_SIGNAL_TEXT.get(-code, signal.Signals(-code).name)}"
        return f"Runtime exited with error: exit status {code}"

    # -- Invoke ----------------------------------------------------------------
    def invoke(
        self, payload: bytes, fault: FunctionFault | None = None, execution: str | None = None, qualifier: str | None = None
    ) -> tuple[HttpAnswer, InvokeRecord]:
        """Run one invocation and answer as the Lambda Invoke API does.

        `execution` names the execution the invocation is for (default: the
        event's `execution.name`, as the workflow's state document carries it).
        `qualifier` is the version the call named (None: `$LATEST`); the caller
        checks it is one of `versions`. The answer's `X-Amz-Executed-Version`
        and the runtime's invoked function ARN follow it, as in Lambda.
        """
        execution = execution or _execution_in(payload)
        version = qualifier or "$LATEST"
        invoked = self.arn if qualifier is None else f"{self.arn}:{qualifier}"
        answer, record = self._invoke(payload, fault, execution, version, invoked)
        record.execution = execution
        return answer, record

    def _invoke(
        self, payload: bytes, fault: FunctionFault | None, execution: str | None, version: str = "$LATEST", invoked: str = ""
    ) -> tuple[HttpAnswer, InvokeRecord]:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        if fault is not None and fault.mode == "error":
            body = json.dumps({"errorType": fault.error_type, "errorMessage": fault.error_message}).encode()
            record = InvokeRecord(self.name, request_id, started, 0.0, fault.error_type, "error", False)
            return _function_error(body, request_id, version), record
        with self._invoke_lock:
            self.current_execution = execution
            try:
                cold = self._ensure_process()
                invocation = _Invocation(
                    request_id,
                    payload,
                    int(time.time() * 1000 + self.timeout_seconds * 1000),
                    crash=fault is not None and fault.mode == "crash",
                    invoked_arn=invoked,
                )
                self._queue.put(invocation)
                self._wait(invocation)
            finally:
                self._current = None
                self.current_execution = None
        seconds = time.monotonic() - started
        injected = fault.mode if fault is not None else None
        if invocation.kind == "response":
            if fault is not None and fault.mode == "lostResult":
                answer = error_answer("lambda", "ServiceException", "The sandbox lost the function's result (injected)", 500)
                return answer, InvokeRecord(self.name, request_id, started, seconds, "ServiceException", injected, cold)
            headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", version), ("x-amzn-RequestId", request_id)]
            return HttpAnswer(200, invocation.body, headers), InvokeRecord(self.name, request_id, started, seconds, "ok", injected, cold)
        if invocation.kind == "error":
            body = invocation.body
        elif invocation.kind == "timeout":
            body = json.dumps(
                {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {self.timeout_seconds:.2f} seconds",
                }
            ).encode()
        else:  # the process died
            body = json.dumps(
                {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {self._exit_reason()}"}
            ).encode()
        try:
            error_type = str(json.loads(body).get("errorType", "Unhandled"))
        except (ValueError, AttributeError):
            error_type = "Unhandled"
        return _function_error(body, request_id, version), InvokeRecord(self.name, request_id, started, seconds, error_type, injected, cold)

    def _wait(self, invocation: _Invocation) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while not invocation.done.wait(0.02):
            proc = self._proc
            if proc is not None and proc.poll() is not None:
                # Give a response posted just before exit a moment to land.
                if invocation.done.wait(0.05):
                    return
                if self._init_error is not None:
                    invocation.kind, invocation.body = "error", self._init_error
                else:
                    invocation.kind = "exit"
                self._drain(invocation)
                return
            if time.monotonic() > deadline:
                invocation.kind = "timeout"
                self._kill()
                self._drain(invocation)
                return

    def _drain(self, invocation: _Invocation) -> None:
        """Take back an event the dead process never fetched."""
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def close(self) -> None:
        """Stop the process and the Runtime API server."""
        self._closing = True
        self._kill()
        self._server.shutdown()
        if self._log is not None:
            self._log.close()


def _execution_in(payload: bytes) -> str | None:
    """`execution.name` of an event, if it has one."""
    try:
        event = json.loads(payload or b"null")
    except ValueError:
        return None
    execution = event.get("execution") if isinstance(event, dict) else None
    name = execution.get("name") if isinstance(execution, dict) else None
    return name if isinstance(name, str) else None


def _function_error(body: bytes, request_id: str, version: str = "$LATEST") -> HttpAnswer:
    headers = [
        ("Content-Type", "application/json"),
        ("X-Amz-Function-Error", "Unhandled"),
        ("X-Amz-Executed-Version", version),
        ("x-amzn-RequestId", request_id),
    ]
    return HttpAnswer(200, body, headers)


def lambda_environment(name: str, base: dict[str, str]) -> dict[str, str]:
    """The environment Lambda gives a function, plus the deployment config `base`."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "RUST_BACKTRACE")}
    env.update(base)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"sandbox/[$LATEST]{uuid.uuid4().hex}",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        }
    )
    return env
