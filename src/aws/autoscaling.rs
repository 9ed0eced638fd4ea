//! Application Auto Scaling of the ECS service's desired count: the one scalable target of the
//! stack and its target tracking policies, read the same way by the resources, `status` and
//! `scale`. Terms are the service's own (see the Application Auto Scaling API Reference):
//! service namespace `ecs`, scalable dimension `ecs:service:DesiredCount`, resource ID
//! `service/<cluster>/<service>`.

use std::collections::BTreeMap;

use anyhow::Result;
use aws_sdk_applicationautoscaling::types::{
    MetricType, ScalableDimension, ScalableTarget, ScalingPolicy, ServiceNamespace,
};
use aws_sdk_applicationautoscaling::Client;

use super::errors::AwsResultExt;
use super::tags::owner_tag_map;
use crate::names::{Names, OwnerTags};

/// The namespace of ECS resources.
pub const NAMESPACE: ServiceNamespace = ServiceNamespace::Ecs;
/// What is scaled: the service's desired count.
pub const DIMENSION: ScalableDimension = ScalableDimension::EcsServiceDesiredCount;

/// The scalable target's resource ID: `service/<cluster>/<service>`.
pub fn resource_id(names: &Names) -> String {
    format!("service/{}/{}", names.cluster, names.service)
}

/// The scalable target of `resource_id`, if it is registered: one `DescribeScalableTargets`.
pub async fn scalable_target(client: &Client, resource_id: &str) -> Result<Option<ScalableTarget>> {
    let answer = client
        .describe_scalable_targets()
        .service_namespace(NAMESPACE)
        .scalable_dimension(DIMENSION)
        .resource_ids(resource_id)
        .send()
        .await
        .or_context(format!("reading the scalable target {resource_id}"))?;
    Ok(answer
        .scalable_targets()
        .iter()
        .find(|t| t.resource_id() == resource_id)
        .cloned())
}

/// The scaling policies of `resource_id`, by name, every page of them.
pub async fn scaling_policies(
    client: &Client,
    resource_id: &str,
) -> Result<BTreeMap<String, ScalingPolicy>> {
    let mut policies = BTreeMap::new();
    let mut next = None;
    loop {
        let answer = client
            .describe_scaling_policies()
            .service_namespace(NAMESPACE)
            .scalable_dimension(DIMENSION)
            .resource_id(resource_id)
            .set_next_token(next)
            .send()
            .await
            .or_context(format!("reading the scaling policies of {resource_id}"))?;
        for policy in answer.scaling_policies() {
            if policy.resource_id() == resource_id {
                policies.insert(policy.policy_name().to_owned(), policy.clone());
            }
        }
        match answer.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_owned()),
            _ => return Ok(policies),
        }
    }
}

/// The tags of a scalable target, by its ARN.
pub async fn tags(client: &Client, arn: &str) -> Result<Vec<(String, String)>> {
    let answer = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .or_context(format!("reading the tags of {arn}"))?;
    let mut tags: Vec<(String, String)> = answer
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    tags.sort();
    Ok(tags)
}

/// Puts this stack's owner tags on the scalable target `arn` (of `resource_id`, which errors
/// name).
pub async fn tag(client: &Client, arn: &str, resource_id: &str, owner: &OwnerTags) -> Result<()> {
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(owner_tag_map(owner)))
        .send()
        .await
        .or_context(format!("tagging the scalable target {resource_id}"))?;
    Ok(())
}

/// The predefined metric of a target tracking policy, with the key of `[autoscaling]` that sets
/// its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// `cpu_percent`: `ECSServiceAverageCPUUtilization`.
    Cpu,
    /// `memory_percent`: `ECSServiceAverageMemoryUtilization`.
    Memory,
    /// `requests_per_target`: `ALBRequestCountPerTarget`, which needs the target group as its
    /// resource label.
    Requests,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Cpu, Metric::Memory, Metric::Requests];

    /// The key of `[autoscaling]` that sets its target.
    pub fn key(self) -> &'static str {
        match self {
            Metric::Cpu => "cpu_percent",
            Metric::Memory => "memory_percent",
            Metric::Requests => "requests_per_target",
        }
    }

    /// The name of its policy: `<service>-cpu`, `<service>-memory` or `<service>-requests`.
    pub fn policy_name(self, names: &Names) -> String {
        let suffix = match self {
            Metric::Cpu => "cpu",
            Metric::Memory => "memory",
            Metric::Requests => "requests",
        };
        format!("{}-{suffix}", names.service)
    }

    pub fn metric_type(self) -> MetricType {
        match self {
            Metric::Cpu => MetricType::EcsServiceAverageCpuUtilization,
            Metric::Memory => MetricType::EcsServiceAverageMemoryUtilization,
            Metric::Requests => MetricType::AlbRequestCountPerTarget,
        }
    }
}

/// The resource label of `ALBRequestCountPerTarget`:
/// `app/<load-balancer-name>/<id>/targetgroup/<target-group-name>/<id>`, the final parts of the
/// two ARNs (see `PredefinedMetricSpecification` in the API Reference). `None` when either ARN
/// is not of that shape.
pub fn alb_resource_label(load_balancer_arn: &str, target_group_arn: &str) -> Option<String> {
    let (_, balancer) = load_balancer_arn.split_once(":loadbalancer/")?;
    let (_, group) = target_group_arn.split_once(":targetgroup/")?;
    balancer
        .starts_with("app/")
        .then(|| format!("{balancer}/targetgroup/{group}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_label_joins_the_final_parts_of_both_arns() {
        assert_eq!(
            alb_resource_label(
                "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/app/simhill-dev-alb/50dc6c495c0c9188",
                "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/simhill-dev-tg-b/943f017f100becff",
            )
            .as_deref(),
            Some("app/simhill-dev-alb/50dc6c495c0c9188/targetgroup/simhill-dev-tg-b/943f017f100becff")
        );
        assert_eq!(alb_resource_label("(known after apply)", "x"), None);
    }
}
