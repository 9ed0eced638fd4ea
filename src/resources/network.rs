//! Where the stack runs: the default VPC and its default subnets, or the VPC and subnets of
//! `[network]`. Looked up, never created or deleted.
//!
//! The subnets of `[network]` are checked before any change, so that a mistake stops `apply` with
//! the subnet named instead of the load balancer's or the service's create failing halfway: they
//! exist, belong to the VPC, and the load balancer's span at least two Availability Zones with one
//! subnet each (see "Subnets for your Application Load Balancer" in the ELB User Guide).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::aws::ec2::{default_network, DefaultNetwork};
use crate::aws::{AwsResultExt, Created};
use crate::config::NetworkConfig;
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Network;

#[derive(Debug, Clone)]
pub struct Live {
    pub vpc_id: String,
    /// The tasks' subnets, sorted, so that comparisons do not depend on AWS's order.
    pub subnet_ids: Vec<String>,
    /// The load balancer's subnets, sorted.
    pub load_balancer_subnet_ids: Vec<String>,
    pub assign_public_ip: bool,
}

impl Resource for Network {
    const STEP: StepId = StepId::new("network", "VPC and subnets");
    const MANAGED: bool = false;
    type Live = Live;
    type Desired = ();

    fn desired(_: &Ctx, _: &Facts) {}

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        if let Some(network) = &ctx.config.network {
            return configured(ctx, network).await.map(Some);
        }
        let Some(DefaultNetwork { vpc_id, subnet_ids }) = default_network(&ctx.aws.ec2).await?
        else {
            bail!(
                "region {} has no default VPC with default subnets; create one with \
                 `aws ec2 create-default-vpc --region {}`",
                ctx.aws.region,
                ctx.aws.region
            );
        };
        if subnet_ids.len() < 2 {
            bail!(
                "the default VPC {vpc_id} has {} default subnet(s); an application load \
                 balancer needs subnets in at least two availability zones",
                subnet_ids.len()
            );
        }
        Ok(Some(Live {
            vpc_id,
            load_balancer_subnet_ids: subnet_ids.clone(),
            subnet_ids,
            assign_public_ip: true,
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
        facts.load_balancer_subnet_ids = live.load_balancer_subnet_ids.clone();
        facts.assign_public_ip = Some(live.assign_public_ip);
    }
}

/// The VPC and subnets of `[network]`, checked: one `DescribeSubnets` of every subnet named.
async fn configured(ctx: &Ctx, network: &NetworkConfig) -> Result<Live> {
    let named: BTreeSet<&String> = network
        .subnets
        .iter()
        .chain(&network.load_balancer_subnets)
        .collect();
    let answer = ctx
        .aws
        .ec2
        .describe_subnets()
        .set_subnet_ids(Some(named.iter().map(|s| s.to_string()).collect()))
        .send()
        .await;
    let answer = match answer {
        Err(e) if crate::aws::errors::is_code(&e, &["InvalidSubnetID.NotFound"]) => bail!(
            "network.subnets: {} (region {}); check the subnet IDs of [network]",
            crate::aws::errors::message(&e).unwrap_or("a subnet does not exist"),
            ctx.aws.region
        ),
        answer => answer.or_context("looking up the subnets of [network]")?,
    };
    let zones: BTreeMap<String, (String, String)> = answer
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.subnet_id()?.to_owned(),
                (
                    s.vpc_id().unwrap_or_default().to_owned(),
                    s.availability_zone().unwrap_or_default().to_owned(),
                ),
            ))
        })
        .collect();
    check_subnets(network, &zones)?;
    Ok(Live {
        vpc_id: network.vpc_id.clone(),
        subnet_ids: sorted(&network.subnets),
        load_balancer_subnet_ids: sorted(&network.load_balancer_subnets),
        assign_public_ip: network.assign_public_ip,
    })
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// Checks the subnets EC2 described (`subnet -> (VPC, Availability Zone)`) against `[network]`.
fn check_subnets(
    network: &NetworkConfig,
    found: &BTreeMap<String, (String, String)>,
) -> Result<()> {
    for (key, subnets) in [
        ("subnets", &network.subnets),
        ("load_balancer_subnets", &network.load_balancer_subnets),
    ] {
        for subnet in subnets {
            let Some((vpc, _)) = found.get(subnet) else {
                bail!("network.{key}: subnet {subnet} does not exist in this account and region");
            };
            if *vpc != network.vpc_id {
                bail!(
                    "network.{key}: subnet {subnet} belongs to {vpc}, not to network.vpc_id {}",
                    network.vpc_id
                );
            }
        }
    }
    let mut by_zone: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for subnet in &network.load_balancer_subnets {
        if let Some((_, zone)) = found.get(subnet) {
            by_zone.entry(zone).or_default().push(subnet);
        }
    }
    if let Some((zone, subnets)) = by_zone.iter().find(|(_, s)| s.len() > 1) {
        bail!(
            "network.load_balancer_subnets: {} are all in {zone}; a load balancer takes one \
             subnet per Availability Zone",
            subnets.join(" and ")
        );
    }
    if by_zone.len() < 2 {
        bail!(
            "network.load_balancer_subnets: {} {} in one Availability Zone ({}); an application \
             load balancer needs subnets in at least two",
            network.load_balancer_subnets.join(", "),
            if network.load_balancer_subnets.len() == 1 {
                "is"
            } else {
                "are"
            },
            by_zone.keys().copied().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_always_empty_as_the_default_vpc_is_only_looked_up() {
        let live = Live {
            vpc_id: "vpc-1".into(),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            load_balancer_subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            assign_public_ip: true,
        };
        assert_eq!(Network::diff(&live, &()), []);
        let without_subnets = Live {
            vpc_id: String::new(),
            subnet_ids: Vec::new(),
            load_balancer_subnet_ids: Vec::new(),
            assign_public_ip: false,
        };
        assert_eq!(Network::diff(&without_subnets, &()), []);
    }

    fn network(subnets: &[&str], load_balancer: &[&str]) -> NetworkConfig {
        NetworkConfig {
            vpc_id: "vpc-1".into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            load_balancer_subnets: load_balancer.iter().map(|s| s.to_string()).collect(),
            assign_public_ip: false,
        }
    }

    fn found() -> BTreeMap<String, (String, String)> {
        [
            ("subnet-a", "vpc-1", "eu-central-1a"),
            ("subnet-b", "vpc-1", "eu-central-1b"),
            ("subnet-a2", "vpc-1", "eu-central-1a"),
            ("subnet-x", "vpc-2", "eu-central-1c"),
        ]
        .into_iter()
        .map(|(s, v, z)| (s.to_owned(), (v.to_owned(), z.to_owned())))
        .collect()
    }

    fn error(subnets: &[&str], load_balancer: &[&str]) -> String {
        check_subnets(&network(subnets, load_balancer), &found())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn subnets_of_the_vpc_in_two_zones_pass() {
        assert!(check_subnets(
            &network(&["subnet-a2"], &["subnet-a", "subnet-b"]),
            &found()
        )
        .is_ok());
    }

    #[test]
    fn a_subnet_of_another_vpc_or_missing_is_named() {
        assert_eq!(
            error(&["subnet-x"], &["subnet-a", "subnet-b"]),
            "network.subnets: subnet subnet-x belongs to vpc-2, not to network.vpc_id vpc-1"
        );
        assert_eq!(
            error(&["subnet-a"], &["subnet-a", "subnet-gone"]),
            "network.load_balancer_subnets: subnet subnet-gone does not exist in this account and region"
        );
    }

    #[test]
    fn load_balancer_subnets_in_one_zone_are_refused() {
        assert_eq!(
            error(&["subnet-a"], &["subnet-a", "subnet-a2"]),
            "network.load_balancer_subnets: subnet-a and subnet-a2 are all in eu-central-1a; a \
             load balancer takes one subnet per Availability Zone"
        );
    }
}
