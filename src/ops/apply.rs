//! `apply`: plan, then converge the stack to the configuration, record the outputs and the
//! deployment, and follow the ECS deployment it started until ECS says it succeeded.
//!
//! It comes in stages so that the command line can show the plan and ask between them:
//! [`prepare`] reads and checks, [`PreparedApply::execute`] changes AWS, and
//! [`Applied::follow`] waits for the deployment.

use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

use futures_util::future::LocalBoxFuture;

use super::image::{ImageChoice, Missing};
use super::outputs::outputs;
use super::plan::Scope;
use super::release::run_release;
use super::restart::force_new_deployment as force_new_deployment_of;
use super::rollout::follow_started;
use super::wait::follow_primary;
use super::{Session, Target};
use crate::aws::ecs::active;
use crate::contract::StepId;
use crate::contract::{Ctx, Facts, Resource, Stage};
use crate::engine::{self, Action, Finished, Gate, Operation, Outcome, Plan};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::registry::STACK;
use crate::resources::service::Service;
use crate::resources::target_group::TargetGroup;
use crate::resources::task_definition::TaskDefinition;

/// What `apply` was asked to do besides converging.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Take over resources found under this stack's names that lack its tags.
    pub adopt: bool,
    /// The image chosen on the command line, if any.
    pub image: Option<ImageChoice>,
    /// Start a new deployment even when the service itself does not change.
    pub force_new_deployment: bool,
    /// Follow the deployments apply starts. A replacement needs to: it moves traffic only once
    /// the service runs in the new resource.
    pub wait: bool,
    /// Step keys (`--target`): converge only these and what they depend on; empty for the
    /// whole stack.
    pub targets: Vec<String>,
    /// Do not run `[release] command` before the service gets a new revision.
    pub skip_release: bool,
}

/// A plan read and checked, under the environment's lock, ready to be carried out.
pub struct PreparedApply {
    pub session: Session,
    pub plan: Plan,
    /// The steps this run reads and converges.
    pub scope: Scope,
    /// Whether the run replaces (or retires) a resource the service uses, planned now or left
    /// unfinished by an earlier run: then it goes in stages, waiting for the service in between.
    replacing: bool,
    force_new_deployment: bool,
    skip_release: bool,
}

/// Opens the stack under its lock, reads it, decides the image to deploy (checking in ECR that
/// an image deployed anew exists, and pinning its digest) and plans. Changes nothing.
///
/// With targets, only they and what they depend on are read and converged. What needs the whole
/// stack is refused with [`Exit::InvalidInput`] before any change: deploying an image or forcing a
/// deployment without the service among the steps, and a replacement (planned now, or left
/// unfinished by an earlier run), whose stages move the service.
pub async fn prepare(
    target: &Target,
    printer: &Printer,
    options: &ApplyOptions,
) -> Result<PreparedApply> {
    let scope = Scope::targeting(&options.targets)?;
    check_scope(&scope, options)?;
    let mut session = target.open(printer, Some("apply")).await?;
    if !scope.is_whole() && !session.ctx.recorded.retiring.is_empty() {
        return Err(needs_whole_stack(
            "an earlier apply left a replacement unfinished, and finishing it moves the service",
        ));
    }
    // An earlier run left a replacement unfinished. Once the service runs in the replacement,
    // what is left is its last stages: going back to the first would move traffic back to the
    // old resource, which the service may have left already.
    if !session.ctx.recorded.retiring.is_empty() && runs_in_replacement(&session.ctx).await? {
        session.ctx.stage = Stage::Finish;
    }
    let plan = super::plan::read_for_apply(
        &mut session,
        &scope,
        options.adopt,
        options.image.as_ref(),
        Missing::Stops,
    )
    .await?;
    // Refused before anyone is asked, rather than after a "yes".
    engine::check(scope.steps(), &plan)?;
    let replacing = plan.has_retirements() || !session.ctx.recorded.retiring.is_empty();
    if replacing && !scope.is_whole() {
        return Err(needs_whole_stack(
            "this apply replaces or removes a resource the service uses, which happens in \
             stages that move the service",
        ));
    }
    if replacing && !options.wait {
        return Err(ExitError::new(
            Exit::InvalidInput,
            anyhow!(
                "nothing was changed: this apply replaces or removes a resource the service uses, \
                 which happens only once the service's deployment has completed, so it has to \
                 wait; run it without --no-wait"
            ),
        )
        .into());
    }
    Ok(PreparedApply {
        session,
        plan,
        scope,
        replacing,
        force_new_deployment: options.force_new_deployment,
        skip_release: options.skip_release,
    })
}

/// What an apply did.
pub struct Applied {
    pub session: Session,
    pub facts: Facts,
    /// The outputs, as recorded in the state.
    pub outputs: BTreeMap<String, String>,
    /// Whether the ECS service was created or changed, which starts a deployment.
    pub service_changed: bool,
}

impl PreparedApply {
    /// Carries out the plan, reporting every step (in the documented order) as it finishes, then
    /// records the outputs and the deployment in the state.
    pub async fn execute(
        self,
        interrupt: &Interrupt,
        timeout: Option<u64>,
        mut report: impl FnMut(StepId, &Finished<Outcome>),
    ) -> Result<Applied> {
        let PreparedApply {
            mut session,
            plan,
            scope,
            replacing,
            force_new_deployment,
            skip_release,
        } = self;
        let release = session
            .ctx
            .config
            .release
            .as_ref()
            .filter(|_| !skip_release)
            .map(|r| r.command.clone());
        let release = release.as_deref();
        // A replacement (planned now, or left unfinished by an earlier run) is carried out in
        // stages, so that the service stays reachable throughout.
        let resuming_last_stages = session.ctx.stage == Stage::Finish;
        let (mut facts, mut service_changed);
        if resuming_last_stages {
            // The deployment into the replacement must be complete before traffic moves.
            follow_primary(&session.ctx, timeout, interrupt).await?;
            facts = last_stages(
                &session,
                &scope,
                plan,
                release,
                interrupt,
                timeout,
                &mut report,
            )
            .await?;
            // Every deployment it started has been followed already.
            service_changed = false;
        } else {
            if replacing {
                session.ctx.stage = Stage::Expand;
            }
            (facts, service_changed) =
                converge(&session, &scope, plan, release, interrupt, &mut report).await?;
            // A service that changed started a deployment already; otherwise one is forced.
            if force_new_deployment && !service_changed {
                facts.deployment_id = force_new_deployment_of(&session.ctx).await?;
                service_changed = true;
            }
            record(&session, &scope)?;
            if replacing {
                facts = finish_retirements(&mut session, release, interrupt, timeout, &mut report)
                    .await?;
                // Every deployment it started has been followed already.
                service_changed = false;
            }
        }
        let ctx = &session.ctx;
        let mut outputs = outputs(&ctx.config, &ctx.names, &facts);
        if !scope.is_whole() {
            // A targeted run saw only its own steps: what it did not read keeps the outputs
            // recorded before.
            let mut recorded = session.store.snapshot().outputs;
            recorded.extend(outputs);
            outputs = recorded;
        }
        session.store.save_outputs(outputs.clone())?;
        Ok(Applied {
            session,
            facts,
            outputs,
            service_changed,
        })
    }
}

/// Refuses, before anything is read, what a targeted run cannot do: the image and the new
/// deployment reach the tasks through the service.
fn check_scope(scope: &Scope, options: &ApplyOptions) -> Result<()> {
    if scope.includes(Service::STEP) {
        return Ok(());
    }
    let option = match (&options.image, options.force_new_deployment) {
        (Some(ImageChoice::Tag(_)), _) => "--image-tag",
        (Some(_), _) => "--image",
        (None, true) => "--force-new-deployment",
        (None, false) => return Ok(()),
    };
    Err(ExitError::new(
        Exit::InvalidInput,
        anyhow!(
            "nothing was changed: {option} reaches the tasks through the service, which --target \
             {} leaves out; add --target service, or run without --target",
            target_list(scope)
        ),
    )
    .into())
}

/// Why a targeted run stops: `why` needs the whole stack.
fn needs_whole_stack(why: &str) -> anyhow::Error {
    ExitError::new(
        Exit::InvalidInput,
        anyhow!("nothing was changed: {why}; run `deployer apply` without --target"),
    )
    .into()
}

/// The targets as the command line named them.
fn target_list(scope: &Scope) -> String {
    let keys: Vec<&str> = scope.targets().iter().map(|s| s.key()).collect();
    keys.join(", ")
}

/// Whether the service already runs in the target group that replaces the one the state records
/// as retiring (or nothing of the kind is retiring): then only the last stages are left.
async fn runs_in_replacement(ctx: &Ctx) -> Result<bool> {
    let Some(new_group) = ctx
        .recorded
        .retiring
        .contains_key(TargetGroup::STEP.key())
        .then(|| {
            ctx.recorded(TargetGroup::STEP.key())
                .and_then(|r| r.arn.clone())
        })
        .flatten()
    else {
        return Ok(false);
    };
    // The plan's read of the service shares this answer.
    let services = ctx.services().await?;
    Ok(active(&services).is_some_and(|service| {
        service
            .load_balancers()
            .iter()
            .any(|lb| lb.target_group_arn() == Some(new_group.as_str()))
    }))
}

/// One apply pass over the stack: whether it changed the service (and so started a deployment).
///
/// With a `release` command and a plan that registers a new task definition revision, the
/// command runs as a task of that revision before the service step starts; when it fails the
/// service step does not run, so the service stays on the revision it ran.
async fn converge(
    session: &Session,
    scope: &Scope,
    plan: Plan,
    release: Option<&[String]>,
    interrupt: &Interrupt,
    report: &mut impl FnMut(StepId, &Finished<Outcome>),
) -> Result<(Facts, bool)> {
    let mut service_changed = false;
    let new_revision = plan
        .outcomes()
        .iter()
        .any(|(step, outcome)| *step == TaskDefinition::STEP && outcome.action.is_change());
    let ctx = &session.ctx;
    let gate = release.filter(|_| new_revision).map(|command| Gate {
        before: Service::STEP,
        check: Box::new(move |facts: Facts| {
            Box::pin(async move { run_release(ctx, &facts, command, interrupt).await })
                as LocalBoxFuture<'_, Result<()>>
        }),
    });
    let facts = engine::execute_gated(
        &session.ctx,
        scope.steps(),
        plan,
        &session.store,
        interrupt,
        gate,
        |step, finished| {
            if let (true, Finished::Done(outcome)) = (step == Service::STEP, finished) {
                service_changed = matches!(outcome.action, Action::Create | Action::Update(_));
            }
            report(step, finished);
        },
    )
    .await?;
    Ok((facts, service_changed))
}

/// Caches in the state the image override deployed (AWS records it on the revision). A targeted
/// run without the task definition decided no image, and keeps the cache as it was.
fn record(session: &Session, scope: &Scope) -> Result<()> {
    if !scope.includes(TaskDefinition::STEP) {
        return Ok(());
    }
    session
        .store
        .record_image_override(session.ctx.image.image_override())
}

/// The last stages of a run that retires resources, once the service runs in what replaces
/// them (what a replacing run does after its first pass, and what is left of one interrupted
/// there): converges by `plan` (the listener moves to the new target group, the service leaves
/// the old one, the rules only the old tasks needed go), follows the deployment that starts,
/// records the image deployed, and deletes what is retired. Returns what the pass learned.
async fn last_stages(
    session: &Session,
    scope: &Scope,
    plan: Plan,
    release: Option<&[String]>,
    interrupt: &Interrupt,
    timeout: Option<u64>,
    report: &mut impl FnMut(StepId, &Finished<Outcome>),
) -> Result<Facts> {
    let (facts, service_changed) =
        converge(session, scope, plan, release, interrupt, report).await?;
    if service_changed {
        follow_primary(&session.ctx, timeout, interrupt).await?;
    }
    record(session, scope)?;
    let retiring = session.store.snapshot().retiring;
    engine::retire(
        &session.ctx,
        STACK,
        &retiring,
        &session.store,
        interrupt,
        report,
    )
    .await?;
    Ok(facts)
}

/// The rest of a run that retires resources, once its first pass made what replaces them and
/// pointed the service at both the old and the new (the old one keeping the traffic), or at
/// none of a resource the configuration no longer asks for (a task role):
///
/// 1. wait until the service's deployment completed, so its tasks run in the new way;
/// 2. converge again: the listener moves to the new target group, the service leaves the old
///    one, the rules only the old tasks needed go; and wait for that deployment;
/// 3. delete what is retired.
///
/// Each step leaves the service reachable; an interruption is finished by the next `apply`,
/// which finds what is retiring in the state.
async fn finish_retirements(
    session: &mut Session,
    release: Option<&[String]>,
    interrupt: &Interrupt,
    timeout: Option<u64>,
    report: &mut impl FnMut(StepId, &Finished<Outcome>),
) -> Result<Facts> {
    let printer = session.ctx.printer.clone();
    printer.info(
        "Waiting for the service's deployment before what it no longer needs is moved away from \
         and deleted.",
    );
    follow_primary(&session.ctx, timeout, interrupt).await?;

    session.ctx.stage = Stage::Finish;
    // What the first pass recorded (the replacement; what it replaces) is what to read now.
    session.ctx.recorded = session.store.snapshot();
    printer.info("Moving the rest over:");
    let scope = Scope::whole();
    let plan = super::plan::read(session, &scope, Operation::Apply, false).await?;
    // The image was recorded after the first pass; recording it again writes nothing.
    last_stages(session, &scope, plan, release, interrupt, timeout, report).await
}

impl Applied {
    /// The deployment this apply started, if it started one.
    pub fn deployment_id(&self) -> Option<&str> {
        self.service_changed
            .then_some(self.facts.deployment_id.as_deref())
            .flatten()
    }

    /// Follows the deployment this apply started until it completes; an error carries exit code
    /// 4 (failed or rolled back), 5 (timed out, after `timeout` or `timeouts.deployment`
    /// seconds) or 130 (interrupted).
    pub async fn follow(&self, timeout: Option<u64>, interrupt: &Interrupt) -> Result<()> {
        follow_started(
            &self.session.ctx,
            self.deployment_id(),
            self.facts.target_group_arn.clone(),
            self.facts.execution_role_created,
            timeout,
            interrupt,
        )
        .await
    }
}
