//! One module per kind of AWS resource, each implementing [`Resource`](crate::engine::Resource):
//! read by deterministic name, compare with the configuration (pure), create, update in place,
//! delete.
//!
//! This module maps engine steps to those implementations and holds the reads that several steps
//! share, so that each is made once per run.

mod cluster;
mod ecr_repository;
mod execution_role;
mod listener;
mod load_balancer;
mod log_group;
mod network;
mod security_group;
mod service;
mod target_group;
mod task_definition;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use anyhow::Result;
use tokio::sync::OnceCell;

use crate::engine::{
    apply_step, destroy_step, judge_step, read_step, Ctx, Facts, Found, Pass, Planned, Read,
    StepId, StepResult,
};

pub use ecr_repository::image_exists;
/// Reads shared by several steps of one run, each made once by whichever step asks first.
#[derive(Default)]
pub(crate) struct ReadCache {
    /// Both security groups, from one `DescribeSecurityGroups`.
    security_groups: OnceCell<Vec<aws_sdk_ec2::types::SecurityGroup>>,
    /// ARNs of the load balancer, target group and listener, as their reads find them, so that
    /// one `DescribeTags` call answers for all of them.
    elb_arns: Mutex<BTreeSet<String>>,
    elb_tags: OnceCell<HashMap<String, Vec<(String, String)>>>,
}
pub use service::{describe_service, primary_deployment};

/// Runs `$body` with `$R` bound to the resource type of `$step`.
macro_rules! with_resource {
    ($step:expr, $R:ident => $body:expr) => {
        match $step {
            StepId::Network => {
                type $R = network::Network;
                $body
            }
            StepId::AlbSecurityGroup => {
                type $R = security_group::AlbSecurityGroup;
                $body
            }
            StepId::EcsSecurityGroup => {
                type $R = security_group::EcsSecurityGroup;
                $body
            }
            StepId::EcrRepository => {
                type $R = ecr_repository::EcrRepository;
                $body
            }
            StepId::ExecutionRole => {
                type $R = execution_role::ExecutionRole;
                $body
            }
            StepId::LogGroup => {
                type $R = log_group::LogGroup;
                $body
            }
            StepId::LoadBalancer => {
                type $R = load_balancer::LoadBalancer;
                $body
            }
            StepId::TargetGroup => {
                type $R = target_group::TargetGroup;
                $body
            }
            StepId::Listener => {
                type $R = listener::Listener;
                $body
            }
            StepId::Cluster => {
                type $R = cluster::Cluster;
                $body
            }
            StepId::TaskDefinition => {
                type $R = task_definition::TaskDefinition;
                $body
            }
            StepId::Service => {
                type $R = service::Service;
                $body
            }
        }
    };
}

pub(crate) async fn read(
    step: StepId,
    ctx: &Ctx,
    facts: &Mutex<Facts>,
    pass: Pass,
) -> Result<Read> {
    with_resource!(step, R => read_step::<R>(ctx, facts, pass).await)
}

pub(crate) fn judge(step: StepId, ctx: &Ctx, facts: &Facts, read: Read) -> Planned {
    with_resource!(step, R => judge_step::<R>(ctx, facts, read))
}

pub(crate) async fn apply(
    step: StepId,
    ctx: &Ctx,
    facts: &Mutex<Facts>,
    planned: Found,
) -> Result<StepResult> {
    with_resource!(step, R => apply_step::<R>(ctx, facts, planned).await)
}

pub(crate) async fn destroy(step: StepId, ctx: &Ctx, planned: Found) -> Result<StepResult> {
    with_resource!(step, R => destroy_step::<R>(ctx, planned).await)
}

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`), for ARNs built by hand.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
