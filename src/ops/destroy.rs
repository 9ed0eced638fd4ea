//! `destroy`: delete, in reverse order, everything this tool created for the environment — and
//! only that.

use anyhow::Result;

use super::plan::Scope;
use super::{Session, Target};
use crate::contract::StepId;
use crate::engine::{self, Finished, Operation, Outcome, Plan};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::registry::STACK;

/// What destroy found, under the environment's lock, ready to be carried out.
pub struct PreparedDestroy {
    pub session: Session,
    pub plan: Plan,
}

/// Opens the stack under its lock and reads what exists of it. Changes nothing.
/// `force_delete_images` deletes a repository this tool took over with its images (by default
/// it is kept while it holds any).
pub async fn prepare(
    target: &Target,
    printer: &Printer,
    force_delete_images: bool,
) -> Result<PreparedDestroy> {
    let mut session = target.open(printer, Some("destroy")).await?;
    session.ctx.force_delete_images = force_delete_images;
    let plan = super::plan::read(&session, &Scope::whole(), Operation::Destroy, false).await?;
    Ok(PreparedDestroy { session, plan })
}

impl PreparedDestroy {
    /// With nothing to delete, the state has nothing left to record either: forget it.
    pub fn finish_empty(&self) -> Result<()> {
        self.session.store.forget_all()
    }

    /// Deletes what the plan found, reporting every step (in reverse order) as it finishes, and
    /// forgets the state once nothing is left in it.
    pub async fn execute(
        self,
        interrupt: &Interrupt,
        mut report: impl FnMut(StepId, &Finished<Outcome>),
    ) -> Result<()> {
        let PreparedDestroy { session, plan } = self;
        // From here on the outputs describe a stack that is going away.
        session.store.save_outputs(Default::default())?;
        engine::execute(
            &session.ctx,
            STACK,
            plan,
            &session.store,
            interrupt,
            &mut report,
        )
        .await?;
        // What an unfinished replacement was retiring goes too, now that nothing uses it.
        let retiring = &session.ctx.recorded.retiring;
        engine::retire(
            &session.ctx,
            STACK,
            retiring,
            &session.store,
            interrupt,
            &mut report,
        )
        .await?;
        session.store.forget_all()
    }
}
