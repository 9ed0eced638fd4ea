//! `deployer iam-policy` against what the binary really calls: a whole life cycle (apply, plan,
//! status, a CI deploy, rollback, drift repairs, adoption, container secrets added and removed,
//! destroy) runs through the recording proxy, and every call must be allowed by the printed
//! policy, while every action the policy grants must have been called, except for a short list
//! of rare paths, each with its reason.

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{IpPermission, IpRange};
use aws_sdk_ecr::types::ImageTagMutability;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, TargetGroupAttribute,
};
use serde_json::{json, Value};

use crate::drift::plan_json;
use crate::lifecycle::{dev_env, offline_dev_env, DEV_TOML};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, Fault, TestEnv, REGION};

/// Actions the policy grants that are permission checks made by AWS during a call, not calls:
/// the proxy never sees them.
const NOT_CALLS: &[(&str, &str)] = &[
    (
        "iam:PassRole",
        "checked by RegisterTaskDefinition for the execution role it names",
    ),
    (
        "iam:CreateServiceLinkedRole",
        "checked when ECS, ELB or Application Auto Scaling create their service-linked role, \
         once per account",
    ),
    (
        "cloudwatch:PutMetricAlarm",
        "checked by PutScalingPolicy, which makes a target tracking policy's alarms",
    ),
    (
        "cloudwatch:DescribeAlarms",
        "checked by PutScalingPolicy and DeleteScalingPolicy on their caller",
    ),
    (
        "cloudwatch:DeleteAlarms",
        "checked by PutScalingPolicy and DeleteScalingPolicy, which delete a policy's alarms",
    ),
    (
        "ec2:DescribeAccountAttributes",
        "checked by CreateLoadBalancer on its caller",
    ),
    (
        "ec2:DescribeAddresses",
        "checked by CreateLoadBalancer on its caller",
    ),
    (
        "ec2:DescribeInternetGateways",
        "checked by CreateLoadBalancer and CreateTargetGroup on their caller",
    ),
    (
        "ec2:DescribeVpcs",
        "checked by CreateLoadBalancer and CreateTargetGroup on their caller",
    ),
];

/// Actions the code can call on paths the life cycle below does not take.
const RARE: &[(&str, &str)] = &[
    (
        "ecs:PutClusterCapacityProviders",
        "only for service.capacity_providers (Fargate Spot), which the shipped configuration does \
         not set; tests/integration/app_settings.rs runs it",
    ),
    (
        "elasticloadbalancing:SetIpAddressType",
        "only when load_balancer.ip_address_type changes (an IPv6 block allowed, or no longer), \
         which needs subnets with IPv6 blocks; tests/integration/edge.rs runs it",
    ),
    (
        "ecs:ExecuteCommand",
        "only for `deployer exec`, which needs AWS's session-manager-plugin; \
         tests/integration/day2.rs runs it with a stand-in plugin",
    ),
];

const PARAMETER: &str = "arn:aws:ssm:eu-central-1:123456789012:parameter/simhill/dev/db-password";

/// The configuration with a secret and a task role (a task role's managed policies add a
/// statement, and so does `[autoscaling]`: see [`widest_config`]).
fn config_with_task_role() -> String {
    format!(
        "{}\n[task_role]\nmanaged_policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\"]\n\n\
         [[task_role.statements]]\nactions = [\"sqs:SendMessage\"]\n\
         resources = [\"arn:aws:sqs:eu-central-1:123456789012:jobs\"]\n",
        config_with_secret()
    )
}

fn config_with_secret() -> String {
    let config = DEV_TOML.replace(
        "[container.secrets]",
        &format!("[container.secrets]\nDATABASE_PASSWORD = \"{PARAMETER}\""),
    );
    assert_ne!(config, DEV_TOML);
    config
}

/// Runs the binary, asserts success and returns its stdout.
fn run(env: &TestEnv, args: &[&str]) -> String {
    let output = env.deployer().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "deployer {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The policy as the binary prints it; checks that printing it calls no AWS at all.
pub fn printed_policy(env: &TestEnv) -> Value {
    let before = env.proxy.calls().len();
    let policy = serde_json::from_str(&run(env, &["iam-policy"])).unwrap();
    assert_eq!(env.proxy.calls().len(), before, "iam-policy calls AWS");
    policy
}

/// Changes behind the tool's back, one on each update path that `apply` repairs.
fn drift_everything(env: &TestEnv) {
    let config = env.sdk_config();
    let stack = Stack::read(env);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ecr = aws_sdk_ecr::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let ecs_group = stack.security_group("ecs-sg").group_id().unwrap();
    let load_balancer = stack.load_balancers[0].load_balancer_arn().unwrap();
    let target_group = stack.target_groups[0].target_group_arn().unwrap();
    let listener = stack.listeners[0].listener_arn().unwrap();
    assert!(
        stack.default_subnets.len() > 2,
        "{:?}",
        stack.default_subnets
    );
    block_on(async {
        ec2.authorize_security_group_ingress()
            .group_id(ecs_group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        // The default outbound rule replaced by a narrower one: both directions are repaired.
        ec2.revoke_security_group_egress()
            .group_id(ecs_group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ec2.authorize_security_group_egress()
            .group_id(ecs_group)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let repository = format!("{PREFIX}-ecr");
        ecr.put_image_tag_mutability()
            .repository_name(&repository)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .send()
            .await
            .unwrap();
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "ec2.amazonaws.com" },
                "Action": "sts:AssumeRole",
            }],
        });
        iam.update_assume_role_policy()
            .role_name(format!("{PREFIX}-ecs-task-execution-role"))
            .policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        logs.put_retention_policy()
            .log_group_name(format!("{PREFIX}-logs"))
            .retention_in_days(7)
            .send()
            .await
            .unwrap();
        elb.set_subnets()
            .load_balancer_arn(load_balancer)
            .set_subnets(Some(stack.default_subnets[..2].to_vec()))
            .send()
            .await
            .unwrap();
        elb.set_security_groups()
            .load_balancer_arn(load_balancer)
            .security_groups(ecs_group)
            .send()
            .await
            .unwrap();
        elb.modify_target_group()
            .target_group_arn(target_group)
            .health_check_path("/other")
            .send()
            .await
            .unwrap();
        elb.modify_target_group_attributes()
            .target_group_arn(target_group)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value("300")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let fixed = Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code("503")
                    .content_type("text/plain")
                    .build(),
            )
            .build();
        elb.modify_listener()
            .listener_arn(listener)
            .default_actions(fixed)
            .send()
            .await
            .unwrap();
        ecs.update_service()
            .cluster(format!("{PREFIX}-cluster"))
            .service(format!("{PREFIX}-service"))
            .desired_count(5)
            .send()
            .await
            .unwrap();
    });
}

/// Removes this stack's tags from one resource of each tagging API, so that only `--adopt` takes
/// them back.
fn untag_one_of_each(env: &TestEnv) {
    let config = env.sdk_config();
    let stack = Stack::read(env);
    let keys = ["Project", "Environment", "ManagedBy"].map(str::to_owned);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ecr = aws_sdk_ecr::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    block_on(async {
        let mut untag = ec2
            .delete_tags()
            .resources(stack.security_group("alb-sg").group_id().unwrap());
        for key in &keys {
            untag = untag.tags(aws_sdk_ec2::types::Tag::builder().key(key).build());
        }
        untag.send().await.unwrap();
        ecr.untag_resource()
            .resource_arn(stack.repositories[0].repository_arn().unwrap())
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .unwrap();
        iam.untag_role()
            .role_name(format!("{PREFIX}-ecs-task-execution-role"))
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .unwrap();
        #[allow(deprecated)]
        logs.untag_log_group()
            .log_group_name(format!("{PREFIX}-logs"))
            .set_tags(Some(keys.to_vec()))
            .send()
            .await
            .unwrap();
        elb.remove_tags()
            .resource_arns(stack.load_balancers[0].load_balancer_arn().unwrap())
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .unwrap();
        ecs.untag_resource()
            .resource_arn(stack.clusters[0].cluster_arn().unwrap())
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .unwrap();
    });
}

/// Removes the owner tags of the service's scalable target.
fn untag_scalable_target(env: &TestEnv) {
    let client = aws_sdk_applicationautoscaling::Client::new(&env.sdk_config());
    let targets = block_on(
        client
            .describe_scalable_targets()
            .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
            .send(),
    )
    .unwrap();
    let arn = targets.scalable_targets()[0]
        .scalable_target_arn()
        .unwrap()
        .to_owned();
    block_on(
        client
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(vec![
                "Project".into(),
                "Environment".into(),
                "ManagedBy".into(),
            ]))
            .send(),
    )
    .unwrap();
}

/// Every AWS call of a whole life cycle, as IAM actions (`service:Operation`).
fn life_cycle_actions(env: &TestEnv) -> BTreeSet<String> {
    env.write_config("dev", &config_with_secret());
    run(env, &["apply", "--yes"]);
    run(env, &["plan"]);
    run(env, &["plan", "--destroy"]);
    // The emulator runs no tasks: show `status` one, so that it describes it.
    let task = format!("arn:aws:ecs:{REGION}:123456789012:task/{PREFIX}-cluster/0123456789abcdef");
    env.proxy
        .set_rewriter("ListTasks", move |answer: &mut Value| {
            answer["taskArns"] = json!([task]);
        });
    run(env, &["status"]);
    env.proxy.clear_rewriter("ListTasks");

    // The log, and a one-off task, which the emulator stops at once with exit code 0.
    run(env, &["logs", "--since", "1h"]);
    env.proxy
        .set_rewriter("DescribeTasks", |answer: &mut Value| {
            for task in answer["tasks"].as_array_mut().into_iter().flatten() {
                task["lastStatus"] = json!("STOPPED");
                task["containers"] = json!([{"name": "app", "exitCode": 0}]);
            }
        });
    run(env, &["run", "--yes", "--", "flask", "db", "upgrade"]);
    env.proxy.clear_rewriter("DescribeTasks");
    // The emulator keeps the task running; in AWS it stopped, and its network interface, which
    // would keep the tasks' security group from being deleted, went with it.
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let cluster = format!("{PREFIX}-cluster");
    let tasks = block_on(
        ecs.list_tasks()
            .cluster(&cluster)
            .started_by("deployer-run")
            .send(),
    )
    .unwrap();
    for task in tasks.task_arns() {
        block_on(ecs.stop_task().cluster(&cluster).task(task).send()).unwrap();
    }

    // A CI deploy of a pushed image, and back.
    crate::rollout::push_image(env, "v2");
    run(env, &["apply", "--yes", "--image-tag", "v2"]);
    run(env, &["rollback", "--yes"]);

    // Repairs of changes made behind the tool's back.
    drift_everything(env);
    // Scan on push turned off: the SDK leaves `scanOnPush: false` out of the request, which the
    // emulator then ignores, so the answer says it instead.
    env.proxy
        .set_rewriter("DescribeRepositories", |answer: &mut Value| {
            for repository in answer["repositories"].as_array_mut().into_iter().flatten() {
                repository["imageScanningConfiguration"] = json!({ "scanOnPush": false });
            }
        });
    let (code, plan) = plan_json(env);
    assert_eq!(code, 2, "{plan:#}");
    run(env, &["apply", "--yes"]);
    env.proxy.clear_rewriter("DescribeRepositories");
    let (code, plan) = plan_json(env);
    assert_eq!(code, 0, "apply must repair every drift: {plan:#}");

    // Autoscaling: the scalable target and its policies, a count set by hand; then taken over
    // with the rest below, and removed with its table after that.
    env.write_config("dev", &crate::autoscaling::autoscaling_toml());
    run(env, &["apply", "--yes"]);
    run(env, &["scale", "3", "--yes"]);
    run(env, &["status"]);

    // A lost state file and resources without our tags: taken over with --adopt.
    std::fs::remove_file(env.dir.path().join(".deployer/dev.json")).unwrap();
    untag_one_of_each(env);
    untag_scalable_target(env);
    run(env, &["apply", "--yes", "--adopt"]);

    // A task role with a managed policy and statements, then without them: it is made, its
    // policies attached and put, and it is retired once the service no longer runs as it.
    env.write_config("dev", &config_with_task_role());
    run(env, &["apply", "--yes"]);

    // The last secret goes, and with it the role's inline policy; the task role goes too.
    env.write_config("dev", DEV_TOML);
    run(env, &["apply", "--yes"]);

    // Destroy meets an inline policy added by hand, an instance profile holding the role, and a
    // security group still in use once.
    let iam = aws_sdk_iam::Client::new(&env.sdk_config());
    crate::fresh_account::hold_in_instance_profile(
        &iam,
        &format!("{PREFIX}-ecs-task-execution-role"),
    );
    block_on(
        iam.put_role_policy()
            .role_name(format!("{PREFIX}-ecs-task-execution-role"))
            .policy_name("added-by-hand")
            .policy_document(
                json!({
                    "Version": "2012-10-17",
                    "Statement": [{ "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*" }],
                })
                .to_string(),
            )
            .send(),
    )
    .unwrap();
    env.proxy.script(
        "DeleteSecurityGroup",
        1,
        Fault::error(
            400,
            "DependencyViolation",
            "resource sg-0 has a dependent object",
        ),
    );
    run(env, &["destroy", "--yes"]);
    // The repository was taken over by --adopt above and holds the image pushed then: kept
    // with it (its images counted) until asked to delete them.
    assert_eq!(
        Stack::read(env).leftovers(),
        [format!("repository Some(\"{PREFIX}-ecr\")")]
    );
    run(env, &["destroy", "--yes", "--force-delete-images"]);
    assert_eq!(Stack::read(env).leftovers(), Vec::<String>::new());

    env.proxy
        .calls()
        .iter()
        .map(|call| {
            let prefix = match call.service.as_str() {
                service @ ("ec2"
                | "ecr"
                | "ecs"
                | "elasticloadbalancing"
                | "iam"
                | "logs"
                | "application-autoscaling") => service,
                other => panic!("a call to an unexpected service: {call} ({other})"),
            };
            format!("{prefix}:{}", call.operation)
        })
        .collect()
}

/// IAM's matching of an action against a pattern of the policy: case-insensitive, `*` for any
/// run of characters, `?` for one.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn matches(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                matches(&pattern[1..], text) || (!text.is_empty() && matches(pattern, &text[1..]))
            }
            (Some(b'?'), Some(_)) => matches(&pattern[1..], &text[1..]),
            (Some(p), Some(t)) if p.eq_ignore_ascii_case(t) => matches(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    matches(pattern.as_bytes(), action.as_bytes())
}

/// The action patterns of a statement (a string or a list).
pub fn statement_actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(action) => vec![action.as_str()],
        Value::Array(actions) => actions.iter().map(|a| a.as_str().unwrap()).collect(),
        other => panic!("Action is neither a string nor a list: {other}"),
    }
}

pub fn allow_statements(policy: &Value) -> Vec<&Value> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect()
}

/// The calls (as `service:Operation` IAM actions) that no statement of `policy` allows.
pub fn not_allowed(policy: &Value, called: &BTreeSet<String>) -> Vec<String> {
    let statements = allow_statements(policy);
    called
        .iter()
        .filter(|action| {
            !statements.iter().any(|s| {
                statement_actions(s)
                    .iter()
                    .any(|p| action_matches(p, action))
            })
        })
        .cloned()
        .collect()
}

/// The widest configuration: a secret, a task role with a managed policy, and autoscaling. A
/// stack that once had `[autoscaling]` removes it with the policy that granted it.
fn widest_config() -> String {
    format!(
        "{}{}",
        config_with_task_role(),
        crate::autoscaling::autoscaling_toml().trim_start_matches(DEV_TOML)
    )
}

#[test]
fn policy_allows_every_call_of_a_life_cycle_and_nothing_more() {
    let env = dev_env();
    env.write_config("dev", &widest_config());
    let policy = printed_policy(&env);
    env.write_config("dev", DEV_TOML);
    let called = life_cycle_actions(&env);
    // The policy does not depend on the state.
    env.write_config("dev", &widest_config());
    assert_eq!(printed_policy(&env), policy);

    let statements = allow_statements(&policy);
    let not_allowed: Vec<&String> = called
        .iter()
        .filter(|action| {
            !statements.iter().any(|s| {
                statement_actions(s)
                    .iter()
                    .any(|p| action_matches(p, action))
            })
        })
        .collect();
    assert!(
        not_allowed.is_empty(),
        "called but not allowed by the policy: {not_allowed:#?}"
    );

    let granted: BTreeSet<&str> = statements
        .iter()
        .flat_map(|s| statement_actions(s))
        .collect();
    for (action, why) in NOT_CALLS.iter().chain(RARE) {
        assert!(granted.contains(action), "{action} ({why}) is not granted");
    }
    let rare_but_called: Vec<&str> = RARE
        .iter()
        .map(|(action, _)| *action)
        .filter(|action| called.contains(*action))
        .collect();
    assert!(
        rare_but_called.is_empty(),
        "the life cycle calls these after all; remove them from RARE: {rare_but_called:?}"
    );
    assert!(RARE.len() <= 4, "the exceptions must stay few: {RARE:?}");
    let unused: Vec<&str> = granted
        .iter()
        .copied()
        .filter(|action| !called.contains(*action))
        .filter(|action| !NOT_CALLS.iter().chain(RARE).any(|(a, _)| a == action))
        .collect();
    assert!(
        unused.is_empty(),
        "granted but never called in the life cycle: {unused:#?}\ncalled: {called:#?}"
    );

    // PassRole is checked, not called: only the execution and task roles, only to ECS tasks.
    let passing: Vec<&&Value> = statements
        .iter()
        .filter(|s| {
            statement_actions(s)
                .iter()
                .any(|p| action_matches(p, "iam:PassRole"))
        })
        .collect();
    assert_eq!(passing.len(), 1, "{passing:#?}");
    assert_eq!(statement_actions(passing[0]), ["iam:PassRole"]);
    assert_eq!(
        passing[0]["Resource"],
        json!([
            format!("arn:aws:iam::*:role/{PREFIX}-ecs-task-execution-role"),
            format!("arn:aws:iam::*:role/{PREFIX}-task-role"),
        ])
    );
    assert_eq!(
        passing[0]["Condition"],
        json!({ "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } })
    );
}

/// The `[network]` path, which the life cycle above (in the default VPC) does not take: a stack in
/// a VPC of its own, whose private subnets have no route out (so that the VPC endpoints are read
/// too), applied, planned and destroyed. Every call is allowed by the policy printed for that
/// configuration, and every action that only `[network]` adds is called.
#[test]
fn policy_allows_every_call_of_a_stack_in_a_vpc_of_its_own() {
    let env = TestEnv::start();
    let (vpc, [a, b, _]) = crate::edge::create_vpc(&env);
    env.write_config("dev", &crate::edge::with_network(&vpc, &[&a, &b], ""));
    let policy = printed_policy(&env);
    run(&env, &["apply", "--yes"]);
    run(&env, &["plan"]);
    run(&env, &["plan", "--destroy"]);
    run(&env, &["destroy", "--yes"]);
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());

    let called: BTreeSet<String> = env.proxy.operations().into_iter().collect();
    assert_eq!(not_allowed(&policy, &called), Vec::<String>::new());
    let network = allow_statements(&policy)
        .into_iter()
        .find(|s| s["Sid"] == "Ec2ReadNetwork")
        .expect("a statement for the reads of [network]");
    let granted = statement_actions(network);
    assert!(!granted.is_empty());
    for action in granted {
        assert!(
            called.contains(action),
            "{action} granted but never called: {called:#?}"
        );
    }
    // Without `[network]` the policy grants none of it.
    env.write_config("dev", DEV_TOML);
    let shipped = printed_policy(&env);
    assert!(
        allow_statements(&shipped)
            .iter()
            .all(|s| s["Sid"] != "Ec2ReadNetwork"),
        "{shipped:#}"
    );
}

#[test]
fn policy_of_the_shipped_dev_environment() {
    let env = offline_dev_env();
    let text = run(&env, &["iam-policy"]);
    assert!(env.proxy.calls().is_empty(), "{:?}", env.proxy.calls());
    insta::assert_snapshot!("iam-policy-dev", text);
}

#[test]
fn region_option_changes_the_arns() {
    let env = offline_dev_env();
    let policy: Value =
        serde_json::from_str(&run(&env, &["iam-policy", "--region", "us-gov-west-1"])).unwrap();
    assert_eq!(env.proxy.calls(), [], "iam-policy calls AWS");
    let text = policy.to_string();
    assert!(
        text.contains("arn:aws-us-gov:ecs:us-gov-west-1:*:cluster/simhill-dev-cluster"),
        "{policy:#}"
    );
    assert!(!text.contains("eu-central-1"), "{policy:#}");
}

#[test]
fn policy_over_the_managed_policy_size_is_printed_with_a_warning() {
    // The longest names validation allows, in the longest region name, with a task role: more
    // than the 6,144 characters of a managed policy, but still a whole, valid policy.
    let env = TestEnv::offline();
    let config = DEV_TOML
        .replace(
            "project = \"simhill\"",
            "project = \"long-project-name-abcdef\"",
        )
        .replace("region = \"eu-central-1\"", "region = \"ap-southeast-5\"")
        + "\n[task_role]\nmanaged_policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\"]\n";
    env.write_config("dev", &config);
    let output = env.deployer().args(["iam-policy"]).output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let size = printed.chars().filter(|c| !c.is_whitespace()).count();
    assert!(size > 6144, "{size}");
    let policy: Value = serde_json::from_str(&printed).unwrap();
    assert!(policy["Statement"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("this policy has {size} characters"))
            && stderr.contains("inline policy of the role")
            && stderr.contains("--split"),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), [], "iam-policy calls AWS");

    // --split: documents that each fit, holding the same statements in the same order.
    let parts: Vec<Value> = serde_json::from_str(&run(&env, &["iam-policy", "--split"])).unwrap();
    assert!(parts.len() >= 2, "{parts:#?}");
    for part in &parts {
        let size = part
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count();
        assert!(size <= 6144, "{size}: {part:#}");
        assert_eq!(part["Version"], "2012-10-17");
    }
    let statements: Vec<&Value> = parts
        .iter()
        .flat_map(|part| part["Statement"].as_array().unwrap())
        .collect();
    assert_eq!(
        statements,
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(env.proxy.calls(), [], "iam-policy calls AWS");

    // The shipped environment's policy fits in an inline policy of a role (10,240 characters),
    // and its split parts each in a managed policy.
    let env = offline_dev_env();
    let printed = run(&env, &["iam-policy"]);
    let size = printed.chars().filter(|c| !c.is_whitespace()).count();
    assert!(size <= 10240, "{size}");
    let parts: Vec<Value> = serde_json::from_str(&run(&env, &["iam-policy", "--split"])).unwrap();
    for part in &parts {
        let size = part
            .to_string()
            .chars()
            .filter(|c| !c.is_whitespace())
            .count();
        assert!(size <= 6144, "{size}: {part:#}");
    }
}
