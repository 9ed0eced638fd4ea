//! `deployer rollback`: put the service back on the task definition revision deployed before the
//! current one (or on the one `--to` names), and follow that deployment as `apply` does.

use anyhow::Result;
use clap::Args;

use super::{confirm, GlobalArgs};
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::ops::rollback;
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer rollback --env prod --yes          back to the revision deployed before this one
  deployer rollback --env prod --to 41 --yes  to revision 41 of the stack's task definition family

The revisions come from ECS (the service's deployments, the family's ACTIVE revisions), so a
rollback works without the state file, on any runner.")]
pub struct RollbackArgs {
    /// Roll back without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// The revision to go back to: a number of the stack's task definition family, FAMILY:NUMBER,
    /// or an ARN (default: the one deployed before the current one).
    #[arg(long, value_name = "REVISION")]
    to: Option<String>,

    /// Do not wait for the ECS deployment to complete.
    #[arg(long)]
    no_wait: bool,

    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &RollbackArgs, printer: &Printer) -> Result<Exit> {
    let prepared = rollback::prepare(&global.target(), printer, args.to.as_deref()).await?;
    let service = prepared.session.ctx.names.service.clone();
    printer.info(&format!(
        "Roll back {service} from\n  {}\nto\n  {} ({})",
        prepared.current, prepared.previous, prepared.image
    ));
    if !confirm(printer, args.yes, "Roll back?")? {
        printer.info("Rollback cancelled; nothing was changed.");
        return Ok(Exit::Success);
    }
    let interrupt = Interrupt::listen();
    let previous = prepared.previous.clone();
    let rolled_back = prepared.execute().await?;
    printer.info(&format!("Service {service} now runs {previous}."));
    if rolled_back.has_deployment() && !args.no_wait {
        rolled_back.follow(args.timeout, &interrupt).await?;
        printer.info("Rollback complete: every task runs the previous revision.");
    }
    Ok(Exit::Success)
}
