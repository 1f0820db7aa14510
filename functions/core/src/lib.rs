//! Shared core of the makenaide-orchestrator step Lambdas: the state
//! document, execution input, deployment settings, stable error names, the
//! state decision tables, the cost model, the ports the handlers call AWS
//! through, and the SDK adapters that implement them.

pub mod aws;
pub mod config;
pub mod cost;
pub mod document;
pub mod error;
pub mod input;
pub mod ports;
pub mod redact;
pub mod runtime;
pub mod settings;
pub mod states;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timestamp;

pub use error::{ErrorName, StepError};
pub use timestamp::Timestamp;
