//! Trust: no AWS answer, file or error path reaches a panic, and a failing step is reported as
//! that step's failure. Every step's read, create and delete is made to fail in turn.

use crate::lifecycle::{apply, dev_env};
use crate::stack::PREFIX;
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
