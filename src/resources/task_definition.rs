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
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::aws::ecs::{active, describe_services, SERVICE_READ};
use crate::aws::errors::{brief, describe, is_transient, not_propagated_yet};
use crate::aws::retry::{until_done, Attempt};
use crate::aws::tags::{owner_tags, pairs, tag_ecs};
use crate::aws::{AwsResultExt, Created};
use crate::config::is_sensitive_name;
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

/// How many revisions are checked or deregistered at once.
const CONCURRENT_CALLS: usize = 8;

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
    // Only an ACTIVE revision of our own family is ours to compare with (or to adopt): a
    // revision of another family in the service or in the state is someone else's.
    if definition.status() != Some(&TaskDefinitionStatus::Active)
        || definition.family() != Some(family.as_str())
    {
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
    const DEPENDS_ON: &'static [&'static str] = &["ecr_repository", "execution_role", "log_group"];
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
            image: ctx.image(facts),
            container_port: config.container.port.into(),
            environment: config.container.environment.clone(),
            secrets: config.container.secrets.clone(),
            log_group: ctx.names.log_group.clone(),
            log_region: ctx.aws.region.clone(),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        // What runs is the revision to compare with: after a rollback it is not the family's
        // latest, and a runner without this state (another CI runner) must not count the
        // service's revision as a change just because its own last one has another number.
        // Without a service, the revision last deployed from this state, then the family's
        // latest, stand in.
        let services = ctx
            .read_once(SERVICE_READ, || {
                describe_services(&ctx.aws.ecs, &ctx.names.cluster, &ctx.names.service)
            })
            .await?;
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

    async fn tags(_: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        Ok(live.tags.clone())
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
mod tests {
    use super::*;

    const DB_PASSWORD: &str = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db-password";
    const API_KEY: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/api-key-AbCdEf";

    fn spec() -> Spec {
        Spec {
            family: "app-dev".into(),
            cpu: "256".into(),
            memory: "512".into(),
            execution_role_arn: "arn:aws:iam::123456789012:role/app-dev-execution".into(),
            image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev:v1".into(),
            container_port: 5000,
            environment: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
            secrets: BTreeMap::from([("DB_PASSWORD".into(), DB_PASSWORD.into())]),
            log_group: "/ecs/app-dev".into(),
            log_region: "eu-west-1".into(),
        }
    }

    fn live(spec: Spec) -> Live {
        Live {
            arn: "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:7".into(),
            spec,
            tags: Vec::new(),
        }
    }

    /// `spec` registered as one container named `container`, as `DescribeTaskDefinition`
    /// reports it: with the revision's metadata and the defaults AWS fills in.
    fn reported(spec: &Spec, container: &str) -> aws_sdk_ecs::types::TaskDefinition {
        let mut definition = ContainerDefinition::builder()
            .name(container)
            .image(&spec.image)
            .cpu(0)
            .essential(true)
            .port_mappings(
                PortMapping::builder()
                    .container_port(spec.container_port)
                    .host_port(spec.container_port)
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-stream-prefix", LOG_STREAM_PREFIX)
                    .options("awslogs-region", &spec.log_region)
                    .options("awslogs-group", &spec.log_group)
                    .build()
                    .unwrap(),
            );
        for (name, value) in spec.environment.iter().rev() {
            definition =
                definition.environment(KeyValuePair::builder().name(name).value(value).build());
        }
        for (name, arn) in &spec.secrets {
            definition = definition.secrets(
                Secret::builder()
                    .name(name)
                    .value_from(arn)
                    .build()
                    .unwrap(),
            );
        }
        aws_sdk_ecs::types::TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:7")
            .family(&spec.family)
            .revision(7)
            .status(TaskDefinitionStatus::Active)
            .cpu(&spec.cpu)
            .memory(&spec.memory)
            .execution_role_arn(&spec.execution_role_arn)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .compatibilities(Compatibility::Ec2)
            .compatibilities(Compatibility::Fargate)
            .container_definitions(definition.build())
            .build()
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    /// The diff of a live revision whose spec `edit` changed against the configured `spec()`.
    fn diff_with(edit: impl FnOnce(&mut Spec)) -> Vec<Change> {
        let mut found = spec();
        edit(&mut found);
        TaskDefinition::diff(&live(found), &spec())
    }

    #[test]
    fn same_definition_is_no_change() {
        assert_eq!(diff_with(|_| {}), Vec::<Change>::new());
    }

    #[test]
    fn revision_with_aws_defaults_filled_in_is_no_change() {
        let found = spec_of(&reported(&spec(), CONTAINER_NAME));
        assert_eq!(found, Some(spec()));
        assert_eq!(
            TaskDefinition::diff(&live(found.unwrap()), &spec()),
            Vec::<Change>::new()
        );
    }

    #[test]
    fn revision_without_our_container_differs_in_every_field() {
        let hand_made = reported(&spec(), "web");
        assert_eq!(spec_of(&hand_made), None);
        // What the read reports for it: the family, and nothing of our container.
        let found = Spec {
            family: spec().family,
            cpu: String::new(),
            memory: String::new(),
            execution_role_arn: String::new(),
            image: String::new(),
            container_port: 0,
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
            log_group: String::new(),
            log_region: String::new(),
        };
        let wanted = spec();
        assert_eq!(
            TaskDefinition::diff(&live(found), &wanted),
            [
                change("cpu", "(none)", "256"),
                change("memory", "(none)", "512"),
                change("execution_role_arn", "(none)", &wanted.execution_role_arn),
                change("image", "(none)", &wanted.image),
                change("container_port", "0", "5000"),
                change("environment", "(none)", "LOG_LEVEL=info"),
                change("secrets", "(none)", "DB_PASSWORD"),
                change("log_group", "(none)", "/ecs/app-dev"),
                change("log_region", "(none)", "eu-west-1"),
            ]
        );
    }

    #[test]
    fn cpu_change_shows_plain_units() {
        assert_eq!(
            diff_with(|s| s.cpu = "512".into()),
            [change("cpu", "512", "256")]
        );
    }

    #[test]
    fn memory_change_shows_plain_mebibytes() {
        assert_eq!(
            diff_with(|s| s.memory = "1024".into()),
            [change("memory", "1024", "512")]
        );
    }

    #[test]
    fn execution_role_change_shows_both_arns() {
        let other = "arn:aws:iam::123456789012:role/other";
        assert_eq!(
            diff_with(|s| s.execution_role_arn = other.into()),
            [change(
                "execution_role_arn",
                other,
                &spec().execution_role_arn
            )]
        );
    }

    #[test]
    fn image_change_shows_both_images() {
        let older = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev:v0";
        assert_eq!(
            diff_with(|s| s.image = older.into()),
            [change("image", older, &spec().image)]
        );
    }

    #[test]
    fn container_port_change_shows_plain_numbers() {
        assert_eq!(
            diff_with(|s| s.container_port = 8080),
            [change("container_port", "8080", "5000")]
        );
    }

    #[test]
    fn environment_change_shows_name_value_pairs() {
        assert_eq!(
            diff_with(|s| {
                s.environment.insert("LOG_LEVEL".into(), "debug".into());
                s.environment.insert("A".into(), "1".into());
            }),
            [change(
                "environment",
                "A=1, LOG_LEVEL=debug",
                "LOG_LEVEL=info"
            )]
        );
    }

    /// Reported case: the value of `DB_PASSWORD` in `[container.environment]` was printed by
    /// every plan. A variable whose name looks like a secret shows whether it changed, never its
    /// value, on either side.
    #[test]
    fn secret_values_echoed_into_ci_logs() {
        let env = |password: &str, token: &str| {
            BTreeMap::from([
                ("API_TOKEN".to_owned(), token.to_owned()),
                ("DB_PASSWORD".to_owned(), password.to_owned()),
                ("LOG_LEVEL".to_owned(), "info".to_owned()),
            ])
        };
        let diff = |old: BTreeMap<String, String>, new: BTreeMap<String, String>| {
            let found = Spec {
                environment: old,
                ..spec()
            };
            let wanted = Spec {
                environment: new,
                ..spec()
            };
            TaskDefinition::diff(&live(found), &wanted)
        };
        // One value changed: shown as changed, neither value shown.
        let changes = diff(env("old-hunter2", "tok-1"), env("hunter2", "tok-1"));
        assert_eq!(
            changes,
            [change(
                "environment",
                "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive), LOG_LEVEL=info",
                "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive, changed), LOG_LEVEL=info"
            )]
        );
        // Added, and removed.
        let mut without = env("", "tok-1");
        without.remove("DB_PASSWORD");
        assert_eq!(
            diff(without.clone(), env("hunter2", "tok-1")),
            [change(
                "environment",
                "API_TOKEN=(sensitive), LOG_LEVEL=info",
                "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive), LOG_LEVEL=info"
            )]
        );
        assert_eq!(
            diff(env("hunter2", "tok-1"), without),
            [change(
                "environment",
                "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive), LOG_LEVEL=info",
                "API_TOKEN=(sensitive), LOG_LEVEL=info"
            )]
        );
        // Unchanged: no change at all.
        assert_eq!(
            diff(env("hunter2", "tok-1"), env("hunter2", "tok-1")),
            Vec::<Change>::new()
        );
        for c in diff(env("old-hunter2", "tok-1"), env("hunter2", "tok-2")) {
            for shown in [&c.old, &c.new] {
                assert!(
                    !shown.contains("hunter2") && !shown.contains("tok-"),
                    "{c:?}"
                );
            }
        }
    }

    #[test]
    fn new_secret_shows_names_not_arns() {
        let mut wanted = spec();
        wanted.secrets.insert("API_KEY".into(), API_KEY.into());
        let changes = TaskDefinition::diff(&live(spec()), &wanted);
        assert_eq!(
            changes,
            [change("secrets", "DB_PASSWORD", "API_KEY, DB_PASSWORD")]
        );
    }

    #[test]
    fn secret_with_another_arn_is_one_change_without_arns() {
        let changes = diff_with(|s| {
            s.secrets.insert("DB_PASSWORD".into(), API_KEY.into());
        });
        assert_eq!(
            changes,
            [change("secrets", "(other ARNs)", "(configured ARNs)")]
        );
    }

    #[test]
    fn renamed_secret_with_another_arn_is_one_change_without_arns() {
        let changes = diff_with(|s| {
            s.secrets = BTreeMap::from([("API_KEY".into(), API_KEY.into())]);
        });
        assert_eq!(changes, [change("secrets", "API_KEY", "DB_PASSWORD")]);
        assert!(changes
            .iter()
            .all(|c| !c.old.contains("arn:") && !c.new.contains("arn:")));
    }

    #[test]
    fn log_group_change_shows_plain_names() {
        assert_eq!(
            diff_with(|s| s.log_group = "/ecs/other".into()),
            [change("log_group", "/ecs/other", "/ecs/app-dev")]
        );
    }

    #[test]
    fn log_region_change_shows_plain_regions() {
        assert_eq!(
            diff_with(|s| s.log_region = "us-east-1".into()),
            [change("log_region", "us-east-1", "eu-west-1")]
        );
    }
}
