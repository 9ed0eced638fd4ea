//! `plan`: read the live stack and work out what `apply` (or `destroy`) would do. Changes
//! nothing, in AWS or in the state.

use anyhow::Result;

use super::{Session, Target};
use crate::engine::{self, Operation, Plan};
use crate::printer::Printer;
use crate::registry::STACK;

/// Reads every resource of the session's stack, with a progress line while it waits.
pub async fn read(session: &Session, operation: Operation, adopt: bool) -> Result<Plan> {
    let _progress = session.ctx.printer.progress("Reading the live stack");
    engine::plan(&session.ctx, STACK, operation, adopt).await
}

/// Opens the stack without taking its lock and plans `operation`.
pub async fn plan(
    target: &Target,
    printer: &Printer,
    operation: Operation,
    adopt: bool,
) -> Result<(Session, Plan)> {
    let session = target.open(printer, None).await?;
    let plan = read(&session, operation, adopt).await?;
    Ok((session, plan))
}
