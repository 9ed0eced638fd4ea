//! `deployer rollback`: put the service back on the task definition revision deployed before the
//! current one, and follow that deployment as `apply` does.

use anyhow::Result;
use clap::Args;

use super::{confirm, GlobalArgs};
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::ops::rollback;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Roll back without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,

    /// Do not wait for the ECS deployment to complete.
    #[arg(long)]
    no_wait: bool,

    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &RollbackArgs, printer: &Printer) -> Result<Exit> {
    let prepared = rollback::prepare(&global.target(), printer).await?;
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
