//! `deployer apply`: plan, confirm, converge, record the outputs, and follow the deployment until
//! ECS says it succeeded. The workflow is [`crate::ops::apply`]; this adapts the arguments and
//! prints.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use clap::Args;

use super::report::{self, Summary};
use super::{confirm, GlobalArgs};
use crate::config::{check_image_reference, redact_credentials};
use crate::contract::ImageChoice;
use crate::contract::StepId;
use crate::engine::{Action, Finished};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::ops::apply::{self, ApplyOptions};
use crate::ops::outputs::OUTPUT_NAMES;
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer apply --env dev                   show the plan, ask, apply, follow the deployment
  deployer apply --image-tag \"$GIT_SHA\" --yes  deploy a pushed image from CI
  deployer apply --yes --skip-release        a new revision without running [release] command

Exit codes: 0 success, 1 error, 3 invalid input, 4 deployment failed or rolled back, 5 timed
out, 6 the release command failed (the service stays on its revision), 130 interrupted.")]
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

    /// Start a new deployment of the service even when nothing about it changes (new tasks
    /// read rotated secrets), as `deployer restart` does.
    #[arg(long)]
    force_new_deployment: bool,

    /// Do not wait for the ECS deployment to complete.
    #[arg(long)]
    no_wait: bool,

    /// Deploy a new revision without running `[release] command` first.
    #[arg(long)]
    skip_release: bool,

    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,

    /// Converge only this step and the steps it depends on, as Terraform's -target (repeatable).
    /// For a first deploy: `--target ecr_repository` creates just the repository, so that the
    /// first image can be pushed before the service is created. Steps: network,
    /// alb_security_group, ecs_security_group, ecr_repository, execution_role, task_role,
    /// log_group, load_balancer, target_group, listener, cluster, task_definition, service.
    #[arg(long, value_name = "STEP")]
    target: Vec<String>,
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
            check_image_reference(image).map_err(|why| {
                let shown = redact_credentials(image);
                invalid(format!("--image {shown:?} is not a valid image: {why}"))
            })?;
            return Ok(Some(ImageChoice::Uri(image.clone())));
        }
        Ok(None)
    }
}

pub async fn run(global: &GlobalArgs, args: &ApplyArgs, printer: &Printer) -> Result<Exit> {
    let options = ApplyOptions {
        adopt: args.adopt,
        image: args.image_choice()?,
        force_new_deployment: args.force_new_deployment,
        wait: !args.no_wait,
        targets: args.target.clone(),
        skip_release: args.skip_release,
    };
    let prepared = apply::prepare(&global.target(), printer, &options).await?;
    let config = &prepared.session.ctx.config;
    let targeted = report::targeted_note(&prepared.scope);
    if let Some(note) = &targeted {
        printer.warn(note);
    }
    if prepared.plan.has_changes() || args.force_new_deployment {
        let planned = Summary::of_plan(&prepared.plan);
        printer.info(&format!(
            "Plan for {}-{}:",
            config.project, config.environment
        ));
        for line in report::plan_lines(&prepared.plan) {
            printer.info(&line);
        }
        printer.info(&format!("Plan: {}.", planned.line()));
        if !confirm(printer, args.yes, "Apply these changes?")? {
            printer.info("Apply cancelled; nothing was changed.");
            return Ok(Exit::Success);
        }
    }

    let interrupt = Interrupt::listen();
    let progress = printer.progress("Applying");
    // Every step is reported, changed or not, so the log shows the whole stack; the summary
    // counts what was really done, once per resource (a replacement passes over some twice).
    let mut done: BTreeMap<StepId, Action> = BTreeMap::new();
    let applied = prepared
        .execute(&interrupt, args.timeout, |step, finished| {
            if let Finished::Done(outcome) = finished {
                remember(&mut done, step, &outcome.action);
            }
            for line in report::finished_lines(step, finished) {
                progress.line(printer, &line);
            }
        })
        .await;
    drop(progress);
    let applied = applied?;
    let done = Summary::of(done.values());

    if done == Summary::default() && applied.service_changed {
        printer
            .info("Apply complete: no resource changed; a new deployment of the service started.");
    } else if done == Summary::default() && targeted.is_some() {
        printer.info("No changes: the targeted steps already match the configuration.");
    } else if done == Summary::default() {
        printer.info("No changes: the stack already matches the configuration.");
    } else {
        let mut extra = String::new();
        if done.replace > 0 {
            extra.push_str(&format!(", {} replaced", done.replace));
        }
        if done.delete > 0 {
            extra.push_str(&format!(", {} deleted", done.delete));
        }
        printer.info(&format!(
            "Apply complete: {} created, {} updated{extra}.",
            done.create, done.update
        ));
    }
    if targeted.is_some() {
        printer.info(
            "Only the targeted steps were converged; run `deployer apply` without --target to \
             converge the rest of the stack.",
        );
    }
    printer.info("\nOutputs:");
    for name in OUTPUT_NAMES {
        if let Some(value) = applied.outputs.get(name) {
            printer.info(&format!("  {name} = {value}"));
        }
    }

    if applied.service_changed && !args.no_wait {
        if applied.deployment_id().is_some() {
            applied.follow(args.timeout, &interrupt).await?;
            printer.info("Deployment complete: every new task is running.");
        } else {
            printer.warn("ECS reported no deployment to follow; not waiting");
        }
    }
    Ok(Exit::Success)
}

/// Keeps, per resource, the most telling thing done to it: a replacement (whose old resource
/// is deleted at the end) over an update, a create over an update.
fn remember(done: &mut BTreeMap<StepId, Action>, step: StepId, action: &Action) {
    if !action.is_change() {
        return;
    }
    let rank = |a: &Action| match a {
        Action::Replace(_) => 3,
        Action::Create => 2,
        Action::Update(_) => 1,
        _ => 0,
    };
    match done.get(&step) {
        Some(earlier) if rank(earlier) >= rank(action) => {}
        _ => {
            done.insert(step, action.clone());
        }
    }
}
