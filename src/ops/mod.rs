//! The workflows behind the commands: `apply`, `plan`, `destroy`, `rollback`, `restart`,
//! `scale`, `status`, `wait`, `logs`, `run`, `exec`, `import`, and following a deployment. Each takes plain options (no command-line types) and gives back what
//! happened, so that the command line only adapts arguments and prints.
//!
//! This layer owns the state file ([`StateStore`] is its only writer) and the lock; it hands the
//! engine the registry's steps.

pub mod apply;
pub mod backend;
pub mod destroy;
pub mod exec;
pub mod image;
pub mod import;
pub mod logs;
pub mod outputs;
pub mod plan;
pub mod release;
pub mod restart;
pub mod rollback;
pub mod rollout;
pub mod scale;
pub mod state;
mod state_store;
pub mod status;
pub mod takeover;
mod target;
pub mod task;
pub mod wait;

pub use state_store::StateStore;
pub use target::{Session, Target};
