"""The job's SSM Command document, as the sandbox registers it.

statemachine/job-document.json is the one declaration; the CDK app fills it the
same way (cdk/lib/jobdocument.ts) and creates it as AWS::SSM::Document. SSM
checks a SendCommand's `Parameters` against the document: only parameters the
document declares, each one value, matching its `allowedPattern`; a parameter
left out takes its `default` (the API Reference, SendCommand `InvalidParameters`:
"You can only supply values to parameters defined in the SSM document").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEMPLATE_FILE = Path(__file__).resolve().parents[2] / "statemachine" / "job-document.json"
PLACEHOLDER = re.compile(r"\$\{[^}]*\}")


class DocumentError(ValueError):
    """The template or its values are not a document the stack could create."""


def fill(template: dict[str, Any], commands: list[str], working_directory: str) -> dict[str, Any]:
    """The document for a deployment: `${JobCommands}` -> the command list,
    `${JobWorkingDirectory}` -> the directory; `$comment` dropped. Any other
    `${...}` is an error, as is a placeholder inside a longer string."""
    values: dict[str, Any] = {"${JobCommands}": list(commands), "${JobWorkingDirectory}": working_directory}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items() if key != "$comment"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, str) and PLACEHOLDER.search(node):
            if node not in values:
                raise DocumentError(f"job document: {node!r} is not a whole-value placeholder the deployment fills")
            return values[node]
        return node

    return dict(walk(template))


def load(commands: list[str], working_directory: str, path: Path = TEMPLATE_FILE) -> dict[str, Any]:
    return fill(json.loads(path.read_text()), commands, working_directory)


@dataclass
class Document:
    """A Command document of the account (schema 2.2)."""

    name: str
    content: dict[str, Any]

    @property
    def step_name(self) -> str:
        """The first step's name: the plugin id in invocation details and log stream names."""
        return str(self.content["mainSteps"][0]["name"])

    def parameters(self, given: dict[str, Any] | None) -> dict[str, list[str]] | str:
        """The parameters a command runs with (defaults filled in), or the
        InvalidParameters message SSM answers."""
        declared: dict[str, Any] = self.content.get("parameters", {})
        given = given or {}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            return f"Parameters {unknown} are not defined in the document {self.name}; you can only supply values to parameters defined in it"
        result: dict[str, list[str]] = {}
        for name, spec in declared.items():
            values = given.get(name)
            if values is None:
                if "default" not in spec:
                    return f"Parameter {name} is required by the document {self.name}"
                values = [str(spec["default"])]
            if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
                return f"Parameter {name} of type {spec.get('type', 'String')} takes one string value"
            pattern = spec.get("allowedPattern")
            if pattern is not None and not re.fullmatch(pattern, values[0]):
                return f"Parameter {name} value {values[0]!r} does not match the allowed pattern {pattern}"
            result[name] = list(values)
        return result
