//! One module per kind of AWS resource, each implementing
//! [`Resource`](crate::contract::Resource): read by deterministic name, compare with the
//! configuration (pure), create, update in place, delete.
//!
//! The modules import the contract and `crate::aws`, never each other; the registry
//! (`crate::registry`) lists them in the stack's order.

pub mod certificate;
pub mod cluster;
pub mod dns_records;
pub mod ecr_repository;
pub mod execution_role;
pub mod given_certificate;
pub mod hosted_zone;
pub mod listener;
pub mod load_balancer;
pub mod log_group;
pub mod network;
pub mod redirect_listener;
pub mod security_group;
pub mod service;
pub mod target_group;
pub mod task_definition;
pub mod task_role;
