//! Shared core of the makenaide-orchestrator step Lambdas: the state
//! document, execution input, deployment configuration, stable error names,
//! the state decision tables, the cost model and thin AWS adapters.

pub mod aws;
pub mod config;
pub mod cost;
pub mod document;
pub mod error;
pub mod input;
pub mod runtime;
pub mod states;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timestamp;

pub use error::{ErrorName, StepError};
pub use timestamp::Timestamp;
