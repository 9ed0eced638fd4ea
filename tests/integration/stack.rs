//! Reads what exists in the emulator for the `simhill-dev` stack, straight through the SDK (not
//! through the recording proxy), so tests can assert on every resource and attribute.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, SecurityGroup};
use aws_sdk_ecs::types::{ClusterField, ServiceField, TaskDefinitionField};

use crate::support::{block_on, TestEnv};

/// Everything of the stack that exists, plus the default network for reference.
pub struct Stack {
    pub vpc_id: String,
    pub default_subnets: Vec<String>,
    pub security_groups: Vec<SecurityGroup>,
    pub repositories: Vec<aws_sdk_ecr::types::Repository>,
    pub lifecycle_policy: Option<serde_json::Value>,
    pub role: Option<aws_sdk_iam::types::Role>,
    pub attached_policies: Vec<String>,
    pub log_groups: Vec<aws_sdk_cloudwatchlogs::types::LogGroup>,
    pub load_balancers: Vec<aws_sdk_elasticloadbalancingv2::types::LoadBalancer>,
    pub target_groups: Vec<aws_sdk_elasticloadbalancingv2::types::TargetGroup>,
    pub deregistration_delay: Option<String>,
    pub listeners: Vec<aws_sdk_elasticloadbalancingv2::types::Listener>,
    /// Tags of the load balancer, target group and listener, by ARN.
    pub elb_tags: BTreeMap<String, BTreeMap<String, String>>,
    pub clusters: Vec<aws_sdk_ecs::types::Cluster>,
    pub services: Vec<aws_sdk_ecs::types::Service>,
    pub task_definitions: Vec<aws_sdk_ecs::types::TaskDefinition>,
    pub task_definition_tags: Vec<aws_sdk_ecs::types::Tag>,
}

pub const PREFIX: &str = "simhill-dev";

impl Stack {
    pub fn read(env: &TestEnv) -> Stack {
        let config = env.sdk_config();
        block_on(read(&config))
    }

    pub fn security_group(&self, suffix: &str) -> &SecurityGroup {
        let name = format!("{PREFIX}-{suffix}");
        let found: Vec<_> = self
            .security_groups
            .iter()
            .filter(|g| g.group_name() == Some(name.as_str()))
            .collect();
        assert_eq!(found.len(), 1, "security groups named {name}: {found:?}");
        found[0]
    }

    /// Whether nothing of the stack is left (the default VPC does not count).
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        left.extend(
            self.security_groups
                .iter()
                .map(|g| format!("security group {:?}", g.group_name())),
        );
        left.extend(
            self.repositories
                .iter()
                .map(|r| format!("repository {:?}", r.repository_name())),
        );
        left.extend(self.role.iter().map(|r| format!("role {}", r.role_name())));
        left.extend(
            self.log_groups
                .iter()
                .map(|g| format!("log group {:?}", g.log_group_name())),
        );
        left.extend(
            self.load_balancers
                .iter()
                .map(|l| format!("load balancer {:?}", l.load_balancer_name())),
        );
        left.extend(
            self.target_groups
                .iter()
                .map(|t| format!("target group {:?}", t.target_group_name())),
        );
        left.extend(
            self.listeners
                .iter()
                .map(|l| format!("listener {:?}", l.listener_arn())),
        );
        left.extend(
            self.clusters
                .iter()
                .map(|c| format!("cluster {:?}", c.cluster_name())),
        );
        left.extend(
            self.services
                .iter()
                .map(|s| format!("service {:?}", s.service_name())),
        );
        left.extend(
            self.task_definitions
                .iter()
                .map(|t| format!("task definition {:?}", t.task_definition_arn())),
        );
        left
    }
}

/// The (key, value) tags every resource must carry.
pub fn owner_tags() -> BTreeMap<String, String> {
    [
        ("Environment", "dev"),
        ("ManagedBy", "deployer"),
        ("Project", "simhill"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Whether `tags` include all of [`owner_tags`].
pub fn has_owner_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
    let tags: BTreeMap<&str, &str> = tags.into_iter().collect();
    owner_tags()
        .iter()
        .all(|(k, v)| tags.get(k.as_str()) == Some(&v.as_str()))
}

async fn read(config: &aws_config::SdkConfig) -> Stack {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let ecr = aws_sdk_ecr::Client::new(config);
    let iam = aws_sdk_iam::Client::new(config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let ecs = aws_sdk_ecs::Client::new(config);

    let vpc = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpcs()[0].vpc_id().unwrap().to_owned();
    let subnets = ec2
        .describe_subnets()
        .filters(Filter::builder().name("vpc-id").values(&vpc_id).build())
        .filters(
            Filter::builder()
                .name("default-for-az")
                .values("true")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut default_subnets: Vec<String> = subnets
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_owned())
        .collect();
    default_subnets.sort();

    let security_groups = ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
        .iter()
        .filter(|g| g.group_name().is_some_and(|n| n.starts_with(PREFIX)))
        .cloned()
        .collect();

    let repositories: Vec<_> = ecr
        .describe_repositories()
        .send()
        .await
        .unwrap()
        .repositories()
        .iter()
        .filter(|r| r.repository_name().is_some_and(|n| n.starts_with(PREFIX)))
        .cloned()
        .collect();
    let lifecycle_policy = match repositories.first() {
        Some(repo) => ecr
            .get_lifecycle_policy()
            .repository_name(repo.repository_name().unwrap())
            .send()
            .await
            .ok()
            .and_then(|p| serde_json::from_str(p.lifecycle_policy_text()?).ok()),
        None => None,
    };

    let role_name = format!("{PREFIX}-ecs-task-execution-role");
    let role = iam
        .get_role()
        .role_name(&role_name)
        .send()
        .await
        .ok()
        .and_then(|r| r.role().cloned());
    let attached_policies = match &role {
        Some(_) => iam
            .list_attached_role_policies()
            .role_name(&role_name)
            .send()
            .await
            .unwrap()
            .attached_policies()
            .iter()
            .map(|p| p.policy_arn().unwrap().to_owned())
            .collect(),
        None => Vec::new(),
    };

    let log_groups = logs
        .describe_log_groups()
        .log_group_name_prefix(PREFIX)
        .send()
        .await
        .unwrap()
        .log_groups()
        .to_vec();

    let load_balancers: Vec<_> = elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .to_vec();
    let target_groups: Vec<_> = elb
        .describe_target_groups()
        .send()
        .await
        .unwrap()
        .target_groups()
        .to_vec();
    let deregistration_delay = match target_groups.first() {
        Some(tg) => elb
            .describe_target_group_attributes()
            .target_group_arn(tg.target_group_arn().unwrap())
            .send()
            .await
            .unwrap()
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value().map(str::to_owned)),
        None => None,
    };
    let mut listeners = Vec::new();
    for lb in &load_balancers {
        let answer = elb
            .describe_listeners()
            .load_balancer_arn(lb.load_balancer_arn().unwrap())
            .send()
            .await
            .unwrap();
        listeners.extend(answer.listeners().iter().cloned());
    }
    let arns: Vec<String> = load_balancers
        .iter()
        .filter_map(|l| l.load_balancer_arn())
        .chain(target_groups.iter().filter_map(|t| t.target_group_arn()))
        .chain(listeners.iter().filter_map(|l| l.listener_arn()))
        .map(str::to_owned)
        .collect();
    let mut elb_tags = BTreeMap::new();
    if !arns.is_empty() {
        let answer = elb
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .unwrap();
        for description in answer.tag_descriptions() {
            elb_tags.insert(
                description.resource_arn().unwrap().to_owned(),
                description
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap().to_owned(),
                            t.value().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect(),
            );
        }
    }

    let cluster_name = format!("{PREFIX}-cluster");
    let clusters: Vec<_> = ecs
        .describe_clusters()
        .clusters(&cluster_name)
        .include(ClusterField::Tags)
        .send()
        .await
        .unwrap()
        .clusters()
        .iter()
        .filter(|c| c.status() == Some("ACTIVE"))
        .cloned()
        .collect();
    let services = match clusters.first() {
        Some(_) => ecs
            .describe_services()
            .cluster(&cluster_name)
            .services(format!("{PREFIX}-service"))
            .include(ServiceField::Tags)
            .send()
            .await
            .unwrap()
            .services()
            .iter()
            .filter(|s| s.status() == Some("ACTIVE"))
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let arns = ecs
        .list_task_definitions()
        .family_prefix(format!("{PREFIX}-task"))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    let mut task_definitions = Vec::new();
    let mut task_definition_tags = Vec::new();
    for arn in arns.task_definition_arns() {
        let answer = ecs
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .unwrap();
        task_definitions.push(answer.task_definition().unwrap().clone());
        task_definition_tags = answer.tags().to_vec();
    }

    Stack {
        vpc_id,
        default_subnets,
        security_groups,
        repositories,
        lifecycle_policy,
        role,
        attached_policies,
        log_groups,
        load_balancers,
        target_groups,
        deregistration_delay,
        listeners,
        elb_tags,
        clusters,
        services,
        task_definitions,
        task_definition_tags,
    }
}

/// Log group tags, which DescribeLogGroups does not return.
pub fn log_group_tags(env: &TestEnv, name: &str) -> BTreeMap<String, String> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk_config());
    #[allow(deprecated)]
    let answer = block_on(logs.list_tags_log_group().log_group_name(name).send()).unwrap();
    answer
        .tags()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// ECR repository tags, which DescribeRepositories does not return.
pub fn repository_tags(env: &TestEnv, arn: &str) -> BTreeMap<String, String> {
    let ecr = aws_sdk_ecr::Client::new(&env.sdk_config());
    let answer = block_on(ecr.list_tags_for_resource().resource_arn(arn).send()).unwrap();
    answer
        .tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}
