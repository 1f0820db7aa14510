"""The definition passes `asl-validator` (npm, pinned in tests/asl/package.json).

`make asl-check` installs it with `npm ci --prefix tests/asl` first. A missing
install is a failure here, not a skip.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from asl_harness import ASL_VALIDATOR, DEFINITION_PATH, HERE

S = "States"


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    assert ASL_VALIDATOR.exists(), "asl-validator is not installed: run `make asl-check` (npm ci --prefix tests/asl)"
    return subprocess.run([str(ASL_VALIDATOR), "--json-path", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_validator_is_the_pinned_version() -> None:
    package = json.loads((HERE / "package.json").read_text())
    lock = json.loads((HERE / "package-lock.json").read_text())
    pinned = package["devDependencies"]["asl-validator"]
    assert pinned[0].isdigit(), f"pin asl-validator exactly, not {pinned!r}"
    assert lock["packages"]["node_modules/asl-validator"]["version"] == pinned
    installed = json.loads((HERE / "node_modules" / "asl-validator" / "package.json").read_text())
    assert installed["version"] == pinned, "node_modules is stale: run `make asl-check`"


def test_rendered_definition_is_valid(definition: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "workflow.rendered.asl.json"
    path.write_text(json.dumps(definition, indent=2))
    result = validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout


def test_raw_definition_with_placeholders_is_valid() -> None:
    # What the CDK app hands to CloudFormation before DefinitionSubstitutions.
    result = validate(DEFINITION_PATH)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "mutation, expected",
    [
        (lambda d: d[S]["Launch job"].update(Next="Launch the job"), "MISSING_TRANSITION_TARGET"),
        (lambda d: d[S]["Check job"].update(Resource="poll_ec2_state"), "Resource"),
        (lambda d: d[S]["Wait for job"].update(SecondsPath="poll.retryAfterSeconds"), "SecondsPath"),
        (lambda d: d[S]["Done"].update(Next="Init"), "Done"),
        (lambda d: d[S]["Check database"]["Retry"][0].update(MaxAttempts="four"), "MaxAttempts"),
    ],
    ids=["next-nowhere", "resource-not-an-arn", "seconds-path-not-a-path", "succeed-with-next", "max-attempts-string"],
)
def test_validator_rejects_a_broken_copy(definition: dict[str, Any], tmp_path: Path, mutation, expected: str) -> None:
    mutation(definition)
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(definition))
    result = validate(path)
    assert result.returncode != 0, result.stdout
    assert expected in result.stdout + result.stderr
