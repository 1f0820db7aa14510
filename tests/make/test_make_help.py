"""`make help` and `make install-cli`, run as a user runs them.

`make help` is generated from the Makefile's comments (`target: ## text` for
users, `### text` for contributors, `## NAME=VALUE (targets): text` for the
variables): every commented target and every variable the Makefile takes from
the command line or the environment is listed, in its section, within 100
columns. `make install-cli` runs with a stand-in cargo (no build).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = (REPO / "Makefile").read_text(encoding="utf-8")
WIDTH = 100
USERS = "Try it, deploy it, run it:"
CONTRIBUTORS = "Working on makenaide-orchestrator (make test runs the checks):"
TARGET = re.compile(r"^([a-z0-9-]+):[^=#\n]*(###?) ", re.M)
VARIABLE = re.compile(r"^(###?) ([A-Z_]+)=\S+ \(([^)]*)\): ", re.M)
# Read by the Makefile, never set by a user: make's own, and the environment's
# standard variables INSTALL_ROOT's default is made of (its help line names them).
NOT_USER_VARIABLES = {"MAKE", "MAKEFILE_LIST", "SHELL", "HOME", "CARGO_HOME", "CARGO_INSTALL_ROOT"}


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`make -s ARGS` in the repository, outside any make that runs this test (no MAKEFLAGS)."""
    base = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    for name in ("INSTALL_ROOT", "CARGO_INSTALL_ROOT", "CARGO_HOME", "CARGO"):
        base.pop(name, None)
    return subprocess.run(
        ["make", "-s", "--no-print-directory", "-C", str(REPO), *args],
        env={**base, **(env or {})}, capture_output=True, text=True, check=False,
    )


@pytest.fixture(scope="module")
def help_text() -> str:
    result = make("help")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def sections(text: str) -> dict[str, list[str]]:
    """The help's lines by section title (the lines ending with ':' at column 0)."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line and not line.startswith(" "):
            current = line
            found[current] = []
        elif line:
            found[current].append(line)
    return found


def entries(lines: list[str]) -> dict[str, str]:
    """Each entry's name (a target, or NAME=VALUE) and its text, its wrapped lines joined."""
    found: dict[str, str] = {}
    name = ""
    for line in lines:
        if line.startswith("   "):
            found[name] += " " + line.strip()
        else:
            name, _, text = line.strip().partition(" ")
            found[name] = text.strip()
    return found


def test_help_is_the_default_goal() -> None:
    assert make().stdout == make("help").stdout


def test_no_line_is_wider_than_100_columns(help_text: str) -> None:
    wide = [line for line in help_text.splitlines() if len(line) > WIDTH]
    assert not wide, f"make help lines over {WIDTH} columns: {wide}"


def test_every_commented_target_is_listed_in_its_section(help_text: str) -> None:
    found = sections(help_text)
    users = [name for name, marker in TARGET.findall(MAKEFILE) if marker == "##"]
    contributors = [name for name, marker in TARGET.findall(MAKEFILE) if marker == "###"]
    for name in ("help", "demo", "sandbox", "install-cli", "synth", "package", "deploy", "test"):
        assert name in users, f"{name} is a users' target (## in the Makefile)"
    for name in ("lint", "e2e", "asl-check", "prices-check", "cdk-test", "artifact-check"):
        assert name in contributors, f"{name} is a contributors' target (### in the Makefile)"
    assert list(entries(found[USERS])) == users
    assert list(entries(found[CONTRIBUTORS])) == contributors
    assert list(found).index(USERS) < list(found).index(CONTRIBUTORS)
    # The description column is the same for every line, wrapped ones too: long names do not push it.
    columns = {len(re.match(r"  \S* +", line).group(0)) for lines in found.values() for line in lines}
    assert len(columns) == 1, columns


def test_every_variable_the_makefile_reads_is_listed_with_its_targets(help_text: str) -> None:
    read = set(re.findall(r"(?<!\$)\$\(([A-Z_][A-Z0-9_]*)\)", MAKEFILE))
    assigned = set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*:?=", MAKEFILE, re.M))  # `?=` takes the user's value: not here
    documented = {name: [t.strip() for t in targets.split(",")] for _, name, targets in VARIABLE.findall(MAKEFILE)}
    expected = read - assigned - NOT_USER_VARIABLES
    assert {"SCENARIO", "SANDBOX_PORT", "CDK_ARGS", "ARCH", "JOBS", "REGION", "INSTALL_ROOT", "CARGO"} <= expected
    assert expected == set(documented), "document each variable with a `## NAME=VALUE (targets): text` line"
    targets = {name for name, _ in TARGET.findall(MAKEFILE)}
    listed = {k: v for lines in sections(help_text).values() for k, v in entries(lines).items()}
    for name, its_targets in documented.items():
        assert set(its_targets) <= targets, f"{name}: unknown targets {set(its_targets) - targets}"
        assert any(k.startswith(f"{name}=") for k in listed), f"{name} is not in make help"
        for target in its_targets:
            variables = listed[target].rpartition(". Variables: ")[2].split(", ")
            assert name in variables, f"make help: {target} does not name {name}: {listed[target]!r}"


# ---------------------------------------------------------------- make install-cli

FAKE_CARGO = """#!/bin/sh
# cargo install ... --root DIR: record the arguments, put a makenaide into DIR/bin.
echo "$@" > "$(dirname "$0")/args"
while [ $# -gt 1 ]; do [ "$1" = --root ] && root="$2"; shift; done
mkdir -p "$root/bin" && printf '#!/bin/sh\\necho makenaide\\n' > "$root/bin/makenaide" && chmod +x "$root/bin/makenaide"
"""


@pytest.fixture
def cargo(tmp_path: Path) -> Path:
    fake = tmp_path / "tools" / "cargo"
    fake.parent.mkdir()
    fake.write_text(FAKE_CARGO, encoding="utf-8")
    fake.chmod(0o755)
    return fake


def install(cargo: Path, root: Path, path: str) -> list[str]:
    result = make("install-cli", f"CARGO={cargo}", f"INSTALL_ROOT={root}", env={"PATH": path})
    assert result.returncode == 0, result.stderr
    assert (cargo.parent / "args").read_text().split() == ["install", "--locked", "--path", "cli", "--root", str(root)]
    return result.stdout.splitlines()


def test_install_cli_says_when_its_directory_is_not_on_path(cargo: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    lines = install(cargo, root, "/usr/bin:/bin")
    assert lines[-3:] == [
        f"install-cli: installed {root}/bin/makenaide",
        f"install-cli: {root}/bin is NOT on your PATH: add it, e.g. add this line to ~/.bashrc or ~/.profile:",
        f'  export PATH="{root}/bin:$PATH"',
    ]


def test_install_cli_on_path(cargo: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    lines = install(cargo, root, f"{root}/bin:/usr/bin:/bin")
    assert lines[-1] == f"install-cli: {root}/bin is on your PATH: try makenaide --help"


def test_install_cli_names_another_makenaide_first_on_path(cargo: Path, tmp_path: Path) -> None:
    root, other = tmp_path / "root", tmp_path / "other"
    other.mkdir()
    (other / "makenaide").write_text("#!/bin/sh\n", encoding="utf-8")
    (other / "makenaide").chmod(0o755)
    lines = install(cargo, root, f"{other}:{root}/bin:/usr/bin:/bin")
    assert lines[-1] == f"install-cli: {root}/bin is on your PATH, but another makenaide comes first: {other}/makenaide"


@pytest.mark.parametrize(
    ("env", "root"),
    [
        ({"HOME": "/home/op"}, "/home/op/.cargo"),
        ({"HOME": "/home/op", "CARGO_HOME": "/opt/cargo"}, "/opt/cargo"),
        ({"HOME": "/home/op", "CARGO_HOME": "/opt/cargo", "CARGO_INSTALL_ROOT": "/usr/local"}, "/usr/local"),
    ],
)
def test_install_cli_installs_where_cargo_would(env: dict[str, str], root: str) -> None:
    result = make("-n", "install-cli", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f'cargo install --locked --path cli --root "{root}"'
