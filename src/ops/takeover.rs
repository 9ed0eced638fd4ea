//! What `deployer import` takes over from a Terraform state: which of its resources are this
//! stack's, the configuration that describes them as they are, and their records for the state
//! file. Pure: reads the parsed state only.
//!
//! Resources are found through their links, starting from the one ECS service: its cluster, its
//! task definition, its target group and its security group; the target group's listener and
//! that listener's load balancer and security group; the task definition's roles, log group and
//! image repository. Names are never guessed, so a stack whose resources are named in any way is
//! taken over, and a resource that only looks like one of the stack's is left alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::config::{
    CapacityProviderItem, Config, ContainerConfig, ContainerHealthCheck, CpuArchitecture,
    EcrConfig, HealthCheckConfig, IpAddressType, LoadBalancerConfig, LogsConfig, NameOverrides,
    NetworkConfig, PolicyStatement, ServiceConfig, TaskConfig, TaskRoleConfig, TimeoutsConfig,
};
use crate::names::Names;
use crate::state::ResourceRecord;
use crate::terraform::TfResource;

/// The stack found in a Terraform state.
#[derive(Debug)]
pub struct Takeover {
    /// The configuration that describes the stack as it is.
    pub config: Config,
    /// The record of each step's resource, by step key.
    pub records: BTreeMap<&'static str, ResourceRecord>,
    /// The task definition revision the service runs.
    pub revision: String,
    /// What `removed.tf` names: the addresses of every resource taken over, and of the parts
    /// Terraform keeps as resources of their own (a role's policy attachments).
    pub removed: Vec<String>,
    /// Managed resources of other kinds, or not linked to the service: left to Terraform.
    pub left_alone: Vec<String>,
}

/// `Err` is a message for a person: what was looked for and not found.
pub fn take_over(
    resources: &[TfResource],
    project: Option<&str>,
    environment: &str,
) -> Result<Takeover, String> {
    let managed: Vec<&TfResource> = resources.iter().filter(|r| r.managed()).collect();
    let of_kind = |kind: &'static str| managed.iter().copied().filter(move |r| r.kind == kind);
    let services: Vec<&TfResource> = of_kind("aws_ecs_service").collect();
    let service = match services.as_slice() {
        [one] => *one,
        [] => {
            return Err("the state has no aws_ecs_service: there is no stack to take over".into())
        }
        many => {
            return Err(format!(
                "the state has {} aws_ecs_service resources ({}); a stack has one service",
                many.len(),
                addresses(many)
            ))
        }
    };
    let linked = |kind: &'static str, key: &str, value: &str, from: &str| {
        of_kind(kind)
            .find(|r| !value.is_empty() && r.str(key) == value)
            .ok_or_else(|| {
                format!("{from} refers to {value:?}, but the state has no {kind} with that {key}")
            })
    };
    let from = |r: &TfResource, key: &str| format!("{}.{key}", r.address);

    let cluster = linked(
        "aws_ecs_cluster",
        "arn",
        service.str("cluster"),
        &from(service, "cluster"),
    )
    .or_else(|_| {
        linked(
            "aws_ecs_cluster",
            "name",
            service.str("cluster"),
            &from(service, "cluster"),
        )
    })?;
    let task_definition = linked(
        "aws_ecs_task_definition",
        "arn",
        service.str("task_definition"),
        &from(service, "task_definition"),
    )?;
    let lb_refs = list(service, "load_balancer");
    let lb_ref = match lb_refs.as_slice() {
        [one] => *one,
        _ => {
            return Err(format!(
                "{} has {} load_balancer blocks; a stack's service has one",
                service.address,
                lb_refs.len()
            ))
        }
    };
    let target_group = linked(
        "aws_lb_target_group",
        "arn",
        text(lb_ref, "target_group_arn"),
        &from(service, "load_balancer.target_group_arn"),
    )?;
    let listener = of_kind("aws_lb_listener")
        .find(|l| forwards_to(l).contains(&target_group.str("arn")))
        .ok_or_else(|| {
            format!(
                "no aws_lb_listener forwards to {} ({})",
                target_group.address,
                target_group.str("arn")
            )
        })?;
    let load_balancer = linked(
        "aws_lb",
        "arn",
        listener.str("load_balancer_arn"),
        &from(listener, "load_balancer_arn"),
    )?;
    let network = service.block("network_configuration");
    let task_sg_id = one_string(
        network,
        "security_groups",
        &from(service, "network_configuration"),
    )?;
    let ecs_security_group = linked(
        "aws_security_group",
        "id",
        &task_sg_id,
        &from(service, "network_configuration.security_groups"),
    )?;
    let network_found = network_of(
        network,
        load_balancer,
        [target_group, ecs_security_group],
        &from(service, "network_configuration"),
    )?;
    let alb_sg_id = one_string(
        Some(&load_balancer.attributes),
        "security_groups",
        &load_balancer.address,
    )?;
    let alb_security_group = linked(
        "aws_security_group",
        "id",
        &alb_sg_id,
        &from(load_balancer, "security_groups"),
    )?;
    let execution_role = linked(
        "aws_iam_role",
        "arn",
        task_definition.str("execution_role_arn"),
        &from(task_definition, "execution_role_arn"),
    )?;
    let task_role = match task_definition.str("task_role_arn") {
        "" => None,
        arn => Some(linked(
            "aws_iam_role",
            "arn",
            arn,
            &from(task_definition, "task_role_arn"),
        )?),
    };

    let container_name = text(lb_ref, "container_name").to_owned();
    let definitions: Vec<Value> =
        serde_json::from_str(task_definition.str("container_definitions")).map_err(|e| {
            format!(
                "{} is not a JSON list of containers: {e}",
                from(task_definition, "container_definitions")
            )
        })?;
    let container = definitions
        .iter()
        .find(|c| text(c, "name") == container_name)
        .ok_or_else(|| {
            format!(
                "{} has no container named {container_name:?}, which the service's load \
                 balancer names",
                task_definition.address
            )
        })?;
    let log_options = container
        .get("logConfiguration")
        .and_then(|l| l.get("options"));
    let log_group_name = log_options.map_or("", |o| text(o, "awslogs-group"));
    let log_group = linked(
        "aws_cloudwatch_log_group",
        "name",
        log_group_name,
        &format!("the awslogs-group of container {container_name:?}"),
    )?;
    let image = text(container, "image").to_owned();
    let repository_url = crate::names::image_repository(&image);
    let ecr_repository =
        of_kind("aws_ecr_repository").find(|r| r.str("repository_url") == repository_url);
    let has_lifecycle_policy = ecr_repository.is_some_and(|repo| {
        of_kind("aws_ecr_lifecycle_policy").any(|p| p.str("repository") == repo.str("name"))
    });

    // Project and environment: given, or the tags the old stack put on its service.
    let tag = |key: &str| {
        service
            .attributes
            .get("tags")
            .and_then(|t| t.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let project = match project.map(str::to_owned).or_else(|| tag("Project")) {
        Some(project) => project,
        None => {
            return Err(format!(
                "{} has no Project tag; name the project with --project",
                service.address
            ))
        }
    };
    let region = load_balancer
        .str("arn")
        .split(':')
        .nth(3)
        .unwrap_or_default()
        .to_owned();

    let mut attachments = Vec::new();
    let mut managed_policies = BTreeMap::<String, Vec<String>>::new();
    for attachment in of_kind("aws_iam_role_policy_attachment") {
        let role = attachment.str("role");
        if role == execution_role.str("name") || task_role.is_some_and(|t| t.str("name") == role) {
            attachments.push(attachment);
            managed_policies
                .entry(role.to_owned())
                .or_default()
                .push(attachment.str("policy_arn").to_owned());
        }
    }
    // The task role's inline policy becomes `[[task_role.statements]]`, under its own name: only
    // one, and only statements `[task_role]` can write exactly as they are.
    let mut task_role_policy: Option<(String, Vec<PolicyStatement>)> = None;
    if let Some(role) = task_role {
        let mut policies: Vec<(String, String, String)> = of_kind("aws_iam_role_policy")
            .filter(|p| p.str("role") == role.str("name"))
            .map(|p| {
                attachments.push(p);
                (
                    p.address.clone(),
                    p.str("name").to_owned(),
                    p.str("policy").to_owned(),
                )
            })
            .collect();
        // Inline policies written in the role's own `inline_policy` blocks.
        for block in list(role, "inline_policy") {
            let name = text(block, "name");
            if !name.is_empty() && !policies.iter().any(|(_, n, _)| n == name) {
                policies.push((
                    format!("{}.inline_policy {name:?}", role.address),
                    name.to_owned(),
                    text(block, "policy").to_owned(),
                ));
            }
        }
        match policies.as_slice() {
            [] => {}
            [(address, name, policy)] => {
                task_role_policy = Some((name.clone(), statements_of(policy, address)?));
            }
            many => {
                let names: Vec<&str> = many.iter().map(|(a, ..)| a.as_str()).collect();
                return Err(format!(
                    "the task role {} has {} inline policies ({}); [task_role] keeps its \
                     statements in one: merge them into one in Terraform and apply that, then \
                     import again",
                    role.str("name"),
                    many.len(),
                    names.join(", ")
                ));
            }
        }
    }

    let tg_check = target_group
        .block("health_check")
        .cloned()
        .unwrap_or(Value::Null);
    let default_check = HealthCheckConfig::default();
    let breaker = service.block("deployment_circuit_breaker");
    let config = Config {
        project: project.clone(),
        environment: environment.to_owned(),
        region: region.clone(),
        endpoint_url: None,
        container: ContainerConfig {
            image: image.clone(),
            name: container_name.clone(),
            port: u16::try_from(number(lb_ref, "container_port")).unwrap_or(0),
            environment: pairs(container, "environment", "value"),
            secrets: pairs(container, "secrets", "valueFrom"),
            command: strings(container.get("command")),
            entry_point: strings(container.get("entryPoint")),
            health_check: container
                .get("healthCheck")
                .filter(|h| h.is_object())
                .map(|h| {
                    let or = |key, default: u32| match h.get(key).and_then(Value::as_u64) {
                        Some(v) => u32::try_from(v).unwrap_or(u32::MAX),
                        None => default,
                    };
                    ContainerHealthCheck {
                        command: strings(h.get("command")),
                        interval_seconds: or("interval", ContainerHealthCheck::DEFAULT_INTERVAL),
                        timeout_seconds: or("timeout", ContainerHealthCheck::DEFAULT_TIMEOUT),
                        retries: or("retries", ContainerHealthCheck::DEFAULT_RETRIES),
                        start_period_seconds: or(
                            "startPeriod",
                            ContainerHealthCheck::DEFAULT_START_PERIOD,
                        ),
                    }
                }),
            stop_timeout_seconds: container
                .get("stopTimeout")
                .and_then(Value::as_u64)
                .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
            read_only_root_filesystem: container
                .get("readonlyRootFilesystem")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        task: TaskConfig {
            cpu: to_u32(number(&task_definition.attributes, "cpu")),
            memory: to_u32(number(&task_definition.attributes, "memory")),
            cpu_architecture: match task_definition
                .block("runtime_platform")
                .map(|p| text(p, "cpu_architecture"))
            {
                Some("ARM64") => CpuArchitecture::Arm64,
                _ => CpuArchitecture::X86_64,
            },
        },
        service: ServiceConfig {
            desired_count: to_u32(number(&service.attributes, "desired_count")),
            min_healthy_percent: to_u32(number(
                &service.attributes,
                "deployment_minimum_healthy_percent",
            )),
            max_percent: to_u32(number(&service.attributes, "deployment_maximum_percent")),
            health_check_grace_seconds: to_u32(number(
                &service.attributes,
                "health_check_grace_period_seconds",
            )),
            circuit_breaker: breaker
                .and_then(|b| b.get("enable"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            capacity_providers: list(service, "capacity_provider_strategy")
                .iter()
                .map(|item| CapacityProviderItem {
                    provider: text(item, "capacity_provider").to_owned(),
                    weight: to_u32(number(item, "weight")),
                    base: to_u32(number(item, "base")),
                })
                .collect(),
            enable_exec: service
                .attributes
                .get("enable_execute_command")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        },
        load_balancer: LoadBalancerConfig {
            port: u16::try_from(number(&listener.attributes, "port")).unwrap_or(0),
            deregistration_delay_seconds: to_u32(number(
                &target_group.attributes,
                "deregistration_delay",
            )),
            allowed_cidrs: allowed_cidrs(alb_security_group)
                .unwrap_or_else(|| LoadBalancerConfig::default().allowed_cidrs),
            internal: load_balancer
                .attributes
                .get("internal")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ip_address_type: match text(&load_balancer.attributes, "ip_address_type") {
                "dualstack" => IpAddressType::Dualstack,
                _ => IpAddressType::Ipv4,
            },
        },
        health_check: HealthCheckConfig {
            path: or_default(text(&tg_check, "path"), &default_check.path),
            interval_seconds: to_u32(number(&tg_check, "interval")),
            timeout_seconds: to_u32(number(&tg_check, "timeout")),
            healthy_threshold: to_u32(number(&tg_check, "healthy_threshold")),
            unhealthy_threshold: to_u32(number(&tg_check, "unhealthy_threshold")),
            matcher: or_default(text(&tg_check, "matcher"), &default_check.matcher),
        },
        logs: LogsConfig {
            retention_days: to_u32(number(&log_group.attributes, "retention_in_days")),
        },
        ecr: match ecr_repository {
            Some(repo) => EcrConfig {
                scan_on_push: repo
                    .block("image_scanning_configuration")
                    .and_then(|c| c.get("scan_on_push"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                immutable_tags: repo.str("image_tag_mutability") == "IMMUTABLE",
                // The old stack's repository without a lifecycle policy keeps every image:
                // the takeover sets none either.
                keep_images: if has_lifecycle_policy {
                    EcrConfig::default().keep_images
                } else {
                    0
                },
            },
            None => EcrConfig::default(),
        },
        timeouts: TimeoutsConfig::default(),
        task_role: task_role.map(|role| TaskRoleConfig {
            managed_policies: managed_policies
                .get(role.str("name"))
                .cloned()
                .unwrap_or_default(),
            statements: task_role_policy
                .as_ref()
                .map(|(_, statements)| statements.clone())
                .unwrap_or_default(),
        }),
        names: NameOverrides::default(),
        // Local unless `--state` says otherwise (see `ops::import`).
        state: Default::default(),
        autoscaling: None,
        release: None,
        https: None,
        // As the state has it; `import` leaves the table out when that is the default VPC's
        // default subnets, where a stack without it runs.
        network: Some(network_found),
    };

    // Every name the pattern would not give is written in [names].
    let mut names = NameOverrides::default();
    let named = [
        (
            &mut names.alb_security_group,
            "alb_security_group",
            alb_security_group.str("name"),
        ),
        (
            &mut names.ecs_security_group,
            "ecs_security_group",
            ecs_security_group.str("name"),
        ),
        (
            &mut names.execution_role,
            "execution_role",
            execution_role.str("name"),
        ),
        (&mut names.log_group, "log_group", log_group.str("name")),
        (
            &mut names.load_balancer,
            "load_balancer",
            load_balancer.str("name"),
        ),
        (
            &mut names.target_group,
            "target_group",
            target_group.str("name"),
        ),
        (&mut names.cluster, "cluster", cluster.str("name")),
        (
            &mut names.task_family,
            "task_family",
            task_definition.str("family"),
        ),
        (&mut names.service, "service", service.str("name")),
        (&mut names.container, "container", container_name.as_str()),
    ];
    for (slot, key, actual) in named {
        if Names::default_for(&project, environment, key).as_deref() != Some(actual) {
            *slot = Some(actual.to_owned());
        }
    }
    if let Some(repo) = ecr_repository {
        if Names::default_for(&project, environment, "ecr_repository").as_deref()
            != Some(repo.str("name"))
        {
            names.ecr_repository = Some(repo.str("name").to_owned());
        }
    }
    if let Some(role) = task_role {
        if Names::default_for(&project, environment, "task_role").as_deref()
            != Some(role.str("name"))
        {
            names.task_role = Some(role.str("name").to_owned());
        }
    }
    if let Some((name, _)) = &task_role_policy {
        if Names::default_for(&project, environment, "task_role_policy").as_deref()
            != Some(name.as_str())
        {
            names.task_role_policy = Some(name.clone());
        }
    }
    let mut config = config;
    config.names = names;

    let record = |id: &str, arn: &str| ResourceRecord {
        imported: true,
        ..ResourceRecord::new(id, (!arn.is_empty()).then(|| arn.to_owned()))
    };
    let mut entries: Vec<(&'static str, &TfResource, &str)> = vec![
        (
            "alb_security_group",
            alb_security_group,
            alb_security_group.str("id"),
        ),
        (
            "ecs_security_group",
            ecs_security_group,
            ecs_security_group.str("id"),
        ),
        ("execution_role", execution_role, execution_role.str("name")),
        ("log_group", log_group, log_group.str("name")),
        ("load_balancer", load_balancer, load_balancer.str("name")),
        ("target_group", target_group, target_group.str("name")),
        ("listener", listener, listener.str("arn")),
        ("cluster", cluster, cluster.str("name")),
        (
            "task_definition",
            task_definition,
            task_definition.str("arn"),
        ),
        ("service", service, service.str("name")),
    ];
    if let Some(repo) = ecr_repository {
        entries.push(("ecr_repository", repo, repo.str("name")));
    }
    if let Some(role) = task_role {
        entries.push(("task_role", role, role.str("name")));
    }
    let mut records = BTreeMap::new();
    let mut taken: Vec<&TfResource> = Vec::new();
    for (key, resource, id) in entries {
        records.insert(key, record(id, resource.str("arn")));
        taken.push(resource);
    }
    taken.extend(attachments);

    let taken_addresses: BTreeSet<&str> = taken.iter().map(|r| r.address.as_str()).collect();
    let mut removed: Vec<String> = Vec::new();
    for r in &taken {
        if !removed.contains(&r.config_address) {
            removed.push(r.config_address.clone());
        }
    }
    let left_alone = managed
        .iter()
        .filter(|r| !taken_addresses.contains(r.address.as_str()))
        .map(|r| r.address.clone())
        .collect();
    Ok(Takeover {
        config,
        records,
        revision: task_definition.str("arn").to_owned(),
        removed,
        left_alone,
    })
}

/// The statements of an inline policy document (`aws_iam_role_policy.policy`, a JSON text) as
/// `[[task_role.statements]]` write them, when they can be written exactly: `Effect`, `Action`,
/// `Resource` and `Condition` with string values (`Sid` is a label IAM ignores in comparisons,
/// and so does deployer). `Err` names what cannot be.
fn statements_of(policy: &str, what: &str) -> Result<Vec<PolicyStatement>, String> {
    let document: Value = serde_json::from_str(policy)
        .map_err(|e| format!("{what}: the policy is not a JSON document: {e}"))?;
    let statements = match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err(format!("{what}: the policy has no Statement")),
    };
    let one_or_many = |statement: &Value, key: &str| -> Result<Vec<String>, String> {
        match statement.get(key) {
            Some(Value::String(one)) => Ok(vec![one.clone()]),
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{what}: {key} holds something other than strings")),
            _ => Err(format!("{what}: a statement has no {key}")),
        }
    };
    statements
        .into_iter()
        .map(|statement| {
            let Some(fields) = statement.as_object() else {
                return Err(format!("{what}: a statement is not an object"));
            };
            if let Some(key) = fields.keys().find(|k| {
                !["Sid", "Effect", "Action", "Resource", "Condition"].contains(&k.as_str())
            }) {
                return Err(format!(
                    "{what}: a statement has {key}, which [[task_role.statements]] cannot \
                     write (they have actions, resources, effect and conditions); write the \
                     policy with Action and Resource in Terraform, or leave the role to it"
                ));
            }
            let mut conditions = BTreeMap::new();
            for (operator, keys) in fields
                .get("Condition")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let mut by_key = BTreeMap::new();
                for (key, values) in keys.as_object().into_iter().flatten() {
                    let values = match values {
                        Value::String(one) => vec![one.clone()],
                        Value::Array(items) => items
                            .iter()
                            .map(|v| v.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    if values.is_empty() {
                        return Err(format!(
                            "{what}: the condition {operator} {key} is not a string or a list \
                             of strings, as [[task_role.statements]] conditions are"
                        ));
                    }
                    by_key.insert(key.clone(), values);
                }
                conditions.insert(operator.clone(), by_key);
            }
            Ok(PolicyStatement {
                effect: fields
                    .get("Effect")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                actions: one_or_many(statement, "Action")?,
                resources: one_or_many(statement, "Resource")?,
                conditions,
            })
        })
        .collect()
}

/// Where the service and the load balancer run, as the state has it: the VPC of the target
/// group (or of the tasks' security group), the service's subnets and public IP setting, and
/// the load balancer's subnets (`subnets`, or those of its `subnet_mapping` blocks).
fn network_of(
    service_network: Option<&Value>,
    load_balancer: &TfResource,
    in_vpc: [&TfResource; 2],
    what: &str,
) -> Result<NetworkConfig, String> {
    let subnets = strings(service_network.and_then(|n| n.get("subnets")));
    if subnets.is_empty() {
        return Err(format!("{what} has no subnets"));
    }
    let mut load_balancer_subnets = strings(load_balancer.attributes.get("subnets"));
    if load_balancer_subnets.is_empty() {
        load_balancer_subnets = list(load_balancer, "subnet_mapping")
            .iter()
            .map(|m| text(m, "subnet_id").to_owned())
            .filter(|id| !id.is_empty())
            .collect();
    }
    if load_balancer_subnets.is_empty() {
        return Err(format!("{} has no subnets", load_balancer.address));
    }
    let vpc_id = in_vpc
        .iter()
        .map(|r| r.str("vpc_id"))
        .find(|id| !id.is_empty())
        .ok_or_else(|| {
            format!(
                "neither {} nor {} names its vpc_id",
                in_vpc[0].address, in_vpc[1].address
            )
        })?;
    Ok(NetworkConfig {
        vpc_id: vpc_id.to_owned(),
        subnets,
        load_balancer_subnets,
        assign_public_ip: service_network
            .and_then(|n| n.get("assign_public_ip"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// The CIDR blocks the load balancer's security group admits (`ingress` of
/// `aws_security_group`), when the state has its rules.
fn allowed_cidrs(group: &TfResource) -> Option<Vec<String>> {
    let rules = group.attributes.get("ingress")?.as_array()?;
    let mut cidrs: Vec<String> = Vec::new();
    for rule in rules {
        for key in ["cidr_blocks", "ipv6_cidr_blocks"] {
            for cidr in strings(rule.get(key)) {
                if !cidrs.contains(&cidr) {
                    cidrs.push(cidr);
                }
            }
        }
    }
    (!cidrs.is_empty()).then_some(cidrs)
}

fn addresses(resources: &[&TfResource]) -> String {
    let all: Vec<&str> = resources.iter().map(|r| r.address.as_str()).collect();
    all.join(", ")
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A number the provider stores as a number or, for some attributes (`deregistration_delay`,
/// a task definition's `cpu`), as a string; 0 when absent, which validation then refuses.
fn number(value: &Value, key: &str) -> i64 {
    match value.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn to_u32(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn or_default(value: &str, default: &str) -> String {
    if value.is_empty() { default } else { value }.to_owned()
}

fn list<'a>(resource: &'a TfResource, key: &str) -> Vec<&'a Value> {
    resource
        .attributes
        .get(key)
        .and_then(Value::as_array)
        .map(|items| items.iter().collect())
        .unwrap_or_default()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `[{name, <value_key>}]` of a container definition as a map.
fn pairs(container: &Value, key: &str, value_key: &str) -> BTreeMap<String, String> {
    container
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            Some((
                text(kv, "name").to_owned(),
                kv.get(value_key)?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// The one string of the list `key` of `block`.
fn one_string(block: Option<&Value>, key: &str, what: &str) -> Result<String, String> {
    let items = strings(block.and_then(|b| b.get(key)));
    match items.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "{what} has {} {key}; the stack has exactly one there",
            items.len()
        )),
    }
}

/// The target group ARNs a listener's default action forwards to.
fn forwards_to(listener: &TfResource) -> Vec<&str> {
    let mut arns = Vec::new();
    for action in list(listener, "default_action") {
        if text(action, "type") != "forward" {
            continue;
        }
        if !text(action, "target_group_arn").is_empty() {
            arns.push(text(action, "target_group_arn"));
        }
        for forward in action
            .get("forward")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for group in forward
                .get("target_group")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                arns.push(text(group, "arn"));
            }
        }
    }
    arns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terraform::parse;
    use serde_json::json;

    const LB: &str =
        "arn:aws:elasticloadbalancing:eu-central-1:1:loadbalancer/app/simhill-dev-alb/1";
    const TG: &str = "arn:aws:elasticloadbalancing:eu-central-1:1:targetgroup/simhill-dev-tg/2";
    const TD: &str = "arn:aws:ecs:eu-central-1:1:task-definition/simhill-dev-task:3";
    const ROLE: &str = "arn:aws:iam::1:role/simhill-dev-ecs-task-execution-role";
    const VPC: &str = "vpc-0a1b2c3d4e5f67890";
    const SUBNET_A: &str = "subnet-0a1b2c3d4e5f67890";
    const SUBNET_B: &str = "subnet-1a2b3c4d5e6f78901";

    fn resource(address: &str, values: Value) -> Value {
        let (kind, name) = address.split_once('.').unwrap();
        json!({"address": address, "mode": "managed", "type": kind, "name": name,
               "values": values})
    }

    fn old_stack(extra: Vec<Value>) -> Vec<TfResource> {
        let containers = json!([{"name": "simhill-dev-container", "image": "nginx:1.27",
            "portMappings": [{"containerPort": 5000}],
            "environment": [{"name": "FLASK_APP", "value": "hello"}],
            "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/simhill-dev"}}}]);
        let mut resources = vec![
            resource(
                "aws_ecs_service.app",
                json!({"name": "simhill-dev-service",
                "cluster": "arn:aws:ecs:eu-central-1:1:cluster/simhill-dev-cluster",
                "task_definition": TD, "desired_count": 2,
                "deployment_minimum_healthy_percent": 100, "deployment_maximum_percent": 200,
                "health_check_grace_period_seconds": 0, "deployment_circuit_breaker": [],
                "load_balancer": [{"target_group_arn": TG,
                    "container_name": "simhill-dev-container", "container_port": 5000}],
                "network_configuration": [{"security_groups": ["sg-tasks"],
                    "subnets": [SUBNET_A, SUBNET_B], "assign_public_ip": true}],
                "tags": {"Project": "simhill"}}),
            ),
            resource(
                "aws_ecs_cluster.main",
                json!({"name": "simhill-dev-cluster",
                "arn": "arn:aws:ecs:eu-central-1:1:cluster/simhill-dev-cluster"}),
            ),
            resource(
                "aws_ecs_task_definition.app",
                json!({"arn": TD,
                "family": "simhill-dev-task", "cpu": "256", "memory": "512",
                "execution_role_arn": ROLE, "task_role_arn": "",
                "container_definitions": containers.to_string()}),
            ),
            resource(
                "aws_lb_target_group.app",
                json!({"arn": TG, "name": "simhill-dev-tg", "vpc_id": VPC,
                "deregistration_delay": "300", "health_check": [{"path": "/health",
                "interval": 30, "timeout": 5, "healthy_threshold": 2,
                "unhealthy_threshold": 3, "matcher": "200"}]}),
            ),
            resource(
                "aws_lb_listener.http",
                json!({"arn": "listener-arn",
                "load_balancer_arn": LB, "port": 80,
                "default_action": [{"type": "forward", "target_group_arn": TG}]}),
            ),
            resource(
                "aws_lb.main",
                json!({"arn": LB, "name": "simhill-dev-alb",
                "security_groups": ["sg-alb"], "subnets": [SUBNET_A, SUBNET_B]}),
            ),
            resource(
                "aws_security_group.alb",
                json!({"id": "sg-alb",
                "name": "simhill-dev-alb-sg"}),
            ),
            resource(
                "aws_security_group.ecs_tasks",
                json!({"id": "sg-tasks",
                "name": "simhill-dev-ecs-tasks-sg"}),
            ),
            resource(
                "aws_iam_role.exec",
                json!({"arn": ROLE,
                "name": "simhill-dev-ecs-task-execution-role"}),
            ),
            resource(
                "aws_cloudwatch_log_group.ecs",
                json!({"name": "/ecs/simhill-dev",
                "retention_in_days": 7}),
            ),
        ];
        resources.extend(extra);
        let doc = json!({"format_version": "1.0",
            "values": {"root_module": {"resources": resources}}});
        parse(&doc.to_string()).unwrap()
    }

    #[test]
    fn the_stack_is_found_through_its_links_with_its_values_and_names() {
        let found = take_over(&old_stack(vec![]), None, "dev").unwrap();
        let config = &found.config;
        assert_eq!(config.project, "simhill");
        assert_eq!(config.region, "eu-central-1");
        assert_eq!(config.container.port, 5000);
        assert_eq!(config.container.environment["FLASK_APP"], "hello");
        assert_eq!(config.health_check.path, "/health");
        assert_eq!(config.health_check.unhealthy_threshold, 3);
        assert_eq!(config.load_balancer.deregistration_delay_seconds, 300);
        assert_eq!(config.logs.retention_days, 7);
        assert!(!config.service.circuit_breaker);
        assert_eq!(config.service.health_check_grace_seconds, 0);
        assert_eq!(
            config.names.ecs_security_group.as_deref(),
            Some("simhill-dev-ecs-tasks-sg")
        );
        assert_eq!(config.names.log_group.as_deref(), Some("/ecs/simhill-dev"));
        assert_eq!(config.names.load_balancer, None);
        assert_eq!(config.names.alb_security_group, None);
        let network = config.network.as_ref().unwrap();
        assert_eq!(network.vpc_id, VPC);
        assert_eq!(network.subnets, [SUBNET_A, SUBNET_B]);
        assert_eq!(network.load_balancer_subnets, network.subnets);
        assert!(network.assign_public_ip);
        assert_eq!(found.records["ecs_security_group"].id, "sg-tasks");
        assert_eq!(found.records["task_definition"].id, TD);
        assert!(found.records.values().all(|r| r.imported));
        assert_eq!(
            found.records.len(),
            10,
            "no repository: the image is nginx's"
        );
        assert!(config.validate().is_ok(), "{:?}", config.validate());
        // What import writes reads back as the same configuration.
        let origin = std::path::Path::new("envs/dev.toml");
        let text = crate::ops::import::config_text(config, origin).unwrap();
        assert_eq!(
            &Config::from_toml_str(&text, origin).unwrap(),
            config,
            "{text}"
        );
    }

    #[test]
    fn a_look_alike_not_linked_to_the_service_is_left_alone() {
        let found = take_over(
            &old_stack(vec![
                resource(
                    "aws_security_group.other",
                    json!({"id": "sg-other",
                    "name": "simhill-dev-ecs-sg"}),
                ),
                resource("aws_s3_bucket.assets", json!({"bucket": "assets"})),
            ]),
            None,
            "dev",
        )
        .unwrap();
        assert_eq!(
            found.left_alone,
            ["aws_security_group.other", "aws_s3_bucket.assets"]
        );
        assert!(!found.removed.iter().any(|a| a.contains("other")));
        assert!(found.removed.contains(&"aws_ecs_service.app".to_owned()));
    }

    #[test]
    fn the_load_balancer_subnets_of_subnet_mappings_are_read_and_written_when_they_differ() {
        let mut resources = old_stack(vec![]);
        for r in &mut resources {
            if r.kind == "aws_lb" {
                r.attributes["subnets"] = json!([]);
                r.attributes["subnet_mapping"] = json!([
                    {"subnet_id": "subnet-2a3b4c5d6e7f89012", "allocation_id": ""},
                    {"subnet_id": "subnet-3a4b5c6d7e8f90123", "allocation_id": ""}]);
            }
        }
        let found = take_over(&resources, None, "dev").unwrap();
        let network = found.config.network.as_ref().unwrap();
        assert_eq!(
            network.load_balancer_subnets,
            ["subnet-2a3b4c5d6e7f89012", "subnet-3a4b5c6d7e8f90123"]
        );
        let origin = std::path::Path::new("envs/dev.toml");
        let text = crate::ops::import::config_text(&found.config, origin).unwrap();
        assert!(text.contains("load_balancer_subnets = ["), "{text}");
        assert_eq!(
            &Config::from_toml_str(&text, origin).unwrap(),
            &found.config
        );

        // The same subnets for both: the key is left to its default.
        let text = crate::ops::import::config_text(
            &take_over(&old_stack(vec![]), None, "dev").unwrap().config,
            origin,
        )
        .unwrap();
        assert!(text.contains("[network]"), "{text}");
        assert!(!text.contains("load_balancer_subnets"), "{text}");
    }

    /// The old stack with a task role and `policy` as its inline policy.
    fn with_task_role(policy: Value) -> Vec<TfResource> {
        let role = "arn:aws:iam::1:role/simhill-dev-ecs-task-role";
        let mut resources = old_stack(vec![
            resource(
                "aws_iam_role.task",
                json!({"arn": role, "name": "simhill-dev-ecs-task-role"}),
            ),
            resource(
                "aws_iam_role_policy.task",
                json!({"id": "simhill-dev-ecs-task-role:simhill-dev-task-policy",
                       "name": "simhill-dev-task-policy", "role": "simhill-dev-ecs-task-role",
                       "policy": policy.to_string()}),
            ),
        ]);
        for r in &mut resources {
            if r.kind == "aws_ecs_task_definition" {
                r.attributes["task_role_arn"] = json!(role);
            }
        }
        resources
    }

    #[test]
    fn the_task_roles_inline_policy_becomes_its_statements_under_its_own_name() {
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": ["arn:aws:s3:::assets/*"]},
            {"Effect": "Deny", "Action": ["s3:DeleteObject"], "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "ops"}}}]});
        let found = take_over(&with_task_role(policy), None, "dev").unwrap();
        let role = found.config.task_role.as_ref().unwrap();
        assert_eq!(role.statements.len(), 2);
        assert_eq!(role.statements[0].actions, ["s3:GetObject"]);
        assert_eq!(role.statements[0].resources, ["arn:aws:s3:::assets/*"]);
        assert_eq!(role.statements[1].effect, "Deny");
        assert_eq!(
            role.statements[1].conditions["StringNotEquals"]["aws:PrincipalTag/team"],
            ["ops"]
        );
        assert_eq!(
            found.config.names.task_role_policy.as_deref(),
            Some("simhill-dev-task-policy")
        );
        assert_eq!(
            found.config.names.task_role.as_deref(),
            Some("simhill-dev-ecs-task-role")
        );
        assert!(found
            .removed
            .contains(&"aws_iam_role_policy.task".to_owned()));
        assert!(found.left_alone.is_empty(), "{:?}", found.left_alone);
        assert!(
            found.config.validate().is_ok(),
            "{:?}",
            found.config.validate()
        );
        let origin = std::path::Path::new("envs/dev.toml");
        let text = crate::ops::import::config_text(&found.config, origin).unwrap();
        assert_eq!(
            &Config::from_toml_str(&text, origin).unwrap(),
            &found.config
        );
    }

    #[test]
    fn an_inline_policy_that_task_role_cannot_write_is_refused_naming_it() {
        let not_action = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]});
        let error = take_over(&with_task_role(not_action), None, "dev").unwrap_err();
        assert!(error.starts_with("aws_iam_role_policy.task: "), "{error}");
        assert!(error.contains("NotAction"), "{error}");
        let boolean = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": true}}}]});
        let error = take_over(&with_task_role(boolean), None, "dev").unwrap_err();
        assert!(error.contains("Bool aws:SecureTransport"), "{error}");

        let mut two = with_task_role(json!({"Version": "2012-10-17", "Statement": []}));
        two.extend(
            old_stack(vec![resource(
                "aws_iam_role_policy.more",
                json!({"name": "more", "role": "simhill-dev-ecs-task-role", "policy": "{}"}),
            )])
            .into_iter()
            .filter(|r| r.kind == "aws_iam_role_policy"),
        );
        let error = take_over(&two, None, "dev").unwrap_err();
        assert!(error.contains("has 2 inline policies"), "{error}");
        assert!(error.contains("aws_iam_role_policy.more"), "{error}");
    }

    #[test]
    fn a_service_without_subnets_is_named() {
        let mut resources = old_stack(vec![]);
        for r in &mut resources {
            if r.kind == "aws_ecs_service" {
                r.attributes["network_configuration"][0]["subnets"] = json!([]);
            }
        }
        let error = take_over(&resources, None, "dev").unwrap_err();
        assert!(
            error.contains("aws_ecs_service.app.network_configuration has no subnets"),
            "{error}"
        );
    }

    #[test]
    fn a_broken_link_is_named() {
        let mut resources = old_stack(vec![]);
        resources.retain(|r| r.kind != "aws_cloudwatch_log_group");
        let error = take_over(&resources, None, "dev").unwrap_err();
        assert!(error.contains("/ecs/simhill-dev"), "{error}");
        assert!(error.contains("aws_cloudwatch_log_group"), "{error}");
    }
}
