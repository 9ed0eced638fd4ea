//! The default VPC and its default subnets: looked up, never created or deleted.

use anyhow::{bail, Result};
use aws_sdk_ec2::types::Filter;

use crate::aws::{AwsResultExt, Created};
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Network;

#[derive(Debug, Clone)]
pub struct Live {
    pub vpc_id: String,
    /// Sorted, so that comparisons do not depend on AWS's order.
    pub subnet_ids: Vec<String>,
}

impl Resource for Network {
    const STEP: StepId = StepId::new("network", "default VPC and subnets");
    const MANAGED: bool = false;
    type Live = Live;
    type Desired = ();

    fn desired(_: &Ctx, _: &Facts) {}

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        // The default subnets (one per availability zone) all belong to the default VPC, so one
        // call finds both.
        let answer = ctx
            .aws
            .ec2
            .describe_subnets()
            .filters(
                Filter::builder()
                    .name("default-for-az")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .or_context("looking up the default subnets")?;
        let subnets = answer.subnets();
        let Some(vpc_id) = subnets.iter().find_map(|s| s.vpc_id()) else {
            bail!(
                "region {} has no default VPC with default subnets; create one with \
                 `aws ec2 create-default-vpc --region {}`",
                ctx.aws.region,
                ctx.aws.region
            );
        };
        let mut subnet_ids: Vec<String> = subnets
            .iter()
            .filter(|s| s.vpc_id() == Some(vpc_id))
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect();
        subnet_ids.sort();
        if subnet_ids.len() < 2 {
            bail!(
                "the default VPC {vpc_id} has {} default subnet(s); an application load \
                 balancer needs subnets in at least two availability zones",
                subnet_ids.len()
            );
        }
        Ok(Some(Live {
            vpc_id: vpc_id.to_owned(),
            subnet_ids,
        }))
    }

    fn diff(_: &Live, _: &()) -> Vec<Change> {
        Vec::new()
    }

    async fn create(_: &Ctx, _: &()) -> Result<Created<Live>> {
        bail!("the default VPC is looked up, never created")
    }

    async fn update(_: &Ctx, live: &Live, _: &()) -> Result<Live> {
        Ok(live.clone())
    }

    async fn delete(_: &Ctx, _: &Live) -> Result<()> {
        bail!("the default VPC is looked up, never deleted")
    }

    async fn tags(_: &Ctx, _: &Live) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    async fn tag(_: &Ctx, _: &Live) -> Result<()> {
        Ok(())
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.vpc_id.clone(), None)
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.vpc_id = Some(live.vpc_id.clone());
        facts.subnet_ids = live.subnet_ids.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_always_empty_as_the_default_vpc_is_only_looked_up() {
        let live = Live {
            vpc_id: "vpc-1".into(),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
        };
        assert_eq!(Network::diff(&live, &()), []);
        let without_subnets = Live {
            vpc_id: String::new(),
            subnet_ids: Vec::new(),
        };
        assert_eq!(Network::diff(&without_subnets, &()), []);
    }
}
