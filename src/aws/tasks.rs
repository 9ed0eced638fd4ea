//! One-off ECS tasks (`deployer run`, the release command) and the service's running tasks
//! (`deployer exec`): starting a task of a revision in the service's network, reading a task,
//! and what its end means.

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, LaunchType, NetworkConfiguration, Task,
    TaskOverride,
};

use super::errors::AwsResultExt;

/// Where and how the service runs its tasks, read from the service, so that a one-off task
/// runs like them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskPlace {
    pub cluster: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

impl TaskPlace {
    /// The network configuration of `service` (in `cluster`); `None` for a service without an
    /// `awsvpc` configuration, which this stack's never is.
    pub fn of_service(service: &aws_sdk_ecs::types::Service, cluster: &str) -> Option<Self> {
        let vpc = service
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())?;
        Some(TaskPlace {
            cluster: cluster.to_owned(),
            subnets: vpc.subnets().to_vec(),
            security_groups: vpc.security_groups().to_vec(),
            assign_public_ip: vpc.assign_public_ip() == Some(&AssignPublicIp::Enabled),
        })
    }
}

/// A one-off task to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOffTask {
    /// The task definition revision (ARN).
    pub task_definition: String,
    /// The container whose command is replaced.
    pub container: String,
    /// The command, replacing the image's `CMD` (the entry point stays).
    pub command: Vec<String>,
    /// CPU units and memory (MiB) for the task instead of the revision's.
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    /// ECS's `startedBy`, shown in the console (`deployer run`, `deployer release`).
    pub started_by: String,
}

/// The ID of a task: the last part of its ARN (`arn:...:task/CLUSTER/ID`), or the ID itself.
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Starts one Fargate task of `task` in `place`. An answer with a failure and no task (no
/// capacity, a missing revision) is an error that says why.
///
/// Follows <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html>.
pub async fn run_task(
    ecs: &aws_sdk_ecs::Client,
    place: &TaskPlace,
    task: &OneOffTask,
) -> Result<String> {
    let container = ContainerOverride::builder()
        .name(&task.container)
        .set_command(Some(task.command.clone()))
        .build();
    let overrides = TaskOverride::builder()
        .container_overrides(container)
        .set_cpu(task.cpu.map(|c| c.to_string()))
        .set_memory(task.memory.map(|m| m.to_string()))
        .build();
    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(place.subnets.clone()))
                .set_security_groups(Some(place.security_groups.clone()))
                .assign_public_ip(if place.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()?,
        )
        .build();
    let answer = ecs
        .run_task()
        .cluster(&place.cluster)
        .task_definition(&task.task_definition)
        .launch_type(LaunchType::Fargate)
        .network_configuration(network)
        .overrides(overrides)
        .started_by(&task.started_by)
        .count(1)
        .send()
        .await
        .or_context(format!("starting a task of {}", task.task_definition))?;
    if let Some(arn) = answer.tasks().first().and_then(|t| t.task_arn()) {
        return Ok(arn.to_owned());
    }
    let why: Vec<String> = answer
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{}{}",
                f.reason().unwrap_or("unknown reason"),
                f.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            )
        })
        .collect();
    Err(anyhow!(
        "ECS started no task of {}: {}",
        task.task_definition,
        if why.is_empty() {
            "it gave no reason".to_owned()
        } else {
            why.join("; ")
        }
    ))
}

/// The task `arn` of `cluster` as ECS describes it; `None` when ECS no longer knows it.
pub async fn describe_task(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arn: &str,
) -> Result<Option<Task>> {
    let answer = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .or_context(format!("reading task {}", task_id(arn)))?;
    Ok(answer.tasks().first().cloned())
}

/// How a task ended, once ECS reports it `STOPPED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    /// The container ran and exited with this code.
    Exited(i32),
    /// The container never ran to an exit code (the image could not be pulled, a secret could
    /// not be read, no capacity): ECS's stopped reason, with the container's reason if any.
    NotStarted(String),
}

/// How `task` ended, or `None` while it is not `STOPPED`.
pub fn task_end(task: &Task, container: &str) -> Option<TaskEnd> {
    if task.last_status() != Some("STOPPED") {
        return None;
    }
    let ours = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container))
        .or(task.containers().first());
    if let Some(code) = ours.and_then(|c| c.exit_code()) {
        return Some(TaskEnd::Exited(code));
    }
    // ECS may send an empty reason as well as none.
    let mut why = task
        .stopped_reason()
        .filter(|reason| !reason.trim().is_empty())
        .unwrap_or("ECS gave no reason")
        .to_owned();
    if let Some(reason) = ours.and_then(|c| c.reason()) {
        why.push_str(&format!(
            "; {}: {reason}",
            ours.and_then(|c| c.name()).unwrap_or(container)
        ));
    }
    Some(TaskEnd::NotStarted(why))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Container;

    use super::*;

    fn task(status: &str, container: Option<Container>, reason: Option<&str>) -> Task {
        Task::builder()
            .last_status(status)
            .set_containers(container.map(|c| vec![c]))
            .set_stopped_reason(reason.map(str::to_owned))
            .build()
    }

    #[test]
    fn a_stopped_task_ends_with_its_containers_exit_code_or_the_reason_it_never_ran() {
        let exited = Container::builder().name("app").exit_code(3).build();
        assert_eq!(
            task_end(&task("RUNNING", Some(exited.clone()), None), "app"),
            None
        );
        assert_eq!(
            task_end(&task("STOPPED", Some(exited), None), "app"),
            Some(TaskEnd::Exited(3))
        );
        let never = Container::builder()
            .name("app")
            .reason("CannotPullContainerError: pull access denied")
            .build();
        assert_eq!(
            task_end(
                &task("STOPPED", Some(never), Some("Task failed to start")),
                "app"
            ),
            Some(TaskEnd::NotStarted(
                "Task failed to start; app: CannotPullContainerError: pull access denied".into()
            ))
        );
        // The reported case: an empty `stoppedReason` printed as nothing after a colon.
        assert_eq!(
            task_end(&task("STOPPED", None, Some("")), "app"),
            Some(TaskEnd::NotStarted("ECS gave no reason".into()))
        );
        assert_eq!(task_id("arn:aws:ecs:eu-central-1:1:task/c/0abc"), "0abc");
        assert_eq!(task_id("0abc"), "0abc");
    }
}
