//! `deployer plan`: what apply (or destroy) would do, read from the live account; changes
//! nothing.

use anyhow::Result;
use clap::Args;

use super::report::{self, PlanJson, Summary};
use super::GlobalArgs;
use crate::engine::Operation;
use crate::exit::Exit;
use crate::ops;
use crate::ops::plan::Scope;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Print the plan as JSON on stdout (see the README for its format).
    #[arg(long)]
    json: bool,

    /// Exit 0 when there is nothing to change, 2 when there is, 1 on error (as Terraform does).
    #[arg(long)]
    detailed_exitcode: bool,

    /// Show what destroy would delete instead.
    #[arg(long)]
    destroy: bool,

    /// With --destroy: plan what `destroy --force-delete-images` would do (delete a repository
    /// deployer took over with its images).
    #[arg(long, requires = "destroy")]
    force_delete_images: bool,

    /// Plan to take over resources found under this stack's names without its tags, as
    /// `apply --adopt` would.
    #[arg(long)]
    adopt: bool,

    /// Plan only this step and the steps it depends on, as `apply --target` would (repeatable).
    #[arg(long, value_name = "STEP", conflicts_with = "destroy")]
    target: Vec<String>,
}

pub async fn run(global: &GlobalArgs, args: &PlanArgs, printer: &Printer) -> Result<Exit> {
    let operation = if args.destroy {
        Operation::Destroy
    } else {
        Operation::Apply
    };
    let scope = Scope::targeting(&args.target)?;
    let options = ops::plan::PlanOptions {
        operation,
        adopt: args.adopt,
        force_delete_images: args.force_delete_images,
    };
    let (session, plan) = ops::plan::plan(&global.target(), printer, &scope, &options).await?;
    let targeted = report::targeted_note(&scope);
    if args.json {
        let json = PlanJson::new(&session.ctx.config, &plan, &scope);
        printer.data(&serde_json::to_string_pretty(&json)?);
    } else {
        if let Some(note) = &targeted {
            printer.data(note);
        }
        for line in report::plan_lines(&plan) {
            printer.data(&line);
        }
        let summary = Summary::of_plan(&plan);
        if plan.has_changes() {
            printer.data(&format!("Plan: {}.", summary.line()));
        } else if args.destroy {
            printer.data("Nothing to destroy: no resource of the stack's own exists.");
        } else if targeted.is_some() {
            printer.data("No changes: the targeted steps match the configuration.");
        } else {
            printer.data("No changes: the stack matches the configuration.");
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Exit::ChangesPending
    } else {
        Exit::Success
    })
}
