//! `deployer scale N`: sets the service's desired count now. The workflow is
//! [`crate::ops::scale`]; this adapts the arguments and prints.

use anyhow::Result;
use clap::Args;

use super::{confirm, GlobalArgs};
use crate::exit::Exit;
use crate::ops::scale;
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(
    after_help = "A new count is not a deployment: ECS starts or stops tasks of the \
revision the service runs, and the command returns once ECS has the new count (see the tasks \
with `deployer status`). With [autoscaling] the count must be within its min and max, and \
`apply` never changes it; without, the next `apply` sets service.desired_count again.

Examples:
  deployer scale 6 --env prod --yes      six tasks now (within [autoscaling] min-max)
  deployer scale 0 --yes                 stop every task, keep the stack"
)]
pub struct ScaleArgs {
    /// The number of tasks to run.
    #[arg(value_name = "COUNT")]
    count: u32,

    /// Scale without asking for confirmation (for CI).
    #[arg(long, short = 'y', visible_alias = "auto-approve")]
    yes: bool,
}

pub async fn run(global: &GlobalArgs, args: &ScaleArgs, printer: &Printer) -> Result<Exit> {
    let prepared = scale::prepare(&global.target(), printer, args.count).await?;
    let service = prepared.session.ctx.names.service.clone();
    let (current, count) = (prepared.current, prepared.count);
    if current == count {
        printer.info(&format!(
            "ECS service {service} already has a desired count of {count}; nothing to change."
        ));
        return Ok(Exit::Success);
    }
    printer.info(&format!(
        "Scale ECS service {service}: desired count {current} -> {count}."
    ));
    match prepared.range {
        Some((min, max)) => printer.info(&format!(
            "[autoscaling] keeps it within {min}-{max} and may move it from there."
        )),
        None => printer.warn(&format!(
            "the configuration has no [autoscaling], so the next `deployer apply` sets the \
             count back to service.desired_count ({}); change that to keep {count}",
            prepared.session.ctx.config.service.desired_count
        )),
    }
    if !confirm(printer, args.yes, "Scale?")? {
        printer.info("Scale cancelled; nothing was changed.");
        return Ok(Exit::Success);
    }
    let now = prepared.execute().await?;
    printer.info(&format!(
        "ECS service {service} now has a desired count of {now}; ECS starts or stops tasks to \
         match (`deployer status` shows them)."
    ));
    Ok(Exit::Success)
}
