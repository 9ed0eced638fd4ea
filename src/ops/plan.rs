//! `plan`: read the live stack and work out what `apply` (or `destroy`) would do. Changes
//! nothing, in AWS or in the state.

use anyhow::Result;

use super::image::{self, ImageChoice, Missing};
use super::{Session, Target};
use crate::engine::{self, Operation, Plan};
use crate::printer::Printer;
use crate::registry::STACK;

/// Reads every resource of the session's stack, with a progress line while it waits, and plans
/// `operation` with the image the session has decided already.
pub async fn read(session: &Session, operation: Operation, adopt: bool) -> Result<Plan> {
    let _progress = session.ctx.printer.progress("Reading the live stack");
    engine::plan(&session.ctx, STACK, operation, adopt).await
}

/// Reads every resource of the session's stack, decides the image to deploy from what runs (and
/// `choice`), then plans an apply with it.
pub async fn read_for_apply(
    session: &mut Session,
    adopt: bool,
    choice: Option<&ImageChoice>,
    missing: Missing,
) -> Result<Plan> {
    let reading = {
        let _progress = session.ctx.printer.progress("Reading the live stack");
        engine::read(&session.ctx, STACK, Operation::Apply, adopt).await?
    };
    image::decide(session, choice, &reading.facts, missing).await?;
    engine::judge(&session.ctx, STACK, reading)
}

/// Opens the stack without taking its lock and plans `operation`.
pub async fn plan(
    target: &Target,
    printer: &Printer,
    operation: Operation,
    adopt: bool,
) -> Result<(Session, Plan)> {
    let mut session = target.open(printer, None).await?;
    let plan = match operation {
        Operation::Apply => read_for_apply(&mut session, adopt, None, Missing::Warns).await?,
        Operation::Destroy => read(&session, operation, adopt).await?,
    };
    Ok((session, plan))
}
