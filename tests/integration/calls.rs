//! Every AWS call costs a round trip (about 50 ms from a CI runner). These are the call budgets
//! of each command on the shipped stack; the counts are deterministic, so a regression that adds
//! calls fails here. (Wall time and memory are measured by `scripts/bench`, not by tests.)

use std::collections::BTreeMap;

use crate::lifecycle::{apply, dev_env};
use crate::support::{block_on, TestEnv};

/// The calls made since the last `clear`, by `service:Operation`.
fn calls(env: &TestEnv) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for operation in env.proxy.operations() {
        *counts.entry(operation).or_insert(0) += 1;
    }
    counts
}

fn total(counts: &BTreeMap<String, usize>) -> usize {
    counts.values().sum()
}

#[test]
fn each_command_stays_within_its_call_budget() {
    let env = dev_env();

    apply(&env);
    let cold = calls(&env);
    assert!(
        total(&cold) <= 35,
        "cold apply: {} calls {cold:#?}",
        total(&cold)
    );

    env.proxy.clear();
    apply(&env);
    let no_op = calls(&env);
    assert!(
        total(&no_op) <= 15,
        "no-op apply: {} calls {no_op:#?}",
        total(&no_op)
    );

    env.proxy.clear();
    env.deployer().arg("plan").assert().success();
    let plan = calls(&env);
    assert!(total(&plan) <= 15, "plan: {} calls {plan:#?}", total(&plan));
    assert_eq!(plan, no_op, "plan reads exactly what a no-op apply reads");
    // The default VPC's default subnets route to its internet gateway by definition: the checks
    // of a `[network]` VPC (its zones, route tables, endpoints) cost the shipped stack nothing.
    for read in [
        "ec2:DescribeAvailabilityZones",
        "ec2:DescribeRouteTables",
        "ec2:DescribeVpcEndpoints",
    ] {
        assert!(
            !cold.contains_key(read) && !plan.contains_key(read),
            "{read}: {plan:#?}"
        );
    }

    env.proxy.clear();
    env.deployer()
        .args(["outputs", "alb_dns_name"])
        .assert()
        .success();
    assert_eq!(total(&calls(&env)), 0, "outputs makes no call");

    env.proxy.clear();
    env.deployer().args(["destroy", "--yes"]).assert().success();
    let destroy = calls(&env);
    // The wait for the service to become INACTIVE polls DescribeServices after DeleteService.
    let polls = env
        .proxy
        .operations()
        .iter()
        .skip_while(|o| *o != "ecs:DeleteService")
        .filter(|o| *o == "ecs:DescribeServices")
        .count();
    assert!(
        polls >= 1,
        "the service's deletion is waited for: {destroy:#?}"
    );
    eprintln!(
        "calls: cold apply {}, no-op apply {}, plan {}, destroy {} + {polls} polls",
        total(&cold),
        total(&no_op),
        total(&plan),
        total(&destroy) - polls
    );
    assert!(
        total(&destroy) - polls <= 30,
        "destroy: {} calls besides {polls} polls {destroy:#?}",
        total(&destroy) - polls
    );
}

/// A stack in a VPC of its own costs only the reads of its network checks more than the shipped
/// one: the zones of its subnets and its route tables, and its VPC endpoints only while a task
/// subnet has no route out.
#[test]
fn a_vpc_of_its_own_adds_only_the_reads_of_its_checks() {
    let env = crate::support::TestEnv::start();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let (vpc, [a, b, a2]) = crate::edge::create_vpc(&env);
    let main = crate::network::main_route_table(&ec2, &vpc);
    crate::network::route_to_nat_gateway(&ec2, &a2, &main);
    env.write_config("dev", &crate::edge::with_network(&vpc, &[&a, &b], ""));
    apply(&env);

    env.proxy.clear();
    apply(&env);
    let no_op = calls(&env);
    let ec2_reads = |counts: &BTreeMap<String, usize>| -> Vec<(String, usize)> {
        counts
            .iter()
            .filter(|(operation, _)| {
                [
                    "ec2:DescribeSubnets",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeVpcEndpoints",
                ]
                .contains(&operation.as_str())
            })
            .map(|(operation, count)| (operation.clone(), *count))
            .collect()
    };
    assert_eq!(
        ec2_reads(&no_op),
        [
            ("ec2:DescribeAvailabilityZones".to_owned(), 1),
            ("ec2:DescribeRouteTables".to_owned(), 1),
            ("ec2:DescribeSubnets".to_owned(), 1),
        ],
        "{no_op:#?}"
    );
    assert!(
        total(&no_op) <= 15 + 2,
        "no-op apply with [network]: {} calls {no_op:#?}",
        total(&no_op)
    );

    // Without the NAT route the endpoints are read too.
    block_on(
        ec2.delete_route()
            .route_table_id(&main)
            .destination_cidr_block("0.0.0.0/0")
            .send(),
    )
    .unwrap();
    env.proxy.clear();
    env.deployer().arg("plan").assert().success();
    let plan = calls(&env);
    assert_eq!(plan.get("ec2:DescribeVpcEndpoints"), Some(&1), "{plan:#?}");
    eprintln!(
        "calls with [network]: no-op apply {} (NAT route), plan {} (no route out)",
        total(&no_op),
        total(&plan)
    );
}
