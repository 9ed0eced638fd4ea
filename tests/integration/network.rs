//! Where tasks run (`[network]`), what is checked before any change: subnets in zones where
//! Fargate or the load balancer is not offered are refused, and task subnets from which the
//! tasks cannot reach ECR (no route out they can use, no VPC endpoints) are warned about.

use aws_sdk_ec2::types::{Filter, VpcEndpointType};

use crate::edge::{create_vpc, run_failing, with_network};
use crate::stack::Stack;
use crate::support::{block_on, TestEnv};

/// The reads that only `[network]` makes.
const NETWORK_READS: [&str; 3] = [
    "DescribeAvailabilityZones",
    "DescribeRouteTables",
    "DescribeVpcEndpoints",
];

/// Runs `deployer plan` and returns its stderr.
fn plan(env: &TestEnv) -> String {
    let output = env.deployer().arg("plan").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "plan failed: {stderr}");
    stderr
}

/// The warnings of a run's stderr about the egress of task subnets.
fn egress_warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("warning: network.subnets: tasks in "))
        .collect()
}

/// The VPC's main route table.
pub fn main_route_table(ec2: &aws_sdk_ec2::Client, vpc: &str) -> String {
    block_on(
        ec2.describe_route_tables()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .filters(
                Filter::builder()
                    .name("association.main")
                    .values("true")
                    .build(),
            )
            .send(),
    )
    .unwrap()
    .route_tables()[0]
        .route_table_id()
        .unwrap()
        .to_owned()
}

/// A NAT gateway in `subnet` (with an Elastic IP), and `table`'s 0.0.0.0/0 route to it.
pub fn route_to_nat_gateway(ec2: &aws_sdk_ec2::Client, subnet: &str, table: &str) {
    block_on(async {
        let address = ec2
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
            .unwrap();
        let nat = ec2
            .create_nat_gateway()
            .subnet_id(subnet)
            .allocation_id(address.allocation_id().unwrap())
            .send()
            .await
            .unwrap();
        ec2.create_route()
            .route_table_id(table)
            .destination_cidr_block("0.0.0.0/0")
            .nat_gateway_id(nat.nat_gateway().unwrap().nat_gateway_id().unwrap())
            .send()
            .await
            .unwrap();
    });
}

/// An internet gateway attached to `vpc`, and `table`'s 0.0.0.0/0 route to it.
fn route_to_internet_gateway(ec2: &aws_sdk_ec2::Client, vpc: &str, table: &str) {
    block_on(async {
        let igw = ec2
            .create_internet_gateway()
            .send()
            .await
            .unwrap()
            .internet_gateway
            .unwrap()
            .internet_gateway_id
            .unwrap();
        ec2.attach_internet_gateway()
            .internet_gateway_id(&igw)
            .vpc_id(vpc)
            .send()
            .await
            .unwrap();
        ec2.create_route()
            .route_table_id(table)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&igw)
            .send()
            .await
            .unwrap();
    });
}

fn delete_default_route(ec2: &aws_sdk_ec2::Client, table: &str) {
    block_on(
        ec2.delete_route()
            .route_table_id(table)
            .destination_cidr_block("0.0.0.0/0")
            .send(),
    )
    .unwrap();
}

/// A VPC endpoint of `service` (like `ecr.dkr`) in the test region: an interface endpoint with
/// private DNS in `subnet`, or a gateway endpoint on `table`.
fn create_endpoint(
    ec2: &aws_sdk_ec2::Client,
    vpc: &str,
    service: &str,
    place: Result<&str, &str>,
) -> String {
    let request = ec2.create_vpc_endpoint().vpc_id(vpc).service_name(format!(
        "com.amazonaws.{}.{service}",
        crate::support::REGION
    ));
    let request = match place {
        Ok(subnet) => request
            .vpc_endpoint_type(VpcEndpointType::Interface)
            .subnet_ids(subnet)
            .private_dns_enabled(true),
        Err(table) => request
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .route_table_ids(table),
    };
    block_on(request.send())
        .unwrap()
        .vpc_endpoint()
        .unwrap()
        .vpc_endpoint_id()
        .unwrap()
        .to_owned()
}

#[test]
fn private_subnets_without_nat_route_or_endpoints_are_warned_about_by_plan_and_apply() {
    let env = TestEnv::start();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let (vpc, [a, b, a2]) = create_vpc(&env);
    let main = main_route_table(&ec2, &vpc);
    env.write_config("dev", &with_network(&vpc, &[&a, &b], ""));

    // The new VPC's main route table has only its local route.
    env.proxy.clear();
    let stderr = plan(&env);
    let warnings = egress_warnings(&stderr);
    assert_eq!(warnings.len(), 2, "{stderr}");
    for (warning, subnet) in warnings.iter().zip([&a, &b]) {
        assert!(
            warning.starts_with(&format!(
                "warning: network.subnets: tasks in {subnet} get no public IP \
                 (assign_public_ip = false), and its route table {main} has no 0.0.0.0/0 route;"
            )),
            "{stderr}"
        );
        assert!(
            warning.contains(&format!(
                "for ecr.api, ecr.dkr, s3 (a gateway endpoint on {main}), logs: they cannot \
                 pull their image"
            )) && warning.contains("add a 0.0.0.0/0 route to a NAT gateway"),
            "{stderr}"
        );
    }
    assert_eq!(env.proxy.mutating_calls(), [], "plan changes nothing");
    for read in NETWORK_READS {
        assert_eq!(env.proxy.count(read), 1, "{read}: {:?}", env.proxy.calls());
    }
    assert_eq!(env.proxy.count("DescribeSubnets"), 1);

    // apply warns the same way, and goes on: a proxy the tool cannot see may make it work.
    let output = env.deployer().args(["apply", "--yes"]).assert().success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert_eq!(egress_warnings(&stderr).len(), 2, "{stderr}");

    // A NAT gateway route: no warning, and the endpoints are not even read.
    route_to_nat_gateway(&ec2, &a2, &main);
    env.proxy.clear();
    let stderr = plan(&env);
    assert_eq!(egress_warnings(&stderr), Vec::<&str>::new(), "{stderr}");
    assert_eq!(env.proxy.count("DescribeVpcEndpoints"), 0);
    assert_eq!(env.proxy.count("DescribeRouteTables"), 1);

    // No NAT gateway, but endpoints for ECR, S3 (on the subnets' route table) and Logs.
    delete_default_route(&ec2, &main);
    for service in ["ecr.api", "ecr.dkr", "logs"] {
        create_endpoint(&ec2, &vpc, service, Ok(&a));
    }
    let s3 = create_endpoint(&ec2, &vpc, "s3", Err(&main));
    let stderr = plan(&env);
    assert_eq!(egress_warnings(&stderr), Vec::<&str>::new(), "{stderr}");

    // Without the S3 endpoint the layers cannot be fetched.
    block_on(ec2.delete_vpc_endpoints().vpc_endpoint_ids(&s3).send()).unwrap();
    let stderr = plan(&env);
    let warnings = egress_warnings(&stderr);
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains(&format!("for s3 (a gateway endpoint on {main}): they")),
        "{stderr}"
    );
}

#[test]
fn public_ip_in_a_subnet_without_an_internet_gateway_route_is_warned_about() {
    let env = TestEnv::start();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let (vpc, [a, b, _]) = create_vpc(&env);
    let main = main_route_table(&ec2, &vpc);
    env.write_config(
        "dev",
        &with_network(&vpc, &[&a, &b], "assign_public_ip = true"),
    );
    let stderr = plan(&env);
    let warnings = egress_warnings(&stderr);
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].starts_with(&format!(
            "warning: network.subnets: tasks in {a} get a public IP, but its route table {main} \
             has no 0.0.0.0/0 route;"
        )) && warnings[0].contains("add a 0.0.0.0/0 route to an internet gateway"),
        "{stderr}"
    );

    route_to_internet_gateway(&ec2, &vpc, &main);
    let stderr = plan(&env);
    assert_eq!(egress_warnings(&stderr), Vec::<&str>::new(), "{stderr}");

    // The same route does nothing for tasks without a public IP.
    env.write_config("dev", &with_network(&vpc, &[&a, &b], ""));
    let stderr = plan(&env);
    let warnings = egress_warnings(&stderr);
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("to the internet gateway igw-")
            && warnings[0].contains("needs a public IP"),
        "{stderr}"
    );
}

#[test]
fn a_subnet_in_a_local_zone_stops_apply_before_any_change_with_the_subnet_named() {
    let env = TestEnv::start();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let (vpc, [a, b, _]) = create_vpc(&env);
    let local = block_on(
        ec2.create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.20.9.0/24")
            .availability_zone("eu-central-1-ham-1a")
            .send(),
    )
    .unwrap()
    .subnet
    .unwrap()
    .subnet_id
    .unwrap();

    for (config, key) in [
        (with_network(&vpc, &[&a, &local], ""), "subnets"),
        (
            with_network(
                &vpc,
                &[&a],
                &format!("load_balancer_subnets = [\"{b}\", \"{local}\"]"),
            ),
            "load_balancer_subnets",
        ),
    ] {
        env.write_config("dev", &config);
        env.proxy.clear();
        let stderr = run_failing(&env, &["apply", "--yes"]);
        assert!(
            stderr.contains(&format!(
                "network.{key}: subnet {local} is in eu-central-1-ham-1a, a Local Zone;"
            )),
            "{stderr}"
        );
        assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
        assert_eq!(env.proxy.count("DescribeAvailabilityZones"), 1);
    }
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}
