//! The ECS service: runs the task definition on Fargate in the stack's subnets (with a public IP in
//! the default VPC), behind the tasks' security group, registered in the target group.
//!
//! Deleting it scales it to zero first, so tasks drain from the load balancer instead of being
//! killed mid-request, and then waits until ECS reports it INACTIVE, since the cluster cannot be
//! deleted while it still lists the service.

use anyhow::{Context as _, Result};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentCircuitBreaker,
    DeploymentConfiguration, LaunchType, LoadBalancer, NetworkConfiguration,
};

use crate::aws::ecs::{active, describe_services, primary_deployment};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

use crate::aws::errors::{brief, describe, is_code, message, not_propagated_yet, not_visible_yet};
use crate::aws::retry::{send_when_ready, until_done, Attempt};
use crate::aws::tags::{owner_tags, pairs, tag_ecs};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, known, Change, Ctx, Detail, Facts, PlanValue, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Service;

/// The part of a service this tool manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub desired_count: i32,
    pub task_definition: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub load_balancers: Vec<LoadBalancerRef>,
    pub min_healthy_percent: i32,
    pub max_percent: i32,
    pub circuit_breaker: bool,
    pub health_check_grace_seconds: i32,
    /// Where the tasks run: the Fargate launch type (`Some("FARGATE")`) or, with `None`, the
    /// capacity provider strategy.
    pub launch_type: Option<String>,
    /// Sorted by provider; empty with a launch type.
    pub capacity_provider_strategy: Vec<StrategyItem>,
    /// ECS Exec on the service's tasks (`enableExecuteCommand`).
    pub enable_exec: bool,
}

/// One capacity provider of the service's strategy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StrategyItem {
    pub provider: String,
    pub weight: i32,
    pub base: i32,
}

impl PlanValue for StrategyItem {
    fn show(&self) -> String {
        format!(
            "{} weight {} base {}",
            self.provider, self.weight, self.base
        )
    }
}

/// How a service's capacity reads in a plan.
fn capacity(spec: &Spec) -> String {
    match &spec.launch_type {
        Some(launch_type) => format!("launch type {launch_type}"),
        None => spec.capacity_provider_strategy.show(),
    }
}

/// Where the load balancer sends traffic: a container's port, registered in a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerRef {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
}

impl PlanValue for LoadBalancerRef {
    fn show(&self) -> String {
        format!(
            "{}:{} in {}",
            self.container_name, self.container_port, self.target_group_arn
        )
    }
}

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub cluster: String,
    pub spec: Spec,
    pub tags: Vec<(String, String)>,
    /// The PRIMARY deployment: after a create or update, the one it started.
    pub deployment_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub cluster: String,
    pub spec: Spec,
}

/// A fresh idempotency token for one create: 32 random hex digits (ECS allows up to 36 ASCII
/// characters).
fn client_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

fn network(spec: &Spec) -> Result<NetworkConfiguration> {
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(spec.subnets.clone()))
                .set_security_groups(Some(spec.security_groups.clone()))
                .assign_public_ip(if spec.assign_public_ip {
                    AssignPublicIp::Enabled
                } else {
                    AssignPublicIp::Disabled
                })
                .build()?,
        )
        .build())
}

/// The strategy as ECS takes it; `None` for the launch type.
fn strategy(spec: &Spec) -> Result<Option<Vec<CapacityProviderStrategyItem>>> {
    if spec.capacity_provider_strategy.is_empty() {
        return Ok(None);
    }
    let items = spec
        .capacity_provider_strategy
        .iter()
        .map(|item| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&item.provider)
                .weight(item.weight)
                .base(item.base)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(items))
}

fn deployment(spec: &Spec) -> Result<DeploymentConfiguration> {
    Ok(DeploymentConfiguration::builder()
        .minimum_healthy_percent(spec.min_healthy_percent)
        .maximum_percent(spec.max_percent)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(spec.circuit_breaker)
                .rollback(spec.circuit_breaker)
                .build(),
        )
        .build())
}

fn load_balancers(spec: &Spec) -> Vec<LoadBalancer> {
    spec.load_balancers
        .iter()
        .map(|lb| {
            LoadBalancer::builder()
                .target_group_arn(&lb.target_group_arn)
                .container_name(&lb.container_name)
                .container_port(lb.container_port)
                .build()
        })
        .collect()
}

/// ECS's answer to `CreateService` while a service of that name is still DRAINING: "Unable to
/// Start a service that is still Draining."
fn still_draining<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    is_code(error, &["InvalidParameterException"])
        && message(error).is_some_and(|m| m.to_ascii_lowercase().contains("still draining"))
}

/// ECS's answer to `DeleteService` while a deployment is going on: "The service cannot be
/// stopped while deployments are active."
fn deployments_active<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    is_code(error, &["InvalidParameterException"])
        && message(error).is_some_and(|m| {
            m.to_ascii_lowercase()
                .contains("while deployments are active")
        })
}

impl Service {
    /// Polls until ECS no longer lists the service as ACTIVE or DRAINING: until then the
    /// cluster cannot be deleted.
    async fn wait_until_inactive(ctx: &Ctx, cluster: &str, name: &str) -> Result<()> {
        let what = format!("waiting for ECS service {name} to go away");
        until_done(&what, ctx.release_budget(), &ctx.printer, || async {
            let services = describe_services(&ctx.aws.ecs, cluster, name).await?;
            let going = services
                .iter()
                .filter_map(|s| s.status())
                .find(|status| matches!(*status, "ACTIVE" | "DRAINING"));
            Ok(match going {
                Some(status) => Attempt::Wait(format!("it is {status}")),
                None => Attempt::Done(()),
            })
        })
        .await
    }
}

impl Resource for Service {
    const STEP: StepId = StepId::new("service", "ECS service");
    const DEPENDS_ON: &'static [&'static str] = &[
        "network",
        "ecs_security_group",
        "target_group",
        "listener",
        "cluster",
        "task_definition",
    ];
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        let config = &ctx.config;
        Desired {
            name: ctx.names.service.clone(),
            cluster: ctx.names.cluster.clone(),
            spec: Spec {
                desired_count: to_i32(config.service.desired_count),
                task_definition: known(&facts.task_definition_arn),
                subnets: sorted(facts.subnet_ids.clone()),
                security_groups: vec![known(&facts.ecs_security_group_id)],
                assign_public_ip: facts.assign_public_ip.unwrap_or(true),
                // While a target group is being replaced, the service registers its tasks in
                // both, so that whichever the listener forwards to has them.
                load_balancers: facts
                    .retiring_target_group_arn
                    .iter()
                    .chain(std::iter::once(&known(&facts.target_group_arn)))
                    .map(|target_group_arn| LoadBalancerRef {
                        target_group_arn: target_group_arn.clone(),
                        container_name: config.container.name.clone(),
                        container_port: config.container.port.into(),
                    })
                    .collect(),
                min_healthy_percent: to_i32(config.service.min_healthy_percent),
                max_percent: to_i32(config.service.max_percent),
                circuit_breaker: config.service.circuit_breaker,
                health_check_grace_seconds: to_i32(config.service.health_check_grace_seconds),
                enable_exec: config.service.enable_exec,
                launch_type: config
                    .service
                    .capacity_providers
                    .is_empty()
                    .then(|| "FARGATE".to_owned()),
                capacity_provider_strategy: config
                    .service
                    .capacity_providers
                    .iter()
                    .map(|item| StrategyItem {
                        provider: item.provider.clone(),
                        weight: to_i32(item.weight),
                        base: to_i32(item.base),
                    })
                    .collect(),
            },
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        let (cluster, name) = (&ctx.names.cluster, &ctx.names.service);
        // Shared with the task definition's read, which compares with the revision it runs.
        let services = ctx.services().await?;
        let Some(service) = active(&services) else {
            return Ok(None);
        };
        let vpc = service
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration());
        let deployment = service.deployment_configuration();
        let breaker = deployment.and_then(|d| d.deployment_circuit_breaker());
        Ok(Some(Live {
            name: name.clone(),
            arn: service.service_arn().unwrap_or_default().to_owned(),
            cluster: cluster.clone(),
            tags: pairs(service.tags()),
            deployment_id: primary_deployment(service),
            spec: Spec {
                desired_count: service.desired_count(),
                task_definition: service.task_definition().unwrap_or_default().to_owned(),
                subnets: sorted(vpc.map(|v| v.subnets().to_vec()).unwrap_or_default()),
                security_groups: sorted(
                    vpc.map(|v| v.security_groups().to_vec())
                        .unwrap_or_default(),
                ),
                assign_public_ip: vpc.and_then(|v| v.assign_public_ip())
                    == Some(&AssignPublicIp::Enabled),
                load_balancers: service
                    .load_balancers()
                    .iter()
                    .map(|lb| LoadBalancerRef {
                        target_group_arn: lb.target_group_arn().unwrap_or_default().to_owned(),
                        container_name: lb.container_name().unwrap_or_default().to_owned(),
                        container_port: lb.container_port().unwrap_or_default(),
                    })
                    .collect(),
                // AWS fills in 100/200 when they were never set.
                min_healthy_percent: deployment
                    .and_then(|d| d.minimum_healthy_percent())
                    .unwrap_or(100),
                max_percent: deployment.and_then(|d| d.maximum_percent()).unwrap_or(200),
                circuit_breaker: breaker.is_some_and(|b| b.enable() && b.rollback()),
                health_check_grace_seconds: service
                    .health_check_grace_period_seconds()
                    .unwrap_or(0),
                enable_exec: service.enable_execute_command(),
                launch_type: service.launch_type().map(|t| t.as_str().to_owned()),
                capacity_provider_strategy: {
                    let mut items: Vec<StrategyItem> = service
                        .capacity_provider_strategy()
                        .iter()
                        .map(|item| StrategyItem {
                            provider: item.capacity_provider().to_owned(),
                            weight: item.weight(),
                            base: item.base(),
                        })
                        .collect();
                    items.sort();
                    items
                },
            },
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let (old, new) = (&live.spec, &desired.spec);
        let mut changes = Vec::new();
        compare(
            &mut changes,
            "desired_count",
            &old.desired_count,
            &new.desired_count,
        );
        compare(
            &mut changes,
            "task_definition",
            &old.task_definition,
            &new.task_definition,
        );
        compare(&mut changes, "subnets", &old.subnets, &new.subnets);
        compare(
            &mut changes,
            "security_groups",
            &old.security_groups,
            &new.security_groups,
        );
        compare(
            &mut changes,
            "assign_public_ip",
            &old.assign_public_ip,
            &new.assign_public_ip,
        );
        compare(
            &mut changes,
            "load_balancers",
            &old.load_balancers,
            &new.load_balancers,
        );
        compare(
            &mut changes,
            "min_healthy_percent",
            &old.min_healthy_percent,
            &new.min_healthy_percent,
        );
        compare(
            &mut changes,
            "max_percent",
            &old.max_percent,
            &new.max_percent,
        );
        compare(
            &mut changes,
            "circuit_breaker",
            &old.circuit_breaker,
            &new.circuit_breaker,
        );
        compare(
            &mut changes,
            "health_check_grace_seconds",
            &old.health_check_grace_seconds,
            &new.health_check_grace_seconds,
        );
        compare(
            &mut changes,
            "enable_exec",
            &old.enable_exec,
            &new.enable_exec,
        );
        // ECS's UpdateService cannot move a service between the Fargate launch type and
        // Fargate capacity providers; a strategy can change in place.
        if old.launch_type != new.launch_type {
            changes.push(Change::replacing("capacity", capacity(old), capacity(new)));
        } else {
            compare(
                &mut changes,
                "capacity_provider_strategy",
                &old.capacity_provider_strategy,
                &new.capacity_provider_strategy,
            );
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let spec = &desired.spec;
        let create = ctx
            .aws
            .ecs
            .create_service()
            .cluster(&desired.cluster)
            .service_name(&desired.name)
            .task_definition(&spec.task_definition)
            .desired_count(spec.desired_count)
            .set_launch_type(spec.launch_type.as_ref().map(|_| LaunchType::Fargate))
            .set_capacity_provider_strategy(strategy(spec)?)
            .network_configuration(network(spec)?)
            .set_load_balancers(Some(load_balancers(spec)))
            .deployment_configuration(deployment(spec)?)
            .health_check_grace_period_seconds(spec.health_check_grace_seconds)
            .enable_execute_command(spec.enable_exec)
            .set_tags(Some(owner_tags(&ctx.owner)?))
            .propagate_tags(aws_sdk_ecs::types::PropagateTags::Service)
            // The same token on every attempt makes a retried create return the service the lost
            // attempt made instead of failing.
            .client_token(client_token());
        // A service deleted by an interrupted destroy drains for minutes, and ECS refuses to
        // create one of the same name until it is INACTIVE.
        let services = ctx.services().await?;
        if services.iter().any(|s| s.status() == Some("DRAINING")) {
            Self::wait_until_inactive(ctx, &desired.cluster, &desired.name).await?;
        }
        let what = format!("creating ECS service {}", desired.name);
        let created = until_done(&what, ctx.iam_budget(), &ctx.printer, || async {
            match create.clone().send().await {
                Ok(created) => Ok(Attempt::Done(created)),
                // A new execution role or listener takes a while to be usable by ECS, and a new
                // cluster or security group a few seconds to be visible to it.
                Err(e) if not_propagated_yet(&e) || not_visible_yet(&e) => {
                    Ok(Attempt::Wait(brief(&e)))
                }
                // Drained since it was read, or read before the destroy began: wait again.
                Err(e) if still_draining(&e) => {
                    Self::wait_until_inactive(ctx, &desired.cluster, &desired.name).await?;
                    Ok(Attempt::Wait(brief(&e)))
                }
                Err(e) => Err(describe(e, &what)),
            }
        })
        .await?;
        let service = created
            .service()
            .context("CreateService returned no service")?;
        Ok(Created::New(Live {
            name: desired.name.clone(),
            arn: service.service_arn().unwrap_or_default().to_owned(),
            cluster: desired.cluster.clone(),
            spec: spec.clone(),
            tags: Vec::new(),
            deployment_id: primary_deployment(service),
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let (old, new) = (&live.spec, &desired.spec);
        let mut call = ctx
            .aws
            .ecs
            .update_service()
            .cluster(&live.cluster)
            .service(&live.name);
        // Send only what differs: an unchanged task definition must not start a deployment.
        if old.desired_count != new.desired_count {
            call = call.desired_count(new.desired_count);
        }
        if old.task_definition != new.task_definition {
            call = call.task_definition(&new.task_definition);
        }
        if (&old.subnets, &old.security_groups, old.assign_public_ip)
            != (&new.subnets, &new.security_groups, new.assign_public_ip)
        {
            call = call.network_configuration(network(new)?);
        }
        if old.load_balancers != new.load_balancers {
            call = call.set_load_balancers(Some(load_balancers(new)));
        }
        if (
            old.min_healthy_percent,
            old.max_percent,
            old.circuit_breaker,
        ) != (
            new.min_healthy_percent,
            new.max_percent,
            new.circuit_breaker,
        ) {
            call = call.deployment_configuration(deployment(new)?);
        }
        if old.health_check_grace_seconds != new.health_check_grace_seconds {
            call = call.health_check_grace_period_seconds(new.health_check_grace_seconds);
        }
        // ECS Exec is set when a task starts: the running tasks are replaced by a new
        // deployment ("Turning on ECS Exec", Amazon ECS Developer Guide).
        if old.enable_exec != new.enable_exec {
            call = call
                .enable_execute_command(new.enable_exec)
                .force_new_deployment(true);
        }
        // ECS applies a new strategy only with a new deployment.
        if old.capacity_provider_strategy != new.capacity_provider_strategy {
            call = call
                .set_capacity_provider_strategy(strategy(new)?)
                .force_new_deployment(true);
        }
        let what = format!("updating ECS service {}", live.name);
        let updated = send_when_ready(
            &what,
            ctx.iam_budget(),
            &ctx.printer,
            not_propagated_yet,
            || call.clone().send(),
        )
        .await?
        .or_context(&what)?;
        Ok(Live {
            spec: new.clone(),
            deployment_id: updated
                .service()
                .and_then(primary_deployment)
                .or_else(|| live.deployment_id.clone()),
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        let ecs = &ctx.aws.ecs;
        if live.spec.desired_count != 0 {
            ecs.update_service()
                .cluster(&live.cluster)
                .service(&live.name)
                .desired_count(0)
                .send()
                .await
                .or_context(format!("scaling ECS service {} to zero", live.name))?;
        }
        // Right after the scale to zero, ECS can refuse while the deployment it started is
        // still active.
        let what = format!("deleting ECS service {}", live.name);
        let deleted = send_when_ready(
            &what,
            ctx.release_budget(),
            &ctx.printer,
            deployments_active,
            || {
                ecs.delete_service()
                    .cluster(&live.cluster)
                    .service(&live.name)
                    .send()
            },
        )
        .await?
        .or_absent(&["ServiceNotFoundException"], &what)?;
        if deleted.is_none() {
            return Ok(());
        }
        Self::wait_until_inactive(ctx, &live.cluster, &live.name).await
    }

    fn read_tags(live: &Live) -> Option<Vec<(String, String)>> {
        Some(live.tags.clone())
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_ecs(&ctx.aws.ecs, &ctx.owner, &live.arn).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.name.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.service_arn = Some(live.arn.clone());
        facts.deployment_id = live.deployment_id.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTAINER_NAME: &str = "app";

    const TARGET_GROUP: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app-dev/1";
    const REVISION: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:7";

    fn spec() -> Spec {
        Spec {
            desired_count: 2,
            task_definition: REVISION.into(),
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-ecs".into()],
            assign_public_ip: true,
            load_balancers: vec![LoadBalancerRef {
                target_group_arn: TARGET_GROUP.into(),
                container_name: CONTAINER_NAME.into(),
                container_port: 5000,
            }],
            min_healthy_percent: 100,
            max_percent: 200,
            circuit_breaker: true,
            health_check_grace_seconds: 60,
            launch_type: Some("FARGATE".into()),
            capacity_provider_strategy: Vec::new(),
            enable_exec: false,
        }
    }

    /// The diff of a live service whose spec `edit` changed against the configured `spec()`.
    fn diff_with(edit: impl FnOnce(&mut Spec)) -> Vec<Change> {
        let mut live = Live {
            name: "app-dev".into(),
            arn: "arn:aws:ecs:eu-west-1:123456789012:service/app-dev/app-dev".into(),
            cluster: "app-dev".into(),
            spec: spec(),
            tags: Vec::new(),
            deployment_id: Some("ecs-svc/1234".into()),
        };
        edit(&mut live.spec);
        let desired = Desired {
            name: "app-dev".into(),
            cluster: "app-dev".into(),
            spec: spec(),
        };
        Service::diff(&live, &desired)
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn same_service_is_no_change() {
        assert_eq!(diff_with(|_| {}), Vec::<Change>::new());
    }

    #[test]
    fn desired_count_change_shows_plain_numbers() {
        assert_eq!(
            diff_with(|s| s.desired_count = 1),
            [change("desired_count", "1", "2")]
        );
    }

    #[test]
    fn task_definition_change_shows_both_revisions() {
        let older = "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:6";
        assert_eq!(
            diff_with(|s| s.task_definition = older.into()),
            [change("task_definition", older, REVISION)]
        );
    }

    #[test]
    fn subnet_change_shows_comma_separated_ids() {
        assert_eq!(
            diff_with(|s| s.subnets = vec!["subnet-a".into()]),
            [change("subnets", "subnet-a", "subnet-a, subnet-b")]
        );
    }

    #[test]
    fn subnets_in_another_order_are_no_change() {
        // Both sides are sorted where they are built: ECS keeps the order it was given.
        let found = sorted(vec!["subnet-b".into(), "subnet-a".into()]);
        assert_eq!(diff_with(|s| s.subnets = found), Vec::<Change>::new());
    }

    #[test]
    fn security_group_change_shows_plain_ids() {
        assert_eq!(
            diff_with(|s| s.security_groups = vec!["sg-default".into()]),
            [change("security_groups", "sg-default", "sg-ecs")]
        );
    }

    #[test]
    fn public_ip_change_shows_plain_booleans() {
        assert_eq!(
            diff_with(|s| s.assign_public_ip = false),
            [change("assign_public_ip", "false", "true")]
        );
    }

    #[test]
    fn load_balancer_change_shows_container_port_and_target_group() {
        assert_eq!(
            diff_with(|s| s.load_balancers[0].container_port = 8080),
            [change(
                "load_balancers",
                &format!("{CONTAINER_NAME}:8080 in {TARGET_GROUP}"),
                &format!("{CONTAINER_NAME}:5000 in {TARGET_GROUP}")
            )]
        );
    }

    #[test]
    fn service_without_load_balancer_shows_it_as_none() {
        assert_eq!(
            diff_with(|s| s.load_balancers.clear()),
            [change(
                "load_balancers",
                "(none)",
                &format!("{CONTAINER_NAME}:5000 in {TARGET_GROUP}")
            )]
        );
    }

    #[test]
    fn min_healthy_percent_change_shows_plain_numbers() {
        assert_eq!(
            diff_with(|s| s.min_healthy_percent = 50),
            [change("min_healthy_percent", "50", "100")]
        );
    }

    #[test]
    fn max_percent_change_shows_plain_numbers() {
        assert_eq!(
            diff_with(|s| s.max_percent = 150),
            [change("max_percent", "150", "200")]
        );
    }

    #[test]
    fn circuit_breaker_change_shows_plain_booleans() {
        assert_eq!(
            diff_with(|s| s.circuit_breaker = false),
            [change("circuit_breaker", "false", "true")]
        );
    }

    #[test]
    fn grace_period_change_shows_plain_numbers() {
        assert_eq!(
            diff_with(|s| s.health_check_grace_seconds = 0),
            [change("health_check_grace_seconds", "0", "60")]
        );
    }
}
