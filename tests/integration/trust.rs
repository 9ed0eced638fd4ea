//! Trust: no AWS answer, file or error path reaches a panic, and a failing step is reported as
//! that step's failure. Every step's read, create and delete is made to fail in turn.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::lifecycle::{apply, assert_complete_stack, assert_converged, dev_env};
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

/// Each step's read: the operation that finds it, and what the error names. A read that several
/// steps share (the two security groups; the ECS service) is reported as the first of them.
const READS: &[(&str, &str)] = &[
    ("DescribeSubnets", "reading the VPC and subnets"),
    ("DescribeSecurityGroups", "reading the ALB security group"),
    ("DescribeRepositories", "reading the ECR repository"),
    // Both roles are read with GetRole (the task role in a destroy, or when the state has one).
    ("GetRole", "reading IAM role simhill-dev-"),
    ("DescribeLogGroups", "reading the log group"),
    ("DescribeLoadBalancers", "reading the load balancer"),
    ("DescribeTargetGroups", "reading the target group"),
    ("DescribeListeners", "reading the listener"),
    ("DescribeClusters", "reading the ECS cluster"),
    ("DescribeTaskDefinition", "reading the task definition"),
    // Read once for the service and for the task definition, which compares with what runs.
    (
        "DescribeServices",
        "reading ECS service simhill-dev-service",
    ),
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
        // A second run finishes the stack, every resource as configured.
        apply(&env);
        assert_complete_stack(&env, &Stack::read(&env));
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
    ("DeleteSecurityGroup", "ECS tasks security group"),
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
            stderr.contains(&format!("error: {label}")) && stderr.contains("injected refusal"),
            "{operation} failing should be reported as the {label}'s: {stderr}"
        );
    }
    let (code, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
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

/// Reported case: another team's security group (a database's) had an inbound rule from the
/// stack's tasks group, and `destroy` waited the whole `timeouts.resource_release` (1200 s),
/// printing "still in use", then exited 5 without ever naming that group.
#[test]
fn security_group_of_another_team_referencing_ours_stops_destroy_at_once() {
    let env = dev_env();
    apply(&env);
    let stack = crate::stack::Stack::read(&env);
    let tasks_group = stack.security_group("ecs-sg");
    let tasks_group_id = tasks_group.group_id().unwrap().to_owned();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let database = block_on(
        ec2.create_security_group()
            .group_name("team-database")
            .description("another team's database")
            .vpc_id(tasks_group.vpc_id().unwrap())
            .send(),
    )
    .unwrap();
    let database_id = database.group_id().unwrap().to_owned();
    block_on(
        ec2.authorize_security_group_ingress()
            .group_id(&database_id)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(5432)
                    .to_port(5432)
                    .user_id_group_pairs(
                        aws_sdk_ec2::types::UserIdGroupPair::builder()
                            .group_id(&tasks_group_id)
                            .build(),
                    )
                    .build(),
            )
            .send(),
    )
    .unwrap();

    env.proxy.clear();
    let (code, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("security group {database_id} (team-database)"))
            && stderr.contains(&tasks_group_id),
        "the message names the group in the way: {stderr}"
    );
    // It stopped at the first refusal instead of retrying for the release budget.
    assert_eq!(env.proxy.count("DeleteSecurityGroup"), 1, "{stderr}");
    assert!(!stderr.contains("still in use"), "{stderr}");
}

/// The shipped configuration with another container port.
pub(crate) fn with_container_port(port: u16) -> String {
    crate::lifecycle::DEV_TOML.replacen("port = 5000 ", &format!("port = {port} "), 1)
}

/// The target groups each `UpdateService` answer registers the service in, in call order.
fn service_registrations(env: &TestEnv) -> Arc<Mutex<Vec<BTreeSet<String>>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    env.proxy
        .set_rewriter("UpdateService", move |answer: &mut serde_json::Value| {
            let groups = answer["service"]["loadBalancers"]
                .as_array()
                .map(|lbs| {
                    lbs.iter()
                        .filter_map(|lb| lb["targetGroupArn"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            record.lock().unwrap().push(groups);
        });
    seen
}

/// Where the first call of `operation` (`service:Operation`) stands among the calls, and the
/// last.
fn first_and_last(operations: &[String], operation: &str) -> (usize, usize) {
    let first = operations.iter().position(|o| o == operation);
    let last = operations.iter().rposition(|o| o == operation);
    match (first, last) {
        (Some(first), Some(last)) => (first, last),
        _ => panic!("{operation} was never called: {operations:?}"),
    }
}

/// What the listener forwards to.
fn forwarded_to(stack: &Stack) -> Vec<String> {
    stack.listeners[0].default_actions()[0]
        .forward_config()
        .map(|f| {
            f.target_groups()
                .iter()
                .filter_map(|t| t.target_group_arn().map(str::to_owned))
                .collect()
        })
        .filter(|groups: &Vec<String>| !groups.is_empty())
        .or_else(|| {
            stack.listeners[0].default_actions()[0]
                .target_group_arn()
                .map(|arn| vec![arn.to_owned()])
        })
        .unwrap_or_default()
}

/// The ports the tasks' security group admits.
fn tasks_ports(stack: &Stack) -> Vec<i32> {
    let mut ports: Vec<i32> = stack
        .security_group("ecs-sg")
        .ip_permissions()
        .iter()
        .filter_map(|p| p.from_port())
        .collect();
    ports.sort_unstable();
    ports
}

/// Reported case: on a running stack, `container.port` 5000 -> 8080 made `apply` move the tasks'
/// security group rule to 8080 and register a new task definition, then fail on the target
/// group ("cannot be changed in place"), leaving the load balancer unable to reach any task. A
/// field AWS cannot change in place is planned as a replacement, and the target group is
/// replaced without downtime: the new one is made beside the old, the new port is opened, the
/// service registers in both while the old keeps the traffic, the listener moves only once that
/// deployment completed, then the service leaves the old group, the old port closes and the old
/// group is deleted.
#[test]
fn port_change_replaces_the_target_group_without_downtime() {
    let env = dev_env();
    apply(&env);
    let old_group = Stack::read(&env).target_groups[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    env.write_config("dev", &with_container_port(8080));
    assert!(with_container_port(8080).contains("port = 8080 "));

    let (code, plan) = crate::drift::plan_json(&env);
    assert_eq!(code, 2);
    let target_group = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["step"] == "target_group")
        .unwrap();
    assert_eq!(target_group["action"], "replace", "{target_group}");
    assert_eq!(
        target_group["changes"][0],
        serde_json::json!({
            "field": "port", "old": "5000", "new": "8080", "forces_replacement": true
        })
    );
    assert_eq!(plan["summary"]["replace"], 1, "{}", plan["summary"]);
    let text = env.deployer().args(["plan"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("-/+ target group")
            && text.contains("port: 5000 -> 8080 (forces replacement)"),
        "{text}"
    );

    // It waits for the deployment between its steps, so it cannot be asked not to.
    env.proxy.clear();
    let (code, stderr) = run(&env, &["apply", "--yes", "--no-wait"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("without --no-wait"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");

    env.proxy.clear();
    let registrations = service_registrations(&env);
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("1 replaced"), "{stderr}");

    let after = Stack::read(&env);
    assert_eq!(after.target_groups.len(), 1, "the old target group is gone");
    let new_group = after.target_groups[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    assert_ne!(new_group, old_group);
    assert_eq!(after.target_groups[0].port(), Some(8080));
    assert_eq!(
        after.target_groups[0].target_group_name(),
        Some(format!("{PREFIX}-tg-b").as_str())
    );

    // The order that keeps the service reachable.
    let registrations = registrations.lock().unwrap().clone();
    assert_eq!(
        registrations,
        [
            BTreeSet::from([old_group.clone(), new_group.clone()]),
            BTreeSet::from([new_group.clone()]),
        ],
        "the service is first in both groups, then only in the new one"
    );
    let operations = env.proxy.operations();
    let (first_update, last_update) = first_and_last(&operations, "ecs:UpdateService");
    let (move_listener, _) = first_and_last(&operations, "elasticloadbalancing:ModifyListener");
    let (open_port, _) = first_and_last(&operations, "ec2:AuthorizeSecurityGroupIngress");
    let (close_port, _) = first_and_last(&operations, "ec2:RevokeSecurityGroupIngress");
    let (_, delete_old) = first_and_last(&operations, "elasticloadbalancing:DeleteTargetGroup");
    let (create_new, _) = first_and_last(&operations, "elasticloadbalancing:CreateTargetGroup");
    assert!(
        create_new < first_update && open_port < first_update,
        "{operations:?}"
    );
    assert!(
        first_update < move_listener,
        "traffic moves after the service: {operations:?}"
    );
    // The emulator completes a deployment at once, so order alone would pass without any wait:
    // the deployment the first update started is followed before the listener moves.
    assert!(
        operations[first_update..move_listener]
            .iter()
            .any(|o| o == "ecs:DescribeServices"),
        "the listener moves only after following the deployment: {operations:?}"
    );
    assert!(
        first_update < close_port,
        "the old port closes after the service moved: {operations:?}"
    );
    assert!(
        move_listener < delete_old && last_update < delete_old,
        "the old group goes last: {operations:?}"
    );

    // Everything is on the new group and port, and the next plan is clean.
    assert_eq!(forwarded_to(&after), vec![new_group.clone()]);
    let service = &after.services[0];
    let registered: Vec<(Option<&str>, Option<i32>)> = service
        .load_balancers()
        .iter()
        .map(|lb| (lb.target_group_arn(), lb.container_port()))
        .collect();
    assert_eq!(registered, [(Some(new_group.as_str()), Some(8080))]);
    assert_eq!(tasks_ports(&after), [8080]);
    let state = std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap();
    assert!(!state.contains("retiring"), "{state}");
    assert_converged(&env);
}

/// A replacement that fails halfway (here: moving the listener) leaves the service reachable
/// (the listener on the old group, in which the service's new tasks are registered too), and
/// the next `apply` finishes it.
#[test]
fn replacement_that_fails_halfway_keeps_the_service_reachable_and_is_finished_later() {
    let env = dev_env();
    apply(&env);
    let old_group = Stack::read(&env).target_groups[0]
        .target_group_arn()
        .unwrap()
        .to_owned();
    env.write_config("dev", &with_container_port(8080));
    env.proxy.script("ModifyListener", 1, refusal());
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("injected refusal"), "{stderr}");

    let halfway = Stack::read(&env);
    assert_eq!(
        forwarded_to(&halfway),
        vec![old_group.clone()],
        "traffic stays on the old group"
    );
    // The service completed its deployment in both groups, so the group the listener still
    // uses has the new tasks, and their port is open.
    assert_eq!(halfway.services[0].load_balancers().len(), 2);
    assert!(
        tasks_ports(&halfway).contains(&8080),
        "{:?}",
        tasks_ports(&halfway)
    );
    let state = std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap();
    assert!(state.contains("retiring"), "{state}");

    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let done = Stack::read(&env);
    assert_eq!(done.target_groups.len(), 1);
    assert_ne!(
        done.target_groups[0].target_group_arn(),
        Some(old_group.as_str())
    );
    assert_eq!(tasks_ports(&done), [8080]);
    assert_converged(&env);
}

/// Removes this stack's tags from an ELB resource and an ECS resource, as if another tool owned
/// them.
fn disown(env: &TestEnv, elb_arn: Option<&str>, ecs_arn: Option<&str>) {
    let keys = ["Project", "Environment", "ManagedBy"]
        .map(String::from)
        .to_vec();
    if let Some(arn) = elb_arn {
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config());
        block_on(
            elb.remove_tags()
                .resource_arns(arn)
                .set_tag_keys(Some(keys.clone()))
                .send(),
        )
        .unwrap();
    }
    if let Some(arn) = ecs_arn {
        let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
        block_on(
            ecs.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(keys))
                .send(),
        )
        .unwrap();
    }
}

/// `plan --destroy --json`: each step's action.
fn destroy_actions(env: &TestEnv) -> std::collections::BTreeMap<String, String> {
    let output = env
        .deployer()
        .args(["plan", "--destroy", "--json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Reported case: in a half-adopted stack `destroy` called the listener and the service "not
/// ours" and then deleted the load balancer under that listener and the cluster holding that
/// service, and its summary counted the ones it left alone as deleted.
#[test]
fn destroy_keeps_what_resources_not_ours_depend_on_and_counts_only_deletions() {
    let env = dev_env();
    apply(&env);
    let stack = crate::stack::Stack::read(&env);
    let listener = stack.listeners[0].listener_arn().unwrap().to_owned();
    let service = stack.services[0].service_arn().unwrap().to_owned();
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());

    // A service that is not ours keeps everything it runs on: its cluster, its task definition
    // and, through that, the image's repository, the role and the log group.
    disown(&env, None, Some(&service));
    let actions = destroy_actions(&env);
    assert_eq!(actions["service"], "not-ours");
    for kept in [
        "cluster",
        "task_definition",
        "ecr_repository",
        "execution_role",
        "log_group",
    ] {
        assert_eq!(actions[kept], "keep", "{kept}: {actions:?}");
    }
    let tags = crate::stack::owner_tags()
        .into_iter()
        .map(|(k, v)| aws_sdk_ecs::types::Tag::builder().key(k).value(v).build())
        .collect();
    block_on(
        ecs.tag_resource()
            .resource_arn(&service)
            .set_tags(Some(tags))
            .send(),
    )
    .unwrap();

    // A listener that is not ours keeps its load balancer (and that one's group) and its
    // target group; everything else goes.
    disown(&env, Some(&listener), None);
    let actions = destroy_actions(&env);
    assert_eq!(actions["listener"], "not-ours");
    for kept in ["load_balancer", "target_group", "alb_security_group"] {
        assert_eq!(actions[kept], "keep", "{kept}: {actions:?}");
    }
    let (code, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("Destroy complete: 7 deleted;"),
        "the summary counts what was deleted: {stderr}"
    );
    let left = crate::stack::Stack::read(&env);
    assert_eq!(left.load_balancers.len(), 1);
    assert_eq!(left.target_groups.len(), 1);
    assert_eq!(left.listeners.len(), 1);
    assert!(left.services.is_empty() && left.clusters.is_empty());
    assert!(left.repositories.is_empty() && left.role.is_none());
}

/// Reported case: `apply --adopt` re-tagged seven resources and created two before a later step
/// failed (a load balancer with another scheme). The whole plan is checked first; nothing is
/// tagged or created unless the run can finish.
#[test]
fn adopt_with_a_load_balancer_of_another_scheme_tags_nothing() {
    let env = dev_env();
    let stack_subnets = {
        let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
        let subnets = block_on(
            ec2.describe_subnets()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("default-for-az")
                        .values("true")
                        .build(),
                )
                .send(),
        )
        .unwrap();
        subnets
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    block_on(
        ecs.create_cluster()
            .cluster_name(format!("{PREFIX}-cluster"))
            .send(),
    )
    .unwrap();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&env.sdk_config());
    block_on(
        elb.create_load_balancer()
            .name(format!("{PREFIX}-alb"))
            .scheme(aws_sdk_elasticloadbalancingv2::types::LoadBalancerSchemeEnum::Internal)
            .set_subnets(Some(stack_subnets))
            .send(),
    )
    .unwrap();

    let (code, stderr) = run(&env, &["apply", "--adopt", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("scheme: internal -> internet-facing"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
}

/// Reported case: `destroy` deregistered every revision of the task family after checking the
/// tags of one. A revision someone else registered in the family is left alone, and named.
#[test]
fn destroy_checks_the_tags_of_every_task_definition_revision() {
    let env = dev_env();
    apply(&env);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let theirs = block_on(
        ecs.register_task_definition()
            .family(format!("{PREFIX}-task"))
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("theirs")
                    .image("nginx:1.27")
                    .memory(128)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let theirs = theirs
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .unwrap()
        .to_owned();

    let (code, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("left alone 1 revision(s)") && stderr.contains(&theirs),
        "{stderr}"
    );
    let described = block_on(
        ecs.describe_task_definition()
            .task_definition(&theirs)
            .send(),
    )
    .unwrap();
    assert_eq!(
        described
            .task_definition()
            .and_then(|d| d.status())
            .map(|s| s.as_str()),
        Some("ACTIVE")
    );
}

/// Puts an image with `tag` into `repository` (created if need be) of the emulator's registry in
/// `region`, as `docker push` would; returns its digest.
fn push_image_in(env: &TestEnv, region: &str, repository: &str, tag: &str) -> String {
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
    let pushed = block_on(
        ecr.put_image()
            .repository_name(repository)
            .image_manifest(manifest.to_string())
            .image_tag(tag)
            .send(),
    )
    .unwrap();
    pushed
        .image()
        .and_then(|i| i.image_id())
        .and_then(|i| i.image_digest())
        .unwrap()
        .to_owned()
}

/// Reported case: `apply --image` with an image pushed to another region's registry than the
/// stack's exited 3 "is not in ECR; push it first", because the image was looked up in the
/// stack's region. It is looked up in its own registry's region now.
#[test]
fn a_valid_image_is_refused() {
    const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let env = dev_env();
    let digest = push_image_in(&env, "us-east-1", "shared/app", "v7");
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
    // Pinned to the digest the tag points to in its own registry.
    assert_eq!(images, [format!("{REGISTRY}/shared/app@{digest}")]);

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

/// Reported case: a replacement stopped after the listener had moved to the new target group
/// and the service had left the old one (here: the old group's delete refused). The next `apply`
/// went back to the first stage and pointed the listener at the old, empty group; and its plan
/// said "No changes" while it was going to delete a target group. It now shows the deletion,
/// asks, and only finishes: no traffic moves back.
#[test]
fn replacement_stopped_in_its_last_stage_is_finished_without_moving_traffic_back() {
    let env = dev_env();
    apply(&env);
    env.write_config("dev", &with_container_port(8080));
    env.proxy.script("DeleteTargetGroup", 1, refusal());
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    let halfway = Stack::read(&env);
    let new_group = format!("{PREFIX}-tg-b");
    let new_arn = halfway
        .target_groups
        .iter()
        .find(|t| t.target_group_name() == Some(new_group.as_str()))
        .and_then(|t| t.target_group_arn())
        .unwrap()
        .to_owned();
    assert_eq!(forwarded_to(&halfway), vec![new_arn.clone()]);

    // The plan says what is left: the old group's deletion.
    let output = env
        .deployer()
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{plan}");
    assert!(
        plan.contains("- target group") && plan.contains(&format!("{PREFIX}-tg ")),
        "{plan}"
    );
    // Without --yes and without a terminal, nothing is changed.
    env.proxy.clear();
    let output = env.deployer().arg("apply").output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(env.proxy.mutating_calls(), []);

    env.proxy.clear();
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    let operations = env.proxy.operations();
    assert!(
        !operations
            .iter()
            .any(|o| o == "elasticloadbalancing:ModifyListener" || o == "ecs:UpdateService"),
        "traffic is not moved back and forth: {operations:?}"
    );
    assert!(operations
        .iter()
        .any(|o| o == "elasticloadbalancing:DeleteTargetGroup"));
    let done = Stack::read(&env);
    assert_eq!(done.target_groups.len(), 1);
    assert_eq!(forwarded_to(&done), vec![new_arn]);
    assert_converged(&env);
}

/// Reported case: `destroy` while a replacement was unfinished left the old target group
/// behind, and a second `destroy` found it.
#[test]
fn destroy_during_an_unfinished_replacement_removes_the_old_target_group_too() {
    let env = dev_env();
    apply(&env);
    env.write_config("dev", &with_container_port(8080));
    env.proxy.script("DeleteTargetGroup", 1, refusal());
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 1, "{stderr}");
    // Stopped halfway: both target groups exist.
    assert_eq!(Stack::read(&env).target_groups.len(), 2);
    let (code, stderr) = run(&env, &["destroy", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
}
