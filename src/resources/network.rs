//! Where the stack runs: the default VPC and its default subnets, or the VPC and subnets of
//! `[network]`. Looked up, never created or deleted.
//!
//! The subnets of `[network]` are checked before any change, so that a mistake stops `apply` with
//! the subnet named instead of the load balancer's or the service's create failing halfway: they
//! exist, belong to the VPC, and the load balancer's span at least two Availability Zones with one
//! subnet each (see "Subnets for your Application Load Balancer" in the ELB User Guide), and
//! every subnet is in a standard Availability Zone where Fargate runs tasks (see
//! [`check_zones`]).
//!
//! Then, since tasks that cannot reach ECR start and fail over and over without saying why, the
//! way each task subnet reaches the internet is looked at (see [`egress_warnings`]), and what
//! looks missing is a warning: a proxy or a route deployer cannot see may still make it work.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use crate::aws::vpc::{
    self, default_network, DefaultNetwork, DefaultRoute, Endpoint, RouteTable, AVAILABILITY_ZONE,
};
use crate::aws::{AwsResultExt, Created};
use crate::config::{IpAddressType, NetworkConfig};
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

    async fn read(ctx: &Ctx, _: &Facts, detail: Detail) -> Result<Option<Live>> {
        if let Some(network) = &ctx.config.network {
            return configured(ctx, network, detail).await.map(Some);
        }
        let Some(DefaultNetwork {
            vpc_id,
            subnet_ids,
            described,
        }) = default_network(&ctx.aws.ec2).await?
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
        check_ipv6(ctx, &described, &subnet_ids, "the default VPC's")?;
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
/// For a plan or an apply (`Detail::Full`) also one `DescribeAvailabilityZones` of their zones
/// and one `DescribeRouteTables` of the VPC (at the same time), and `DescribeVpcEndpoints` of the
/// VPC when a task subnet has no route out; a destroy needs none of these.
async fn configured(ctx: &Ctx, network: &NetworkConfig, detail: Detail) -> Result<Live> {
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
    let found: BTreeMap<String, Found> = answer
        .subnets()
        .iter()
        .filter_map(|s| {
            Some((
                s.subnet_id()?.to_owned(),
                Found {
                    vpc: s.vpc_id().unwrap_or_default().to_owned(),
                    zone: s.availability_zone().unwrap_or_default().to_owned(),
                    zone_id: s.availability_zone_id().unwrap_or_default().to_owned(),
                    outpost: s.outpost_arn().is_some_and(|a| !a.is_empty()),
                },
            ))
        })
        .collect();
    check_subnets(network, &found)?;
    check_ipv6(
        ctx,
        answer.subnets(),
        &network.load_balancer_subnets,
        "network.load_balancer_subnets:",
    )?;
    if detail == Detail::Full {
        let zones: BTreeSet<String> = found.values().map(|f| f.zone.clone()).collect();
        let (types, tables) = futures_util::future::try_join(
            vpc::zone_types(&ctx.aws.ec2, &zones),
            vpc::route_tables(&ctx.aws.ec2, &network.vpc_id),
        )
        .await?;
        check_zones(network, &ctx.aws.region, &found, &types)?;
        check_tasks_reachable(network, &found)?;
        let needs = Needs::of(ctx);
        let routed = network
            .subnets
            .iter()
            .all(|s| way_out(network, &tables, s).is_some());
        // Endpoints matter only where no route leads out: a VPC whose tasks all have one costs
        // no further call.
        let endpoints = if routed {
            Vec::new()
        } else {
            vpc::endpoints(&ctx.aws.ec2, &network.vpc_id).await?
        };
        for warning in egress_warnings(network, &needs, &tables, &endpoints) {
            ctx.printer.warn(&warning);
        }
    }
    Ok(Live {
        vpc_id: network.vpc_id.clone(),
        subnet_ids: sorted(&network.subnets),
        load_balancer_subnet_ids: sorted(&network.load_balancer_subnets),
        assign_public_ip: network.assign_public_ip,
    })
}

/// A subnet as `DescribeSubnets` described it.
#[derive(Debug, Clone)]
struct Found {
    vpc: String,
    /// The zone's name, like `eu-central-1a`.
    zone: String,
    /// The zone's ID, the same in every account, like `euc1-az2`.
    zone_id: String,
    /// Whether the subnet is on an AWS Outpost.
    outpost: bool,
}

/// A `dualstack` load balancer needs an IPv6 CIDR block in each of its subnets; ELB would refuse it
/// only at `CreateLoadBalancer` ("You must specify subnets with an associated IPv6 CIDR block").
fn check_ipv6(
    ctx: &Ctx,
    described: &[aws_sdk_ec2::types::Subnet],
    load_balancer_subnets: &[String],
    what: &str,
) -> Result<()> {
    if ctx.config.load_balancer.ip_address_type != IpAddressType::Dualstack {
        return Ok(());
    }
    let without: Vec<&str> = load_balancer_subnets
        .iter()
        .filter(|id| {
            !described
                .iter()
                .filter(|s| s.subnet_id() == Some(id.as_str()))
                .any(has_ipv6)
        })
        .map(String::as_str)
        .collect();
    if without.is_empty() {
        return Ok(());
    }
    let (noun, verb) = if without.len() == 1 {
        ("subnet", "has")
    } else {
        ("subnets", "have")
    };
    bail!(
        "{what} {noun} {} {verb} no IPv6 CIDR block, which a dualstack load balancer needs in \
         each of its subnets (load_balancer.ip_address_type is dualstack when set so, or when \
         load_balancer.allowed_cidrs lists an IPv6 block); associate an IPv6 block with the VPC \
         and the subnets, or use \"ipv4\" with IPv4 blocks only",
        without.join(", ")
    )
}

/// Whether a subnet has an IPv6 CIDR block in the `associated` state.
fn has_ipv6(subnet: &aws_sdk_ec2::types::Subnet) -> bool {
    subnet.ipv6_cidr_block_association_set().iter().any(|a| {
        a.ipv6_cidr_block_state().and_then(|s| s.state())
            == Some(&aws_sdk_ec2::types::SubnetCidrBlockStateCode::Associated)
    })
}

fn sorted(ids: &[String]) -> Vec<String> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

/// Checks the subnets EC2 described against `[network]`.
fn check_subnets(network: &NetworkConfig, found: &BTreeMap<String, Found>) -> Result<()> {
    for (key, subnets) in [
        ("subnets", &network.subnets),
        ("load_balancer_subnets", &network.load_balancer_subnets),
    ] {
        for subnet in subnets {
            let Some(Found { vpc, .. }) = found.get(subnet) else {
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
        if let Some(Found { zone, .. }) = found.get(subnet) {
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

/// Checks that the load balancer has a subnet in the zone of every task subnet: "If you register
/// targets in an Availability Zone but do not enable the Availability Zone, these registered
/// targets do not receive traffic from the load balancer" (ELB User Guide, "Availability Zones
/// for your Application Load Balancer"), and a deployment whose tasks never turn healthy stalls.
fn check_tasks_reachable(network: &NetworkConfig, found: &BTreeMap<String, Found>) -> Result<()> {
    let zone_of = |subnet: &String| found.get(subnet).map(|f| f.zone.as_str());
    let served: BTreeSet<&str> = network
        .load_balancer_subnets
        .iter()
        .filter_map(zone_of)
        .collect();
    for subnet in &network.subnets {
        if let Some(zone) = zone_of(subnet).filter(|z| !served.contains(z)) {
            bail!(
                "network.subnets: subnet {subnet} is in {zone}, where the load balancer has no \
                 subnet, so tasks there would get no traffic; add a subnet of {zone} to \
                 network.load_balancer_subnets, or leave {subnet} out"
            );
        }
    }
    Ok(())
}

/// The Availability Zone IDs where Fargate runs Linux tasks, in the regions where AWS offers it
/// in some zones only ("Supported Regions for Amazon ECS on AWS Fargate" in the Amazon ECS
/// Developer Guide). Zone IDs, not names: names map to different zones in each account.
const FARGATE_ZONE_IDS: &[(&str, &[&str])] = &[
    ("us-west-1", &["usw1-az1", "usw1-az3"]),
    ("ap-northeast-1", &["apne1-az1", "apne1-az2", "apne1-az4"]),
    ("cn-north-1", &["cnn1-az1", "cnn1-az2"]),
];

/// Checks that every subnet is in a zone where what runs there is offered, given the zone types
/// EC2 described (`zone name -> ZoneType`). Errors name the key, the subnet and its zone.
///
/// Fargate runs tasks only in standard Availability Zones: "Amazon ECS on AWS Fargate workloads
/// aren't supported in Local Zones, Wavelength Zones, or on AWS Outposts" (Amazon ECS Developer
/// Guide), and in some regions only in the zones of [`FARGATE_ZONE_IDS`]. The load balancer's
/// subnets must be in Availability Zones too: an Application Load Balancer sends traffic only to
/// targets in the zones it is enabled in, and its zones must all be of one type ("Subnets for
/// your load balancer", ELB User Guide), so one in a Local Zone could never reach the tasks.
fn check_zones(
    network: &NetworkConfig,
    region: &str,
    found: &BTreeMap<String, Found>,
    types: &BTreeMap<String, String>,
) -> Result<()> {
    let fargate_zones = FARGATE_ZONE_IDS
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, ids)| *ids);
    for (key, subnets, tasks) in [
        ("subnets", &network.subnets, true),
        (
            "load_balancer_subnets",
            &network.load_balancer_subnets,
            false,
        ),
    ] {
        let what = if tasks {
            "Fargate runs tasks only in Availability Zones"
        } else {
            "the tasks run in Availability Zones (Fargate runs nowhere else), and a load \
             balancer reaches only targets in its own zones"
        };
        for subnet in subnets {
            let Some(found) = found.get(subnet) else {
                continue;
            };
            let zone = &found.zone;
            if found.outpost {
                bail!(
                    "network.{key}: subnet {subnet} is on an AWS Outpost ({zone}); {what} of \
                     the region; choose a subnet of the region instead"
                );
            }
            let kind = types.get(zone).map_or(AVAILABILITY_ZONE, String::as_str);
            if kind != AVAILABILITY_ZONE {
                let kind = match kind {
                    "local-zone" => "a Local Zone",
                    "wavelength-zone" => "a Wavelength Zone",
                    other => other,
                };
                bail!(
                    "network.{key}: subnet {subnet} is in {zone}, {kind}; {what}; choose a \
                     subnet in an Availability Zone of {region}"
                );
            }
            if let Some(ids) = fargate_zones.filter(|_| tasks) {
                if !ids.contains(&found.zone_id.as_str()) {
                    bail!(
                        "network.subnets: subnet {subnet} is in {zone} ({}), where Fargate is \
                         not offered; in {region} Fargate runs only in the zones with the IDs \
                         {}; choose a subnet in one of those",
                        found.zone_id,
                        ids.join(", ")
                    );
                }
            }
        }
    }
    Ok(())
}

/// What a task must reach over the network to start and run, for the VPC endpoints that can
/// stand in for a way to the internet ("Amazon ECS task networking options for Fargate" and
/// "Amazon ECR interface VPC endpoints (AWS PrivateLink)").
#[derive(Debug, Clone)]
struct Needs {
    region: String,
    /// The image, when it is not in this region's ECR: no VPC endpoint reaches it.
    outside_ecr: Option<String>,
    /// The endpoint services the task needs (`ecr.api`, `ecr.dkr`, `s3`, `logs`, and `ssm` or
    /// `secretsmanager` for its secrets).
    services: Vec<&'static str>,
}

impl Needs {
    fn of(ctx: &Ctx) -> Self {
        let region = ctx.aws.region.clone();
        let image = &ctx.config.container.image;
        let in_ecr = crate::names::EcrImage::parse(image).is_some_and(|i| i.region == region);
        // Pulling from ECR takes its API, its registry, and S3, where the layers are.
        let mut services = vec!["ecr.api", "ecr.dkr", "s3"];
        // The awslogs driver sends the container's output to CloudWatch Logs.
        services.push("logs");
        let secrets = ctx.config.container.secrets.values();
        if secrets.clone().any(|arn| arn.contains(":ssm:")) {
            services.push("ssm");
        }
        if secrets.clone().any(|arn| arn.contains(":secretsmanager:")) {
            services.push("secretsmanager");
        }
        Needs {
            region,
            outside_ecr: (!in_ecr).then(|| image.clone()),
            services,
        }
    }
}

/// The route table a subnet uses: the one explicitly associated with it, else the VPC's main
/// route table ("Subnet route tables", Amazon VPC User Guide).
fn table_of<'a>(tables: &'a [RouteTable], subnet: &str) -> Option<&'a RouteTable> {
    tables
        .iter()
        .find(|t| t.subnet_ids.iter().any(|s| s == subnet))
        .or_else(|| tables.iter().find(|t| t.main))
}

/// The target through which the tasks of `subnet` reach the internet, if its route table has
/// one they can use: an internet gateway only with a public IP (a private address is not
/// translated there), a NAT gateway and the like with or without.
fn way_out<'a>(network: &NetworkConfig, tables: &'a [RouteTable], subnet: &str) -> Option<&'a str> {
    match table_of(tables, subnet)?.default_route.as_ref()? {
        DefaultRoute::Egress(target) => Some(target),
        DefaultRoute::InternetGateway(target) if network.assign_public_ip => Some(target),
        _ => None,
    }
}

/// Whether an endpoint for `service` serves the subnets of route table `table`: an available
/// interface endpoint with private DNS serves the whole VPC; a gateway endpoint (S3) only the
/// route tables it is associated with.
fn served(needs: &Needs, endpoints: &[Endpoint], service: &str, table: &str) -> bool {
    endpoints.iter().any(|e| {
        e.available
            && e.service(&needs.region) == Some(service)
            && if e.gateway {
                e.route_table_ids.iter().any(|t| t == table)
            } else {
                e.private_dns
            }
    })
}

/// One warning for each task subnet whose tasks look unable to pull the image (or send their
/// logs, or read their secrets): no route out that they can use, and no VPC endpoints that
/// stand in for one. Pure: the route tables and endpoints of the VPC as EC2 described them.
fn egress_warnings(
    network: &NetworkConfig,
    needs: &Needs,
    tables: &[RouteTable],
    endpoints: &[Endpoint],
) -> Vec<String> {
    let mut warnings = Vec::new();
    for subnet in &network.subnets {
        if way_out(network, tables, subnet).is_some() {
            continue;
        }
        // A subnet without any route table cannot be judged (EC2 always has a main one).
        let Some(table) = table_of(tables, subnet) else {
            continue;
        };
        let missing: Vec<String> = needs
            .services
            .iter()
            .filter(|s| !served(needs, endpoints, s, &table.id))
            .map(|s| match *s {
                "s3" => format!("s3 (a gateway endpoint on {})", table.id),
                other => other.to_owned(),
            })
            .collect();
        if missing.is_empty() && needs.outside_ecr.is_none() {
            continue;
        }
        let route = match &table.default_route {
            None => "no 0.0.0.0/0 route".to_owned(),
            Some(DefaultRoute::InternetGateway(igw)) => {
                format!("0.0.0.0/0 to the internet gateway {igw}, which needs a public IP")
            }
            Some(DefaultRoute::Nowhere(target) | DefaultRoute::Egress(target)) => {
                format!("0.0.0.0/0 to {target}, which does not lead to the internet")
            }
        };
        let (situation, fix) = if network.assign_public_ip {
            (
                "get a public IP, but its route table",
                "add a 0.0.0.0/0 route to an internet gateway, or a NAT gateway",
            )
        } else {
            (
                "get no public IP (assign_public_ip = false), and its route table",
                "add a 0.0.0.0/0 route to a NAT gateway, or use public subnets with \
                 assign_public_ip = true",
            )
        };
        let blocked = match &needs.outside_ecr {
            Some(image) => format!(
                "the image {image} is not in this region's ECR, which no VPC endpoint reaches"
            ),
            None => format!(
                "the VPC has no VPC endpoints (available, interface ones with private DNS) for \
                 {}",
                missing.join(", ")
            ),
        };
        let endpoints_fix = if needs.outside_ecr.is_some() || missing.is_empty() {
            String::new()
        } else {
            format!(", or create the endpoints for {}", missing.join(", "))
        };
        warnings.push(format!(
            "network.subnets: tasks in {subnet} {situation} {} has {route}; {blocked}: they \
             cannot pull their image or send their logs and will not start. To fix, {fix}{endpoints_fix}",
            table.id
        ));
    }
    warnings
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

    #[test]
    fn task_subnets_in_a_zone_without_the_load_balancer_are_refused() {
        assert!(check_tasks_reachable(
            &network(&["subnet-a2"], &["subnet-a", "subnet-b"]),
            &found()
        )
        .is_ok());
        let uncovered = network(&["subnet-a", "subnet-b"], &["subnet-a", "subnet-x"]);
        assert_eq!(
            check_tasks_reachable(&uncovered, &found())
                .unwrap_err()
                .to_string(),
            "network.subnets: subnet subnet-b is in eu-central-1b, where the load balancer has no \
             subnet, so tasks there would get no traffic; add a subnet of eu-central-1b to \
             network.load_balancer_subnets, or leave subnet-b out"
        );
    }

    fn found() -> BTreeMap<String, Found> {
        [
            ("subnet-a", "vpc-1", "eu-central-1a", "euc1-az2"),
            ("subnet-b", "vpc-1", "eu-central-1b", "euc1-az3"),
            ("subnet-a2", "vpc-1", "eu-central-1a", "euc1-az2"),
            ("subnet-x", "vpc-2", "eu-central-1c", "euc1-az1"),
            (
                "subnet-ham",
                "vpc-1",
                "eu-central-1-ham-1a",
                "euc1-ham1-az1",
            ),
        ]
        .into_iter()
        .map(|(s, v, z, id)| {
            let found = Found {
                vpc: v.to_owned(),
                zone: z.to_owned(),
                zone_id: id.to_owned(),
                outpost: false,
            };
            (s.to_owned(), found)
        })
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

    fn zone_types() -> BTreeMap<String, String> {
        [
            ("eu-central-1a", "availability-zone"),
            ("eu-central-1b", "availability-zone"),
            ("eu-central-1-ham-1a", "local-zone"),
        ]
        .into_iter()
        .map(|(z, t)| (z.to_owned(), t.to_owned()))
        .collect()
    }

    fn zone_error(subnets: &[&str], load_balancer: &[&str]) -> String {
        check_zones(
            &network(subnets, load_balancer),
            "eu-central-1",
            &found(),
            &zone_types(),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn subnets_in_availability_zones_pass_the_zone_check() {
        let network = network(&["subnet-a", "subnet-b"], &["subnet-a", "subnet-b"]);
        assert!(check_zones(&network, "eu-central-1", &found(), &zone_types()).is_ok());
    }

    #[test]
    fn a_subnet_in_a_local_zone_is_refused_for_tasks_and_load_balancer() {
        let tasks = zone_error(&["subnet-ham"], &["subnet-a", "subnet-b"]);
        assert!(
            tasks.starts_with(
                "network.subnets: subnet subnet-ham is in eu-central-1-ham-1a, a Local Zone; \
                 Fargate runs tasks only in Availability Zones"
            ),
            "{tasks}"
        );
        let load_balancer = zone_error(&["subnet-a"], &["subnet-a", "subnet-ham"]);
        assert!(
            load_balancer.starts_with(
                "network.load_balancer_subnets: subnet subnet-ham is in eu-central-1-ham-1a, a \
                 Local Zone; the tasks run in Availability Zones"
            ),
            "{load_balancer}"
        );
    }

    #[test]
    fn a_subnet_on_an_outpost_is_refused() {
        let mut found = found();
        found.get_mut("subnet-b").unwrap().outpost = true;
        let network = network(&["subnet-b"], &["subnet-a", "subnet-b"]);
        let error = check_zones(&network, "eu-central-1", &found, &zone_types())
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("network.subnets: subnet subnet-b is on an AWS Outpost"),
            "{error}"
        );
    }

    #[test]
    fn task_subnet_in_a_zone_without_fargate_is_refused_but_the_load_balancer_may_use_it() {
        let found: BTreeMap<String, Found> = [
            ("subnet-1", "us-west-1a", "usw1-az1"),
            ("subnet-2", "us-west-1b", "usw1-az2"),
            ("subnet-3", "us-west-1c", "usw1-az3"),
        ]
        .into_iter()
        .map(|(s, z, id)| {
            let found = Found {
                vpc: "vpc-1".into(),
                zone: z.into(),
                zone_id: id.into(),
                outpost: false,
            };
            (s.to_owned(), found)
        })
        .collect();
        let types = BTreeMap::new();
        let error = check_zones(
            &network(&["subnet-1", "subnet-2"], &["subnet-1", "subnet-3"]),
            "us-west-1",
            &found,
            &types,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "network.subnets: subnet subnet-2 is in us-west-1b (usw1-az2), where Fargate is not \
             offered; in us-west-1 Fargate runs only in the zones with the IDs usw1-az1, \
             usw1-az3; choose a subnet in one of those"
        );
        // The load balancer is offered in every Availability Zone.
        assert!(check_zones(
            &network(&["subnet-1", "subnet-3"], &["subnet-1", "subnet-2"]),
            "us-west-1",
            &found,
            &types,
        )
        .is_ok());
        // Other regions have Fargate in every zone.
        assert!(check_zones(
            &network(&["subnet-2"], &["subnet-1", "subnet-3"]),
            "us-west-2",
            &found,
            &types,
        )
        .is_ok());
    }

    fn needs(image_in_ecr: bool, services: &[&'static str]) -> Needs {
        Needs {
            region: "eu-central-1".into(),
            outside_ecr: (!image_in_ecr).then(|| "nginx:1.27".to_owned()),
            services: services.to_vec(),
        }
    }

    const PULL: &[&str] = &["ecr.api", "ecr.dkr", "s3", "logs"];

    fn table(id: &str, main: bool, subnets: &[&str], route: Option<DefaultRoute>) -> RouteTable {
        RouteTable {
            id: id.into(),
            main,
            subnet_ids: subnets.iter().map(|s| s.to_string()).collect(),
            default_route: route,
        }
    }

    fn endpoint(service: &str, gateway: bool, tables: &[&str]) -> Endpoint {
        Endpoint {
            id: format!("vpce-{service}"),
            service_name: format!("com.amazonaws.eu-central-1.{service}"),
            gateway,
            available: true,
            private_dns: !gateway,
            route_table_ids: tables.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn private(subnets: &[&str]) -> NetworkConfig {
        network(subnets, &["subnet-a", "subnet-b"])
    }

    fn public(subnets: &[&str]) -> NetworkConfig {
        NetworkConfig {
            assign_public_ip: true,
            ..network(subnets, &["subnet-a", "subnet-b"])
        }
    }

    /// The VPC's main table goes to the internet gateway; `rtb-private` (subnet-p) has no
    /// default route; `rtb-nat` (subnet-n) goes to a NAT gateway.
    fn tables() -> Vec<RouteTable> {
        vec![
            table(
                "rtb-main",
                true,
                &[],
                Some(DefaultRoute::InternetGateway("igw-1".into())),
            ),
            table("rtb-private", false, &["subnet-p"], None),
            table(
                "rtb-nat",
                false,
                &["subnet-n"],
                Some(DefaultRoute::Egress("nat-1".into())),
            ),
        ]
    }

    #[test]
    fn private_subnet_without_nat_or_endpoints_is_warned_about_by_name() {
        let warnings = egress_warnings(
            &private(&["subnet-p", "subnet-n"]),
            &needs(true, PULL),
            &tables(),
            &[],
        );
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_eq!(
            warnings[0],
            "network.subnets: tasks in subnet-p get no public IP (assign_public_ip = false), and \
             its route table rtb-private has no 0.0.0.0/0 route; the VPC has no VPC endpoints \
             (available, interface ones with private DNS) for ecr.api, ecr.dkr, s3 (a gateway \
             endpoint on rtb-private), logs: they cannot pull their image or send their logs \
             and will not start. To fix, add a 0.0.0.0/0 route to a NAT gateway, or use public \
             subnets with assign_public_ip = true, or create the endpoints for ecr.api, \
             ecr.dkr, s3 (a gateway endpoint on rtb-private), logs"
        );
    }

    #[test]
    fn an_internet_gateway_does_not_help_tasks_without_a_public_ip() {
        // subnet-m has no association of its own: it uses the main table.
        let warnings = egress_warnings(&private(&["subnet-m"]), &needs(true, PULL), &tables(), &[]);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains(
                "its route table rtb-main has 0.0.0.0/0 to the internet gateway igw-1, which \
                 needs a public IP"
            ),
            "{warnings:#?}"
        );
        // With a public IP it is the way out.
        assert_eq!(
            egress_warnings(&public(&["subnet-m"]), &needs(true, PULL), &tables(), &[]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn endpoints_for_ecr_s3_and_logs_stand_in_for_a_nat_gateway() {
        let all = [
            endpoint("ecr.api", false, &[]),
            endpoint("ecr.dkr", false, &[]),
            endpoint("s3", true, &["rtb-private"]),
            endpoint("logs", false, &[]),
        ];
        let network = private(&["subnet-p"]);
        assert_eq!(
            egress_warnings(&network, &needs(true, PULL), &tables(), &all),
            Vec::<String>::new()
        );
        // The S3 gateway endpoint serves only the route tables it is associated with.
        let elsewhere = [
            endpoint("ecr.api", false, &[]),
            endpoint("ecr.dkr", false, &[]),
            endpoint("s3", true, &["rtb-nat"]),
            endpoint("logs", false, &[]),
        ];
        let warnings = egress_warnings(&network, &needs(true, PULL), &tables(), &elsewhere);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains("for s3 (a gateway endpoint on rtb-private): they"),
            "{warnings:#?}"
        );
        // An interface endpoint without private DNS is not used by the default host names.
        let mut without_dns = all.clone();
        without_dns[1].private_dns = false;
        let warnings = egress_warnings(&network, &needs(true, PULL), &tables(), &without_dns);
        assert!(warnings[0].contains("for ecr.dkr: they"), "{warnings:#?}");
        // Secrets in Parameter Store need its endpoint too.
        let mut with_secrets = PULL.to_vec();
        with_secrets.push("ssm");
        let warnings = egress_warnings(&network, &needs(true, &with_secrets), &tables(), &all);
        assert!(warnings[0].contains("for ssm: they"), "{warnings:#?}");
    }

    #[test]
    fn endpoints_cannot_reach_an_image_outside_ecr() {
        let all = [
            endpoint("ecr.api", false, &[]),
            endpoint("ecr.dkr", false, &[]),
            endpoint("s3", true, &["rtb-private"]),
            endpoint("logs", false, &[]),
        ];
        let warnings = egress_warnings(
            &private(&["subnet-p"]),
            &needs(false, PULL),
            &tables(),
            &all,
        );
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].contains(
                "the image nginx:1.27 is not in this region's ECR, which no VPC endpoint reaches"
            ),
            "{warnings:#?}"
        );
        // A NAT gateway reaches it.
        assert_eq!(
            egress_warnings(&private(&["subnet-n"]), &needs(false, PULL), &tables(), &[]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn public_ip_in_a_subnet_without_an_internet_gateway_route_is_warned_about() {
        let warnings = egress_warnings(&public(&["subnet-p"]), &needs(true, PULL), &tables(), &[]);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(
            warnings[0].starts_with(
                "network.subnets: tasks in subnet-p get a public IP, but its route table \
                 rtb-private has no 0.0.0.0/0 route;"
            ),
            "{warnings:#?}"
        );
        assert!(
            warnings[0].contains("To fix, add a 0.0.0.0/0 route to an internet gateway"),
            "{warnings:#?}"
        );
        // A route to a peering connection leads nowhere further.
        let peered = vec![table(
            "rtb-peer",
            true,
            &[],
            Some(DefaultRoute::Nowhere("pcx-1".into())),
        )];
        let warnings = egress_warnings(&public(&["subnet-p"]), &needs(true, PULL), &peered, &[]);
        assert!(
            warnings[0].contains("has 0.0.0.0/0 to pcx-1, which does not lead to the internet"),
            "{warnings:#?}"
        );
    }
}
