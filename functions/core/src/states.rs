//! Which AWS state means what: the decision tables of the workflow, as pure
//! functions. One place for each: RDS statuses, EC2 states, SSM command
//! statuses.

/// What an RDS DB instance status means for starting and stopping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdsClass {
    Available,
    Stopped,
    Stopping,
    /// Busy with something that ends by itself (`starting`, `backing-up`,
    /// `modifying`, ...): wait.
    Transitional,
    /// Cannot become available without a person (`failed`, `deleting`,
    /// `storage-full`, `incompatible-*`, ...).
    Unrecoverable,
}

const RDS_UNRECOVERABLE: &[&str] = &[
    "failed",
    "deleting",
    "delete-precheck",
    "storage-full",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "insufficient-capacity",
    "restore-error",
];

pub fn classify_rds_status(status: &str) -> RdsClass {
    match status {
        "available" => RdsClass::Available,
        "stopped" => RdsClass::Stopped,
        "stopping" => RdsClass::Stopping,
        s if s.starts_with("incompatible-") || RDS_UNRECOVERABLE.contains(&s) => {
            RdsClass::Unrecoverable
        }
        // starting, backing-up, modifying, rebooting, configuring-*,
        // maintenance, upgrading, renaming, storage-optimization, ... and any
        // status AWS adds later: wait, the loop deadline bounds the wait.
        _ => RdsClass::Transitional,
    }
}

/// What an EC2 instance state means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Class {
    Pending,
    Running,
    Stopping,
    Stopped,
    /// `shutting-down` or `terminated`: it will never run again.
    Gone,
}

pub fn classify_ec2_state(state: &str) -> Ec2Class {
    match state {
        "running" => Ec2Class::Running,
        "stopped" => Ec2Class::Stopped,
        "stopping" => Ec2Class::Stopping,
        "shutting-down" | "terminated" => Ec2Class::Gone,
        // "pending" and anything unknown: wait for it to settle.
        _ => Ec2Class::Pending,
    }
}

/// SSM agent ping status that lets a command be delivered.
pub fn ssm_agent_online(ping_status: Option<&str>) -> bool {
    ping_status == Some("Online")
}

/// Where an SSM command invocation is, as its `Status` and `StatusDetails`
/// say together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandClass {
    /// The agent has not taken it (yet): `Pending`, `Delayed`, or not
    /// visible yet.
    NotStarted,
    /// `In Progress`, `Cancelling`.
    Running,
    Succeeded,
    /// It ran and ended unsuccessfully (a non-zero exit code).
    Failed,
    /// It never ran and never will: the agent did not take it in time
    /// (`Delivery Timed Out`), could not be reached (`Undeliverable`), or
    /// refused it (`InvalidPlatform`, `AccessDenied`).
    NotDelivered,
    /// Its own execution timeout ended it (`Execution Timed Out`).
    TimedOut,
    /// Someone cancelled it (`CancelCommand`).
    Cancelled,
    /// SSM stopped it because the command as a whole passed its
    /// `MaxErrors` (another invocation failed).
    Terminated,
}

/// `StatusDetails` is spelled with spaces in the SSM API reference
/// ("Delivery Timed Out", "In Progress") and without in other places and
/// older answers ("DeliveryTimedOut"); "Canceled" and "Cancelled" both
/// occur. Compare letters only.
pub fn normalize_status(text: &str) -> String {
    let letters: String = text
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    if letters == "canceled" {
        "cancelled".to_string()
    } else {
        letters
    }
}

/// The one table of what SSM's statuses mean (pure). `StatusDetails` says
/// more than `Status` (a `TimedOut` status is either a delivery or an
/// execution timeout), so it decides; `Status` only when the details are
/// missing or unknown. Anything unknown counts as still running: the job
/// deadline bounds the wait.
pub fn classify_command(status: Option<&str>, details: Option<&str>) -> CommandClass {
    use CommandClass::*;
    let by_details = match details.map(normalize_status).as_deref() {
        Some("success") => Some(Succeeded),
        Some("pending" | "delayed") => Some(NotStarted),
        Some("inprogress" | "cancelling") => Some(Running),
        Some("deliverytimedout" | "undeliverable" | "invalidplatform" | "accessdenied") => {
            Some(NotDelivered)
        }
        Some("executiontimedout") => Some(TimedOut),
        Some("failed") => Some(Failed),
        Some("cancelled") => Some(Cancelled),
        Some("terminated") => Some(Terminated),
        _ => None,
    };
    by_details.unwrap_or(match status.map(normalize_status).as_deref() {
        None | Some("pending" | "delayed") => NotStarted,
        Some("success") => Succeeded,
        Some("failed") => Failed,
        Some("timedout") => TimedOut,
        Some("cancelled") => Cancelled,
        _ => Running,
    })
}

/// The EC2 `StateReason` code of a stop the instance's own operating
/// system made (the job ran `shutdown -h now`): the only stop that is the
/// job's own end.
pub const OWN_SHUTDOWN_REASON: &str = "Client.InstanceInitiatedShutdown";

/// Whether a stop with this `StateReason` code is the job ending itself.
pub fn stopped_by_its_own_os(state_reason: Option<&str>) -> bool {
    state_reason.is_some_and(|reason| {
        reason
            .split(':')
            .next()
            .is_some_and(|code| code.trim() == OWN_SHUTDOWN_REASON)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_status_table() {
        use RdsClass::*;
        let table = [
            ("available", Available),
            ("stopped", Stopped),
            ("stopping", Stopping),
            ("starting", Transitional),
            ("backing-up", Transitional),
            ("modifying", Transitional),
            ("rebooting", Transitional),
            ("configuring-enhanced-monitoring", Transitional),
            ("configuring-iam-database-auth", Transitional),
            ("configuring-log-exports", Transitional),
            ("maintenance", Transitional),
            ("upgrading", Transitional),
            ("renaming", Transitional),
            ("resetting-master-credentials", Transitional),
            ("storage-optimization", Transitional),
            ("creating", Transitional),
            ("failed", Unrecoverable),
            ("deleting", Unrecoverable),
            ("delete-precheck", Unrecoverable),
            ("storage-full", Unrecoverable),
            ("inaccessible-encryption-credentials", Unrecoverable),
            (
                "inaccessible-encryption-credentials-recoverable",
                Unrecoverable,
            ),
            ("incompatible-parameters", Unrecoverable),
            ("incompatible-network", Unrecoverable),
            ("incompatible-option-group", Unrecoverable),
            ("incompatible-restore", Unrecoverable),
            ("insufficient-capacity", Unrecoverable),
            ("restore-error", Unrecoverable),
            ("some-future-status", Transitional),
        ];
        for (status, expected) in table {
            assert_eq!(classify_rds_status(status), expected, "{status}");
        }
    }

    #[test]
    fn ec2_state_table() {
        use Ec2Class::*;
        let table = [
            ("pending", Pending),
            ("running", Running),
            ("stopping", Stopping),
            ("stopped", Stopped),
            ("shutting-down", Gone),
            ("terminated", Gone),
            ("", Pending),
        ];
        for (state, expected) in table {
            assert_eq!(classify_ec2_state(state), expected, "{state}");
        }
    }

    #[test]
    fn command_status_table() {
        use CommandClass::*;
        // (Status, StatusDetails) as GetCommandInvocation answers them.
        let table = [
            (None, None, NotStarted),
            (Some("Pending"), Some("Pending"), NotStarted),
            (Some("Delayed"), Some("Delayed"), NotStarted),
            (Some("InProgress"), Some("In Progress"), Running),
            (Some("Cancelling"), Some("Cancelling"), Running),
            (Some("Success"), Some("Success"), Succeeded),
            (Some("Failed"), Some("Failed"), Failed),
            (Some("Failed"), Some("Undeliverable"), NotDelivered),
            (Some("Failed"), Some("Terminated"), Terminated),
            (Some("Failed"), Some("InvalidPlatform"), NotDelivered),
            (Some("Failed"), Some("Invalid Platform"), NotDelivered),
            (Some("Failed"), Some("AccessDenied"), NotDelivered),
            (Some("Failed"), Some("Access Denied"), NotDelivered),
            (Some("TimedOut"), Some("Delivery Timed Out"), NotDelivered),
            (Some("TimedOut"), Some("DeliveryTimedOut"), NotDelivered),
            (Some("TimedOut"), Some("Execution Timed Out"), TimedOut),
            (Some("TimedOut"), Some("ExecutionTimedOut"), TimedOut),
            (Some("Cancelled"), Some("Cancelled"), Cancelled),
            (Some("Cancelled"), Some("Canceled"), Cancelled),
            // Details missing or unknown: the status decides.
            (Some("Success"), None, Succeeded),
            (Some("Failed"), None, Failed),
            (Some("TimedOut"), None, TimedOut),
            (Some("Cancelled"), Some("Something New"), Cancelled),
            (Some("InProgress"), None, Running),
            (Some("SomethingNew"), None, Running),
        ];
        for (status, details, expected) in table {
            assert_eq!(
                classify_command(status, details),
                expected,
                "{status:?} / {details:?}"
            );
        }
    }

    #[test]
    fn only_the_os_shutdown_is_the_jobs_own_stop() {
        let table = [
            (Some("Client.InstanceInitiatedShutdown"), true),
            (
                Some("Client.InstanceInitiatedShutdown: Instance initiated shutdown"),
                true,
            ),
            (Some("Client.UserInitiatedShutdown"), false),
            (Some("Server.ScheduledStop"), false),
            (Some("Server.SpotInstanceShutdown"), false),
            (Some("Client.UserInitiatedHibernate"), false),
            (Some("Server.InternalError"), false),
            (Some(""), false),
            (None, false),
        ];
        for (reason, own) in table {
            assert_eq!(stopped_by_its_own_os(reason), own, "{reason:?}");
        }
    }

    #[test]
    fn ping_status() {
        assert!(ssm_agent_online(Some("Online")));
        for other in [Some("ConnectionLost"), Some("Inactive"), None] {
            assert!(!ssm_agent_online(other));
        }
    }
}
