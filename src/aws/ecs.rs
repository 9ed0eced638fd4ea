//! Reading the stack's ECS service: one `DescribeServices` call that the service's step, the
//! task definition's step (which compares with the revision the service runs), `status`,
//! `rollback` and the rollout follower all start from; and finding the app's container in a
//! task definition, which the task definition's step and `rollback` both need.

use anyhow::Result;
use aws_sdk_ecs::types::{ContainerDefinition, Service, ServiceField, TaskDefinition};

use super::errors::AwsResultExt;
use crate::names::Names;

/// The key under which a run shares the answer of [`describe_services`].
pub const SERVICE_READ: &str = "ecs_service";

/// The service named `service` in `cluster` as ECS lists it, with its tags: possibly several
/// entries (a deleted service lingers as INACTIVE, or DRAINING while it goes), none when the
/// cluster does not exist.
pub async fn describe_services(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<Service>> {
    let answer = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(ServiceField::Tags)
        .send()
        .await
        .or_absent(
            &["ClusterNotFoundException"],
            format!("reading ECS service {service}"),
        )?;
    Ok(answer.map(|a| a.services().to_vec()).unwrap_or_default())
}

/// The ACTIVE one of a service's entries: the service that runs.
pub fn active(services: &[Service]) -> Option<&Service> {
    services.iter().find(|s| s.status() == Some("ACTIVE"))
}

/// The stack's ECS service as ECS describes it, unless it is gone (INACTIVE, or no cluster):
/// ACTIVE, or DRAINING while a delete goes on.
pub async fn describe_service(ecs: &aws_sdk_ecs::Client, names: &Names) -> Result<Option<Service>> {
    Ok(describe_services(ecs, &names.cluster, &names.service)
        .await?
        .into_iter()
        .find(|s| s.status() != Some("INACTIVE")))
}

/// The ARN of the target group a service registers its tasks in: that of the first of its load
/// balancers (a service of this stack has one, or two while its target group is replaced).
pub fn target_group_arn(service: &Service) -> Option<String> {
    service
        .load_balancers()
        .first()
        .and_then(|l| l.target_group_arn().map(str::to_owned))
}

/// The ID of a service's PRIMARY deployment.
pub fn primary_deployment(service: &Service) -> Option<String> {
    service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id().map(str::to_owned))
}

/// The app's container in a revision: the one named `name` (`container.name`), or else the
/// only container of a revision that has one. A revision registered before `container.name`
/// changed has its one container under the old name, and reading it as the app's turns the
/// rename into a change of the name alone, rather than of every field.
pub fn app_container<'d>(
    definition: &'d TaskDefinition,
    name: &str,
) -> Option<&'d ContainerDefinition> {
    let containers = definition.container_definitions();
    containers
        .iter()
        .find(|c| c.name() == Some(name))
        .or(match containers {
            [only] => Some(only),
            _ => None,
        })
}
