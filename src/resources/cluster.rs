//! The ECS cluster: a namespace for the service. Its only setting is which capacity providers
//! it offers, and only when the service uses a capacity provider strategy (Fargate Spot).

use std::collections::BTreeSet;

use anyhow::{Context as _, Result};
use aws_sdk_ecs::types::ClusterField;

use crate::aws::errors::not_propagated_yet;
use crate::aws::retry::{as_aws_says, delete_when_released, send_when_ready, DeleteCodes};
use crate::aws::tags::{owner_tags, pairs, tag_ecs};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Cluster;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
    /// `FARGATE`, `FARGATE_SPOT`: what the service's strategy may use.
    pub capacity_providers: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    /// The providers the service's strategy names; `None` when it uses the launch type, and the
    /// cluster's providers are none of this tool's business.
    pub capacity_providers: Option<BTreeSet<String>>,
}

impl Resource for Cluster {
    const STEP: StepId = StepId::new("cluster", "ECS cluster");
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, _: &Facts) -> Desired {
        let strategy = &ctx.config.service.capacity_providers;
        Desired {
            name: ctx.names.cluster.clone(),
            capacity_providers: (!strategy.is_empty())
                .then(|| strategy.iter().map(|i| i.provider.clone()).collect()),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        let name = &ctx.names.cluster;
        let answer = ctx
            .aws
            .ecs
            .describe_clusters()
            .clusters(name)
            .include(ClusterField::Tags)
            .send()
            .await
            .or_context(format!("reading ECS cluster {name}"))?;
        // A deleted cluster lingers as INACTIVE; for us it is gone.
        Ok(answer
            .clusters()
            .iter()
            .find(|c| c.status() == Some("ACTIVE"))
            .map(|c| Live {
                name: name.clone(),
                arn: c.cluster_arn().unwrap_or_default().to_owned(),
                tags: pairs(c.tags()),
                capacity_providers: c.capacity_providers().iter().cloned().collect(),
            }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some(wanted) = &desired.capacity_providers {
            // More providers than the strategy names are no harm; missing ones are.
            if !wanted.is_subset(&live.capacity_providers) {
                changes.push(Change::new(
                    "capacity_providers",
                    &live.capacity_providers,
                    wanted,
                ));
            }
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let name = &desired.name;
        // CreateCluster is idempotent: a retry after a lost answer returns the same cluster.
        let create = ctx
            .aws
            .ecs
            .create_cluster()
            .cluster_name(name)
            .set_capacity_providers(
                desired
                    .capacity_providers
                    .as_ref()
                    .map(|p| p.iter().cloned().collect()),
            )
            .set_tags(Some(owner_tags(&ctx.owner)?));
        let what = format!("creating ECS cluster {name}");
        // On a new account the first cluster makes ECS create its service-linked role, which it
        // cannot assume for a while.
        let created = send_when_ready(
            &what,
            ctx.iam_budget(),
            &ctx.printer,
            not_propagated_yet,
            || create.clone().send(),
        )
        .await?
        .or_context(&what)?;
        let cluster = created
            .cluster()
            .context("CreateCluster returned no cluster")?;
        Ok(Created::New(Live {
            name: name.clone(),
            arn: cluster.cluster_arn().unwrap_or_default().to_owned(),
            tags: Vec::new(),
            capacity_providers: desired.capacity_providers.clone().unwrap_or_default(),
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let Some(wanted) = &desired.capacity_providers else {
            return Ok(live.clone());
        };
        let providers: BTreeSet<String> = live.capacity_providers.union(wanted).cloned().collect();
        ctx.aws
            .ecs
            .put_cluster_capacity_providers()
            .cluster(&live.name)
            .set_capacity_providers(Some(providers.iter().cloned().collect()))
            // Required, and empty: the service names its own strategy.
            .set_default_capacity_provider_strategy(Some(Vec::new()))
            .send()
            .await
            .or_context(format!(
                "setting the capacity providers of ECS cluster {}",
                live.name
            ))?;
        Ok(Live {
            capacity_providers: providers,
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        // ECS keeps listing a deleted service (and its stopping tasks) for a while.
        delete_when_released(
            &format!("deleting ECS cluster {}", live.name),
            ctx.release_budget(),
            &ctx.printer,
            DeleteCodes {
                gone: &["ClusterNotFoundException"],
                in_use: &[
                    "ClusterContainsServicesException",
                    "ClusterContainsTasksException",
                ],
            },
            || ctx.aws.ecs.delete_cluster().cluster(&live.name).send(),
            as_aws_says,
        )
        .await
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
        facts.cluster_arn = Some(live.arn.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(providers: &[&str]) -> Live {
        Live {
            name: "app-dev".into(),
            arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/app-dev".into(),
            tags: vec![("Owner".into(), "someone-else".into())],
            capacity_providers: providers.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn desired(providers: Option<&[&str]>) -> Desired {
        Desired {
            name: "app-dev".into(),
            capacity_providers: providers.map(|p| p.iter().map(|p| (*p).to_owned()).collect()),
        }
    }

    #[test]
    fn with_the_launch_type_the_clusters_providers_are_not_compared() {
        assert_eq!(Cluster::diff(&live(&[]), &desired(None)), []);
        assert_eq!(Cluster::diff(&live(&["FARGATE"]), &desired(None)), []);
    }

    #[test]
    fn a_provider_the_strategy_names_is_added_others_are_left() {
        assert_eq!(
            Cluster::diff(&live(&["FARGATE"]), &desired(Some(&["FARGATE_SPOT"]))),
            [Change::new("capacity_providers", "FARGATE", "FARGATE_SPOT")]
        );
        assert_eq!(
            Cluster::diff(
                &live(&["FARGATE", "FARGATE_SPOT"]),
                &desired(Some(&["FARGATE_SPOT"]))
            ),
            []
        );
    }
}
