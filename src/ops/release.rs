//! The release command (`[release] command`): when `apply` registers a new task definition
//! revision, the command runs as a one-off task of that revision, in the service's network,
//! before the service is moved to it. Only when it exits 0 does the service get the revision;
//! otherwise the service keeps running the one it ran, and `apply` fails with exit code 6 and
//! the task's last lines.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{anyhow, Result};

use super::task::{follow, start, TaskEnd};
use crate::aws::tasks::TaskPlace;
use crate::contract::{Ctx, Facts};
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;

/// How many of the task's last lines a failure shows.
const LAST_LINES: usize = 20;

/// Runs the release command as a task of the revision `facts` names (the one just registered)
/// and waits for it, printing its lines on stderr. `Ok` only when it exited 0.
pub async fn run_release(
    ctx: &Ctx,
    facts: &Facts,
    command: &[String],
    interrupt: &Interrupt,
) -> Result<()> {
    let revision = facts
        .task_definition_arn
        .clone()
        .ok_or_else(|| anyhow!("internal error: no task definition revision to release"))?;
    let security_group = facts
        .ecs_security_group_id
        .clone()
        .ok_or_else(|| anyhow!("internal error: no tasks' security group to run the release in"))?;
    // The service's own network settings (see the service resource): the default subnets, the
    // tasks' security group, a public IP to reach ECR and the secrets without a NAT gateway.
    let place = TaskPlace {
        cluster: ctx.names.cluster.clone(),
        subnets: facts.subnet_ids.clone(),
        security_groups: vec![security_group],
        assign_public_ip: true,
    };
    let printer = &ctx.printer;
    let shown = command.join(" ");
    let failed = |why: String, last: &VecDeque<String>| -> anyhow::Error {
        let lines = if last.is_empty() {
            "(it wrote no log lines)".to_owned()
        } else {
            last.iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        ExitError::new(
            Exit::ReleaseFailed,
            anyhow!(
                "release command `{shown}` {why}; the service stays on the revision it ran. Its \
                 last lines:\n{lines}\n(run again with --skip-release to deploy without it)"
            ),
        )
        .into()
    };
    let task = match start(
        ctx,
        &place,
        &revision,
        command,
        (None, None),
        "deployer-release",
    )
    .await
    {
        Ok(task) => task,
        Err(e) => return Err(failed(format!("could not start: {e:#}"), &VecDeque::new())),
    };
    printer.info(&format!(
        "Release: running `{shown}` in task {} of {revision}",
        task.id
    ));
    let mut last = VecDeque::new();
    let timeout = Duration::from_secs(ctx.config.timeouts.deployment.into());
    let end = follow(
        ctx,
        &place.cluster,
        &task,
        Some(timeout),
        interrupt,
        |event| {
            let line = event.message.trim_end().to_owned();
            printer.info(&format!("release | {line}"));
            if last.len() == LAST_LINES {
                last.pop_front();
            }
            last.push_back(line);
        },
    )
    .await?;
    match end {
        TaskEnd::Exited(0) => {
            printer.info(&format!("Release: `{shown}` succeeded."));
            Ok(())
        }
        TaskEnd::Exited(code) => Err(failed(format!("exited with code {code}"), &last)),
        TaskEnd::NotStarted(why) => Err(failed(format!("stopped before it ran: {why}"), &last)),
    }
}
