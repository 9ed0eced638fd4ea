//! `deployer apply`: plan, confirm, converge, record the outputs, and follow the deployment until
//! ECS says it succeeded.

use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::Args;

use super::report::{self, Summary};
use super::{confirm, GlobalArgs};
use crate::config::check_image_reference;
use crate::engine::{self, Action, Ctx, Finished, ImageChoice, Pass, Plan, StepId};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::resources::image_exists;
use crate::rollout::Rollout;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Take over resources found under this stack's names that lack its tags.
    #[arg(long)]
    adopt: bool,

    /// Deploy this tag of the stack's ECR repository instead of the configured image (kept by
    /// later runs until the configured image changes).
    #[arg(long, value_name = "TAG", conflicts_with = "image")]
    image_tag: Option<String>,

    /// Deploy this image instead of the configured one (kept by later runs until the configured
    /// image changes).
    #[arg(long, value_name = "URI")]
    image: Option<String>,

    /// Do not wait for the ECS deployment to complete.
    #[arg(long)]
    no_wait: bool,

    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

impl ApplyArgs {
    /// The image chosen on the command line, checked before anything else happens.
    fn image_choice(&self) -> Result<Option<ImageChoice>> {
        let invalid = |what: String| ExitError::new(Exit::InvalidInput, anyhow!(what));
        if let Some(tag) = &self.image_tag {
            check_image_reference(&format!("repository:{tag}"))
                .map_err(|why| invalid(format!("--image-tag {tag:?} is not a valid tag: {why}")))?;
            return Ok(Some(ImageChoice::Tag(tag.clone())));
        }
        if let Some(image) = &self.image {
            check_image_reference(image)
                .map_err(|why| invalid(format!("--image {image:?} is not a valid image: {why}")))?;
            return Ok(Some(ImageChoice::Uri(image.clone())));
        }
        Ok(None)
    }
}

pub async fn run(global: &GlobalArgs, args: &ApplyArgs, printer: &Printer) -> Result<Exit> {
    let chosen_image = args.image_choice()?;
    let config = global.load_config()?;
    let _lock = global.lock(&config, "apply")?;
    let (state_file, state) = global.load_state(&config)?;
    let aws = global.connect(&config).await;
    let mut ctx = Ctx::new(config, aws, state_file, state, args.adopt, printer.clone());
    if let Some(choice) = chosen_image.clone() {
        ctx.image = choice;
    }

    let plan = {
        let _progress = printer.progress("Reading the live stack");
        engine::plan(&ctx, Pass::Apply).await?
    };
    if chosen_image.is_some() {
        check_image(&ctx, &plan).await?;
    }
    let summary = Summary::of(plan.actions().iter().map(|(_, r)| &r.action));
    if plan.has_changes() {
        printer.info(&format!(
            "Plan for {}-{}:",
            ctx.config.project, ctx.config.environment
        ));
        for line in report::plan_lines(&plan) {
            printer.info(&line);
        }
        printer.info(&format!("Plan: {}.", summary.line()));
        if !confirm(printer, args.yes, "Apply these changes?")? {
            printer.info("Apply cancelled; nothing was changed.");
            return Ok(Exit::Success);
        }
    }

    let interrupt = Interrupt::listen();
    let progress = printer.progress("Applying");
    let mut service_changed = false;
    // Every step is reported, changed or not, so the log shows the whole stack.
    let facts = engine::execute(&ctx, plan, &interrupt, |step, finished| {
        if let (StepId::Service, Finished::Done(result)) = (step, finished) {
            service_changed = matches!(result.action, Action::Create | Action::Update(_));
        }
        for line in report::finished_lines(step, finished) {
            progress.line(printer, &line);
        }
    })
    .await;
    drop(progress);
    let facts = facts?;
    let outputs = report::outputs(&ctx.config, &ctx.names, &facts);
    ctx.save_outputs(outputs.clone())?;
    let deployed_image = chosen_image.map(|_| ctx.image(&facts));
    ctx.record_deployment(deployed_image, facts.task_definition_arn.as_deref())?;

    if summary == Summary::default() {
        printer.info("No changes: the stack already matches the configuration.");
    } else {
        printer.info(&format!(
            "Apply complete: {} created, {} updated.",
            summary.create, summary.update
        ));
    }
    printer.info("\nOutputs:");
    for name in report::OUTPUT_NAMES {
        if let Some(value) = outputs.get(name) {
            printer.info(&format!("  {name} = {value}"));
        }
    }

    match (&facts.deployment_id, service_changed && !args.no_wait) {
        (Some(deployment_id), true) => {
            let timeout = args
                .timeout
                .unwrap_or(ctx.config.timeouts.deployment.into());
            Rollout {
                ctx: &ctx,
                deployment_id: deployment_id.clone(),
                target_group_arn: facts.target_group_arn.clone(),
                timeout: Duration::from_secs(timeout),
            }
            .follow(&interrupt)
            .await?;
            printer.info("Deployment complete: every new task is running.");
        }
        (_, true) => printer.warn("ECS reported no deployment to follow; not waiting"),
        _ => {}
    }
    Ok(Exit::Success)
}

/// Stops with a clear message when the image to deploy is not in this account's ECR.
async fn check_image(ctx: &Ctx, plan: &Plan) -> Result<()> {
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
