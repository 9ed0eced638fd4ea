//! `restart` (and `apply --force-new-deployment`): a new deployment of the revision the service
//! already runs, so that new tasks start — after a secret's value rotated, say, which ECS reads
//! only when a task starts. One `UpdateService` with `forceNewDeployment`, no new revision; the
//! deployment is followed like any other.

use anyhow::Result;

use super::rollout::follow_started;
use super::{Session, Target};
use crate::aws::ecs::{primary_deployment, target_group_arn};
use crate::aws::AwsResultExt;
use crate::contract::Ctx;
use crate::interrupt::Interrupt;
use crate::printer::Printer;

/// The service to restart, found under the environment's lock.
pub struct PreparedRestart {
    pub session: Session,
    /// The revision the service runs, which the new tasks run too.
    pub task_definition: String,
    /// The service's target group, for the rollout's target health lines.
    target_group_arn: Option<String>,
}

/// Finds the running service. Changes nothing.
pub async fn prepare(target: &Target, printer: &Printer) -> Result<PreparedRestart> {
    let session = target.open(printer, Some("restart")).await?;
    let ctx = &session.ctx;
    let service = &ctx.active_service().await?;
    let task_definition = service.task_definition().unwrap_or_default().to_owned();
    let target_group_arn = target_group_arn(service);
    Ok(PreparedRestart {
        session,
        task_definition,
        target_group_arn,
    })
}

/// A restart under way: the deployment it started.
pub struct Restarted {
    session: Session,
    pub deployment_id: Option<String>,
    target_group_arn: Option<String>,
}

impl PreparedRestart {
    /// Starts the new deployment.
    pub async fn execute(self) -> Result<Restarted> {
        let deployment_id = force_new_deployment(&self.session.ctx).await?;
        Ok(Restarted {
            session: self.session,
            deployment_id,
            target_group_arn: self.target_group_arn,
        })
    }
}

impl Restarted {
    /// Follows the deployment as `apply` does (exit codes 4, 5, 130).
    pub async fn follow(&self, timeout: Option<u64>, interrupt: &Interrupt) -> Result<()> {
        follow_started(
            &self.session.ctx,
            self.deployment_id.as_deref(),
            self.target_group_arn.clone(),
            None,
            timeout,
            interrupt,
        )
        .await
    }
}

/// One `UpdateService` with `forceNewDeployment`: ECS starts new tasks of the revision the
/// service runs and stops the old ones as for any deployment. Returns the deployment it started.
pub async fn force_new_deployment(ctx: &Ctx) -> Result<Option<String>> {
    let updated = ctx
        .aws
        .ecs
        .update_service()
        .cluster(&ctx.names.cluster)
        .service(&ctx.names.service)
        .force_new_deployment(true)
        .send()
        .await
        .or_context(format!(
            "starting a new deployment of ECS service {}",
            ctx.names.service
        ))?;
    Ok(updated.service().and_then(primary_deployment))
}
