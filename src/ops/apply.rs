//! `apply`: plan, then converge the stack to the configuration, record the outputs and the
//! deployment, and follow the ECS deployment it started until ECS says it succeeded.
//!
//! It comes in stages so that the command line can show the plan and ask between them:
//! [`prepare`] reads and checks, [`PreparedApply::execute`] changes AWS, and
//! [`Applied::follow`] waits for the deployment.

use anyhow::{anyhow, Result};
use std::collections::BTreeMap;

use futures_util::future::LocalBoxFuture;

use super::outputs::outputs;
use super::plan::Scope;
use super::release::run_release;
use super::restart::force_new_deployment as force_new_deployment_of;
use super::rollout::Rollout;
use super::wait::follow_primary;
use super::{Session, Target};
use crate::aws::ecs::active;
use crate::aws::partition;
use crate::config::AWS_REGIONS;
use crate::contract::StepId;
use crate::contract::{Ctx, Facts, ImageChoice, Resource, Stage};
use crate::engine::{self, Action, Finished, Gate, Operation, Outcome, Plan};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::registry::STACK;
use crate::resources::ecr_repository::{image_exists, ImageLookup};
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
    image_chosen: bool,
    force_new_deployment: bool,
    skip_release: bool,
}

/// Opens the stack under its lock, reads it, and checks that an image chosen on the command line
/// exists. Changes nothing.
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
    if let Some(choice) = &options.image {
        session.ctx.image = choice.clone();
    }
    // An earlier run left a replacement unfinished. Once the service runs in the replacement,
    // what is left is its last stages: going back to the first would move traffic back to the
    // old resource, which the service may have left already.
    if !session.ctx.recorded.retiring.is_empty() && runs_in_replacement(&session.ctx).await? {
        session.ctx.stage = Stage::Finish;
    }
    let plan = super::plan::read(&session, &scope, Operation::Apply, options.adopt).await?;
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
    // The configured image is checked too when this run deploys it (a new task definition),
    // so that a missing image stops the run here instead of failing every task ECS starts.
    let deploys = plan
        .outcomes()
        .iter()
        .any(|(step, outcome)| *step == TaskDefinition::STEP && outcome.action.is_change());
    if options.image.is_some() || deploys {
        check_image(&session, &plan).await?;
    }
    Ok(PreparedApply {
        session,
        plan,
        scope,
        image_chosen: options.image.is_some(),
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
            image_chosen,
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
        let replacing = plan.has_retirements() || !session.ctx.recorded.retiring.is_empty();
        let (mut facts, mut service_changed);
        if resuming_last_stages {
            // The deployment into the replacement must be complete before traffic moves.
            follow_primary(&session.ctx, timeout, interrupt).await?;
            (facts, service_changed) =
                converge(&session, &scope, plan, release, interrupt, &mut report).await?;
            if service_changed {
                follow_primary(&session.ctx, timeout, interrupt).await?;
                service_changed = false;
            }
            record(&session, &facts, image_chosen)?;
            let retiring = session.store.snapshot().retiring;
            engine::retire(&session.ctx, STACK, &retiring, &session.store, &mut report).await?;
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
            record(&session, &facts, image_chosen)?;
            if replacing {
                facts = finish_retirements(&mut session, release, interrupt, timeout, &mut report)
                    .await?;
                record(&session, &facts, image_chosen)?;
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

/// Records what was deployed: the revision the service runs, and the image when it was chosen
/// on the command line (kept by later runs until the configured image changes).
fn record(session: &Session, facts: &Facts, image_chosen: bool) -> Result<()> {
    let ctx = &session.ctx;
    let image_override = image_chosen.then(|| ctx.image_override(ctx.image(facts)));
    session
        .store
        .record_deployment(image_override, facts.task_definition_arn.as_deref())
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
    let (facts, service_changed) =
        converge(session, &scope, plan, release, interrupt, report).await?;
    if service_changed {
        follow_primary(&session.ctx, timeout, interrupt).await?;
    }

    let retiring = session.store.snapshot().retiring;
    engine::retire(&session.ctx, STACK, &retiring, &session.store, report).await?;
    Ok(facts)
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
        let Some(deployment_id) = self.deployment_id() else {
            return Ok(());
        };
        let ctx = &self.session.ctx;
        Rollout::new(
            ctx,
            deployment_id.to_owned(),
            self.facts.target_group_arn.clone(),
            timeout,
        )
        .role_created(self.facts.execution_role_created)
        .follow(interrupt)
        .await
    }
}

/// Stops with a clear message when the image to deploy is not in ECR.
///
/// An ECR image is looked up in its own registry: the region its host names, which need not be
/// the stack's. Another account's registry cannot be looked into with this run's credentials, so
/// such an image is left to ECS, with a warning; so is one ECR will not describe to this caller.
async fn check_image(session: &Session, plan: &Plan) -> Result<()> {
    let ctx = &session.ctx;
    let missing = |what: String| -> anyhow::Error {
        ExitError::new(Exit::InvalidInput, anyhow!(what)).into()
    };
    match &ctx.image {
        ImageChoice::Tag(tag) => {
            let Some(url) = &plan.facts.repository_url else {
                return Err(missing(format!(
                    "--image-tag {tag}: the ECR repository {} does not exist yet; run `deployer \
                     apply` once without --image-tag to create the stack, push the image, then \
                     deploy it",
                    ctx.names.ecr_repository
                )));
            };
            match image_exists(&ctx.aws.ecr, None, &ctx.names.ecr_repository, tag).await? {
                ImageLookup::Found => {}
                ImageLookup::ImageMissing | ImageLookup::RepositoryMissing => {
                    return Err(missing(format!(
                        "image {url}:{tag} is not in ECR; push it first (docker push {url}:{tag})"
                    )));
                }
                ImageLookup::NotAllowed(why) => {
                    return Err(anyhow!("looking up image {url}:{tag}: {why}"));
                }
            }
        }
        ImageChoice::Uri(image) => {
            let Some(ecr) = EcrImage::parse(image) else {
                // Images outside ECR are the user's business.
                return Ok(());
            };
            if !AWS_REGIONS.contains(&ecr.region) {
                return Err(missing(format!(
                    "image {image}: its registry's region {:?} is not an AWS region",
                    ecr.region
                )));
            }
            let stack_partition = partition(&ctx.aws.region);
            if partition(ecr.region) != stack_partition {
                return Err(missing(format!(
                    "image {image} is in a registry of {}, and a stack in {} ({stack_partition}) \
                     cannot pull from another partition",
                    ecr.region, ctx.aws.region
                )));
            }
            let account = stack_account(&plan.facts);
            if account.is_some_and(|ours| ours != ecr.account) {
                ctx.printer.warn(&format!(
                    "image {image} is in the registry of account {}, which this run cannot look \
                     into; it is not checked, and ECS will need permission to pull it",
                    ecr.account
                ));
                return Ok(());
            }
            let client = ctx.aws.ecr_in(ecr.region);
            let lookup =
                image_exists(&client, Some(ecr.account), ecr.repository, ecr.reference).await?;
            match lookup {
                ImageLookup::Found => {}
                ImageLookup::ImageMissing => {
                    return Err(missing(format!(
                        "image {image} is not in ECR: repository {} in {} has no {}; push it first",
                        ecr.repository, ecr.region, ecr.reference
                    )));
                }
                // Before the stack exists its account is not known: a repository that cannot be
                // seen may be another account's.
                ImageLookup::RepositoryMissing if account.is_some() => {
                    return Err(missing(format!(
                        "image {image} is not in ECR: there is no repository {} in {}; push it \
                         first",
                        ecr.repository, ecr.region
                    )));
                }
                ImageLookup::RepositoryMissing => ctx.printer.warn(&format!(
                    "image {image} cannot be checked: no repository {} in {} is visible to this \
                     run (it may be another account's); going on",
                    ecr.repository, ecr.region
                )),
                ImageLookup::NotAllowed(why) => ctx.printer.warn(&format!(
                    "image {image} cannot be checked ({why}); going on"
                )),
            }
        }
        ImageChoice::Recorded(image) => check_configured_image(session, plan, image).await?,
    }
    Ok(())
}

/// Checks the configured image (or the one an earlier `--image-tag` recorded) when it is in this
/// account's ECR, which this run can look into; any other registry is left to ECS, quietly, as
/// nothing about it changed. Before the stack exists its account is not known, and the stack's
/// own repository may be about to be created: neither is checked.
async fn check_configured_image(session: &Session, plan: &Plan, image: &str) -> Result<()> {
    let ctx = &session.ctx;
    let Some(ecr) = EcrImage::parse(image) else {
        return Ok(());
    };
    let ours = stack_account(&plan.facts).is_some_and(|account| account == ecr.account);
    if !ours || !AWS_REGIONS.contains(&ecr.region) {
        return Ok(());
    }
    let stack_repository =
        ecr.repository == ctx.names.ecr_repository && ecr.region == ctx.aws.region;
    if stack_repository && plan.facts.repository_url.is_none() {
        return Ok(());
    }
    let missing = |what: String| -> anyhow::Error {
        ExitError::new(Exit::InvalidInput, anyhow!(what)).into()
    };
    let client = ctx.aws.ecr_in(ecr.region);
    match image_exists(&client, Some(ecr.account), ecr.repository, ecr.reference).await? {
        ImageLookup::Found => Ok(()),
        ImageLookup::ImageMissing => Err(missing(format!(
            "container.image {image} is not in ECR: repository {} in {} has no {}; push it \
             first",
            ecr.repository, ecr.region, ecr.reference
        ))),
        ImageLookup::RepositoryMissing => Err(missing(format!(
            "container.image {image} is not in ECR: there is no repository {} in {}; push it \
             first",
            ecr.repository, ecr.region
        ))),
        ImageLookup::NotAllowed(why) => {
            ctx.printer.warn(&format!(
                "image {image} cannot be checked ({why}); going on"
            ));
            Ok(())
        }
    }
}

/// The account of this stack, from an ARN or URL already read, if there is one yet.
fn stack_account(facts: &Facts) -> Option<&str> {
    let from_url = facts
        .repository_url
        .as_deref()
        .and_then(|url| url.split('.').next());
    // arn:PARTITION:iam::ACCOUNT:role/NAME
    let from_role = || {
        facts
            .execution_role_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4))
    };
    from_url.or_else(from_role).filter(|a| !a.is_empty())
}

/// An image in ECR, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG` (or `@sha256:...`; the FIPS
/// `dkr.ecr-fips.` and China `.amazonaws.com.cn` hosts too), taken apart.
#[derive(Debug, PartialEq, Eq)]
struct EcrImage<'a> {
    account: &'a str,
    region: &'a str,
    repository: &'a str,
    /// The tag, or the digest `sha256:...`.
    reference: &'a str,
}

impl<'a> EcrImage<'a> {
    /// `None` for images outside ECR.
    fn parse(image: &'a str) -> Option<Self> {
        let (host, rest) = image.split_once('/')?;
        let (account, domain) = host.split_once('.')?;
        let regional = domain
            .strip_prefix("dkr.ecr.")
            .or_else(|| domain.strip_prefix("dkr.ecr-fips."))?;
        let (region, suffix) = regional.split_once('.')?;
        if !matches!(suffix, "amazonaws.com" | "amazonaws.com.cn") {
            return None;
        }
        let (repository, reference) = match rest.split_once('@') {
            Some((repository, digest)) => (repository, digest),
            None => rest.rsplit_once(':').unwrap_or((rest, "latest")),
        };
        Some(EcrImage {
            account,
            region,
            repository,
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecr(
        account: &'static str,
        region: &'static str,
        repository: &'static str,
        reference: &'static str,
    ) -> Option<EcrImage<'static>> {
        Some(EcrImage {
            account,
            region,
            repository,
            reference,
        })
    }

    #[test]
    fn ecr_images_are_split_with_their_region_and_others_are_not() {
        assert_eq!(
            EcrImage::parse("946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:abc"),
            ecr("946760796955", "eu-central-1", "flask-tp-app", "abc")
        );
        assert_eq!(
            EcrImage::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/shared/app:v7"),
            ecr("123456789012", "us-east-1", "shared/app", "v7")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.eu-central-1.amazonaws.com/team/app@sha256:00ff"),
            ecr("1", "eu-central-1", "team/app", "sha256:00ff")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.eu-central-1.amazonaws.com/app"),
            ecr("1", "eu-central-1", "app", "latest")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:1"),
            ecr("1", "us-gov-west-1", "app", "1")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1"),
            ecr("1", "cn-north-1", "app", "1")
        );
        assert_eq!(EcrImage::parse("nginx:1.27"), None);
        assert_eq!(EcrImage::parse("ghcr.io/org/app:1"), None);
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.eu-central-1.example.com/app:1"),
            None
        );
    }

    #[test]
    fn stack_account_comes_from_the_repository_or_the_role() {
        let mut facts = Facts::default();
        assert_eq!(stack_account(&facts), None);
        facts.execution_role_arn = Some("arn:aws:iam::111122223333:role/x".into());
        assert_eq!(stack_account(&facts), Some("111122223333"));
        facts.repository_url = Some("444455556666.dkr.ecr.eu-central-1.amazonaws.com/x".into());
        assert_eq!(stack_account(&facts), Some("444455556666"));
    }
}
