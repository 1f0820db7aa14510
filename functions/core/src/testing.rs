//! An in-memory AWS for the handler tests: one small world of DB instances,
//! EC2 instances, SSM agents and commands that implements every port. It
//! moves resources through the first state of a transition when asked
//! (start -> `starting`/`pending`, stop -> `stopping`), answers errors a test
//! scripts per operation, and logs every call with its arguments so a test
//! asserts what was sent. Enabled by the `testing` feature.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::error::{ErrorName, StepError};
use crate::ports::{
    Command, CommandInvocation, Ec2Instance, Ec2Port, JobCommand, MetricSeries, MetricsPort,
    Operation, RdsInstance, RdsPort, SsmPort, StartResult, Transition,
};
use crate::timestamp::Timestamp;

/// One call a step made, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    DescribeDb {
        identifier: String,
    },
    StartDb {
        identifier: String,
    },
    StopDb {
        identifier: String,
    },
    DescribeInstances {
        instance_ids: Vec<String>,
    },
    StartInstances {
        instance_ids: Vec<String>,
        dry_run: bool,
    },
    StopInstance {
        instance_id: String,
    },
    PingStatuses {
        instance_ids: Vec<String>,
    },
    FindCommand {
        document_name: String,
        comment: String,
        invoked_after: Timestamp,
    },
    SendCommand(JobCommand),
    CommandInvocation {
        command_id: String,
        instance_id: String,
    },
    PutMetrics {
        namespace: String,
        series: Vec<MetricSeries>,
    },
}

impl Call {
    pub fn operation(&self) -> Operation {
        match self {
            Self::DescribeDb { .. } => Operation::DescribeDbInstances,
            Self::StartDb { .. } => Operation::StartDbInstance,
            Self::StopDb { .. } => Operation::StopDbInstance,
            Self::DescribeInstances { .. } => Operation::DescribeInstances,
            Self::StartInstances { .. } => Operation::StartInstances,
            Self::StopInstance { .. } => Operation::StopInstances,
            Self::PingStatuses { .. } => Operation::DescribeInstanceInformation,
            Self::FindCommand { .. } => Operation::ListCommands,
            Self::SendCommand(_) => Operation::SendCommand,
            Self::CommandInvocation { .. } => Operation::GetCommandInvocation,
            Self::PutMetrics { .. } => Operation::PutMetricData,
        }
    }
}

#[derive(Debug)]
struct ScriptedFailure {
    operation: Operation,
    /// `None`: every call from now on.
    remaining: Option<usize>,
    error: StepError,
}

/// A change of the world that happens right after a call (a race: AWS
/// moved on between the step's describe and its action).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    DbStatus { identifier: String, status: String },
    InstanceState { instance_id: String, state: String },
}

#[derive(Debug, Default)]
struct World {
    dbs: BTreeMap<String, RdsInstance>,
    /// Insertion order is kept so a test reads them back as it set them.
    instances: Vec<Ec2Instance>,
    pings: HashMap<String, String>,
    commands: Vec<Command>,
    invocations: HashMap<(String, String), CommandInvocation>,
    failures: Vec<ScriptedFailure>,
    changes: Vec<(Operation, Change)>,
    calls: Vec<Call>,
    clock: Option<Timestamp>,
}

impl World {
    fn instance_mut(&mut self, id: &str) -> Option<&mut Ec2Instance> {
        self.instances.iter_mut().find(|i| i.instance_id == id)
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::DbStatus { identifier, status } => {
                if let Some(db) = self.dbs.get_mut(&identifier) {
                    db.status = status;
                }
            }
            Change::InstanceState { instance_id, state } => {
                if let Some(instance) = self.instance_mut(&instance_id) {
                    instance.state = state;
                }
            }
        }
    }

    /// Logs the call and answers a scripted failure for its operation, if
    /// any. A change scheduled for this operation happens after the answer
    /// is built, which callers get by calling [`World::settle`] last.
    fn record(&mut self, call: Call) -> Result<(), StepError> {
        let operation = call.operation();
        self.calls.push(call);
        let Some(scripted) = self
            .failures
            .iter_mut()
            .find(|f| f.operation == operation && f.remaining != Some(0))
        else {
            return Ok(());
        };
        if let Some(remaining) = &mut scripted.remaining {
            *remaining -= 1;
        }
        Err(scripted.error.clone())
    }
}

/// The fake AWS account. Build it with the `with_*` methods, script
/// failures with [`FakeAws::fail_next`], change the world between calls with
/// the `set_*` methods, and read what happened with [`FakeAws::calls`].
#[derive(Debug, Default)]
pub struct FakeAws {
    world: Mutex<World>,
}

impl World {
    /// Applies the change scheduled after the next call of `operation`.
    fn settle(&mut self, operation: Operation) {
        if let Some(index) = self.changes.iter().position(|(op, _)| *op == operation) {
            let (_, change) = self.changes.remove(index);
            self.apply(change);
        }
    }
}

impl FakeAws {
    pub fn new() -> Self {
        Self::default()
    }

    /// Right after the next call of `operation` has been answered, the
    /// world changes (e.g. the DB leaves `stopped` between the describe and
    /// the start).
    pub fn after_next(self, operation: Operation, change: Change) -> Self {
        self.world().changes.push((operation, change));
        self
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().expect("the fake world is never poisoned")
    }

    pub fn with_db(self, identifier: &str, status: &str, class: &str) -> Self {
        self.world().dbs.insert(
            identifier.to_string(),
            RdsInstance {
                identifier: identifier.to_string(),
                status: status.to_string(),
                class: Some(class.to_string()),
                multi_az: false,
            },
        );
        self
    }

    pub fn with_instance(self, instance_id: &str, state: &str, instance_type: &str) -> Self {
        self.world().instances.push(Ec2Instance {
            instance_id: instance_id.to_string(),
            state: state.to_string(),
            state_reason: None,
            instance_type: Some(instance_type.to_string()),
        });
        self
    }

    /// The SSM agent of `instance_id` reports `ping_status`.
    pub fn with_ping(self, instance_id: &str, ping_status: &str) -> Self {
        self.set_ping(instance_id, ping_status);
        self
    }

    /// A command sent before (by an earlier attempt of the step).
    pub fn with_command(self, command: Command) -> Self {
        self.world().commands.push(command);
        self
    }

    /// The time SSM stamps on the commands it accepts (`None` by default).
    pub fn with_clock(self, now: Timestamp) -> Self {
        self.world().clock = Some(now);
        self
    }

    /// The next `times` calls of `operation` fail with `error` (after any
    /// failure scripted before for it).
    pub fn fail_next(self, operation: Operation, times: usize, name: ErrorName) -> Self {
        self.script(operation, Some(times), name)
    }

    /// Every call of `operation` fails with `error`.
    pub fn fail_always(self, operation: Operation, name: ErrorName) -> Self {
        self.script(operation, None, name)
    }

    fn script(self, operation: Operation, remaining: Option<usize>, name: ErrorName) -> Self {
        self.world().failures.push(ScriptedFailure {
            operation,
            remaining,
            error: StepError::new(name, format!("{} failed (scripted)", operation.action())),
        });
        self
    }

    pub fn set_db_status(&self, identifier: &str, status: &str) {
        if let Some(db) = self.world().dbs.get_mut(identifier) {
            db.status = status.to_string();
        }
    }

    pub fn set_instance_state(&self, instance_id: &str, state: &str, reason: Option<&str>) {
        if let Some(instance) = self.world().instance_mut(instance_id) {
            instance.state = state.to_string();
            instance.state_reason = reason.map(str::to_string);
        }
    }

    pub fn set_ping(&self, instance_id: &str, ping_status: &str) {
        self.world()
            .pings
            .insert(instance_id.to_string(), ping_status.to_string());
    }

    pub fn set_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
        invocation: CommandInvocation,
    ) {
        self.world().invocations.insert(
            (command_id.to_string(), instance_id.to_string()),
            invocation,
        );
    }

    pub fn db(&self, identifier: &str) -> Option<RdsInstance> {
        self.world().dbs.get(identifier).cloned()
    }

    pub fn instance(&self, instance_id: &str) -> Option<Ec2Instance> {
        self.world()
            .instances
            .iter()
            .find(|i| i.instance_id == instance_id)
            .cloned()
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.clone()
    }

    /// How many calls of `operation` were made.
    /// The operations called so far, each once, in declaration order.
    pub fn operations(&self) -> Vec<Operation> {
        let mut operations: Vec<Operation> = self.calls().iter().map(Call::operation).collect();
        operations.sort_unstable();
        operations.dedup();
        operations
    }

    /// Asserts that the calls so far are exactly `function`'s declared
    /// operations ([`crate::ports::FUNCTION_OPERATIONS`]).
    pub fn assert_calls_exactly_declared(&self, function: &str) {
        let mut declared = crate::ports::operations_of(function).to_vec();
        declared.sort_unstable();
        assert_eq!(
            self.operations(),
            declared,
            "{function}: the calls differ from its FUNCTION_OPERATIONS row (and so from its IAM role)"
        );
    }

    pub fn count(&self, operation: Operation) -> usize {
        self.world()
            .calls
            .iter()
            .filter(|c| c.operation() == operation)
            .count()
    }

    /// The calls that change something in the account.
    pub fn mutating_calls(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation().is_mutating())
            .collect()
    }
}

fn db_not_found(identifier: &str) -> StepError {
    StepError::new(
        ErrorName::RdsInstanceNotFound,
        format!("DB instance {identifier} not found"),
    )
}

fn instances_not_found(ids: &[String]) -> StepError {
    StepError::new(
        ErrorName::Ec2InstanceNotFound,
        format!("worker instance(s) {} not found", ids.join(", ")),
    )
}

impl RdsPort for FakeAws {
    async fn describe_db(&self, identifier: &str) -> Result<Option<RdsInstance>, StepError> {
        let mut world = self.world();
        world.record(Call::DescribeDb {
            identifier: identifier.to_string(),
        })?;
        let found = world.dbs.get(identifier).cloned();
        world.settle(Operation::DescribeDbInstances);
        Ok(found)
    }

    async fn start_db(&self, identifier: &str) -> Result<Transition, StepError> {
        let call = Call::StartDb {
            identifier: identifier.to_string(),
        };
        self.transition(call, identifier, "stopped", "starting")
    }

    async fn stop_db(&self, identifier: &str) -> Result<Transition, StepError> {
        let call = Call::StopDb {
            identifier: identifier.to_string(),
        };
        self.transition(call, identifier, "available", "stopping")
    }
}

impl FakeAws {
    /// RDS accepts a start only from `stopped` and a stop only from
    /// `available` (`InvalidDBInstanceState` otherwise).
    fn transition(
        &self,
        call: Call,
        identifier: &str,
        from: &str,
        to: &str,
    ) -> Result<Transition, StepError> {
        let mut world = self.world();
        world.record(call)?;
        let db = world
            .dbs
            .get_mut(identifier)
            .ok_or_else(|| db_not_found(identifier))?;
        if db.status != from {
            return Ok(Transition::Refused);
        }
        db.status = to.to_string();
        Ok(Transition::Accepted)
    }
}

impl Ec2Port for FakeAws {
    async fn describe_instances(&self, ids: &[String]) -> Result<Vec<Ec2Instance>, StepError> {
        let mut world = self.world();
        world.record(Call::DescribeInstances {
            instance_ids: ids.to_vec(),
        })?;
        let found: Vec<Ec2Instance> = ids
            .iter()
            .filter_map(|id| world.instances.iter().find(|i| &i.instance_id == id))
            .cloned()
            .collect();
        if found.len() < ids.len() {
            return Err(instances_not_found(ids));
        }
        world.settle(Operation::DescribeInstances);
        Ok(found)
    }

    /// As EC2: a dry run changes nothing; one instance that cannot be
    /// started (`stopping`, `shutting-down`, `terminated`) fails the whole
    /// call with `IncorrectInstanceState`; running ones are left alone.
    async fn start_instances(
        &self,
        ids: &[String],
        dry_run: bool,
    ) -> Result<StartResult, StepError> {
        let mut world = self.world();
        world.record(Call::StartInstances {
            instance_ids: ids.to_vec(),
            dry_run,
        })?;
        if ids
            .iter()
            .any(|id| !world.instances.iter().any(|i| &i.instance_id == id))
        {
            return Err(instances_not_found(ids));
        }
        if dry_run {
            return Ok(StartResult::WouldStart);
        }
        let blocked = ids.iter().any(|id| {
            world.instances.iter().any(|i| {
                &i.instance_id == id
                    && matches!(
                        i.state.as_str(),
                        "stopping" | "shutting-down" | "terminated"
                    )
            })
        });
        if blocked {
            return Ok(StartResult::StateChanged);
        }
        for id in ids {
            let instance = world.instance_mut(id).expect("checked above");
            if instance.state == "stopped" {
                instance.state = "pending".to_string();
                instance.state_reason = None;
            }
        }
        Ok(StartResult::Started)
    }

    /// As EC2: `running` -> `stopping`; `stopping`/`stopped` accepted as
    /// they are; `pending`, `shutting-down` and `terminated` refused
    /// (`IncorrectInstanceState`).
    async fn stop_instance(&self, id: &str) -> Result<Transition, StepError> {
        let mut world = self.world();
        world.record(Call::StopInstance {
            instance_id: id.to_string(),
        })?;
        let instance = world
            .instance_mut(id)
            .ok_or_else(|| instances_not_found(&[id.to_string()]))?;
        let answer = match instance.state.as_str() {
            "running" => {
                instance.state = "stopping".to_string();
                instance.state_reason = Some("Client.UserInitiatedShutdown".to_string());
                Transition::Accepted
            }
            "stopping" | "stopped" => Transition::Accepted,
            _ => Transition::Refused,
        };
        world.settle(Operation::StopInstances);
        Ok(answer)
    }
}

impl SsmPort for FakeAws {
    async fn ping_statuses(&self, ids: &[String]) -> Result<HashMap<String, String>, StepError> {
        let mut world = self.world();
        world.record(Call::PingStatuses {
            instance_ids: ids.to_vec(),
        })?;
        Ok(ids
            .iter()
            .filter_map(|id| world.pings.get(id).map(|p| (id.clone(), p.clone())))
            .collect())
    }

    /// Like ListCommands with `InvokedAfter`: by the time SSM accepted the
    /// command (milliseconds), whatever its invocations' states.
    async fn find_command(
        &self,
        document_name: &str,
        comment: &str,
        invoked_after: Timestamp,
    ) -> Result<Option<Command>, StepError> {
        let mut world = self.world();
        world.record(Call::FindCommand {
            document_name: document_name.to_string(),
            comment: comment.to_string(),
            invoked_after,
        })?;
        Ok(world
            .commands
            .iter()
            .find(|c| {
                c.document_name == document_name
                    && c.comment == comment
                    && c.requested_at.is_none_or(|at| at >= invoked_after)
            })
            .cloned())
    }

    /// Accepts the command with a new id; each target's invocation starts
    /// `Pending`.
    async fn send_command(&self, command: &JobCommand) -> Result<Command, StepError> {
        let mut world = self.world();
        world.record(Call::SendCommand(command.clone()))?;
        let sent = Command {
            command_id: format!("cmd-{}", world.commands.len() + 1),
            comment: command.comment.clone(),
            document_name: command.document_name.clone(),
            instance_ids: command.instance_ids.clone(),
            requested_at: world.clock,
        };
        for id in &command.instance_ids {
            world.invocations.insert(
                (sent.command_id.clone(), id.clone()),
                CommandInvocation {
                    status: Some("Pending".into()),
                    status_details: Some("Pending".into()),
                    exit_code: None,
                    stderr: None,
                },
            );
        }
        world.commands.push(sent.clone());
        Ok(sent)
    }

    async fn command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, StepError> {
        let mut world = self.world();
        world.record(Call::CommandInvocation {
            command_id: command_id.to_string(),
            instance_id: instance_id.to_string(),
        })?;
        Ok(world
            .invocations
            .get(&(command_id.to_string(), instance_id.to_string()))
            .cloned()
            .unwrap_or_default())
    }
}

impl MetricsPort for FakeAws {
    async fn put_metrics(&self, namespace: &str, series: &[MetricSeries]) -> Result<(), StepError> {
        self.world().record(Call::PutMetrics {
            namespace: namespace.to_string(),
            series: series.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn rds_transitions_follow_the_states_rds_allows() {
        let fake = FakeAws::new().with_db("db", "stopped", "db.t3.micro");
        assert_eq!(fake.stop_db("db").await.unwrap(), Transition::Refused);
        assert_eq!(fake.start_db("db").await.unwrap(), Transition::Accepted);
        assert_eq!(fake.db("db").unwrap().status, "starting");
        assert_eq!(fake.start_db("db").await.unwrap(), Transition::Refused);
        fake.set_db_status("db", "available");
        assert_eq!(fake.stop_db("db").await.unwrap(), Transition::Accepted);
        assert_eq!(fake.db("db").unwrap().status, "stopping");
        assert_eq!(
            fake.start_db("other").await.unwrap_err().name,
            ErrorName::RdsInstanceNotFound
        );
        assert!(fake.describe_db("other").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn ec2_start_is_rejected_whole_when_one_instance_cannot_start() {
        let fake = FakeAws::new()
            .with_instance("i-1", "stopped", "t3.micro")
            .with_instance("i-2", "stopping", "t3.micro");
        let both = ids(&["i-1", "i-2"]);
        assert_eq!(
            fake.start_instances(&both, false).await.unwrap(),
            StartResult::StateChanged
        );
        assert_eq!(fake.instance("i-1").unwrap().state, "stopped");
        assert_eq!(
            fake.start_instances(&both, true).await.unwrap(),
            StartResult::WouldStart
        );
        assert_eq!(
            fake.start_instances(&ids(&["i-1"]), false).await.unwrap(),
            StartResult::Started
        );
        assert_eq!(fake.instance("i-1").unwrap().state, "pending");
        assert_eq!(
            fake.describe_instances(&ids(&["i-1", "i-9"]))
                .await
                .unwrap_err()
                .name,
            ErrorName::Ec2InstanceNotFound
        );
    }

    #[tokio::test]
    async fn ec2_stop_follows_the_states_ec2_allows() {
        let fake = FakeAws::new()
            .with_instance("i-1", "running", "t3.micro")
            .with_instance("i-2", "pending", "t3.micro")
            .with_instance("i-3", "terminated", "t3.micro")
            .with_instance("i-4", "stopped", "t3.micro");
        assert_eq!(
            fake.stop_instance("i-1").await.unwrap(),
            Transition::Accepted
        );
        assert_eq!(fake.instance("i-1").unwrap().state, "stopping");
        assert_eq!(
            fake.stop_instance("i-1").await.unwrap(),
            Transition::Accepted
        );
        assert_eq!(
            fake.stop_instance("i-2").await.unwrap(),
            Transition::Refused
        );
        assert_eq!(fake.instance("i-2").unwrap().state, "pending");
        assert_eq!(
            fake.stop_instance("i-3").await.unwrap(),
            Transition::Refused
        );
        assert_eq!(
            fake.stop_instance("i-4").await.unwrap(),
            Transition::Accepted
        );
        assert_eq!(fake.instance("i-4").unwrap().state, "stopped");
        assert_eq!(
            fake.stop_instance("i-9").await.unwrap_err().name,
            ErrorName::Ec2InstanceNotFound
        );
        assert_eq!(fake.count(Operation::StopInstances), 6);
    }

    #[tokio::test]
    async fn a_change_after_a_describe_is_seen_by_the_next_call() {
        let fake = FakeAws::new()
            .with_db("db", "stopped", "db.t3.micro")
            .after_next(
                Operation::DescribeDbInstances,
                Change::DbStatus {
                    identifier: "db".into(),
                    status: "starting".into(),
                },
            );
        assert_eq!(
            fake.describe_db("db").await.unwrap().unwrap().status,
            "stopped"
        );
        assert_eq!(fake.start_db("db").await.unwrap(), Transition::Refused);
        assert_eq!(
            fake.describe_db("db").await.unwrap().unwrap().status,
            "starting"
        );
    }

    #[tokio::test]
    async fn scripted_failures_are_answered_in_order_and_logged() {
        let fake = FakeAws::new()
            .with_db("db", "available", "db.t3.micro")
            .fail_next(Operation::DescribeDbInstances, 2, ErrorName::AwsThrottled);
        for _ in 0..2 {
            assert_eq!(
                fake.describe_db("db").await.unwrap_err().name,
                ErrorName::AwsThrottled
            );
        }
        assert!(fake.describe_db("db").await.unwrap().is_some());
        assert_eq!(fake.count(Operation::DescribeDbInstances), 3);
        let fake = FakeAws::new().fail_always(Operation::PutMetricData, ErrorName::AccessDenied);
        for _ in 0..3 {
            assert!(fake.put_metrics("ns", &[]).await.is_err());
        }
    }

    #[tokio::test]
    async fn commands_are_found_by_comment_instance_and_time() {
        let t0 = Timestamp::from_millis(1_000_000);
        let fake = FakeAws::new().with_clock(t0);
        let sent = fake
            .send_command(&JobCommand {
                document_name: "Job".into(),
                instance_ids: ids(&["i-1"]),
                execution_timeout_seconds: 60,
                comment: "makenaide:run-1".into(),
                output_log_group: None,
            })
            .await
            .unwrap();
        assert_eq!(sent.requested_at, Some(t0));
        let invocation = fake.command_invocation(&sent.command_id, "i-1").await;
        assert_eq!(invocation.unwrap().status.as_deref(), Some("Pending"));
        let found = |comment, after| fake.find_command("Job", comment, after);
        // Found while its invocation is still Pending.
        assert!(found("makenaide:run-1", t0).await.unwrap().is_some());
        // Only among the commands of the same document.
        let other_document = fake.find_command("Other", "makenaide:run-1", t0);
        assert!(other_document.await.unwrap().is_none());
        assert!(found("makenaide:run-2", t0).await.unwrap().is_none());
        // Milliseconds count: one after the command was accepted is too late.
        let later = Timestamp::from_millis(t0.as_millis() + 1);
        assert!(found("makenaide:run-1", later).await.unwrap().is_none());
        assert_eq!(fake.mutating_calls().len(), 1);
    }
}
