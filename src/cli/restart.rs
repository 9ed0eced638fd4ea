//! `deployer restart`: a new deployment of the revision the service runs, followed like `apply`.
//! The workflow is [`crate::ops::restart`]; this adapts the arguments and prints.

use anyhow::Result;
use clap::Args;

use super::{confirm, GlobalArgs};
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::ops::restart;
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer restart --env prod --yes      new tasks of the same revision (after a secret rotated)
  deployer restart --no-wait && deployer wait")]
pub struct RestartArgs {
    /// Restart without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Do not wait for the ECS deployment to complete.
    #[arg(long)]
    no_wait: bool,

    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &RestartArgs, printer: &Printer) -> Result<Exit> {
    let prepared = restart::prepare(&global.target(), printer).await?;
    let service = prepared.session.ctx.names.service.clone();
    printer.info(&format!(
        "Restart {service}: new tasks of\n  {}\nreplace the running ones, as in any deployment.",
        prepared.task_definition
    ));
    if !confirm(printer, args.yes, "Restart?")? {
        printer.info("Restart cancelled; nothing was changed.");
        return Ok(Exit::Success);
    }
    let interrupt = Interrupt::listen();
    let restarted = prepared.execute().await?;
    match (&restarted.deployment_id, args.no_wait) {
        (Some(id), false) => {
            printer.info(&format!("Started deployment {id}."));
            restarted.follow(args.timeout, &interrupt).await?;
            printer.info("Restart complete: every task is new.");
        }
        (Some(id), true) => printer.info(&format!(
            "Started deployment {id}; follow it with `deployer wait`."
        )),
        (None, _) => printer.warn("ECS reported no deployment to follow; not waiting"),
    }
    Ok(Exit::Success)
}
