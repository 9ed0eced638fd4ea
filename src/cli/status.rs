//! `deployer status`: how the service is doing right now: its deployments, running tasks, the
//! load balancer's view of the targets, and the URL.

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::DesiredStatus;
use clap::Args;
use serde::Serialize;

use super::GlobalArgs;
use crate::aws::errors::AwsResultExt;
use crate::engine::StepId;
use crate::exit::Exit;
use crate::printer::Printer;
use crate::resources::describe_service;
use crate::rollout::describe_targets;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Status {
    service: String,
    cluster: String,
    status: String,
    task_definition: String,
    desired: i32,
    running: i32,
    pending: i32,
    deployments: Vec<Deployment>,
    tasks: Vec<Task>,
    targets: Vec<Target>,
    url: Option<String>,
}

#[derive(Debug, Serialize)]
struct Deployment {
    id: String,
    status: String,
    task_definition: String,
    rollout_state: Option<String>,
    rollout_state_reason: Option<String>,
    desired: i32,
    running: i32,
    pending: i32,
    failed: i32,
}

#[derive(Debug, Serialize)]
struct Task {
    id: String,
    last_status: String,
    health: Option<String>,
    task_definition: String,
}

#[derive(Debug, Serialize)]
struct Target {
    id: String,
    port: Option<i32>,
    state: String,
    reason: Option<String>,
}

/// The part of an ARN after its last `/`: what people call the thing.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub async fn run(global: &GlobalArgs, args: &StatusArgs, printer: &Printer) -> Result<Exit> {
    let config = global.load_config()?;
    let (_, state) = global.load_state(&config)?;
    let aws = global.connect(&config).await;
    let names = crate::names::Names::new(&config);

    let service = describe_service(&aws.ecs, &names).await?;
    let service = service.as_ref().ok_or_else(|| {
        anyhow!(
            "ECS service {} does not exist; deploy it with `deployer apply --env {}`",
            names.service,
            config.environment
        )
    })?;

    let listed = aws
        .ecs
        .list_tasks()
        .cluster(&names.cluster)
        .service_name(&names.service)
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .or_context("listing the running tasks")?;
    let mut tasks = Vec::new();
    if !listed.task_arns().is_empty() {
        let described = aws
            .ecs
            .describe_tasks()
            .cluster(&names.cluster)
            .set_tasks(Some(listed.task_arns().to_vec()))
            .send()
            .await
            .or_context("reading the running tasks")?;
        tasks = described
            .tasks()
            .iter()
            .map(|t| Task {
                id: short(t.task_arn().unwrap_or_default()).to_owned(),
                last_status: t.last_status().unwrap_or_default().to_owned(),
                health: t.health_status().map(|h| h.as_str().to_owned()),
                task_definition: short(t.task_definition_arn().unwrap_or_default()).to_owned(),
            })
            .collect();
    }

    let state = state.unwrap_or_else(|| {
        crate::state::State::new(&config.project, &config.environment, &config.region)
    });
    let target_group = state
        .resources
        .get(StepId::TargetGroup.key())
        .and_then(|r| r.arn.clone())
        .or_else(|| {
            service
                .load_balancers()
                .first()
                .and_then(|l| l.target_group_arn().map(str::to_owned))
        });
    let mut targets = Vec::new();
    let mut targets_line = None;
    if let Some(arn) = target_group {
        let health = aws
            .elb
            .describe_target_health()
            .target_group_arn(&arn)
            .send()
            .await
            .or_context("reading the target health")?;
        targets_line = Some(describe_targets(health.target_health_descriptions()));
        targets = health
            .target_health_descriptions()
            .iter()
            .map(|t| Target {
                id: t
                    .target()
                    .and_then(|d| d.id())
                    .unwrap_or_default()
                    .to_owned(),
                port: t.target().and_then(|d| d.port()),
                state: t
                    .target_health()
                    .and_then(|h| h.state())
                    .map_or("unknown", |s| s.as_str())
                    .to_owned(),
                reason: t
                    .target_health()
                    .and_then(|h| h.description())
                    .map(str::to_owned),
            })
            .collect();
    }

    let status = Status {
        service: names.service.clone(),
        cluster: names.cluster.clone(),
        status: service.status().unwrap_or_default().to_owned(),
        task_definition: short(service.task_definition().unwrap_or_default()).to_owned(),
        desired: service.desired_count(),
        running: service.running_count(),
        pending: service.pending_count(),
        deployments: service
            .deployments()
            .iter()
            .map(|d| Deployment {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                task_definition: short(d.task_definition().unwrap_or_default()).to_owned(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_owned()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed: d.failed_tasks(),
            })
            .collect(),
        tasks,
        targets,
        url: state.outputs.get("application_url").cloned(),
    };

    if args.json {
        printer.data(&serde_json::to_string_pretty(&status)?);
        return Ok(Exit::Success);
    }
    printer.data(&format!(
        "ECS service {} in {}: {}, {} desired, {} running, {} pending, {}",
        status.service,
        status.cluster,
        status.status,
        status.desired,
        status.running,
        status.pending,
        status.task_definition
    ));
    printer.data("Deployments:");
    for d in &status.deployments {
        printer.data(&format!(
            "  {:<8} {}  {}  {}  {}/{} running, {} pending, {} failed",
            d.status,
            d.id,
            d.task_definition,
            d.rollout_state.as_deref().unwrap_or("-"),
            d.running,
            d.desired,
            d.pending,
            d.failed
        ));
    }
    if status.tasks.is_empty() {
        printer.data("Tasks: none running");
    } else {
        printer.data("Tasks:");
        for t in &status.tasks {
            printer.data(&format!(
                "  {}  {}  {}  {}",
                t.id,
                t.last_status,
                t.health.as_deref().unwrap_or("-"),
                t.task_definition
            ));
        }
    }
    if let Some(line) = targets_line {
        printer.data(&line.replacen("targets:", "Targets:", 1));
    }
    if let Some(url) = &status.url {
        printer.data(&format!("URL: {url}"));
    }
    Ok(Exit::Success)
}
