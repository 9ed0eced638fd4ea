//! deployer puts one containerized web service on AWS ECS Fargate behind an Application Load
//! Balancer, and takes it away again.
//!
//! The crate is layered, and each layer only calls the ones below it:
//!
//! ```text
//! cli -> ops -> engine -> contract <- resources -> aws -> config / names / state
//!          \-> registry ------------------/
//! ```
//!
//! [`cli`] adapts command-line arguments and prints; [`ops`] holds the workflows (apply, destroy,
//! rollback, status) and is the one writer of the state; [`engine`] walks the resource steps in
//! dependency order; [`contract`] is what every resource provides; [`resources`] has one file per
//! kind of AWS resource; [`registry`] lists them; [`aws`] holds each AWS idiom once; [`config`]
//! reads what the user wants, [`names`] derives what everything is called, [`state`] keeps what
//! was made. `main.rs` only maps the outcome to an exit code.

pub mod aws;
pub mod cli;
pub mod config;
pub mod contract;
pub mod engine;
pub mod exit;
pub mod iam_policy;
pub mod interrupt;
pub mod lock;
pub mod names;
pub mod ops;
pub mod printer;
pub mod registry;
pub mod resources;
pub mod state;
pub mod terraform;
