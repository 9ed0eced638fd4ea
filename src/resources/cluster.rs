//! The ECS cluster: a namespace for the service, with nothing to configure.

use anyhow::{Context as _, Result};
use aws_sdk_ecs::types::{ClusterField, Tag};

use crate::aws::errors::{brief, describe, is_code, AwsResultExt};
use crate::aws::retry::{until_done, Attempt};
use crate::engine::{Change, Ctx, Facts, Pass, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Cluster;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

/// Our tags in the form every ECS call takes.
pub(crate) fn ecs_owner_tags(ctx: &Ctx) -> Vec<Tag> {
    ctx.owner
        .pairs()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Puts our tags on an ECS resource.
pub(crate) async fn tag_ecs(ctx: &Ctx, arn: &str) -> Result<()> {
    ctx.aws
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(ecs_owner_tags(ctx)))
        .send()
        .await
        .or_context(format!("tagging {arn}"))?;
    Ok(())
}

pub(crate) fn ecs_tag_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

impl Resource for Cluster {
    const STEP: StepId = StepId::Cluster;
    type Live = Live;
    type Desired = String;

    fn desired(ctx: &Ctx, _: &Facts) -> String {
        ctx.names.cluster.clone()
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Pass) -> Result<Option<Live>> {
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
                tags: ecs_tag_pairs(c.tags()),
            }))
    }

    fn diff(_: &Live, _: &String) -> Vec<Change> {
        Vec::new()
    }

    async fn create(ctx: &Ctx, name: &String) -> Result<Live> {
        let created = ctx
            .aws
            .ecs
            .create_cluster()
            .cluster_name(name)
            .set_tags(Some(ecs_owner_tags(ctx)))
            .send()
            .await
            .or_context(format!("creating ECS cluster {name}"))?;
        let cluster = created
            .cluster()
            .context("CreateCluster returned no cluster")?;
        Ok(Live {
            name: name.clone(),
            arn: cluster.cluster_arn().unwrap_or_default().to_owned(),
            tags: Vec::new(),
        })
    }

    async fn update(_: &Ctx, live: &Live, _: &String) -> Result<Live> {
        Ok(live.clone())
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        // ECS keeps listing a deleted service (and its stopping tasks) for a while.
        let what = format!("deleting ECS cluster {}", live.name);
        until_done(&what, ctx.release_budget(), &ctx.printer, || async {
            let result = ctx
                .aws
                .ecs
                .delete_cluster()
                .cluster(&live.name)
                .send()
                .await;
            match result {
                Ok(_) => Ok(Attempt::Done(())),
                Err(e) if is_code(&e, &["ClusterNotFoundException"]) => Ok(Attempt::Done(())),
                Err(e)
                    if is_code(
                        &e,
                        &[
                            "ClusterContainsServicesException",
                            "ClusterContainsTasksException",
                        ],
                    ) =>
                {
                    Ok(Attempt::Wait(brief(&e)))
                }
                Err(e) => Err(describe(e, &what)),
            }
        })
        .await
    }

    async fn tags(_: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        Ok(live.tags.clone())
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_ecs(ctx, &live.arn).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.name.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.cluster_arn = Some(live.arn.clone());
    }
}
