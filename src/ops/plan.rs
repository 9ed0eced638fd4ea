//! `plan`: read the live stack and work out what `apply` (or `destroy`) would do. Changes
//! nothing, in AWS or in the state.

use anyhow::{anyhow, Result};

use super::{Session, Target};
use crate::contract::{Step, StepId};
use crate::engine::{self, Operation, Plan};
use crate::exit::{Exit, ExitError};
use crate::printer::Printer;
use crate::registry::STACK;

/// The steps a run reads and acts on: the whole stack, or (`--target`, as Terraform's `-target`)
/// only the named steps and what they depend on. A targeted run neither reads nor changes the
/// rest, so it is for getting a stack started (`--target ecr_repository` makes the repository the
/// first image is pushed to), not for keeping one.
#[derive(Clone)]
pub struct Scope {
    steps: Vec<&'static dyn Step>,
    /// The steps named on the command line; empty for the whole stack.
    targets: Vec<StepId>,
}

impl Scope {
    /// Every step of the stack.
    pub fn whole() -> Self {
        Scope {
            steps: STACK.to_vec(),
            targets: Vec::new(),
        }
    }

    /// The steps `targets` name (step keys, as `plan --json` shows them) and what they depend
    /// on; the whole stack when `targets` is empty. An unknown name is invalid input (exit 3),
    /// with the list of steps.
    pub fn targeting(targets: &[String]) -> Result<Self> {
        if targets.is_empty() {
            return Ok(Self::whole());
        }
        let steps = engine::with_dependencies(STACK, targets).map_err(|why| {
            ExitError::new(
                Exit::InvalidInput,
                anyhow!("--target {}: {why}", targets.join(", ")),
            )
        })?;
        let targets = STACK
            .iter()
            .map(|s| s.id())
            .filter(|id| targets.iter().any(|t| t == id.key()))
            .collect();
        Ok(Scope { steps, targets })
    }

    pub fn steps(&self) -> &[&'static dyn Step] {
        &self.steps
    }

    /// The steps named with `--target`, in stack order; empty for the whole stack.
    pub fn targets(&self) -> &[StepId] {
        &self.targets
    }

    pub fn is_whole(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn includes(&self, step: StepId) -> bool {
        self.steps.iter().any(|s| s.id() == step)
    }

    /// The keys of the steps the run works on, in stack order.
    pub fn keys(&self) -> Vec<&'static str> {
        self.steps.iter().map(|s| s.id().key()).collect()
    }
}

/// Reads the scope's resources of the session's stack, with a progress line while it waits.
pub async fn read(
    session: &Session,
    scope: &Scope,
    operation: Operation,
    adopt: bool,
) -> Result<Plan> {
    let _progress = session.ctx.printer.progress("Reading the live stack");
    engine::plan(&session.ctx, scope.steps(), operation, adopt).await
}

/// Opens the stack without taking its lock and plans `operation` for `scope`.
pub async fn plan(
    target: &Target,
    printer: &Printer,
    scope: &Scope,
    operation: Operation,
    adopt: bool,
) -> Result<(Session, Plan)> {
    let session = target.open(printer, None).await?;
    let plan = read(&session, scope, operation, adopt).await?;
    Ok((session, plan))
}
