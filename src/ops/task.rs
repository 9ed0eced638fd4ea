//! One-off tasks: `deployer run` and `apply`'s release command. A task of a revision of the
//! stack's task definition, in the service's subnets and security group, with its command
//! replaced; its log stream is printed as it is written, and it is followed until it stops.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::Target;
use crate::aws::logs::{stream_events, LogEvent, StreamCursor};
pub use crate::aws::tasks::TaskEnd;
use crate::aws::tasks::{describe_task, run_task, task_end, task_id, OneOffTask, TaskPlace};
use crate::contract::Ctx;
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::printer::Printer;
use crate::resources::task_definition::log_stream;

/// How often a running task and its log stream are read: soon at first (a short command is
/// over in seconds), then every few seconds.
const POLL_DELAYS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(3),
];

/// What the service runs, for a one-off task to run the same way.
#[derive(Debug, Clone)]
pub struct ServiceTasks {
    /// The revision the service runs.
    pub task_definition: String,
    pub place: TaskPlace,
}

/// Reads the service: the revision it runs and its network configuration.
pub async fn service_tasks(ctx: &Ctx) -> Result<ServiceTasks> {
    let service = &ctx.active_service().await?;
    let place = TaskPlace::of_service(service, &ctx.names.cluster).ok_or_else(|| {
        anyhow!(
            "ECS service {} has no awsvpc network configuration to run a task in",
            ctx.names.service
        )
    })?;
    Ok(ServiceTasks {
        task_definition: service.task_definition().unwrap_or_default().to_owned(),
        place,
    })
}

/// A one-off task that ECS accepted.
#[derive(Debug, Clone)]
pub struct Started {
    pub arn: String,
    pub id: String,
    /// Its log stream in the stack's log group.
    pub stream: String,
}

/// Starts `command` in a task of `task_definition`, placed like the service's tasks.
pub async fn start(
    ctx: &Ctx,
    place: &TaskPlace,
    task_definition: &str,
    command: &[String],
    resources: (Option<u32>, Option<u32>),
    started_by: &str,
) -> Result<Started> {
    let container = ctx.config.container.name.clone();
    let task = OneOffTask {
        task_definition: task_definition.to_owned(),
        container: container.clone(),
        command: command.to_vec(),
        cpu: resources.0,
        memory: resources.1,
        started_by: started_by.to_owned(),
    };
    let arn = run_task(&ctx.aws.ecs, place, &task)
        .await
        .map_err(|e| ExitError::new(Exit::TaskNotStarted, e.context("the task could not start")))?;
    let id = task_id(&arn).to_owned();
    Ok(Started {
        stream: log_stream(&container, &id),
        arn,
        id,
    })
}

/// Follows a started task until ECS reports it stopped, handing each line of its log stream to
/// `line` as it appears, and the rest once it stopped. Gives up after `timeout` (exit 5), and
/// on Ctrl-C (exit 130); the task goes on in ECS either way, as the error says.
pub async fn follow(
    ctx: &Ctx,
    cluster: &str,
    task: &Started,
    timeout: Option<Duration>,
    interrupt: &Interrupt,
    mut line: impl FnMut(&LogEvent),
) -> Result<TaskEnd> {
    let started = Instant::now();
    let mut cursor = StreamCursor::default();
    let container = &ctx.config.container.name;
    let group = &ctx.names.log_group;
    let left_running = |what: &str| {
        format!(
            "{what}; task {} goes on in ECS (stop it with `aws ecs stop-task --cluster {cluster} \
             --task {}`)",
            task.id, task.id
        )
    };
    let mut poll = 0usize;
    loop {
        let described = describe_task(&ctx.aws.ecs, cluster, &task.arn).await?;
        // The stream is read after the task's state, so that the lines of a stopped task are
        // all there when the loop ends.
        for event in stream_events(&ctx.aws.logs, group, &task.stream, &mut cursor).await? {
            line(&event);
        }
        let Some(described) = described else {
            return Err(anyhow!("ECS no longer knows task {}", task.id));
        };
        if let Some(end) = task_end(&described, container) {
            return Ok(end);
        }
        if let Some(limit) = timeout {
            if started.elapsed() >= limit {
                return Err(ExitError::new(
                    Exit::TimedOut,
                    anyhow!(left_running(&format!(
                        "stopped waiting after {}s (timeouts.deployment)",
                        limit.as_secs()
                    ))),
                )
                .into());
            }
        }
        let delay = POLL_DELAYS[poll.min(POLL_DELAYS.len() - 1)];
        poll += 1;
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = interrupt.raised() => {
                return Err(ExitError::new(Exit::Interrupted, anyhow!(left_running("interrupted"))).into());
            }
        }
    }
}

/// What `deployer run` was asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub command: Vec<String>,
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
}

/// `deployer run`, before it starts the task: the stack opened, and what the service runs.
pub struct PreparedRun {
    pub ctx: Ctx,
    pub service: ServiceTasks,
    options: RunOptions,
}

/// Opens the stack (no lock: a one-off task changes none of its resources) and reads the
/// service.
pub async fn prepare(
    target: &Target,
    printer: &Printer,
    options: RunOptions,
) -> Result<PreparedRun> {
    let session = target.open(printer, None).await?;
    let service = service_tasks(&session.ctx).await?;
    Ok(PreparedRun {
        ctx: session.ctx,
        service,
        options,
    })
}

impl PreparedRun {
    /// Starts the task.
    pub async fn start(&self) -> Result<Started> {
        start(
            &self.ctx,
            &self.service.place,
            &self.service.task_definition,
            &self.options.command,
            (self.options.cpu, self.options.memory),
            "deployer-run",
        )
        .await
    }

    /// Follows it to its end (no time limit: a migration takes what it takes; Ctrl-C stops
    /// following).
    pub async fn follow(
        &self,
        task: &Started,
        interrupt: &Interrupt,
        line: impl FnMut(&LogEvent),
    ) -> Result<TaskEnd> {
        follow(
            &self.ctx,
            &self.service.place.cluster,
            task,
            None,
            interrupt,
            line,
        )
        .await
    }
}
