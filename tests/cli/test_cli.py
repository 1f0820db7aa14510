"""`makenaide` (cli/) against the long-running sandbox (`make sandbox`).

Runs `target/debug/makenaide` (built by `make build`) with the sandbox's
endpoint and dummy credentials, as an operator would against AWS, and checks
its exit codes and output: `run --follow`, `run --dry-run`, `history
--json`, `status`, `pause`/`resume`, `stop`, `why` on a failed run,
`savings`; an `--input` refused before anything starts, a run refused or
skipped while another holds the lease, a run started outside the live
alias; and the one-line errors for an unknown stack, an unknown execution,
missing credentials and an endpoint that does not answer.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from sandbox.serve import Endpoint, client_environment, started  # noqa: E402

# The tests share one sandbox per scenario and build on each other's runs (the
# history and the status read what `run --follow` left): under `pytest -n`
# they stay together, in this order, on one worker.
pytestmark = pytest.mark.xdist_group("cli-sandbox")

CLI = REPO / "target" / "debug" / "makenaide"
SCENARIOS = REPO / "tests" / "scenarios"


@pytest.fixture(scope="module")
def happy_sandbox() -> Iterator[Endpoint]:
    with started(scenario=SCENARIOS / "happy_path.json") as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def happy(happy_sandbox: Endpoint) -> dict[str, str]:
    return client_environment(happy_sandbox.endpoint)


@pytest.fixture(scope="module")
def machine(happy_sandbox: Endpoint) -> str:
    """The state machine's plain ARN (the stack's output StateMachineArn)."""
    return happy_sandbox.state_machine_arn


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


def one_text(text: str) -> str:
    """Wrapped output as one line of words."""
    return " ".join(text.split())


def names(env: dict[str, str]) -> list[str]:
    history = cli(env, "history", "--json", "--limit", "100")
    assert history.returncode == 0, history.stderr
    return [row["name"] for row in json.loads(history.stdout)]


def test_run_follow_shows_the_steps_and_ends_with_the_outcome(happy: dict[str, str]) -> None:
    done = cli(happy, "run", "--follow", "--name", "cli-run")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for expected in (
        "starting the DB (was stopped)",
        "DB available",
        "waiting for the agent",
        "job sent (command ",
        "job ended: Success",
        # What the stops did: accepted; the worker and the DB are stopping then.
        " stop accepted (was running)\n",
        "DB stop accepted (was available): stopping\n",
        "run lease released",
    ):
        assert expected in out, out
    assert "cli-run SUCCEEDED in " in out and "\n  cost $0.0" in out, out
    assert lines_fit(out), out


def test_an_input_the_workflow_would_refuse_starts_nothing(happy: dict[str, str], machine: str) -> None:
    before = names(happy)
    for args, field, says in (
        # The sandbox's stack output JobTimeoutMaxSeconds is 300.
        (["--input", '{"jobTimeoutSeconds": -5}'], "jobTimeoutSeconds", "must be a whole number of seconds from 60 to 300"),
        (["--input", '{"jobTimeoutSeconds": 301}', "--follow"], "jobTimeoutSeconds", "must be a whole number of seconds from 60 to 300"),
        (["--input", '{"dryRun": "yes"}', "--follow"], "dryRun", "must be true or false"),
        (["--input", '{"dryrun": true}'], "dryrun", "is not accepted; fields an operator may set: dryRun, jobTimeoutSeconds"),
        (["--input", '{"sweep": "scheduled"}'], "sweep", "is set only by the stack's own rules and sweeper"),
    ):
        done = cli(happy, "run", *args)
        assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and f"`{field}` {says}" in done.stderr, done.stderr
        assert done.stderr.startswith("error: --input refused, nothing started: execution input field "), done.stderr
        assert "cleanupAfter" not in done.stderr, done.stderr
    # Without the stack (no deployed bound): what no deployment would accept.
    no_stack = cli(happy, "--state-machine-arn", f"{machine}:live", "run", "--input", '{"jobTimeoutSeconds": 172801}')
    assert no_stack.returncode == 2 and "JOB_TIMEOUT_MAX_SECONDS (at most 172800)" in no_stack.stderr, no_stack.stderr
    assert names(happy) == before


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
    assert table.returncode == 0 and "cli-run" in table.stdout, table.stdout
    # Whole names (the dry run's is a 36-character UUID): `why` takes what history printed.
    dry_name = next(r["name"] for r in rows.values() if r["kind"] == "dryRun")
    printed = [line.split()[-1] for line in table.stdout.splitlines()[1:]]
    assert dry_name in printed and len(dry_name) == 36, table.stdout
    assert all(len(line[:80]) <= 100 for line in table.stdout.splitlines())
    why = cli(happy, "why", dry_name)
    assert why.returncode == 0 and f"{dry_name} SUCCEEDED" in why.stdout, why.stdout + why.stderr
    zero = cli(happy, "history", "--limit", "0")
    assert zero.returncode == 2 and "--limit" in zero.stderr and zero.stdout == "", zero.stdout + zero.stderr


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


def test_stop_follows_the_cleanup(happy: dict[str, str], machine: str) -> None:
    nothing = cli(happy, "stop")
    assert nothing.returncode == 0 and "nothing to stop: no run is running" in nothing.stdout, nothing.stdout + nothing.stderr
    started_run = cli(happy, "run", "--name", "cli-stop")
    assert started_run.returncode == 0, started_run.stderr
    # Without --follow, `run` waits for the lease decision and says it.
    assert "cli-stop: run lease taken, the run is going" in started_run.stdout, started_run.stdout
    before = names(happy)
    # Another run while cli-stop holds the lease: not started (exit 3, as a skip).
    refused = cli(happy, "run")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert one_text(refused.stdout).startswith("not started: cli-stop holds the run lease (running since "), refused.stdout
    assert names(happy) == before
    # On the plain state machine ARN (no stack, so no lease check before the
    # start): a warning, and the run's own lease decision, a skip, is reported.
    plain = cli(happy, "--state-machine-arn", machine, "run", "--name", "cli-plain")
    assert plain.returncode == 3, plain.stdout + plain.stderr
    assert "cli-plain skipped (RunInProgress): the run lease is held by cli-stop; nothing was touched" in one_text(plain.stdout), plain.stdout
    warning = "warning: cli-plain was started on the state machine itself (its latest definition), not on the live alias"
    assert plain.stderr.startswith(warning) and plain.stderr.count("\n") == 1, plain.stderr
    followed = cli(happy, "follow", "cli-plain")
    assert followed.returncode == 3 and followed.stderr.startswith(warning), followed.stdout + followed.stderr
    time.sleep(3)  # the run has started its DB and worker by then
    # The kill switch without a name stops the one run running.
    stopped = cli(happy, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    out = stopped.stdout
    assert "the one run running: cli-stop" in out and "stopped cli-stop" in out and "the ended run is ABORTED" in out, out
    assert "left running by the cleanup: nothing" in out and "everything the run started is stopped" in one_text(out), out
    follow = cli(happy, "follow", "cli-stop")
    assert follow.returncode == 1 and "cli-stop ABORTED" in follow.stdout, follow.stdout
    # The cleanup run says which run it cleaned, in history and in status, as ended only.
    rows = json.loads(cli(happy, "history", "--json").stdout)
    cleanup = next(r for r in rows if r["kind"] == "cleanupRun")
    assert cleanup["cleanupAfter"].endswith(":cli-stop"), cleanup
    table = cli(happy, "history").stdout
    assert f"  {cleanup['name']} (cleanup of cli-stop)" in table, table
    status = one_text(cli(happy, "status").stdout)
    assert f"latest: {cleanup['name']} (cleanup run of cli-stop) SUCCEEDED at " in status, status
    assert "latest run: cli-stop ABORTED at " in status and "running: none" in status, status


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
    # Savings count from the first priced run, to now; no negative zero.
    savings = cli(failing, "savings")
    assert savings.returncode == 0, savings.stderr
    assert " (first priced run) to " in savings.stdout and " (now): " in savings.stdout, savings.stdout
    assert "\n  1 priced run(s) cost $0.00" in savings.stdout, savings.stdout
    year, month = time.gmtime().tm_year, time.gmtime().tm_mon
    previous = f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    empty = cli(failing, "savings", "--month", previous)
    assert empty.returncode == 0 and empty.stdout.startswith(f"{previous}: saved $0.0000: no priced run"), empty.stdout
    assert "$-" not in empty.stdout + savings.stdout, empty.stdout


def test_user_errors_are_one_line_and_exit_4(happy: dict[str, str]) -> None:
    for args, message in (
        (["--stack", "NoSuchStack", "status"], "stack NoSuchStack not found"),
        (["why", "no-such-run"], "no execution arn:aws:states:"),
    ):
        done = cli(happy, *args)
        assert done.returncode == 4, done.stderr
        assert done.stderr.startswith(f"error: {message}") and "panicked" not in done.stderr, done.stderr
    no_creds = {k: v for k, v in happy.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    # No credentials anywhere; then an instance metadata endpoint that does not answer.
    imds_down = {k: v for k, v in no_creds.items() if k != "AWS_EC2_METADATA_DISABLED"} | {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{closed}"}
    for env in (no_creds, imds_down):
        done = subprocess.run([str(CLI), "status"], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 4 and done.stderr.startswith("error: no AWS credentials found"), done.stderr
        assert done.stderr.count("\n") == 1 and len(done.stderr) < 300, done.stderr
    # An endpoint that does not answer: named, one line.
    wrong = cli(dict(happy, AWS_ENDPOINT_URL=f"http://127.0.0.1:{closed}"), "status")
    assert wrong.returncode == 4 and wrong.stderr == f"error: could not reach http://127.0.0.1:{closed}: connection refused\n", wrong.stderr
    assert cli(happy, "run", "--input", "[").returncode == 2
