"""Structural rules for `statemachine/workflow.asl.json`, in pure Python.

Each `check_*` function takes a definition (a dict, or the raw text for the
placeholder rule) and returns a list of problems, empty when the rule holds.
The tests run every rule on the real definition and on deliberately broken
copies, so every rule is shown to be able to fail.

The module also renders the Mermaid diagram and the retry/catch table that
statemachine/README.md carries, so a test can prove the page matches the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

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
WORKER_IDS_PLACEHOLDER = "WorkerInstanceIds"
WORKER_IDS_EXPRESSION = "States.StringSplit('${WorkerInstanceIds}', ',')"

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
    "AwsRequestFailed",
}
# Errors the first step may send straight to the final Fail: nothing touched yet.
NOTHING_TOUCHED_ERRORS = {"InvalidInput", "ConfigError"}
# Wildcards that would match a fatal (custom) error name.
WILDCARDS = {"States.ALL", "States.TaskFailed"}

# Fields that exist only with QueryLanguage JSONata, or variables; the local
# engine (moto's port of the LocalStack interpreter) must not see them.
JSONATA_ONLY_FIELDS = {"QueryLanguage", "Assign", "Arguments", "Output"}

RETRIER_FIELDS = ("IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy")

ORIGINAL_ERROR_PATH = "$.error.Error"
ORIGINAL_CAUSE_PATH = "$.error.Cause"
ERROR_RESULT_PATH = "$.error"
CLEANUP_ERRORS_PREFIX = "$.cleanupErrors."
MAX_STATE_NAME = 80

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


def successors(definition: dict[str, Any], name: str, *, catches: bool = True) -> list[str]:
    return [target for _, target in transitions(states(definition)[name], catches=catches)]


def reachable(definition: dict[str, Any], start: str, *, catches: bool = True,
              blocked: Iterable[str] = ()) -> set[str]:
    """States reachable from `start` (included) without entering `blocked`."""
    blocked = set(blocked)
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name in blocked or name not in states(definition):
            continue
        seen.add(name)
        todo.extend(successors(definition, name, catches=catches))
    return seen


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


def is_lambda_task(state: dict[str, Any]) -> bool:
    resource = state.get("Resource", "")
    return state.get("Type") == "Task" and (
        resource.startswith("arn:aws:lambda:") or resource.startswith("${")
    )


def happy_states(definition: dict[str, Any]) -> set[str]:
    """States on the normal flow: reachable from StartAt without a Catch."""
    return reachable(definition, definition.get("StartAt", ""), catches=False)


def cleanup_entries(definition: dict[str, Any]) -> set[str]:
    """Targets of the catch-all catchers of the happy-path Tasks."""
    entries = set()
    for name in happy_states(definition):
        for catcher in states(definition)[name].get("Catch", []):
            if catcher.get("ErrorEquals") == ["States.ALL"]:
                entries.add(catcher.get("Next"))
    return entries


def cleanup_states(definition: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for entry in cleanup_entries(definition):
        found |= reachable(definition, entry)
    return found


# --- the rules -----------------------------------------------------------------


def check_placeholders(raw_text: str) -> list[str]:
    """The raw file is JSON and uses exactly the documented placeholders, each where it belongs."""
    problems: list[str] = []
    try:
        raw = json.loads(raw_text)
    except json.JSONDecodeError as err:
        return [f"the raw file is not valid JSON: {err}"]
    found = set(_PLACEHOLDER.findall(raw_text))
    expected = FUNCTION_PLACEHOLDERS | {WORKER_IDS_PLACEHOLDER}
    for key in sorted(found - expected):
        problems.append(f"unknown placeholder ${{{key}}}")
    for key in sorted(expected - found):
        problems.append(f"placeholder ${{{key}}} is never used")
    for path, key, value in walk(raw):
        if not isinstance(value, str) or "${" not in value:
            continue
        keys = _PLACEHOLDER.findall(value)
        if key == "Resource" and len(keys) == 1 and value == f"${{{keys[0]}}}" and keys[0] in FUNCTION_PLACEHOLDERS:
            continue
        if key.endswith(".$") and value == WORKER_IDS_EXPRESSION:
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
    """Every Task retries, has a timeout, no heartbeat, and a Catch."""
    problems = []
    for name, state in states(definition).items():
        if state.get("Type") != "Task":
            continue
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
    """Every retrier is fully specified with FULL jitter; the normal flow never retries a fatal error."""
    problems = []
    happy = happy_states(definition)
    for name, state in states(definition).items():
        retry = state.get("Retry", [])
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
            if name in happy:
                for bad in sorted(set(names) & (FATAL_ERRORS | WILDCARDS)):
                    problems.append(f"{where}: the normal flow must not retry {bad}")
            elif "States.ALL" in names:
                problems.append(f"{where}: cleanup retries named errors, not States.ALL")
    return problems


def check_catches(definition: dict[str, Any]) -> list[str]:
    """Failures after the first check reach cleanup, and cleanup always goes on."""
    problems = []
    all_states = states(definition)
    happy = happy_states(definition)
    cleanup = cleanup_states(definition)
    entries = cleanup_entries(definition)
    first_task = next((n for n in _happy_order(definition) if all_states[n].get("Type") == "Task"), None)
    if len(entries) != 1:
        problems.append(f"expected one cleanup entry, found {sorted(entries)}")
    for name in sorted(happy & cleanup):
        problems.append(f"{name!r} is both on the normal flow and in cleanup")
    for name, state in all_states.items():
        if state.get("Type") != "Task":
            continue
        catchers = state.get("Catch", [])
        for index, catcher in enumerate(catchers):
            if catcher.get("ResultPath", "$") in ("$", None):
                problems.append(f"{name!r} Catch[{index}]: ResultPath must keep the document (not $ or null)")
        if name in happy:
            last = catchers[-1] if catchers else {}
            if last.get("ErrorEquals") != ["States.ALL"] or last.get("Next") not in entries:
                problems.append(f"{name!r}: the last Catch must send States.ALL to cleanup")
            if last.get("ResultPath") != ERROR_RESULT_PATH:
                problems.append(f"{name!r}: the cleanup Catch must write {ERROR_RESULT_PATH}")
            for index, catcher in enumerate(catchers[:-1]):
                target = all_states.get(catcher.get("Next"), {})
                names = set(catcher.get("ErrorEquals", []))
                if name != first_task or not names <= NOTHING_TOUCHED_ERRORS or target.get("Type") != "Fail":
                    problems.append(
                        f"{name!r} Catch[{index}]: only the first Task may skip cleanup, "
                        f"for {sorted(NOTHING_TOUCHED_ERRORS)}, straight to a Fail")
                if catcher.get("ResultPath") != ERROR_RESULT_PATH:
                    problems.append(f"{name!r} Catch[{index}]: must write {ERROR_RESULT_PATH}")
        elif name in cleanup:
            paths = [c.get("ResultPath", "") for c in catchers]
            if [c.get("ErrorEquals") for c in catchers] != [["States.ALL"]]:
                problems.append(f"{name!r}: a cleanup Task catches States.ALL, once")
            for catcher in catchers:
                if catcher.get("Next") != state.get("Next"):
                    problems.append(f"{name!r}: a failed cleanup step must go on to {state.get('Next')!r}")
            for path in paths:
                if not path.startswith(CLEANUP_ERRORS_PREFIX):
                    problems.append(f"{name!r}: cleanup errors go under {CLEANUP_ERRORS_PREFIX}, not {path!r}")
    seen: dict[str, str] = {}
    for name in sorted(cleanup):
        for catcher in all_states[name].get("Catch", []):
            path = catcher.get("ResultPath", "")
            if path in seen:
                problems.append(f"{name!r} and {seen[path]!r} both write {path}")
            seen[path] = name
    return problems


def check_loops(definition: dict[str, Any]) -> list[str]:
    """Every cycle runs a Lambda whose failure is caught and a Choice that can leave the cycle."""
    problems = []
    all_states = states(definition)
    component = strongly_connected(definition)

    def guard_task(name: str) -> bool:
        state = all_states[name]
        return is_lambda_task(state) and any(
            c.get("Next") not in component[name] for c in state.get("Catch", [])
        )

    def guard_choice(name: str) -> bool:
        state = all_states[name]
        return state.get("Type") == "Choice" and any(
            target not in component[name] for _, target in transitions(state)
        )

    for what, guard in (("a Lambda Task whose Catch leaves the loop", guard_task),
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
    """A Fail reports the original error: ErrorPath/CausePath, never a fixed Error."""
    problems = []
    all_states = states(definition)
    predecessors: dict[str, set[str]] = {name: set() for name in all_states}
    for name in all_states:
        for target in successors(definition, name):
            predecessors.setdefault(target, set()).add(name)
    for name, state in all_states.items():
        if state.get("Type") != "Fail":
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
    """$.workers is written before any step that can start or stop EC2 on the normal flow."""
    all_states = states(definition)
    writers = {n for n, s in all_states.items() if s.get("ResultPath") == "$.workers"}
    ec2_touching = {
        n for n, s in all_states.items()
        if s.get("Type") == "Task"
        and (s.get("Resource") in ("${Ec2StartFunctionArn}",) or ":function:ec2_start" in s.get("Resource", "")
             or ":ec2:" in s.get("Resource", ""))
    }
    if not writers:
        return ["no state writes $.workers"]
    early = reachable(definition, definition.get("StartAt", ""), catches=False, blocked=writers)
    return [f"{n!r} can run before $.workers is written" for n in sorted(ec2_touching & early)]


ALL_CHECKS = (
    check_jsonpath_only,
    check_graph,
    check_tasks,
    check_retriers,
    check_catches,
    check_loops,
    check_fail_states,
    check_workers_marked_first,
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


def _happy_order(definition: dict[str, Any]) -> list[str]:
    """States in document order, normal flow first."""
    return [n for n in states(definition) if n in happy_states(definition)]


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
