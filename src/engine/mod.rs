//! The engine: reads the live stack, works out what to change, and carries it out, one resource
//! step at a time in dependency order and as many at once as the order allows.
//!
//! A run has two passes over the steps it is handed (the registry's, in the documented order).
//! The *plan* pass reads every resource by its deterministic name and compares it with the
//! configuration; it makes no change, so `plan` is just this pass. The *apply* pass (or the
//! *destroy* pass) then acts on what the plan pass read, without reading it again. The engine
//! sees each resource only through the [`Step`] contract, so it knows nothing about AWS; what it
//! learns about ownership it records through a [`Journal`], the state's one owner.

mod graph;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use futures_util::future::LocalBoxFuture;

pub use graph::Finished;

use crate::contract::{AnyLive, Change, Ctx, Detail, Facts, Stage, Step, StepId};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::state::ResourceRecord;

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Create and update until the stack matches the configuration.
    Apply,
    /// Delete what this stack owns, in reverse order.
    Destroy,
}

/// What a step will do, or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Only read (the default VPC): nothing to make.
    Read,
    Create,
    Update(Vec<Change>),
    /// A field AWS cannot change in place differs (each such change says so): a new resource
    /// must take this one's place.
    Replace(Vec<Change>),
    NoChange,
    Delete,
    /// No longer asked for, and recorded as retiring: deleted at the end of the run, once
    /// nothing uses it (what an apply's first pass did with it).
    Retire,
    /// Nothing to delete: it does not exist.
    Absent,
    /// Found under our name but not ours: left alone, for the reason given.
    NotOurs(String),
    /// Ours, but kept by destroy, for the reason given: something that depends on it is not
    /// ours, and deleting it would pull the ground from under that; or it holds what is not
    /// this tool's to delete (the images of a repository it took over).
    Kept(String),
    /// Not asked for by the configuration, and not there: nothing to do, nothing to show.
    NotWanted,
}

impl Action {
    pub fn is_change(&self) -> bool {
        matches!(
            self,
            Action::Create
                | Action::Update(_)
                | Action::Replace(_)
                | Action::Delete
                | Action::Retire
        )
    }
}

/// What one step would do (in a plan) or did (after acting), and to which resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub action: Action,
    /// The resource's name or ID, for display; `None` for what does not exist (yet).
    pub id: Option<String>,
}

/// Where the engine records what it made or deleted, as soon as it did: the state's owner.
pub trait Journal: Sync {
    /// Records a step's resource, or with `None` forgets it.
    fn record(&self, step: StepId, record: Option<ResourceRecord>) -> Result<()>;
    /// Records a step's resource that a replacement is taking over from, or with `None` forgets
    /// it once it is deleted.
    fn retire(&self, step: StepId, record: Option<ResourceRecord>) -> Result<()>;
}

/// What the plan pass read of one step, handed to the pass that acts on it.
struct Found {
    live: Option<AnyLive>,
    /// The tags of a resource found under our name that is not ours: for `apply --adopt`, what
    /// it takes over; for `destroy`, why it is left alone.
    foreign: Option<String>,
}

/// One step of a plan.
struct PlannedStep {
    pub step: StepId,
    pub outcome: Outcome,
    found: Found,
}

/// The plan of a whole run: what each step found, and what the run would do about it.
pub struct Plan {
    pub operation: Operation,
    /// In the documented order.
    steps: Vec<PlannedStep>,
    /// What the plan pass learned (the IDs of what exists).
    pub facts: Facts,
    /// What an earlier, unfinished run is retiring, by step and ID: deleted by this apply once
    /// nothing uses it any more.
    pub retiring: Vec<(StepId, String)>,
}

impl Plan {
    /// Whether applying the plan retires something once the service has moved off it: a
    /// resource replaced, or one the configuration no longer asks for.
    pub fn has_retirements(&self) -> bool {
        self.operation == Operation::Apply
            && (!self.retiring.is_empty()
                || self
                    .steps
                    .iter()
                    .any(|p| matches!(p.outcome.action, Action::Replace(_) | Action::Delete)))
    }

    /// What the acting pass would do at each step, in the order it reports them (reversed for
    /// destroy).
    pub fn outcomes(&self) -> Vec<(StepId, &Outcome)> {
        let mut outcomes: Vec<_> = self
            .steps
            .iter()
            .filter(|p| p.outcome.action != Action::NotWanted)
            .map(|p| (p.step, &p.outcome))
            .collect();
        if self.operation == Operation::Destroy {
            outcomes.reverse();
        }
        outcomes
    }

    pub fn has_changes(&self) -> bool {
        !self.retiring.is_empty() || self.steps.iter().any(|p| p.outcome.action.is_change())
    }
}

/// Whose a live resource is.
enum Ownership {
    Ours,
    /// Recorded in the state as this stack's, but its tags (as its read returned them) no longer
    /// say so: ours, with its tags to restore.
    Untagged(String),
    /// Neither recorded nor tagged as ours; the tags it has instead, for messages.
    Foreign(String),
}

/// Whether a live resource is ours: recorded in the state, or tagged for this project and
/// environment.
async fn ownership(ctx: &Ctx, step: &dyn Step, live: &AnyLive) -> Result<Ownership> {
    let record = step.record(live)?;
    let recorded = ctx.recorded(step.id().key());
    if recorded.is_some_and(|r| r.imported && r.id == record.id) {
        // Taken over from another tool (`deployer import`): ours by the state, with the other
        // tool's tags, which cost a call to read for a resource whose read does not return them.
        let tags = step.tags(ctx, live).await?;
        return Ok(match owned_by_tags(ctx, &tags) {
            Ok(()) => Ownership::Ours,
            Err(tags) => Ownership::Untagged(tags),
        });
    }
    if recorded.map(|r| &r.id) == Some(&record.id) {
        // The state proves it; tags its read returned must still say so (tags cost a call for
        // the others, so they are not read just for this).
        return Ok(match step.read_tags(live)? {
            Some(tags) => match owned_by_tags(ctx, &tags) {
                Ok(()) => Ownership::Ours,
                Err(tags) => Ownership::Untagged(tags),
            },
            None => Ownership::Ours,
        });
    }
    let tags = step.tags(ctx, live).await?;
    Ok(match owned_by_tags(ctx, &tags) {
        Ok(()) => Ownership::Ours,
        Err(tags) => Ownership::Foreign(tags),
    })
}

fn owned_by_tags(ctx: &Ctx, tags: &[(String, String)]) -> Result<(), String> {
    if ctx
        .owner
        .matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    {
        Ok(())
    } else {
        Err(describe_tags(tags))
    }
}

/// The field of the change [`retag`] shows.
const RETAG_FIELD: &str = "tags";

/// The change `--adopt` makes to a resource found with `tags` (as described) instead of this
/// stack's.
fn retag(ctx: &Ctx, tags: &str) -> Change {
    Change::new(RETAG_FIELD, shown_tags(tags), ctx.owner.describe())
}

/// Tags as a plan's value shows them: the pairs, without the "tags " of a message.
fn shown_tags(described: &str) -> &str {
    described.strip_prefix("tags ").unwrap_or(described)
}

fn describe_tags(tags: &[(String, String)]) -> String {
    if tags.is_empty() {
        "no tags".to_owned()
    } else {
        let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("tags {}", pairs.join(", "))
    }
}

/// Reads one step and checks that what it found is ours. Reads run as soon as what they need is
/// read ([`Step::read_depends_on`]), which is sooner than the apply order.
async fn read_step(
    ctx: &Ctx,
    step: &dyn Step,
    facts: &Mutex<Facts>,
    operation: Operation,
    adopt: bool,
) -> Result<Found> {
    let known = lock(facts).clone();
    let detail = match operation {
        Operation::Apply => Detail::Full,
        Operation::Destroy => Detail::Identity,
    };
    let live = step.read(ctx, &known, detail).await?;
    let mut foreign = None;
    // Destroy checks ownership once every step is read (`check_tags_before_destroy`).
    if let (Some(live), true, Operation::Apply) = (&live, step.managed(), operation) {
        match ownership(ctx, step, live).await? {
            Ownership::Ours => {}
            // Its tags were removed behind the tool's back: drift, repaired by tagging it again.
            Ownership::Untagged(tags) => foreign = Some(tags),
            Ownership::Foreign(tags) if adopt => foreign = Some(tags),
            Ownership::Foreign(tags) => bail!(
                "found an existing {} {} with {tags}, not the tags of {}-{} (Project, \
                 Environment, ManagedBy=deployer); it may belong to someone else. Rename this \
                 stack's project or environment, delete that resource, or run again with \
                 --adopt to take it over",
                step.id(),
                step.record(live)?.id,
                ctx.owner.project,
                ctx.owner.environment,
            ),
        }
    }
    if let Some(live) = &live {
        step.publish(live, &mut lock(facts))?;
    }
    Ok(Found { live, foreign })
}

/// Marks what destroy must leave alone: even a resource in the state must still carry our tags
/// to be deleted, since the state could be stale or copied from another stack. Asked once every
/// step is read, so that the load balancer's resources share one tag lookup.
async fn check_tags_before_destroy(
    ctx: &Ctx,
    steps: &[&dyn Step],
    found: &mut BTreeMap<StepId, Found>,
) -> Result<()> {
    let checks = steps.iter().filter(|s| s.managed()).filter_map(|step| {
        let live = found.get(&step.id())?.live.as_ref()?;
        Some(async move {
            let tags = step.tags(ctx, live).await?;
            Ok::<_, anyhow::Error>((step.id(), owned_by_tags(ctx, &tags).err()))
        })
    });
    for (id, foreign) in futures_util::future::try_join_all(checks).await? {
        if let Some(found) = found.get_mut(&id) {
            found.foreign = foreign;
        }
    }
    Ok(())
}

/// Compares what a step found with what the configuration wants. Pure.
fn judge_step(ctx: &Ctx, step: &dyn Step, facts: &Facts, found: &Found) -> Result<Outcome> {
    let action = match &found.live {
        // A lookup the configuration does not ask for (no `[https]` zone) reads nothing.
        None if !step.managed() && !step.wanted(ctx) => Action::NotWanted,
        _ if !step.managed() => Action::Read,
        None if !step.wanted(ctx) => Action::NotWanted,
        // Already to be deleted at the end of the run (the plan lists it among what retires).
        Some(live) if !step.wanted(ctx) && retiring_already(ctx, step, live)? => Action::NotWanted,
        Some(_) if !step.wanted(ctx) => Action::Delete,
        None => Action::Create,
        Some(live) => {
            let mut changes = Vec::new();
            if let Some(tags) = &found.foreign {
                changes.push(retag(ctx, tags));
            }
            changes.extend(step.diff(ctx, facts, live)?);
            if changes.is_empty() {
                Action::NoChange
            } else if changes.iter().any(|c| c.forces_replacement) {
                Action::Replace(changes)
            } else {
                Action::Update(changes)
            }
        }
    };
    let id = match &found.live {
        Some(live) => Some(step.record(live)?.id),
        None => None,
    };
    Ok(Outcome { action, id })
}

/// What the destroy pass would do with what a step found.
fn judge_destroy(ctx: &Ctx, step: &dyn Step, found: &Found) -> Result<Outcome> {
    Ok(match &found.live {
        // A lookup that found nothing (not configured, or not needed to destroy) is not shown.
        None if !step.managed() => Outcome {
            action: Action::NotWanted,
            id: None,
        },
        None => Outcome {
            action: Action::Absent,
            id: None,
        },
        Some(live) => Outcome {
            action: match &found.foreign {
                _ if !step.managed() => Action::Read,
                Some(tags) => Action::NotOurs(tags.clone()),
                None => match step.kept_by_destroy(ctx, live)? {
                    Some(why) => Action::Kept(why),
                    None => Action::Delete,
                },
            },
            id: Some(step.record(live)?.id),
        },
    })
}

/// Destroy keeps what something not ours depends on: a load balancer whose listener is not
/// ours, a cluster holding a service that is not ours. Walks the steps dependents first, so
/// that what is kept keeps what it depends on in turn.
fn keep_what_foreign_resources_use(steps: &[&dyn Step], planned: &mut [PlannedStep]) {
    for at in (0..planned.len()).rev() {
        if planned[at].outcome.action != Action::Delete {
            continue;
        }
        let key = planned[at].step.key();
        let holder = steps.iter().zip(planned.iter()).find(|(step, plan)| {
            step.depends_on().contains(&key)
                && matches!(plan.outcome.action, Action::NotOurs(_) | Action::Kept(_))
        });
        if let Some((_, holder)) = holder {
            planned[at].outcome.action = Action::Kept(format!(
                "the {} {} depends on it and is not this stack's to delete",
                holder.step,
                holder.outcome.id.as_deref().unwrap_or_default()
            ));
        }
    }
}

/// The steps, by id, and what each waits for in `dependencies`.
fn waits_for<'a>(
    steps: &'a [&'a dyn Step],
    dependencies: impl Fn(&dyn Step) -> &'static [&'static str] + 'a,
) -> impl Fn(StepId) -> Vec<StepId> + 'a {
    let by_key: HashMap<&str, StepId> = steps.iter().map(|s| (s.id().key(), s.id())).collect();
    let needs: HashMap<StepId, Vec<StepId>> = steps
        .iter()
        .map(|s| {
            let deps = dependencies(*s)
                .iter()
                .filter_map(|key| by_key.get(key).copied())
                .collect();
            (s.id(), deps)
        })
        .collect();
    move |step| needs.get(&step).cloned().unwrap_or_default()
}

/// The first failure of a set of finished steps, in `order`, with any others named with it.
/// `Skipped` steps are never the cause: something else failed (or the run was stopped).
fn first_failure<T>(
    order: &[StepId],
    mut finished: BTreeMap<StepId, Finished<T>>,
    context: impl Fn(StepId) -> String,
) -> Result<BTreeMap<StepId, T>> {
    let mut failures = Vec::new();
    let mut done = BTreeMap::new();
    for step in order {
        match finished.remove(step) {
            Some(Finished::Done(value)) => {
                done.insert(*step, value);
            }
            Some(Finished::Failed(error)) => failures.push((*step, error)),
            Some(Finished::Skipped) | None => {}
        }
    }
    let mut failures = failures.into_iter();
    let Some((step, error)) = failures.next() else {
        if done.len() == order.len() {
            return Ok(done);
        }
        bail!("internal error: the run stopped before every step ran");
    };
    let others: Vec<String> = failures.map(|(s, e)| format!("{s}: {e:#}")).collect();
    // The first failure is the error (it keeps its exit code); any others are named with it.
    Err(if others.is_empty() {
        error.context(context(step))
    } else {
        error.context(format!(
            "{} (and also {})",
            context(step),
            others.join("; ")
        ))
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The steps named by `targets` (step keys) and every step they depend on, directly or through
/// others, in the order of `steps`: what Terraform's `-target` selects. A target that names no
/// step is an error saying which steps there are (with a "did you mean" for a near miss). Pure.
pub fn with_dependencies<'a>(
    steps: &[&'a dyn Step],
    targets: &[impl AsRef<str>],
) -> Result<Vec<&'a dyn Step>, String> {
    let keys: Vec<&str> = steps.iter().map(|s| s.id().key()).collect();
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    let mut unknown = Vec::new();
    for target in targets {
        let target = target.as_ref();
        match keys.iter().find(|k| **k == target) {
            Some(key) => {
                wanted.insert(key);
            }
            None => unknown.push(target),
        }
    }
    if !unknown.is_empty() {
        let described: Vec<String> = unknown
            .iter()
            .map(|name| {
                let near = keys
                    .iter()
                    .map(|k| (strsim::jaro_winkler(name, k), *k))
                    .filter(|(score, _)| *score > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                match near {
                    Some((_, key)) => format!("{name:?} (did you mean {key:?}?)"),
                    None => format!("{name:?}"),
                }
            })
            .collect();
        return Err(format!(
            "no step is called {}; the steps are: {}",
            described.join(", "),
            keys.join(", ")
        ));
    }
    // Dependencies come earlier than their dependents (the registry's test checks it), so one
    // walk from the last step back to the first collects them all.
    for step in steps.iter().rev() {
        if wanted.contains(step.id().key()) {
            wanted.extend(step.depends_on().iter().copied());
        }
    }
    Ok(steps
        .iter()
        .copied()
        .filter(|s| wanted.contains(s.id().key()))
        .collect())
}

/// What the plan pass read of every step, before it is judged: the workflow may decide what it
/// wants from what was read (the image to deploy, from the revision that runs) before
/// [`judge`] compares.
pub struct Reading {
    operation: Operation,
    found: BTreeMap<StepId, Found>,
    /// What the reads learned (the IDs of what exists).
    pub facts: Facts,
}

/// Reads every step and works out what `operation` would do. Makes no change in AWS.
///
/// `steps` are in the documented order; each names the steps it depends on by key. With `adopt`,
/// a resource found under our name without our tags is planned to be tagged as ours instead of
/// stopping the plan.
pub async fn plan(
    ctx: &Ctx,
    steps: &[&dyn Step],
    operation: Operation,
    adopt: bool,
) -> Result<Plan> {
    let reading = read(ctx, steps, operation, adopt).await?;
    judge(ctx, steps, reading)
}

/// The plan pass's reads, without judging them: [`plan`] is this, then [`judge`].
pub async fn read(
    ctx: &Ctx,
    steps: &[&dyn Step],
    operation: Operation,
    adopt: bool,
) -> Result<Reading> {
    let facts = Mutex::new(Facts::default());
    let order: Vec<StepId> = steps.iter().map(|s| s.id()).collect();
    let by_id: HashMap<StepId, &dyn Step> = steps.iter().map(|s| (s.id(), *s)).collect();
    let finished = graph::run(
        &order,
        waits_for(steps, |s| s.read_depends_on()),
        |id| {
            let step = by_id[&id];
            read_step(ctx, step, &facts, operation, adopt)
        },
        || false,
        |_, _| {},
    )
    .await;
    ctx.forget_shared_reads();
    let mut found = first_failure(&order, finished, |s| format!("reading the {s}"))?;
    if operation == Operation::Destroy {
        check_tags_before_destroy(ctx, steps, &mut found).await?;
    }
    Ok(Reading {
        operation,
        found,
        facts: facts.into_inner().unwrap_or_else(PoisonError::into_inner),
    })
}

/// Compares what [`read`] found with what the configuration (and the run) wants: the plan.
/// Pure: no AWS call.
pub fn judge(ctx: &Ctx, steps: &[&dyn Step], reading: Reading) -> Result<Plan> {
    let Reading {
        operation,
        mut found,
        facts,
    } = reading;
    let mut planned = Vec::new();
    // What later steps will see once earlier ones are applied: a resource that is kept publishes
    // what it is; one that is made anew (created, replaced, or a new task definition revision)
    // is only known after apply, and so is what depends on it.
    let mut applied = Facts::default();
    if operation == Operation::Apply {
        publish_retiring(ctx, steps, &mut applied);
    }
    for step in steps {
        let id = step.id();
        let found = found
            .remove(&id)
            .ok_or_else(|| anyhow!("internal error: the {id} was not read"))?;
        let outcome = match operation {
            Operation::Apply => judge_step(ctx, *step, &applied, &found)?,
            Operation::Destroy => judge_destroy(ctx, *step, &found)?,
        };
        let made_anew = match &outcome.action {
            Action::Create
            | Action::Replace(_)
            | Action::Delete
            | Action::Retire
            | Action::NotWanted => true,
            // Tags are put on the resource as it is: only another change makes a new one.
            Action::Update(changes) => {
                step.update_makes_new() && changes.iter().any(|c| c.field != RETAG_FIELD)
            }
            _ => false,
        };
        if let (Some(live), false) = (&found.live, made_anew) {
            step.publish(live, &mut applied)?;
        }
        if let (Some(live), Action::Replace(_)) = (&found.live, &outcome.action) {
            step.publish_retiring(&step.record(live)?, &mut applied);
        }
        planned.push(PlannedStep {
            step: id,
            outcome,
            found,
        });
    }
    if operation == Operation::Destroy {
        keep_what_foreign_resources_use(steps, &mut planned);
    }
    let retiring = steps
        .iter()
        .filter_map(|step| {
            let record = ctx.recorded.retiring.get(step.id().key())?;
            Some((step.id(), record.id.clone()))
        })
        .collect();
    Ok(Plan {
        operation,
        steps: planned,
        facts,
        retiring,
    })
}

/// The apply pass for one step: create or update what the plan pass found missing or different.
async fn apply_step(
    ctx: &Ctx,
    step: &dyn Step,
    facts: &Mutex<Facts>,
    found: Found,
    journal: &dyn Journal,
) -> Result<Outcome> {
    let known = lock(facts).clone();
    if step.managed() && !step.wanted(ctx) {
        return retire_unwanted(ctx, step, found, journal);
    }
    let (live, action) = match found.live {
        None if !step.managed() && !step.wanted(ctx) => {
            return Ok(Outcome {
                action: Action::NotWanted,
                id: None,
            })
        }
        None if !step.managed() => bail!("{} not found", step.id()),
        None => {
            let live = step.create(ctx, &known).await?;
            (live, Action::Create)
        }
        Some(live) if !step.managed() => (live, Action::Read),
        Some(live) => {
            let mut changes = Vec::new();
            if let Some(tags) = &found.foreign {
                step.tag(ctx, &live).await?;
                changes.push(retag(ctx, tags));
            }
            let updates = step.diff(ctx, &known, &live)?;
            if updates.iter().any(|c| c.forces_replacement) {
                // The new one goes beside the old, which stays until what uses it has moved.
                let replacement = step.create_replacement(ctx, &known, &live).await?;
                let old = step.record(&live)?;
                journal.retire(step.id(), Some(old.clone()))?;
                step.publish_retiring(&old, &mut lock(facts));
                changes.extend(updates);
                (replacement, Action::Replace(changes))
            } else {
                let live = if updates.is_empty() {
                    live
                } else {
                    let live = step.update(ctx, &known, &live).await?;
                    // Report what was done: an update may leave some of it for later (a rule
                    // the running tasks still need while something is replaced).
                    let left = step.diff(ctx, &known, &live)?;
                    changes.extend(updates.into_iter().filter(|c| !left.contains(c)));
                    live
                };
                let action = if changes.is_empty() {
                    Action::NoChange
                } else {
                    Action::Update(changes)
                };
                (live, action)
            }
        }
    };
    let record = step.record(&live)?;
    if step.managed() {
        journal.record(step.id(), Some(record.clone()))?;
    }
    step.publish(&live, &mut lock(facts))?;
    Ok(Outcome {
        action,
        id: Some(record.id),
    })
}

/// The apply pass for a resource the configuration does not ask for: nothing to do when it is
/// not there; otherwise it is no longer the stack's resource but one to retire, deleted once the
/// service no longer uses it (see [`retire`]). Later steps learn nothing from it.
fn retire_unwanted(
    ctx: &Ctx,
    step: &dyn Step,
    found: Found,
    journal: &dyn Journal,
) -> Result<Outcome> {
    if let Some(live) = &found.live {
        if retiring_already(ctx, step, live)? {
            // An earlier pass of this run (or an earlier run) retired it already.
            return Ok(Outcome {
                action: Action::NotWanted,
                id: None,
            });
        }
    }
    let Some(live) = found.live else {
        journal.record(step.id(), None)?;
        return Ok(Outcome {
            action: Action::NotWanted,
            id: None,
        });
    };
    let record = step.record(&live)?;
    journal.retire(step.id(), Some(record.clone()))?;
    journal.record(step.id(), None)?;
    Ok(Outcome {
        action: Action::Retire,
        id: Some(record.id),
    })
}

/// Whether `live` is what the state already records as retiring for `step`.
fn retiring_already(ctx: &Ctx, step: &dyn Step, live: &AnyLive) -> Result<bool> {
    let Some(retiring) = ctx.recorded.retiring.get(step.id().key()) else {
        return Ok(false);
    };
    Ok(step.record(live)?.id == retiring.id)
}

/// The destroy pass for one step: delete what the plan pass found and judged ours to delete.
async fn destroy_step(
    ctx: &Ctx,
    step: &dyn Step,
    (found, planned): (Found, Outcome),
    journal: &dyn Journal,
) -> Result<Outcome> {
    match (&planned.action, &found.live) {
        (Action::Delete, Some(live)) => {
            step.delete(ctx, live).await?;
            journal.record(step.id(), None)?;
        }
        (Action::Absent, _) if step.managed() => journal.record(step.id(), None)?,
        _ => {}
    }
    Ok(planned)
}

/// Runs one step's work, keeping it in `in_flight` meanwhile, so that an interrupted run can say
/// which steps it abandoned.
async fn tracked<T>(
    in_flight: &Mutex<BTreeSet<StepId>>,
    step: StepId,
    work: impl std::future::Future<Output = T>,
) -> T {
    lock(in_flight).insert(step);
    let result = work.await;
    lock(in_flight).remove(&step);
    result
}

/// What replacements of an earlier run, interrupted before they were finished, still retire:
/// until the workflow finishes them, what used the old resources keeps using them too.
fn publish_retiring(ctx: &Ctx, steps: &[&dyn Step], facts: &mut Facts) {
    if ctx.stage == Stage::Finish {
        return;
    }
    for step in steps {
        if let Some(record) = ctx.recorded.retiring.get(step.id().key()) {
            step.publish_retiring(record, facts);
        }
    }
}

/// Deletes what replacements left behind, once everything has moved to the replacements
/// (dependents first), forgetting each in `journal` as it goes.
///
/// A deletion can wait long for AWS to release what the resource used; `interrupt` stops it at
/// once (exit code 130): the resource stays recorded as retiring, and the next `apply` or
/// `destroy` deletes it.
pub async fn retire(
    ctx: &Ctx,
    steps: &[&dyn Step],
    retiring: &BTreeMap<String, ResourceRecord>,
    journal: &dyn Journal,
    interrupt: &Interrupt,
    mut report: impl FnMut(StepId, &Finished<Outcome>),
) -> Result<()> {
    for step in steps.iter().rev() {
        let Some(record) = retiring.get(step.id().key()) else {
            continue;
        };
        let result = tokio::select! {
            result = step.retire(ctx, record) => result,
            () = interrupt.raised() => {
                report(step.id(), &Finished::Skipped);
                return Err(ExitError::new(
                    Exit::Interrupted,
                    anyhow!(
                        "interrupted while deleting the replaced {} {}; it is still recorded \
                         as retiring, and the next `deployer apply` (or `destroy`) deletes it",
                        step.id(),
                        record.id
                    ),
                )
                .into());
            }
        };
        let finished = match &result {
            Ok(()) => Finished::Done(Outcome {
                action: Action::Delete,
                id: Some(record.id.clone()),
            }),
            Err(e) => Finished::Failed(anyhow!("{e:#}")),
        };
        report(step.id(), &finished);
        result.map_err(|e| e.context(format!("deleting the replaced {}", step.id())))?;
        journal.retire(step.id(), None)?;
    }
    Ok(())
}

/// Checks, before anything is asked or changed, that `apply` can carry out the whole plan.
pub fn check(steps: &[&dyn Step], plan: &Plan) -> Result<()> {
    refuse_what_cannot_be_done(steps, &plan.steps)
}

/// Checks the whole plan before the first change: a step whose plan cannot be carried out (a
/// field AWS cannot change in place, on a resource that cannot be replaced beside itself) stops
/// the run here, so that nothing is half done: no rule moved, no resource tagged by `--adopt`,
/// no revision registered.
fn refuse_what_cannot_be_done(steps: &[&dyn Step], planned: &[PlannedStep]) -> Result<()> {
    let replaceable = |id: StepId| steps.iter().any(|s| s.id() == id && s.replaceable());
    let refused: Vec<String> = planned
        .iter()
        .filter(|p| !replaceable(p.step))
        .filter_map(|p| match &p.outcome.action {
            Action::Replace(changes) => {
                let fields: Vec<String> = changes
                    .iter()
                    .filter(|c| c.forces_replacement)
                    .map(|c| format!("{}: {} -> {}", c.field, c.old, c.new))
                    .collect();
                Some(format!(
                    "the {} {} ({})",
                    p.step,
                    p.outcome.id.as_deref().unwrap_or_default(),
                    fields.join("; ")
                ))
            }
            _ => None,
        })
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ExitError::new(
        Exit::Error,
        anyhow!(
            "nothing was changed: {} cannot be changed in place, and replacing it would change \
             the stack's address or network; set the configuration back, or delete that \
             resource (`deployer destroy` for the stack's own, by hand for one that is not) and \
             apply again",
            refused.join(", and ")
        ),
    )
    .into())
}

/// Work that must succeed before a step starts, given what the steps before it made: `apply`'s
/// release command, run as a one-off task of a new task definition revision before the service
/// is moved to it. When it fails, the step fails with its error and does not start.
pub struct Gate<'a> {
    /// The step it guards.
    pub before: StepId,
    pub check: Box<dyn Fn(Facts) -> LocalBoxFuture<'a, Result<()>> + 'a>,
}

/// How long the calls in flight get to finish after Ctrl-C or SIGTERM before they are abandoned.
const INTERRUPT_GRACE: Duration = Duration::from_secs(20);

/// Carries out a plan made from the same `steps`: creates and updates (or deletes) in dependency
/// order, recording each resource in `journal` as soon as it is made or gone, and reporting each
/// step in the documented order as it finishes. Returns the facts gathered, for the outputs.
///
/// When `interrupt` is raised, no new step starts; the steps in flight get a grace period to
/// finish, and the run ends with [`Exit::Interrupted`].
pub async fn execute(
    ctx: &Ctx,
    steps: &[&dyn Step],
    plan: Plan,
    journal: &dyn Journal,
    interrupt: &Interrupt,
    report: impl FnMut(StepId, &Finished<Outcome>),
) -> Result<Facts> {
    execute_gated(ctx, steps, plan, journal, interrupt, None, report).await
}

/// [`execute`], with a [`Gate`] that must pass before the step it guards starts.
pub async fn execute_gated(
    ctx: &Ctx,
    steps: &[&dyn Step],
    plan: Plan,
    journal: &dyn Journal,
    interrupt: &Interrupt,
    gate: Option<Gate<'_>>,
    mut report: impl FnMut(StepId, &Finished<Outcome>),
) -> Result<Facts> {
    let Plan {
        operation,
        steps: planned,
        facts,
        ..
    } = plan;
    if operation == Operation::Apply {
        refuse_what_cannot_be_done(steps, &planned)?;
    }
    let found: Mutex<BTreeMap<StepId, (Found, Outcome)>> = Mutex::new(
        planned
            .into_iter()
            .map(|p| (p.step, (p.found, p.outcome)))
            .collect(),
    );
    let take = |step: StepId| {
        lock(&found)
            .remove(&step)
            .ok_or_else(|| anyhow!("internal error: the {step} was not planned"))
    };
    let by_id: HashMap<StepId, &dyn Step> = steps.iter().map(|s| (s.id(), *s)).collect();
    let mut order: Vec<StepId> = steps.iter().map(|s| s.id()).collect();
    let facts = Mutex::new(match operation {
        Operation::Apply => {
            let mut facts = Facts::default();
            publish_retiring(ctx, steps, &mut facts);
            facts
        }
        Operation::Destroy => facts,
    });
    let in_flight: Mutex<BTreeSet<StepId>> = Mutex::default();
    let stop = || interrupt.is_raised();
    // The step futures are `async move` over their step's id; what they share is borrowed.
    let (shared_facts, take, gate) = (&facts, &take, gate.as_ref());
    let run = async {
        match operation {
            Operation::Apply => {
                graph::run(
                    &order,
                    waits_for(steps, |s| s.depends_on()),
                    |id| {
                        let step = by_id[&id];
                        tracked(&in_flight, id, async move {
                            if let Some(gate) = gate.filter(|g| g.before == id) {
                                let known = lock(shared_facts).clone();
                                (gate.check)(known).await?;
                            }
                            apply_step(ctx, step, shared_facts, take(id)?.0, journal).await
                        })
                    },
                    stop,
                    &mut report,
                )
                .await
            }
            Operation::Destroy => {
                order.reverse();
                let dependents = |id: StepId| -> Vec<StepId> {
                    steps
                        .iter()
                        .filter(|s| s.depends_on().contains(&id.key()))
                        .map(|s| s.id())
                        .collect()
                };
                graph::run(
                    &order,
                    dependents,
                    |id| {
                        let step = by_id[&id];
                        tracked(&in_flight, id, async move {
                            destroy_step(ctx, step, take(id)?, journal).await
                        })
                    },
                    stop,
                    &mut report,
                )
                .await
            }
        }
    };
    let finished = {
        tokio::pin!(run);
        tokio::select! {
            finished = &mut run => Some(finished),
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
        let abandoned: Vec<&str> = lock(&in_flight).iter().map(|s| s.label()).collect();
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
            anyhow!("interrupted; the state records everything completed{left}"),
        )
        .into());
    }
    let finished =
        finished.ok_or_else(|| anyhow!("internal error: the run ended without a result"))?;
    first_failure(&order, finished, |s| s.label().to_owned())?;
    Ok(facts.into_inner().unwrap_or_else(PoisonError::into_inner))
}
