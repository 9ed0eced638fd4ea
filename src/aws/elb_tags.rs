//! Tags of Elastic Load Balancing resources (load balancers, target groups, listeners), which
//! their describe calls do not return. `DescribeTags` takes up to 20 ARNs, so one call answers for
//! every ELB resource a run has read so far.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use anyhow::Result;
use tokio::sync::OnceCell;

use super::errors::AwsResultExt;
use super::tags::pairs;

type TagsByArn = HashMap<String, Vec<(String, String)>>;

/// The ARNs read so far and, once asked, their tags.
#[derive(Default)]
pub struct ElbTagBatch {
    arns: Mutex<BTreeSet<String>>,
    batch: OnceCell<TagsByArn>,
}

impl ElbTagBatch {
    /// Notes an ELB resource found by a read, for the batched lookup.
    pub fn remember(&self, arn: &str) {
        self.arns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(arn.to_owned());
    }

    /// The tags of `arn`. The first call asks for every ARN remembered so far; an ARN not in
    /// that answer is asked for on its own.
    pub async fn tags(
        &self,
        elb: &aws_sdk_elasticloadbalancingv2::Client,
        arn: &str,
    ) -> Result<Vec<(String, String)>> {
        let batch = self
            .batch
            .get_or_try_init(|| async {
                let mut arns = self
                    .arns
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                arns.insert(arn.to_owned());
                describe(elb, arns.into_iter().collect()).await
            })
            .await?;
        match batch.get(arn) {
            Some(tags) => Ok(tags.clone()),
            None => Ok(describe(elb, vec![arn.to_owned()])
                .await?
                .remove(arn)
                .unwrap_or_default()),
        }
    }
}

async fn describe(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arns: Vec<String>,
) -> Result<TagsByArn> {
    let answer = elb
        .describe_tags()
        .set_resource_arns(Some(arns))
        .send()
        .await
        .or_context("reading the tags of the load balancer resources")?;
    Ok(answer
        .tag_descriptions()
        .iter()
        .map(|d| {
            (
                d.resource_arn().unwrap_or_default().to_owned(),
                pairs(d.tags()),
            )
        })
        .collect())
}
