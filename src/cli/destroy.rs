//! `deployer destroy`: delete, in reverse order, everything this tool created for the
//! environment — and only that. The workflow is [`crate::ops::destroy`]; this adapts the
//! arguments and prints.

use anyhow::Result;
use clap::Args;

use super::report::{self, Summary};
use super::{confirm, GlobalArgs};
use crate::engine::{Action, Finished};
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::ops::destroy;
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer destroy --env dev
  deployer destroy --env dev --yes
  deployer destroy --env dev --yes --force-delete-images

An ECR repository deployer took over (deployer import, apply --adopt) rather than created is kept,
with its images, while it holds any: the rest of the stack is destroyed and the run says so
(exit 0). --force-delete-images deletes it and its images too.")]
pub struct DestroyArgs {
    /// Destroy without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Also delete an ECR repository that deployer took over (import, apply --adopt) and the
    /// images in it; without this it is kept while it holds images.
    #[arg(long)]
    force_delete_images: bool,
}

pub async fn run(global: &GlobalArgs, args: &DestroyArgs, printer: &Printer) -> Result<Exit> {
    let prepared = destroy::prepare(&global.target(), printer, args.force_delete_images).await?;
    let config = &prepared.session.ctx.config;
    let (project, environment) = (config.project.clone(), config.environment.clone());
    if !prepared.plan.has_changes() {
        // What is left alone is still worth saying: it has one of this stack's names.
        for (step, outcome) in prepared.plan.outcomes() {
            if matches!(outcome.action, Action::NotOurs(_) | Action::Kept(_)) {
                for line in report::step_lines(step, outcome, false) {
                    printer.info(&line);
                }
            }
        }
        prepared.finish_empty()?;
        let kept = prepared
            .plan
            .outcomes()
            .iter()
            .any(|(_, o)| matches!(o.action, Action::Kept(_)));
        printer.info(&if kept {
            format!("Nothing to destroy: what is left of {project}-{environment} is kept (above).")
        } else {
            format!(
                "Nothing to destroy: no resource of {project}-{environment} that is this \
                 stack's exists."
            )
        });
        return Ok(Exit::Success);
    }
    let planned = Summary::of_plan(&prepared.plan);
    printer.info(&format!("Destroy plan for {project}-{environment}:"));
    for line in report::plan_lines(&prepared.plan) {
        printer.info(&line);
    }
    printer.info(&format!("Plan: {}.", planned.line()));
    // Deleting the repository deletes the images in it: worth saying before anyone agrees.
    let images = if prepared
        .plan
        .outcomes()
        .iter()
        .any(|(step, o)| step.key() == "ecr_repository" && o.action == Action::Delete)
    {
        " The ECR repository is deleted with every image in it."
    } else {
        ""
    };
    let question = format!(
        "Delete these resources of {project}-{environment}?{images} This cannot be undone."
    );
    if !confirm(printer, args.yes, &question)? {
        printer.info("Destroy cancelled; nothing was deleted.");
        return Ok(Exit::Success);
    }

    let progress = printer.progress("Destroying");
    let mut done = Summary::default();
    let mut left = Vec::new();
    let mut kept = Vec::new();
    let result = prepared
        .execute(&Interrupt::listen(), |step, finished| {
            if let Finished::Done(outcome) = finished {
                done.count(&outcome.action);
                match &outcome.action {
                    Action::NotOurs(_) => left.push(step.label()),
                    Action::Kept(why) => kept.push(format!(
                        "{} {} ({why})",
                        step.label(),
                        outcome.id.as_deref().unwrap_or_default()
                    )),
                    _ => {}
                }
            }
            for line in report::finished_lines(step, finished) {
                progress.line(printer, &line);
            }
        })
        .await;
    drop(progress);
    if let Err(error) = result {
        // Say what is already gone: the run stopped partway.
        if done.delete > 0 {
            printer.info(&format!(
                "Destroy stopped: {} deleted before the error below; run it again once that is \
                 fixed.",
                done.delete
            ));
        }
        return Err(error);
    }
    let mut summary = format!("Destroy complete: {} deleted", done.delete);
    if !left.is_empty() {
        summary.push_str(&format!("; left alone as not ours: {}", left.join(", ")));
    }
    if !kept.is_empty() {
        summary.push_str(&format!("; kept: {}", kept.join("; ")));
    }
    printer.info(&format!("{summary}."));
    Ok(Exit::Success)
}
