//! The first deploy of a new stack from CI (`deploy.yml`): `apply --target ecr_repository`
//! creates just the repository, the first image is pushed to it, and `apply --image-tag` creates
//! the rest, running that image. `--target` (as Terraform's `-target`) converges only the named
//! steps and what they depend on; a name that is not a step is invalid input.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::lifecycle::{dev_env, offline_dev_env};
use crate::rollout::push_image;
use crate::stack::{Stack, PREFIX};
use crate::support::TestEnv;

/// The steps of the stack, as `--target` names them.
const STEPS: &str = "network, hosted_zone, given_certificate, certificate, alb_security_group, \
                     ecs_security_group, ecr_repository, execution_role, task_role, log_group, \
                     load_balancer, target_group, listener, redirect_listener, dns_records, \
                     cluster, task_definition, service, scalable_target, scaling_policies";

fn run(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let output = env.deployer().args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn state(env: &TestEnv) -> Value {
    let text = std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn keys(object: &Value) -> BTreeSet<String> {
    object.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn first_deploy_targets_the_repository_then_deploys_the_pushed_image() {
    let env = dev_env();

    // The plan of a targeted apply has the repository alone (it depends on no other step).
    let (code, stdout, stderr) = run(&env, &["plan", "--target", "ecr_repository", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["targets"], serde_json::json!(["ecr_repository"]));
    let planned: Vec<(&str, &str)> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["step"].as_str().unwrap(), r["action"].as_str().unwrap()))
        .collect();
    assert_eq!(planned, [("ecr_repository", "create")]);
    assert_eq!(plan["summary"]["create"], 1);

    env.proxy.clear();
    let (code, _, stderr) = run(&env, &["apply", "--target", "ecr_repository", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "targeted: only ecr_repository (it depends on no other step); the rest of the stack \
             is neither read nor changed"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("Apply complete: 1 created, 0 updated."),
        "{stderr}"
    );
    assert!(stderr.contains("without --target"), "{stderr}");
    // Only ECR was called, and only the repository exists.
    let services: BTreeSet<String> = env
        .proxy
        .calls()
        .iter()
        .map(|c| c.service.clone())
        .collect();
    assert_eq!(services, BTreeSet::from(["ecr".to_owned()]));
    let stack = Stack::read(&env);
    assert_eq!(
        stack.leftovers(),
        [format!("repository Some({:?})", format!("{PREFIX}-ecr"))]
    );
    // The state records what was done: the repository and its URL, nothing else.
    let recorded = state(&env);
    assert_eq!(
        keys(&recorded["resources"]),
        BTreeSet::from(["ecr_repository".to_owned()])
    );
    let url = stack.repositories[0].repository_uri().unwrap().to_owned();
    assert_eq!(
        recorded["outputs"],
        serde_json::json!({ "ecr_repository_url": url })
    );
    let (code, stdout, _) = run(&env, &["outputs", "ecr_repository_url"]);
    assert_eq!((code, stdout.trim()), (0, url.as_str()));
    // The rest of the stack is still to be made.
    let (code, _, stderr) = run(&env, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{stderr}");
    // The targeted step is done.
    let (code, stdout, stderr) = run(
        &env,
        &["plan", "--target", "ecr_repository", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("No changes: the targeted steps match the configuration."),
        "{stdout}"
    );

    // CI pushes its image, then deploys it: the whole stack is created, running that image.
    let digest = push_image(&env, "0123abc");
    let (code, _, stderr) = run(&env, &["apply", "--image-tag", "0123abc", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Deployment complete"), "{stderr}");
    let stack = Stack::read(&env);
    assert_eq!(stack.security_groups.len(), 2);
    assert_eq!(stack.repositories.len(), 1);
    assert!(stack.role.is_some());
    assert_eq!(stack.log_groups.len(), 1);
    assert_eq!(stack.load_balancers.len(), 1);
    assert_eq!(stack.target_groups.len(), 1);
    assert_eq!(stack.listeners.len(), 1);
    assert_eq!(stack.clusters.len(), 1);
    assert_eq!(stack.services.len(), 1);
    let running = stack
        .task_definitions
        .iter()
        .find(|t| t.task_definition_arn() == stack.services[0].task_definition())
        .unwrap();
    // Pinned to the digest the pushed tag had.
    let image = format!("{url}@{digest}");
    assert_eq!(
        running.container_definitions()[0].image(),
        Some(image.as_str())
    );
    let recorded = state(&env);
    assert_eq!(
        keys(&recorded["outputs"]),
        [
            "alb_dns_name",
            "alb_zone_id",
            "application_url",
            "ecr_repository_url",
            "ecs_cluster_name",
            "ecs_service_name"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect()
    );
    let (code, _, stderr) = run(&env, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn target_names_a_step_and_brings_its_dependencies() {
    let env = dev_env();
    let (code, stdout, stderr) = run(&env, &["plan", "--target", "listener"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with(
            "targeted: only listener (and what it depends on: network, hosted_zone, \
             given_certificate, certificate, alb_security_group, load_balancer, target_group)"
        ),
        "{stdout}"
    );
    for label in [
        "ALB security group",
        "load balancer",
        "target group",
        "listener",
    ] {
        assert!(stdout.contains(label), "{label}: {stdout}");
    }
    for label in ["ECR repository", "ECS cluster", "ECS service", "log group"] {
        assert!(!stdout.contains(label), "{label}: {stdout}");
    }
    assert!(
        stdout.contains("Plan: 4 to create, 0 to update, 0 to delete."),
        "{stdout}"
    );
}

#[test]
fn unknown_target_is_invalid_input_listing_the_steps() {
    let env = offline_dev_env();
    for command in [&["apply", "--yes"][..], &["plan"]] {
        let mut args = command.to_vec();
        args.extend(["--target", "ecr_repositry"]);
        let (code, _, stderr) = run(&env, &args);
        assert_eq!(code, 3, "{stderr}");
        assert_eq!(
            stderr.trim(),
            format!(
                "error: --target ecr_repositry: no step is called \"ecr_repositry\" (did you mean \
                 \"ecr_repository\"?); the steps are: {STEPS}"
            )
        );
    }
    assert_eq!(env.proxy.calls(), []);
    assert!(!env.dir.path().join(".deployer").exists());
}

#[test]
fn image_tag_with_a_target_that_leaves_out_the_service_is_refused() {
    let env = offline_dev_env();
    let (code, _, stderr) = run(
        &env,
        &[
            "apply",
            "--yes",
            "--target",
            "ecr_repository",
            "--image-tag",
            "v1",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(
            "nothing was changed: --image-tag reaches the tasks through the service, which \
             --target ecr_repository leaves out"
        ),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
}
