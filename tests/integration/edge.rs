//! The production edge: who may connect (`load_balancer.allowed_cidrs`, an internal load
//! balancer), and HTTPS (`[https]`): what `apply` makes, that a second `apply` changes nothing,
//! that changes made by hand are repaired, and what `destroy` removes and keeps.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, SecurityGroup};

use crate::drift::plan_json;
use crate::lifecycle::{apply, assert_converged, DEV_TOML};
use crate::stack::Stack;
use crate::support::{block_on, TestEnv};

/// The shipped configuration with `extra` lines added to its `[load_balancer]` table.
fn with_load_balancer(extra: &str) -> String {
    let config = DEV_TOML.replace("[load_balancer]\n", &format!("[load_balancer]\n{extra}\n"));
    assert_ne!(config, DEV_TOML);
    config
}

/// The inbound rules of a group as `(port, peer)` pairs, IPv4 and IPv6 alike.
fn inbound(group: &SecurityGroup) -> BTreeSet<(i32, String)> {
    let mut rules = BTreeSet::new();
    for permission in group.ip_permissions() {
        assert_eq!(permission.ip_protocol(), Some("tcp"), "{permission:?}");
        assert_eq!(
            permission.from_port(),
            permission.to_port(),
            "{permission:?}"
        );
        let port = permission.from_port().unwrap();
        for range in permission.ip_ranges() {
            rules.insert((port, range.cidr_ip().unwrap().to_owned()));
        }
        for range in permission.ipv6_ranges() {
            rules.insert((port, range.cidr_ipv6().unwrap().to_owned()));
        }
        assert!(
            permission.user_id_group_pairs().is_empty(),
            "{permission:?}"
        );
    }
    rules
}

fn rules(pairs: &[(i32, &str)]) -> BTreeSet<(i32, String)> {
    pairs.iter().map(|(p, c)| (*p, (*c).to_owned())).collect()
}

#[test]
fn allowed_cidrs_admit_only_those_blocks_and_a_rule_opened_by_hand_is_closed_again() {
    let env = TestEnv::start();
    env.write_config(
        "dev",
        &with_load_balancer(r#"allowed_cidrs = ["203.0.113.0/24", "2001:DB8::/32"]"#),
    );
    apply(&env);
    let restricted = rules(&[(80, "203.0.113.0/24"), (80, "2001:db8::/32")]);
    let stack = Stack::read(&env);
    assert_eq!(inbound(stack.security_group("alb-sg")), restricted);
    assert_converged(&env);

    // Opened to the world by hand, and the IPv6 block removed: both are repaired, and the
    // restricted rule the configuration asks for is kept.
    let group = stack
        .security_group("alb-sg")
        .group_id()
        .unwrap()
        .to_owned();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    block_on(async {
        ec2.authorize_security_group_ingress()
            .group_id(&group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(80)
                    .to_port(80)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ec2.revoke_security_group_ingress()
            .group_id(&group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(80)
                    .to_port(80)
                    .ipv6_ranges(Ipv6Range::builder().cidr_ipv6("2001:db8::/32").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    let changes: Vec<String> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["step"] == "alb_security_group")
        .flat_map(|r| r["changes"].as_array().cloned().unwrap_or_default())
        .map(|c| format!("{}: {} -> {}", c["field"], c["old"], c["new"]))
        .collect();
    assert_eq!(
        changes,
        [
            r#""ingress": "(none)" -> "tcp 80 from 2001:db8::/32""#,
            r#""ingress": "tcp 80 from 0.0.0.0/0" -> "(none)""#,
        ],
        "{plan:#}"
    );
    env.proxy.clear();
    apply(&env);
    let revoked = env.proxy.count("RevokeSecurityGroupIngress");
    assert_eq!(revoked, 1, "{:?}", env.proxy.operations());
    assert_eq!(
        inbound(Stack::read(&env).security_group("alb-sg")),
        restricted
    );
    assert_converged(&env);

    // Back to the default: everyone may connect again.
    env.write_config("dev", DEV_TOML);
    apply(&env);
    assert_eq!(
        inbound(Stack::read(&env).security_group("alb-sg")),
        rules(&[(80, "0.0.0.0/0")])
    );
}

#[test]
fn internal_load_balancer_is_made_internal_and_its_scheme_is_not_changed_in_place() {
    let env = TestEnv::start();
    env.write_config("dev", &with_load_balancer("internal = true"));
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(
        stack.load_balancers[0].scheme().map(|s| s.as_str()),
        Some("internal")
    );
    assert_converged(&env);

    // Internet-facing again: a replacement of the load balancer, which apply refuses before
    // any change, saying how to go on.
    env.write_config("dev", DEV_TOML);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    let lb = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "load_balancer")
        .unwrap();
    assert_eq!(lb["action"], "replace", "{plan:#}");
    assert_eq!(lb["changes"][0]["field"], "scheme", "{plan:#}");
    assert_eq!(lb["changes"][0]["new"], "internet-facing", "{plan:#}");
    env.proxy.clear();
    let output = env.deployer().args(["apply", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("nothing was changed")
            && stderr.contains("scheme: internal -> internet-facing"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
    assert_eq!(
        Stack::read(&env).load_balancers[0]
            .scheme()
            .map(|s| s.as_str()),
        Some("internal")
    );
}

#[test]
fn a_bad_allowed_cidr_is_refused_with_no_aws_call() {
    let env = TestEnv::offline();
    env.write_config(
        "dev",
        &with_load_balancer(r#"allowed_cidrs = ["203.0.113.7/24"]"#),
    );
    let output = env.deployer().args(["apply", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("envs/dev.toml:")
            && stderr.contains("load_balancer.allowed_cidrs")
            && stderr.contains("\"203.0.113.0/24\""),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
}
