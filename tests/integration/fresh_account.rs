//! The first `apply` and `destroy` on a fresh account, where AWS is slower than the emulator: the
//! service-linked roles ECS creates on first use, security groups and clusters not yet visible to
//! the next service, a destroy interrupted while the service drains, denied calls and credentials
//! that expire during a long wait. The proxy gives AWS's own answers; the runs must converge, or
//! stop with a message that says what to do.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::lifecycle::{apply, assert_complete_stack, dev_env};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, Fault, TestEnv};

fn destroy(env: &TestEnv) -> String {
    let output = env.deployer().args(["destroy", "--yes"]).assert().success();
    String::from_utf8_lossy(&output.get_output().stderr).into_owned()
}

#[test]
fn first_cluster_on_a_new_account_waits_for_the_service_linked_role() {
    let env = dev_env();
    env.proxy.script(
        "CreateCluster",
        2,
        Fault::error(
            400,
            "InvalidParameterException",
            "Unable to assume the service linked role. Please verify that the ECS service linked \
             role exists.",
        ),
    );
    let stderr = apply(&env);
    assert!(stderr.contains("waiting: creating ECS cluster"), "{stderr}");
    assert_eq!(env.proxy.count("CreateCluster"), 3);
    assert_complete_stack(&env, &Stack::read(&env));
}

#[test]
fn new_security_groups_and_cluster_not_yet_visible_are_waited_for() {
    let env = dev_env();
    env.proxy.script(
        "AuthorizeSecurityGroupIngress",
        1,
        Fault::error(
            400,
            "InvalidGroup.NotFound",
            "The security group 'sg-0a1b2c3d4e5f60718' does not exist",
        ),
    );
    env.proxy.script(
        "CreateLoadBalancer",
        1,
        Fault::error(
            400,
            "InvalidSecurityGroup",
            "The security group 'sg-0a1b2c3d4e5f60718' does not exist",
        ),
    );
    env.proxy.script(
        "CreateService",
        1,
        Fault::error(400, "ClusterNotFoundException", "Cluster not found."),
    );
    env.proxy.script(
        "CreateService",
        1,
        Fault::error(
            400,
            "InvalidParameterException",
            "Error retrieving security group information for [sg-0a1b2c3d4e5f60718]: The \
             security group 'sg-0a1b2c3d4e5f60718' does not exist (Service: AmazonEC2; Status \
             Code: 400; Error Code: InvalidGroup.NotFound)",
        ),
    );
    let stderr = apply(&env);
    assert!(
        stderr.contains("waiting: adding ingress rules to security group"),
        "{stderr}"
    );
    assert!(
        stderr.contains("waiting: creating load balancer"),
        "{stderr}"
    );
    assert!(stderr.contains("waiting: creating ECS service"), "{stderr}");
    // Two groups get an ingress rule each; one of them waited once.
    assert_eq!(env.proxy.count("AuthorizeSecurityGroupIngress"), 3);
    assert_eq!(env.proxy.count("CreateLoadBalancer"), 2);
    assert_eq!(env.proxy.count("CreateService"), 3);
    assert_complete_stack(&env, &Stack::read(&env));
}

/// A destroy was interrupted after `DeleteService`: the next apply finds the service DRAINING,
/// waits until it is INACTIVE, and creates it again.
#[test]
fn apply_after_an_interrupted_destroy_waits_for_the_draining_service() {
    let env = dev_env();
    apply(&env);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let stack = Stack::read(&env);
    let service = &stack.services[0];
    block_on(
        ecs.delete_service()
            .cluster(service.cluster_arn().unwrap())
            .service(service.service_name().unwrap())
            .force(true)
            .send(),
    )
    .unwrap();
    // ECS lists the deleted service as DRAINING for a while.
    let described = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&described);
    env.proxy
        .set_rewriter("DescribeServices", move |answer: &mut Value| {
            if seen.fetch_add(1, Ordering::SeqCst) < 4 {
                // The emulator forgets a deleted service at once.
                answer["services"] = json!([{
                    "serviceName": format!("{PREFIX}-service"),
                    "status": "DRAINING",
                }]);
                answer["failures"] = json!([]);
            }
        });
    // And one CreateService that comes too early is refused.
    env.proxy.script(
        "CreateService",
        1,
        Fault::error(
            400,
            "InvalidParameterException",
            "Unable to Start a service that is still Draining.",
        ),
    );
    env.proxy.clear();
    let stderr = apply(&env);
    assert!(
        stderr.contains("waiting: waiting for ECS service"),
        "{stderr}"
    );
    assert!(described.load(Ordering::SeqCst) >= 5, "{stderr}");
    assert_eq!(env.proxy.count("CreateService"), 2, "{stderr}");
    env.proxy.reset_faults();
    assert_complete_stack(&env, &Stack::read(&env));
}

#[test]
fn delete_service_while_deployments_are_active_is_retried() {
    let env = dev_env();
    apply(&env);
    env.proxy.clear();
    env.proxy.script(
        "DeleteService",
        2,
        Fault::error(
            400,
            "InvalidParameterException",
            "The service cannot be stopped while deployments are active.",
        ),
    );
    let stderr = destroy(&env);
    assert!(stderr.contains("waiting: deleting ECS service"), "{stderr}");
    assert_eq!(env.proxy.count("DeleteService"), 3);
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

#[test]
fn access_denied_points_at_the_printed_policy() {
    for (operation, code) in [
        ("CreateSecurityGroup", "UnauthorizedOperation"),
        ("CreateRole", "AccessDenied"),
        ("CreateCluster", "AccessDeniedException"),
    ] {
        let env = dev_env();
        env.proxy.script(
            operation,
            1,
            Fault::error(
                403,
                code,
                "User: arn:aws:sts::123456789012:assumed-role/ci/1 is not authorized to perform \
                 this operation",
            ),
        );
        let output = env.deployer().args(["apply", "--yes"]).assert().code(1);
        let stderr = String::from_utf8_lossy(&output.get_output().stderr);
        assert!(stderr.contains(code), "{operation}: {stderr}");
        assert!(
            stderr.contains("`deployer iam-policy --env <env>` prints every permission"),
            "{operation}: {stderr}"
        );
    }
}

#[test]
fn expired_credentials_during_a_wait_say_what_to_do() {
    let env = dev_env();
    apply(&env);
    // The session ends while destroy waits for the security group's network interfaces.
    env.proxy.script(
        "DeleteSecurityGroup",
        1,
        Fault::error(
            400,
            "DependencyViolation",
            "resource has a dependent object",
        ),
    );
    env.proxy.script(
        "DeleteSecurityGroup",
        1,
        Fault::error(
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
    );
    let output = env.deployer().args(["destroy", "--yes"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("The AWS credentials expired before the run finished (ExpiredToken)"),
        "{stderr}"
    );
    assert!(stderr.contains("longer session"), "{stderr}");
    assert!(stderr.contains("timeouts.*"), "{stderr}");

    // The JSON services' code, in the rollout's wait.
    env.proxy.script(
        "DescribeServices",
        1,
        Fault::error(
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
    );
    let output = env.deployer().args(["status"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("credentials expired before the run finished (ExpiredTokenException)"),
        "{stderr}"
    );
}

/// IAM answers `DeleteConflict` for a while after the last policy was detached: the delete is
/// tried again, after looking for inline policies added by hand.
#[test]
fn role_deletion_waits_out_delete_conflicts() {
    let env = dev_env();
    apply(&env);
    env.proxy.clear();
    env.proxy.script(
        "DeleteRole",
        2,
        Fault::error(
            409,
            "DeleteConflict",
            "Cannot delete entity, must detach all policies first.",
        ),
    );
    let stderr = destroy(&env);
    assert!(stderr.contains("waiting: deleting IAM role"), "{stderr}");
    assert_eq!(env.proxy.count("DeleteRole"), 3, "{stderr}");
    assert_eq!(env.proxy.count("ListRolePolicies"), 2, "{stderr}");
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}

/// Puts role `role` in a new instance profile, as someone trying the role on EC2 would.
pub fn hold_in_instance_profile(iam: &aws_sdk_iam::Client, role: &str) {
    block_on(async {
        iam.create_instance_profile()
            .instance_profile_name("tried-on-ec2")
            .send()
            .await
            .unwrap();
        iam.add_role_to_instance_profile()
            .instance_profile_name("tried-on-ec2")
            .role_name(role)
            .send()
            .await
            .unwrap();
    });
}

/// IAM refuses to delete a role an instance profile holds ("Cannot delete entity, must remove
/// roles from instance profile first."): the role is taken out of the profile, which stays.
#[test]
fn role_held_by_an_instance_profile_is_removed_from_it_before_deletion() {
    let env = dev_env();
    apply(&env);
    let iam = aws_sdk_iam::Client::new(&env.sdk_config());
    let role = format!("{PREFIX}-ecs-task-execution-role");
    hold_in_instance_profile(&iam, &role);
    env.proxy.clear();
    let stderr = destroy(&env);
    assert_eq!(
        env.proxy.count("RemoveRoleFromInstanceProfile"),
        1,
        "{stderr}"
    );
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
    let profile = block_on(
        iam.get_instance_profile()
            .instance_profile_name("tried-on-ec2")
            .send(),
    )
    .unwrap();
    assert_eq!(profile.instance_profile().unwrap().roles(), &[]);
}

/// A stack deployed for years has hundreds of task definition revisions. Destroy deregisters
/// them a few at a time, so AWS's throttling of some calls costs the SDK's retry quota little.
#[test]
fn a_stack_with_300_revisions_destroys_under_throttling() {
    let env = dev_env();
    apply(&env);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let stack = Stack::read(&env);
    let first = &stack.task_definitions[0];
    let arn = first.task_definition_arn().unwrap();
    let tags = block_on(ecs.list_tags_for_resource().resource_arn(arn).send())
        .unwrap()
        .tags()
        .to_vec();
    for _ in 0..299 {
        block_on(
            ecs.register_task_definition()
                .family(first.family().unwrap())
                .set_container_definitions(Some(first.container_definitions().to_vec()))
                .set_requires_compatibilities(Some(first.requires_compatibilities().to_vec()))
                .set_network_mode(first.network_mode().cloned())
                .set_cpu(first.cpu().map(str::to_owned))
                .set_memory(first.memory().map(str::to_owned))
                .set_execution_role_arn(first.execution_role_arn().map(str::to_owned))
                .set_tags(Some(tags.clone()))
                .send(),
        )
        .unwrap();
    }
    env.proxy.clear();
    env.proxy
        .script("DeregisterTaskDefinition", 40, Fault::Throttle);
    let stderr = destroy(&env);
    let throttled = env
        .proxy
        .calls()
        .iter()
        .filter(|c| c.operation == "DeregisterTaskDefinition" && c.fault.is_some())
        .count();
    assert_eq!(throttled, 40, "{stderr}");
    assert_eq!(env.proxy.count("DeregisterTaskDefinition"), 300 + 40);
    // Every revision's tags are checked but the one the plan read with its tags.
    let ecs_tag_reads = env
        .proxy
        .calls()
        .iter()
        .filter(|c| c.service == "ecs" && c.operation == "ListTagsForResource")
        .count();
    assert_eq!(ecs_tag_reads, 299, "{stderr}");
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}
