//! The engine: reads the live stack, works out what to change, and carries it out, one resource
//! step at a time in dependency order and as many at once as the order allows.
//!
//! A run has two passes over the step graph. The *plan* pass reads every resource by its
//! deterministic name and compares it with the configuration; it makes no change, so `plan` is
//! just this pass. The *apply* pass (or the *destroy* pass) then acts on what the plan pass read,
//! without reading it again. Each resource kind implements [`Resource`]; the engine only sees the
//! trait, so it knows nothing about AWS.

mod graph;
mod step;

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Result};

pub use graph::Finished;
pub use step::StepId;

use crate::aws::retry::Budget;
use crate::aws::AwsClients;
use crate::config::Config;
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::names::{Names, OwnerTags};
use crate::printer::Printer;
use crate::resources;
use crate::state::{ImageOverride, ResourceRecord, State, StateFile};

/// Shown in a plan where a value depends on a resource that does not exist yet.
pub const UNKNOWN: &str = "(known after apply)";

/// What earlier steps found or made, for the steps after them.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub vpc_id: Option<String>,
    pub subnet_ids: Vec<String>,
    pub alb_security_group_id: Option<String>,
    pub ecs_security_group_id: Option<String>,
    pub repository_url: Option<String>,
    pub execution_role_arn: Option<String>,
    pub log_group_name: Option<String>,
    pub load_balancer_arn: Option<String>,
    pub load_balancer_dns_name: Option<String>,
    pub load_balancer_zone_id: Option<String>,
    pub target_group_arn: Option<String>,
    pub listener_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    pub service_arn: Option<String>,
    /// The service's PRIMARY deployment: after a create or update, the one this run started.
    pub deployment_id: Option<String>,
}

/// A value of a fact, or [`UNKNOWN`] while its step has not run.
pub fn known(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| UNKNOWN.to_owned())
}

/// One field that differs between AWS and the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub field: String,
    pub old: String,
    pub new: String,
}

impl Change {
    pub fn new(field: impl Into<String>, old: impl ToString, new: impl ToString) -> Self {
        Self {
            field: field.into(),
            old: old.to_string(),
            new: new.to_string(),
        }
    }
}

/// Compares one field and pushes a [`Change`] when it differs.
pub fn compare<T: PartialEq + std::fmt::Debug>(
    changes: &mut Vec<Change>,
    field: &str,
    old: &T,
    new: &T,
) {
    if old != new {
        changes.push(Change::new(field, format!("{old:?}"), format!("{new:?}")));
    }
}

/// What a step will do, or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Only read (the default VPC): nothing to make.
    Read,
    Create,
    Update(Vec<Change>),
    NoChange,
    Delete,
    /// Nothing to delete: it does not exist.
    Absent,
    /// Found under our name but not ours: left alone.
    NotOurs(String),
}

impl Action {
    pub fn is_change(&self) -> bool {
        matches!(self, Action::Create | Action::Update(_) | Action::Delete)
    }
}

/// The result of one step in either pass.
#[derive(Debug)]
pub struct StepResult {
    pub action: Action,
    /// The resource's name or ID, for display.
    pub display_id: Option<String>,
}

/// What the plan pass found for one step, kept for the pass that acts on it.
pub struct Planned {
    pub result: StepResult,
    found: Found,
}

/// What the plan pass found for one step, handed to the pass that acts on it.
pub(crate) struct Found {
    live: Option<Box<dyn Any + Send + Sync>>,
    /// The resource is someone else's and `--adopt` was given: tag it as ours.
    adopt: bool,
}

/// A resource kind: how to read, compare, create, update and delete it.
///
/// `desired` and `diff` are pure; everything async talks to AWS. Implementations live in
/// [`crate::resources`], one module per kind.
pub(crate) trait Resource {
    const STEP: StepId;
    /// Whether the tool creates and deletes it (false for the default VPC, which is only read).
    const MANAGED: bool = true;
    /// The resource as AWS reports it, with what `diff` and later steps need.
    type Live: Send + Sync + 'static;
    /// The resource as the configuration wants it.
    type Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Self::Desired;
    /// Finds the resource by its deterministic name; `None` when it does not exist. For
    /// [`Pass::Destroy`] only what is needed to delete it must be read: settings that only `diff`
    /// compares can be skipped.
    async fn read(ctx: &Ctx, facts: &Facts, pass: Pass) -> Result<Option<Self::Live>>;
    fn diff(live: &Self::Live, desired: &Self::Desired) -> Vec<Change>;
    async fn create(ctx: &Ctx, desired: &Self::Desired) -> Result<Self::Live>;
    async fn update(ctx: &Ctx, live: &Self::Live, desired: &Self::Desired) -> Result<Self::Live>;
    async fn delete(ctx: &Ctx, live: &Self::Live) -> Result<()>;
    /// The resource's tags, as (key, value) pairs; may cost a call where `read` does not return
    /// them, so it is only asked when ownership is in question.
    async fn tags(ctx: &Ctx, live: &Self::Live) -> Result<Vec<(String, String)>>;
    /// Puts this stack's owner tags on a resource found without them (`--adopt`).
    async fn tag(ctx: &Ctx, live: &Self::Live) -> Result<()>;
    /// Its identity in the state file.
    fn record(live: &Self::Live) -> ResourceRecord;
    /// What later steps learn from it.
    fn publish(live: &Self::Live, facts: &mut Facts);
}

/// Which image the task definition runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// The configured image, or the override an earlier `--image-tag` recorded in the state.
    Recorded(String),
    /// `--image URI`.
    Uri(String),
    /// `--image-tag TAG`: that tag in the stack's ECR repository.
    Tag(String),
}

/// Everything a run shares between its steps.
pub struct Ctx {
    pub config: Config,
    pub names: Names,
    pub owner: OwnerTags,
    pub aws: AwsClients,
    /// Take over resources found under our names without our tags.
    pub adopt: bool,
    pub printer: Printer,
    /// The image the task definition runs.
    pub image: ImageChoice,
    state_file: StateFile,
    state: Mutex<State>,
    pub(crate) cache: resources::ReadCache,
}

impl Ctx {
    pub fn new(
        config: Config,
        aws: AwsClients,
        state_file: StateFile,
        state: Option<State>,
        adopt: bool,
        printer: Printer,
    ) -> Self {
        let state =
            state.unwrap_or_else(|| State::new(&config.project, &config.environment, &aws.region));
        let image =
            ImageChoice::Recorded(state.effective_image(&config.container.image).to_owned());
        Self {
            image,
            names: Names::new(&config),
            owner: OwnerTags::new(&config),
            config,
            aws,
            adopt,
            printer,
            state_file,
            state: Mutex::new(state),
            cache: resources::ReadCache::default(),
        }
    }

    /// How long to wait for a new IAM role (or a new listener) to be usable.
    pub fn iam_budget(&self) -> Budget {
        Budget {
            limit: Duration::from_secs(self.config.timeouts.iam_propagation.into()),
            setting: "timeouts.iam_propagation",
        }
    }

    /// How long to wait for a deleted resource to let go of what it used.
    pub fn release_budget(&self) -> Budget {
        Budget {
            limit: Duration::from_secs(self.config.timeouts.resource_release.into()),
            setting: "timeouts.resource_release",
        }
    }

    /// The image to run, given what earlier steps found (the ECR repository's URL).
    pub fn image(&self, facts: &Facts) -> String {
        match &self.image {
            ImageChoice::Recorded(image) | ImageChoice::Uri(image) => image.clone(),
            ImageChoice::Tag(tag) => format!("{}:{tag}", known(&facts.repository_url)),
        }
    }

    /// What the state records for running `image`: nothing when it is the configured one.
    fn image_override(&self, image: String) -> Option<ImageOverride> {
        (image != self.config.container.image).then(|| ImageOverride {
            image,
            configured: self.config.container.image.clone(),
        })
    }

    /// Records a successful deployment: the image, when it was chosen on the command line, and
    /// the revision the service runs now.
    pub fn record_deployment(&self, image: Option<String>, revision: Option<&str>) -> Result<()> {
        let mut state = self.state.lock().expect("state lock");
        if let Some(image) = image {
            state.image_override = self.image_override(image);
        }
        if let Some(revision) = revision {
            state.record_revision(revision);
        }
        self.state_file.save(&state)?;
        Ok(())
    }

    /// Records a rollback to `revision`, which runs `image`.
    pub fn record_rollback(&self, revision: &str, image: String) -> Result<()> {
        let mut state = self.state.lock().expect("state lock");
        state.rolled_back_to(revision);
        state.image_override = self.image_override(image);
        self.state_file.save(&state)?;
        Ok(())
    }

    /// A copy of the state as it is now.
    pub fn state(&self) -> State {
        self.state.lock().expect("state lock").clone()
    }

    /// Records (or, with `None`, forgets) a step's resource and writes the state file at once, so
    /// that a crash right after a create still knows about it.
    fn remember(&self, step: StepId, record: Option<ResourceRecord>) -> Result<()> {
        let mut state = self.state.lock().expect("state lock");
        let key = step.key().to_owned();
        let changed = match record {
            Some(record) => state.resources.insert(key, record.clone()) != Some(record),
            None => state.resources.remove(&key).is_some(),
        };
        if changed {
            self.state_file.save(&state)?;
        }
        Ok(())
    }

    /// Replaces the outputs in the state and writes it.
    pub fn save_outputs(&self, outputs: BTreeMap<String, String>) -> Result<()> {
        let mut state = self.state.lock().expect("state lock");
        if state.outputs != outputs {
            state.outputs = outputs;
            self.state_file.save(&state)?;
        }
        Ok(())
    }

    /// Deletes the state file once nothing is left in it.
    pub fn forget_all(&self) -> Result<()> {
        let mut state = self.state.lock().expect("state lock");
        state.outputs.clear();
        if state.resources.is_empty() {
            self.state_file.remove()?;
        } else {
            self.state_file.save(&state)?;
        }
        Ok(())
    }

    fn in_state(&self, step: StepId, record: &ResourceRecord) -> bool {
        let state = self.state.lock().expect("state lock");
        state.resources.get(step.key()).map(|r| &r.id) == Some(&record.id)
    }

    /// Whether a live resource is ours: recorded in the state, or tagged for this project and
    /// environment.
    async fn owns<R: Resource>(&self, live: &R::Live) -> Result<Ownership> {
        if self.in_state(R::STEP, &R::record(live)) {
            return Ok(Ownership::Ours);
        }
        let tags = R::tags(self, live).await?;
        let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        Ok(if self.owner.matches(pairs) {
            Ownership::Ours
        } else {
            Ownership::Foreign(describe_tags(&tags))
        })
    }
}

enum Ownership {
    Ours,
    Foreign(String),
}

fn describe_tags(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        "no tags".to_owned()
    } else {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("tags {}", pairs.join(", "))
    }
}

/// What the plan pass read of one step, before comparing it with the configuration.
pub(crate) struct Read {
    live: Option<Box<dyn Any + Send + Sync>>,
    /// The tags of a resource found under our name that is not ours, when `--adopt` takes it.
    adopting: Option<String>,
}

/// The first half of the plan pass for one step: read the resource, and check that it is ours.
/// Reads run as soon as what they need is read (see [`StepId::read_depends_on`]), which is
/// sooner than the apply order.
pub(crate) async fn read_step<R: Resource>(
    ctx: &Ctx,
    facts: &Mutex<Facts>,
    pass: Pass,
) -> Result<Read> {
    let known = facts.lock().expect("facts lock").clone();
    let live = R::read(ctx, &known, pass).await?;
    let mut adopting = None;
    // Destroy checks ownership itself, and leaves what is not ours alone.
    if let (Some(live), true, Pass::Apply) = (&live, R::MANAGED, pass) {
        if let Ownership::Foreign(tags) = ctx.owns::<R>(live).await? {
            if !ctx.adopt {
                bail!(
                    "found an existing {} {} with {tags}, not the tags of {}-{} (Project, \
                     Environment, ManagedBy=deployer); it may belong to someone else. Rename \
                     this stack's project or environment, delete that resource, or run again \
                     with --adopt to take it over",
                    R::STEP,
                    R::record(live).id,
                    ctx.owner.project,
                    ctx.owner.environment,
                );
            }
            adopting = Some(tags);
        }
    }
    if let Some(live) = &live {
        R::publish(live, &mut facts.lock().expect("facts lock"));
    }
    Ok(Read {
        live: live.map(|l| Box::new(l) as Box<dyn Any + Send + Sync>),
        adopting,
    })
}

/// The second half of the plan pass for one step, once everything is read: compare what was
/// found with what the configuration wants. Pure.
pub(crate) fn judge_step<R: Resource>(ctx: &Ctx, facts: &Facts, read: Read) -> Planned {
    let live = read
        .live
        .as_ref()
        .map(|l| l.downcast_ref::<R::Live>().expect("read of the same step"));
    let action = match live {
        _ if !R::MANAGED => Action::Read,
        None => Action::Create,
        Some(live) => {
            let mut changes = Vec::new();
            if let Some(tags) = &read.adopting {
                changes.push(Change::new("tags", tags, ctx.owner.describe()));
            }
            changes.extend(R::diff(live, &R::desired(ctx, facts)));
            if changes.is_empty() {
                Action::NoChange
            } else {
                Action::Update(changes)
            }
        }
    };
    Planned {
        result: StepResult {
            display_id: live.map(|l| R::record(l).id),
            action,
        },
        found: Found {
            adopt: read.adopting.is_some(),
            live: read.live,
        },
    }
}

/// The apply pass for one step: create or update what the plan pass found missing or different.
pub(crate) async fn apply_step<R: Resource>(
    ctx: &Ctx,
    facts: &Mutex<Facts>,
    planned: Found,
) -> Result<StepResult> {
    let known = facts.lock().expect("facts lock").clone();
    let live = planned
        .live
        .map(|l| *l.downcast::<R::Live>().expect("plan of the same step"));
    let desired = R::desired(ctx, &known);
    let (live, action) = match live {
        None if !R::MANAGED => bail!("{} not found", R::STEP),
        None => (R::create(ctx, &desired).await?, Action::Create),
        Some(live) if !R::MANAGED => (live, Action::Read),
        Some(live) => {
            let mut changes = Vec::new();
            if planned.adopt {
                R::tag(ctx, &live).await?;
                changes.push(Change::new("tags", "(not ours)", ctx.owner.describe()));
            }
            let updates = R::diff(&live, &desired);
            let live = if updates.is_empty() {
                live
            } else {
                R::update(ctx, &live, &desired).await?
            };
            changes.extend(updates);
            let action = if changes.is_empty() {
                Action::NoChange
            } else {
                Action::Update(changes)
            };
            (live, action)
        }
    };
    let record = R::record(&live);
    if R::MANAGED {
        ctx.remember(R::STEP, Some(record.clone()))?;
    }
    R::publish(&live, &mut facts.lock().expect("facts lock"));
    Ok(StepResult {
        action,
        display_id: Some(record.id),
    })
}

/// The destroy pass for one step: delete what the plan pass found, if it is ours.
pub(crate) async fn destroy_step<R: Resource>(ctx: &Ctx, planned: Found) -> Result<StepResult> {
    let live = planned
        .live
        .map(|l| *l.downcast::<R::Live>().expect("plan of the same step"));
    if !R::MANAGED {
        return Ok(StepResult {
            action: Action::Read,
            display_id: live.as_ref().map(|l| R::record(l).id),
        });
    }
    let Some(live) = live else {
        ctx.remember(R::STEP, None)?;
        return Ok(StepResult {
            action: Action::Absent,
            display_id: None,
        });
    };
    let record = R::record(&live);
    // Even a resource in the state must still carry our tags to be deleted: the state could be
    // stale, or copied from another stack.
    let tags = R::tags(ctx, &live).await?;
    let pairs = tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if !ctx.owner.matches(pairs) {
        return Ok(StepResult {
            action: Action::NotOurs(describe_tags(&tags)),
            display_id: Some(record.id),
        });
    }
    R::delete(ctx, &live).await?;
    ctx.remember(R::STEP, None)?;
    Ok(StepResult {
        action: Action::Delete,
        display_id: Some(record.id),
    })
}

/// Which pass to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Apply,
    Destroy,
}

/// The plan of a whole run: what each step found.
pub struct Plan {
    pub pass: Pass,
    pub steps: BTreeMap<StepId, Planned>,
    pub facts: Facts,
}

impl Plan {
    /// What the acting pass would do at each step, in the documented order (reversed for destroy).
    pub fn actions(&self) -> Vec<(StepId, &StepResult)> {
        let mut actions: Vec<_> = self.steps.iter().map(|(s, p)| (*s, &p.result)).collect();
        if self.pass == Pass::Destroy {
            actions.reverse();
        }
        actions
    }

    pub fn has_changes(&self) -> bool {
        self.actions().iter().any(|(_, r)| r.action.is_change())
    }
}

/// Reads every step and works out what `pass` would do. Makes no change in AWS.
pub async fn plan(ctx: &Ctx, pass: Pass) -> Result<Plan> {
    let facts = Mutex::new(Facts::default());
    let results = graph::run(
        &StepId::ALL,
        |s| s.read_depends_on().to_vec(),
        |step| resources::read(step, ctx, &facts, pass),
        || false,
        |_, _| {},
    )
    .await;
    let facts = facts.into_inner().expect("facts lock");
    let mut steps = BTreeMap::new();
    for (step, finished) in results {
        match finished {
            Finished::Done(read) => {
                let mut planned = resources::judge(step, ctx, &facts, read);
                if pass == Pass::Destroy {
                    planned.result.action = match (&planned.result.action, &planned.found.live) {
                        (_, None) => Action::Absent,
                        (Action::Read, _) => Action::Read,
                        _ => Action::Delete,
                    };
                }
                steps.insert(step, planned);
            }
            Finished::Failed(error) => {
                return Err(error.context(format!("reading the {step}")));
            }
            Finished::Skipped => unreachable!("no step is skipped without a failure"),
        }
    }
    Ok(Plan { pass, steps, facts })
}

/// Runs one step's work, keeping it in `in_flight` meanwhile, so that an interrupted run can say
/// which steps it abandoned.
async fn tracked<T>(
    in_flight: &Mutex<BTreeSet<StepId>>,
    step: StepId,
    work: impl std::future::Future<Output = T>,
) -> T {
    in_flight.lock().expect("in-flight lock").insert(step);
    let result = work.await;
    in_flight.lock().expect("in-flight lock").remove(&step);
    result
}

/// How long the calls in flight get to finish after Ctrl-C or SIGTERM before they are abandoned.
const INTERRUPT_GRACE: Duration = Duration::from_secs(20);

/// Carries out a plan: creates and updates (or deletes) in dependency order, reporting each step
/// in the documented order as it finishes. Returns the facts gathered, for the outputs.
///
/// When `interrupt` is raised, no new step starts; the steps in flight get a grace period to
/// finish (each records what it made in the state file as it completes), and the run ends with
/// [`Exit::Interrupted`].
pub async fn execute(
    ctx: &Ctx,
    plan: Plan,
    interrupt: &Interrupt,
    mut report: impl FnMut(StepId, &Finished<StepResult>),
) -> Result<Facts> {
    let Plan { pass, steps, facts } = plan;
    let found: Mutex<BTreeMap<StepId, Found>> = Mutex::new(
        steps
            .into_iter()
            .map(|(step, planned)| (step, planned.found))
            .collect(),
    );
    let take = |step: StepId| {
        found
            .lock()
            .expect("found lock")
            .remove(&step)
            .expect("every step was planned")
    };
    let facts = Mutex::new(match pass {
        Pass::Apply => Facts::default(),
        Pass::Destroy => facts,
    });
    let in_flight: Mutex<BTreeSet<StepId>> = Mutex::default();
    let stop = || interrupt.is_raised();
    let run = async {
        match pass {
            Pass::Apply => {
                graph::run(
                    &StepId::ALL,
                    |s| s.depends_on().to_vec(),
                    |step| {
                        tracked(
                            &in_flight,
                            step,
                            resources::apply(step, ctx, &facts, take(step)),
                        )
                    },
                    stop,
                    &mut report,
                )
                .await
            }
            Pass::Destroy => {
                let mut order = StepId::ALL;
                order.reverse();
                graph::run(
                    &order,
                    |s| s.dependents().collect(),
                    |step| tracked(&in_flight, step, resources::destroy(step, ctx, take(step))),
                    stop,
                    &mut report,
                )
                .await
            }
        }
    };
    let results = {
        tokio::pin!(run);
        tokio::select! {
            results = &mut run => Some(results),
            () = interrupt.raised() => {
                ctx.printer.warn(&format!(
                    "interrupted: starting nothing new, letting the calls in flight finish (up \
                     to {}s)",
                    INTERRUPT_GRACE.as_secs()
                ));
                tokio::time::timeout(INTERRUPT_GRACE, &mut run).await.ok()
            }
        }
    };
    if interrupt.is_raised() {
        let abandoned: Vec<&str> = in_flight
            .lock()
            .expect("in-flight lock")
            .iter()
            .map(|s| s.label())
            .collect();
        let left = if abandoned.is_empty() {
            String::new()
        } else {
            format!(
                "; abandoned while in progress: {} (the next run finds them by name)",
                abandoned.join(", ")
            )
        };
        return Err(ExitError::new(
            Exit::Interrupted,
            anyhow::anyhow!(
                "interrupted; the state file {} records everything completed{left}",
                ctx.state_file.path().display()
            ),
        )
        .into());
    }
    let results = results.expect("finished unless interrupted");
    // The first failure is the error (it keeps its exit code); any others are named with it.
    let mut failures = results.into_iter().filter_map(|(step, f)| match f {
        Finished::Failed(error) => Some((step, error)),
        _ => None,
    });
    let Some((step, error)) = failures.next() else {
        return Ok(facts.into_inner().expect("facts lock"));
    };
    let others: Vec<String> = failures.map(|(s, e)| format!("{s}: {e:#}")).collect();
    Err(if others.is_empty() {
        error.context(step.label())
    } else {
        error.context(format!("{step} (and also {})", others.join("; ")))
    })
}
