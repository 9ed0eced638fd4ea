//! `deployer wait`: follow the service's current deployment to its end, with `apply`'s exit
//! codes. The workflow is [`crate::ops::wait`]; this adapts the arguments and prints.

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::ops::wait::{self, Waited};
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer apply --image-tag v42 --yes --no-wait && deployer wait --timeout 600

Exit codes: 0 the deployment completed, 4 it failed or was rolled back, 5 it was still going
after the timeout, 130 interrupted.")]
pub struct WaitArgs {
    /// Seconds to wait for the deployment to complete (default: timeouts.deployment).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

pub async fn run(global: &GlobalArgs, args: &WaitArgs, printer: &Printer) -> Result<Exit> {
    let interrupt = Interrupt::listen();
    match wait::wait(&global.target(), printer, args.timeout, &interrupt).await? {
        Waited::AlreadyComplete(id) => printer.info(&format!(
            "Deployment {id} is complete; nothing to wait for."
        )),
        Waited::Completed(id) => printer.info(&format!(
            "Deployment {id} complete: every new task is running."
        )),
    }
    Ok(Exit::Success)
}
