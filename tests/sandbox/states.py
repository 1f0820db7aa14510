"""Step Functions versions and aliases, as far as moto does not play them.

The stack deploys a published version of the state machine per deploy and an
alias (`live`) whose routing configuration names one version, or two with
weights during a gradual deployment; every trigger starts the alias ARN
`arn:aws:states:<region>:<account>:stateMachine:<name>:live`. moto keeps
versions and aliases but starts nothing through an alias ARN, so the sandbox
server hands `StartExecution`, `DescribeExecution` and `ListExecutions` to
`StateMachineRouting`, which does what Step Functions does:

- `StartExecution` with an alias ARN: the alias (moto's
  `DescribeStateMachineAlias`) picks a version by its routing weights, one
  pick per execution (`choose`, injectable: `weighted_chooser(random.Random(seed))`
  makes it repeatable), and the execution starts on that version. An alias
  that does not exist is refused with `StateMachineDoesNotExist` (HTTP 400),
  the error StartExecution has for an ARN that names no state machine.
- `StartExecution` with a version ARN starts that version (moto, with
  `moto_patches` difference 4); with the unqualified ARN, the state machine's
  latest revision, associated with no version.
- `DescribeExecution` and each `ListExecutions` item carry `stateMachineArn`
  (the unqualified ARN), `stateMachineVersionArn` (`<machine>:<n>`, for an
  execution started through a version or an alias) and `stateMachineAliasArn`
  (`<machine>:<alias>`, only when started through the alias); AWS leaves out
  what is null. `ListExecutions` of a version or alias ARN lists the
  executions associated with it.

Not played: CloudFormation's gradual deployment (the alias's weights moving
over time) and its alarm-driven rollback; the sandbox's alias stays where it
is created or updated.
"""

from __future__ import annotations

import io
import json
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.responses import get_backend

from .protocol import AwsRequest, HttpAnswer, error_answer

ALIAS_NAME = "live"

# Picks one `stateMachineVersionArn` from an alias's routing configuration.
Chooser = Callable[[list[dict[str, Any]]], str]


def split_arn(arn: str) -> tuple[str, str | None]:
    """`...:stateMachine:<name>[:<qualifier>]` -> (unqualified ARN, qualifier or None)."""
    parts = arn.split(":")
    if len(parts) == 8 and parts[5] == "stateMachine":
        return ":".join(parts[:7]), parts[7]
    return arn, None


def is_alias_arn(arn: str) -> bool:
    qualifier = split_arn(arn)[1]
    return qualifier is not None and not qualifier.isdigit()


def weighted_chooser(rng: random.Random | None = None) -> Chooser:
    """A version per start, each with the probability of its weight (out of 100)."""
    rng = rng or random.Random()
    lock = threading.Lock()

    def choose(routing: list[dict[str, Any]]) -> str:
        total = sum(int(item["weight"]) for item in routing)
        with lock:
            point = rng.randrange(total) if total > 0 else 0
        for item in routing:
            weight = int(item["weight"])
            if point < weight:
                return str(item["stateMachineVersionArn"])
            point -= weight
        return str(routing[0]["stateMachineVersionArn"])

    return choose


@dataclass(frozen=True)
class Association:
    """What an execution was started through."""

    version_arn: str | None
    alias_arn: str | None


class StateMachineRouting:
    """The sandbox's side of versions and aliases (see the module doc)."""

    def __init__(self, choose: Chooser | None = None) -> None:
        self.choose = choose or weighted_chooser()
        self._associations: dict[str, Association] = {}
        self._lock = threading.Lock()

    def association(self, execution_arn: str) -> Association | None:
        with self._lock:
            return self._associations.get(execution_arn)

    def answer(self, req: AwsRequest, environ: dict[str, Any], moto: Callable[[dict[str, Any]], HttpAnswer]) -> HttpAnswer | None:
        """The answer to a Step Functions call; None when moto answers it unchanged."""
        if req.operation == "StartExecution":
            return self._start(req, environ, moto)
        if req.operation == "DescribeExecution":
            answer = _call(moto, environ, req.params)
            return self._annotate(answer, self._fields)
        if req.operation == "ListExecutions":
            return self._list(req, environ, moto)
        return None

    # -- StartExecution ---------------------------------------------------------------
    def _start(self, req: AwsRequest, environ: dict[str, Any], moto: Callable[[dict[str, Any]], HttpAnswer]) -> HttpAnswer | None:
        arn = str(req.params.get("stateMachineArn", ""))
        qualifier = split_arn(arn)[1]
        if qualifier is None:
            return None  # the latest revision, associated with no version: moto as is
        if qualifier.isdigit():
            version_arn, alias_arn = arn, None
        else:
            try:
                alias = get_backend(arn.split(":")[4], req.region).describe_state_machine_alias(arn)
            except Exception:  # moto: StateMachineDoesNotExist or ResourceNotFound
                return error_answer("states", "StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'", 400)
            version_arn, alias_arn = self.choose(list(alias.routing_configuration)), alias.arn
        # The association is known before the execution runs, so that nobody
        # (the status watcher) ever sees the execution without it.
        name = str(req.params.get("name") or uuid.uuid4())
        parts = arn.split(":")
        execution_arn = f"arn:{parts[1]}:states:{parts[3]}:{parts[4]}:execution:{parts[6]}:{name}"
        with self._lock:
            new = execution_arn not in self._associations
            if new:
                self._associations[execution_arn] = Association(version_arn, alias_arn)
        answer = _call(moto, environ, dict(req.params, stateMachineArn=version_arn, name=name))
        if answer.status != 200 and new:
            with self._lock:
                self._associations.pop(execution_arn, None)
        return answer

    # -- DescribeExecution / ListExecutions ------------------------------------------------
    def _fields(self, item: dict[str, Any]) -> dict[str, Any]:
        """An execution's description with the ARNs AWS gives it."""
        found = self.association(str(item.get("executionArn", "")))
        item["stateMachineArn"] = split_arn(str(item.get("stateMachineArn", "")))[0]
        item.pop("stateMachineVersionArn", None)
        item.pop("stateMachineAliasArn", None)
        if found is not None and found.version_arn:
            item["stateMachineVersionArn"] = found.version_arn
        if found is not None and found.alias_arn:
            item["stateMachineAliasArn"] = found.alias_arn
        return item

    def _list(self, req: AwsRequest, environ: dict[str, Any], moto: Callable[[dict[str, Any]], HttpAnswer]) -> HttpAnswer:
        arn = req.params.get("stateMachineArn")
        base, qualifier = split_arn(str(arn)) if arn else ("", None)
        if qualifier is None:
            answer = _call(moto, environ, req.params)
            return self._annotate(answer, lambda body: dict(body, executions=[self._fields(e) for e in body.get("executions", [])]))
        # A version or an alias: the executions associated with it. The filter
        # applies to the whole list, so the list is read in one page and paged here.
        params = {k: v for k, v in req.params.items() if k not in ("maxResults", "nextToken")}
        answer = _call(moto, environ, dict(params, stateMachineArn=base, maxResults=1000))
        if answer.status != 200:
            return answer
        body = json.loads(answer.body)
        field = "stateMachineAliasArn" if not qualifier.isdigit() else "stateMachineVersionArn"
        items = [self._fields(e) for e in body.get("executions", [])]
        items = [e for e in items if e.get(field) == arn]
        start = int(req.params.get("nextToken") or 0)
        size = int(req.params.get("maxResults") or 100) or 100
        page: dict[str, Any] = {"executions": items[start : start + size]}
        if start + size < len(items):
            page["nextToken"] = str(start + size)
        return _json_answer(answer, page)

    @staticmethod
    def _annotate(answer: HttpAnswer, change: Callable[[dict[str, Any]], dict[str, Any]]) -> HttpAnswer:
        if answer.status != 200:
            return answer
        return _json_answer(answer, change(json.loads(answer.body)))


def _json_answer(answer: HttpAnswer, body: dict[str, Any]) -> HttpAnswer:
    return HttpAnswer(answer.status, json.dumps(body).encode(), answer.headers)


def _call(moto: Callable[[dict[str, Any]], HttpAnswer], environ: dict[str, Any], params: dict[str, Any]) -> HttpAnswer:
    """Ask moto with this JSON body instead of the request's."""
    body = json.dumps(params).encode()
    env = dict(environ)
    env["wsgi.input"] = io.BytesIO(body)
    env["CONTENT_LENGTH"] = str(len(body))
    return moto(env)
