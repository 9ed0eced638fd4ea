//! `apply`: plan, then converge the stack to the configuration, record the outputs and the
//! deployment, and follow the ECS deployment it started until ECS says it succeeded.
//!
//! It comes in stages so that the command line can show the plan and ask between them:
//! [`prepare`] reads and checks, [`PreparedApply::execute`] changes AWS, and
//! [`Applied::follow`] waits for the deployment.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, Result};

use super::outputs::outputs;
use super::rollout::Rollout;
use super::{Session, Target};
use crate::contract::StepId;
use crate::contract::{Facts, ImageChoice, Resource};
use crate::engine::{self, Action, Finished, Operation, Outcome, Plan};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::registry::STACK;
use crate::resources::ecr_repository::image_exists;
use crate::resources::service::Service;
use crate::state::ImageOverride;

/// What `apply` was asked to do besides converging.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Take over resources found under this stack's names that lack its tags.
    pub adopt: bool,
    /// The image chosen on the command line, if any.
    pub image: Option<ImageChoice>,
}

/// A plan read and checked, under the environment's lock, ready to be carried out.
pub struct PreparedApply {
    pub session: Session,
    pub plan: Plan,
    image_chosen: bool,
}

/// Opens the stack under its lock, reads it, and checks that an image chosen on the command line
/// exists. Changes nothing.
pub async fn prepare(
    target: &Target,
    printer: &Printer,
    options: &ApplyOptions,
) -> Result<PreparedApply> {
    let mut session = target.open(printer, Some("apply")).await?;
    if let Some(choice) = &options.image {
        session.ctx.image = choice.clone();
    }
    let plan = super::plan::read(&session, Operation::Apply, options.adopt).await?;
    if options.image.is_some() {
        check_image(&session, &plan).await?;
    }
    Ok(PreparedApply {
        session,
        plan,
        image_chosen: options.image.is_some(),
    })
}

/// What an apply did.
pub struct Applied {
    pub session: Session,
    pub facts: Facts,
    /// The outputs, as recorded in the state.
    pub outputs: BTreeMap<String, String>,
    /// Whether the ECS service was created or changed, which starts a deployment.
    pub service_changed: bool,
}

impl PreparedApply {
    /// Carries out the plan, reporting every step (in the documented order) as it finishes, then
    /// records the outputs and the deployment in the state.
    pub async fn execute(
        self,
        interrupt: &Interrupt,
        mut report: impl FnMut(StepId, &Finished<Outcome>),
    ) -> Result<Applied> {
        let PreparedApply {
            session,
            plan,
            image_chosen,
        } = self;
        let mut service_changed = false;
        let facts = engine::execute(
            &session.ctx,
            STACK,
            plan,
            &session.store,
            interrupt,
            |step, finished| {
                if let (true, Finished::Done(outcome)) = (step == Service::STEP, finished) {
                    service_changed = matches!(outcome.action, Action::Create | Action::Update(_));
                }
                report(step, finished);
            },
        )
        .await?;
        let ctx = &session.ctx;
        let outputs = outputs(&ctx.config, &ctx.names, &facts);
        session.store.save_outputs(outputs.clone())?;
        // An image chosen on the command line is kept by later runs until the configured image
        // changes; the configured image itself needs no record.
        let image_override = image_chosen.then(|| {
            let image = ctx.image(&facts);
            (image != ctx.config.container.image).then(|| ImageOverride {
                image,
                configured: ctx.config.container.image.clone(),
            })
        });
        session
            .store
            .record_deployment(image_override, facts.task_definition_arn.as_deref())?;
        Ok(Applied {
            session,
            facts,
            outputs,
            service_changed,
        })
    }
}

impl Applied {
    /// The deployment this apply started, if it started one.
    pub fn deployment_id(&self) -> Option<&str> {
        self.service_changed
            .then_some(self.facts.deployment_id.as_deref())
            .flatten()
    }

    /// Follows the deployment this apply started until it completes; an error carries exit code
    /// 4 (failed or rolled back), 5 (timed out, after `timeout` or `timeouts.deployment`
    /// seconds) or 130 (interrupted).
    pub async fn follow(&self, timeout: Option<u64>, interrupt: &Interrupt) -> Result<()> {
        let Some(deployment_id) = self.deployment_id() else {
            return Ok(());
        };
        let ctx = &self.session.ctx;
        Rollout {
            ctx,
            deployment_id: deployment_id.to_owned(),
            target_group_arn: self.facts.target_group_arn.clone(),
            timeout: Duration::from_secs(timeout.unwrap_or(ctx.config.timeouts.deployment.into())),
        }
        .follow(interrupt)
        .await
    }
}

/// Stops with a clear message when the image to deploy is not in this account's ECR.
async fn check_image(session: &Session, plan: &Plan) -> Result<()> {
    let ctx = &session.ctx;
    let missing = |what: String| -> anyhow::Error {
        ExitError::new(Exit::InvalidInput, anyhow!(what)).into()
    };
    match &ctx.image {
        ImageChoice::Tag(tag) => {
            let Some(url) = &plan.facts.repository_url else {
                return Err(missing(format!(
                    "--image-tag {tag}: the ECR repository {} does not exist yet; run `deployer \
                     apply` once without --image-tag to create the stack, push the image, then \
                     deploy it",
                    ctx.names.ecr_repository
                )));
            };
            if !image_exists(ctx, None, &ctx.names.ecr_repository, tag).await? {
                return Err(missing(format!(
                    "image {url}:{tag} is not in ECR; push it first (docker push {url}:{tag})"
                )));
            }
        }
        ImageChoice::Uri(image) => {
            // Only images in this account's ECR can be checked; others are the user's business.
            let account = plan
                .facts
                .repository_url
                .as_deref()
                .and_then(|url| url.split('.').next());
            if let Some((registry, repository, reference)) = ecr_parts(image) {
                if Some(registry) == account
                    && !image_exists(ctx, Some(registry), repository, reference).await?
                {
                    return Err(missing(format!(
                        "image {image} is not in ECR; push it first"
                    )));
                }
            }
        }
        ImageChoice::Recorded(_) => {}
    }
    Ok(())
}

/// Splits `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG` (or `@sha256:...`) into account,
/// repository and tag or digest; `None` for images outside ECR.
fn ecr_parts(image: &str) -> Option<(&str, &str, &str)> {
    let (host, rest) = image.split_once('/')?;
    let (account, domain) = host.split_once('.')?;
    if !domain.starts_with("dkr.ecr.") {
        return None;
    }
    let (repository, reference) = match rest.split_once('@') {
        Some((repository, digest)) => (repository, digest),
        None => rest.rsplit_once(':').unwrap_or((rest, "latest")),
    };
    Some((account, repository, reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_images_are_split_and_others_are_not() {
        assert_eq!(
            ecr_parts("946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:abc"),
            Some(("946760796955", "flask-tp-app", "abc"))
        );
        assert_eq!(
            ecr_parts("1.dkr.ecr.eu-central-1.amazonaws.com/team/app@sha256:00ff"),
            Some(("1", "team/app", "sha256:00ff"))
        );
        assert_eq!(
            ecr_parts("1.dkr.ecr.eu-central-1.amazonaws.com/app"),
            Some(("1", "app", "latest"))
        );
        assert_eq!(ecr_parts("nginx:1.27"), None);
        assert_eq!(ecr_parts("ghcr.io/org/app:1"), None);
    }
}
