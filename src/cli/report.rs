//! How plans, step results and outputs look, as text for people and JSON for programs.
//!
//! Kept apart from the commands so that `plan`, `apply` and `destroy` describe the same thing the
//! same way.

use serde::Serialize;

use crate::config::Config;
use crate::contract::{Change, StepId};
use crate::engine::{Action, Finished, Operation, Outcome, Plan};
use crate::ops::plan::Scope;

/// The symbol and word of an action, as Terraform users know them.
fn marker(action: &Action, done: bool) -> (&'static str, &'static str) {
    match (action, done) {
        (Action::Read, _) => ("", "found"),
        (Action::Create, false) => ("+", "create"),
        (Action::Create, true) => ("+", "created"),
        (Action::Update(_), false) => ("~", "update"),
        (Action::Update(_), true) => ("~", "updated"),
        (Action::Replace(_), false) => ("-/+", "replace"),
        (Action::Replace(_), true) => ("-/+", "replaced"),
        (Action::NoChange, _) => ("=", "up to date"),
        (Action::Delete, false) => ("-", "delete"),
        (Action::Delete, true) => ("-", "deleted"),
        (Action::Retire, false) => ("-", "delete"),
        (Action::Retire, true) => ("-", "to delete"),
        (Action::Absent, _) => ("", "not found"),
        (Action::NotOurs(_), _) => ("!", "not ours, left alone"),
        (Action::Kept(_), _) => ("!", "kept"),
        (Action::NotWanted, _) => ("", "not configured"),
    }
}

/// One line per step, and one per changed field below it.
pub fn step_lines(step: StepId, outcome: &Outcome, done: bool) -> Vec<String> {
    let (symbol, word) = marker(&outcome.action, done);
    let id = outcome.id.as_deref().unwrap_or("");
    let mut lines = vec![format!("{symbol:>2} {:<26} {word:<12} {id}", step.label())
        .trim_end()
        .to_owned()];
    match &outcome.action {
        Action::Update(changes) | Action::Replace(changes) => {
            lines.extend(changes.iter().map(change_line))
        }
        Action::NotOurs(why) => lines.push(format!("      it has {why}")),
        Action::Kept(why) => lines.push(format!("      {why}")),
        _ => {}
    }
    lines
}

fn change_line(change: &Change) -> String {
    let forces = if change.forces_replacement {
        " (forces replacement)"
    } else {
        ""
    };
    format!(
        "      {}: {} -> {}{forces}",
        change.field, change.old, change.new
    )
}

/// The line for a step that failed or was skipped during apply or destroy.
pub fn finished_lines(step: StepId, finished: &Finished<Outcome>) -> Vec<String> {
    match finished {
        // Nothing there, nothing asked for: nothing to say.
        Finished::Done(result) if result.action == Action::NotWanted => Vec::new(),
        Finished::Done(result) => step_lines(step, result, true),
        // The run's error repeats it in full; a message of several lines (a release
        // command's last log lines) is shown once, there.
        Finished::Failed(error) => {
            let error = format!("{error:#}");
            let first = error.lines().next().unwrap_or_default();
            vec![format!(" x {:<26} failed: {first}", step.label())]
        }
        Finished::Skipped => vec![format!("   {:<26} skipped", step.label())],
    }
}

/// Counts of what a plan would do.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    /// Only in plans that have replacements (a field AWS cannot change in place).
    #[serde(skip_serializing_if = "is_zero")]
    pub replace: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    pub fn of<'a>(actions: impl IntoIterator<Item = &'a Action>) -> Self {
        let mut summary = Summary::default();
        for action in actions {
            summary.count(action);
        }
        summary
    }

    /// What a plan would do, with what an unfinished earlier run retires.
    pub fn of_plan(plan: &Plan) -> Self {
        let mut summary = Summary::of(plan.outcomes().iter().map(|(_, o)| &o.action));
        summary.delete += plan.retiring.len();
        summary
    }

    /// Counts one more action.
    pub fn count(&mut self, action: &Action) {
        match action {
            Action::Create => self.create += 1,
            Action::Update(_) => self.update += 1,
            Action::Replace(_) => self.replace += 1,
            Action::Delete | Action::Retire => self.delete += 1,
            _ => {}
        }
    }

    pub fn line(&self) -> String {
        let replace = if self.replace > 0 {
            format!(", {} to replace", self.replace)
        } else {
            String::new()
        };
        format!(
            "{} to create, {} to update, {} to delete{replace}",
            self.create, self.update, self.delete
        )
    }
}

/// The plan as text, one block per step in the order the pass would act, and how a
/// replacement is carried out (its first stage is what the steps show).
pub fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for (step, outcome) in plan.outcomes() {
        lines.extend(step_lines(step, outcome, false));
    }
    for (step, id) in &plan.retiring {
        lines.push(format!(
            "{:>2} {:<26} {:<12} {id} (being replaced or no longer configured; deleted once \
             nothing uses it)",
            "-",
            step.label(),
            "delete"
        ));
    }
    if plan.has_retirements() {
        lines.push(
            "   The service stays reachable: what replaces a resource is made beside it, and what \
             the service stops using is deleted only once its deployment has completed."
                .to_owned(),
        );
    }
    lines
}

/// What a targeted run says first (as Terraform warns that targeting is in effect): which steps
/// it works on, and that the rest of the stack is neither read nor changed. `None` for the whole
/// stack.
pub fn targeted_note(scope: &Scope) -> Option<String> {
    if scope.is_whole() {
        return None;
    }
    let targets: Vec<&str> = scope.targets().iter().map(|s| s.key()).collect();
    let dependencies: Vec<&str> = scope
        .keys()
        .into_iter()
        .filter(|k| !targets.contains(k))
        .collect();
    let (it, depends) = match targets.len() {
        1 => ("it", "depends"),
        _ => ("they", "depend"),
    };
    let with = if dependencies.is_empty() {
        format!("{it} {depends} on no other step")
    } else {
        format!("and what {it} {depends} on: {}", dependencies.join(", "))
    };
    Some(format!(
        "targeted: only {} ({with}); the rest of the stack is neither read nor changed",
        targets.join(", ")
    ))
}

/// The stable, documented JSON form of a plan (`plan --json`).
#[derive(Debug, Serialize)]
pub struct PlanJson<'a> {
    pub format_version: u32,
    pub project: &'a str,
    pub environment: &'a str,
    pub operation: &'static str,
    /// Only in a targeted plan (`plan --target`): the steps named; `resources` then has only
    /// them and what they depend on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<&'static str>,
    pub resources: Vec<ResourceJson<'a>>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct ResourceJson<'a> {
    pub step: &'static str,
    pub resource: &'static str,
    pub id: Option<&'a str>,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<&'a Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

impl<'a> PlanJson<'a> {
    pub fn new(config: &'a Config, plan: &'a Plan, scope: &Scope) -> Self {
        let outcomes = plan.outcomes();
        let mut resources: Vec<ResourceJson<'a>> = outcomes
            .iter()
            .map(|(step, result)| ResourceJson {
                step: step.key(),
                resource: step.label(),
                id: result.id.as_deref(),
                action: match &result.action {
                    Action::Read => "read",
                    Action::Create => "create",
                    Action::Update(_) => "update",
                    Action::Replace(_) => "replace",
                    Action::NoChange => "no-change",
                    Action::Delete => "delete",
                    Action::Retire => "retire",
                    Action::Absent => "absent",
                    Action::NotOurs(_) => "not-ours",
                    Action::Kept(_) => "keep",
                    Action::NotWanted => "not-configured",
                },
                changes: match &result.action {
                    Action::Update(changes) | Action::Replace(changes) => changes.iter().collect(),
                    _ => Vec::new(),
                },
                reason: match &result.action {
                    Action::NotOurs(why) | Action::Kept(why) => Some(why.as_str()),
                    _ => None,
                },
            })
            .collect();
        // What an unfinished earlier run retires: deleted by this apply once nothing uses it.
        resources.extend(plan.retiring.iter().map(|(step, id)| ResourceJson {
            step: step.key(),
            resource: step.label(),
            id: Some(id.as_str()),
            action: "delete",
            changes: Vec::new(),
            reason: Some("being replaced or no longer configured; deleted once nothing uses it"),
        }));
        let summary = Summary::of_plan(plan);
        PlanJson {
            format_version: 1,
            project: &config.project,
            environment: &config.environment,
            operation: match plan.operation {
                Operation::Apply => "apply",
                Operation::Destroy => "destroy",
            },
            targets: scope.targets().iter().map(|s| s.key()).collect(),
            resources,
            summary,
        }
    }
}
