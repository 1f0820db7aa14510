"""Read AWS requests and write AWS error answers, per wire protocol.

The sandbox sees raw HTTP. This module tells, for one request, which service and
operation it is, who signed it (the access key id of the SigV4 `Authorization`
header names the caller) and its parameters; and it writes an error in the exact
format that service's SDK parser expects:

- EC2 (query protocol, EC2 flavour): `<Response><Errors><Error><Code>`;
- RDS and CloudWatch (query protocol): `<ErrorResponse><Error><Type>Sender|Receiver`;
- SSM (JSON 1.1) and Step Functions (JSON 1.0): `{"__type": ..., "message": ...}`;
- DynamoDB (JSON 1.0): `{"__type": "com.amazonaws.dynamodb.v20120810#<Code>", "message": ...}`;
- Lambda (REST JSON): `x-amzn-ErrorType` header plus `{"Type", "Message"}` body.

Every JSON error carries `x-amzn-RequestId`: the ASL engine's DynamoDB
integration reads it for the error cause and fails without it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

QUERY_SERVICES = frozenset({"ec2", "rds", "monitoring"})
JSON_SERVICES = frozenset({"ssm", "states", "dynamodb"})
# JSON protocol version per service (the Content-Type of its answers).
_JSON_VERSION: dict[str, str] = {"ssm": "1.1", "states": "1.0", "dynamodb": "1.0"}

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")

# HTTP status AWS answers for error codes a scenario is likely to inject.
_STATUS_BY_CODE: dict[str, int] = {
    "RequestLimitExceeded": 503,
    "InsufficientInstanceCapacity": 500,
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "InternalServiceFault": 500,  # CloudWatch (PutMetricData)
    "ServiceUnavailable": 503,
    "Unavailable": 503,
    "DryRunOperation": 412,
    "UnauthorizedOperation": 403,
    "AccessDenied": 403,
    "AccessDeniedException": 400,
    "ServiceException": 500,
    "ServiceUnavailableException": 503,
}


@dataclass
class AwsRequest:
    """One AWS API call as the sandbox sees it."""

    service: str  # SigV4 signing name: ec2, rds, monitoring, ssm, states, dynamodb, lambda
    operation: str  # e.g. StartInstances, Invoke
    access_key_id: str
    region: str
    params: dict[str, Any] = field(default_factory=dict)
    function_name: str | None = None  # Lambda Invoke only
    # Lambda Invoke only: the version the call names, from `name:qualifier`, a
    # qualified ARN or the `Qualifier` query parameter (None: `$LATEST`).
    qualifier: str | None = None
    # Set when the name's qualifier and the `Qualifier` parameter differ (Lambda refuses the call).
    qualifier_conflict: bool = False

    @property
    def key(self) -> str:
        """`service:Operation`, the name scenarios use (CloudWatch is `cloudwatch`)."""
        service = "cloudwatch" if self.service == "monitoring" else self.service
        return f"{service}:{self.operation}"


def parse_request(method: str, path: str, headers: dict[str, str], body: bytes, query: str = "") -> AwsRequest | None:
    """Identify an AWS call; None for anything else (moto's own API, health checks)."""
    auth = headers.get("authorization", "")
    found = _CREDENTIAL.search(auth)
    if not found:
        return None
    access_key_id, region, service = found.group(1), found.group(2), found.group(3)
    invoke = _INVOKE_PATH.match(path)
    if service == "lambda" and invoke and method == "POST":
        name = unquote(invoke.group("name")).split(":")
        # A bare name, a partial ARN or a full ARN, each with an optional
        # `:version` (or alias) suffix: the name follows "function".
        at = name.index("function") + 1 if "function" in name else 0
        function = name[at]
        derived = name[at + 1] if len(name) > at + 1 else None
        given = dict(parse_qsl(query)).get("Qualifier") or None
        params: dict[str, Any] = {"FunctionName": function}
        qualifier = given or derived
        if qualifier is not None:
            params["Qualifier"] = qualifier
        conflict = given is not None and derived is not None and given != derived
        return AwsRequest(service, "Invoke", access_key_id, region, params, function, qualifier, conflict)
    if service in QUERY_SERVICES:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        operation = str(params.pop("Action", "Unknown"))
        params.pop("Version", None)
        return AwsRequest(service, operation, access_key_id, region, params)
    target = headers.get("x-amz-target", "")
    if target:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        return AwsRequest(service, target.split(".")[-1], access_key_id, region, payload)
    return AwsRequest(service, f"{method} {path}", access_key_id, region, {})


def status_for(code: str) -> int:
    """The HTTP status AWS uses for an error code (400 when not known otherwise)."""
    if code in _STATUS_BY_CODE:
        return _STATUS_BY_CODE[code]
    return 400


@dataclass
class HttpAnswer:
    """A complete HTTP response written by the sandbox itself (not by moto)."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_answer(service: str, code: str, message: str, status: int | None = None) -> HttpAnswer:
    """An AWS error in the wire format of `service`."""
    status = status or status_for(code)
    request_id = str(uuid.uuid4())
    msg = _xml_escape(message)
    if service == "ec2":
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
            f"<Message>{msg}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
        return HttpAnswer(status, body.encode(), [("Content-Type", "text/xml")])
    if service in ("rds", "monitoring"):
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{msg}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return HttpAnswer(status, body.encode(), [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)])
    if service == "lambda":
        body_obj = {"Type": "Service" if status >= 500 else "User", "Message": message}
        return HttpAnswer(
            status,
            json.dumps(body_obj).encode(),
            [("Content-Type", "application/json"), ("x-amzn-ErrorType", code), ("x-amzn-RequestId", request_id)],
        )
    if service == "dynamodb":
        body_obj = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    else:
        body_obj = {"__type": code, "message": message}
    version = _JSON_VERSION.get(service, "1.1")
    return HttpAnswer(
        status,
        json.dumps(body_obj).encode(),
        [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", request_id)],
    )


def json_answer(payload: dict[str, Any]) -> HttpAnswer:
    """A JSON 1.1 success answer (SSM operations the sandbox implements)."""
    return HttpAnswer(
        200,
        json.dumps(payload).encode(),
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", str(uuid.uuid4()))],
    )


def indexed_values(params: dict[str, Any], prefix: str) -> list[str]:
    """Values of a query-protocol list such as `InstanceId.1`, `InstanceId.2`."""
    found: list[tuple[int, str]] = []
    for key, value in params.items():
        if key.startswith(prefix + "."):
            rest = key[len(prefix) + 1 :]
            if rest.isdigit():
                found.append((int(rest), str(value)))
    return [value for _, value in sorted(found)]
