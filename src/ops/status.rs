//! `status`: how the service is doing right now: the image it runs and where that came from, its
//! deployments, running tasks, the load balancer's view of the targets, and the URL. Reads only.

use anyhow::{anyhow, Result};
use aws_sdk_ecs::types::DesiredStatus;
use serde::Serialize;

use super::rollout::describe_targets;
use crate::aws::autoscaling::{resource_id, scalable_target};
use crate::aws::ecs::{describe_service, target_group_arn};
use crate::aws::AwsResultExt;
use crate::contract::{Resource, Revision};
use crate::names::{image_digest, image_tag, shown_image};
use crate::printer::Printer;
use crate::resources::target_group::TargetGroup;
use crate::resources::task_definition::revision;

/// The service as ECS and the load balancer see it; the JSON of `status --json`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub service: String,
    pub cluster: String,
    pub status: String,
    pub task_definition: String,
    /// The image of the revision the service runs; `None` when that revision cannot be read
    /// (deregistered, or not of this stack's family).
    pub image: Option<RunningImage>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<Deployment>,
    pub tasks: Vec<Task>,
    pub targets: Vec<TargetHealth>,
    /// The scalable target's range, with `[autoscaling]`; `None` without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
    pub url: Option<String>,
    /// The targets in one line, for people.
    #[serde(skip)]
    pub targets_line: Option<String>,
}

/// The image a revision runs, as its tags record it.
#[derive(Debug, Serialize)]
pub struct RunningImage {
    /// As the revision names it: `repo@sha256:...` once pinned to a digest.
    pub image: String,
    /// The tag it was deployed as (`v2`), when known.
    pub tag: Option<String>,
    /// `sha256:...`, when the revision pins one.
    pub digest: Option<String>,
    /// `configuration` (`container.image`) or `override` (`--image-tag`/`--image`); `None` when
    /// the revision does not record it (registered by hand, or by an older deployer).
    pub source: Option<String>,
    /// `container.image` when the revision was registered.
    pub configured_image: Option<String>,
    /// The image with its tag and digest, for people (`repo:v2@sha256:...`).
    #[serde(skip)]
    pub shown: String,
}

impl RunningImage {
    fn of(revision: &Revision) -> Self {
        let requested = revision.origin.as_ref().map(|o| o.requested.as_str());
        RunningImage {
            image: revision.image.clone(),
            tag: requested
                .and_then(image_tag)
                .or_else(|| image_tag(&revision.image))
                .map(str::to_owned),
            digest: image_digest(&revision.image).map(str::to_owned),
            source: revision
                .origin
                .as_ref()
                .map(|o| o.source.as_str().to_owned()),
            configured_image: revision.origin.as_ref().map(|o| o.configured.clone()),
            shown: shown_image(&revision.image, requested),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Deployment {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed: i32,
}

/// The service's scalable target as Application Auto Scaling reports it.
#[derive(Debug, Serialize)]
pub struct Autoscaling {
    /// Whether the target is registered (`false`: `[autoscaling]` is not applied yet).
    pub registered: bool,
    pub min: i32,
    pub max: i32,
}

#[derive(Debug, Serialize)]
pub struct Task {
    pub id: String,
    pub last_status: String,
    pub health: Option<String>,
    pub task_definition: String,
}

#[derive(Debug, Serialize)]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<i32>,
    pub state: String,
    pub reason: Option<String>,
}

/// The part of an ARN after its last `/`: what people call the thing.
fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Reads the service, its running tasks and its targets.
pub async fn status(target: &super::Target, printer: &Printer) -> Result<Status> {
    let session = target.open(printer, None).await?;
    let ctx = &session.ctx;
    let (aws, names) = (&ctx.aws, &ctx.names);
    let service = describe_service(&aws.ecs, names).await?;
    let service = service.as_ref().ok_or_else(|| {
        anyhow!(
            "ECS service {} does not exist; deploy it with `deployer apply --env {}`",
            names.service,
            ctx.config.environment
        )
    })?;

    let image = match service.task_definition() {
        Some(arn) => revision(ctx, arn).await?.as_ref().map(RunningImage::of),
        None => None,
    };

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

    let target_group = ctx
        .recorded(TargetGroup::STEP.key())
        .and_then(|r| r.arn.clone())
        .or_else(|| target_group_arn(service));
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
            .map(|t| TargetHealth {
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

    // One call, and only when `[autoscaling]` asks for a scalable target.
    let autoscaling = match &ctx.config.autoscaling {
        Some(_) => Some(
            match scalable_target(&aws.autoscaling, &resource_id(names)).await? {
                Some(target) => Autoscaling {
                    registered: true,
                    min: target.min_capacity(),
                    max: target.max_capacity(),
                },
                None => Autoscaling {
                    registered: false,
                    min: 0,
                    max: 0,
                },
            },
        ),
        None => None,
    };

    Ok(Status {
        service: names.service.clone(),
        cluster: names.cluster.clone(),
        status: service.status().unwrap_or_default().to_owned(),
        task_definition: short(service.task_definition().unwrap_or_default()).to_owned(),
        image,
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
        autoscaling,
        url: ctx.recorded.outputs.get("application_url").cloned(),
        targets_line,
    })
}
