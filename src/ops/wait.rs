//! `wait`: follow the service's current deployment to its end, with the exit codes of `apply`
//! (0 completed, 4 failed or rolled back, 5 still going after the timeout, 130 interrupted). For
//! use after `apply --no-wait`, or to watch a deployment someone else started.

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::DeploymentRolloutState;

use super::rollout::Rollout;
use super::Target;
use crate::aws::ecs::{active, describe_services, primary_deployment, target_group_arn};
use crate::contract::Ctx;
use crate::interrupt::Interrupt;
use crate::printer::Printer;

/// How a wait ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// The deployment was already complete: nothing to wait for.
    AlreadyComplete(String),
    /// It completed while followed.
    Completed(String),
}

/// Follows the service's PRIMARY deployment. Reads only; takes no lock.
pub async fn wait(
    target: &Target,
    printer: &Printer,
    timeout: Option<u64>,
    interrupt: &Interrupt,
) -> Result<Waited> {
    let session = target.open(printer, None).await?;
    follow_primary(&session.ctx, timeout, interrupt).await
}

/// Follows the PRIMARY deployment of the stack's service until it completes (or returns at once
/// when it already has): what `wait` does, and what a replacement waits for between its steps.
pub async fn follow_primary(
    ctx: &Ctx,
    timeout: Option<u64>,
    interrupt: &Interrupt,
) -> Result<Waited> {
    let services = describe_services(&ctx.aws.ecs, &ctx.names.cluster, &ctx.names.service).await?;
    let service = active(&services).ok_or_else(|| {
        anyhow!(
            "ECS service {} does not exist; nothing to wait for",
            ctx.names.service
        )
    })?;
    let deployment_id = primary_deployment(service)
        .ok_or_else(|| anyhow!("ECS service {} lists no deployment", ctx.names.service))?;
    let complete = service.deployments().iter().any(|d| {
        d.id() == Some(deployment_id.as_str())
            && d.rollout_state() == Some(&DeploymentRolloutState::Completed)
    });
    if complete {
        return Ok(Waited::AlreadyComplete(deployment_id));
    }
    let target_group_arn = target_group_arn(service);
    Rollout::new(ctx, deployment_id.clone(), target_group_arn, timeout)
        .follow(interrupt)
        .await?;
    Ok(Waited::Completed(deployment_id))
}
