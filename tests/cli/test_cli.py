"""`makenaide` (cli/) against the long-running sandbox (`make sandbox`).

Runs `target/debug/makenaide` (built by `make build`) with the sandbox's
endpoint and dummy credentials, as an operator would against AWS, and checks
its exit codes and output: `run --follow`, `run --dry-run`, `history
--json`, `status`, `pause`/`resume`, `stop`, `why` on a failed run, and the
errors for an unknown stack, an unknown execution and missing credentials.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from sandbox.serve import client_environment, started  # noqa: E402

# The tests share one sandbox per scenario and build on each other's runs (the
# history and the status read what `run --follow` left): under `pytest -n`
# they stay together, in this order, on one worker.
pytestmark = pytest.mark.xdist_group("cli-sandbox")

CLI = REPO / "target" / "debug" / "makenaide"
SCENARIOS = REPO / "tests" / "scenarios"


@pytest.fixture(scope="module")
def happy() -> Iterator[dict[str, str]]:
    with started(scenario=SCENARIOS / "happy_path.json") as endpoint:
        yield client_environment(endpoint.endpoint)


@pytest.fixture(scope="module")
def failing() -> Iterator[dict[str, str]]:
    with started(scenario=SCENARIOS / "job_fails_with_stderr.json") as endpoint:
        yield client_environment(endpoint.endpoint)


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    if not CLI.is_file():
        pytest.fail(f"{CLI} is missing: run `make build`")
    env = dict(env, AWS_ACCESS_KEY_ID="operator", AWS_SECRET_ACCESS_KEY="sandbox", MAKENAIDE_POLL_SECONDS="0.3")
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def lines_fit(text: str) -> bool:
    return all(len(line) <= 100 for line in text.splitlines())


def test_run_follow_shows_the_steps_and_ends_with_the_outcome(happy: dict[str, str]) -> None:
    done = cli(happy, "run", "--follow", "--name", "cli-run")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for expected in ("starting the DB (was stopped)", "DB available", "waiting for the agent", "job sent (command ", "job ended: Success", "DB stopped", "run lease released"):
        assert expected in out, out
    assert "cli-run SUCCEEDED in " in out and "\n  cost $0.0" in out, out
    assert lines_fit(out), out


def test_dry_run_and_history_json(happy: dict[str, str]) -> None:
    dry = cli(happy, "run", "--dry-run", "--follow")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "job not sent (dry run)" in dry.stdout and "(dry run)" in dry.stdout.splitlines()[-4], dry.stdout
    history = cli(happy, "history", "--json")
    assert history.returncode == 0, history.stderr
    rows = {row["name"]: row for row in json.loads(history.stdout)}
    run = rows["cli-run"]
    assert (run["kind"], run["status"], run["outcome"]) == ("run", "SUCCEEDED", "Succeeded")
    assert run["costUsd"] > 0 and run["jobSeconds"] > 0
    assert [r["kind"] for r in rows.values()].count("dryRun") >= 1
    table = cli(happy, "history")
    assert table.returncode == 0 and "cli-run" in table.stdout and lines_fit(table.stdout), table.stdout


def status_once_settled(env: dict[str, str], deadline_seconds: float = 20) -> subprocess.CompletedProcess[str]:
    """`makenaide status` once nothing is `stopping` any more.

    A run's Succeeded comes as soon as its stop requests are accepted: the DB
    and the worker stay `stopping` for a while after it (a second in the
    sandbox, minutes in AWS), and `status` reports them as it finds them.
    """
    give_up = time.monotonic() + deadline_seconds
    while True:
        status = cli(env, "status")
        if status.returncode != 0 or " stopping" not in status.stdout or time.monotonic() > give_up:
            return status
        time.sleep(0.5)


def test_status_pause_and_resume(happy: dict[str, str]) -> None:
    status = status_once_settled(happy)
    assert status.returncode == 0, status.stderr
    assert "lease: free" in status.stdout and "ENABLED" in status.stdout, status.stdout
    assert "now: DB makenaide-db stopped; worker i-" in status.stdout, status.stdout
    paused = cli(happy, "pause")
    assert paused.returncode == 0 and "DISABLED" in paused.stdout, paused.stdout + paused.stderr
    assert "DISABLED (paused)" in cli(happy, "status").stdout
    resumed = cli(happy, "resume")
    assert resumed.returncode == 0 and "ENABLED" in resumed.stdout, resumed.stdout + resumed.stderr
    assert "next run: " in resumed.stdout and " KST (" in resumed.stdout, resumed.stdout


def test_stop_follows_the_cleanup(happy: dict[str, str]) -> None:
    started_run = cli(happy, "run", "--name", "cli-stop")
    assert started_run.returncode == 0, started_run.stderr
    time.sleep(5)  # the run has started its DB and worker by then
    stopped = cli(happy, "stop", "cli-stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    out = stopped.stdout
    assert "stopped cli-stop" in out and "the ended run is ABORTED" in out, out
    assert "left running by the cleanup: nothing" in out and "everything the run started is stopped" in out, out
    follow = cli(happy, "follow", "cli-stop")
    assert follow.returncode == 1 and "cli-stop ABORTED" in follow.stdout, follow.stdout


def test_why_a_run_failed(failing: dict[str, str]) -> None:
    run = cli(failing, "run", "--follow", "--name", "cli-fails")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "error JobFailed: the job failed on i-" in run.stdout, run.stdout
    why = cli(failing, "why", "cli-fails")
    assert why.returncode == 0, why.stderr
    out = why.stdout
    assert "  error: JobFailed" in out and "meaning: the batch job's command finished unsuccessfully" in out, out
    assert 'ERROR: relation "prices" does not exist' in out and "PGPASSWORD=***" in out, out
    assert "left running by the cleanup: nothing" in out, out
    assert lines_fit(out), out


def test_user_errors_are_one_line_and_exit_4(happy: dict[str, str]) -> None:
    for args, message in (
        (["--stack", "NoSuchStack", "status"], "stack NoSuchStack not found"),
        (["why", "no-such-run"], "no execution arn:aws:states:"),
    ):
        done = cli(happy, *args)
        assert done.returncode == 4, done.stderr
        assert done.stderr.startswith(f"error: {message}") and "panicked" not in done.stderr, done.stderr
    no_creds = dict(happy)
    done = subprocess.run([str(CLI), "status"], env={k: v for k, v in no_creds.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 4 and done.stderr.startswith("error: no AWS credentials found"), done.stderr
    assert cli(happy, "run", "--input", "[").returncode == 2
