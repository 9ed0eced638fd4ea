//! The Fargate task definition: one container with the configured image, port, environment and
//! `awslogs` logging, run by the execution role.
//!
//! Task definitions are immutable; a change registers a new revision. To never churn revisions
//! (each one restarts every task), the live definition is reduced to exactly the fields this tool
//! sets before comparing, so AWS's filled-in defaults never look like a difference.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_config::retry::RetryConfig;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver, NetworkMode,
    PortMapping, Secret, TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};

use crate::aws::errors::{brief, describe, is_transient, not_propagated_yet};
use crate::aws::retry::{until_done, Attempt};
use crate::aws::tags::{owner_tags, pairs, tag_ecs};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, known, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::names::CONTAINER_NAME;
use crate::state::ResourceRecord;

pub struct TaskDefinition;

/// The part of a task definition this tool manages, in a form that compares field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: String,
    pub image: String,
    pub container_port: i32,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub log_group: String,
    pub log_region: String,
}

#[derive(Debug, Clone)]
pub struct Live {
    pub arn: String,
    pub spec: Spec,
    pub tags: Vec<(String, String)>,
}

const LOG_STREAM_PREFIX: &str = "ecs";

fn spec_of(definition: &aws_sdk_ecs::types::TaskDefinition) -> Option<Spec> {
    let container = definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some(CONTAINER_NAME))?;
    let log_options = container
        .log_configuration()
        .and_then(|l| l.options())
        .cloned()
        .unwrap_or_default();
    Some(Spec {
        family: definition.family().unwrap_or_default().to_owned(),
        cpu: definition.cpu().unwrap_or_default().to_owned(),
        memory: definition.memory().unwrap_or_default().to_owned(),
        execution_role_arn: definition
            .execution_role_arn()
            .unwrap_or_default()
            .to_owned(),
        image: container.image().unwrap_or_default().to_owned(),
        container_port: container
            .port_mappings()
            .first()
            .and_then(|p| p.container_port())
            .unwrap_or_default(),
        environment: container
            .environment()
            .iter()
            .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
            .collect(),
        secrets: container
            .secrets()
            .iter()
            .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
            .collect(),
        log_group: log_options
            .get("awslogs-group")
            .cloned()
            .unwrap_or_default(),
        log_region: log_options
            .get("awslogs-region")
            .cloned()
            .unwrap_or_default(),
    })
}

/// Reads one ACTIVE revision: by ARN, or the latest of a family when given the family's name.
async fn describe_revision(ctx: &Ctx, reference: &str) -> Result<Option<Live>> {
    let family = &ctx.names.task_family;
    let answer = ctx
        .aws
        .ecs
        .describe_task_definition()
        .task_definition(reference)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        // ECS answers ClientException for a revision or family it does not know.
        .or_absent(
            &["ClientException"],
            format!("reading task definition {reference}"),
        )?;
    let Some(answer) = answer else {
        return Ok(None);
    };
    let Some(definition) = answer.task_definition() else {
        return Ok(None);
    };
    if definition.status() != Some(&TaskDefinitionStatus::Active) {
        return Ok(None);
    }
    // A revision without our container (registered by hand) differs in every field.
    let spec = spec_of(definition).unwrap_or_else(|| Spec {
        family: family.clone(),
        cpu: String::new(),
        memory: String::new(),
        execution_role_arn: String::new(),
        image: String::new(),
        container_port: 0,
        environment: BTreeMap::new(),
        secrets: BTreeMap::new(),
        log_group: String::new(),
        log_region: String::new(),
    });
    Ok(Some(Live {
        arn: definition
            .task_definition_arn()
            .unwrap_or_default()
            .to_owned(),
        spec,
        tags: pairs(answer.tags()),
    }))
}

/// Registers a new revision of the family. Task definitions are immutable, so creating and
/// updating are both this.
async fn register(ctx: &Ctx, spec: &Spec) -> Result<Live> {
    let mut container = ContainerDefinition::builder()
        .name(CONTAINER_NAME)
        .image(&spec.image)
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(spec.container_port)
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &spec.log_group)
                .options("awslogs-region", &spec.log_region)
                .options("awslogs-stream-prefix", LOG_STREAM_PREFIX)
                .build()?,
        );
    for (name, value) in &spec.environment {
        container = container.environment(KeyValuePair::builder().name(name).value(value).build());
    }
    for (name, arn) in &spec.secrets {
        container = container.secrets(Secret::builder().name(name).value_from(arn).build()?);
    }
    let register = ctx
        .aws
        .ecs
        .register_task_definition()
        .family(&spec.family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu(&spec.cpu)
        .memory(&spec.memory)
        .execution_role_arn(&spec.execution_role_arn)
        .container_definitions(container.build())
        .set_tags(Some(owner_tags(&ctx.owner)?));
    // Registering is not idempotent: a blind retry after a lost answer adds a revision (and
    // a restart of every task). So the SDK does not retry it; before trying again, this looks
    // whether the lost attempt registered it after all.
    let family = &spec.family;
    let what = format!("registering task definition {}", spec.family);
    until_done(&what, ctx.iam_budget(), &ctx.printer, || async {
        let answer = register
            .clone()
            .customize()
            .config_override(
                aws_sdk_ecs::config::Builder::default().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await;
        match answer {
            Ok(registered) => {
                let definition = registered
                    .task_definition()
                    .context("RegisterTaskDefinition returned no task definition")?;
                Ok(Attempt::Done(Live {
                    arn: definition
                        .task_definition_arn()
                        .unwrap_or_default()
                        .to_owned(),
                    spec: spec.clone(),
                    tags: Vec::new(),
                }))
            }
            Err(e) if not_propagated_yet(&e) => Ok(Attempt::Wait(brief(&e))),
            Err(e) if is_transient(&e) => {
                let reason = brief(&e);
                match describe_revision(ctx, family).await? {
                    // A latest revision that is exactly this definition is as good as a new
                    // one, whether the lost attempt made it or it was there already.
                    Some(latest) if latest.spec == *spec => Ok(Attempt::Done(latest)),
                    _ => Ok(Attempt::Wait(reason)),
                }
            }
            Err(e) => Err(describe(e, &what)),
        }
    })
    .await
}

impl Resource for TaskDefinition {
    const STEP: StepId = StepId::new("task_definition", "task definition");
    // The repository's URL names the image of `--image-tag`.
    const DEPENDS_ON: &'static [&'static str] = &["ecr_repository", "execution_role", "log_group"];
    type Live = Live;
    type Desired = Spec;

    fn desired(ctx: &Ctx, facts: &Facts) -> Spec {
        let config = &ctx.config;
        Spec {
            family: ctx.names.task_family.clone(),
            cpu: config.task.cpu.to_string(),
            memory: config.task.memory.to_string(),
            execution_role_arn: known(&facts.execution_role_arn),
            image: ctx.image(facts),
            container_port: config.container.port.into(),
            environment: config.container.environment.clone(),
            secrets: config.container.secrets.clone(),
            log_group: ctx.names.log_group.clone(),
            log_region: ctx.aws.region.clone(),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        // The revision the service was last deployed with is the one to compare with: after a
        // rollback it is not the family's latest. Without a history (a lost state), or when it
        // was deregistered, the family's latest stands in.
        if let Some(deployed) = ctx.recorded.task_definition_history.last() {
            if let Some(live) = describe_revision(ctx, deployed).await? {
                return Ok(Some(live));
            }
        }
        describe_revision(ctx, &ctx.names.task_family).await
    }

    fn diff(live: &Live, desired: &Spec) -> Vec<Change> {
        let (old, new) = (&live.spec, desired);
        let mut changes = Vec::new();
        compare(&mut changes, "cpu", &old.cpu, &new.cpu);
        compare(&mut changes, "memory", &old.memory, &new.memory);
        compare(
            &mut changes,
            "execution_role_arn",
            &old.execution_role_arn,
            &new.execution_role_arn,
        );
        compare(&mut changes, "image", &old.image, &new.image);
        compare(
            &mut changes,
            "container_port",
            &old.container_port,
            &new.container_port,
        );
        compare(
            &mut changes,
            "environment",
            &old.environment,
            &new.environment,
        );
        // Secret ARNs are not secret, but keep the plan short: names only.
        compare(
            &mut changes,
            "secrets",
            &old.secrets.keys().collect::<Vec<_>>(),
            &new.secrets.keys().collect::<Vec<_>>(),
        );
        if changes.iter().all(|c| c.field != "secrets") && old.secrets != new.secrets {
            changes.push(Change::new("secrets", "(other ARNs)", "(configured ARNs)"));
        }
        compare(&mut changes, "log_group", &old.log_group, &new.log_group);
        compare(&mut changes, "log_region", &old.log_region, &new.log_region);
        changes
    }

    async fn create(ctx: &Ctx, spec: &Spec) -> Result<Created<Live>> {
        Ok(Created::New(register(ctx, spec).await?))
    }

    async fn update(ctx: &Ctx, _: &Live, spec: &Spec) -> Result<Live> {
        // Older revisions stay ACTIVE: they are what a rollback goes back to.
        register(ctx, spec).await
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        let ecs = &ctx.aws.ecs;
        let mut revisions = Vec::new();
        let mut pages = ecs
            .list_task_definitions()
            .family_prefix(&live.spec.family)
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.or_context("listing task definition revisions")?;
            revisions.extend(page.task_definition_arns().iter().cloned());
        }
        // The family prefix also matches longer family names; keep exactly ours.
        let ours = format!(":task-definition/{}:", live.spec.family);
        // All at once: every image deploy leaves one more revision, and one after another they
        // would make destroy slower with every deploy.
        let deregistrations =
            revisions
                .iter()
                .filter(|arn| arn.contains(&ours))
                .map(|arn| async move {
                    ecs.deregister_task_definition()
                        .task_definition(arn)
                        .send()
                        .await
                        .or_context(format!("deregistering {arn}"))
                });
        futures_util::future::try_join_all(deregistrations).await?;
        Ok(())
    }

    async fn tags(_: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        Ok(live.tags.clone())
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_ecs(&ctx.aws.ecs, &ctx.owner, &live.arn).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.arn.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.task_definition_arn = Some(live.arn.clone());
    }
}
