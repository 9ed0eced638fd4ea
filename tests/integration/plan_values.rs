//! The values `plan` shows for a drift of every kind of field the resources compare: integers,
//! strings, booleans, optional values that are absent, lists and sets, JSON documents, maps, and
//! ARNs. Snapshots of `plan` and `plan --json` after changes made behind the tool's back, then
//! `apply` repairs them all.

use aws_sdk_ec2::types::{IpPermission, IpRange};
use aws_sdk_ecr::types::ImageTagMutability;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DeploymentCircuitBreaker, DeploymentConfiguration,
    KeyValuePair, NetworkConfiguration,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, Matcher, TargetGroupAttribute,
};
use serde_json::{json, Value};

use crate::drift::plan_json;
use crate::lifecycle::{apply, assert_complete_stack, DEV_TOML};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, TestEnv};

const PARAMETER: &str = "arn:aws:ssm:eu-central-1:123456789012:parameter/simhill/dev/db-password";

/// The shipped configuration with one container secret, so that the execution role's secrets
/// policy and the task definition's secrets are compared too.
fn config_with_secret() -> String {
    let config = DEV_TOML.replace(
        "[container.secrets]",
        &format!("[container.secrets]\nDATABASE_PASSWORD = \"{PARAMETER}\""),
    );
    assert_ne!(config, DEV_TOML);
    config
}

/// Replaces what differs between runs: the IDs moto makes up, also inside the load balancer's,
/// target group's and listener's ARNs. The other ARNs (account 123456789012, task definition
/// revisions) are the same on every run, and stay readable. `names` first replaces known IDs
/// with a name, so that a list of IDs shows which ones it holds.
fn settings(names: &[(String, String)]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    for (id, name) in names {
        settings.add_filter(&format!(r"\b{id}\b"), name.as_str());
    }
    // Also stops at a backslash: ARNs inside the JSON form of a debug-quoted value end in `\"`.
    settings.add_filter(r"arn:aws:elasticloadbalancing:[^\s\x22\\]+", "[ELB ARN]");
    settings.add_filter(r"\bsg-[0-9a-f]+", "sg-[ID]");
    settings.add_filter(r"\bvpc-[0-9a-f]+", "vpc-[ID]");
    settings.add_filter(r"\bsubnet-[0-9a-f]+", "subnet-[ID]");
    settings
}

/// `plan --detailed-exitcode` (must report changes: exit 2) and `plan --json` as snapshots.
fn snapshot_plans(env: &TestEnv, name: &str, names: &[(String, String)]) -> Value {
    let output = env
        .deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(2);
    let text = String::from_utf8(output.get_output().stdout.clone()).unwrap();
    let (code, plan) = plan_json(env);
    assert_eq!(code, 2, "{plan:#}");
    settings(names).bind(|| {
        insta::assert_snapshot!(format!("{name}-text"), text);
        insta::assert_json_snapshot!(format!("{name}-json"), plan);
    });
    plan
}

/// Every `(step, field)` the JSON plan reports as changed.
fn changed_fields(plan: &Value) -> Vec<(String, String)> {
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            let step = r["step"].as_str().unwrap().to_owned();
            r["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |c| (step.clone(), c["field"].as_str().unwrap().to_owned()))
        })
        .collect()
}

/// Asserts that `apply` repairs the drift: nothing is left to change afterwards.
fn assert_repaired(env: &TestEnv) {
    apply(env);
    let (code, plan) = plan_json(env);
    assert_eq!(code, 0, "apply must repair every drifted field: {plan:#}");
}

/// Changes one field of each kind on every resource that compares fields, with the SDK straight
/// against the emulator.
fn drift_every_kind_of_field(env: &TestEnv, stack: &Stack) {
    let config = env.sdk_config();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let ecr = aws_sdk_ecr::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let alb_group = stack.security_group("alb-sg").group_id().unwrap();
    let ecs_group = stack.security_group("ecs-sg").group_id().unwrap();
    let load_balancer = stack.load_balancers[0].load_balancer_arn().unwrap();
    let target_group = stack.target_groups[0].target_group_arn().unwrap();
    let listener = stack.listeners[0].listener_arn().unwrap();
    let role = format!("{PREFIX}-ecs-task-execution-role");
    let repository = format!("{PREFIX}-ecr");
    assert!(
        stack.default_subnets.len() > 2,
        "{:?}",
        stack.default_subnets
    );
    let two_subnets = stack.default_subnets[..2].to_vec();
    let http = |port: i32, cidr: &str| {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    };

    block_on(async {
        // Sets: a rule added to one group, the only rule removed from the other.
        ec2.authorize_security_group_ingress()
            .group_id(ecs_group)
            .ip_permissions(http(22, "10.0.0.0/8"))
            .send()
            .await
            .unwrap();
        ec2.revoke_security_group_ingress()
            .group_id(alb_group)
            .ip_permissions(http(80, "0.0.0.0/0"))
            .send()
            .await
            .unwrap();

        // Booleans, and an optional JSON document that becomes absent.
        ecr.put_image_scanning_configuration()
            .repository_name(&repository)
            .image_scanning_configuration(
                aws_sdk_ecr::types::ImageScanningConfiguration::builder()
                    .scan_on_push(false)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ecr.put_image_tag_mutability()
            .repository_name(&repository)
            .image_tag_mutability(ImageTagMutability::Immutable)
            .send()
            .await
            .unwrap();
        ecr.delete_lifecycle_policy()
            .repository_name(&repository)
            .send()
            .await
            .unwrap();

        // A JSON document changed, a set member removed, an optional document deleted.
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "ec2.amazonaws.com" },
                "Action": "sts:AssumeRole",
            }],
        });
        iam.update_assume_role_policy()
            .role_name(&role)
            .policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn("arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")
            .send()
            .await
            .unwrap();
        iam.delete_role_policy()
            .role_name(&role)
            .policy_name("read-container-secrets")
            .send()
            .await
            .unwrap();

        // An optional integer: 30 -> 7.
        logs.put_retention_policy()
            .log_group_name(format!("{PREFIX}-logs"))
            .retention_in_days(7)
            .send()
            .await
            .unwrap();

        // Lists of IDs.
        elb.set_subnets()
            .load_balancer_arn(load_balancer)
            .set_subnets(Some(two_subnets.clone()))
            .send()
            .await
            .unwrap();
        elb.set_security_groups()
            .load_balancer_arn(load_balancer)
            .security_groups(ecs_group)
            .send()
            .await
            .unwrap();

        // Strings, an integer, an optional integer.
        elb.modify_target_group()
            .target_group_arn(target_group)
            .health_check_path("/other")
            .health_check_interval_seconds(10)
            .health_check_timeout_seconds(6)
            .healthy_threshold_count(3)
            .unhealthy_threshold_count(4)
            .matcher(Matcher::builder().http_code("200-299").build())
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

        // A list of ARNs that becomes empty: the default action no longer forwards.
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

        // The task definition: a new revision of the family replaces the deployed one, with
        // other strings (image, sizes, log group), an integer (port), a map (environment) and
        // the secret gone.
        let ours = &stack.task_definitions[0];
        let mut container = ours.container_definitions()[0].clone();
        container.image = Some("public.ecr.aws/nginx/nginx:latest".to_owned());
        container.environment = Some(vec![
            KeyValuePair::builder()
                .name("FLASK_APP")
                .value("other")
                .build(),
            KeyValuePair::builder().name("DEBUG").value("1").build(),
        ]);
        container.secrets = None;
        for mapping in container.port_mappings.iter_mut().flatten() {
            mapping.container_port = Some(8080);
        }
        if let Some(log) = container.log_configuration.as_mut() {
            if let Some(options) = log.options.as_mut() {
                options.insert("awslogs-group".to_owned(), "other-logs".to_owned());
            }
        }
        ecs.register_task_definition()
            .family(ours.family().unwrap())
            .container_definitions(container)
            .set_requires_compatibilities(Some(ours.requires_compatibilities().to_vec()))
            .set_network_mode(ours.network_mode().cloned())
            .set_execution_role_arn(ours.execution_role_arn().map(str::to_owned))
            .cpu("512")
            .memory("1024")
            // Tagged as ours: an untagged revision would be refused as someone else's.
            .set_tags(Some(stack.task_definition_tags.clone()))
            .send()
            .await
            .unwrap();
        ecs.deregister_task_definition()
            .task_definition(ours.task_definition_arn().unwrap())
            .send()
            .await
            .unwrap();

        // The service: integers, booleans, lists.
        ecs.update_service()
            .cluster(format!("{PREFIX}-cluster"))
            .service(format!("{PREFIX}-service"))
            .desired_count(5)
            .health_check_grace_period_seconds(0)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .minimum_healthy_percent(50)
                    .maximum_percent(150)
                    .deployment_circuit_breaker(
                        DeploymentCircuitBreaker::builder()
                            .enable(false)
                            .rollback(false)
                            .build(),
                    )
                    .build(),
            )
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .set_subnets(Some(two_subnets))
                            .security_groups(alb_group)
                            .assign_public_ip(AssignPublicIp::Disabled)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
}

#[test]
fn plan_shows_the_values_of_every_kind_of_drifted_field() {
    let env = TestEnv::start();
    env.write_config("dev", &config_with_secret());
    apply(&env);
    let stack = Stack::read(&env);
    drift_every_kind_of_field(&env, &stack);

    let mut names = vec![
        (
            stack
                .security_group("alb-sg")
                .group_id()
                .unwrap()
                .to_owned(),
            "sg-[alb]".to_owned(),
        ),
        (
            stack
                .security_group("ecs-sg")
                .group_id()
                .unwrap()
                .to_owned(),
            "sg-[ecs]".to_owned(),
        ),
    ];
    for (i, subnet) in stack.default_subnets.iter().enumerate() {
        names.push((subnet.clone(), format!("subnet-[{}]", i + 1)));
    }
    let plan = snapshot_plans(&env, "drift-of-every-kind", &names);
    // The snapshots must hold a change of every field drifted above, not merely some change.
    let expected = [
        ("alb_security_group", "ingress"),
        ("ecs_security_group", "ingress"),
        ("ecr_repository", "scan_on_push"),
        ("ecr_repository", "immutable_tags"),
        ("ecr_repository", "lifecycle_policy"),
        ("execution_role", "trust_policy"),
        ("execution_role", "attached_policy"),
        ("execution_role", "secrets_policy"),
        ("log_group", "retention_days"),
        ("load_balancer", "subnets"),
        ("load_balancer", "security_groups"),
        ("target_group", "health_check.path"),
        ("target_group", "health_check.interval_seconds"),
        ("target_group", "health_check.timeout_seconds"),
        ("target_group", "health_check.healthy_threshold"),
        ("target_group", "health_check.unhealthy_threshold"),
        ("target_group", "health_check.matcher"),
        ("target_group", "deregistration_delay_seconds"),
        ("listener", "default_action.forward"),
        ("task_definition", "cpu"),
        ("task_definition", "memory"),
        ("task_definition", "image"),
        ("task_definition", "container_port"),
        ("task_definition", "environment"),
        ("task_definition", "secrets"),
        ("task_definition", "log_group"),
        ("service", "desired_count"),
        ("service", "subnets"),
        ("service", "security_groups"),
        ("service", "assign_public_ip"),
        ("service", "min_healthy_percent"),
        ("service", "max_percent"),
        ("service", "circuit_breaker"),
        ("service", "health_check_grace_seconds"),
    ];
    let changed = changed_fields(&plan);
    let missing: Vec<_> = expected
        .iter()
        .filter(|(step, field)| !changed.iter().any(|(s, f)| s == step && f == field))
        .collect();
    assert!(missing.is_empty(), "not reported: {missing:?}\n{plan:#}");

    // Not `assert_complete_stack`: the hand-made revision stays ACTIVE beside the new one, as
    // every older revision does (a rollback can go back to it).
    assert_repaired(&env);
}

/// An optional value compared as a whole that is absent in AWS: the log group's retention
/// policy deleted (the group then keeps its events forever).
#[test]
fn plan_shows_an_optional_value_that_became_absent() {
    let env = TestEnv::start();
    env.write_config("dev", DEV_TOML);
    apply(&env);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk_config());
    block_on(
        logs.delete_retention_policy()
            .log_group_name(format!("{PREFIX}-logs"))
            .send(),
    )
    .unwrap();

    let plan = snapshot_plans(&env, "drift-to-absent", &[]);
    assert_eq!(
        changed_fields(&plan),
        [("log_group".to_owned(), "retention_days".to_owned())],
        "{plan:#}"
    );
    assert_repaired(&env);
    assert_complete_stack(&env, &Stack::read(&env));
}
