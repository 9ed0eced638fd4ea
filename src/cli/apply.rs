//! `deployer apply`: plan, confirm, converge, record the outputs.

use anyhow::Result;
use clap::Args;

use super::report::{self, Summary};
use super::{confirm, GlobalArgs};
use crate::engine::{self, Ctx, Pass};
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Take over resources found under this stack's names that lack its tags.
    #[arg(long)]
    adopt: bool,
}

pub async fn run(global: &GlobalArgs, args: &ApplyArgs, printer: &Printer) -> Result<Exit> {
    let config = global.load_config()?;
    let _lock = global.lock(&config, "apply")?;
    let (state_file, state) = global.load_state(&config)?;
    let aws = global.connect(&config).await;
    let ctx = Ctx::new(config, aws, state_file, state, args.adopt, printer.clone());

    let plan = {
        let _progress = printer.progress("Reading the live stack");
        engine::plan(&ctx, Pass::Apply).await?
    };
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

    let progress = printer.progress("Applying");
    // Every step is reported, changed or not, so the log shows the whole stack.
    let facts = engine::execute(&ctx, plan, &Interrupt::listen(), |step, finished| {
        for line in report::finished_lines(step, finished) {
            progress.line(printer, &line);
        }
    })
    .await;
    drop(progress);
    let facts = facts?;
    let outputs = report::outputs(&ctx.config, &ctx.names, &facts);
    ctx.save_outputs(outputs.clone())?;

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
    Ok(Exit::Success)
}
