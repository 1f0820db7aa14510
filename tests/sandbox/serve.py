"""`make sandbox`: the sandbox as a long-running local AWS endpoint.

    .venv/bin/python tests/run_sandbox.py [--port 4566] [--scenario tests/scenarios/happy_path.json]
        [--definition PATH] [--bin-dir target/debug] [--logs DIR]

Deploys what `run_scenario.py` deploys for a scenario (`deployment.py`: the
world of the scenario, the real definition with its version 1 and alias
`live`, the six function binaries behind the Lambda host, the run lease, the
alarm topic, the stack's rules), then waits: any AWS client starts and
watches executions with `AWS_ENDPOINT_URL=http://127.0.0.1:<port>` and dummy
credentials, as often as it likes. The scenario gives the starting world and
its timings, the job's behaviour and the faults (consumed as calls come, so
they hit the first runs); its runner-side keys (`input`, `executionName`,
`expect`, `concurrent`, `abortAfterSeconds`, `rdsAutoStartAfterSeconds`,
`rdsBusyAfterSeconds`, `externalStop`, `ec2.instances[].terminateAfterSeconds`,
`timeoutSeconds`) are not acted on here.

So that tools find everything as they do in AWS, the sandbox also registers
in moto the stack's CloudFormation stack (`STACK_NAME`) with the stack's
outputs (`StateMachineArn`, `LiveAliasArn`, `ScheduleName`, `AlarmTopicArn`,
`LeaseTableName`, `Revision`, `JobOutputLogGroupName`, `JobTimeoutMaxSeconds`)
holding the sandbox's values (the functions' own `JOB_TIMEOUT_MAX_SECONDS`), and the EventBridge Scheduler schedule the stack creates, ENABLED,
with the stack's default expression, targeting the alias (moto keeps it; it
never fires).

Standard output: the first line, once everything is ready, is
`sandbox: ready <endpoint> <state machine ARN>` (for tools: `SandboxProcess`
below reads it), then a banner with the commands to paste, then one line per
event of the stack's rules (an execution ended, the cleanup run it started).
Ctrl-C or SIGTERM stops the function processes and the server and exits 0.
Exit code 2: the sandbox could not start (a malformed scenario, a missing
binary, the port in use).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, NamedTuple

from . import definition, deployment, events
from .deployment import ACCOUNT, REGION, SANDBOX_CONFIG
from .scenario import ScenarioError, load

DEFAULT_PORT = 4566
DEFAULT_SCENARIO = definition.REPO_ROOT / "tests" / "scenarios" / "happy_path.json"
RUN_SCRIPT = definition.REPO_ROOT / "tests" / "run_sandbox.py"
READY = "sandbox: ready"
# The stack's name and its schedule as the CDK app deploys them with the
# example config (cdk/config.json: stackName, schedule). CloudFormation names
# the schedule `<stack>-Schedule<hash>-<suffix>`; the sandbox's name is fixed.
CDK_CONFIG = json.loads((definition.REPO_ROOT / "cdk" / "config.json").read_text())
STACK_NAME = CDK_CONFIG["stackName"]
SCHEDULE_NAME = f"{STACK_NAME}-Schedule"
SCHEDULE = CDK_CONFIG["schedule"]
# Executions the stack's rules may start over the sandbox's life (a bound on
# a loop of rules; the definition's own lease already stops cleanup loops).
MAX_EVENT_EXECUTIONS = 1000
# What an AWS client needs against the sandbox, besides AWS_ENDPOINT_URL.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}


def stack_outputs(deployed: deployment.Deployed, config: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """The outputs of the stack (cdk/lib/stack.ts) the sandbox has a value for, as CloudFormation lists them;
    `config`: the scenario's overrides of the functions' `SANDBOX_CONFIG`."""
    deployed_config = dict(SANDBOX_CONFIG) | dict(config or {})
    job_log_group = SANDBOX_CONFIG["JOB_LOG_GROUP"]
    outputs = [
        ("StateMachineArn", deployed.state_machine_arn, None),
        ("LiveAliasArn", deployed.alias_arn, "What to start: aws stepfunctions start-execution --state-machine-arn <this>"),
        ("Revision", deployed.revision, "The workflow revision of this deploy (metric dimension Revision)"),
        ("AlarmTopicArn", definition.alarm_topic_arn(REGION, ACCOUNT), None),
        ("ScheduleName", SCHEDULE_NAME, None),
        ("LeaseTableName", definition.LEASE_TABLE_NAME, "The run lease (makenaide status reads whether a run holds it)"),
        ("JobOutputLogGroupName", job_log_group, "The job's stdout and stderr (JOB_LOG_GROUP)"),
        (
            "JobTimeoutMaxSeconds",
            deployed_config["JOB_TIMEOUT_MAX_SECONDS"],
            "The largest jobTimeoutSeconds an execution input may ask for (JOB_TIMEOUT_MAX_SECONDS); makenaide run checks --input against it",
        ),
    ]
    return [{"OutputKey": k, "OutputValue": v} | ({"Description": d} if d else {}) for k, v, d in outputs]


def register_stack(port: int, deployed: deployment.Deployed, config: Mapping[str, str] | None = None) -> None:
    """The stack's CloudFormation stack (outputs only: the resources are the sandbox's) and its schedule."""
    template = {
        "Description": "makenaide-orchestrator in the local sandbox: the stack's outputs; the resources live in the sandbox's services",
        "Resources": {},
        "Outputs": {
            o["OutputKey"]: {"Value": o["OutputValue"]} | ({"Description": o["Description"]} if "Description" in o else {})
            for o in stack_outputs(deployed, config)
        },
    }
    deployment.client("cloudformation", port).create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(template))
    workflow = SANDBOX_CONFIG["WORKFLOW_NAME"]
    deployment.client("scheduler", port).create_schedule(
        Name=SCHEDULE_NAME,
        Description=f"Runs the {workflow} workflow ({SCHEDULE['cron']}, {SCHEDULE['timeZone']})",
        ScheduleExpression=f"cron({SCHEDULE['cron']})",
        ScheduleExpressionTimezone=SCHEDULE["timeZone"],
        State="ENABLED" if SCHEDULE["enabled"] else "DISABLED",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": deployed.alias_arn,
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/makenaide-sandbox-scheduler",
            "Input": json.dumps(SCHEDULE["input"]),
            "RetryPolicy": {
                "MaximumRetryAttempts": SCHEDULE["retryAttempts"],
                "MaximumEventAgeInSeconds": SCHEDULE["maximumEventAgeSeconds"],
            },
        },
    )


def _aws_command() -> str:
    """How to call the venv's AWS CLI from the current directory."""
    aws = Path(sys.executable).parent / "aws"
    if not aws.is_file():
        return "aws"
    try:
        return str(Path(os.path.relpath(aws)))
    except ValueError:
        return str(aws)


def banner(endpoint: str, deployed: deployment.Deployed, scenario_name: str, world: list[str], logs: Path) -> list[str]:
    """What `make sandbox` prints once ready (after the ready line)."""
    aws = _aws_command()
    cli = os.path.relpath(definition.REPO_ROOT / "target" / "debug" / "makenaide")
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{deployment.STATE_MACHINE_NAME}:run-1"
    exports = {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, **DUMMY_CREDENTIALS,
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    return [
        f"makenaide sandbox, scenario {scenario_name}",
        f"  endpoint       {endpoint} (region {REGION}, account {ACCOUNT})",
        f"  state machine  {deployed.state_machine_arn}",
        f"  start this     {deployed.alias_arn} (alias {deployed.alias_arn.rsplit(':', 1)[-1]} -> version 1, revision {deployed.revision})",
        f"  stack          {STACK_NAME} (outputs: aws cloudformation describe-stacks --stack-name {STACK_NAME})",
        f"  world          {'; '.join(world)}",
        f"  function logs  {logs}",
        "In another shell (dummy credentials, no profile; the AWS CLI v1 ignores AWS_ENDPOINT_URL for `aws rds` and `aws sqs`: give them --endpoint-url):",
        "  unset AWS_PROFILE; export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()),
        f"  {aws} stepfunctions start-execution --state-machine-arn {deployed.alias_arn} --name run-1",
        f"  {aws} stepfunctions describe-execution --execution-arn {execution}",
        f"  {aws} stepfunctions list-executions --state-machine-arn {deployed.state_machine_arn}",
        f"The makenaide CLI, with the same exports: {cli} (`make install-cli` puts it on your PATH as makenaide):",
        f"  {cli} run --follow",
        f"  {cli} status",
        "Ctrl-C stops the sandbox.",
    ]


def serve(args: argparse.Namespace, stop: threading.Event) -> int:
    """Set up, say ready, wait for `stop`, tear down."""
    scenario = load(args.scenario)
    try:
        server = deployment.make_server(scenario, args.port)
    except SystemExit as exc:  # werkzeug's answer to a port in use (it said so on stderr)
        raise OSError(f"port {args.port} is in use") from exc
    bus: events.EventBus | None = None
    deployment.start_server(server)
    try:
        port = server.port
        instance_ids: dict[str, str] = {}
        initial: dict[str, str | None] = {}
        deployment.setup_resources(scenario, server.app.world, port, instance_ids, initial)
        logs = args.logs or Path(tempfile.mkdtemp(prefix="sandbox-serve-"))
        deployment.start_functions(scenario, server.app, port, instance_ids, args.bin_dir, logs)
        deployed = deployment.deploy(deployment.client("stepfunctions", port), scenario, args.definition, list(instance_ids.values()))
        register_stack(port, deployed, scenario.config)

        def say(text: str) -> None:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

        bus = deployment.event_bus(scenario, port, deployed, max_started=MAX_EVENT_EXECUTIONS, on_log=say)
        bus.start_watcher()
        endpoint = f"http://127.0.0.1:{port}"
        world = [f"rds {scenario.rds.identifier} {initial['rds'] or 'absent'}"]
        world += [f"ec2 {name} {iid} {initial[name]}" for name, iid in instance_ids.items()]
        print(f"{READY} {endpoint} {deployed.state_machine_arn}", flush=True)
        print("\n".join(banner(endpoint, deployed, scenario.name, world, logs)), flush=True)
        stop.wait()
        print("sandbox: stopping", flush=True)
        return 0
    finally:
        if bus is not None:
            bus.stop()
        server.stop()


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0 picks a free one)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=_port, default=_port(os.environ.get("SANDBOX_PORT") or str(DEFAULT_PORT)),
                        help=f"the port on 127.0.0.1 (env SANDBOX_PORT; default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--scenario", type=Path, default=Path(os.environ.get("SCENARIO") or DEFAULT_SCENARIO),
                        help="the scenario whose world is served (env SCENARIO; default tests/scenarios/happy_path.json)")
    deployment.add_deploy_arguments(parser)
    parser.add_argument("--logs", type=Path, default=None, help="where function logs go (default: a temp dir)")
    args = parser.parse_args(argv)
    deployment.quiet_server_logs()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        return serve(args, stop)
    except (ScenarioError, events.RuleError) as exc:
        print(f"sandbox: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the port in use, most likely
        print(f"sandbox: error: cannot serve on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2


# -- for tests and tools: the sandbox as a child process ---------------------------------------------
class Endpoint(NamedTuple):
    endpoint: str  # http://127.0.0.1:<port>
    state_machine_arn: str


# A proxy nothing listens on, for every host but the loopback: a request that
# ignores AWS_ENDPOINT_URL fails here instead of reaching AWS. The AWS CLI v1
# sends `rds`, `sqs`, `docdb`, `neptune` and `health` commands in us-east-1 to
# AWS unless `--endpoint-url` is given (awscli/customizations/overridesslcommonname.py,
# aws/aws-cli#8737).
DEAD_PROXY = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def client_environment(endpoint: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for any AWS client (the AWS CLI, an SDK) that can reach the sandbox and nothing else:
    `base` (default: this process's) without its AWS_* and proxy variables, with the endpoint, the region,
    dummy credentials, no config or credentials file, and `DEAD_PROXY` for every other host."""
    proxies = {k.lower() for k in DEAD_PROXY}
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("AWS_") and k.lower() not in proxies}
    env.update(DEAD_PROXY)
    env.update(DUMMY_CREDENTIALS)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
    )
    return env


class SandboxProcess:
    """`tests/run_sandbox.py` as a child process: `start()` returns once it printed its ready line."""

    def __init__(self, *, port: int = 0, scenario: Path | None = None, extra_args: list[str] | None = None, output: Path | None = None) -> None:
        self.command = [sys.executable, str(RUN_SCRIPT), "--port", str(port)]
        self.command += ["--scenario", str(scenario)] if scenario is not None else []
        self.command += extra_args or []
        self._dir = tempfile.TemporaryDirectory(prefix="sandbox-process-") if output is None else None
        self.output = output or Path(self._dir.name) / "stdout.txt"  # type: ignore[union-attr]
        self.errors = self.output.with_name(self.output.name + ".stderr")
        self.process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""
        self.state_machine_arn = ""
        self._files: list[IO[bytes]] = []

    def start(self, timeout: float = 60.0) -> Endpoint:
        out, err = self.output.open("wb"), self.errors.open("wb")
        self._files = [out, err]
        # The sandbox needs no credentials: it gets none, nor any AWS_* setting.
        env = client_environment("http://127.0.0.1:0")
        env.pop("AWS_ENDPOINT_URL")
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=definition.REPO_ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            first = self.text().split("\n", 1)
            if len(first) == 2:
                parts = first[0].split()
                if first[0].startswith(READY) and len(parts) == 4:
                    self.endpoint, self.state_machine_arn = parts[2], parts[3]
                    return Endpoint(self.endpoint, self.state_machine_arn)
                self.stop()
                raise RuntimeError(f"the sandbox's first line is not its ready line: {first[0]!r}")
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the sandbox exited {self.process.returncode} before it was ready:\n{self.stderr()}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the sandbox was not ready within {timeout} s:\n{self.stderr()}")

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.errors.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C (SIGINT), then wait; SIGKILL past `timeout`. Returns the exit code."""
        proc = self.process
        code = -1
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = int(proc.returncode)
        for f in self._files:
            f.close()
        self._files = []
        return code

    def cleanup(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()


@contextlib.contextmanager
def started(*, port: int = 0, scenario: Path | None = None, extra_args: list[str] | None = None) -> Iterator[Endpoint]:
    """The sandbox on a free loopback port (or `port`) for the block's duration: yields (endpoint, state machine ARN).

        with started() as (endpoint, machine):
            subprocess.run([...], env=client_environment(endpoint))
    """
    sandbox = SandboxProcess(port=port, scenario=scenario, extra_args=extra_args)
    try:
        yield sandbox.start()
    finally:
        sandbox.stop()
        sandbox.cleanup()
