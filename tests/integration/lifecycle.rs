//! The core promise: `apply` builds exactly the old Terraform stack, a second `apply` changes
//! nothing, `outputs` answers from the state, and `destroy` removes everything it made.

use std::collections::BTreeMap;

use serde_json::json;

use crate::stack::{has_owner_tags, log_group_tags, repository_tags, Stack, PREFIX};
use crate::support::TestEnv;

/// The shipped `envs/dev.toml`: the tests deploy exactly what users get.
pub const DEV_TOML: &str = include_str!("../../envs/dev.toml");

/// A test environment with `envs/dev.toml` in its working directory.
pub fn dev_env() -> TestEnv {
    let env = TestEnv::start();
    env.write_config("dev", DEV_TOML);
    env
}

/// The same without an emulator ([`TestEnv::offline`]), for runs that must not call AWS.
pub fn offline_dev_env() -> TestEnv {
    let env = TestEnv::offline();
    env.write_config("dev", DEV_TOML);
    env
}

/// Runs `deployer apply --yes` and returns its stderr.
pub fn apply(env: &TestEnv) -> String {
    let output = env.deployer().args(["apply", "--yes"]).assert().success();
    String::from_utf8_lossy(&output.get_output().stderr).into_owned()
}

/// Asserts that the stack is as configured: `plan --detailed-exitcode` exits 0.
pub fn assert_converged(env: &TestEnv) {
    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
}

fn stdout_of(env: &TestEnv, args: &[&str]) -> String {
    let output = env.deployer().args(args).assert().success();
    String::from_utf8(output.get_output().stdout.clone()).unwrap()
}

/// Asserts every resource of the stack and every attribute the old Terraform stack had.
pub fn assert_complete_stack(env: &TestEnv, stack: &Stack) {
    // Security groups: the ALB's open on port 80 to the world, the tasks' open on 5000 to the
    // ALB's group only; nothing else inbound.
    let alb_sg = stack.security_group("alb-sg");
    let ecs_sg = stack.security_group("ecs-sg");
    assert_eq!(stack.security_groups.len(), 2);
    assert_eq!(alb_sg.vpc_id(), Some(stack.vpc_id.as_str()));
    let alb_in = alb_sg.ip_permissions();
    assert_eq!(alb_in.len(), 1, "{alb_in:?}");
    assert_eq!(alb_in[0].ip_protocol(), Some("tcp"));
    assert_eq!(
        (alb_in[0].from_port(), alb_in[0].to_port()),
        (Some(80), Some(80))
    );
    let cidrs: Vec<_> = alb_in[0].ip_ranges().iter().map(|r| r.cidr_ip()).collect();
    assert_eq!(cidrs, [Some("0.0.0.0/0")]);
    assert!(alb_in[0].user_id_group_pairs().is_empty());
    let ecs_in = ecs_sg.ip_permissions();
    assert_eq!(ecs_in.len(), 1, "{ecs_in:?}");
    assert_eq!(ecs_in[0].ip_protocol(), Some("tcp"));
    assert_eq!(
        (ecs_in[0].from_port(), ecs_in[0].to_port()),
        (Some(5000), Some(5000))
    );
    assert!(ecs_in[0].ip_ranges().is_empty());
    let sources: Vec<_> = ecs_in[0]
        .user_id_group_pairs()
        .iter()
        .map(|p| p.group_id())
        .collect();
    assert_eq!(sources, [alb_sg.group_id()]);
    for group in [alb_sg, ecs_sg] {
        let tags = group
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()));
        assert!(has_owner_tags(tags), "{group:?}");
    }

    // ECR repository, scan on push, lifecycle policy keeping the last 30 images.
    assert_eq!(stack.repositories.len(), 1);
    let repo = &stack.repositories[0];
    assert_eq!(
        repo.repository_name(),
        Some(format!("{PREFIX}-ecr").as_str())
    );
    assert!(repo.image_scanning_configuration().unwrap().scan_on_push());
    let rule = &stack.lifecycle_policy.as_ref().expect("lifecycle policy")["rules"][0];
    assert_eq!(rule["selection"]["countNumber"], json!(30));
    assert_eq!(rule["action"]["type"], json!("expire"));
    let repo_tags = repository_tags(env, repo.repository_arn().unwrap());
    assert!(has_owner_tags(
        repo_tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    ));

    // Task execution role trusted by ECS tasks, with the managed execution policy.
    let role = stack.role.as_ref().expect("execution role");
    let trust = urlencoding::decode(role.assume_role_policy_document().unwrap())
        .map(|d| d.into_owned())
        .unwrap();
    let trust: serde_json::Value = serde_json::from_str(&trust).unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(
        statement["Principal"]["Service"],
        json!("ecs-tasks.amazonaws.com")
    );
    assert_eq!(statement["Action"], json!("sts:AssumeRole"));
    assert_eq!(statement["Effect"], json!("Allow"));
    assert_eq!(
        stack.attached_policies,
        ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
    );
    assert!(has_owner_tags(
        role.tags().iter().map(|t| (t.key(), t.value()))
    ));

    // Log group with retention.
    assert_eq!(stack.log_groups.len(), 1);
    let group = &stack.log_groups[0];
    assert_eq!(
        group.log_group_name(),
        Some(format!("{PREFIX}-logs").as_str())
    );
    assert_eq!(group.retention_in_days(), Some(30));
    let group_tags = log_group_tags(env, group.log_group_name().unwrap());
    assert!(has_owner_tags(
        group_tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    ));

    // Internet-facing ALB in the default subnets behind the ALB group.
    assert_eq!(stack.load_balancers.len(), 1, "exactly one load balancer");
    let lb = &stack.load_balancers[0];
    assert_eq!(
        lb.load_balancer_name(),
        Some(format!("{PREFIX}-alb").as_str())
    );
    assert_eq!(lb.scheme().map(|s| s.as_str()), Some("internet-facing"));
    assert_eq!(lb.r#type().map(|t| t.as_str()), Some("application"));
    let mut lb_subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .map(|z| z.subnet_id().unwrap().to_owned())
        .collect();
    lb_subnets.sort();
    assert_eq!(lb_subnets, stack.default_subnets);
    assert_eq!(lb.security_groups(), [alb_sg.group_id().unwrap()]);

    // Target group: ip targets, HTTP on 5000, the configured health check, short deregistration.
    assert_eq!(stack.target_groups.len(), 1);
    let tg = &stack.target_groups[0];
    assert_eq!(
        tg.target_group_name(),
        Some(format!("{PREFIX}-tg").as_str())
    );
    assert_eq!(tg.target_type().map(|t| t.as_str()), Some("ip"));
    assert_eq!(tg.protocol().map(|p| p.as_str()), Some("HTTP"));
    assert_eq!(tg.port(), Some(5000));
    assert_eq!(tg.vpc_id(), Some(stack.vpc_id.as_str()));
    assert_eq!(tg.health_check_path(), Some("/"));
    assert_eq!(tg.health_check_interval_seconds(), Some(30));
    assert_eq!(tg.health_check_timeout_seconds(), Some(5));
    assert_eq!(tg.healthy_threshold_count(), Some(2));
    assert_eq!(tg.unhealthy_threshold_count(), Some(2));
    assert_eq!(tg.matcher().and_then(|m| m.http_code()), Some("200"));
    assert_eq!(stack.deregistration_delay.as_deref(), Some("30"));

    // One HTTP listener on 80 forwarding to the target group.
    assert_eq!(stack.listeners.len(), 1);
    let listener = &stack.listeners[0];
    assert_eq!(listener.port(), Some(80));
    assert_eq!(listener.protocol().map(|p| p.as_str()), Some("HTTP"));
    let actions = listener.default_actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].r#type().map(|t| t.as_str()), Some("forward"));
    assert_eq!(actions[0].target_group_arn(), tg.target_group_arn());
    for arn in [
        lb.load_balancer_arn(),
        tg.target_group_arn(),
        listener.listener_arn(),
    ] {
        let tags = &stack.elb_tags[arn.unwrap()];
        assert!(
            has_owner_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            "{arn:?}"
        );
    }

    // ECS cluster, task definition and service.
    assert_eq!(stack.clusters.len(), 1);
    let cluster = &stack.clusters[0];
    assert!(has_owner_tags(
        cluster
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
    ));
    assert_eq!(
        stack.task_definitions.len(),
        1,
        "exactly one active revision"
    );
    let task = &stack.task_definitions[0];
    assert_eq!(task.family(), Some(format!("{PREFIX}-task").as_str()));
    assert_eq!(task.cpu(), Some("256"));
    assert_eq!(task.memory(), Some("512"));
    assert_eq!(task.network_mode().map(|m| m.as_str()), Some("awsvpc"));
    let compatibilities: Vec<_> = task
        .requires_compatibilities()
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(compatibilities, ["FARGATE"]);
    assert_eq!(task.execution_role_arn(), Some(role.arn()));
    assert_eq!(task.container_definitions().len(), 1);
    let container = &task.container_definitions()[0];
    assert_eq!(
        container.image(),
        Some("946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest")
    );
    assert_eq!(container.port_mappings().len(), 1);
    assert_eq!(container.port_mappings()[0].container_port(), Some(5000));
    let environment: BTreeMap<_, _> = container
        .environment()
        .iter()
        .map(|kv| (kv.name().unwrap(), kv.value().unwrap()))
        .collect();
    assert_eq!(
        environment,
        BTreeMap::from([("FLASK_APP", "hello"), ("FLASK_ENV", "production")])
    );
    let logging = container.log_configuration().expect("log configuration");
    assert_eq!(logging.log_driver().as_str(), "awslogs");
    let options = logging.options().unwrap();
    assert_eq!(options["awslogs-group"], format!("{PREFIX}-logs"));
    assert_eq!(options["awslogs-region"], "eu-central-1");
    assert!(has_owner_tags(
        stack
            .task_definition_tags
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
    ));

    assert_eq!(stack.services.len(), 1);
    let service = &stack.services[0];
    assert_eq!(
        service.service_name(),
        Some(format!("{PREFIX}-service").as_str())
    );
    assert_eq!(service.desired_count(), 2);
    assert_eq!(service.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    assert_eq!(service.task_definition(), task.task_definition_arn());
    let vpc = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpc configuration");
    let mut subnets = vpc.subnets().to_vec();
    subnets.sort();
    assert_eq!(subnets, stack.default_subnets);
    assert_eq!(vpc.security_groups(), [ecs_sg.group_id().unwrap()]);
    assert_eq!(vpc.assign_public_ip().map(|a| a.as_str()), Some("ENABLED"));
    let lbs = service.load_balancers();
    assert_eq!(lbs.len(), 1);
    assert_eq!(lbs[0].target_group_arn(), tg.target_group_arn());
    assert_eq!(lbs[0].container_name(), container.name());
    assert_eq!(lbs[0].container_port(), Some(5000));
    assert!(has_owner_tags(
        service
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
    ));
}

#[test]
fn apply_twice_outputs_destroy_twice() {
    let env = dev_env();

    let first = apply(&env);
    assert!(
        first.contains("Apply complete: 11 created, 0 updated."),
        "{first}"
    );
    let stack = Stack::read(&env);
    assert_complete_stack(&env, &stack);
    let state_path = env.dir.path().join(".deployer/dev.json");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(state["version"], json!(1));
    assert_eq!(
        // Every step but the network, and the task role, which the shipped configuration does
        // not ask for.
        state["resources"].as_object().unwrap().len(),
        11,
        "{state:#}"
    );

    // The second apply reads, finds nothing to do, and changes nothing.
    env.proxy.clear();
    let second = apply(&env);
    assert!(second.contains("No changes"), "{second}");
    assert_eq!(
        env.proxy.mutating_calls(),
        [],
        "a no-op apply must not mutate"
    );
    assert!(
        !env.proxy.calls().is_empty(),
        "the second apply must read the live stack"
    );

    // Outputs: from the state, without a single AWS call.
    env.proxy.clear();
    let lb = &stack.load_balancers[0];
    let dns = lb.dns_name().unwrap();
    assert_eq!(
        stdout_of(&env, &["outputs", "alb_dns_name"]),
        format!("{dns}\n")
    );
    let all: BTreeMap<String, String> =
        serde_json::from_str(&stdout_of(&env, &["outputs", "--json"])).unwrap();
    let expected = BTreeMap::from([
        ("alb_dns_name".to_owned(), dns.to_owned()),
        (
            "alb_zone_id".to_owned(),
            lb.canonical_hosted_zone_id().unwrap().to_owned(),
        ),
        (
            "ecr_repository_url".to_owned(),
            stack.repositories[0].repository_uri().unwrap().to_owned(),
        ),
        ("ecs_cluster_name".to_owned(), format!("{PREFIX}-cluster")),
        ("ecs_service_name".to_owned(), format!("{PREFIX}-service")),
        ("application_url".to_owned(), format!("http://{dns}")),
    ]);
    assert_eq!(all, expected);
    assert_eq!(env.proxy.calls(), [], "outputs must not call AWS");

    // Destroy removes everything, and only the default VPC remains.
    let output = env.deployer().args(["destroy", "--yes"]).assert().success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(stderr.contains("Destroy complete: 11 deleted."), "{stderr}");
    let after = Stack::read(&env);
    assert_eq!(after.leftovers(), Vec::<String>::new());
    assert_eq!(
        after.vpc_id, stack.vpc_id,
        "the default VPC is never touched"
    );
    assert!(!state_path.exists(), "an empty state is removed");
    // Service before cluster, listener before target group, policies before role.
    let order = env.proxy.operations();
    let position = |op: &str| {
        order
            .iter()
            .position(|o| o.ends_with(&format!(":{op}")))
            .unwrap_or_else(|| panic!("{op} not called: {order:?}"))
    };
    assert!(position("DeleteService") < position("DeleteCluster"));
    assert!(position("DeleteListener") < position("DeleteTargetGroup"));
    assert!(position("DetachRolePolicy") < position("DeleteRole"));
    // The ALB's group goes last, after the load balancer that uses it.
    let last_group_deleted = order
        .iter()
        .rposition(|o| o.ends_with(":DeleteSecurityGroup"))
        .unwrap();
    assert!(position("DeleteLoadBalancer") < last_group_deleted);

    // A second destroy finds nothing and changes nothing.
    env.proxy.clear();
    let output = env.deployer().args(["destroy", "--yes"]).assert().success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(stderr.contains("Nothing to destroy"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), []);
}

#[test]
fn destroy_without_terminal_or_yes_refuses_and_deletes_nothing() {
    let env = dev_env();
    apply(&env);
    env.proxy.clear();
    let output = env.deployer().arg("destroy").assert().code(3);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(stderr.contains("pass --yes"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), []);
    assert_complete_stack(&env, &Stack::read(&env));
}

#[test]
fn auto_approve_is_an_alias_of_yes() {
    let env = dev_env();
    env.deployer()
        .args(["apply", "--auto-approve"])
        .assert()
        .success();
    env.deployer()
        .args(["destroy", "--auto-approve"])
        .assert()
        .success();
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

#[test]
fn outputs_without_state_is_a_clear_error_without_aws_calls() {
    let env = offline_dev_env();
    let output = env
        .deployer()
        .args(["outputs", "alb_dns_name"])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("no outputs recorded for simhill-dev"),
        "{stderr}"
    );
    assert!(stderr.contains("deployer apply --env dev"), "{stderr}");
    let output = env.deployer().args(["outputs", "alb_dns"]).assert().code(3);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("alb_dns_name"),
        "lists the known names: {stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
}
