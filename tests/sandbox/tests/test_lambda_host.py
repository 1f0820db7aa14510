"""The Lambda host runs a function through the Runtime API and answers as Lambda does.

The function here is `standin_runtime.py`, a minimal runtime client, so these
tests need no Rust build.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox.lambda_host import FunctionFault, FunctionHost, lambda_environment

STANDIN = Path(__file__).with_name("standin_runtime.py")


def _host(tmp_path: Path, timeout: float = 10.0, extra: dict[str, str] | None = None) -> FunctionHost:
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    env = lambda_environment("standin", {"MARKER_DIR": str(markers), **(extra or {})})
    return FunctionHost("standin", [sys.executable, str(STANDIN)], env, tmp_path / "standin.log", timeout)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FunctionHost]:
    h = _host(tmp_path)
    yield h
    h.close()


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name.lower()), None)


def test_success_returns_payload_and_keeps_the_process_warm(host: FunctionHost) -> None:
    first, rec1 = host.invoke(b'{"do": "echo", "n": 1}')
    second, rec2 = host.invoke(b'{"do": "echo", "n": 2}')
    assert first.status == 200 and _header(first.headers, "X-Amz-Function-Error") is None
    body1, body2 = json.loads(first.body), json.loads(second.body)
    assert body1["echo"] == {"do": "echo", "n": 1} and body2["echo"]["n"] == 2
    assert body1["pid"] == body2["pid"], "the second invocation must reuse the warm process"
    assert (rec1.cold, rec2.cold) == (True, False)
    assert host.cold_starts == 1


def test_function_error_is_unhandled_with_error_type(host: FunctionHost) -> None:
    answer, record = host.invoke(b'{"do": "fail"}')
    assert answer.status == 200
    assert _header(answer.headers, "X-Amz-Function-Error") == "Unhandled"
    assert json.loads(answer.body) == {"errorType": "JobFailed", "errorMessage": "the job failed"}
    assert record.outcome == "JobFailed"


def test_process_exit_is_runtime_exit_error_and_next_call_starts_again(host: FunctionHost) -> None:
    answer, _ = host.invoke(b'{"do": "exit"}')
    body = json.loads(answer.body)
    assert _header(answer.headers, "X-Amz-Function-Error") == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]
    again, _ = host.invoke(b'{"do": "echo"}')
    assert json.loads(again.body)["echo"] == {"do": "echo"}
    assert host.cold_starts == 2


def test_crash_fault_kills_the_process_before_it_runs(host: FunctionHost, tmp_path: Path) -> None:
    host.invoke(b'{"do": "echo"}')  # warm
    answer, record = host.invoke(b'{"do": "echo"}', FunctionFault("standin", "crash"))
    body = json.loads(answer.body)
    assert body["errorType"] == "Runtime.ExitError" and "signal: killed" in body["errorMessage"]
    assert record.injected == "crash"
    assert not (tmp_path / "markers" / record.request_id).exists()


def test_error_fault_answers_without_running(host: FunctionHost, tmp_path: Path) -> None:
    fault = FunctionFault("standin", "error", error_type="AwsThrottled", error_message="slow down")
    answer, record = host.invoke(b'{"do": "echo"}', fault)
    assert _header(answer.headers, "X-Amz-Function-Error") == "Unhandled"
    assert json.loads(answer.body)["errorType"] == "AwsThrottled"
    assert host.cold_starts == 0 and not any((tmp_path / "markers").iterdir())


def test_lost_result_runs_the_function_then_answers_service_exception(host: FunctionHost, tmp_path: Path) -> None:
    answer, record = host.invoke(b'{"do": "echo"}', FunctionFault("standin", "lostResult"))
    assert answer.status == 500
    assert _header(answer.headers, "x-amzn-ErrorType") == "ServiceException"
    assert (tmp_path / "markers" / record.request_id).exists(), "the function must really have run"


def test_timeout_kills_the_process(tmp_path: Path) -> None:
    host = _host(tmp_path, timeout=1.0)
    try:
        answer, record = host.invoke(b'{"do": "sleep", "seconds": 5}')
        body = json.loads(answer.body)
        assert body["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in body["errorMessage"]
        assert record.seconds < 3
    finally:
        host.close()


def test_init_error_is_reported_with_its_type(tmp_path: Path) -> None:
    host = _host(tmp_path, extra={"INIT_FAIL": "1"})
    try:
        answer, _ = host.invoke(b"{}")
        assert json.loads(answer.body)["errorType"] == "Runtime.ConfigError"
    finally:
        host.close()
