"""The sandbox deployed as the stack deploys the product, for one scenario.

What `run_scenario.py` (`runner.Run`) and `make sandbox` (`serve.py`) both
set up, in this order:

1. `make_server()`: the world of the scenario (`World`), its faults, the
   `SandboxApp` in front of moto and its HTTP server on 127.0.0.1;
   `start_server()` starts it and points moto's ASL engine at it
   (`MOTO_PORT`, `execute_state_machine`, `moto_patches`);
2. `setup_resources()`: the scenario's DB and instances, the job document,
   the job's log group, the run lease's table, the alarm topic;
3. `start_functions()`: the six function binaries behind the Lambda host,
   with the deployment config of the contract (`SANDBOX_CONFIG`);
4. `deploy()`: the definition with the sandbox's substitutions, its
   published version 1 and the alias `live`;
5. `event_bus()`: the stack's rules (`statemachine/rules.json`), delivered
   when the definition has a run lease.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.core.config import default_user_config

from . import definition, events, jobdocument, moto_patches, states
from .lambda_host import FunctionHost, lambda_environment
from .scenario import FUNCTIONS, Scenario, ScenarioError
from .server import FUNCTION_KEY_PREFIX, RUNNER_ACCESS_KEY, Faults, SandboxApp, SandboxServer
from .world import World

ACCOUNT = "123456789012"
REGION = "us-east-1"
SANDBOX_AMI = "ami-12c6146b"  # one of moto's built-in images
STATE_MACHINE_NAME = "makenaide-sandbox"

# The deployment's jobCommands and jobWorkingDirectory: they go into the job
# document, not into any function's environment.
SANDBOX_JOB_COMMANDS = ["/opt/makenaide/bin/run-batch.sh"]
SANDBOX_JOB_WORKING_DIRECTORY = "/opt/makenaide"

# Deployment config for the sandbox (the contract's variables, sandbox-sized).
SANDBOX_CONFIG: dict[str, str] = {
    "JOB_DOCUMENT_NAME": "MakenaideSandbox-Job",  # registered in setup, as the stack creates it
    "JOB_LOG_GROUP": "/makenaide/sandbox/job-output",  # created in setup, as the stack creates its group
    "JOB_TIMEOUT_SECONDS": "60",
    "JOB_TIMEOUT_MAX_SECONDS": "300",
    "RDS_READY_TIMEOUT_SECONDS": "20",
    "EC2_READY_TIMEOUT_SECONDS": "20",
    "RDS_POLL_SECONDS": "1",
    "EC2_POLL_SECONDS": "1",
    "JOB_POLL_SECONDS": "1",
    "RDS_STOP_POLICY": "always",
    "METRICS_NAMESPACE": "Makenaide/Orchestrator",
    "WORKFLOW_NAME": "makenaide-sandbox",
    "SCHEDULE_INTERVAL_HOURS": "4",
    "PRICE_OVERRIDES": "{}",
}


def add_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every sandbox entry point shares: what it deploys."""
    parser.add_argument("--definition", type=Path, default=definition.DEFINITION_PATH, help="the ASL file to deploy")
    parser.add_argument("--bin-dir", type=Path, default=definition.REPO_ROOT / "target" / "debug", help="where the function binaries are")


def quiet_server_logs() -> None:
    """No access log lines from the HTTP server; none of the failures moto's engine catches and logs."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.CRITICAL)


def client(service: str, port: int, key: str = RUNNER_ACCESS_KEY) -> Any:
    """A boto3 client of the sandbox on `port`; the access key id says who calls (the runner by default)."""
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=key,
        aws_secret_access_key="sandbox",
        config=Config(retries={"total_max_attempts": 1}),
    )


def make_server(scenario: Scenario, port: int = 0) -> SandboxServer:
    """The scenario's world and faults behind a `SandboxApp`, served on 127.0.0.1:`port` (0: a free one)."""
    world = World(ACCOUNT, REGION, scenario.timings, scenario.job, scenario.rds.start_ends_in)
    app = SandboxApp(world, Faults(scenario.aws_faults, scenario.function_faults))
    return SandboxServer(app, port)


def start_server(server: SandboxServer) -> None:
    """Serve, and send moto's ASL engine (which executes the definition) to this server."""
    server.start()
    os.environ["MOTO_PORT"] = str(server.port)  # where moto's ASL engine sends its calls
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    moto_patches.apply()


def setup_resources(scenario: Scenario, world: World, port: int, instance_ids: dict[str, str], initial: dict[str, str | None]) -> None:
    """Create what the scenario and the stack have before any run; fills `instance_ids` (name -> id) and
    `initial` (name, or `rds` -> initial state)."""
    s = scenario
    if s.rds.exists:
        client("rds", port).create_db_instance(
            DBInstanceIdentifier=s.rds.identifier,
            DBInstanceClass=s.rds.instance_class,
            Engine="postgres",
            AllocatedStorage=20,
            MasterUsername="makenaide",
            MasterUserPassword="sandbox-only-not-a-secret",
        )
        world.init_db(s.rds.identifier, s.rds.status)
    initial["rds"] = s.rds.status if s.rds.exists else None
    ec2 = client("ec2", port)
    for inst in s.instances:
        made = ec2.run_instances(ImageId=SANDBOX_AMI, MinCount=1, MaxCount=1, InstanceType=inst.instance_type)
        instance_id = made["Instances"][0]["InstanceId"]
        instance_ids[inst.name] = instance_id
        world.init_instance(instance_id, inst.state, inst.agent_online)
        if inst.job is not None:
            world.instance_jobs[instance_id] = inst.job
        initial[inst.name] = inst.state
    # The job document (JOB_DOCUMENT_NAME), as the stack creates it: the same
    # template, filled with the sandbox's job.
    world.register_document(SANDBOX_CONFIG["JOB_DOCUMENT_NAME"], jobdocument.load(SANDBOX_JOB_COMMANDS, SANDBOX_JOB_WORKING_DIRECTORY))
    # The job's output log group (JOB_LOG_GROUP), as the stack creates it; a scenario's
    # `config` may name another one (the agent creates a missing group, as SSM's does).
    logs = client("logs", port)
    logs.create_log_group(logGroupName=SANDBOX_CONFIG["JOB_LOG_GROUP"])
    logs.put_retention_policy(logGroupName=SANDBOX_CONFIG["JOB_LOG_GROUP"], retentionInDays=30)
    # The run lease (substituted as ${LeaseTableName}; harmless when the definition has none).
    client("dynamodb", port).create_table(
        TableName=definition.LEASE_TABLE_NAME,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # The alarm topic the failure notification goes to (substituted as ${AlarmTopicArn}).
    client("sns", port).create_topic(Name=definition.ALARM_TOPIC_NAME)


def start_functions(scenario: Scenario, app: SandboxApp, port: int, instance_ids: dict[str, str], bin_dir: Path, log_dir: Path) -> None:
    """Put the six binaries of `bin_dir` behind the Lambda host (each started at its first invocation)."""
    base = dict(SANDBOX_CONFIG)
    base.update({"DB_INSTANCE_IDENTIFIER": scenario.rds.identifier, "WORKER_INSTANCE_IDS": ",".join(instance_ids.values())})
    base.update(scenario.config)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in FUNCTIONS:
        binary = bin_dir / name
        if not binary.is_file():
            raise ScenarioError(f"function binary {binary} is missing: run `make build` first")
        env = lambda_environment(name, base)
        env.update(
            {
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": f"{FUNCTION_KEY_PREFIX}{name}",
                "AWS_SECRET_ACCESS_KEY": "sandbox",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            }
        )
        app.functions[name] = FunctionHost(name, [str(binary)], env, log_dir / f"{name}.log", 30.0, REGION, ACCOUNT)


@dataclass(frozen=True)
class Deployed:
    state_machine_arn: str  # unqualified: what the status change events carry
    alias_arn: str  # `<machine>:live`: what every trigger starts
    version_arn: str  # `<machine>:1`
    revision: str  # ${Revision}
    rules_active: bool  # the stack deploys its rules together with the run lease


def deploy(sfn: Any, scenario: Scenario, definition_path: Path, worker_ids: list[str]) -> Deployed:
    """Deploy the definition file as the stack does: the state machine, its
    published version 1 and the alias `live` routing 100 % to it."""
    text = definition_path.read_text(encoding="utf-8")
    try:
        rendered = definition.render(text, definition.substitutions(worker_ids, REGION, text))
    except KeyError as exc:
        raise ScenarioError(f"{definition_path}: {exc.args[0]}") from exc
    if scenario.execution_timeout is not None:
        document = json.loads(rendered)
        document["TimeoutSeconds"] = scenario.execution_timeout
        rendered = json.dumps(document)
    revision = definition.revision(text)
    machine = sfn.create_state_machine(
        name=STATE_MACHINE_NAME,
        definition=rendered,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/makenaide-sandbox-states",
        type="STANDARD",
        publish=True,
        versionDescription=f"revision {revision}",
    )
    alias = sfn.create_state_machine_alias(
        name=states.ALIAS_NAME,
        routingConfiguration=[{"stateMachineVersionArn": str(machine["stateMachineVersionArn"]), "weight": 100}],
    )
    return Deployed(
        state_machine_arn=str(machine["stateMachineArn"]),
        alias_arn=str(alias["stateMachineAliasArn"]),
        version_arn=str(machine["stateMachineVersionArn"]),
        revision=revision,
        # A workflow without a lease cannot tell a cleanup run from a run.
        rules_active=definition.uses(text, definition.LEASE_TABLE_KEY),
    )


def event_bus(scenario: Scenario, port: int, deployed: Deployed, **options: Any) -> events.EventBus:
    """EventBridge for the stack's rules (none when the definition has no run lease); `options` go to `EventBus`.
    The rules' patterns match the unqualified ARN of the status events; their targets start the alias."""
    values = {"StateMachineArn": deployed.state_machine_arn, "DbInstanceIdentifier": scenario.rds.identifier}
    rules = events.load_rules(values, ACCOUNT, REGION) if deployed.rules_active else []
    return events.EventBus(
        rules, deployed.state_machine_arn, lambda: client("stepfunctions", port), ACCOUNT, REGION, target_arn=deployed.alias_arn, **options
    )
