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

/// Where an SSM command invocation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandClass {
    /// Pending, InProgress, Delayed, Cancelling, or not visible yet.
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

pub fn classify_command_status(status: Option<&str>) -> CommandClass {
    match status {
        Some("Success") => CommandClass::Succeeded,
        Some("Failed") | Some("Undeliverable") | Some("Terminated") => CommandClass::Failed,
        Some("Cancelled") => CommandClass::Cancelled,
        Some("TimedOut") | Some("DeliveryTimedOut") | Some("ExecutionTimedOut") => {
            CommandClass::TimedOut
        }
        _ => CommandClass::Running,
    }
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
        let table = [
            (Some("Pending"), Running),
            (Some("InProgress"), Running),
            (Some("Delayed"), Running),
            (Some("Cancelling"), Running),
            (None, Running),
            (Some("Success"), Succeeded),
            (Some("Failed"), Failed),
            (Some("Undeliverable"), Failed),
            (Some("Terminated"), Failed),
            (Some("Cancelled"), Cancelled),
            (Some("TimedOut"), TimedOut),
            (Some("DeliveryTimedOut"), TimedOut),
            (Some("ExecutionTimedOut"), TimedOut),
        ];
        for (status, expected) in table {
            assert_eq!(classify_command_status(status), expected, "{status:?}");
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
