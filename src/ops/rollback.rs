//! `rollback`: put the service back on the task definition revision deployed before the current
//! one, and follow that deployment as `apply` does.

use anyhow::{anyhow, Context as _, Result};

use super::rollout::Rollout;
use super::{Session, Target};
use crate::aws::ecs::{app_container, describe_service, primary_deployment};
use crate::aws::AwsResultExt;
use crate::contract::Resource;
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::resources::target_group::TargetGroup;

/// A rollback worked out, under the environment's lock, ready to be carried out.
pub struct PreparedRollback {
    pub session: Session,
    /// The revision the service runs now.
    pub current: String,
    /// The revision it goes back to.
    pub previous: String,
    /// The image of that revision.
    pub image: String,
}

/// Finds the revision to go back to and its image. Changes nothing.
pub async fn prepare(target: &Target, printer: &Printer) -> Result<PreparedRollback> {
    let session = target.open(printer, Some("rollback")).await?;
    let ctx = &session.ctx;
    let ecs = &ctx.aws.ecs;
    let service = describe_service(ecs, &ctx.names).await?;
    let current = service
        .as_ref()
        .filter(|s| s.status() == Some("ACTIVE"))
        .and_then(|s| s.task_definition())
        .ok_or_else(|| {
            anyhow!(
                "ECS service {} does not exist; nothing to roll back",
                ctx.names.service
            )
        })?
        .to_owned();
    let Some(previous) = ctx.recorded.rollback_target(&current) else {
        return Err(ExitError::new(
            Exit::InvalidInput,
            anyhow!(
                "no revision before {current} is recorded in {}; deploy one with `deployer \
                 apply --image-tag` first",
                session.store.location()
            ),
        )
        .into());
    };
    let previous = previous.to_owned();
    let definition = ecs
        .describe_task_definition()
        .task_definition(&previous)
        .send()
        .await
        .or_context(format!("reading {previous}"))?;
    let container = &ctx.config.container.name;
    let image = definition
        .task_definition()
        .and_then(|d| app_container(d, container))
        .and_then(|c| c.image())
        .with_context(|| format!("{previous} has no container named {container}"))?
        .to_owned();
    Ok(PreparedRollback {
        session,
        current,
        previous,
        image,
    })
}

/// A rollback carried out: the service runs the previous revision (or is on its way to).
pub struct RolledBack {
    session: Session,
    deployment_id: Option<String>,
}

impl PreparedRollback {
    /// Points the service at the previous revision and records it.
    pub async fn execute(self) -> Result<RolledBack> {
        let PreparedRollback {
            session,
            previous,
            image,
            ..
        } = self;
        let ctx = &session.ctx;
        let updated = ctx
            .aws
            .ecs
            .update_service()
            .cluster(&ctx.names.cluster)
            .service(&ctx.names.service)
            .task_definition(&previous)
            .send()
            .await
            .or_context(format!("rolling back ECS service {}", ctx.names.service))?;
        let image_override = ctx.image_override(image);
        session.store.record_rollback(&previous, image_override)?;
        let deployment_id = updated.service().and_then(primary_deployment);
        Ok(RolledBack {
            session,
            deployment_id,
        })
    }
}

impl RolledBack {
    /// Whether ECS reported a deployment to follow.
    pub fn has_deployment(&self) -> bool {
        self.deployment_id.is_some()
    }

    /// Follows the rollback's deployment as `apply` does (exit codes 4, 5, 130).
    pub async fn follow(&self, timeout: Option<u64>, interrupt: &Interrupt) -> Result<()> {
        let Some(deployment_id) = &self.deployment_id else {
            return Ok(());
        };
        let ctx = &self.session.ctx;
        let target_group_arn = ctx
            .recorded(TargetGroup::STEP.key())
            .and_then(|r| r.arn.clone());
        Rollout::new(ctx, deployment_id.clone(), target_group_arn, timeout)
            .follow(interrupt)
            .await
    }
}
