//! Drift: changes made behind the tool's back are reported by `plan` (exit code 2, exactly that
//! change) and repaired by `apply`, after which `plan` is clean. Also lost and stale state, and
//! resources under our names that are not ours.

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, FixedResponseActionConfig};
use serde_json::Value;

use crate::lifecycle::{apply, assert_complete_stack, dev_env};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, TestEnv};

/// `plan --json --detailed-exitcode`: the exit code and the parsed plan.
pub fn plan_json(env: &TestEnv) -> (i32, Value) {
    let output = env
        .deployer()
        .args(["plan", "--json", "--detailed-exitcode"])
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(code == 0 || code == 2, "plan failed ({code}): {stderr}");
    (code, serde_json::from_slice(&output.stdout).unwrap())
}

/// The steps the plan would change, with their actions and changed fields.
fn changed(plan: &Value) -> Vec<(String, String, Vec<String>)> {
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
            (
                r["step"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                fields,
            )
        })
        .collect()
}

/// Deploys, applies `drift` through the SDK, and checks that plan reports exactly `expected`,
/// apply repairs it with a full stack again, and plan is then clean.
fn drift_case(drift: impl FnOnce(&TestEnv, &Stack), expected: &[(&str, &str, &[&str])]) -> TestEnv {
    let env = dev_env();
    apply(&env);
    drift(&env, &Stack::read(&env));
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "drift must be reported: {plan:#}");
    let expected: Vec<(String, String, Vec<String>)> = expected
        .iter()
        .map(|(step, action, fields)| {
            (
                step.to_string(),
                action.to_string(),
                fields.iter().map(|f| f.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(changed(&plan), expected, "{plan:#}");
    apply(&env);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 0, "apply must repair the drift: {plan:#}");
    assert_complete_stack(&env, &Stack::read(&env));
    env
}

fn ec2(env: &TestEnv) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::new(&env.sdk_config())
}

fn elb(env: &TestEnv) -> aws_sdk_elasticloadbalancingv2::Client {
    aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config())
}

fn ecs(env: &TestEnv) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&env.sdk_config())
}

fn http_from(port: i32, cidr: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
        .build()
}

#[test]
fn security_group_rule_removed() {
    drift_case(
        |env, stack| {
            let group = stack.security_group("alb-sg").group_id().unwrap();
            block_on(
                ec2(env)
                    .revoke_security_group_ingress()
                    .group_id(group)
                    .ip_permissions(http_from(80, "0.0.0.0/0"))
                    .send(),
            )
            .unwrap();
        },
        &[("alb_security_group", "update", &["ingress"])],
    );
}

#[test]
fn security_group_rule_added() {
    drift_case(
        |env, stack| {
            let group = stack.security_group("ecs-sg").group_id().unwrap();
            block_on(
                ec2(env)
                    .authorize_security_group_ingress()
                    .group_id(group)
                    .ip_permissions(http_from(22, "10.0.0.0/8"))
                    .send(),
            )
            .unwrap();
        },
        &[("ecs_security_group", "update", &["ingress"])],
    );
}

#[test]
fn desired_count_changed() {
    drift_case(
        |env, _| {
            block_on(
                ecs(env)
                    .update_service()
                    .cluster(format!("{PREFIX}-cluster"))
                    .service(format!("{PREFIX}-service"))
                    .desired_count(5)
                    .send(),
            )
            .unwrap();
        },
        &[("service", "update", &["desired_count"])],
    );
}

#[test]
fn target_group_health_check_changed() {
    drift_case(
        |env, stack| {
            let tg = stack.target_groups[0].target_group_arn().unwrap();
            block_on(
                elb(env)
                    .modify_target_group()
                    .target_group_arn(tg)
                    .health_check_path("/other")
                    .health_check_interval_seconds(10)
                    .send(),
            )
            .unwrap();
        },
        &[(
            "target_group",
            "update",
            &["health_check.path", "health_check.interval_seconds"],
        )],
    );
}

#[test]
fn log_retention_changed() {
    drift_case(
        |env, _| {
            let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk_config());
            block_on(
                logs.put_retention_policy()
                    .log_group_name(format!("{PREFIX}-logs"))
                    .retention_in_days(7)
                    .send(),
            )
            .unwrap();
        },
        &[("log_group", "update", &["retention_days"])],
    );
}

#[test]
fn listener_default_action_changed() {
    drift_case(
        |env, stack| {
            let listener = stack.listeners[0].listener_arn().unwrap();
            let fixed = Action::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("503")
                        .content_type("text/plain")
                        .build(),
                )
                .build();
            block_on(
                elb(env)
                    .modify_listener()
                    .listener_arn(listener)
                    .default_actions(fixed)
                    .send(),
            )
            .unwrap();
        },
        &[("listener", "update", &["default_action.forward"])],
    );
}

#[test]
fn service_task_definition_changed() {
    drift_case(
        |env, stack| {
            // Someone points the service at a hand-made revision of another family.
            let ours = &stack.task_definitions[0];
            let client = ecs(env);
            let other = block_on(
                client
                    .register_task_definition()
                    .family("hand-made")
                    .set_container_definitions(Some(ours.container_definitions().to_vec()))
                    .set_requires_compatibilities(Some(ours.requires_compatibilities().to_vec()))
                    .set_network_mode(ours.network_mode().cloned())
                    .set_cpu(ours.cpu().map(str::to_owned))
                    .set_memory(ours.memory().map(str::to_owned))
                    .send(),
            )
            .unwrap();
            let arn = other
                .task_definition()
                .unwrap()
                .task_definition_arn()
                .unwrap();
            block_on(
                client
                    .update_service()
                    .cluster(format!("{PREFIX}-cluster"))
                    .service(format!("{PREFIX}-service"))
                    .task_definition(arn)
                    .send(),
            )
            .unwrap();
        },
        &[("service", "update", &["task_definition"])],
    );
}

#[test]
fn deleted_resource_is_recreated() {
    let env = drift_case(
        |env, _| {
            let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk_config());
            block_on(
                logs.delete_log_group()
                    .log_group_name(format!("{PREFIX}-logs"))
                    .send(),
            )
            .unwrap();
        },
        &[("log_group", "create", &[])],
    );
    // The state follows: the recreated group is recorded.
    let state = std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap();
    assert!(state.contains(&format!("\"{PREFIX}-logs\"")), "{state}");
}

#[test]
fn stale_state_entry_of_a_deleted_repository_is_recreated() {
    let env = dev_env();
    apply(&env);
    let ecr = aws_sdk_ecr::Client::new(&env.sdk_config());
    block_on(
        ecr.delete_repository()
            .repository_name(format!("{PREFIX}-ecr"))
            .force(true)
            .send(),
    )
    .unwrap();
    env.proxy.clear();
    apply(&env);
    assert_eq!(env.proxy.count("CreateRepository"), 1);
    assert_eq!(
        env.proxy.mutating_calls().len(),
        2,
        "{:?}",
        env.proxy.mutating_calls()
    );
    assert_complete_stack(&env, &Stack::read(&env));
}

#[test]
fn lost_state_is_rebuilt_from_the_live_stack_without_changes() {
    let env = dev_env();
    apply(&env);
    let state_path = env.dir.path().join(".deployer/dev.json");
    let before: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    std::fs::remove_file(&state_path).unwrap();

    let (code, plan) = plan_json(&env);
    assert_eq!(
        code, 0,
        "a deployed stack without state has no changes: {plan:#}"
    );

    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
    assert_eq!(
        env.proxy.mutating_calls(),
        [],
        "adopting our own stack mutates nothing"
    );
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let ids = |state: &Value| -> Vec<(String, Value)> {
        let resources = state["resources"].as_object().unwrap();
        resources
            .iter()
            .map(|(k, v)| (k.clone(), v["id"].clone()))
            .collect()
    };
    assert_eq!(ids(&after), ids(&before), "the state is rewritten");
    assert_eq!(after["outputs"], before["outputs"]);
    assert_complete_stack(&env, &Stack::read(&env));
}

/// Creates an untagged security group under the ALB group's name, as someone else might.
fn foreign_alb_group(env: &TestEnv) -> String {
    let client = ec2(env);
    let vpc = block_on(
        client
            .describe_vpcs()
            .filters(Filter::builder().name("is-default").values("true").build())
            .send(),
    )
    .unwrap();
    let vpc_id = vpc.vpcs()[0].vpc_id().unwrap().to_owned();
    let created = block_on(
        client
            .create_security_group()
            .group_name(format!("{PREFIX}-alb-sg"))
            .description("someone else's")
            .vpc_id(vpc_id)
            .send(),
    )
    .unwrap();
    created.group_id().unwrap().to_owned()
}

#[test]
fn foreign_resource_under_our_name_is_never_taken_silently() {
    let env = dev_env();
    let foreign = foreign_alb_group(&env);

    for args in [
        &["apply", "--yes"][..],
        &["plan"][..],
        &["destroy", "--yes"][..],
    ] {
        let output = env.deployer().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if args[0] == "destroy" {
            // Destroy leaves it alone and says so.
            assert!(output.status.success(), "{stderr}");
            assert!(stderr.contains("not ours, left alone"), "{stderr}");
        } else {
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "found an existing ALB security group {foreign} with no tags"
                )),
                "{stderr}"
            );
            assert!(stderr.contains("--adopt"), "{stderr}");
        }
    }
    assert_eq!(env.proxy.mutating_calls(), [], "nothing was changed");
    let groups = Stack::read(&env).security_groups;
    assert_eq!(groups.len(), 1);
    assert_eq!(
        groups[0].group_id(),
        Some(foreign.as_str()),
        "it still exists"
    );

    // With --adopt, apply takes it over: tags it and completes the stack around it.
    env.deployer()
        .args(["apply", "--yes", "--adopt"])
        .assert()
        .success();
    let stack = Stack::read(&env);
    assert_eq!(
        stack.security_group("alb-sg").group_id(),
        Some(foreign.as_str())
    );
    assert_complete_stack(&env, &stack);
}
