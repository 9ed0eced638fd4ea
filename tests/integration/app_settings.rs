//! The app's own settings: the task role, the CPU architecture, the container's name, command,
//! entry point, health check, stop timeout and read-only root file system. Each one reaches AWS,
//! reads back as no change, is repaired after a change by hand, and goes away with its key.

use crate::drift::plan_json;
use crate::lifecycle::{apply, DEV_TOML};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, TestEnv};

const S3_READ: &str = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
const SQS_READ: &str = "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess";

const TASK_ROLE: &str = r#"
[task_role]
managed_policies = ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess"]

[[task_role.statements]]
actions = ["sqs:SendMessage"]
resources = ["arn:aws:sqs:eu-central-1:123456789012:jobs"]
conditions = { StringEquals = { "aws:RequestedRegion" = "eu-central-1" } }
"#;

/// The shipped configuration with every setting of the app's own set.
fn with_all() -> String {
    let config = DEV_TOML
        .replace(
            "port = 5000                  # the port the app listens on inside the container",
            "port = 5000\nname = \"web\"\ncommand = [\"gunicorn\", \"hello:app\"]\nentry_point = [\"/bin/sh\", \"-c\"]\n\
             stop_timeout_seconds = 90\nread_only_root_filesystem = true\n\
             [container.health_check]\ncommand = [\"CMD-SHELL\", \"curl -f localhost:5000/ || exit 1\"]\n\
             start_period_seconds = 20",
        )
        .replace(
            "memory = 512                 # MiB",
            "memory = 512\ncpu_architecture = \"ARM64\" # MiB",
        );
    assert_ne!(config, DEV_TOML);
    format!("{config}{TASK_ROLE}")
}

fn iam(env: &TestEnv) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&env.sdk_config())
}

fn role_name() -> String {
    format!("{PREFIX}-task-role")
}

fn attached(env: &TestEnv) -> Vec<String> {
    let answer = block_on(
        iam(env)
            .list_attached_role_policies()
            .role_name(role_name())
            .send(),
    )
    .unwrap();
    let mut arns: Vec<String> = answer
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    arns.sort();
    arns
}

fn running(stack: &Stack) -> &aws_sdk_ecs::types::TaskDefinition {
    let revision = stack.services[0].task_definition().unwrap();
    stack
        .task_definitions
        .iter()
        .find(|t| t.task_definition_arn() == Some(revision))
        .unwrap()
}

fn assert_clean(env: &TestEnv) {
    let (code, plan) = plan_json(env);
    assert_eq!(code, 0, "{plan:#}");
    env.proxy.clear();
    apply(env);
    assert_eq!(env.proxy.mutating_calls(), []);
}

#[test]
fn every_app_setting_round_trips_and_goes_away_with_its_key() {
    let env = TestEnv::start();
    env.write_config("dev", &with_all());
    apply(&env);

    let stack = Stack::read(&env);
    let definition = running(&stack);
    let role = block_on(iam(&env).get_role().role_name(role_name()).send()).unwrap();
    let role = role.role().unwrap();
    assert_eq!(definition.task_role_arn(), Some(role.arn()));
    let trust = urlencoding::decode(role.assume_role_policy_document().unwrap())
        .unwrap()
        .into_owned();
    let trust: serde_json::Value = serde_json::from_str(&trust).unwrap();
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    assert_eq!(attached(&env), [S3_READ, SQS_READ]);
    assert_eq!(
        definition
            .runtime_platform()
            .and_then(|p| p.cpu_architecture())
            .map(|a| a.as_str()),
        Some("ARM64")
    );
    let container = &definition.container_definitions()[0];
    assert_eq!(container.command(), ["gunicorn", "hello:app"]);
    assert_eq!(container.entry_point(), ["/bin/sh", "-c"]);
    assert_eq!(container.stop_timeout(), Some(90));
    assert_eq!(container.readonly_root_filesystem(), Some(true));
    let check = container.health_check().unwrap();
    assert_eq!(
        check.command(),
        ["CMD-SHELL", "curl -f localhost:5000/ || exit 1"]
    );
    assert_eq!(
        (
            check.interval(),
            check.timeout(),
            check.retries(),
            check.start_period()
        ),
        (Some(30), Some(5), Some(3), Some(20))
    );
    assert_clean(&env);

    // Changed by hand: a policy detached, another attached, the statements replaced. Apply
    // takes each back.
    let iam = iam(&env);
    block_on(
        iam.detach_role_policy()
            .role_name(role_name())
            .policy_arn(SQS_READ)
            .send(),
    )
    .unwrap();
    block_on(
        iam.attach_role_policy()
            .role_name(role_name())
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send(),
    )
    .unwrap();
    block_on(
        iam.put_role_policy()
            .role_name(role_name())
            .policy_name("app-permissions")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
            )
            .send(),
    )
    .unwrap();
    // Reported case: another inline policy put by hand was never reported nor removed.
    block_on(
        iam.put_role_policy()
            .role_name(role_name())
            .policy_name("sneaky")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
            )
            .send(),
    )
    .unwrap();
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2);
    let text = plan.to_string();
    assert!(
        text.contains("AdministratorAccess")
            && text.contains("statements")
            && text.contains(r#""field":"inline_policy","new":"(none)","old":"sneaky""#),
        "{plan:#}"
    );
    apply(&env);
    assert_eq!(attached(&env), [S3_READ, SQS_READ]);
    let inline = block_on(iam.list_role_policies().role_name(role_name()).send()).unwrap();
    assert_eq!(inline.policy_names(), ["app-permissions"]);
    assert_clean(&env);

    // A policy removed from the configuration is detached; no new revision is needed for it.
    env.write_config("dev", &with_all().replace(&format!(", \"{SQS_READ}\""), ""));
    apply(&env);
    assert_eq!(attached(&env), [S3_READ]);
    assert_clean(&env);

    // Without [task_role] the role goes, and so does the task definition's reference; without
    // the other keys the container is back to the image's own. The role goes only once the
    // service runs the revision without it: running tasks keep their credentials until then.
    env.write_config("dev", DEV_TOML);
    env.proxy.clear();
    apply(&env);
    let gone = block_on(iam.get_role().role_name(role_name()).send());
    assert!(role_is_gone(gone));
    let operations = env.proxy.operations();
    let at = |operation: &str| operations.iter().position(|o| o == operation);
    let (moved, deleted) = (at("ecs:UpdateService"), at("iam:DeleteRole"));
    assert!(
        moved.is_some() && deleted.is_some() && moved < deleted,
        "the role is deleted after the service moved: {operations:?}"
    );
    let stack = Stack::read(&env);
    let definition = running(&stack);
    assert_eq!(definition.task_role_arn(), None);
    assert!(definition.runtime_platform().is_none());
    let container = &definition.container_definitions()[0];
    assert!(container.command().is_empty() && container.health_check().is_none());
    assert_eq!(container.readonly_root_filesystem(), None);
    assert_clean(&env);

    // Destroy removes a role this stack made.
    env.write_config("dev", &with_all());
    apply(&env);
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert!(role_is_gone(block_on(
        iam.get_role().role_name(role_name()).send()
    )));
}

fn load_balancer_containers(stack: &Stack) -> Vec<String> {
    stack.services[0]
        .load_balancers()
        .iter()
        .filter_map(|lb| lb.container_name().map(str::to_owned))
        .collect()
}

#[test]
fn a_container_name_renames_the_container_and_the_services_reference_together() {
    let env = TestEnv::start();
    env.write_config("dev", DEV_TOML);
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(
        running(&stack).container_definitions()[0].name(),
        Some("app")
    );
    assert_eq!(load_balancer_containers(&stack), ["app"]);

    // One deployment: a new revision with the container renamed, and the service's load
    // balancer reference naming it.
    let renamed = DEV_TOML.replace(
        "port = 5000                  # the port",
        "name = \"web\"\nport = 5000                  # the port",
    );
    assert_ne!(renamed, DEV_TOML);
    env.write_config("dev", &renamed);
    let (code, plan) = plan_json(&env);
    assert_eq!(code, 2, "{plan:#}");
    let changes = |step: &str| {
        plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["step"] == step)
            .map(|r| r["changes"].clone())
            .unwrap()
    };
    assert_eq!(
        changes("task_definition"),
        serde_json::json!([{"field": "container_name", "old": "app", "new": "web"}])
    );
    let service = changes("service").to_string();
    assert!(
        service.contains("\"app:5000 in ") && service.contains("\"web:5000 in "),
        "{service}"
    );
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(
        running(&stack).container_definitions()[0].name(),
        Some("web")
    );
    assert_eq!(load_balancer_containers(&stack), ["web"]);
    assert_clean(&env);

    // Without the key, back to `app`.
    env.write_config("dev", DEV_TOML);
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(
        running(&stack).container_definitions()[0].name(),
        Some("app")
    );
    assert_eq!(load_balancer_containers(&stack), ["app"]);
    assert_clean(&env);
}

/// The shipped configuration with the service on a capacity provider strategy.
fn with_strategy(strategy: &str) -> String {
    let line =
        "circuit_breaker = true       # roll back automatically when a deployment keeps failing";
    assert!(DEV_TOML.contains(line));
    DEV_TOML.replace(
        line,
        &format!("circuit_breaker = true\ncapacity_providers = {strategy}"),
    )
}

/// Fargate Spot through a capacity provider strategy: the cluster offers the providers, the
/// service uses the strategy instead of the launch type, a new strategy is a new deployment,
/// and moving between the launch type and a strategy (which ECS cannot do in place) is refused
/// before any change.
#[test]
fn capacity_providers_run_the_service_on_fargate_spot() {
    let env = TestEnv::start();
    let spot = r#"[{ provider = "FARGATE_SPOT", weight = 3 }, { provider = "FARGATE", weight = 1, base = 1 }]"#;
    env.write_config("dev", &with_strategy(spot));
    apply(&env);
    let stack = Stack::read(&env);
    let service = &stack.services[0];
    assert_eq!(service.launch_type(), None);
    let mut strategy: Vec<(String, i32, i32)> = service
        .capacity_provider_strategy()
        .iter()
        .map(|i| (i.capacity_provider().to_owned(), i.weight(), i.base()))
        .collect();
    strategy.sort();
    assert_eq!(
        strategy,
        [("FARGATE".into(), 1, 1), ("FARGATE_SPOT".into(), 3, 0)]
    );
    let mut providers = stack.clusters[0].capacity_providers().to_vec();
    providers.sort();
    assert_eq!(providers, ["FARGATE", "FARGATE_SPOT"]);
    assert_clean(&env);

    // Another strategy: one UpdateService, which starts a deployment.
    env.write_config(
        "dev",
        &with_strategy(r#"[{ provider = "FARGATE_SPOT", weight = 1 }]"#),
    );
    env.proxy.clear();
    apply(&env);
    assert_eq!(env.proxy.count("UpdateService"), 1);
    assert_eq!(env.proxy.count("RegisterTaskDefinition"), 0);
    assert_clean(&env);

    // Back to the launch type: ECS cannot move the service in place, so nothing is changed.
    env.write_config("dev", DEV_TOML);
    env.proxy.clear();
    let output = env.deployer().args(["apply", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("capacity: FARGATE_SPOT weight 1 base 0 -> launch type FARGATE"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");

    // And the stack goes as any other.
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

/// Whether a `GetRole` answer says the role does not exist (not any other failure).
fn role_is_gone<T: std::fmt::Debug>(
    answer: Result<T, aws_sdk_iam::error::SdkError<aws_sdk_iam::operation::get_role::GetRoleError>>,
) -> bool {
    match answer {
        Err(e) => e.into_service_error().is_no_such_entity_exception(),
        Ok(found) => panic!("the role still exists: {found:?}"),
    }
}
