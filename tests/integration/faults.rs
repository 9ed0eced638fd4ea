//! AWS is slow and flaky where the emulator is not. The proxy injects AWS's own failures —
//! throttling, 5xx, dropped answers, and the errors AWS gives while something settles — and the
//! deployer must converge anyway: no failed run, no duplicate, nothing left behind; or, when the
//! time budget runs out, a clear message and exit code 5.

use crate::lifecycle::{apply, assert_complete_stack, dev_env, DEV_TOML};
use crate::stack::Stack;
use crate::support::{Fault, TestEnv};

fn destroy(env: &TestEnv) -> String {
    let output = env.deployer().args(["destroy", "--yes"]).assert().success();
    String::from_utf8_lossy(&output.get_output().stderr).into_owned()
}

fn converges_under_random_faults(seed: u64) {
    let env = dev_env();
    env.proxy.set_random_faults(seed, 0.15);
    apply(&env);
    env.proxy.reset_faults();
    assert_complete_stack(&env, &Stack::read(&env));
    let injected = env.proxy.faulted_calls().len();
    assert!(injected > 0, "seed {seed} injected no fault");

    env.proxy.clear();
    env.proxy.set_random_faults(seed, 0.15);
    destroy(&env);
    assert!(
        !env.proxy.faulted_calls().is_empty(),
        "seed {seed}: no fault in destroy"
    );
    env.proxy.reset_faults();
    assert_eq!(
        Stack::read(&env).leftovers(),
        Vec::<String>::new(),
        "seed {seed}"
    );
}

#[test]
fn random_faults_seed_1() {
    converges_under_random_faults(1);
}

#[test]
fn random_faults_seed_2() {
    converges_under_random_faults(2);
}

#[test]
fn random_faults_seed_3() {
    converges_under_random_faults(3);
}

/// Every create's answer is lost once, after AWS applied it: the retry must adopt what the lost
/// attempt made instead of failing or making a second one.
#[test]
fn lost_create_answers_leave_no_duplicates() {
    let env = dev_env();
    let creates = [
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "CreateRepository",
        "CreateRole",
        "CreateLogGroup",
        "CreateLoadBalancer",
        "CreateTargetGroup",
        "CreateListener",
        "CreateCluster",
        "RegisterTaskDefinition",
        "CreateService",
    ];
    for operation in creates {
        env.proxy.script(operation, 1, Fault::DropAfterForward);
    }
    apply(&env);
    for operation in creates {
        let dropped = env
            .proxy
            .calls()
            .iter()
            .filter(|c| c.operation == operation && c.fault.as_deref() == Some("DropAfterForward"))
            .count();
        assert_eq!(dropped, 1, "{operation} was not dropped");
    }
    assert_complete_stack(&env, &Stack::read(&env));
    // And the next run agrees that nothing is left to do.
    env.proxy.clear();
    apply(&env);
    assert_eq!(env.proxy.mutating_calls(), []);
}

const ASSUME_ROLE: &str = "Unable to assume role and validate the specified targetGroupArn. \
     Please verify that the ECS service role being passed has the proper permissions.";

#[test]
fn new_role_not_yet_usable_is_waited_for() {
    let env = dev_env();
    env.proxy.script(
        "RegisterTaskDefinition",
        2,
        Fault::error(
            400,
            "ClientException",
            "Role is not valid: not authorized to perform iam:PassRole",
        ),
    );
    env.proxy.script(
        "CreateService",
        2,
        Fault::error(400, "InvalidParameterException", ASSUME_ROLE),
    );
    env.proxy.script(
        "CreateRole",
        1,
        Fault::error(
            400,
            "MalformedPolicyDocument",
            "Invalid principal in policy",
        ),
    );
    let stderr = apply(&env);
    assert!(stderr.contains("waiting: creating ECS service"), "{stderr}");
    assert!(
        stderr.contains("waiting: registering task definition"),
        "{stderr}"
    );
    assert_eq!(env.proxy.count("CreateService"), 3);
    assert_eq!(env.proxy.count("RegisterTaskDefinition"), 3);
    assert_eq!(env.proxy.count("CreateRole"), 2);
    assert_complete_stack(&env, &Stack::read(&env));
}

#[test]
fn target_group_without_load_balancer_yet_is_waited_for() {
    let env = dev_env();
    env.proxy.script(
        "CreateService",
        1,
        Fault::error(
            400,
            "InvalidParameterException",
            "The target group with targetGroupArn arn:aws:elasticloadbalancing:x does not have \
             an associated load balancer.",
        ),
    );
    apply(&env);
    assert_eq!(env.proxy.count("CreateService"), 2);
    assert_complete_stack(&env, &Stack::read(&env));
}

#[test]
fn resources_still_in_use_during_destroy_are_waited_for() {
    let env = dev_env();
    apply(&env);
    env.proxy.clear();
    env.proxy.script(
        "DeleteSecurityGroup",
        3,
        Fault::error(
            400,
            "DependencyViolation",
            "resource sg-1 has a dependent object",
        ),
    );
    env.proxy.script(
        "DeleteTargetGroup",
        2,
        Fault::error(
            400,
            "ResourceInUse",
            "Target group is currently in use by a listener",
        ),
    );
    env.proxy.script(
        "DeleteCluster",
        2,
        Fault::error(
            400,
            "ClusterContainsServicesException",
            "The Cluster cannot be deleted while Services are active.",
        ),
    );
    let stderr = destroy(&env);
    assert!(
        stderr.contains("waiting: deleting security group"),
        "{stderr}"
    );
    assert!(
        stderr.contains("waiting: deleting target group"),
        "{stderr}"
    );
    assert!(stderr.contains("waiting: deleting ECS cluster"), "{stderr}");
    assert_eq!(env.proxy.count("DeleteSecurityGroup"), 2 + 3);
    assert_eq!(env.proxy.count("DeleteTargetGroup"), 1 + 2);
    assert_eq!(env.proxy.count("DeleteCluster"), 1 + 2);
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

#[test]
fn exhausted_budget_is_a_clear_timeout() {
    let env = TestEnv::start();
    let config = DEV_TOML.replace("resource_release = 1200", "resource_release = 2");
    assert_ne!(config, DEV_TOML);
    env.write_config("dev", &config);
    apply(&env);
    env.proxy.script(
        "DeleteSecurityGroup",
        1000,
        Fault::error(
            400,
            "DependencyViolation",
            "resource has a dependent object",
        ),
    );
    let output = env.deployer().args(["destroy", "--yes"]).assert().code(5);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("gave up deleting security group sg-"),
        "{stderr}"
    );
    assert!(
        stderr.contains("raise timeouts.resource_release (now 2s)"),
        "{stderr}"
    );
    // What could be deleted was, and the state still lists what is left.
    let state = std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let left: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(
        left,
        ["alb_security_group", "ecs_security_group"],
        "{state:#}"
    );
    assert_eq!(
        state["outputs"],
        serde_json::json!({}),
        "outputs of a half-destroyed stack are gone"
    );
}
