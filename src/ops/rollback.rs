//! `rollback`: put the service back on the task definition revision deployed before the current
//! one (or on a revision named with `--to`), and follow that deployment as `apply` does.
//!
//! The revisions come from ECS, not from the state file, so a rollback works on a runner that
//! never deployed (a fresh CI runner): the service's deployments, the `PreviousRevision` tag of
//! the revision it runs, and the family's ACTIVE revisions.

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState};

use super::rollout::follow_started;
use super::{Session, Target};
use crate::aws::ecs::{active, primary_deployment};
use crate::aws::AwsResultExt;
use crate::contract::{Ctx, Resource, Revision};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::names::{shown_image, ImageSource};
use crate::printer::Printer;
use crate::resources::target_group::TargetGroup;
use crate::resources::task_definition::{active_revisions, revision, revision_number};
use crate::state::ImageOverride;

/// A rollback worked out, under the environment's lock, ready to be carried out.
pub struct PreparedRollback {
    pub session: Session,
    /// The revision the service runs now.
    pub current: String,
    /// The revision it goes back to.
    pub previous: String,
    /// The image of that revision, with the tag it was deployed as.
    pub image: String,
    /// That revision, as its tags describe it.
    target: Revision,
}

fn invalid(what: String) -> anyhow::Error {
    ExitError::new(Exit::InvalidInput, anyhow!(what)).into()
}

/// Finds the revision to go back to (`to`: a revision number, `family:number` or an ARN; by
/// default the one deployed before the current one) and its image. Changes nothing.
///
/// Errors: exit 3 when there is no such revision, or nothing before the current one.
pub async fn prepare(
    target: &Target,
    printer: &Printer,
    to: Option<&str>,
) -> Result<PreparedRollback> {
    let session = target.open(printer, Some("rollback")).await?;
    let ctx = &session.ctx;
    let services = ctx.services().await?;
    let service = active(&services).ok_or_else(|| {
        anyhow!(
            "ECS service {} does not exist; nothing to roll back",
            ctx.names.service
        )
    })?;
    let current = service.task_definition().unwrap_or_default().to_owned();
    let reference = match to {
        Some(to) => named_revision(ctx, to),
        None => previous_revision(ctx, &current, service.deployments()).await?,
    };
    let found = match &reference {
        Some(reference) => revision(ctx, reference).await?,
        None => None,
    };
    let Some(found) = found else {
        let family = &ctx.names.task_family;
        return Err(invalid(match to {
            Some(to) => format!(
                "--to {to}: there is no ACTIVE revision {} of family {family}",
                reference.as_deref().unwrap_or(to)
            ),
            None => format!(
                "no revision before {current} is ACTIVE in family {family}; nothing to roll \
                 back to"
            ),
        }));
    };
    if found.arn == current {
        return Err(invalid(format!(
            "the service runs {current} already; nothing to roll back"
        )));
    }
    let image = shown_image(
        &found.image,
        found.origin.as_ref().map(|o| o.requested.as_str()),
    );
    if let Some(origin) = &found.origin {
        if origin.configured != ctx.config.container.image {
            ctx.printer.warn(&format!(
                "{} was deployed when container.image was {}; the configuration now names {}, \
                 which the next plain `apply` deploys",
                found.arn, origin.configured, ctx.config.container.image
            ));
        }
    }
    Ok(PreparedRollback {
        session,
        current,
        previous: found.arn.clone(),
        image,
        target: found,
    })
}

/// `--to`: a revision number of the stack's family, `family:number`, or an ARN.
fn named_revision(ctx: &Ctx, to: &str) -> Option<String> {
    let to = to.trim();
    if to.is_empty() {
        return None;
    }
    Some(if to.chars().all(|c| c.is_ascii_digit()) {
        format!("{}:{to}", ctx.names.task_family)
    } else {
        to.to_owned()
    })
}

/// The revision deployed before `current`, from ECS:
///
/// 1. while a deployment is under way, the revision of the deployment it replaces (one that
///    completed, not one ECS is rolling back from);
/// 2. the revision the current one's `PreviousRevision` tag names, when it is still ACTIVE;
/// 3. the newest ACTIVE revision of the family older than the current one.
async fn previous_revision(
    ctx: &Ctx,
    current: &str,
    deployments: &[Deployment],
) -> Result<Option<String>> {
    if let Some(replaced) = replaced_deployment(current, deployments) {
        return Ok(Some(replaced));
    }
    let recorded = revision(ctx, current)
        .await?
        .and_then(|revision| revision.previous);
    let active = active_revisions(ctx).await?;
    Ok(choose_previous(current, recorded.as_deref(), &active))
}

/// The revision of a deployment that completed before the one under way, if any.
fn replaced_deployment(current: &str, deployments: &[Deployment]) -> Option<String> {
    deployments
        .iter()
        .filter(|d| d.status() != Some("PRIMARY"))
        .filter(|d| d.rollout_state() == Some(&DeploymentRolloutState::Completed))
        .filter_map(|d| d.task_definition())
        .find(|arn| *arn != current)
        .map(str::to_owned)
}

/// Steps 2 and 3 of [`previous_revision`]: `active` are the family's ACTIVE revisions.
fn choose_previous(current: &str, recorded: Option<&str>, active: &[String]) -> Option<String> {
    if let Some(recorded) = recorded.filter(|r| *r != current && active.iter().any(|a| a == r)) {
        return Some(recorded.to_owned());
    }
    let number = revision_number(current);
    active
        .iter()
        .filter(|arn| revision_number(arn) < number)
        .max_by_key(|arn| revision_number(arn))
        .cloned()
}

/// A rollback carried out: the service runs the previous revision (or is on its way to).
pub struct RolledBack {
    session: Session,
    deployment_id: Option<String>,
}

impl PreparedRollback {
    /// Points the service at the previous revision, and caches in the state the image override
    /// it runs.
    pub async fn execute(self) -> Result<RolledBack> {
        let PreparedRollback {
            session,
            previous,
            target,
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
        let configured = &ctx.config.container.image;
        let image_override = match &target.origin {
            Some(origin) => (origin.source == ImageSource::Override).then(|| ImageOverride {
                image: target.image.clone(),
                configured: origin.configured.clone(),
            }),
            // A revision without the tags: as an older deployer recorded it.
            None => (target.image != *configured).then(|| ImageOverride {
                image: target.image.clone(),
                configured: configured.clone(),
            }),
        };
        session.store.record_image_override(image_override)?;
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
        let ctx = &self.session.ctx;
        let target_group_arn = ctx
            .recorded(TargetGroup::STEP.key())
            .and_then(|r| r.arn.clone());
        let deployment_id = self.deployment_id.as_deref();
        follow_started(
            ctx,
            deployment_id,
            target_group_arn,
            None,
            timeout,
            interrupt,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILY: &str = "arn:aws:ecs:eu-central-1:1:task-definition/app";

    fn arn(n: u32) -> String {
        format!("{FAMILY}:{n}")
    }

    fn deployment(status: &str, rollout: DeploymentRolloutState, n: u32) -> Deployment {
        Deployment::builder()
            .status(status)
            .rollout_state(rollout)
            .task_definition(arn(n))
            .build()
    }

    #[test]
    fn the_recorded_previous_revision_wins_while_it_is_active() {
        let active = [arn(4), arn(3), arn(2), arn(1)];
        // 4 was deployed after a rollback to 2: back to 2, not to 3.
        assert_eq!(
            choose_previous(&arn(4), Some(&arn(2)), &active),
            Some(arn(2))
        );
        // Deregistered since: the newest older one.
        assert_eq!(
            choose_previous(&arn(4), Some(&arn(9)), &active[..2]),
            Some(arn(3))
        );
        // No tag (registered by hand or by an older deployer): the newest older one.
        assert_eq!(choose_previous(&arn(3), None, &active), Some(arn(2)));
        assert_eq!(choose_previous(&arn(1), None, &active), None);
    }

    #[test]
    fn a_deployment_under_way_goes_back_to_the_one_it_replaces_not_to_a_failed_one() {
        let under_way = [
            deployment("PRIMARY", DeploymentRolloutState::InProgress, 5),
            deployment("ACTIVE", DeploymentRolloutState::Completed, 4),
        ];
        assert_eq!(replaced_deployment(&arn(5), &under_way), Some(arn(4)));
        // ECS rolling back from a failed 5 to 4: 5 is not what came before.
        let rolling_back = [
            deployment("PRIMARY", DeploymentRolloutState::InProgress, 4),
            deployment("ACTIVE", DeploymentRolloutState::Failed, 5),
        ];
        assert_eq!(replaced_deployment(&arn(4), &rolling_back), None);
    }
}
