//! The default VPC and its default subnets: where a stack without `[network]` runs. Read by the
//! network step, and by `import` to tell whether a stack taken over runs there.

use anyhow::Result;
use aws_sdk_ec2::types::Filter;

use super::AwsResultExt;

/// The default VPC and its default subnets (one per Availability Zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultNetwork {
    pub vpc_id: String,
    /// Sorted, so that comparisons do not depend on AWS's order.
    pub subnet_ids: Vec<String>,
}

/// The region's default VPC and its default subnets, with one `DescribeSubnets` filtered on
/// `default-for-az` (the default subnets all belong to the default VPC:
/// <https://docs.aws.amazon.com/vpc/latest/userguide/default-vpc.html>); `None` when the
/// region has none.
pub async fn default_network(ec2: &aws_sdk_ec2::Client) -> Result<Option<DefaultNetwork>> {
    let answer = ec2
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
        return Ok(None);
    };
    let mut subnet_ids: Vec<String> = subnets
        .iter()
        .filter(|s| s.vpc_id() == Some(vpc_id))
        .filter_map(|s| s.subnet_id().map(str::to_owned))
        .collect();
    subnet_ids.sort();
    Ok(Some(DefaultNetwork {
        vpc_id: vpc_id.to_owned(),
        subnet_ids,
    }))
}
