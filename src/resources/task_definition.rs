//! The Fargate task definition: one container with the configured image, name, port, environment,
//! command, health check and `awslogs` logging, run by the execution role, its code running as
//! the task role when there is one.
//!
//! Task definitions are immutable; a change registers a new revision. To never churn revisions
//! (each one restarts every task), the live definition is reduced to exactly the fields this tool
//! sets before comparing, so AWS's filled-in defaults never look like a difference.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use aws_config::retry::RetryConfig;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, HealthCheck, KeyValuePair,
    LogConfiguration, LogDriver, NetworkMode, OsFamily, PortMapping, RuntimePlatform, Secret,
    TaskDefinitionField, TaskDefinitionStatus, TransportProtocol,
};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::aws::ecs::{active, app_container};
use crate::aws::errors::{brief, describe, is_transient, not_propagated_yet};
use crate::aws::retry::{until_done, Attempt};
use crate::aws::tags::{owner_tags, pairs, tag_ecs};
use crate::aws::{AwsResultExt, Created};
use crate::config::{is_sensitive_name, ContainerHealthCheck};
use crate::contract::{
    compare, known, Change, Ctx, Detail, Facts, PlanValue, Resource, StepId, NONE,
};
use crate::state::ResourceRecord;

pub struct TaskDefinition;

/// The part of a task definition this tool manages, in a form that compares field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub family: String,
    pub cpu: String,
    pub memory: String,
    pub execution_role_arn: String,
    /// `container.name`; the load balancer reaches the container by it.
    pub container_name: String,
    pub image: String,
    pub container_port: i32,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub log_group: String,
    pub log_region: String,
    /// Empty for none.
    pub task_role_arn: String,
    /// As ECS spells it; a revision without `runtimePlatform` runs, and reads as, `X86_64`.
    pub cpu_architecture: String,
    pub command: Argv,
    pub entry_point: Argv,
    pub health_check: Option<HealthCheckSpec>,
    pub stop_timeout: Option<i32>,
    /// A revision that does not say is writable, and reads as `false`.
    pub read_only_root_filesystem: bool,
}

impl Spec {
    /// What a revision without our container reports: the family, and nothing else.
    fn bare(family: &str) -> Self {
        Spec {
            family: family.to_owned(),
            cpu: String::new(),
            memory: String::new(),
            execution_role_arn: String::new(),
            container_name: String::new(),
            image: String::new(),
            container_port: 0,
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
            log_group: String::new(),
            log_region: String::new(),
            task_role_arn: String::new(),
            cpu_architecture: DEFAULT_ARCHITECTURE.to_owned(),
            command: Argv::default(),
            entry_point: Argv::default(),
            health_check: None,
            stop_timeout: None,
            read_only_root_filesystem: false,
        }
    }
}

/// What Fargate runs when a task definition names no architecture.
const DEFAULT_ARCHITECTURE: &str = "X86_64";

/// A command line, shown as the JSON list it is written as: a plain comma list would hide where
/// one argument ends when an argument holds a comma or a space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Argv(pub Vec<String>);

impl PlanValue for Argv {
    fn show(&self) -> String {
        if self.0.is_empty() {
            NONE.to_owned()
        } else {
            serde_json::Value::from(self.0.clone()).to_string()
        }
    }
}

/// The container health check, with ECS's defaults filled in on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckSpec {
    pub command: Argv,
    pub interval: i32,
    pub timeout: i32,
    pub retries: i32,
    pub start_period: i32,
}

impl HealthCheckSpec {
    fn configured(h: &ContainerHealthCheck) -> Self {
        HealthCheckSpec {
            command: Argv(h.command.clone()),
            interval: to_i32(h.interval_seconds),
            timeout: to_i32(h.timeout_seconds),
            retries: to_i32(h.retries),
            start_period: to_i32(h.start_period_seconds),
        }
    }

    /// As read: what ECS leaves out is its default, so a check written with the defaults and
    /// one read back without them compare equal.
    fn reported(h: &HealthCheck) -> Self {
        let or = |value: Option<i32>, default: u32| value.unwrap_or_else(|| to_i32(default));
        HealthCheckSpec {
            command: Argv(h.command().to_vec()),
            interval: or(h.interval(), ContainerHealthCheck::DEFAULT_INTERVAL),
            timeout: or(h.timeout(), ContainerHealthCheck::DEFAULT_TIMEOUT),
            retries: or(h.retries(), ContainerHealthCheck::DEFAULT_RETRIES),
            start_period: or(h.start_period(), ContainerHealthCheck::DEFAULT_START_PERIOD),
        }
    }

    fn build(&self) -> Result<HealthCheck> {
        Ok(HealthCheck::builder()
            .set_command(Some(self.command.0.clone()))
            .interval(self.interval)
            .timeout(self.timeout)
            .retries(self.retries)
            .start_period(self.start_period)
            .build()?)
    }
}

impl PlanValue for HealthCheckSpec {
    fn show(&self) -> String {
        format!(
            "{} every {} s, timeout {} s, {} retries, start period {} s",
            self.command.show(),
            self.interval,
            self.timeout,
            self.retries,
            self.start_period
        )
    }
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[derive(Debug, Clone)]
pub struct Live {
    pub arn: String,
    pub spec: Spec,
    pub tags: Vec<(String, String)>,
}

const LOG_STREAM_PREFIX: &str = "ecs";

/// The log stream a task's container writes to: `awslogs` names it
/// `{prefix}/{container}/{task id}` (see "Using the awslogs log driver" in the ECS Developer
/// Guide).
pub fn log_stream(container: &str, task_id: &str) -> String {
    format!("{LOG_STREAM_PREFIX}/{container}/{task_id}")
}

/// How many revisions are checked or deregistered at once.
const CONCURRENT_CALLS: usize = 8;

/// The revision as a [`Spec`], read from its container named `container_name` (see
/// [`app_container`]); `None` for a revision without such a container.
fn spec_of(definition: &aws_sdk_ecs::types::TaskDefinition, container_name: &str) -> Option<Spec> {
    let container = app_container(definition, container_name)?;
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
        container_name: container.name().unwrap_or_default().to_owned(),
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
        task_role_arn: definition.task_role_arn().unwrap_or_default().to_owned(),
        cpu_architecture: definition
            .runtime_platform()
            .and_then(RuntimePlatform::cpu_architecture)
            .map_or(DEFAULT_ARCHITECTURE, CpuArchitecture::as_str)
            .to_owned(),
        command: Argv(container.command().to_vec()),
        entry_point: Argv(container.entry_point().to_vec()),
        health_check: container.health_check().map(HealthCheckSpec::reported),
        stop_timeout: container.stop_timeout(),
        read_only_root_filesystem: container.readonly_root_filesystem().unwrap_or(false),
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
    // Only an ACTIVE revision of our own family is ours to compare with (or to adopt): a
    // revision of another family in the service or in the state is someone else's.
    if definition.status() != Some(&TaskDefinitionStatus::Active)
        || definition.family() != Some(family.as_str())
    {
        return Ok(None);
    }
    // A revision without our container (registered by hand) differs in every field.
    let spec =
        spec_of(definition, &ctx.config.container.name).unwrap_or_else(|| Spec::bare(family));
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
        .name(&spec.container_name)
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
    // What is not configured is left out rather than sent as its default, so that a stack which
    // sets none of these registers exactly the definition it always did.
    if !spec.command.0.is_empty() {
        container = container.set_command(Some(spec.command.0.clone()));
    }
    if !spec.entry_point.0.is_empty() {
        container = container.set_entry_point(Some(spec.entry_point.0.clone()));
    }
    if let Some(check) = &spec.health_check {
        container = container.health_check(check.build()?);
    }
    if let Some(seconds) = spec.stop_timeout {
        container = container.stop_timeout(seconds);
    }
    if spec.read_only_root_filesystem {
        container = container.readonly_root_filesystem(true);
    }
    let platform = (spec.cpu_architecture != DEFAULT_ARCHITECTURE).then(|| {
        RuntimePlatform::builder()
            .cpu_architecture(CpuArchitecture::from(spec.cpu_architecture.as_str()))
            .operating_system_family(OsFamily::Linux)
            .build()
    });
    let task_role = (!spec.task_role_arn.is_empty()).then(|| spec.task_role_arn.clone());
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
        .set_task_role_arn(task_role)
        .set_runtime_platform(platform)
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

/// Shown instead of the value of a variable whose name looks like a secret.
const SENSITIVE: &str = "(sensitive)";
/// Shown instead of such a value that the plan changes.
const SENSITIVE_CHANGED: &str = "(sensitive, changed)";

/// The environments as a plan shows them. Plans end up in CI logs, so the value of a variable
/// whose name looks like a secret is never shown; that it changes still is, by a marker that
/// differs from the unchanged one.
fn shown_environments(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let hidden = |name: &str, value: &str, marker: &str| {
        if is_sensitive_name(name) {
            marker.to_owned()
        } else {
            value.to_owned()
        }
    };
    let shown_old = old
        .iter()
        .map(|(name, value)| (name.clone(), hidden(name, value, SENSITIVE)))
        .collect();
    let shown_new = new
        .iter()
        .map(|(name, value)| {
            let changed = old.get(name).is_some_and(|before| before != value);
            let marker = if changed {
                SENSITIVE_CHANGED
            } else {
                SENSITIVE
            };
            (name.clone(), hidden(name, value, marker))
        })
        .collect();
    (shown_old, shown_new)
}

impl Resource for TaskDefinition {
    const STEP: StepId = StepId::new("task_definition", "task definition");
    // The repository's URL names the image of `--image-tag`.
    const DEPENDS_ON: &'static [&'static str] =
        &["ecr_repository", "execution_role", "task_role", "log_group"];
    const UPDATE_MAKES_NEW: bool = true;
    type Live = Live;
    type Desired = Spec;

    fn desired(ctx: &Ctx, facts: &Facts) -> Spec {
        let config = &ctx.config;
        Spec {
            family: ctx.names.task_family.clone(),
            cpu: config.task.cpu.to_string(),
            memory: config.task.memory.to_string(),
            execution_role_arn: known(&facts.execution_role_arn),
            container_name: config.container.name.clone(),
            image: ctx.image(facts),
            container_port: config.container.port.into(),
            environment: config.container.environment.clone(),
            secrets: config.container.secrets.clone(),
            log_group: ctx.names.log_group.clone(),
            log_region: ctx.aws.region.clone(),
            task_role_arn: if config.wants_task_role() {
                known(&facts.task_role_arn)
            } else {
                String::new()
            },
            cpu_architecture: config.task.cpu_architecture.as_str().to_owned(),
            command: Argv(config.container.command.clone()),
            entry_point: Argv(config.container.entry_point.clone()),
            health_check: config
                .container
                .health_check
                .as_ref()
                .map(HealthCheckSpec::configured),
            stop_timeout: config.container.stop_timeout_seconds.map(to_i32),
            read_only_root_filesystem: config.container.read_only_root_filesystem,
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        // What runs is the revision to compare with: after a rollback it is not the family's
        // latest, and a runner without this state (another CI runner) must not count the
        // service's revision as a change just because its own last one has another number.
        // Without a service, the revision last deployed from this state, then the family's
        // latest, stand in.
        let services = ctx.services().await?;
        let running = active(&services).and_then(|s| s.task_definition());
        let deployed = ctx.recorded.task_definition_history.last();
        for reference in running.into_iter().chain(deployed.map(String::as_str)) {
            if let Some(live) = describe_revision(ctx, reference).await? {
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
        compare(
            &mut changes,
            "container_name",
            &old.container_name,
            &new.container_name,
        );
        compare(&mut changes, "image", &old.image, &new.image);
        compare(
            &mut changes,
            "container_port",
            &old.container_port,
            &new.container_port,
        );
        let (shown_old, shown_new) = shown_environments(&old.environment, &new.environment);
        compare(&mut changes, "environment", &shown_old, &shown_new);
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
        compare(
            &mut changes,
            "task_role_arn",
            &old.task_role_arn,
            &new.task_role_arn,
        );
        compare(
            &mut changes,
            "cpu_architecture",
            &old.cpu_architecture,
            &new.cpu_architecture,
        );
        compare(&mut changes, "command", &old.command, &new.command);
        compare(
            &mut changes,
            "entry_point",
            &old.entry_point,
            &new.entry_point,
        );
        compare(
            &mut changes,
            "container_health_check",
            &old.health_check,
            &new.health_check,
        );
        compare(
            &mut changes,
            "stop_timeout_seconds",
            &old.stop_timeout,
            &new.stop_timeout,
        );
        compare(
            &mut changes,
            "read_only_root_filesystem",
            &old.read_only_root_filesystem,
            &new.read_only_root_filesystem,
        );
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
        let family = format!(":task-definition/{}:", live.spec.family);
        let revisions: Vec<&String> = revisions.iter().filter(|a| a.contains(&family)).collect();
        // Every revision must carry our tags, not just the one the plan read: someone may have
        // registered one of their own in the family. Its tags were read already.
        let checks = revisions.iter().map(|arn| async move {
            if **arn == live.arn {
                return Ok::<_, anyhow::Error>((*arn, true));
            }
            let tags = ecs
                .list_tags_for_resource()
                .resource_arn(*arn)
                .send()
                .await
                .or_context(format!("reading the tags of {arn}"))?;
            let pairs = pairs(tags.tags());
            let ours = ctx
                .owner
                .matches(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Ok((*arn, ours))
        });
        let checked: Vec<(&String, bool)> = stream::iter(checks)
            .buffer_unordered(CONCURRENT_CALLS)
            .try_collect()
            .await?;
        let (ours, others): (Vec<_>, Vec<_>) = checked.into_iter().partition(|(_, ours)| *ours);
        if !others.is_empty() {
            let others: Vec<&str> = others.iter().map(|(arn, _)| arn.as_str()).collect();
            ctx.printer.warn(&format!(
                "left alone {} revision(s) of {} without this stack's tags: {}",
                others.len(),
                live.spec.family,
                others.join(", ")
            ));
        }
        // A few at a time: every image deploy leaves one more revision, so one after another
        // would make destroy slower with every deploy, and all at once would be throttled.
        let deregistrations = ours.into_iter().map(|(arn, _)| async move {
            ecs.deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .or_context(format!("deregistering {arn}"))
                .map(drop)
        });
        stream::iter(deregistrations)
            .buffer_unordered(CONCURRENT_CALLS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    fn read_tags(live: &Live) -> Option<Vec<(String, String)>> {
        Some(live.tags.clone())
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

#[cfg(test)]
#[path = "task_definition_tests.rs"]
mod tests;
