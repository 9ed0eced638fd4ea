//! Hardening: what a fault battery found, each as the case it was found in.

use crate::lifecycle::{apply, assert_converged, dev_env};
use crate::stack::PREFIX;
use crate::support::{block_on, TestEnv};

/// Registers, as another runner would, a revision of the stack's family with the same content as
/// `revision`, with the stack's tags, and returns its ARN.
fn register_same_content(env: &TestEnv, revision: &str) -> String {
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let described = block_on(
        ecs.describe_task_definition()
            .task_definition(revision)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send(),
    )
    .unwrap();
    let definition = described.task_definition().unwrap();
    let registered = block_on(
        ecs.register_task_definition()
            .family(definition.family().unwrap())
            .set_requires_compatibilities(Some(definition.requires_compatibilities().to_vec()))
            .set_network_mode(definition.network_mode().cloned())
            .set_cpu(definition.cpu().map(str::to_owned))
            .set_memory(definition.memory().map(str::to_owned))
            .set_execution_role_arn(definition.execution_role_arn().map(str::to_owned))
            .set_container_definitions(Some(definition.container_definitions().to_vec()))
            .set_tags(Some(described.tags().to_vec()))
            .send(),
    )
    .unwrap();
    registered
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .unwrap()
        .to_owned()
}

/// Reported case: after two runners without shared state created the stack at once, each
/// later `apply` switched the service back to "its" revision: a rolling restart per run with
/// nothing changed. A running revision equal in content to the desired one is no change,
/// whatever its number.
#[test]
fn two_runners_without_shared_state_do_not_restart_the_service() {
    let env = dev_env();
    apply(&env);
    let stack = crate::stack::Stack::read(&env);
    let ours = stack.services[0].task_definition().unwrap().to_owned();
    let theirs = register_same_content(&env, &ours);
    assert_ne!(ours, theirs);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    block_on(
        ecs.update_service()
            .cluster(format!("{PREFIX}-cluster"))
            .service(format!("{PREFIX}-service"))
            .task_definition(&theirs)
            .send(),
    )
    .unwrap();

    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), [], "{stderr}");
}

/// Reported case: a task definition ARN of another family added to the state's history got the
/// stack's tags on `apply --adopt`. Only what carries the stack's names is adopted.
#[test]
fn adopt_leaves_a_revision_of_another_family_in_the_history_alone() {
    let env = dev_env();
    apply(&env);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let other = block_on(
        ecs.register_task_definition()
            .family("another-team-task")
            .container_definitions(
                aws_sdk_ecs::types::ContainerDefinition::builder()
                    .name("app")
                    .image("nginx:1.27")
                    .memory(128)
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let other = other
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .unwrap()
        .to_owned();
    let path = env.dir.path().join(".deployer/dev.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // The state's record of the revision (it kept a history of them once) names it.
    state["resources"]["task_definition"] = serde_json::json!({ "id": other, "arn": other });
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    // Also make the service run it, as a person might by hand.
    block_on(
        ecs.update_service()
            .cluster(format!("{PREFIX}-cluster"))
            .service(format!("{PREFIX}-service"))
            .task_definition(&other)
            .send(),
    )
    .unwrap();

    let output = env
        .deployer()
        .args(["apply", "--adopt", "--yes", "--no-wait"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let tags = block_on(ecs.list_tags_for_resource().resource_arn(&other).send()).unwrap();
    assert_eq!(tags.tags(), [], "{stderr}");
    let service = crate::stack::Stack::read(&env);
    assert!(
        service.services[0]
            .task_definition()
            .unwrap()
            .contains(&format!("{PREFIX}-task:")),
        "the service is back on the stack's own family"
    );
}

/// Reported case: a rule on the tasks' group admitting the container port from a prefix list was
/// invisible (`plan` said no changes, `apply` left it), and outbound rules were not read at all.
/// Every kind of peer is read in both directions, shown, and removed unless configured; AWS's
/// default outbound rule is what is configured, and a change to it is reported and repaired.
#[test]
fn security_group_rules_the_tool_could_not_see() {
    let env = dev_env();
    apply(&env);
    let stack = crate::stack::Stack::read(&env);
    let tasks = stack
        .security_group("ecs-sg")
        .group_id()
        .unwrap()
        .to_owned();
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    let list = block_on(
        ec2.create_managed_prefix_list()
            .prefix_list_name("office")
            .address_family("IPv4")
            .max_entries(5)
            .send(),
    )
    .unwrap();
    let list = list
        .prefix_list()
        .and_then(|l| l.prefix_list_id())
        .unwrap()
        .to_owned();
    let rule = |protocol: &str, port: i32| {
        aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol(protocol)
            .from_port(port)
            .to_port(port)
    };
    block_on(async {
        ec2.authorize_security_group_ingress()
            .group_id(&tasks)
            .ip_permissions(
                rule("tcp", 5000)
                    .prefix_list_ids(
                        aws_sdk_ec2::types::PrefixListId::builder()
                            .prefix_list_id(&list)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ec2.revoke_security_group_egress()
            .group_id(&tasks)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(
                        aws_sdk_ec2::types::IpRange::builder()
                            .cidr_ip("0.0.0.0/0")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        ec2.authorize_security_group_egress()
            .group_id(&tasks)
            .ip_permissions(
                rule("tcp", 443)
                    .ip_ranges(
                        aws_sdk_ec2::types::IpRange::builder()
                            .cidr_ip("10.0.0.0/8")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });

    let output = env
        .deployer()
        .args(["plan", "--detailed-exitcode"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{plan}");
    for line in [
        &format!("ingress: tcp 5000 from {list} -> (none)"),
        "egress: (none) -> all traffic to 0.0.0.0/0",
        "egress: tcp 443 to 10.0.0.0/8 -> (none)",
    ] {
        assert!(plan.contains(line), "{line:?} in {plan}");
    }

    apply(&env);
    let group = crate::stack::Stack::read(&env);
    let group = group.security_group("ecs-sg");
    assert_eq!(
        group.ip_permissions().len(),
        1,
        "{:?}",
        group.ip_permissions()
    );
    assert!(group.ip_permissions()[0].prefix_list_ids().is_empty());
    let egress = group.ip_permissions_egress();
    assert_eq!(egress.len(), 1, "{egress:?}");
    assert_eq!(egress[0].ip_protocol(), Some("-1"));
    assert_eq!(egress[0].ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
    assert_converged(&env);
}

/// Reported case: with a state file, tags removed from the stack's resources by hand were
/// invisible: `plan` and `apply` said "no changes" (the state proved ownership), while
/// `destroy` left those resources behind as "not ours". Tags that a resource's read returns
/// anyway are checked too: their loss is drift, and `apply` restores them.
#[test]
fn tags_removed_behind_the_tools_back_are_drift_and_restored() {
    let env = dev_env();
    apply(&env);
    let stack = crate::stack::Stack::read(&env);
    let keys = ["Project", "Environment", "ManagedBy"]
        .map(String::from)
        .to_vec();
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let iam = aws_sdk_iam::Client::new(&env.sdk_config());
    let ec2 = aws_sdk_ec2::Client::new(&env.sdk_config());
    block_on(async {
        ecs.untag_resource()
            .resource_arn(stack.clusters[0].cluster_arn().unwrap())
            .set_tag_keys(Some(keys.clone()))
            .send()
            .await
            .unwrap();
        iam.untag_role()
            .role_name(format!("{PREFIX}-ecs-task-execution-role"))
            .set_tag_keys(Some(keys.clone()))
            .send()
            .await
            .unwrap();
        let group = stack.security_group("ecs-sg").group_id().unwrap();
        ec2.delete_tags()
            .resources(group)
            .set_tags(Some(
                keys.iter()
                    .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build())
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    });

    let (code, plan) = crate::drift::plan_json(&env);
    assert_eq!(code, 2, "{plan}");
    let retagged: Vec<&str> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["changes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["field"] == "tags"))
        })
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        retagged,
        ["ecs_security_group", "execution_role", "cluster"],
        "{plan}"
    );

    apply(&env);
    assert_converged(&env);
    env.deployer().args(["destroy", "--yes"]).assert().success();
    assert_eq!(
        crate::stack::Stack::read(&env).leftovers(),
        Vec::<String>::new()
    );
}
