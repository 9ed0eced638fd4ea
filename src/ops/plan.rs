//! `plan`: read the live stack and work out what `apply` (or `destroy`) would do. Changes
//! nothing, in AWS or in the state.

use anyhow::{anyhow, Result};

use super::image::{self, ImageChoice, Missing};
use super::{Session, Target};
use crate::contract::{Resource, Step, StepId};
use crate::engine::{self, Operation, Plan};
use crate::exit::{Exit, ExitError};
use crate::printer::Printer;
use crate::registry::STACK;
use crate::resources::task_definition::TaskDefinition;

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

/// Reads the scope's resources of the session's stack, decides the image to deploy from what runs
/// (and `choice`) when the scope has the task definition, then plans an apply with it.
pub async fn read_for_apply(
    session: &mut Session,
    scope: &Scope,
    adopt: bool,
    choice: Option<&ImageChoice>,
    missing: Missing,
) -> Result<Plan> {
    let reading = {
        let _progress = session.ctx.printer.progress("Reading the live stack");
        engine::read(&session.ctx, scope.steps(), Operation::Apply, adopt).await?
    };
    // A targeted run without the task definition deploys no image: nothing to decide or check
    // (the first image may not even be pushed yet).
    if scope.includes(TaskDefinition::STEP) {
        image::decide(session, choice, &reading.facts, missing).await?;
    }
    engine::judge(&session.ctx, scope.steps(), reading)
}

/// What `plan` plans.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
    pub operation: Operation,
    /// As `apply --adopt`.
    pub adopt: bool,
    /// As `destroy --force-delete-images`.
    pub force_delete_images: bool,
}

/// Opens the stack without taking its lock and plans `options.operation` for `scope`.
pub async fn plan(
    target: &Target,
    printer: &Printer,
    scope: &Scope,
    options: &PlanOptions,
) -> Result<(Session, Plan)> {
    let PlanOptions {
        operation, adopt, ..
    } = *options;
    let mut session = target.open(printer, None).await?;
    session.ctx.force_delete_images = options.force_delete_images;
    let plan = match operation {
        Operation::Apply => {
            read_for_apply(&mut session, scope, adopt, None, Missing::Warns).await?
        }
        Operation::Destroy => read(&session, scope, operation, adopt).await?,
    };
    Ok((session, plan))
}
