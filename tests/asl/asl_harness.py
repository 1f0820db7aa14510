"""Run fragments of the workflow in moto's ASL interpreter (used by the tests)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFINITION_PATH = REPO_ROOT / "statemachine" / "workflow.asl.json"
README_PATH = REPO_ROOT / "statemachine" / "README.md"
ASL_VALIDATOR = HERE / "node_modules" / ".bin" / "asl-validator"

WORKER_IDS = ["i-0123456789abcdef0", "i-0fedcba9876543210"]
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/makenaide-asl-check"
TERMINAL_EVENTS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}


class Run:
    """The end of one execution, read from its history (moto's DescribeExecution
    cannot serialise an output holding $$.Execution.StartTime, a datetime there)."""

    def __init__(self, events: list[dict[str, Any]], arn: str = ""):
        self.arn = arn
        self.events = events
        last = events[-1]
        self.status = last["type"]
        details = last.get("executionSucceededEventDetails") or last.get("executionFailedEventDetails") or {}
        self.output = json.loads(details["output"]) if "output" in details else None
        self.error = details.get("error")
        self.cause = details.get("cause")

    def entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.events if "stateEnteredEventDetails" in e]


def run_machine(sfn: Any, machine: dict[str, Any], execution_input: dict[str, Any], name: str,
                timeout: float = 30.0) -> Run:
    arn = sfn.create_state_machine(name=name, definition=json.dumps(machine), roleArn=ROLE_ARN)["stateMachineArn"]
    # A name must be given: moto leaves $$.Execution.Name null without one.
    execution = sfn.start_execution(stateMachineArn=arn, name=f"{name}-run", input=json.dumps(execution_input))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        if events and events[-1]["type"] in TERMINAL_EVENTS:
            return Run(events, execution["executionArn"])
        time.sleep(0.05)
    raise AssertionError(f"execution {name} did not finish within {timeout} s")


def execution_arn(machine: str, execution: str) -> str:
    """The ARN moto gives execution `execution` of state machine `machine`."""
    return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{execution}"


def fragment(definition: dict[str, Any], start: str, keep: list[str], *, strip_retry: bool = False) -> dict[str, Any]:
    """A runnable machine made of copies of `keep` states. Every state they lead
    to outside `keep` becomes a Pass that records `$.reached` and ends."""
    machine_states: dict[str, Any] = {}
    for name in keep:
        state = copy.deepcopy(definition["States"][name])
        if strip_retry:
            state.pop("Retry", None)
        machine_states[name] = state
    targets = set()
    for state in machine_states.values():
        targets.update(r["Next"] for r in state.get("Choices", []))
        targets.update(c["Next"] for c in state.get("Catch", []))
        targets.update(state[k] for k in ("Next", "Default") if k in state)
    for target in sorted(targets - set(machine_states)):
        machine_states[target] = {"Type": "Pass", "Result": target, "ResultPath": "$.reached", "End": True}
    return {"Comment": f"fragment of workflow.asl.json from {start}", "StartAt": start, "States": machine_states}
