"""Structural rules for `statemachine/workflow.asl.json`, in pure Python.

Each `check_*` function takes a definition (a dict, or the raw text for the
placeholder rule) and returns a list of problems, empty when the rule holds.
The tests run every rule on the real definition and on deliberately broken
copies, so every rule is shown to be able to fail.

One file, three kinds of execution: the dispatch Choice after StartAt sends
an input with `cleanupAfter` to the cleanup run and one with `sweep` to the
sweep; every other execution is a run (a dry run takes no lease). The rules
about a run's normal flow, cleanup and Fail states look at what a run can
reach (`run_states`: the `$.input.<mode> IsPresent` rules are never taken in a
run, `check_modes` shows why that holds); the lease and mode rules
(`check_lease_released`, `check_starts_need_lease`, `check_modes`) look at
the whole graph.

The module also renders the Mermaid diagram and the retry/catch table that
statemachine/README.md carries, so a test can prove the page matches the file.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from sandbox.definition import FUNCTION_KEYS

# --- the documented vocabulary ------------------------------------------------

# Placeholders substituted at deploy time (CDK DefinitionSubstitutions) and by
# tests/sandbox/definition.py. Function keys are used only as a Task Resource.
FUNCTION_PLACEHOLDERS = {
    "RdsCheckFunctionArn",
    "Ec2StartFunctionArn",
    "SsmLaunchFunctionArn",
    "PollEc2StateFunctionArn",
    "RdsStopFunctionArn",
    "EmitMetricsFunctionArn",
}
# The function (binary) behind each key: a rule recognises a Lambda Task by its
# function in the raw file (`${RdsCheckFunctionArn}`) and in the rendered one
# (`arn:aws:lambda:...:function:rds_check`) alike.
PLACEHOLDER_FUNCTIONS = FUNCTION_KEYS
WORKER_IDS_PLACEHOLDER = "WorkerInstanceIds"
WORKER_IDS_EXPRESSION = "States.StringSplit('${WorkerInstanceIds}', ',')"
# The run lease table: only as the `TableName` of a DynamoDB Task.
LEASE_TABLE_PLACEHOLDER = "LeaseTableName"
# The alarm topic: only as the `TopicArn` of an SNS Task (the failure notification).
ALARM_TOPIC_PLACEHOLDER = "AlarmTopicArn"
# The workflow revision (a string the deploy computes): only as `execution.revision` of Init.
REVISION_PLACEHOLDER = "Revision"
REVISION_PATH = "$.States.Init.Parameters.execution"
ALL_PLACEHOLDERS = FUNCTION_PLACEHOLDERS | {WORKER_IDS_PLACEHOLDER, LEASE_TABLE_PLACEHOLDER, ALARM_TOPIC_PLACEHOLDER, REVISION_PLACEHOLDER}

# Error names that mean "do not try again": bad input or config, missing
# resources, denied access, a passed deadline, a failed job.
FATAL_ERRORS = {
    "InvalidInput",
    "ConfigError",
    "AccessDenied",
    "RdsInstanceNotFound",
    "Ec2InstanceNotFound",
    "RdsUnrecoverableState",
    "Ec2UnrecoverableState",
    "RdsReadyTimeout",
    "Ec2ReadyTimeout",
    "JobTimeout",
    "JobFailed",
    "JobInterrupted",       # poll_ec2_state: a worker stopped by someone else, or the command cancelled
    "JobNotDelivered",      # poll_ec2_state: SSM never ran the command
    "AwsRequestFailed",
    "RdsStopTimeout",       # rds_stop: RDS kept refusing a stop past RDS_STOP_DEADLINE_SECONDS
    "Ec2StopTimeout",       # poll_ec2_state (stopWorkers): a worker stayed pending past EC2_READY_TIMEOUT_SECONDS
    "LaunchWindowMissed",   # rds_check, ec2_start, ssm_launch: past LAUNCH_WINDOW_SECONDS
}
# Errors the first step may send past the stopping steps: nothing touched yet.
NOTHING_TOUCHED_ERRORS = {"InvalidInput", "ConfigError"}
# Wildcards that would match a fatal (custom) error name.
WILDCARDS = {"States.ALL", "States.TaskFailed"}
# Service answers that are a branch of the flow, not a transient failure: the
# lease is held by someone else, the lease holder's execution does not exist.
EXPECTED_BRANCH_ERRORS = {"DynamoDB.ConditionalCheckFailedException", "Sfn.ExecutionDoesNotExistException"}

# What each kind of Task may retry (its own service's names), and the
# transient names it must retry: a Lambda Task the Lambda service errors and
# the Lambdas' own transient names (core's ErrorName::is_retryable, AWS
# throttling and 5xx behind the function). `ec2.` is how the local engine
# (moto 5.2.5) spells the EC2 error that Step Functions calls `Ec2.`; no Task
# calls EC2 directly now (poll_ec2_state stops the workers), so the `ec2`
# entries apply only if such a Task comes back.
SERVICE_ERROR_PREFIXES = {
    "lambda": ("Lambda.",),
    "dynamodb": ("DynamoDB.",),
    "sfn": ("Sfn.",),
    "ec2": ("Ec2.", "ec2."),
    "sns": ("SNS.",),
}
SERVICE_TRANSIENT_ERRORS = {
    "lambda": {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
               "Lambda.TooManyRequestsException", "AwsThrottled", "AwsServiceUnavailable"},
    "dynamodb": {"DynamoDB.ThrottlingException", "DynamoDB.ProvisionedThroughputExceededException",
                 "DynamoDB.InternalServerErrorException"},
    "sfn": {"Sfn.ThrottlingException"},
    "ec2": {"Ec2.Ec2Exception"},
    "sns": {"SNS.ThrottledException"},
}
# Only the run's cleanup, the last line of defence, retries these wildcards.
CLEANUP_ONLY_RETRIES = {"States.TaskFailed", "States.Timeout"}

# What a Lambda Task hands its function: the whole document (no Parameters),
# or, for a function with more than one step, `{"action": <its name>,
# "state.$": "$"}` (the whole document under `state`). The documented actions
# of each function; a step is (function, action), action None for the default.
LAMBDA_ACTIONS = {
    "poll_ec2_state": {"stopWorkers"},  # stop the workers (EC2_STOP_POLICY) instead of polling the job
}
ACTION_EVENT_STATE = {"state.$": "$"}

# The Lambda steps that own the deadline of a poll loop (Task -> Choice -> Wait
# -> Task), and the fatal error each fails with once its deadline has passed. A
# poll loop ends because its Choice leaves it or because this error, caught,
# leaves it: rds_check waits for the DB (RDS_READY_TIMEOUT_SECONDS), ec2_start
# for the workers (EC2_READY_TIMEOUT_SECONDS), poll_ec2_state for the job (its
# job deadline) and, as `stopWorkers`, for a pending worker to be stoppable
# (EC2_READY_TIMEOUT_SECONDS from the stop loop's first try), rds_stop for RDS
# to accept a stop (RDS_STOP_DEADLINE_SECONDS); the two stop loops on the normal
# flow and in cleanup. Named here on purpose: any other Lambda in a cycle
# (emit_metrics, ssm_launch) would loop without a deadline.
DEADLINE_OWNERS: dict[tuple[str, str | None], str] = {
    ("rds_check", None): "RdsReadyTimeout",
    ("ec2_start", None): "Ec2ReadyTimeout",
    ("poll_ec2_state", None): "JobTimeout",
    ("poll_ec2_state", "stopWorkers"): "Ec2StopTimeout",
    ("rds_stop", None): "RdsStopTimeout",
}

# The functions that can start something (the DB, the workers, the job),
# whatever the action; and the other Lambda steps only a run may reach: the job
# poll (poll_ec2_state's `stopWorkers` runs in cleanup runs and sweeps too).
STARTER_FUNCTIONS = {"rds_check", "ec2_start", "ssm_launch"}
RUN_ONLY_STEPS = {("poll_ec2_state", None)}
# Lambda steps that change EC2 (besides every ec2_start step and aws-sdk ec2 Tasks).
WORKER_STOP_STEPS = {("poll_ec2_state", "stopWorkers")}

# Input fields of the stack's own triggers: the first Choice after the start
# sends an execution with one of them to its mode (cleanup run, sweep); every
# other execution is a run. `$.input` is written once, so a Choice rule
# `$.input.<field> IsPresent true` is never taken in a run.
MODE_FIELDS = ("cleanupAfter", "sweep")
DRY_RUN_VARIABLE = "$.input.dryRun"

# Best-effort Tasks: bookkeeping whose failure must not change the outcome.
# Their only Catch records the failure on a side path of the document and goes
# on with the Task's own Next. Named here on purpose: a rule that guessed them
# from their shape would let any step drop out of cleanup.
BEST_EFFORT_TASKS = {
    "Record DB found",         # what rds_check found, for a later cleanup run's leave-as-found
    "Record workers found",    # what ec2_start found, idem
    "Release lease",           # the hourly sweeper reclaims a lease whose holder ended
    "Cleanup: release lease",  # idem, at the end of cleanup
    "Publish skip",            # the RunSkipped metric of a skipped run
    # Metrics never change an outcome: emit_metrics reports a CloudWatch refusal in
    # its block (`published: false`); a failure of the function itself is noted
    # here and the run goes on (to release its lease, or to finish its cleanup).
    "Publish metrics",
    "Cleanup: publish metrics",
    # The failure notification (emit_metrics' `notification` on the alarm topic):
    # a message that cannot be sent never changes the outcome nor the lease.
    "Cleanup: notify",
}
# The one Choice that may end a run without releasing the lease: cleanup
# failed, so the lease stays for the cleanup run this execution's end starts.
KEEP_LEASE_CHOICE = "Cleanup complete?"
KEEP_LEASE_RULE = {"Variable": "$.cleanupErrors", "IsPresent": True}

# A skipped run: a Pass writes {reason, heldBy} here and the run ends with it alone.
SKIP_RESULT_PATH = "$.skipped"
SKIP_FIELDS = {"reason", "heldBy"}
SKIP_OUTPUT = {"skipped.$": SKIP_RESULT_PATH}

# The one lease item.
LEASE_KEY = {"pk": {"S": "run-lease"}}
LEASE_HOLDER_FIELDS = {"executionArn", "heldBy"}
DYNAMODB_WRITES = {"putItem", "updateItem", "deleteItem", "batchWriteItem", "transactWriteItems"}
EXECUTION_ID = "$$.Execution.Id"

# Fields that exist only with QueryLanguage JSONata, or variables; the local
# engine (moto's port of the LocalStack interpreter) must not see them.
JSONATA_ONLY_FIELDS = {"QueryLanguage", "Assign", "Arguments", "Output"}

RETRIER_FIELDS = ("IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy")

ORIGINAL_ERROR_PATH = "$.error.Error"
ORIGINAL_CAUSE_PATH = "$.error.Cause"
ERROR_RESULT_PATH = "$.error"
CLEANUP_ERRORS_PREFIX = "$.cleanupErrors."
MAX_STATE_NAME = 80
# Bound of the path-sensitive walk of check_paths_present (abstract states).
# (81k for the file since the failure notification: each way into cleanup can
# reach `Cleanup: notify?` with or without a notification, then publish or not.)
MAX_ABSTRACT_STATES = 200_000

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


# --- graph helpers -------------------------------------------------------------


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return definition.get("States", {})


def transitions(state: dict[str, Any], *, catches: bool = True) -> list[tuple[str, str]]:
    """(label, target) of every way out of a state, in document order."""
    out: list[tuple[str, str]] = []
    for rule in state.get("Choices", []):
        out.append((describe_choice_rule(rule), rule.get("Next")))
    if "Default" in state:
        out.append(("otherwise", state["Default"]))
    if "Next" in state:
        out.append(("", state["Next"]))
    if catches:
        for catcher in state.get("Catch", []):
            out.append(("catch " + ", ".join(catcher.get("ErrorEquals", [])), catcher.get("Next")))
    return out


def mode_rule_field(rule: dict[str, Any]) -> str | None:
    """The mode field of a Choice rule `{$.input.<field> IsPresent true}`, else None."""
    for field in MODE_FIELDS:
        if rule.get("Variable") == f"$.input.{field}" and rule.get("IsPresent") is True \
                and set(rule) == {"Variable", "IsPresent", "Next"}:
            return field
    return None


def successors(definition: dict[str, Any], name: str, *, catches: bool = True, run: bool = False) -> list[str]:
    """Targets of a state. With `run`, without the Choice rules a run never takes
    (`$.input.<mode field>` present: such an execution is not a run)."""
    state = states(definition)[name]
    if not run:
        return [target for _, target in transitions(state, catches=catches)]
    out = [rule.get("Next") for rule in state.get("Choices", []) if mode_rule_field(rule) is None]
    out += [state[k] for k in ("Default", "Next") if k in state]
    if catches:
        out += [c.get("Next") for c in state.get("Catch", [])]
    return out


def reachable(definition: dict[str, Any], start: str, *, catches: bool = True,
              blocked: Iterable[str] = (), run: bool = False) -> set[str]:
    """States reachable from `start` (included) without entering `blocked`."""
    blocked = set(blocked)
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name in blocked or name not in states(definition):
            continue
        seen.add(name)
        todo.extend(successors(definition, name, catches=catches, run=run))
    return seen


def find_path(definition: dict[str, Any], start: str, goals: set[str], *,
              skip_edge: Any = lambda name, index, target: False, blocked: Iterable[str] = ()) -> list[str] | None:
    """A shortest path from `start` to a state in `goals` (catches included), not
    entering `blocked` and not taking an edge for which `skip_edge(state, index,
    target)` is true (`index` is the position in `transitions`)."""
    blocked = set(blocked)
    all_states = states(definition)
    parent: dict[str, str | None] = {start: None}
    todo = [start] if start in all_states and start not in blocked else []
    while todo:
        name = todo.pop(0)
        if name in goals:
            path = [name]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for index, (_, target) in enumerate(transitions(all_states[name])):
            if target in parent or target in blocked or target not in all_states or skip_edge(name, index, target):
                continue
            parent[target] = name
            todo.append(target)
    return None


def has_cycle(definition: dict[str, Any], nodes: set[str]) -> list[str] | None:
    """A cycle inside the subgraph induced by `nodes`, or None."""
    colour: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        colour[name] = 1
        stack.append(name)
        for nxt in successors(definition, name):
            if nxt not in nodes:
                continue
            if colour.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[name] = 2
        return None

    for name in sorted(nodes):
        if name not in colour:
            found = visit(name)
            if found:
                return found
    return None


def strongly_connected(definition: dict[str, Any]) -> dict[str, frozenset[str]]:
    """State -> the set of states on a cycle with it (itself alone when none)."""
    names = list(states(definition))
    reach = {name: reachable(definition, name) for name in names}
    return {a: frozenset(b for b in names if b in reach[a] and a in reach[b]) for a in names}


def walk(value: Any, path: str = "$") -> Iterator[tuple[str, Any, Any]]:
    """Every (path, key, value) of a JSON document, keys of objects included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path, key, item
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


# --- what a Task calls -------------------------------------------------------------


def is_lambda_task(state: dict[str, Any]) -> bool:
    resource = state.get("Resource", "")
    return state.get("Type") == "Task" and (
        resource.startswith("arn:aws:lambda:") or resource.startswith("${")
    )


def lambda_function(state: dict[str, Any]) -> str | None:
    """The function name of a Lambda Task (raw or rendered), else None."""
    if not is_lambda_task(state):
        return None
    resource = state.get("Resource", "")
    match = re.fullmatch(r"\$\{(\w+)\}", resource)
    if match:
        return PLACEHOLDER_FUNCTIONS.get(match.group(1), match.group(1))
    return resource.rsplit(":function:", 1)[-1].split(":")[0]


def lambda_action(state: dict[str, Any]) -> str | None:
    """The `action` a Lambda Task passes (a fixed string in its Parameters), else None."""
    if not is_lambda_task(state):
        return None
    params = state.get("Parameters")
    action = params.get("action") if isinstance(params, dict) else None
    return action if isinstance(action, str) else None


def lambda_step(state: dict[str, Any]) -> tuple[str, str | None] | None:
    """(function, action) of a Lambda Task, else None."""
    function = lambda_function(state)
    return None if function is None else (function, lambda_action(state))


def deadline_error(state: dict[str, Any]) -> str | None:
    """The error a deadline-owning Lambda step fails with past its deadline, else None."""
    step = lambda_step(state)
    return DEADLINE_OWNERS.get(step) if step else None


def task_service(state: dict[str, Any]) -> str | None:
    """`lambda`, `dynamodb`, `sfn`, `ec2`, ... for a Task, else None."""
    if state.get("Type") != "Task":
        return None
    if is_lambda_task(state):
        return "lambda"
    resource = state.get("Resource", "")
    match = re.fullmatch(r"arn:aws:states:::(?:aws-sdk:)?([a-z0-9]+):(\w+)(?:\.\w+)?", resource)
    return match.group(1) if match else resource


def task_action(state: dict[str, Any]) -> str | None:
    match = re.fullmatch(r"arn:aws:states:::(?:aws-sdk:)?[a-z0-9]+:(\w+)(?:\.\w+)?", state.get("Resource", ""))
    return match.group(1) if match else None


def is_dynamodb_write(state: dict[str, Any]) -> bool:
    return task_service(state) == "dynamodb" and task_action(state) in DYNAMODB_WRITES


def functions_in(definition: dict[str, Any], functions: set[str]) -> set[str]:
    return {n for n, s in states(definition).items() if lambda_function(s) in functions}


def steps_in(definition: dict[str, Any], steps: set[tuple[str, str | None]]) -> set[str]:
    return {n for n, s in states(definition).items() if lambda_step(s) in steps}


def run_only_states(definition: dict[str, Any]) -> set[str]:
    """Lambda Tasks only a run may reach: every starter, and the job poll."""
    return functions_in(definition, STARTER_FUNCTIONS) | steps_in(definition, RUN_ONLY_STEPS)


def _resolve_names(expression: str, parameters: dict[str, Any]) -> str:
    names = parameters.get("ExpressionAttributeNames", {}) or {}
    return re.sub(r"#\w+", lambda m: names.get(m.group(0), m.group(0)), expression)


def lease_takers(definition: dict[str, Any]) -> set[str]:
    """DynamoDB writes that make this execution the lease holder: a put of an
    item whose executionArn is $$.Execution.Id, or an update that SETs it."""
    found = set()
    for name, state in states(definition).items():
        if task_service(state) != "dynamodb":
            continue
        params = state.get("Parameters", {}) or {}
        action = task_action(state)
        if action == "putItem":
            if (params.get("Item", {}) or {}).get("executionArn") == {"S.$": EXECUTION_ID}:
                found.add(name)
        elif action == "updateItem":
            update = _resolve_names(params.get("UpdateExpression", ""), params)
            clause = re.search(r"\bSET\b(.*?)(?=\b(?:REMOVE|ADD|DELETE)\b|$)", update, re.S | re.I)
            values = params.get("ExpressionAttributeValues", {}) or {}
            for target in re.findall(r"\bexecutionArn\s*=\s*(:\w+)", clause.group(1) if clause else ""):
                if values.get(target) == {"S.$": EXECUTION_ID}:
                    found.add(name)
    return found


def lease_releases(definition: dict[str, Any]) -> set[str]:
    """DynamoDB Tasks that delete the lease item."""
    return {n for n, s in states(definition).items()
            if task_service(s) == "dynamodb" and task_action(s) == "deleteItem"}


# --- the modes and the parts of a run ------------------------------------------------


def dispatch_choice(definition: dict[str, Any]) -> str | None:
    """The first Choice on the Next chain from StartAt: it picks the mode."""
    all_states = states(definition)
    name, seen = definition.get("StartAt"), set()
    while name in all_states and name not in seen:
        seen.add(name)
        if all_states[name].get("Type") == "Choice":
            return name
        name = all_states[name].get("Next")
    return None


def mode_entries(definition: dict[str, Any]) -> dict[str, str]:
    """Mode field -> the state the dispatch Choice sends such an execution to."""
    choice = dispatch_choice(definition)
    entries: dict[str, str] = {}
    if choice is None:
        return entries
    for rule in states(definition)[choice].get("Choices", []):
        field = mode_rule_field(rule)
        if field and field not in entries:
            entries[field] = rule.get("Next")
    return entries


def run_states(definition: dict[str, Any], *, catches: bool = True) -> set[str]:
    """States a run (neither a cleanup run nor a sweep) can enter."""
    return reachable(definition, definition.get("StartAt", ""), catches=catches, run=True)


def happy_states(definition: dict[str, Any]) -> set[str]:
    """States on a run's normal flow: reachable from StartAt without a Catch."""
    return run_states(definition, catches=False)


def touched_states(definition: dict[str, Any]) -> set[str]:
    """States of a run from the first step that can start something on."""
    found: set[str] = set()
    for name in functions_in(definition, STARTER_FUNCTIONS):
        found |= reachable(definition, name, run=True)
    return found


def happy_order(definition: dict[str, Any]) -> list[str]:
    """The normal flow's states, breadth first from StartAt."""
    order: list[str] = []
    todo = [definition.get("StartAt", "")]
    while todo:
        name = todo.pop(0)
        if name in order or name not in states(definition):
            continue
        order.append(name)
        todo.extend(successors(definition, name, catches=False, run=True))
    return order


def first_lambda(definition: dict[str, Any]) -> str | None:
    return next((n for n in happy_order(definition) if is_lambda_task(states(definition)[n])), None)


def cleanup_entries(definition: dict[str, Any]) -> set[str]:
    """Targets of the catch-all catchers of the run's normal-flow Tasks after
    something may have started (best-effort Tasks excepted)."""
    all_states = states(definition)
    entries = set()
    for name in happy_states(definition) & touched_states(definition):
        if name in BEST_EFFORT_TASKS:
            continue
        for catcher in all_states[name].get("Catch", []):
            if catcher.get("ErrorEquals") == ["States.ALL"]:
                entries.add(catcher.get("Next"))
    return entries


def cleanup_states(definition: dict[str, Any]) -> set[str]:
    """The run's cleanup: what a run can reach from a cleanup entry."""
    found: set[str] = set()
    for entry in cleanup_entries(definition):
        found |= reachable(definition, entry, run=True)
    return found


# --- poll loops --------------------------------------------------------------------


def catcher_for(state: dict[str, Any], error: str) -> dict[str, Any] | None:
    """The Catch that takes a Lambda's custom `error` (its name, States.TaskFailed
    or States.ALL; the first that matches), else None."""
    for catcher in state.get("Catch", []):
        if set(catcher.get("ErrorEquals", [])) & {error, "States.TaskFailed", "States.ALL"}:
            return catcher
    return None


def deadline_owner(definition: dict[str, Any], name: str,
                   component: dict[str, frozenset[str]] | None = None) -> bool:
    """A Lambda step of DEADLINE_OWNERS on a cycle whose Catch of its deadline
    error leaves that cycle: past the deadline, the loop ends."""
    state = states(definition)[name]
    error = deadline_error(state)
    if error is None:
        return False
    component = component or strongly_connected(definition)
    catcher = catcher_for(state, error)
    return catcher is not None and catcher.get("Next") not in component[name]


def loop_exits(definition: dict[str, Any], name: str,
               component: dict[str, frozenset[str]] | None = None) -> set[str]:
    """Where the cycle through `name` goes on when its Choice leaves it: the
    targets outside the cycle of the Choice rules and Defaults on it."""
    all_states = states(definition)
    component = component or strongly_connected(definition)
    cycle = component[name]
    return {target for member in cycle if all_states[member].get("Type") == "Choice"
            for _, target in transitions(all_states[member]) if target not in cycle}


# --- the rules -----------------------------------------------------------------


def check_placeholders(raw_text: str) -> list[str]:
    """The raw file is JSON and uses exactly the documented placeholders, each where it belongs:
    a function key as a whole Task Resource, the worker ids inside the one StringSplit, the
    lease table as the whole TableName of a DynamoDB Task, the alarm topic as the whole
    TopicArn of an SNS Task."""
    problems: list[str] = []
    try:
        raw = json.loads(raw_text)
    except json.JSONDecodeError as err:
        return [f"the raw file is not valid JSON: {err}"]
    found = set(_PLACEHOLDER.findall(raw_text))
    for key in sorted(found - ALL_PLACEHOLDERS):
        problems.append(f"unknown placeholder ${{{key}}}")
    for key in sorted(ALL_PLACEHOLDERS - found):
        problems.append(f"placeholder ${{{key}}} is never used")
    table_paths = {f"$.States.{name}.Parameters" for name, state in states(raw).items()
                   if task_service(state) == "dynamodb"}
    topic_paths = {f"$.States.{name}.Parameters" for name, state in states(raw).items()
                   if task_service(state) == "sns"}
    for path, key, value in walk(raw):
        if not isinstance(value, str) or "${" not in value:
            continue
        keys = _PLACEHOLDER.findall(value)
        if key == "Resource" and len(keys) == 1 and value == f"${{{keys[0]}}}" and keys[0] in FUNCTION_PLACEHOLDERS:
            continue
        if key.endswith(".$") and value == WORKER_IDS_EXPRESSION:
            continue
        if key == "TableName" and value == f"${{{LEASE_TABLE_PLACEHOLDER}}}" and path in table_paths:
            continue
        if key == "TopicArn" and value == f"${{{ALARM_TOPIC_PLACEHOLDER}}}" and path in topic_paths:
            continue
        if key == "revision" and value == f"${{{REVISION_PLACEHOLDER}}}" and path == REVISION_PATH:
            continue
        problems.append(f"{path}.{key}: placeholder used outside its documented place: {value!r}")
    return problems


def check_jsonpath_only(definition: dict[str, Any]) -> list[str]:
    problems = []
    for path, key, value in walk(definition):
        if key in JSONATA_ONLY_FIELDS:
            problems.append(f"{path}: field {key} (JSONata or variables) is not allowed")
        if isinstance(value, str) and value.strip().startswith("{%"):
            problems.append(f"{path}.{key}: JSONata expression {value!r}")
        if isinstance(value, str) and key.endswith(".$") and "$" not in value and not value.startswith("States."):
            problems.append(f"{path}.{key}: a '.$' field must hold a path or an intrinsic, got {value!r}")
    return problems


def check_graph(definition: dict[str, Any]) -> list[str]:
    """Every transition has a target, every state is reachable, terminals are terminal."""
    problems = []
    all_states = states(definition)
    start = definition.get("StartAt")
    if start not in all_states:
        problems.append(f"StartAt {start!r} is not a state")
    for name, state in all_states.items():
        if len(name) > MAX_STATE_NAME:
            problems.append(f"{name!r}: state names are limited to {MAX_STATE_NAME} characters")
        kind = state.get("Type")
        for label, target in transitions(state):
            if target not in all_states:
                problems.append(f"{name!r} -> {target!r} ({label or 'Next'}): no such state")
        terminal = kind in ("Succeed", "Fail") or state.get("End") is True
        if kind == "Choice":
            if not state.get("Choices") or "Next" in state or "End" in state:
                problems.append(f"{name!r}: a Choice needs Choices and no Next/End")
        elif terminal and "Next" in state:
            problems.append(f"{name!r}: terminal state with a Next")
        elif not terminal and "Next" not in state:
            problems.append(f"{name!r}: non-terminal state without Next")
    if start in all_states:
        for name in sorted(set(all_states) - reachable(definition, start)):
            problems.append(f"{name!r} is unreachable")
    return problems


def check_tasks(definition: dict[str, Any]) -> list[str]:
    """Every Task retries, has a timeout, no heartbeat, and a Catch; a Lambda gets the whole document.

    A Lambda Task passes the whole document: no InputPath and no Parameters
    (the event is the document), or exactly `{"action": <one of its
    function's LAMBDA_ACTIONS>, "state.$": "$"}` (the function picks the step
    by the action and reads the document under `state`).
    """
    problems = []
    for name, state in states(definition).items():
        if state.get("Type") != "Task":
            continue
        function = lambda_function(state)
        if function is not None:
            if state.get("InputPath", "$") != "$":
                problems.append(f"{name!r}: a Lambda Task gets the whole document, not InputPath {state['InputPath']!r}")
            params = state.get("Parameters")
            if params is not None:
                action = params.get("action") if isinstance(params, dict) else None
                known = sorted(LAMBDA_ACTIONS.get(function, ()))
                if not isinstance(params, dict) or set(params) != {"action", *ACTION_EVENT_STATE} \
                        or any(params[k] != v for k, v in ACTION_EVENT_STATE.items()):
                    problems.append(f"{name!r}: a Lambda Task's Parameters are none (the whole document) or "
                                    f"{{'action': ..., 'state.$': '$'}}, not {params!r}")
                elif action not in known:
                    problems.append(f"{name!r}: {function} has no action {action!r} (documented: {known})")
        if not state.get("Retry"):
            problems.append(f"{name!r}: Task without Retry")
        timeout = state.get("TimeoutSeconds")
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            problems.append(f"{name!r}: Task without a positive integer TimeoutSeconds")
        if "HeartbeatSeconds" in state or "HeartbeatSecondsPath" in state:
            problems.append(f"{name!r}: HeartbeatSeconds is not used by this workflow")
        if not state.get("Catch"):
            problems.append(f"{name!r}: Task without Catch")
    return problems


def check_retriers(definition: dict[str, Any]) -> list[str]:
    """Every retrier is fully specified with FULL jitter; only the run's cleanup retries a wildcard.

    Outside the run's cleanup (the normal flow, the lease and skip steps, the
    cleanup-run and sweep steps) no Task retries a fatal name, States.ALL or
    States.TaskFailed. The cleanup Tasks may retry States.TaskFailed and
    States.Timeout, never States.ALL. No Task retries an expected branch
    (DynamoDB.ConditionalCheckFailedException: the lease is someone else's;
    Sfn.ExecutionDoesNotExistException: its holder is gone): those are
    answers that a Catch routes, and a Task that can get one (a conditional
    DynamoDB write, DescribeExecution) must not retry States.TaskFailed either,
    which would match them.
    """
    problems = []
    cleanup = cleanup_states(definition)
    for name, state in states(definition).items():
        retry = state.get("Retry", [])
        branching = (task_service(state) == "dynamodb" and "ConditionExpression" in (state.get("Parameters") or {})) \
            or (task_service(state) == "sfn" and task_action(state) == "describeExecution")
        for index, retrier in enumerate(retry):
            where = f"{name!r} Retry[{index}]"
            names = retrier.get("ErrorEquals") or []
            if not names:
                problems.append(f"{where}: empty ErrorEquals")
            for field in RETRIER_FIELDS:
                if field not in retrier:
                    problems.append(f"{where}: missing {field}")
            if retrier.get("JitterStrategy", "FULL") != "FULL":
                problems.append(f"{where}: JitterStrategy must be FULL")
            if "States.ALL" in names and (len(names) > 1 or index != len(retry) - 1):
                problems.append(f"{where}: States.ALL must be alone and last")
            if name not in cleanup:
                for bad in sorted(set(names) & (FATAL_ERRORS | WILDCARDS)):
                    problems.append(f"{where}: outside cleanup, must not retry {bad}")
            elif "States.ALL" in names:
                problems.append(f"{where}: cleanup retries named errors, not States.ALL")
            for bad in sorted(set(names) & EXPECTED_BRANCH_ERRORS):
                problems.append(f"{where}: must not retry {bad}: an expected branch, not a transient failure")
            if branching and set(names) & WILDCARDS:
                problems.append(f"{where}: a wildcard would retry {sorted(EXPECTED_BRANCH_ERRORS)}, expected branches")
    return problems


def check_service_retries(definition: dict[str, Any]) -> list[str]:
    """Each Task retries its own service's transient names, and only its own service's names.

    Lambda Tasks retry the Lambda service errors and the Lambdas' own
    transient names (AwsThrottled, AwsServiceUnavailable); DynamoDB Tasks the
    DynamoDB throttling and 5xx names; the aws-sdk Sfn Tasks
    Sfn.ThrottlingException; an aws-sdk EC2 Task, if one comes back,
    Ec2.Ec2Exception.
    A name of another service can never match (a DynamoDB Task does not raise
    Lambda.ServiceException), so it hides a missing retry. The run's cleanup
    may also retry States.TaskFailed/States.Timeout (check_retriers).
    """
    problems = []
    for name, state in states(definition).items():
        service = task_service(state)
        if service is None:
            continue
        if service not in SERVICE_ERROR_PREFIXES:
            problems.append(f"{name!r}: unknown integration {state.get('Resource')!r}")
            continue
        names = {n for r in state.get("Retry", []) for n in r.get("ErrorEquals", [])}
        for missing in sorted(SERVICE_TRANSIENT_ERRORS[service] - names):
            problems.append(f"{name!r}: a {service} Task must retry {missing}")
        for retried in sorted(names):
            if retried.startswith("States."):
                continue
            if "." in retried:
                if not retried.startswith(SERVICE_ERROR_PREFIXES[service]):
                    problems.append(f"{name!r}: retries {retried}, a name of another service than {service}")
            elif service != "lambda":
                problems.append(f"{name!r}: retries {retried}, a Lambda's error name; a {service} Task never raises it")
    return problems


def check_catches(definition: dict[str, Any]) -> list[str]:
    """Failures after something may have started reach cleanup, and cleanup always goes on.

    The run's parts: before the first step that can start something (the
    lease: take, read, who holds it; the skip), the normal flow after it, and
    the cleanup (everything a run reaches from the normal flow's catch-all).

    - Every Catch keeps the document; every Task's last Catch is States.ALL.
    - Normal flow after a start: the last Catch sends States.ALL to the one
      cleanup entry with `$.error`. Only the first Lambda Task may send
      InvalidInput/ConfigError past the stopping steps (nothing touched yet),
      to a Fail or to a lease release (the lease was taken: give it back).
    - Before anything started: a Catch goes on along the lease/skip side path,
      or straight to a Fail with `$.error` (nothing to clean up).
    - Best-effort Tasks (BEST_EFFORT_TASKS: lease bookkeeping, the skip
      metric) catch States.ALL once into their own side key (never `$.error`
      nor `$.cleanupErrors`) and go on with their own Next.
    - Cleanup Tasks catch States.ALL once into `$.cleanupErrors.<step>` (one
      key each) and go on with their own Next; a cleanup poll loop's deadline
      owner (`Cleanup: stop workers`, poll_ec2_state's stopWorkers;
      `Cleanup: stop database`, rds_stop) goes on where the loop's Choice
      leaves it (`Cleanup: stop database`, `Cleanup: publish metrics`): a
      failed stop is not polled again, and its Choice, which reads the Task's
      result, is skipped.
    The cleanup-run and sweep modes' own Tasks only need the first two points
    (their Fail reads what the Catch wrote: check_paths_present).
    """
    problems = []
    all_states = states(definition)
    run = run_states(definition)
    happy = happy_states(definition)
    touched = touched_states(definition)
    cleanup = cleanup_states(definition)
    entries = cleanup_entries(definition)
    releases = lease_releases(definition)
    first = first_lambda(definition)
    component = strongly_connected(definition)
    if len(entries) != 1:
        problems.append(f"expected one cleanup entry, found {sorted(entries)}")
    for name in sorted(happy & cleanup):
        problems.append(f"{name!r} is both on the normal flow and in cleanup")
    for name in sorted(BEST_EFFORT_TASKS - set(all_states)):
        problems.append(f"best-effort Task {name!r} does not exist")
    for name, state in all_states.items():
        if state.get("Type") != "Task":
            continue
        catchers = state.get("Catch", [])
        for index, catcher in enumerate(catchers):
            if catcher.get("ResultPath", "$") in ("$", None):
                problems.append(f"{name!r} Catch[{index}]: ResultPath must keep the document (not $ or null)")
        last = catchers[-1] if catchers else {}
        if last.get("ErrorEquals") != ["States.ALL"]:
            problems.append(f"{name!r}: the last Catch must be States.ALL")
        if name in BEST_EFFORT_TASKS:
            if [c.get("ErrorEquals") for c in catchers] != [["States.ALL"]]:
                problems.append(f"{name!r}: a best-effort Task catches States.ALL, once")
            for catcher in catchers:
                path = catcher.get("ResultPath") or ""
                if catcher.get("Next") != state.get("Next"):
                    problems.append(f"{name!r}: a best-effort step goes on to {state.get('Next')!r} when it fails")
                if path == ERROR_RESULT_PATH or path.startswith(ERROR_RESULT_PATH + ".") \
                        or path.startswith(CLEANUP_ERRORS_PREFIX.rstrip(".")):
                    problems.append(f"{name!r}: a best-effort failure goes to its own key, not {path!r}")
            if lambda_function(state) in STARTER_FUNCTIONS:
                problems.append(f"{name!r}: a step that can start something is never best effort")
        elif name in happy and name in touched:
            if last.get("ErrorEquals") != ["States.ALL"] or last.get("Next") not in entries:
                problems.append(f"{name!r}: the last Catch must send States.ALL to cleanup")
            if last.get("ResultPath") != ERROR_RESULT_PATH:
                problems.append(f"{name!r}: the cleanup Catch must write {ERROR_RESULT_PATH}")
            for index, catcher in enumerate(catchers[:-1]):
                target_name = catcher.get("Next")
                target = all_states.get(target_name, {})
                names = set(catcher.get("ErrorEquals", []))
                if name != first or not names <= NOTHING_TOUCHED_ERRORS \
                        or not (target.get("Type") == "Fail" or target_name in releases):
                    problems.append(
                        f"{name!r} Catch[{index}]: only the first Lambda Task may skip cleanup, "
                        f"for {sorted(NOTHING_TOUCHED_ERRORS)}, straight to a Fail or the lease release")
                if catcher.get("ResultPath") != ERROR_RESULT_PATH:
                    problems.append(f"{name!r} Catch[{index}]: must write {ERROR_RESULT_PATH}")
        elif name in cleanup:
            paths = [c.get("ResultPath", "") for c in catchers]
            if [c.get("ErrorEquals") for c in catchers] != [["States.ALL"]]:
                problems.append(f"{name!r}: a cleanup Task catches States.ALL, once")
            goes_on, how, known = state.get("Next"), "", True
            if deadline_error(state) is not None and len(component[name]) > 1:
                # A failed poll (its deadline passed, or any other error) is not
                # polled again: cleanup goes on where the loop's Choice leaves it.
                exits = loop_exits(definition, name, component)
                known = len(exits) == 1
                goes_on, how = min(exits, default=None), " (where its poll loop goes on)"
                if not known:
                    problems.append(f"{name!r}: its cleanup poll loop must have one way out, found {sorted(exits)}")
            for catcher in catchers:
                if known and catcher.get("Next") != goes_on:
                    problems.append(f"{name!r}: a failed cleanup step must go on to {goes_on!r}{how}")
            for path in paths:
                if not path.startswith(CLEANUP_ERRORS_PREFIX):
                    problems.append(f"{name!r}: cleanup errors go under {CLEANUP_ERRORS_PREFIX}, not {path!r}")
        elif name in run and name not in touched:
            for index, catcher in enumerate(catchers):
                target_name = catcher.get("Next")
                target = all_states.get(target_name, {})
                if target.get("Type") == "Fail":
                    if catcher.get("ResultPath") != ERROR_RESULT_PATH:
                        problems.append(f"{name!r} Catch[{index}]: a failure that ends the run must write {ERROR_RESULT_PATH}")
                elif target_name in touched:
                    problems.append(f"{name!r} Catch[{index}]: before anything started, a failure goes on along "
                                    f"the lease path or straight to a Fail, not to {target_name!r}")
        elif name in run:
            problems.append(f"{name!r}: runs after something may have started, but is neither on the normal flow, "
                            "nor in cleanup, nor best effort")
    seen: dict[str, str] = {}
    for name in sorted(cleanup):
        for catcher in all_states[name].get("Catch", []):
            path = catcher.get("ResultPath", "")
            if path in seen:
                problems.append(f"{name!r} and {seen[path]!r} both write {path}")
            seen[path] = name
    return problems


def check_loops(definition: dict[str, Any]) -> list[str]:
    """Every cycle has a deadline owner and a Choice that can leave it.

    A deadline owner is a Lambda Task of one of the DEADLINE_OWNERS steps
    (rds_check, ec2_start, poll_ec2_state's job poll and its stopWorkers,
    rds_stop) whose Catch of its deadline error (RdsReadyTimeout,
    Ec2ReadyTimeout, JobTimeout, Ec2StopTimeout, RdsStopTimeout) leaves the
    loop: past its deadline the function fails and the loop ends.
    poll_ec2_state's stopWorkers owns both worker stop loops (`Stop workers`
    and `Cleanup: stop workers`, EC2_READY_TIMEOUT_SECONDS from the loop's
    first try), rds_stop both DB stop loops (`Stop database` and `Cleanup:
    stop database`, RDS_STOP_DEADLINE_SECONDS). The deadline error is the
    step's, not the function's: poll_ec2_state's JobTimeout does not end a
    worker stop loop. The lease loops
    (take the lease, lost the race, read it, it was released meanwhile, take
    it again) have no deadline owner: each lap needs another execution to
    take AND release the lease between our write and our read, so they are
    bounded by the others' progress. Their owner is the conditional DynamoDB write itself, when its
    success and every other Catch leave the loop and only
    DynamoDB.ConditionalCheckFailedException stays in it.
    """
    problems = []
    all_states = states(definition)
    component = strongly_connected(definition)

    def guard_task(name: str) -> bool:
        return deadline_owner(definition, name, component)

    def guard_lease_race(name: str) -> bool:
        state = all_states[name]
        if not (is_dynamodb_write(state) and (state.get("Parameters") or {}).get("ConditionExpression")):
            return False
        if state.get("Next") in component[name]:
            return False
        staying = [c for c in state.get("Catch", []) if c.get("Next") in component[name]]
        return bool(staying) and all(
            c.get("ErrorEquals") == ["DynamoDB.ConditionalCheckFailedException"] for c in staying)

    def guard_choice(name: str) -> bool:
        state = all_states[name]
        return state.get("Type") == "Choice" and any(
            target not in component[name] for _, target in transitions(state)
        )

    for what, guard in (("a Lambda Task owning a deadline whose Catch leaves the loop (or a lost lease race)",
                         lambda n: guard_task(n) or guard_lease_race(n)),
                        ("a Choice with a way out", guard_choice)):
        unguarded = {n for n in all_states if not guard(n)}
        cycle = has_cycle(definition, unguarded)
        if cycle:
            problems.append(f"cycle {' -> '.join(cycle)} does not pass through {what}")
    for name, state in all_states.items():
        if state.get("Type") == "Wait" and len(component[name]) < 2:
            problems.append(f"{name!r}: a Wait outside a poll loop")
    return problems


def check_fail_states(definition: dict[str, Any]) -> list[str]:
    """A run's Fail reports the original error: ErrorPath/CausePath, never a fixed Error.

    The run's Fail states are those a run can reach. On a run's path nothing
    but a Catch writes `$.error` (a Pass or a Task result there would replace
    the original). The cleanup run's and the sweep's own Fail states (`Invalid
    input`, `Cleanup run: failed` with CleanupIncomplete) report their own
    failure, not a run's: they only need an error and a cause.
    """
    problems = []
    all_states = states(definition)
    run = run_states(definition)
    predecessors: dict[str, set[str]] = {name: set() for name in all_states}
    for name in all_states:
        for target in successors(definition, name):
            predecessors.setdefault(target, set()).add(name)
    for name in sorted(run):
        state = all_states[name]
        if state.get("Type") in ("Pass", "Task") and state.get("ResultPath") == ERROR_RESULT_PATH:
            problems.append(f"{name!r} writes {ERROR_RESULT_PATH} on a run's path: it would replace the original error")
    for name, state in all_states.items():
        if state.get("Type") != "Fail":
            continue
        if name not in run:
            if not ("Error" in state or "ErrorPath" in state) or not ("Cause" in state or "CausePath" in state):
                problems.append(f"{name!r}: needs an Error (or ErrorPath) and a Cause (or CausePath)")
            continue
        if "Error" in state or "Cause" in state:
            problems.append(f"{name!r}: fixed Error/Cause would hide the original error")
        error_path, cause_path = state.get("ErrorPath"), state.get("CausePath")
        if not error_path or not cause_path:
            problems.append(f"{name!r}: needs ErrorPath and CausePath")
            continue
        if error_path == ORIGINAL_ERROR_PATH:
            if cause_path != ORIGINAL_CAUSE_PATH:
                problems.append(f"{name!r}: CausePath must be {ORIGINAL_CAUSE_PATH}")
            continue
        # Otherwise every predecessor must be a Pass copying the original name there.
        match = re.fullmatch(r"\$\.(\w+)\.(\w+)", error_path)
        if match is None or not cause_path.startswith(f"$.{match.group(1)}."):
            problems.append(f"{name!r}: ErrorPath and CausePath must come from the same block")
        for pred in sorted(predecessors.get(name, ())):
            pred_state = all_states[pred]
            ok = (
                match is not None
                and pred_state.get("Type") == "Pass"
                and pred_state.get("ResultPath") == f"$.{match.group(1)}"
                and pred_state.get("Parameters", {}).get(f"{match.group(2)}.$") == ORIGINAL_ERROR_PATH
            )
            if not ok:
                problems.append(f"{name!r}: ErrorPath {error_path} is not the original {ORIGINAL_ERROR_PATH} (via {pred!r})")
        if not predecessors.get(name):
            problems.append(f"{name!r}: ErrorPath {error_path} is not {ORIGINAL_ERROR_PATH}")
    return problems


def check_workers_marked_first(definition: dict[str, Any]) -> list[str]:
    """$.workers is written before any step that can start or stop EC2 on the normal flow
    (ec2_start, poll_ec2_state's stopWorkers, an aws-sdk EC2 Task)."""
    all_states = states(definition)
    writers = {n for n, s in all_states.items() if s.get("ResultPath") == "$.workers"}
    ec2_touching = {
        n for n, s in all_states.items()
        if s.get("Type") == "Task"
        and (lambda_function(s) == "ec2_start" or lambda_step(s) in WORKER_STOP_STEPS
             or ":ec2:" in s.get("Resource", ""))
    }
    if not writers:
        return ["no state writes $.workers"]
    early = reachable(definition, definition.get("StartAt", ""), catches=False, blocked=writers)
    return [f"{n!r} can run before $.workers is written" for n in sorted(ec2_touching & early)]


def check_lease_released(definition: dict[str, Any]) -> list[str]:
    """(a) Every way from a lease take's success to an end passes a lease release.

    A lease take is a DynamoDB write that makes this execution the holder (a
    run's `Take lease`, a cleanup run's or a sweep's take-over): from its
    success, every path (Catches included) to a Succeed, Fail or End state
    passes a lease release (a deleteItem: `Release lease`, `Cleanup: release
    lease`). The one exception is on purpose: `Cleanup complete?` with
    `$.cleanupErrors` present keeps the lease, so the cleanup run started by
    this execution's end takes it over and tries again.
    """
    problems = []
    all_states = states(definition)
    takers = lease_takers(definition)
    releases = lease_releases(definition)
    if not takers:
        problems.append("no state takes the run lease")
    if not releases:
        problems.append("no state releases the run lease")
    keep = all_states.get(KEEP_LEASE_CHOICE)
    keep_rules = [i for i, r in enumerate((keep or {}).get("Choices", []))
                  if {k: v for k, v in r.items() if k != "Next"} == KEEP_LEASE_RULE]
    if keep is None or keep.get("Type") != "Choice" or not keep_rules:
        problems.append(f"{KEEP_LEASE_CHOICE!r} must be a Choice with the rule {KEEP_LEASE_RULE}")
    terminals = {n for n, s in all_states.items() if s.get("Type") in ("Succeed", "Fail") or s.get("End") is True}

    def kept_on_purpose(name: str, index: int, target: str) -> bool:
        return name == KEEP_LEASE_CHOICE and index in keep_rules

    for taker in sorted(takers):
        start = all_states[taker].get("Next")
        path = find_path(definition, start, terminals, skip_edge=kept_on_purpose, blocked=releases)
        if path:
            problems.append(f"{taker!r} takes the lease and can end without releasing it: "
                            + " -> ".join([taker] + path))
    return problems


def _is_dry_run_rule(rule: dict[str, Any]) -> bool:
    """A Choice rule that holds only when the input's dryRun is true."""
    if rule.get("Variable") == DRY_RUN_VARIABLE and rule.get("BooleanEquals") is True:
        return True
    return any(_is_dry_run_rule(r) for r in rule.get("And", []))


def check_starts_need_lease(definition: dict[str, Any]) -> list[str]:
    """(b) Nothing that can start something runs before the lease is taken, or in a dry run.

    From StartAt (Catches included), a step that can start something (rds_check,
    ec2_start, ssm_launch: `Check database`, `Start workers`, `Launch job`) is
    reachable only through the success of a run's lease take (`Take lease`;
    not a cleanup run's or a sweep's) or a Choice rule that holds only for
    `$.input.dryRun` true (`Dry run?`): a dry run changes nothing and takes no
    lease.
    """
    all_states = states(definition)
    starters = functions_in(definition, STARTER_FUNCTIONS)
    if not starters:
        return ["no state runs rds_check, ec2_start or ssm_launch"]
    takers = lease_takers(definition) & run_states(definition)

    def allowed(name: str, index: int, target: str) -> bool:
        state = all_states[name]
        choices = state.get("Choices", [])
        if index < len(choices):
            return _is_dry_run_rule(choices[index])
        return name in takers and transitions(state)[index][0] == ""

    path = find_path(definition, definition.get("StartAt", ""), starters, skip_edge=allowed)
    if path:
        return [f"{path[-1]!r} can start something without the lease or a dry run: " + " -> ".join(path)]
    return []


def check_modes(definition: dict[str, Any]) -> list[str]:
    """(c) The cleanup run and the sweep never reach the run's own steps; the mode is kept.

    The dispatch Choice (the first after StartAt) sends `$.input.cleanupAfter`
    and `$.input.sweep` to their modes; from there (Catches included) no state
    runs rds_check, ec2_start, ssm_launch or poll_ec2_state's job poll (`Check
    database`, `Start workers`, `Launch job`, `Check job`; poll_ec2_state's
    stopWorkers is their cleanup too). The other rules tell a run's
    states from a mode's by the `$.input.<field> IsPresent` rules; that holds
    because `$.input` is written once: only by StartAt, and no state before an
    end replaces the whole document.
    """
    problems = []
    all_states = states(definition)
    entries = mode_entries(definition)
    start = definition.get("StartAt")
    for field in MODE_FIELDS:
        if field not in entries:
            problems.append(f"the dispatch Choice {dispatch_choice(definition)!r} has no rule "
                            f"{{$.input.{field} IsPresent true}}")
    run_only = run_only_states(definition)
    for field, entry in sorted(entries.items()):
        path = find_path(definition, entry, run_only)
        if path:
            problems.append(f"the {field} mode reaches {path[-1]!r}: " + " -> ".join(path))
    for name, state in all_states.items():
        if name == start:
            continue
        terminal = state.get("Type") in ("Succeed", "Fail") or state.get("End") is True
        writes = [state.get("ResultPath", "$")] if state.get("Type") in ("Task", "Pass") else []
        writes += [c.get("ResultPath", "$") for c in state.get("Catch", [])]
        for path in writes:
            if path is None:
                continue
            if path == "$.input" or path.startswith("$.input."):
                problems.append(f"{name!r} writes {path}: $.input, which picks the mode, is written once")
            replaces = path == "$" and (state.get("Type") == "Task" or "Parameters" in state or "Result" in state)
            if replaces and not terminal:
                problems.append(f"{name!r} replaces the whole document before an end ($.input would be lost)")
        if state.get("OutputPath", "$") != "$" and not terminal:
            problems.append(f"{name!r}: OutputPath would drop $.input before an end")
    return problems


def check_lease_writes(definition: dict[str, Any]) -> list[str]:
    """(d) Every DynamoDB write is conditional on the lease's holder, on the one lease item.

    Its ConditionExpression names `executionArn` (only the holder, or the
    holder we found, may change it) or is `attribute_not_exists(pk)` (nobody
    holds it). Batch and transaction writes are not used. The key is
    `pk = run-lease`. A write that takes the lease records who holds it
    (executionArn, heldBy: `Describe lease holder` and the skip read them back).
    Every `:value` and `#name` an expression uses is
    defined, and every defined one is used (DynamoDB rejects both).
    """
    problems = []
    takers = lease_takers(definition)
    for name, state in states(definition).items():
        if task_service(state) != "dynamodb":
            continue
        params = state.get("Parameters") or {}
        action = task_action(state)
        if name in takers:
            written = set(params.get("Item") or {}) | set(re.findall(
                r"(\w+)\s*=", _resolve_names(params.get("UpdateExpression", ""), params)))
            for field in sorted(LEASE_HOLDER_FIELDS - written):
                problems.append(f"{name!r} takes the lease without writing {field} (who holds it is read back)")
        key = params.get("Key") if action != "putItem" else {"pk": (params.get("Item") or {}).get("pk")}
        if key != LEASE_KEY:
            problems.append(f"{name!r}: the lease item's key is {LEASE_KEY}, not {key}")
        expressions = " ".join(str(params.get(k, "")) for k in
                               ("ConditionExpression", "UpdateExpression", "ProjectionExpression",
                                "KeyConditionExpression", "FilterExpression"))
        used_values = set(re.findall(r":\w+", expressions))
        used_names = set(re.findall(r"#\w+", expressions))
        defined_values = set(params.get("ExpressionAttributeValues", {}) or {})
        defined_names = set(params.get("ExpressionAttributeNames", {}) or {})
        for value in sorted(used_values - defined_values):
            problems.append(f"{name!r}: {value} is not in ExpressionAttributeValues")
        for value in sorted(defined_values - used_values):
            problems.append(f"{name!r}: ExpressionAttributeValues {value} is never used")
        for alias in sorted(used_names ^ defined_names):
            problems.append(f"{name!r}: ExpressionAttributeNames {alias} is not both defined and used")
        if action not in DYNAMODB_WRITES:
            continue
        if action in ("batchWriteItem", "transactWriteItems"):
            problems.append(f"{name!r}: {action} is not used: one conditional write of the lease item")
            continue
        condition = _resolve_names(params.get("ConditionExpression", "") or "", params)
        if not condition:
            problems.append(f"{name!r}: an unconditional {action} of the lease")
        elif not (re.search(r"\bexecutionArn\b", condition) or re.search(r"attribute_not_exists\(\s*pk\s*\)", condition)):
            problems.append(f"{name!r}: the ConditionExpression {condition!r} names neither executionArn "
                            "nor attribute_not_exists(pk)")
    return problems


def check_skip_output(definition: dict[str, Any]) -> list[str]:
    """(e) A skipped run ends, not failed, with exactly {"skipped": {"reason", "heldBy"}}.

    A skip is a Pass writing {reason, heldBy} to `$.skipped`. Every way on from
    it (Catches included) ends in a Pass whose Parameters are exactly
    {"skipped.$": "$.skipped"} and whose output is that result (no ResultPath
    or OutputPath); it never reaches a Fail or a Succeed (its output is the
    whole document), never overwrites `$.skipped`, and never reaches a step
    that can start something or take the lease.
    """
    problems = []
    all_states = states(definition)
    skips = sorted(n for n, s in all_states.items() if s.get("Type") == "Pass" and s.get("ResultPath") == SKIP_RESULT_PATH)
    if not skips:
        return [f"no Pass records a skip in {SKIP_RESULT_PATH}"]
    forbidden = functions_in(definition, STARTER_FUNCTIONS) | lease_takers(definition)
    for skip in skips:
        params = all_states[skip].get("Parameters") or {}
        if {k.removesuffix(".$") for k in params} != SKIP_FIELDS or len(params) != len(SKIP_FIELDS):
            problems.append(f"{skip!r}: a skip records exactly {sorted(SKIP_FIELDS)}, not {sorted(params)}")
        if not isinstance(params.get("reason"), str) or not params.get("reason"):
            problems.append(f"{skip!r}: the reason is a fixed name")
        for name in sorted(reachable(definition, all_states[skip].get("Next", ""))):
            state = all_states[name]
            kind = state.get("Type")
            terminal = kind in ("Succeed", "Fail") or state.get("End") is True
            if name in forbidden:
                problems.append(f"{name!r}: a skipped run reaches a step that starts something or takes the lease")
            if kind == "Fail":
                problems.append(f"{name!r}: a skipped run must not end failed")
            elif kind == "Succeed":
                problems.append(f"{name!r}: a skipped run must end with {{'skipped'}} alone, not the whole document")
            elif terminal:
                if kind != "Pass" or state.get("Parameters") != SKIP_OUTPUT \
                        or state.get("ResultPath", "$") != "$" or state.get("OutputPath", "$") != "$":
                    problems.append(f"{name!r}: a skipped run must end with a Pass whose Parameters are {SKIP_OUTPUT}")
            else:
                writes = [state.get("ResultPath", "$")] if kind in ("Task", "Pass") else []
                writes += [c.get("ResultPath", "$") for c in state.get("Catch", [])]
                for path in writes:
                    if path is not None and (path == "$" or SKIP_RESULT_PATH.startswith(path + ".")
                                             or path == SKIP_RESULT_PATH or path.startswith(SKIP_RESULT_PATH + ".")):
                        problems.append(f"{name!r} overwrites {SKIP_RESULT_PATH} ({path}) on a skipped run's path")
    return problems


# --- paths present where they are read ---------------------------------------------------

# A fact is (sign, path): "+" present with every field its writer always writes,
# "~" present with unknown fields (the raw input, a DynamoDB GetItem answer),
# "-" absent.
Fact = tuple[str, str]
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_PATH_IN_INTRINSIC = re.compile(r"(?<![\w$])\$(?:\.[A-Za-z0-9_]+)*")


def _is_under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or prefix == "$"


@functools.cache  # pure, and the walk asks the same questions again and again
def _present(facts: frozenset[Fact], path: str) -> bool:
    if path == "$":
        return True
    for sign, p in facts:
        if sign == "-":
            continue
        if p == path or _is_under(p, path) or (sign == "+" and _is_under(path, p)):
            return True
    return False


@functools.cache
def _absent(facts: frozenset[Fact], path: str) -> bool:
    return any(sign == "-" and _is_under(path, p) for sign, p in facts)


@functools.cache
def _consistent(facts: frozenset[Fact]) -> bool:
    return not any(sign == "-" and any(s != "-" and _is_under(q, p) for s, q in facts) for sign, p in facts)


@functools.cache
def _write(facts: frozenset[Fact], path: str | None, sign: str) -> frozenset[Fact]:
    if path is None:
        return facts
    if path == "$":
        return frozenset({("~", "$")})  # the whole document replaced: nothing known
    kept = {(s, p) for s, p in facts
            if not _is_under(p, path) and not (s == "-" and _is_under(path, p))}
    return frozenset(kept | {(sign, path)})


def _value_reads(value: Any) -> list[str]:
    """Document paths a Parameters/ResultSelector-style template reads."""
    reads = []
    for _, key, item in walk(value):
        if not (isinstance(key, str) and key.endswith(".$") and isinstance(item, str)):
            continue
        if item.startswith("$$"):
            continue
        if item.startswith("$"):
            reads.append(item)
        elif item.startswith("States."):
            reads += _PATH_IN_INTRINSIC.findall(_QUOTED.sub("''", item))
    return reads


def _template_sign(value: Any, facts: frozenset[Fact]) -> str:
    """'+' when every copied path is a complete block (or a literal, context or intrinsic)."""
    for _, key, item in walk(value):
        if isinstance(key, str) and key.endswith(".$") and isinstance(item, str) and item.startswith("$") \
                and not item.startswith("$$"):
            if not any(s == "+" and _is_under(item, p) for s, p in facts):
                return "~"
    return "+"


def _rule_variables(rule: dict[str, Any]) -> list[str]:
    """Variables a rule compares (IsPresent tests excluded: they read nothing)."""
    found = []
    for r in rule.get("And", []) + rule.get("Or", []):
        found += _rule_variables(r)
    if "Not" in rule:
        found += _rule_variables(rule["Not"])
    if "Variable" in rule and "IsPresent" not in rule:
        found.append(rule["Variable"])
    found += [v for k, v in rule.items() if k.endswith("Path") and isinstance(v, str) and k != "Variable"]
    return found


def _rule_facts(rule: dict[str, Any], truth: bool) -> set[Fact]:
    if "IsPresent" in rule and "Variable" in rule:
        present = bool(rule["IsPresent"]) == truth
        return {("+" if present else "-", rule["Variable"])}
    if "Not" in rule:
        return _rule_facts(rule["Not"], not truth)
    members = rule.get("And" if truth else "Or", [])
    return set().union(*(_rule_facts(r, truth) for r in members)) if members else set()


def _rule_certain(rule: dict[str, Any], facts: frozenset[Fact]) -> bool | None:
    """True/False when the facts decide the rule, else None."""
    if "IsPresent" in rule and "Variable" in rule:
        if _present(facts, rule["Variable"]):
            return bool(rule["IsPresent"])
        if _absent(facts, rule["Variable"]):
            return not rule["IsPresent"]
        return None
    if "Not" in rule:
        inner = _rule_certain(rule["Not"], facts)
        return None if inner is None else not inner
    for op, short in (("And", False), ("Or", True)):
        if op in rule:
            results = [_rule_certain(r, facts) for r in rule[op]]
            if short in results:
                return short
            return (not short) if all(r is not None for r in results) else None
    return None


def _task_result_sign(state: dict[str, Any]) -> str:
    if is_lambda_task(state) or "ResultSelector" in state:
        return "+"  # a Lambda's block per the contract; a ResultSelector picks known fields
    return "~"


def check_paths_present(definition: dict[str, Any]) -> list[str]:
    """Every path a state reads is present on every way to it.

    A missing path in a Choice comparison, a Wait, a Fail's ErrorPath/CausePath
    or a Parameters template is a States.Runtime error that no Catch catches:
    the execution would fail without cleanup and without its lease released.
    The walk follows each way through the file with what it knows of the
    document: blocks written by a ResultPath (a Lambda's block and a
    ResultSelector's fields are complete, a GetItem answer and the raw input
    are not), and what each Choice rule taken or passed says (IsPresent).
    Impossible branches (a rule contradicting what is known, a rule after one
    that always holds) are not followed, so the mode fields route each mode.
    Within one rule an IsPresent beside a comparison does not guard it: only
    an earlier rule, or an earlier state, does.

    The walk is the slowest check and the tests run it on the same file
    many times, so its result is kept per file content.
    """
    return list(_paths_present(json.dumps(definition, sort_keys=True)))


@functools.lru_cache(maxsize=32)
def _paths_present(definition_json: str) -> tuple[str, ...]:
    """`check_paths_present` of one definition, given as JSON."""
    definition = json.loads(definition_json)
    all_states = states(definition)
    start = definition.get("StartAt")
    problems: set[str] = set()
    seen: set[tuple[str, frozenset[Fact]]] = set()
    todo: list[tuple[str, frozenset[Fact]]] = [(start, frozenset({("~", "$")}))]

    def need(name: str, what: str, path: str, facts: frozenset[Fact]) -> None:
        if not _present(facts, path):
            problems.add(f"{name!r}: {what} reads {path}, which may be absent there")

    while todo:
        name, facts = todo.pop()
        if (name, facts) in seen or name not in all_states:
            continue
        seen.add((name, facts))
        if len(seen) > MAX_ABSTRACT_STATES:
            problems.add(f"more than {MAX_ABSTRACT_STATES} abstract states: simplify the walk or the file")
            break
        state = all_states[name]
        kind = state.get("Type")
        out: list[tuple[str, frozenset[Fact]]] = []
        if "InputPath" in state and state["InputPath"] is not None:
            need(name, "InputPath", state["InputPath"], facts)
        if kind == "Choice":
            passed = facts
            decided = False
            for index, rule in enumerate(state.get("Choices", [])):
                for variable in _rule_variables(rule):
                    need(name, f"Choices[{index}]", variable, passed)
                certain = _rule_certain(rule, passed)
                if certain is not False:
                    taken = frozenset(passed | _rule_facts(rule, True))
                    if _consistent(taken):
                        out.append((rule.get("Next"), taken))
                if certain is True:
                    decided = True
                    break
                passed = frozenset(passed | _rule_facts(rule, False))
                if not _consistent(passed):
                    decided = True
                    break
            if not decided and "Default" in state:
                out.append((state["Default"], passed))
        elif kind == "Wait":
            for field in ("SecondsPath", "TimestampPath"):
                if field in state:
                    need(name, field, state[field], facts)
            out.append((state.get("Next"), facts))
        elif kind == "Fail":
            for field in ("ErrorPath", "CausePath"):
                if field in state:
                    need(name, field, state[field], facts)
        elif kind in ("Pass", "Task"):
            params = state.get("Parameters")
            for path in _value_reads(params):
                need(name, "Parameters", path, facts)
            result_path = state.get("ResultPath", "$")
            if kind == "Pass":
                if params is not None and result_path == "$":
                    after = frozenset((_template_sign({k: v}, facts), "$." + k.removesuffix(".$"))
                                      for k, v in params.items())
                elif params is not None:
                    after = _write(facts, result_path, _template_sign(params, facts))
                elif "Result" in state:
                    after = _write(facts, result_path, "+")
                else:
                    after = facts if result_path in ("$", None) else _write(facts, result_path, "~")
            else:
                after = _write(facts, result_path, _task_result_sign(state))
                for catcher in state.get("Catch", []):
                    out.append((catcher.get("Next"), _write(facts, catcher.get("ResultPath", "$"), "+")))
            if "Next" in state:
                out.append((state["Next"], after))
        todo.extend(out)
    return tuple(sorted(problems))


ALL_CHECKS = (
    check_jsonpath_only,
    check_graph,
    check_tasks,
    check_retriers,
    check_service_retries,
    check_catches,
    check_loops,
    check_fail_states,
    check_workers_marked_first,
    check_lease_released,
    check_starts_need_lease,
    check_modes,
    check_lease_writes,
    check_skip_output,
    check_paths_present,
)


# --- documentation rendered from the file -------------------------------------------


def describe_choice_rule(rule: dict[str, Any]) -> str:
    if "And" in rule:
        return " and ".join(describe_choice_rule(r) for r in rule["And"])
    if "Or" in rule:
        return " or ".join(describe_choice_rule(r) for r in rule["Or"])
    if "Not" in rule:
        return "not " + describe_choice_rule(rule["Not"])
    variable = rule.get("Variable", "?")
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        if key == "IsPresent":
            return f"{variable} {'present' if value else 'absent'}"
        if key == "BooleanEquals":
            return f"{variable} = {json.dumps(value)}"
        return f"{variable} {key} {json.dumps(value)}"
    return variable


def mermaid(definition: dict[str, Any]) -> str:
    """A Mermaid flowchart of every transition in the file (catch edges dotted)."""
    all_states = states(definition)
    ids = {name: f"s{index}" for index, name in enumerate(all_states)}
    shapes = {"Choice": ("{", "}"), "Succeed": ("([", "])"), "Fail": ("([", "])"),
              "Wait": ("[/", "/]"), "Pass": ("[[", "]]")}
    lines = ["flowchart TD", f"  start((start)) --> {ids[definition['StartAt']]}"]
    for name, state in all_states.items():
        left, right = shapes.get(state.get("Type"), ("[", "]"))
        label = name.replace('"', "'")
        lines.append(f'  {ids[name]}{left}"{label}"{right}')
    for name, state in all_states.items():
        for label, target in transitions(state, catches=False):
            arrow = f'-->|"{label}"|' if label else "-->"
            lines.append(f"  {ids[name]} {arrow} {ids[target]}")
        for catcher in state.get("Catch", []):
            label = "catch " + " ".join(catcher.get("ErrorEquals", []))
            lines.append(f'  {ids[name]} -.->|"{label}"| {ids[catcher.get("Next")]}')
    return "\n".join(lines)


def policy_table(definition: dict[str, Any]) -> str:
    """The retry policies (grouped) and the catchers of every Task, as the README shows them."""
    all_states = states(definition)
    policies: dict[tuple, list[str]] = {}
    for name, state in all_states.items():
        for r in state.get("Retry", []):
            key = (tuple(r.get("ErrorEquals", [])), r.get("IntervalSeconds"), r.get("MaxAttempts"),
                   r.get("BackoffRate"), r.get("MaxDelaySeconds"), r.get("JitterStrategy"))
            policies.setdefault(key, []).append(name)
    rows = [
        "| retried errors | interval s | max attempts | backoff | max delay s | jitter | Tasks |",
        "|---|---|---|---|---|---|---|",
    ]
    for (errors, interval, attempts, backoff, max_delay, jitter), names in policies.items():
        rows.append(f"| {', '.join(f'`{e}`' for e in errors)} | {interval} | {attempts} | {backoff} | "
                    f"{max_delay} | {jitter} | {', '.join(names)} |")
    rows += [
        "",
        "| Task | resource | timeout s | caught errors -> next state (ResultPath) |",
        "|---|---|---|---|",
    ]
    for name, state in all_states.items():
        if state.get("Type") != "Task":
            continue
        resource = state.get("Resource", "")
        resource = resource.replace("arn:aws:states:::", "").strip("${}")
        catches = "<br>".join(
            f"{', '.join(f'`{e}`' for e in c['ErrorEquals'])} -> {c['Next']} (`{c.get('ResultPath', '$')}`)"
            for c in state.get("Catch", [])
        )
        rows.append(f"| {name} | `{resource}` | {state.get('TimeoutSeconds')} | {catches} |")
    return "\n".join(rows)
