//! The ECS cluster: a namespace for the service, with nothing to configure.

use anyhow::{Context as _, Result};
use aws_sdk_ecs::types::ClusterField;

use crate::aws::errors::{brief, describe, not_propagated_yet};
use crate::aws::retry::{as_aws_says, delete_when_released, until_done, Attempt, DeleteCodes};
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
}

impl Resource for Cluster {
    const STEP: StepId = StepId::new("cluster", "ECS cluster");
    type Live = Live;
    type Desired = String;

    fn desired(ctx: &Ctx, _: &Facts) -> String {
        ctx.names.cluster.clone()
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
            }))
    }

    fn diff(_: &Live, _: &String) -> Vec<Change> {
        Vec::new()
    }

    async fn create(ctx: &Ctx, name: &String) -> Result<Created<Live>> {
        // CreateCluster is idempotent: a retry after a lost answer returns the same cluster.
        let create = ctx
            .aws
            .ecs
            .create_cluster()
            .cluster_name(name)
            .set_tags(Some(owner_tags(&ctx.owner)?));
        let what = format!("creating ECS cluster {name}");
        let created = until_done(&what, ctx.iam_budget(), &ctx.printer, || async {
            match create.clone().send().await {
                Ok(created) => Ok(Attempt::Done(created)),
                // On a new account the first cluster makes ECS create its service-linked role,
                // which it cannot assume for a while.
                Err(e) if not_propagated_yet(&e) => Ok(Attempt::Wait(brief(&e))),
                Err(e) => Err(describe(e, &what)),
            }
        })
        .await?;
        let cluster = created
            .cluster()
            .context("CreateCluster returned no cluster")?;
        Ok(Created::New(Live {
            name: name.clone(),
            arn: cluster.cluster_arn().unwrap_or_default().to_owned(),
            tags: Vec::new(),
        }))
    }

    async fn update(_: &Ctx, live: &Live, _: &String) -> Result<Live> {
        Ok(live.clone())
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
        ResourceRecord::new(live.name.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.cluster_arn = Some(live.arn.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_always_empty_as_a_cluster_has_nothing_to_configure() {
        let live = Live {
            name: "app-dev".into(),
            arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/app-dev".into(),
            tags: vec![("Owner".into(), "someone-else".into())],
        };
        assert_eq!(Cluster::diff(&live, &"app-dev".to_owned()), []);
        // Not even a name that differs: the cluster is found by the desired name.
        assert_eq!(Cluster::diff(&live, &"other".to_owned()), []);
    }
}
