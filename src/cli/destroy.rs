//! `deployer destroy`: delete, in reverse order, everything this tool created for the
//! environment — and only that.

use anyhow::Result;
use clap::Args;

use super::report::{self, Summary};
use super::{confirm, GlobalArgs};
use crate::engine::{self, Ctx, Pass};
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Destroy without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,
}

pub async fn run(global: &GlobalArgs, args: &DestroyArgs, printer: &Printer) -> Result<Exit> {
    let config = global.load_config()?;
    let _lock = global.lock(&config, "destroy")?;
    let (state_file, state) = global.load_state(&config)?;
    let aws = global.connect(&config).await;
    let ctx = Ctx::new(config, aws, state_file, state, false, printer.clone());

    let plan = {
        let _progress = printer.progress("Reading the live stack");
        engine::plan(&ctx, Pass::Destroy).await?
    };
    if !plan.has_changes() {
        ctx.forget_all()?;
        printer.info(&format!(
            "Nothing to destroy: no resource of {}-{} exists.",
            ctx.config.project, ctx.config.environment
        ));
        return Ok(Exit::Success);
    }
    let summary = Summary::of(plan.actions().iter().map(|(_, r)| &r.action));
    printer.info(&format!(
        "Destroy plan for {}-{}:",
        ctx.config.project, ctx.config.environment
    ));
    for line in report::plan_lines(&plan) {
        printer.info(&line);
    }
    printer.info(&format!("Plan: {}.", summary.line()));
    let question = format!(
        "Delete these resources of {}-{}? This cannot be undone.",
        ctx.config.project, ctx.config.environment
    );
    if !confirm(printer, args.yes, &question)? {
        printer.info("Destroy cancelled; nothing was deleted.");
        return Ok(Exit::Success);
    }

    // From here on the outputs describe a stack that is going away.
    ctx.save_outputs(Default::default())?;
    let progress = printer.progress("Destroying");
    let result = engine::execute(&ctx, plan, &Interrupt::listen(), |step, finished| {
        for line in report::finished_lines(step, finished) {
            progress.line(printer, &line);
        }
    })
    .await;
    drop(progress);
    result?;
    ctx.forget_all()?;
    printer.info(&format!("Destroy complete: {} deleted.", summary.delete));
    Ok(Exit::Success)
}
