"""`make demo`: one run of the workflow in the local sandbox, watched with the operators' CLI.

    .venv/bin/python tests/run_demo.py [--scenario tests/scenarios/happy_path.json]

Starts the sandbox (`make sandbox`) on a free loopback port, runs
`makenaide run --follow` against it (the live view: each step as it happens,
then the outcome, durations and cost) with the scenario's execution `input`
and `executionName` (default `demo-<scenario>`), then `makenaide status`
(what is left running: nothing), and stops the sandbox.

Then it says whether the run ended as the scenario expects (`expect.status`,
and `expect.error` when the scenario names one) and exits accordingly:

- 0 when it did, a failure included: a scenario such as
  job_fails_with_stderr.json is MEANT to fail, so its FAILED run is the demo
  working (the CLI itself exits 1 for it, its code for a failed run; the demo
  says so);
- the CLI's exit code (1 if the CLI said 0) when the run ended otherwise;
- 0 when the scenario expects `InvalidInput` and the CLI refused the input
  before starting anything (it checks the input as the workflow does);
- the CLI's exit code when the scenario's expectation cannot be held against
  this run: the scenario needs what only the scenario runner acts out
  (`abortAfterSeconds`, `concurrent`, `externalStop`, ...; the demo says
  which, and how to run the scenario whole), or the CLI could not start or
  follow the run (exit 2 or 4);
- 2 when the demo could not run (a malformed scenario, no CLI binary).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from sandbox import deployment, run_and_exit  # noqa: E402
from sandbox.scenario import Scenario, ScenarioError, load  # noqa: E402
from sandbox.serve import DEFAULT_SCENARIO, client_environment, started  # noqa: E402

CLI = REPO / "target" / "debug" / "makenaide"
# The CLI's exit codes the demo tells apart (cli/src/error.rs, `exit`).
CLI_USAGE = 2
CLI_FAILED = 4


def runner_only_keys(scenario: Scenario) -> list[str]:
    """The scenario's keys that only `tests/run_scenario.py` acts out: `make demo` (the sandbox and one
    `makenaide run`) does not, so the scenario's expectation may not hold for the demo's run."""
    keys = [
        ("abortAfterSeconds", scenario.abort_after is not None),
        ("concurrent", bool(scenario.concurrent)),
        ("externalStop", bool(scenario.external_stops)),
        ("rdsAutoStartAfterSeconds", scenario.rds_auto_start_after is not None),
        ("rdsBusyAfterSeconds", scenario.rds_busy_after is not None),
        ("ec2.instances[].terminateAfterSeconds", any(i.terminate_after is not None for i in scenario.instances)),
        ("input that is not a JSON object", not isinstance(scenario.execution_input, dict)),
    ]
    return [key for key, used in keys if used]


def outcome(status: str | None, error: str | None) -> str:
    """`FAILED JobFailed`, `SUCCEEDED`, or what is known."""
    if status is None:
        return "no execution"
    return f"{status} {error}" if error else status


@dataclass(frozen=True)
class Verdict:
    lines: list[str]
    exit_code: int


def verdict(
    expect: dict[str, object],
    runner_only: list[str],
    cli_code: int,
    status: str | None,
    error: str | None,
    scenario_file: str,
) -> Verdict:
    """What the demo says once the run is over, and its exit code (the module's docstring)."""
    expected = outcome(str(expect["status"]), str(expect["error"]) if expect.get("error") else None)
    got = outcome(status, error)
    if cli_code == CLI_USAGE and status is None and expect.get("error") == "InvalidInput":
        # The CLI checks --input as the workflow does: it refused what the workflow would have failed
        # with InvalidInput, before anything started. That refusal is what such a scenario shows.
        return Verdict(
            [
                f"demo: this scenario's input is meant to be refused: the workflow would end {expected}; "
                "makenaide run refused it before starting anything (its error above).",
                f"demo: that refusal is the point of this scenario, so make demo exits 0 (makenaide run itself exited {cli_code}).",
            ],
            0,
        )
    if cli_code in (CLI_USAGE, CLI_FAILED) or status is None:
        return Verdict([f"demo: the makenaide CLI could not start or follow the run (exit {cli_code}): see its error above"], cli_code or 1)
    if runner_only:
        return Verdict(
            [
                f"demo: the run ended {got}; this scenario expects {expected}, but also needs what only the scenario runner "
                f"acts out ({', '.join(runner_only)}), which make demo does not: its expectation does not apply here.",
                f"demo: to run the scenario whole, with its checks: .venv/bin/python tests/run_scenario.py {scenario_file} --live",
            ],
            cli_code,
        )
    matched = status == expect["status"] and (not expect.get("error") or error == expect["error"])
    if not matched:
        return Verdict(
            [
                f"demo: the run did NOT end as this scenario expects: expected {expected}, got {got}.",
                f"demo: check it whole: .venv/bin/python tests/run_scenario.py {scenario_file} --live",
            ],
            cli_code or 1,
        )
    if status == "SUCCEEDED":
        return Verdict([f"demo: the run ended as this scenario expects: {got}."], 0)
    return Verdict(
        [
            f"demo: this scenario's run is meant to fail: expected {expected}, got {got}.",
            f"demo: that failure is the point of this scenario, so make demo exits 0 (makenaide run itself exited {cli_code}, "
            f"as it does for any run that ends {status}).",
        ],
        0,
    )


def described(endpoint: str, state_machine_arn: str, name: str) -> tuple[str | None, str | None]:
    """The status and error of the demo's execution, as the sandbox's Step Functions has them; (None, None) if none."""
    port = urlparse(endpoint).port
    assert port is not None, endpoint
    arn = state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    try:
        execution = deployment.client("stepfunctions", port).describe_execution(executionArn=arn)
    except Exception as exc:  # noqa: BLE001 - the CLI failed to start it, most likely: the verdict says so
        print(f"demo: could not read execution {name}: {exc}", file=sys.stderr)
        return None, None
    return execution["status"], execution.get("error")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", type=Path, default=Path(os.environ.get("SCENARIO") or DEFAULT_SCENARIO))
    parser.add_argument("--cli", type=Path, default=CLI, help="the makenaide binary (default: the debug build)")
    parser.add_argument("--bin-dir", type=Path, help="where the six function binaries are (default: the sandbox's, target/debug)")
    args = parser.parse_args()
    if not args.cli.is_file():
        print(f"demo: {args.cli} is missing: run `make build`", file=sys.stderr)
        return 2
    shown = args.scenario.relative_to(REPO) if args.scenario.is_absolute() and args.scenario.is_relative_to(REPO) else args.scenario
    try:
        scenario = load(args.scenario)
    except (OSError, ValueError) as exc:  # ScenarioError is a ValueError, as is a JSON syntax error
        kind = "is not a valid scenario" if isinstance(exc, ScenarioError) else "cannot be read"
        print(f"demo: {shown} {kind}: {exc}", file=sys.stderr)
        return 2
    name = scenario.execution_name or f"demo-{scenario.name}"[:80]
    run_args = ["run", "--follow", "--name", name]
    if isinstance(scenario.execution_input, dict) and scenario.execution_input:
        run_args += ["--input", json.dumps(scenario.execution_input)]
    print(f"demo: starting the local sandbox with {shown}", flush=True)
    if runner_only_keys(scenario):
        print(f"demo: note: make demo does not act out this scenario's {', '.join(runner_only_keys(scenario))} "
              "(tests/run_scenario.py does)", flush=True)
    extra = ["--bin-dir", str(args.bin_dir.resolve())] if args.bin_dir else []
    with started(scenario=args.scenario.resolve(), extra_args=extra) as sandbox:
        env = client_environment(sandbox.endpoint)
        print(f"demo: sandbox ready at {sandbox.endpoint}; makenaide {' '.join(run_args)}\n", flush=True)
        run = subprocess.run([str(args.cli), *run_args], env=env, check=False)
        status, error = described(sandbox.endpoint, sandbox.state_machine_arn, name)
        print("\ndemo: makenaide status", flush=True)
        subprocess.run([str(args.cli), "status"], env=env, check=False)
        print("\ndemo: stopping the sandbox", flush=True)
    result = verdict(scenario.expect, runner_only_keys(scenario), run.returncode, status, error, str(shown))
    print("\n".join(result.lines), flush=True)
    return result.exit_code


if __name__ == "__main__":
    run_and_exit(main)
