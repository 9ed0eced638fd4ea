//! Trust: no AWS answer, file or error path reaches a panic, and a failing step is reported as
//! that step's failure. Every step's read, create and delete is made to fail in turn.

use crate::lifecycle::{apply, dev_env};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, Fault, TestEnv};

/// An error AWS would not retry, so the step fails on its first answer.
fn refusal() -> Fault {
    Fault::error(400, "ValidationError", "injected refusal")
}

/// Runs the binary and returns its exit code and stderr; never a panic (exit 101).
fn run(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let output = env.deployer().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code().unwrap_or(-1);
    assert_ne!(code, 101, "deployer {args:?} panicked: {stderr}");
    assert!(!stderr.contains("panicked"), "deployer {args:?}: {stderr}");
    (code, stderr)
}

/// Each step's read: the operation that finds it, and what the error names. The two security
/// groups are read with one call, reported as the first of them.
const READS: &[(&str, &str)] = &[
    ("DescribeSubnets", "reading the default VPC and subnets"),
    ("DescribeSecurityGroups", "reading the ALB security group"),
    ("DescribeRepositories", "reading the ECR repository"),
    ("GetRole", "reading the task execution role"),
    ("DescribeLogGroups", "reading the log group"),
    ("DescribeLoadBalancers", "reading the load balancer"),
    ("DescribeTargetGroups", "reading the target group"),
    ("DescribeListeners", "reading the listener"),
    ("DescribeClusters", "reading the ECS cluster"),
    ("DescribeTaskDefinition", "reading the task definition"),
    ("DescribeServices", "reading the ECS service"),
];

#[test]
fn every_step_whose_read_fails_is_reported_with_exit_1() {
    let env = dev_env();
    apply(&env);
    for (operation, message) in READS {
        for command in [&["plan"][..], &["apply", "--yes"], &["destroy", "--yes"]] {
            env.proxy.reset_faults();
            env.proxy.script(operation, 1, refusal());
            let (code, stderr) = run(&env, command);
            assert_eq!(code, 1, "{operation} failing in {command:?}: {stderr}");
            assert!(
                stderr.contains(message) && stderr.contains("injected refusal"),
                "{operation} failing in {command:?} should say {message:?}: {stderr}"
            );
        }
    }
}

/// Each step's create, and the label its failure is reported under.
const CREATES: &[(&str, &str)] = &[
    ("CreateSecurityGroup", "ALB security group"),
    ("CreateRepository", "ECR repository"),
    ("CreateRole", "task execution role"),
    ("CreateLogGroup", "log group"),
    ("CreateLoadBalancer", "load balancer"),
    ("CreateTargetGroup", "target group"),
    ("CreateListener", "listener"),
    ("CreateCluster", "ECS cluster"),
    ("RegisterTaskDefinition", "task definition"),
    ("CreateService", "ECS service"),
];

#[test]
fn every_step_whose_create_fails_is_reported_with_exit_1_and_a_rerun_converges() {
    for (operation, label) in CREATES {
        let env = dev_env();
        env.proxy.script(operation, 1, refusal());
        let (code, stderr) = run(&env, &["apply", "--yes"]);
        assert_eq!(code, 1, "{operation} failing: {stderr}");
        assert!(
            stderr.contains(&format!("error: {label}")) && stderr.contains("injected refusal"),
            "{operation} failing should be reported as the {label}'s: {stderr}"
        );
        // What depends on it was not attempted, and a second run finishes the stack.
        apply(&env);
    }
}

/// Each step's delete, and the label its failure is reported under.
const DELETES: &[(&str, &str)] = &[
    ("DeleteService", "ECS service"),
    ("DeregisterTaskDefinition", "task definition"),
    ("DeleteCluster", "ECS cluster"),
    ("DeleteListener", "listener"),
    ("DeleteTargetGroup", "target group"),
    ("DeleteLoadBalancer", "load balancer"),
    ("DeleteLogGroup", "log group"),
    ("DeleteRole", "task execution role"),
    ("DeleteRepository", "ECR repository"),
    ("DeleteSecurityGroup", "security group"),
];

#[test]
fn every_step_whose_delete_fails_is_reported_with_exit_1_and_a_rerun_converges() {
    let env = dev_env();
    for (operation, label) in DELETES {
        apply(&env);
        env.proxy.reset_faults();
        env.proxy.script(operation, 1, refusal());
        let (code, stderr) = run(&env, &["destroy", "--yes"]);
        assert_eq!(code, 1, "{operation} failing: {stderr}");
        assert!(
            stderr.contains(label) && stderr.contains("injected refusal"),
            "{operation} failing should be reported as the {label}'s: {stderr}"
        );
    }
    let (code, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
}

/// Reported case: an ECS cluster under the stack's name but without its tags made `plan` exit
/// 101 ("entered unreachable code: no step is skipped without a failure"), because the steps
/// skipped after the failure came before it in the order results were walked.
#[test]
fn foreign_cluster_is_reported_as_not_ours_instead_of_a_panic() {
    let env = dev_env();
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    block_on(
        ecs.create_cluster()
            .cluster_name(format!("{PREFIX}-cluster"))
            .send(),
    )
    .unwrap();
    for command in [&["plan"][..], &["apply", "--yes"]] {
        let (code, stderr) = run(&env, command);
        assert_eq!(code, 1, "{command:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "found an existing ECS cluster {PREFIX}-cluster with no tags"
            )),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("--adopt"), "{stderr}");
    }
}

/// Puts an image with `tag` into `repository` (created if need be) of the emulator's registry in
/// `region`, as `docker push` would.
fn push_image_in(env: &TestEnv, region: &str, repository: &str, tag: &str) {
    let config = aws_sdk_ecr::config::Builder::from(&env.sdk_config())
        .region(aws_sdk_ecr::config::Region::new(region.to_owned()))
        .build();
    let ecr = aws_sdk_ecr::Client::from_conf(config);
    // Already there after an earlier push: that is fine.
    let _ = block_on(ecr.create_repository().repository_name(repository).send());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": format!("sha256:{:0>64}", tag.len()),
        },
        "layers": [],
    });
    block_on(
        ecr.put_image()
            .repository_name(repository)
            .image_manifest(manifest.to_string())
            .image_tag(tag)
            .send(),
    )
    .unwrap();
}

/// Reported case: `apply --image` with an image pushed to another region's registry than the
/// stack's exited 3 "is not in ECR; push it first", because the image was looked up in the
/// stack's region. It is looked up in its own registry's region now.
#[test]
fn a_valid_image_is_refused() {
    const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let env = dev_env();
    push_image_in(&env, "us-east-1", "shared/app", "v7");
    let pushed = format!("{REGISTRY}/shared/app:v7");
    let unpushed = format!("{REGISTRY}/shared/app:v8");

    // Before the stack exists, and once it does: a tag that is not there is refused, naming the
    // image, before any change.
    let refuse_unpushed = |env: &TestEnv| {
        env.proxy.clear();
        let (code, stderr) = run(env, &["apply", "--yes", "--image", &unpushed]);
        assert_eq!(code, 3, "{stderr}");
        assert!(
            stderr.contains(&format!("image {unpushed} is not in ECR")),
            "{stderr}"
        );
        assert_eq!(env.proxy.mutating_calls(), []);
    };
    refuse_unpushed(&env);

    let (code, stderr) = run(&env, &["apply", "--yes", "--image", &pushed]);
    assert_eq!(code, 0, "{stderr}");
    let stack = Stack::read(&env);
    let images: Vec<&str> = stack
        .task_definitions
        .iter()
        .flat_map(|t| t.container_definitions())
        .filter_map(|c| c.image())
        .collect();
    assert_eq!(images, [pushed.as_str()]);

    refuse_unpushed(&env);

    // Another account's registry cannot be looked into: said, and the deploy goes on.
    let foreign = "210987654321.dkr.ecr.us-east-1.amazonaws.com/shared/app:v7";
    env.proxy.clear();
    let (code, stderr) = run(&env, &["apply", "--yes", "--image", foreign]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: image {foreign} is in the registry of account 210987654321"
        )),
        "{stderr}"
    );
    assert_eq!(env.proxy.count("DescribeImages"), 0, "{stderr}");
}
