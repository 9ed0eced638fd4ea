//! What a VPC of `[network]` offers its tasks, read from EC2 for the checks made before any
//! change: the kind of zone each subnet is in, where each route table sends traffic for the
//! internet, and which VPC endpoints the VPC has. Each read is one call filtered by the VPC (or
//! by the subnets' zones), so that a VPC with many tables or endpoints costs no more calls.
//! Also the default VPC and its default subnets: where a stack without `[network]` runs, read
//! by the network step and by `import` (to tell whether a stack taken over runs there).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use aws_sdk_ec2::types::{Filter, RouteState, VpcEndpointType};

use super::AwsResultExt;

/// `ZoneType` of a standard Availability Zone in `DescribeAvailabilityZones` (the others are
/// `local-zone` and `wavelength-zone`; see "Regions and Zones" in the Amazon EC2 User Guide).
pub const AVAILABILITY_ZONE: &str = "availability-zone";

/// The zone type of each zone named, by zone name: one `DescribeAvailabilityZones` filtered by
/// `zone-name`, with `AllAvailabilityZones` so that Local Zones and Wavelength Zones are
/// described too. A zone EC2 does not describe is left out. Errors: the call's.
pub async fn zone_types(
    ec2: &aws_sdk_ec2::Client,
    zones: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>> {
    let answer = ec2
        .describe_availability_zones()
        .all_availability_zones(true)
        .filters(
            Filter::builder()
                .name("zone-name")
                .set_values(Some(zones.iter().cloned().collect()))
                .build(),
        )
        .send()
        .await
        .or_context("looking up the Availability Zones of the subnets of [network]")?;
    Ok(answer
        .availability_zones()
        .iter()
        .filter_map(|z| {
            Some((
                z.zone_name()?.to_owned(),
                z.zone_type().unwrap_or(AVAILABILITY_ZONE).to_owned(),
            ))
        })
        .collect())
}

/// Where a route table sends `0.0.0.0/0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultRoute {
    /// An internet gateway (`igw-...`): a way out only for tasks with a public IP.
    InternetGateway(String),
    /// A way out for private addresses too: a NAT gateway, a NAT instance (an instance or its
    /// network interface), a transit gateway or virtual private gateway (central egress through
    /// another VPC or the data centre), a Cloud WAN core network, or a Gateway Load Balancer
    /// endpoint (a firewall in the path).
    Egress(String),
    /// A target that does not lead private addresses to the internet: a VPC peering connection
    /// (peering does not route onward, "VPC peering limitations" in the VPC Peering guide), an
    /// egress-only internet gateway (IPv6 only), a local or carrier gateway; or a blackhole
    /// route whose target is gone.
    Nowhere(String),
}

/// A route table as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub id: String,
    /// Whether it is the VPC's main route table, which every subnet without an explicit
    /// association uses.
    pub main: bool,
    /// The subnets explicitly associated with it.
    pub subnet_ids: Vec<String>,
    /// Its `0.0.0.0/0` route, if it has one.
    pub default_route: Option<DefaultRoute>,
}

/// The route tables of `vpc_id`: `DescribeRouteTables` filtered by `vpc-id`, every page.
/// Errors: the call's.
pub async fn route_tables(ec2: &aws_sdk_ec2::Client, vpc_id: &str) -> Result<Vec<RouteTable>> {
    let mut tables = Vec::new();
    let mut pages = ec2
        .describe_route_tables()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.or_context(format!("reading the route tables of {vpc_id}"))?;
        for table in page.route_tables() {
            let Some(id) = table.route_table_id() else {
                continue;
            };
            let associations = table.associations();
            tables.push(RouteTable {
                id: id.to_owned(),
                main: associations.iter().any(|a| a.main() == Some(true)),
                subnet_ids: associations
                    .iter()
                    .filter_map(|a| a.subnet_id().map(str::to_owned))
                    .collect(),
                default_route: table
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                    .map(default_route),
            });
        }
    }
    Ok(tables)
}

/// What a `0.0.0.0/0` route leads to (see [`DefaultRoute`]), from the target fields of the
/// `Route` type of the EC2 API Reference.
fn default_route(route: &aws_sdk_ec2::types::Route) -> DefaultRoute {
    let gateway = route.gateway_id().unwrap_or_default();
    let egress = route
        .nat_gateway_id()
        .or(route.transit_gateway_id())
        .or(route.instance_id())
        .or(route.network_interface_id())
        .or(route.core_network_arn())
        .or(Some(gateway).filter(|g| g.starts_with("vgw-") || g.starts_with("vpce-")));
    let target = egress
        .or(Some(gateway).filter(|g| !g.is_empty()))
        .or(route.vpc_peering_connection_id())
        .or(route.egress_only_internet_gateway_id())
        .or(route.local_gateway_id())
        .or(route.carrier_gateway_id())
        .unwrap_or("an unknown target")
        .to_owned();
    if route.state() == Some(&RouteState::Blackhole) {
        return DefaultRoute::Nowhere(format!("{target} (blackhole)"));
    }
    if egress.is_some() {
        DefaultRoute::Egress(target)
    } else if gateway.starts_with("igw-") {
        DefaultRoute::InternetGateway(target)
    } else {
        DefaultRoute::Nowhere(target)
    }
}

/// A VPC endpoint as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    /// `com.amazonaws.REGION.SERVICE` (in China `cn.com.amazonaws.REGION.SERVICE` for some).
    pub service_name: String,
    /// Whether it is a gateway endpoint (S3, DynamoDB), which serves only the subnets of the
    /// route tables it is associated with; an interface endpoint serves the whole VPC.
    pub gateway: bool,
    /// State `available`.
    pub available: bool,
    /// Whether the service's usual host name resolves to the endpoint inside the VPC; without
    /// it, clients still go to the public address.
    pub private_dns: bool,
    /// The route tables a gateway endpoint is associated with.
    pub route_table_ids: Vec<String>,
}

impl Endpoint {
    /// The service part of its name, like `ecr.dkr` for `com.amazonaws.eu-central-1.ecr.dkr`;
    /// `None` for a service of another region or a service that is not AWS's.
    pub fn service(&self, region: &str) -> Option<&str> {
        let (_, service) = self.service_name.split_once(&format!(".{region}."))?;
        self.service_name
            .strip_prefix("com.amazonaws.")
            .or_else(|| self.service_name.strip_prefix("cn.com.amazonaws."))
            .map(|_| service)
    }
}

/// The VPC endpoints of `vpc_id`: `DescribeVpcEndpoints` filtered by `vpc-id`, every page.
/// Errors: the call's.
pub async fn endpoints(ec2: &aws_sdk_ec2::Client, vpc_id: &str) -> Result<Vec<Endpoint>> {
    let mut endpoints = Vec::new();
    let mut pages = ec2
        .describe_vpc_endpoints()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.or_context(format!("reading the VPC endpoints of {vpc_id}"))?;
        for endpoint in page.vpc_endpoints() {
            let (Some(id), Some(service_name)) =
                (endpoint.vpc_endpoint_id(), endpoint.service_name())
            else {
                continue;
            };
            endpoints.push(Endpoint {
                id: id.to_owned(),
                service_name: service_name.to_owned(),
                gateway: endpoint.vpc_endpoint_type() == Some(&VpcEndpointType::Gateway),
                // EC2 answers `available`; the API Reference spells it `Available`.
                available: endpoint
                    .state()
                    .is_some_and(|s| s.as_str().eq_ignore_ascii_case("available")),
                private_dns: endpoint.private_dns_enabled() == Some(true),
                route_table_ids: endpoint.route_table_ids().to_vec(),
            });
        }
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::types::Route;

    fn route(
        build: impl FnOnce(
            aws_sdk_ec2::types::builders::RouteBuilder,
        ) -> aws_sdk_ec2::types::builders::RouteBuilder,
    ) -> DefaultRoute {
        default_route(
            &build(Route::builder().destination_cidr_block("0.0.0.0/0"))
                .state(RouteState::Active)
                .build(),
        )
    }

    #[test]
    fn default_routes_are_told_apart_by_their_target() {
        assert_eq!(
            route(|r| r.gateway_id("igw-1")),
            DefaultRoute::InternetGateway("igw-1".into())
        );
        for (egress, r) in [
            ("nat-1", route(|r| r.nat_gateway_id("nat-1"))),
            ("tgw-1", route(|r| r.transit_gateway_id("tgw-1"))),
            (
                "i-1",
                route(|r| r.instance_id("i-1").network_interface_id("eni-1")),
            ),
            ("eni-1", route(|r| r.network_interface_id("eni-1"))),
            ("vgw-1", route(|r| r.gateway_id("vgw-1"))),
            ("vpce-1", route(|r| r.gateway_id("vpce-1"))),
        ] {
            assert_eq!(r, DefaultRoute::Egress(egress.into()));
        }
        assert_eq!(
            route(|r| r.vpc_peering_connection_id("pcx-1")),
            DefaultRoute::Nowhere("pcx-1".into())
        );
        assert_eq!(
            route(|r| r.carrier_gateway_id("cagw-1")),
            DefaultRoute::Nowhere("cagw-1".into())
        );
        assert_eq!(
            default_route(
                &Route::builder()
                    .nat_gateway_id("nat-gone")
                    .state(RouteState::Blackhole)
                    .build()
            ),
            DefaultRoute::Nowhere("nat-gone (blackhole)".into())
        );
    }

    #[test]
    fn endpoint_services_are_those_of_the_region() {
        let endpoint = |name: &str| Endpoint {
            id: "vpce-1".into(),
            service_name: name.into(),
            gateway: false,
            available: true,
            private_dns: true,
            route_table_ids: Vec::new(),
        };
        assert_eq!(
            endpoint("com.amazonaws.eu-central-1.ecr.dkr").service("eu-central-1"),
            Some("ecr.dkr")
        );
        assert_eq!(
            endpoint("cn.com.amazonaws.cn-north-1.ecr.api").service("cn-north-1"),
            Some("ecr.api")
        );
        assert_eq!(
            endpoint("com.amazonaws.eu-west-1.ecr.dkr").service("eu-central-1"),
            None
        );
        assert_eq!(
            endpoint("com.amazonaws.vpce.eu-central-1.vpce-svc-0123").service("eu-central-1"),
            Some("vpce-svc-0123")
        );
    }
}

/// The default VPC and its default subnets (one per Availability Zone).
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultNetwork {
    pub vpc_id: String,
    /// Sorted, so that comparisons do not depend on AWS's order.
    pub subnet_ids: Vec<String>,
    /// The subnets as EC2 described them (their IPv6 blocks, for a dualstack load balancer).
    pub described: Vec<aws_sdk_ec2::types::Subnet>,
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
        described: subnets
            .iter()
            .filter(|s| s.vpc_id() == Some(vpc_id))
            .cloned()
            .collect(),
    }))
}
