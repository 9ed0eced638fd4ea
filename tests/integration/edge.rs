//! The production edge: who may connect (`load_balancer.allowed_cidrs`, an internal load
//! balancer), and HTTPS (`[https]`): what `apply` makes, that a second `apply` changes nothing,
//! that changes made by hand are repaired, and what `destroy` removes and keeps.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, SecurityGroup};

use serde_json::Value;

use crate::drift::plan_json;
use crate::iam_policy::{not_allowed, printed_policy};
use crate::lifecycle::{apply, assert_converged, DEV_TOML};
use crate::stack::{has_owner_tags, Stack};
use crate::support::{block_on, Fault, MotoServer, TestEnv};

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

/// Gives the default VPC an Amazon-provided IPv6 block and each default subnet a /64 of it, as
/// `aws ec2 associate-vpc-cidr-block --amazon-provided-ipv6-cidr-block` and
/// `associate-subnet-cidr-block` do: what a dualstack load balancer needs.
pub fn enable_ipv6(env: &TestEnv) {
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let stack = Stack::read(env);
    block_on(async {
        let subnets = ec2
            .describe_subnets()
            .set_subnet_ids(Some(stack.default_subnets.clone()))
            .send()
            .await
            .unwrap();
        let vpc = subnets.subnets()[0].vpc_id().unwrap().to_owned();
        let block = ec2
            .associate_vpc_cidr_block()
            .vpc_id(&vpc)
            .amazon_provided_ipv6_cidr_block(true)
            .send()
            .await
            .unwrap()
            .ipv6_cidr_block_association
            .unwrap()
            .ipv6_cidr_block
            .unwrap();
        let prefix = block.split("::").next().unwrap().to_owned();
        for (i, subnet) in stack.default_subnets.iter().enumerate() {
            ec2.associate_subnet_cidr_block()
                .subnet_id(subnet)
                .ipv6_cidr_block(format!("{prefix}:{i:x}::/64"))
                .send()
                .await
                .unwrap();
        }
    });
}

fn ip_address_type(env: &TestEnv) -> String {
    Stack::read(env).load_balancers[0]
        .ip_address_type()
        .unwrap()
        .as_str()
        .to_owned()
}

#[test]
fn ipv6_allowed_cidrs_with_an_ipv4_only_load_balancer() {
    // IPv6 clients were admitted by the security group of a load balancer that had no IPv6
    // address (and, with [https], an AAAA record pointing at none).
    let env = TestEnv::start();
    env.write_config(
        "dev",
        &with_load_balancer(r#"allowed_cidrs = ["203.0.113.0/24", "2001:db8::/32"]"#),
    );
    // The default subnets have no IPv6 block: refused before any change, the subnets named.
    let output = env.deployer().args(["apply", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let default_subnets = Stack::read(&env).default_subnets;
    assert!(
        stderr.contains("no IPv6 CIDR block")
            && stderr.contains("dualstack")
            && default_subnets.iter().all(|s| stderr.contains(s.as_str())),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");

    enable_ipv6(&env);
    apply(&env);
    assert_eq!(ip_address_type(&env), "dualstack");
    assert_converged(&env);

    // IPv4 clients only: changed in place, the load balancer kept.
    let arn = Stack::read(&env).load_balancers[0]
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    env.write_config(
        "dev",
        &with_load_balancer(r#"allowed_cidrs = ["203.0.113.0/24"]"#),
    );
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    let fields = changed_fields(&plan);
    assert!(
        fields.contains(&(
            "load_balancer".to_owned(),
            vec!["ip_address_type".to_owned()]
        )),
        "{plan:#}"
    );
    apply(&env);
    assert_eq!(ip_address_type(&env), "ipv4");
    assert_eq!(
        Stack::read(&env).load_balancers[0].load_balancer_arn(),
        Some(arn.as_str())
    );
    assert_converged(&env);
}

#[test]
fn allowed_cidrs_admit_only_those_blocks_and_a_rule_opened_by_hand_is_closed_again() {
    let env = TestEnv::start();
    enable_ipv6(&env);
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

const ZONE: &str = "example.com";
const DOMAIN: &str = "app.example.com";

/// A test environment whose emulator issues a requested certificate `validation_wait` seconds
/// after the request, as ACM does once it resolves the validation records.
fn https_env(validation_wait: u32) -> TestEnv {
    TestEnv::with_moto(
        MotoServer::builder()
            .env("MOTO_ECS_SERVICE_RUNNING", "2")
            .env("MOTO_ACM_VALIDATION_WAIT", validation_wait.to_string())
            .start(),
    )
}

/// Creates the public hosted zone `example.com` in the emulator; returns its ID.
fn create_zone(env: &TestEnv) -> String {
    create_zone_named(env, ZONE)
}

/// Creates a public hosted zone in the emulator; returns its ID.
fn create_zone_named(env: &TestEnv, name: &str) -> String {
    let route53 = aws_sdk_route53::Client::new(&env.sdk_config());
    let zone = block_on(
        route53
            .create_hosted_zone()
            .name(name)
            .caller_reference(format!("edge-tests-{name}"))
            .send(),
    )
    .unwrap();
    zone.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}

/// The records of the zone, as `(name, type, target)`: the alias target of an alias record, the
/// value of another; names and targets without their trailing dot, targets lowercase.
fn records(env: &TestEnv, zone: &str) -> Vec<(String, String, Option<String>)> {
    let route53 = aws_sdk_route53::Client::new(&env.sdk_config());
    let answer = block_on(
        route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send(),
    )
    .unwrap();
    answer
        .resource_record_sets()
        .iter()
        .filter(|r| !matches!(r.r#type().as_str(), "NS" | "SOA"))
        .map(|r| {
            (
                r.name().trim_end_matches('.').to_owned(),
                r.r#type().as_str().to_owned(),
                r.alias_target()
                    .map(|t| t.dns_name())
                    .or_else(|| r.resource_records().first().map(|v| v.value()))
                    .map(|t| t.trim_end_matches('.').to_lowercase()),
            )
        })
        .collect()
}

/// The CNAME records of the zone, as `(name, value)`.
fn validation_records(found: &[(String, String, Option<String>)]) -> BTreeSet<(String, String)> {
    found
        .iter()
        .filter(|r| r.1 == "CNAME")
        .map(|r| (r.0.to_lowercase(), r.2.clone().unwrap_or_default()))
        .collect()
}

/// The DNS validation records ACM asks for `certificate`, as `(name, value)` the way
/// [`validation_records`] shows them: one per name.
fn asked_validation_records(env: &TestEnv, certificate: &str) -> BTreeSet<(String, String)> {
    let acm = aws_sdk_acm::Client::new(&env.sdk_config());
    let detail = block_on(
        acm.describe_certificate()
            .certificate_arn(certificate)
            .send(),
    )
    .unwrap()
    .certificate
    .unwrap();
    let options = detail.domain_validation_options();
    // ACM lists the domain among the alternative names: one option per name.
    assert_eq!(
        options.len(),
        detail.subject_alternative_names().len(),
        "{detail:?}"
    );
    options
        .iter()
        .map(|o| {
            let record = o.resource_record().unwrap();
            (
                record.name().trim_end_matches('.').to_lowercase(),
                record.value().trim_end_matches('.').to_lowercase(),
            )
        })
        .collect()
}

fn certificates(env: &TestEnv) -> Vec<String> {
    let acm = aws_sdk_acm::Client::new(&env.sdk_config());
    let answer = block_on(acm.list_certificates().send()).unwrap();
    answer
        .certificate_summary_list()
        .iter()
        .filter_map(|c| c.certificate_arn().map(str::to_owned))
        .collect()
}

/// The calls made so far, as IAM actions.
fn actions(env: &TestEnv) -> BTreeSet<String> {
    env.proxy
        .calls()
        .iter()
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect()
}

fn stdout_of(env: &TestEnv, args: &[&str]) -> String {
    let output = env.deployer().args(args).assert().success();
    String::from_utf8(output.get_output().stdout.clone()).unwrap()
}

pub fn run_failing(env: &TestEnv, args: &[&str]) -> String {
    let output = env.deployer().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{args:?} succeeded: {stderr}");
    stderr
}

/// The fields each step of a plan changes, for the steps it changes.
fn changed_fields(plan: &Value) -> Vec<(String, Vec<String>)> {
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !matches!(r["action"].as_str(), Some("no-change" | "read")))
        .map(|r| {
            let fields = r["changes"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| c["field"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (r["step"].as_str().unwrap().to_owned(), fields)
        })
        .collect()
}

/// The production edge of the issue, all at once: HTTPS on a custom domain with a requested
/// certificate, the plain HTTP port redirecting to it, and restricted CIDR blocks.
fn production_config() -> String {
    format!(
        "{}\n[https]\ndomain = \"{DOMAIN}\"\nhosted_zone = \"{ZONE}\"\n\
         subject_alternative_names = [\"www.{ZONE}\"]\n",
        with_load_balancer(r#"allowed_cidrs = ["203.0.113.0/24", "2001:db8::/32"]"#)
    )
}

#[test]
fn https_on_a_domain_requests_a_certificate_redirects_http_and_destroy_removes_what_it_made() {
    let env = https_env(2);
    let zone = create_zone(&env);
    enable_ipv6(&env);
    env.write_config("dev", &production_config());
    let policy = printed_policy(&env);

    let stderr = apply(&env);
    assert!(
        stderr.contains("requested certificate")
            && stderr.contains("waiting: waiting for ACM to issue the certificate"),
        "progress on stderr: {stderr}"
    );
    let stack = Stack::read(&env);
    let load_balancer = &stack.load_balancers[0];
    let dns = load_balancer.dns_name().unwrap().to_lowercase();

    // The certificate: requested for both names, issued, tagged as the stack's.
    let requested = certificates(&env);
    assert_eq!(requested.len(), 1, "{requested:?}");
    let certificate = &requested[0];
    let acm = aws_sdk_acm::Client::new(&env.sdk_config());
    let detail = block_on(
        acm.describe_certificate()
            .certificate_arn(certificate)
            .send(),
    )
    .unwrap()
    .certificate
    .unwrap();
    assert_eq!(detail.domain_name(), Some(DOMAIN));
    assert!(
        detail
            .subject_alternative_names()
            .contains(&format!("www.{ZONE}")),
        "{detail:?}"
    );
    assert_eq!(detail.status().map(|s| s.as_str()), Some("ISSUED"));
    let tags = block_on(
        acm.list_tags_for_certificate()
            .certificate_arn(certificate)
            .send(),
    )
    .unwrap();
    assert!(
        has_owner_tags(
            tags.tags()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or_default()))
        ),
        "{tags:?}"
    );

    // The listeners: HTTPS on 443 with the certificate and the TLS 1.3 policy, forwarding to
    // the target group; port 80 answering with a 301 to HTTPS.
    let mut listeners = stack.listeners.clone();
    listeners.sort_by_key(|l| l.port());
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    let (http, https) = (&listeners[0], &listeners[1]);
    assert_eq!(
        (https.port(), https.protocol().map(|p| p.as_str())),
        (Some(443), Some("HTTPS"))
    );
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(certificate.as_str())
    );
    assert_eq!(
        https.ssl_policy(),
        Some("ELBSecurityPolicy-TLS13-1-2-2021-06")
    );
    assert_eq!(
        https.default_actions()[0].target_group_arn(),
        stack.target_groups[0].target_group_arn()
    );
    assert_eq!(
        (http.port(), http.protocol().map(|p| p.as_str())),
        (Some(80), Some("HTTP"))
    );
    let redirect = http.default_actions()[0].redirect_config().unwrap();
    assert_eq!(
        (
            redirect.protocol(),
            redirect.port(),
            redirect.status_code().map(|s| s.as_str())
        ),
        (Some("HTTPS"), Some("443"), Some("HTTP_301"))
    );

    // Who may connect: 443, and 80 for the redirect, from the allowed blocks only.
    assert_eq!(
        inbound(stack.security_group("alb-sg")),
        rules(&[
            (80, "203.0.113.0/24"),
            (80, "2001:db8::/32"),
            (443, "203.0.113.0/24"),
            (443, "2001:db8::/32"),
        ])
    );

    // The domain points at the load balancer; the validation records are in the zone.
    let found = records(&env, &zone);
    for kind in ["A", "AAAA"] {
        assert!(
            found.contains(&(DOMAIN.to_owned(), kind.to_owned(), Some(dns.clone()))),
            "{kind} alias to {dns}: {found:?}"
        );
    }
    assert_eq!(
        validation_records(&found),
        asked_validation_records(&env, certificate),
        "a validation record per name, as ACM asked: {found:?}"
    );

    // The outputs.
    let outputs: Value = serde_json::from_str(&stdout_of(&env, &["outputs", "--json"])).unwrap();
    assert_eq!(outputs["application_url"], format!("https://{DOMAIN}"));
    assert_eq!(outputs["certificate_arn"], certificate.as_str());
    assert_eq!(outputs["domain"], DOMAIN);

    // A second apply changes nothing, and reads only what the new resources add.
    let mut called = actions(&env);
    env.proxy.clear();
    apply(&env);
    assert_eq!(
        env.proxy.mutating_calls(),
        [],
        "{:?}",
        env.proxy.operations()
    );
    let operations = env.proxy.operations();
    for added in [
        "route53:ListHostedZonesByName",
        "acm:DescribeCertificate",
        "route53:ListResourceRecordSets",
    ] {
        let count = operations.iter().filter(|o| *o == added).count();
        assert_eq!(count, 1, "{added}: {operations:#?}");
    }
    assert!(operations.len() <= 15 + 3, "{operations:#?}");
    assert_converged(&env);

    // Drift: the redirect turned into a forward by hand, the AAAA record deleted.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config());
    block_on(async {
        elb.modify_listener()
            .listener_arn(http.listener_arn().unwrap())
            .default_actions(
                aws_sdk_elasticloadbalancingv2::types::Action::builder()
                    .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                    .target_group_arn(stack.target_groups[0].target_group_arn().unwrap())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    delete_record(&env, &zone, "AAAA");
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(
        changed_fields(&plan),
        [
            (
                "redirect_listener".to_owned(),
                vec!["default_action.redirect".to_owned()]
            ),
            ("dns_records".to_owned(), vec!["AAAA.alias".to_owned()]),
        ],
        "{plan:#}"
    );
    apply(&env);
    assert_converged(&env);
    let found = records(&env, &zone);
    assert!(
        found.contains(&(DOMAIN.to_owned(), "AAAA".to_owned(), Some(dns.clone()))),
        "{found:?}"
    );

    // Destroy: ELB lets go of the certificate a little after its listener is deleted, as AWS
    // does; deployer waits for it.
    env.proxy.script(
        "DeleteCertificate",
        1,
        Fault::error(
            400,
            "ResourceInUseException",
            &format!("Certificate {certificate} in account 123456789012 is in use."),
        ),
    );
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(env.proxy.count("DeleteCertificate"), 2);
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
    assert_eq!(certificates(&env), Vec::<String>::new());
    assert_eq!(records(&env, &zone), [], "records left in the zone");

    // Every call of this life cycle is allowed by the policy printed for its configuration.
    called.extend(actions(&env));
    assert!(called.contains("acm:RequestCertificate"), "{called:#?}");
    assert!(
        called.contains("route53:ChangeResourceRecordSets"),
        "{called:#?}"
    );
    assert_eq!(not_allowed(&policy, &called), Vec::<String>::new());
}

/// The action a plan takes for each step it changes.
fn actions_of(plan: &Value) -> Vec<(String, String)> {
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !matches!(r["action"].as_str(), Some("no-change" | "read")))
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn changed_domain_left_its_old_alias_records_and_its_certificate_was_not_replaced() {
    // Another domain was refused as a replacement of the certificate, and the records of the
    // old domain stayed in the zone.
    // Route 53 takes two polls to apply each change everywhere, as it does on AWS for a while.
    let env = TestEnv::with_moto(
        MotoServer::builder()
            .env("MOTO_ECS_SERVICE_RUNNING", "2")
            .env("MOTO_ACM_VALIDATION_WAIT", "1")
            .env("MOTO_ROUTE53_PENDING_POLLS", "2")
            .start(),
    );
    let zone = create_zone(&env);
    let config = |domain: &str| {
        format!(
            "{DEV_TOML}\n[https]\ndomain = \"{domain}\"\nhosted_zone = \"{ZONE}\"\n\
             subject_alternative_names = [\"www.{ZONE}\"]\n"
        )
    };
    env.write_config("dev", &config(DOMAIN));
    apply(&env);
    let old_certificate = certificates(&env).remove(0);

    let shop = format!("shop.{ZONE}");
    env.write_config("dev", &config(&shop));
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(
        actions_of(&plan),
        [
            ("certificate".to_owned(), "replace".to_owned()),
            ("listener".to_owned(), "update".to_owned()),
            ("dns_records".to_owned(), "replace".to_owned()),
        ],
        "{plan:#}"
    );
    env.proxy.clear();
    let stderr = apply(&env);
    // The new alias records were waited for until Route 53 had them everywhere.
    assert!(
        stderr.contains("waiting for Route 53 to apply pointing shop.example.com"),
        "{stderr}"
    );
    assert_eq!(
        env.proxy.count("GetChange"),
        3,
        "{:?}",
        env.proxy.operations()
    );

    // One certificate, the new one, served by the HTTPS listener.
    let now = certificates(&env);
    assert_eq!(now.len(), 1, "{now:?}");
    let certificate = &now[0];
    assert_ne!(*certificate, old_certificate);
    let stack = Stack::read(&env);
    let https = stack
        .listeners
        .iter()
        .find(|l| l.port() == Some(443))
        .unwrap();
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(certificate.as_str())
    );
    // The new name points at the load balancer, the old one nowhere; the validation records
    // are those of the new certificate: www's stayed, app's went.
    let dns = stack.load_balancers[0].dns_name().unwrap().to_lowercase();
    let found = records(&env, &zone);
    let aliases: Vec<(String, String, Option<String>)> =
        found.iter().filter(|r| r.1 != "CNAME").cloned().collect();
    assert_eq!(
        aliases,
        [(shop.clone(), "A".to_owned(), Some(dns))],
        "{found:?}"
    );
    assert_eq!(
        validation_records(&found),
        asked_validation_records(&env, certificate),
        "{found:?}"
    );
    assert_converged(&env);

    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(records(&env, &zone), []);
    assert_eq!(certificates(&env), Vec::<String>::new());
}

#[test]
fn https_with_a_given_certificate_serves_it_without_redirect_and_destroy_keeps_it() {
    let env = https_env(0);
    let acm = aws_sdk_acm::Client::new(&env.sdk_config());
    let given = block_on(
        acm.request_certificate()
            .domain_name("given.example.org")
            .validation_method(aws_sdk_acm::types::ValidationMethod::Dns)
            .send(),
    )
    .unwrap()
    .certificate_arn()
    .unwrap()
    .to_owned();
    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ncertificate_arn = \"{given}\"\nredirect_http = false\n"),
    );
    let policy = printed_policy(&env);
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(stack.listeners.len(), 1, "{:?}", stack.listeners);
    let listener = &stack.listeners[0];
    assert_eq!(
        (listener.port(), listener.protocol().map(|p| p.as_str())),
        (Some(443), Some("HTTPS"))
    );
    assert_eq!(
        listener.certificates()[0].certificate_arn(),
        Some(given.as_str())
    );
    assert_eq!(
        inbound(stack.security_group("alb-sg")),
        rules(&[(443, "0.0.0.0/0")])
    );
    let outputs: Value = serde_json::from_str(&stdout_of(&env, &["outputs", "--json"])).unwrap();
    let dns = stack.load_balancers[0].dns_name().unwrap();
    assert_eq!(outputs["application_url"], format!("https://{dns}"));
    assert_eq!(outputs["certificate_arn"], given.as_str());
    assert_converged(&env);

    // Switched back to plain HTTP: the HTTPS listener becomes the HTTP one again.
    env.write_config("dev", DEV_TOML);
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(stack.listeners.len(), 1, "{:?}", stack.listeners);
    assert_eq!(stack.listeners[0].port(), Some(80));
    assert_converged(&env);

    // HTTPS again, then destroy: the given certificate stays.
    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ncertificate_arn = \"{given}\"\nredirect_http = false\n"),
    );
    apply(&env);
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
    assert_eq!(certificates(&env), vec![given.clone()]);
    assert_eq!(env.proxy.count("DeleteCertificate"), 0);

    let called: BTreeSet<String> = env
        .proxy
        .calls()
        .iter()
        .filter(|c| c.service == "acm")
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect();
    assert_eq!(
        called,
        BTreeSet::from(["acm:DescribeCertificate".to_owned()])
    );
    assert_eq!(not_allowed(&policy, &called), Vec::<String>::new());
}

#[test]
fn a_certificate_or_zone_that_does_not_exist_stops_apply_before_any_change() {
    let env = https_env(0);
    let missing =
        "arn:aws:acm:eu-central-1:123456789012:certificate/00000000-0000-0000-0000-000000000000";
    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ncertificate_arn = \"{missing}\"\n"),
    );
    let stderr = run_failing(&env, &["apply", "--yes"]);
    assert!(
        stderr.contains("https.certificate_arn") && stderr.contains(missing),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");

    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ndomain = \"{DOMAIN}\"\nhosted_zone = \"{ZONE}\"\n"),
    );
    let stderr = run_failing(&env, &["apply", "--yes"]);
    assert!(
        stderr.contains("https.hosted_zone") && stderr.contains("no hosted zone example.com"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

/// A VPC of its own in the emulator: two private subnets in two zones, and one more subnet in
/// the first zone. Returns (VPC, [subnet in a, subnet in b, second subnet in a]).
pub fn create_vpc(env: &TestEnv) -> (String, [String; 3]) {
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    block_on(async {
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.20.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc
            .unwrap()
            .vpc_id
            .unwrap();
        let mut subnets = Vec::new();
        for (cidr, zone) in [
            ("10.20.1.0/24", "eu-central-1a"),
            ("10.20.2.0/24", "eu-central-1b"),
            ("10.20.3.0/24", "eu-central-1a"),
        ] {
            subnets.push(
                ec2.create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(cidr)
                    .availability_zone(zone)
                    .send()
                    .await
                    .unwrap()
                    .subnet
                    .unwrap()
                    .subnet_id
                    .unwrap(),
            );
        }
        let [a, b, a2]: [String; 3] = subnets.try_into().unwrap();
        (vpc, [a, b, a2])
    })
}

pub fn with_network(vpc: &str, subnets: &[&str], extra: &str) -> String {
    let list: Vec<String> = subnets.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "{DEV_TOML}\n[network]\nvpc_id = \"{vpc}\"\nsubnets = [{}]\n{extra}\n",
        list.join(", ")
    )
}

#[test]
fn custom_vpc_with_private_subnets_runs_the_tasks_there_without_public_ips() {
    let env = TestEnv::start();
    let (vpc, [a, b, _]) = create_vpc(&env);
    env.write_config("dev", &with_network(&vpc, &[&a, &b], ""));
    apply(&env);
    let stack = Stack::read(&env);
    for suffix in ["alb-sg", "ecs-sg"] {
        assert_eq!(stack.security_group(suffix).vpc_id(), Some(vpc.as_str()));
    }
    let mut lb_subnets: Vec<&str> = stack.load_balancers[0]
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    lb_subnets.sort_unstable();
    let mut wanted = [a.as_str(), b.as_str()];
    wanted.sort_unstable();
    assert_eq!(lb_subnets, wanted);
    assert_eq!(stack.target_groups[0].vpc_id(), Some(vpc.as_str()));
    let network = stack.services[0]
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    let mut task_subnets: Vec<&str> = network.subnets().iter().map(String::as_str).collect();
    task_subnets.sort_unstable();
    assert_eq!(task_subnets, wanted);
    assert_eq!(
        network.assign_public_ip().map(|a| a.as_str()),
        Some("DISABLED")
    );
    assert_converged(&env);

    // A public IP asked for: the service is updated in place.
    env.write_config(
        "dev",
        &with_network(&vpc, &[&a, &b], "assign_public_ip = true"),
    );
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    assert_eq!(
        changed_fields(&plan),
        [("service".to_owned(), vec!["assign_public_ip".to_owned()])],
        "{plan:#}"
    );
    apply(&env);
    assert_converged(&env);
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

#[test]
fn subnets_that_do_not_fit_stop_apply_with_the_subnet_named_and_no_aws_write() {
    let env = TestEnv::start();
    let (vpc, [a, b, a2]) = create_vpc(&env);
    let default_subnet = Stack::read(&env).default_subnets[0].clone();
    let cases = [
        (
            with_network(&vpc, &[&a, &default_subnet], ""),
            format!("network.subnets: subnet {default_subnet} belongs to"),
        ),
        (
            with_network(&vpc, &[&a, "subnet-0123456789abcdef0"], ""),
            "network.subnets: The subnet ID 'subnet-0123456789abcdef0' does not exist".to_owned(),
        ),
        (
            with_network(&vpc, &[&a, &a2], ""),
            format!("network.load_balancer_subnets: {a} and {a2} are all in eu-central-1a"),
        ),
        (
            with_network(
                &vpc,
                &[&a2],
                &format!("load_balancer_subnets = [\"{a}\", \"{b}\"]"),
            ),
            String::new(),
        ),
    ];
    // Tasks in a zone where the load balancer has no subnet would get no traffic.
    let c = block_on(
        aws_sdk_ec2::Client::new(&env.sdk_config())
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.20.4.0/24")
            .availability_zone("eu-central-1c")
            .send(),
    )
    .unwrap()
    .subnet
    .unwrap()
    .subnet_id
    .unwrap();
    let uncovered = (
        with_network(
            &vpc,
            &[&a, &c],
            &format!("load_balancer_subnets = [\"{a}\", \"{b}\"]"),
        ),
        format!("network.subnets: subnet {c} is in eu-central-1c, where the load balancer has no subnet"),
    );
    for (config, expected) in cases[..3].iter().chain([&uncovered]) {
        env.write_config("dev", config);
        env.proxy.clear();
        let stderr = run_failing(&env, &["apply", "--yes"]);
        assert!(stderr.contains(expected.as_str()), "{expected}: {stderr}");
        assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
    }
    // Tasks in one subnet, the load balancer in two zones: fine.
    env.write_config("dev", &cases[3].0);
    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(2);
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

/// The whole production edge of a real stack at once: HTTPS on a custom domain, a restricted
/// block, and tasks without public IPs in private subnets of a VPC of their own (reaching ECR
/// through a NAT gateway).
#[test]
fn https_on_a_domain_with_restricted_cidrs_and_private_task_subnets_applies_plans_clean_repairs_drift_and_destroys(
) {
    let env = https_env(1);
    let zone = create_zone(&env);
    let (vpc, [a, b, _]) = create_vpc(&env);
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    crate::network::route_to_nat_gateway(&ec2, &a, &crate::network::main_route_table(&ec2, &vpc));
    let config = format!(
        "{}\n[network]\nvpc_id = \"{vpc}\"\nsubnets = [\"{a}\", \"{b}\"]\n\
         assign_public_ip = false\n\n[https]\ndomain = \"{DOMAIN}\"\nhosted_zone = \"{ZONE}\"\n",
        with_load_balancer(r#"allowed_cidrs = ["203.0.113.0/24"]"#)
    );
    env.write_config("dev", &config);
    let policy = printed_policy(&env);

    let stderr = apply(&env);
    assert!(!stderr.contains("warning:"), "{stderr}");
    let stack = Stack::read(&env);
    let service = &stack.services[0];
    let network = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .unwrap();
    assert_eq!(
        network.assign_public_ip().map(|p| p.as_str()),
        Some("DISABLED")
    );
    assert_eq!(stack.load_balancers[0].vpc_id(), Some(vpc.as_str()));
    assert_eq!(
        inbound(stack.security_group("alb-sg")),
        rules(&[(80, "203.0.113.0/24"), (443, "203.0.113.0/24")])
    );
    let https = stack
        .listeners
        .iter()
        .find(|l| l.port() == Some(443))
        .unwrap()
        .clone();
    let certificate = certificates(&env).remove(0);
    assert_eq!(
        https.certificates()[0].certificate_arn(),
        Some(certificate.as_str())
    );
    let dns = stack.load_balancers[0].dns_name().unwrap().to_lowercase();
    let found = records(&env, &zone);
    assert!(
        found.contains(&(DOMAIN.to_owned(), "A".to_owned(), Some(dns.clone()))),
        "{found:?}"
    );
    // An IPv4-only load balancer gets no AAAA record.
    assert!(!found.iter().any(|r| r.1 == "AAAA"), "{found:?}");
    assert_converged(&env);

    // Drift: an older TLS policy on the HTTPS listener and the A record deleted, by hand.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config());
    block_on(async {
        elb.modify_listener()
            .listener_arn(https.listener_arn().unwrap())
            .ssl_policy("ELBSecurityPolicy-2016-08")
            .send()
            .await
            .unwrap();
    });
    delete_record(&env, &zone, "A");
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    // The only record gone, the records are made again.
    assert_eq!(
        actions_of(&plan),
        [
            ("listener".to_owned(), "update".to_owned()),
            ("dns_records".to_owned(), "create".to_owned()),
        ],
        "{plan:#}"
    );
    assert_eq!(changed_fields(&plan)[0].1, ["ssl_policy"], "{plan:#}");
    apply(&env);
    assert_converged(&env);

    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
    assert_eq!(records(&env, &zone), []);
    assert_eq!(certificates(&env), Vec::<String>::new());
    assert_eq!(not_allowed(&policy, &actions(&env)), Vec::<String>::new());

    // Made again within the hour: a new certificate, not the deleted one ACM remembers by the
    // request's idempotency token.
    apply(&env);
    let again = certificates(&env);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_ne!(again[0], certificate);
    env.deployer().args(["destroy", "--yes"]).assert().success();
}

/// Deletes every record of a zone (but its NS and SOA), then the zone, as someone cleaning up
/// by hand would.
fn delete_zone(env: &TestEnv, zone: &str) {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
    let route53 = aws_sdk_route53::Client::new(&env.sdk_config());
    block_on(async {
        let sets = route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap();
        for set in sets.resource_record_sets() {
            if matches!(set.r#type().as_str(), "NS" | "SOA") {
                continue;
            }
            let change = Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(set.clone())
                .build()
                .unwrap();
            route53
                .change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
                .send()
                .await
                .unwrap();
        }
        route53.delete_hosted_zone().id(zone).send().await.unwrap();
    });
}

#[test]
fn hosted_zone_change_deleted_the_old_validation_records_from_the_new_zone() {
    // Another hosted_zone replaced the certificate, then looked for the old certificate's
    // validation records in the new zone; every later apply and destroy failed on it.
    let env = https_env(1);
    let old_zone = create_zone(&env);
    let new_zone = create_zone_named(&env, "kb.example.com");
    let config = |domain: &str, zone: &str| {
        format!("{DEV_TOML}\n[https]\ndomain = \"{domain}\"\nhosted_zone = \"{zone}\"\n")
    };
    env.write_config("dev", &config(DOMAIN, ZONE));
    apply(&env);
    let old_certificate = certificates(&env).remove(0);

    env.write_config("dev", &config("app.kb.example.com", "kb.example.com"));
    apply(&env);
    let now = certificates(&env);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], old_certificate);
    // Nothing of the stack is left in the old zone; the new one has the alias and the
    // validation record of the new certificate.
    assert_eq!(records(&env, &old_zone), []);
    let found = records(&env, &new_zone);
    assert_eq!(
        validation_records(&found),
        asked_validation_records(&env, &now[0]),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|r| r.0 == "app.kb.example.com" && r.1 == "A"),
        "{found:?}"
    );
    assert_converged(&env);

    // The zone deleted by hand, with its records: destroy still removes the rest.
    delete_zone(&env, &new_zone);
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(certificates(&env), Vec::<String>::new());
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

/// Puts a plain record (not an alias) in the zone, as someone else's server would have.
fn put_plain_record(env: &TestEnv, zone: &str, name: &str, kind: &str, value: &str) {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let route53 = aws_sdk_route53::Client::new(&env.sdk_config());
    let set = ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::from(kind))
        .ttl(300)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder()
        .action(ChangeAction::Create)
        .resource_record_set(set)
        .build()
        .unwrap();
    block_on(
        route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
            .send(),
    )
    .unwrap();
}

#[test]
fn plain_records_at_the_domain_were_silently_overwritten() {
    // Plain A and AAAA records of a server still in use: the A record was made an alias to the
    // load balancer without a word, and the AAAA record kept IPv6 clients on the old server.
    let env = https_env(1);
    let zone = create_zone(&env);
    let legacy = format!("legacy.{ZONE}");
    put_plain_record(&env, &zone, &legacy, "A", "192.0.2.10");
    put_plain_record(&env, &zone, &legacy, "AAAA", "2001:db8::10");
    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ndomain = \"{legacy}\"\nhosted_zone = \"{ZONE}\"\n"),
    );
    let stderr = run_failing(&env, &["apply", "--yes"]);
    assert!(
        stderr.contains(&format!("domain alias records {legacy}")) && stderr.contains("--adopt"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
    assert_eq!(
        records(&env, &zone),
        [
            (
                legacy.clone(),
                "A".to_owned(),
                Some("192.0.2.10".to_owned())
            ),
            (
                legacy.clone(),
                "AAAA".to_owned(),
                Some("2001:db8::10".to_owned())
            ),
        ]
    );

    // Taken over on purpose: the A record points at the load balancer, and the AAAA record of
    // the old server goes (the load balancer is IPv4-only).
    env.deployer()
        .args(["apply", "--yes", "--adopt"])
        .assert()
        .success();
    let dns = Stack::read(&env).load_balancers[0]
        .dns_name()
        .unwrap()
        .to_lowercase();
    let found: Vec<_> = records(&env, &zone)
        .into_iter()
        .filter(|r| r.1 != "CNAME")
        .collect();
    assert_eq!(found, [(legacy.clone(), "A".to_owned(), Some(dns))]);
    assert_converged(&env);
    env.deployer().args(["destroy", "--yes"]).assert().success();

    // A CNAME at the domain: no A record can go beside it, which stops the plan.
    let old = format!("old.{ZONE}");
    put_plain_record(&env, &zone, &old, "CNAME", "legacy.example.net");
    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ndomain = \"{old}\"\nhosted_zone = \"{ZONE}\"\n"),
    );
    env.proxy.clear();
    let stderr = run_failing(&env, &["apply", "--yes"]);
    assert!(
        stderr.contains(&format!(
            "https.domain: {old} is a CNAME record to legacy.example.net"
        )),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
}

#[test]
fn a_move_to_another_vpc_was_applied_and_leaked_the_security_groups() {
    // Without [network] again, the groups were looked for in the default VPC only: the plan
    // created new ones, and the stack's groups in its own VPC were left for good.
    let env = TestEnv::start();
    let (vpc, [a, b, _]) = create_vpc(&env);
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    crate::network::route_to_nat_gateway(&ec2, &a, &crate::network::main_route_table(&ec2, &vpc));
    env.write_config("dev", &with_network(&vpc, &[&a, &b], ""));
    apply(&env);

    env.write_config("dev", DEV_TOML);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    let actions = actions_of(&plan);
    for group in ["alb_security_group", "ecs_security_group"] {
        assert!(
            actions.contains(&(group.to_owned(), "replace".to_owned())),
            "{plan:#}"
        );
    }
    env.proxy.clear();
    let stderr = run_failing(&env, &["apply", "--yes"]);
    assert!(
        stderr.contains("nothing was changed") && stderr.contains("vpc_id"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");

    env.write_config("dev", &with_network(&vpc, &[&a, &b], ""));
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

#[test]
fn https_switched_off_reported_each_deletion_up_to_three_times() {
    // The second pass of the apply found the resources already retiring and deleted them again
    // in its report, and the end of the run once more.
    let env = https_env(1);
    let zone = create_zone(&env);
    env.write_config(
        "dev",
        &format!("{DEV_TOML}\n[https]\ndomain = \"{DOMAIN}\"\nhosted_zone = \"{ZONE}\"\n"),
    );
    apply(&env);
    env.write_config("dev", DEV_TOML);
    let stderr = apply(&env);
    for step in [
        "ACM certificate",
        "HTTP redirect listener",
        "domain alias records",
    ] {
        let deleted = stderr
            .lines()
            .filter(|l| l.contains(step) && l.contains("deleted"))
            .count();
        assert_eq!(deleted, 1, "{step}: {stderr}");
    }
    assert!(stderr.contains(", 3 deleted."), "{stderr}");
    let stack = Stack::read(&env);
    assert_eq!(stack.listeners.len(), 1, "{:?}", stack.listeners);
    assert_eq!(stack.listeners[0].port(), Some(80));
    assert_eq!(certificates(&env), Vec::<String>::new());
    assert_eq!(records(&env, &zone), []);
    assert_converged(&env);
}

/// Deletes the zone's record set of type `kind` (the first one), as someone would by hand.
fn delete_record(env: &TestEnv, zone: &str, kind: &str) {
    use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
    let route53 = aws_sdk_route53::Client::new(&env.sdk_config());
    block_on(async {
        let set = route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .iter()
            .find(|r| r.r#type().as_str() == kind)
            .cloned()
            .unwrap();
        let change = Change::builder()
            .action(ChangeAction::Delete)
            .resource_record_set(set)
            .build()
            .unwrap();
        route53
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
            .send()
            .await
            .unwrap();
    });
}
