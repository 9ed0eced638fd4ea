//! deployer puts one containerized web service on AWS ECS Fargate behind an Application Load
//! Balancer, and takes it away again.
//!
//! The crate is split the way the work is: [`config`] reads what the user wants, [`state`] keeps
//! what was made, [`aws`] talks to AWS, [`resources`] knows each kind of AWS resource, [`engine`]
//! runs the resource steps in dependency order, and [`cli`] adapts command-line arguments to all of
//! that. `main.rs` only maps the outcome to an exit code.

pub mod aws;
pub mod cli;
pub mod config;
pub mod engine;
pub mod exit;
pub mod iam_policy;
pub mod interrupt;
pub mod lock;
pub mod names;
pub mod printer;
pub mod resources;
pub mod rollout;
pub mod state;
