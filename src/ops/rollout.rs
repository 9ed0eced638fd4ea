//! Following an ECS deployment until it has really succeeded, or saying why it has not.
//!
//! "Running count equals desired" is not success: ECS may have rolled the deployment back (the
//! circuit breaker) and be running the *old* revision at full strength. So the watcher follows
//! the one deployment this run started, by ID: COMPLETED is success; FAILED, or the deployment
//! replaced by another, is a failed deploy (exit 4); the time budget running out is exit 5. While
//! it waits it prints what a person watching a CI log needs: the rollout counts, new service
//! events, why new tasks stopped, and the load balancer's view of the targets. When new tasks keep
//! stopping it fails after a few of them with their reasons, instead of waiting for the timeout.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{DeploymentRolloutState, DesiredStatus, Task};
use tokio::time::Instant;

use crate::aws::ecs::describe_service;
use crate::aws::errors::AwsResultExt;
use crate::contract::Ctx;
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;

/// After this many stopped tasks of the new deployment, stop waiting: it is not going to work.
const FAIL_FAST_STOPPED_TASKS: i32 = 3;

/// How long ECS may not yet list the service or the deployment that `CreateService` or
/// `UpdateService` just returned: its reads are eventually consistent. Once the deployment has
/// been seen, its absence means ECS replaced it.
const STALE_READS: Duration = Duration::from_secs(30);

/// Pauses between polls: quick at first (small changes roll out in seconds), then every 5 s.
const POLL_DELAYS: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
    Duration::from_secs(5),
];

/// What to follow.
pub struct Rollout<'a> {
    pub ctx: &'a Ctx,
    pub deployment_id: String,
    pub target_group_arn: Option<String>,
    pub timeout: Duration,
    /// When the execution role was created: tasks that fail to start because ECS cannot assume
    /// it yet, within `timeouts.iam_propagation` of that, are waited for rather than counted.
    pub role_created: Option<SystemTime>,
}

/// Follows the deployment a command started, when it started one (`deployment_id`), until it
/// completes: what `apply`, `restart` and `rollback` do once they changed the service. An error
/// carries exit code 4 (failed or rolled back), 5 (timed out, after `timeout` or
/// `timeouts.deployment` seconds) or 130 (interrupted). `target_group_arn` is the service's target
/// group, for the lines of its targets' health; `role_created` is when the execution role was
/// created, if this run made it ([`Rollout::role_created`]).
pub async fn follow_started(
    ctx: &Ctx,
    deployment_id: Option<&str>,
    target_group_arn: Option<String>,
    role_created: Option<SystemTime>,
    timeout: Option<u64>,
    interrupt: &Interrupt,
) -> Result<()> {
    let Some(deployment_id) = deployment_id else {
        return Ok(());
    };
    Rollout::new(ctx, deployment_id.to_owned(), target_group_arn, timeout)
        .role_created(role_created)
        .follow(interrupt)
        .await
}

/// What the watcher has already reported, so each line is printed once.
#[derive(Default)]
struct Seen {
    counts: Option<(i32, i32, i32, i32)>,
    events: BTreeSet<String>,
    stopped_tasks: BTreeSet<String>,
    stop_reasons: Vec<String>,
    /// Stopped tasks that failed only because the new execution role was not usable yet.
    waited_out: i32,
    /// Whether ECS has listed the deployment yet.
    listed: bool,
    targets: Option<String>,
}

impl<'a> Rollout<'a> {
    /// Follows `deployment_id` of the stack's service for `timeout` seconds, or
    /// `timeouts.deployment` without one.
    pub fn new(
        ctx: &'a Ctx,
        deployment_id: String,
        target_group_arn: Option<String>,
        timeout: Option<u64>,
    ) -> Self {
        Rollout {
            ctx,
            deployment_id,
            target_group_arn,
            timeout: Duration::from_secs(timeout.unwrap_or(ctx.config.timeouts.deployment.into())),
            role_created: None,
        }
    }

    /// The same, knowing when the execution role was created (see [`Rollout::role_created`]).
    pub fn role_created(mut self, created: Option<SystemTime>) -> Self {
        self.role_created = created;
        self
    }

    /// Waits for the deployment to complete; an error carries exit code 4, 5 or 130.
    pub async fn follow(&self, interrupt: &Interrupt) -> Result<()> {
        let ctx = self.ctx;
        let progress = ctx.printer.progress(&format!(
            "Waiting for deployment {} to complete",
            self.deployment_id
        ));
        let started = Instant::now();
        let started_at = SystemTime::now();
        let mut seen = Seen::default();
        for poll in 0.. {
            let stale_possible = !seen.listed && started.elapsed() < STALE_READS;
            let service = describe_service(&ctx.aws.ecs, &ctx.names).await?;
            let Some(service) = service else {
                if !stale_possible {
                    return Err(anyhow!("ECS service {} is gone", ctx.names.service));
                }
                tracing::info!("ECS does not list service {} yet", ctx.names.service);
                self.pause(poll, started, &seen, interrupt).await?;
                continue;
            };
            let deployment = service
                .deployments()
                .iter()
                .find(|d| d.id() == Some(self.deployment_id.as_str()));
            if deployment.is_none() && stale_possible {
                tracing::info!("ECS does not list deployment {} yet", self.deployment_id);
                self.pause(poll, started, &seen, interrupt).await?;
                continue;
            }
            seen.listed = true;
            // Events are printed first: they usually say why whatever follows happened.
            let mut events: Vec<_> = service
                .events()
                .iter()
                .filter(|e| {
                    e.created_at()
                        .and_then(|t| SystemTime::try_from(*t).ok())
                        .is_some_and(|t| t + Duration::from_secs(5) >= started_at)
                })
                .collect();
            events.reverse(); // ECS lists the newest first.
            for event in events {
                let id = event.id().unwrap_or_default().to_owned();
                if seen.events.insert(id) {
                    progress.line(
                        &ctx.printer,
                        &stamp(&format!("event: {}", event.message().unwrap_or_default())),
                    );
                }
            }
            let Some(deployment) = deployment else {
                return Err(failed(format!(
                    "deployment {} is no longer listed: ECS replaced it (rolled back){}",
                    self.deployment_id,
                    reasons(&seen)
                )));
            };
            let counts = (
                deployment.desired_count(),
                deployment.pending_count(),
                deployment.running_count(),
                deployment.failed_tasks(),
            );
            if seen.counts != Some(counts) {
                seen.counts = Some(counts);
                let (desired, pending, running, failed_tasks) = counts;
                let line = format!(
                    "rollout: {running}/{desired} running, {pending} pending, {failed_tasks} failed"
                );
                progress.set_message(&line);
                progress.line(&ctx.printer, &stamp(&line));
            }
            match deployment.rollout_state() {
                Some(DeploymentRolloutState::Completed) => {
                    progress.line(
                        &ctx.printer,
                        &stamp(&format!("deployment {} completed", self.deployment_id)),
                    );
                    return Ok(());
                }
                Some(DeploymentRolloutState::Failed) => {
                    return Err(failed(format!(
                        "deployment {} failed: {}{}",
                        self.deployment_id,
                        deployment
                            .rollout_state_reason()
                            .unwrap_or("ECS gave no reason"),
                        reasons(&seen)
                    )));
                }
                _ => {}
            }
            if deployment.failed_tasks() > seen.stopped_tasks.len() as i32 {
                for line in self.new_stopped_tasks(&mut seen).await? {
                    progress.line(&ctx.printer, &stamp(&line));
                }
            }
            let counted = deployment.failed_tasks() - seen.waited_out;
            if counted >= FAIL_FAST_STOPPED_TASKS {
                return Err(failed(format!(
                    "new tasks keep stopping ({counted} so far){}; not waiting for the circuit \
                     breaker to roll back",
                    reasons(&seen)
                )));
            }
            if let Some(line) = self.target_health(&mut seen).await? {
                progress.line(&ctx.printer, &stamp(&line));
            }
            self.pause(poll, started, &seen, interrupt).await?;
        }
        unreachable!("the loop only ends by returning")
    }

    /// Sleeps until the next poll, or ends the wait: the budget would run out first (exit 5),
    /// or the run was interrupted (exit 130).
    async fn pause(
        &self,
        poll: usize,
        started: Instant,
        seen: &Seen,
        interrupt: &Interrupt,
    ) -> Result<()> {
        let delay = POLL_DELAYS[poll.min(POLL_DELAYS.len() - 1)];
        if started.elapsed() + delay > self.timeout {
            let (desired, pending, running, _) = seen.counts.unwrap_or_default();
            return Err(ExitError::new(
                Exit::TimedOut,
                anyhow!(
                    "deployment {} did not complete within {}s ({running}/{desired} running, \
                     {pending} pending){}; it goes on in ECS. Wait longer with --timeout or \
                     timeouts.deployment, or see `deployer status`",
                    self.deployment_id,
                    self.timeout.as_secs(),
                    reasons(seen)
                ),
            )
            .into());
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = interrupt.raised() => {
                return Err(ExitError::new(
                    Exit::Interrupted,
                    anyhow!(
                        "stopped waiting for deployment {}; it goes on in ECS (see \
                         `deployer status`)",
                        self.deployment_id
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Why the deployment's tasks that stopped since the last look stopped.
    async fn new_stopped_tasks(&self, seen: &mut Seen) -> Result<Vec<String>> {
        let ctx = self.ctx;
        let listed = ctx
            .aws
            .ecs
            .list_tasks()
            .cluster(&ctx.names.cluster)
            .started_by(&self.deployment_id)
            .desired_status(DesiredStatus::Stopped)
            .send()
            .await
            .or_context("listing the stopped tasks")?;
        let new: Vec<String> = listed
            .task_arns()
            .iter()
            .filter(|arn| !seen.stopped_tasks.contains(*arn))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let described = ctx
            .aws
            .ecs
            .describe_tasks()
            .cluster(&ctx.names.cluster)
            .set_tasks(Some(new))
            .send()
            .await
            .or_context("reading the stopped tasks")?;
        let mut lines = Vec::new();
        for task in described.tasks() {
            let arn = task.task_arn().unwrap_or_default().to_owned();
            if seen.stopped_tasks.insert(arn) {
                let why = stop_reason(task);
                if self.role_not_usable_yet(task) {
                    seen.waited_out += 1;
                    lines.push(format!(
                        "task stopped: {why} (the new execution role is not usable yet; ECS \
                         starts another)"
                    ));
                } else {
                    lines.push(format!("task stopped: {why}"));
                    seen.stop_reasons.push(why);
                }
            }
        }
        Ok(lines)
    }

    /// Whether a task stopped because ECS could not assume the execution role yet, within
    /// `timeouts.iam_propagation` of the role's creation: IAM takes minutes to make a new role
    /// usable everywhere, and ECS counts the launches it refused meanwhile as failed tasks.
    fn role_not_usable_yet(&self, task: &Task) -> bool {
        let Some(created) = self.role_created else {
            return false;
        };
        let reason = task
            .stopped_reason()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !(reason.contains("unable to assume the role")
            || reason.contains("unable to assume role"))
        {
            return false;
        }
        let stopped = task
            .stopped_at()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .unwrap_or_else(SystemTime::now);
        let propagation = self.ctx.iam_budget().limit;
        stopped <= created + propagation
    }

    /// The load balancer's view of the targets, when it changed.
    async fn target_health(&self, seen: &mut Seen) -> Result<Option<String>> {
        let Some(arn) = &self.target_group_arn else {
            return Ok(None);
        };
        let answer = self
            .ctx
            .aws
            .elb
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .or_context("reading the target health")?;
        let summary = describe_targets(answer.target_health_descriptions());
        if seen.targets.as_deref() == Some(summary.as_str()) {
            return Ok(None);
        }
        seen.targets = Some(summary.clone());
        Ok(Some(summary))
    }
}

/// One line about the targets: how many in each state, with the reasons of unhealthy ones.
pub fn describe_targets(
    targets: &[aws_sdk_elasticloadbalancingv2::types::TargetHealthDescription],
) -> String {
    if targets.is_empty() {
        return "targets: none registered yet".to_owned();
    }
    let parts: Vec<String> = targets
        .iter()
        .map(|t| {
            let id = t
                .target()
                .map(|d| format!("{}:{}", d.id().unwrap_or("?"), d.port().unwrap_or_default()))
                .unwrap_or_default();
            let health = t.target_health();
            let state = health
                .and_then(|h| h.state())
                .map_or("unknown", |s| s.as_str());
            match health.and_then(|h| h.description()) {
                Some(why) if state != "healthy" => format!("{id} {state} ({why})"),
                _ => format!("{id} {state}"),
            }
        })
        .collect();
    format!("targets: {}", parts.join(", "))
}

/// Why a task stopped: ECS's reason and each container's exit code and reason.
fn stop_reason(task: &Task) -> String {
    let mut why = task
        .stopped_reason()
        .unwrap_or("no reason given")
        .to_owned();
    for container in task.containers() {
        let name = container.name().unwrap_or("container");
        match (container.exit_code(), container.reason()) {
            (Some(code), Some(reason)) => {
                why.push_str(&format!("; {name} exited {code}: {reason}"))
            }
            (Some(code), None) => why.push_str(&format!("; {name} exited {code}")),
            (None, Some(reason)) => why.push_str(&format!("; {name}: {reason}")),
            (None, None) => {}
        }
        if let Some(health) = container.health_status() {
            if health.as_str() == "UNHEALTHY" {
                why.push_str(&format!("; {name} failed its health check"));
            }
        }
    }
    // The kernel's words for a binary built for another CPU: an ARM64 image on X86_64 tasks or
    // the other way round. The cause is far from the message, so the fix is named with it.
    if why.to_ascii_lowercase().contains("exec format error") {
        why.push_str(ARCHITECTURE_HINT);
    }
    why
}

/// Added to a stop reason that says "exec format error".
const ARCHITECTURE_HINT: &str = " (hint: the image is built for another CPU architecture \
     than the task runs; set task.cpu_architecture to the image's, \"X86_64\" or \"ARM64\", \
     or build the image for the task's)";

fn reasons(seen: &Seen) -> String {
    if seen.stop_reasons.is_empty() {
        String::new()
    } else {
        format!("; stopped tasks: {}", seen.stop_reasons.join(" | "))
    }
}

fn failed(message: String) -> anyhow::Error {
    ExitError::new(Exit::DeploymentFailed, anyhow!(message)).into()
}

/// Prefixes a progress line with the UTC time of day, so CI logs show how long each phase took.
fn stamp(line: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!(
        "[{:02}:{:02}:{:02}] {line}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Container, Task};

    use super::*;

    #[test]
    fn exec_format_error_names_the_architecture_setting() {
        let task = Task::builder()
            .stopped_reason("Essential container in task exited")
            .containers(
                Container::builder()
                    .name("app")
                    .exit_code(255)
                    .reason(
                        "CannotStartContainerError: exec /usr/local/bin/python: exec format error",
                    )
                    .build(),
            )
            .build();
        let why = stop_reason(&task);
        assert!(why.ends_with(ARCHITECTURE_HINT), "{why}");
        assert!(why.contains("task.cpu_architecture"));
        let other = Task::builder()
            .stopped_reason("Essential container in task exited")
            .containers(Container::builder().name("app").exit_code(1).build())
            .build();
        assert!(!stop_reason(&other).contains("hint"));
    }
}
