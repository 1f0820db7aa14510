"""Shared fixtures for the state machine checks (`make asl-check`).

Nothing here reaches AWS: moto runs in-process (`mock_aws`) with fake
credentials, and every AWS endpoint variable is removed for the test.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# `make asl-check` sets PYTHONPATH=tests; make a bare `pytest tests/asl` work too.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from sandbox import definition as sandbox_definition  # noqa: E402
from sandbox import moto_patches  # noqa: E402

from asl_harness import DEFINITION_PATH, REGION, WORKER_IDS  # noqa: E402


@pytest.fixture(scope="session")
def raw_text() -> str:
    return DEFINITION_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def raw_definition(raw_text: str) -> dict[str, Any]:
    return json.loads(raw_text)


@pytest.fixture(scope="session")
def _rendered() -> dict[str, Any]:
    # The same rendering the sandbox runs: fake function ARNs, fake worker ids.
    return sandbox_definition.load(WORKER_IDS, REGION)


@pytest.fixture
def definition(_rendered: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy per test, so a test may break it."""
    return copy.deepcopy(_rendered)


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA",
                 "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_STEPFUNCTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def _reset_moto_parser_scope() -> None:
    # moto 5.2.5 keeps the query-language scope stack of its ASL preprocessor
    # in a class attribute and does not pop it when a definition fails to
    # parse; one rejected definition could then poison every later parse in
    # the process. Start each moto test from an empty stack.
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    Preprocessor._query_language_per_scope.clear()


@pytest.fixture
def sfn(fake_aws: None) -> Iterator[Any]:
    """A Step Functions client on moto's ASL interpreter (it parses, so it validates).

    With the sandbox's patches of moto's engine (tests/sandbox/moto_patches.py),
    so the fragments run on the same local engine as the sandbox: in particular
    aws-sdk tasks take the AWS API's member names (`sfn:describeExecution` with
    `ExecutionArn`), which moto 5.2.5 alone does not.
    """
    import boto3
    from moto import mock_aws

    moto_patches.apply()
    _reset_moto_parser_scope()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        # botocore 1.44 names the service "stepfunctions" (formerly "sfn").
        yield boto3.client("stepfunctions", region_name=REGION)
    _reset_moto_parser_scope()


@pytest.fixture
def lease_table(sfn: Any, definition: dict[str, Any]) -> Any:
    """The lease table (partition key `pk`, String) in moto's DynamoDB, named as
    the rendered definition names it; returns a DynamoDB client."""
    import boto3

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    name = definition["States"]["Take lease"]["Parameters"]["TableName"]
    dynamodb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    return dynamodb
