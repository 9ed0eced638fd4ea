//! AWS is the record of what runs: the tags of the revision the service runs say which image it
//! is and where it came from, and ECS keeps the revisions a rollback goes back to. So a CI
//! runner that lost `.deployer/` plans and rolls back exactly as the one that deployed, and an
//! image tag pushed again is a new deployment, pinned to its digest.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::lifecycle::{apply, dev_env, DEV_TOML};
use crate::rollout::{push_build, push_image};
use crate::stack::Stack;
use crate::support::{block_on, TestEnv};

fn run(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let output = env.deployer().args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn deploy(env: &TestEnv, tag: &str) {
    let (code, _, stderr) = run(env, &["apply", "--yes", "--image-tag", tag]);
    assert_eq!(code, 0, "{stderr}");
}

/// Deletes `.deployer/`, as a new CI runner (or an evicted cache) would not have it.
fn lose_state(env: &TestEnv) {
    let dir = env.dir.path().join(".deployer");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(!dir.exists());
}

fn repository_url(env: &TestEnv) -> String {
    Stack::read(env).repositories[0]
        .repository_uri()
        .unwrap()
        .to_owned()
}

/// The revision the service runs: its ARN, the app container's image, and its tags.
fn running(env: &TestEnv) -> (String, String, BTreeMap<String, String>) {
    let stack = Stack::read(env);
    let arn = stack.services[0].task_definition().unwrap().to_owned();
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    let answer = block_on(
        ecs.describe_task_definition()
            .task_definition(&arn)
            .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
            .send(),
    )
    .unwrap();
    let image = answer.task_definition().unwrap().container_definitions()[0]
        .image()
        .unwrap()
        .to_owned();
    let tags = answer
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_owned(),
                t.value().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (arn, image, tags)
}

/// Issue 12, situation 1: CI deployed `--image-tag v2`, then `v3`, and the runner lost
/// `.deployer/`. A plain `plan` (even one for an unrelated change) showed the configured image
/// replacing v3, and `apply` shipped it.
#[test]
fn lost_state_does_not_roll_production_back() {
    let env = dev_env();
    apply(&env);
    push_image(&env, "v2");
    let v3 = push_image(&env, "v3");
    deploy(&env, "v2");
    deploy(&env, "v3");
    let url = repository_url(&env);

    lose_state(&env);
    let (code, stdout, stderr) = run(&env, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 0, "nothing to change:\n{stdout}\n{stderr}");

    // What AWS records: the image, pinned to its digest, and where it came from.
    let (_, image, tags) = running(&env);
    assert_eq!(image, format!("{url}@{v3}"), "v3 is pinned to its digest");
    assert_eq!(tags["ImageSource"], "override");
    assert_eq!(tags["RequestedImage"], format!("{url}:v3"));
    let configured = "946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest";
    assert_eq!(tags["ConfiguredImage"], configured);

    // An unrelated change: planned alone, without the image.
    let config = DEV_TOML.replace("desired_count = 2 ", "desired_count = 3 ");
    assert_ne!(config, DEV_TOML);
    env.write_config("dev", &config);
    let (code, stdout, stderr) = run(&env, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stdout.contains("desired_count: 2 -> 3"), "{stdout}");
    assert!(!stdout.contains("image"), "{stdout}");

    // A change that registers a revision keeps the image that runs, and where it came from.
    let config = DEV_TOML.replace("FLASK_ENV = \"production\"", "FLASK_ENV = \"staging\"");
    assert_ne!(config, DEV_TOML);
    env.write_config("dev", &config);
    lose_state(&env);
    let stderr = apply(&env);
    assert!(
        stderr.contains("FLASK_ENV=production") && !stderr.contains("image:"),
        "{stderr}"
    );
    let (_, image, tags) = running(&env);
    assert_eq!(image, format!("{url}@{v3}"));
    assert_eq!(tags["ImageSource"], "override");
    assert_eq!(tags["RequestedImage"], format!("{url}:v3"));

    // Once container.image changes, the configured image is deployed.
    let config = config.replace(configured, "nginx:1.27");
    env.write_config("dev", &config);
    lose_state(&env);
    let (code, stdout, stderr) = run(&env, &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stdout.contains(&format!("image: {url}:v3@{v3} -> nginx:1.27")),
        "{stdout}"
    );
}

/// Issue 12, situation 1 continued: on a runner without the state, `rollback` exited 3 ("no
/// revision before ... is recorded in .deployer/dev.json") although every revision was ACTIVE.
#[test]
fn rollback_without_the_state_goes_back_to_the_previous_revision() {
    let env = dev_env();
    apply(&env);
    let (first, configured_image, _) = running(&env);
    let v2 = push_image(&env, "v2");
    push_image(&env, "v3");
    deploy(&env, "v2");
    let (second, _, _) = running(&env);
    deploy(&env, "v3");
    let (third, _, tags) = running(&env);
    let url = repository_url(&env);

    lose_state(&env);
    let (code, _, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(tags["PreviousRevision"], second);
    assert!(stderr.contains(&format!("{url}:v2@{v2}")), "{stderr}");
    let (arn, image, _) = running(&env);
    assert_eq!(arn, second);
    assert_eq!(image, format!("{url}@{v2}"));
    // The rolled-back image stays: a plain apply on yet another runner changes nothing.
    lose_state(&env);
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");

    // A second rollback goes one further back, to the configured image.
    lose_state(&env);
    let (code, _, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(running(&env).0, first);
    assert_eq!(running(&env).1, configured_image);
    let (code, _, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no revision before"), "{stderr}");

    // `--to` names any ACTIVE revision.
    let number = third.rsplit(':').next().unwrap();
    env.proxy.clear();
    let (code, _, stderr) = run(&env, &["rollback", "--yes", "--to", number]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(running(&env).0, third);
    let (code, _, stderr) = run(&env, &["rollback", "--yes", "--to", "99"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no ACTIVE revision"), "{stderr}");
}

/// A rollback, then a new deploy, then another rollback goes back to the revision that ran
/// before the new deploy, not to the one rolled back from.
#[test]
fn a_rollback_after_a_rollback_and_a_deploy_skips_the_revision_rolled_back_from() {
    let env = dev_env();
    apply(&env);
    for tag in ["v2", "v3", "v4"] {
        push_image(&env, tag);
    }
    deploy(&env, "v2");
    let (good, _, _) = running(&env);
    deploy(&env, "v3");
    let (code, _, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    deploy(&env, "v4");
    lose_state(&env);
    let (code, _, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(running(&env).0, good);
}

/// The UpdateService calls that pointed the service at a new revision: the deployments.
fn deployments(env: &TestEnv) -> usize {
    env.proxy.count("UpdateService")
}

/// Issue 12, situation 2: `latest` deployed, a new image pushed as `latest`, and
/// `apply --image-tag latest` said "No changes": the old image kept running.
#[test]
fn a_re_pushed_tag_is_a_new_deployment() {
    let env = dev_env();
    apply(&env);
    let url = repository_url(&env);
    let first = push_build(&env, "latest", "build-1");
    env.proxy.clear();
    deploy(&env, "latest");
    let (one, first_image, _) = running(&env);

    let second = push_build(&env, "latest", "build-2");
    assert_ne!(first, second);
    let (code, _, stderr) = run(&env, &["apply", "--yes", "--image-tag", "latest"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("No changes"), "{stderr}");
    assert_eq!(env.proxy.count("RegisterTaskDefinition"), 2, "{stderr}");
    assert_eq!(first_image, format!("{url}@{first}"));
    assert!(
        stderr.contains(&format!(
            "image: {url}:latest@{first} -> {url}:latest@{second}"
        )),
        "{stderr}"
    );
    let (two, image, _) = running(&env);
    assert_ne!(one, two, "a new revision");
    assert_eq!(image, format!("{url}@{second}"));
    assert_eq!(env.proxy.count("RegisterTaskDefinition"), 2);
    assert_eq!(deployments(&env), 2);

    // The same digest again is no change.
    let (code, _, stderr) = run(&env, &["apply", "--yes", "--image-tag", "latest"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("No changes"), "{stderr}");
    assert_eq!(deployments(&env), 2);

    // `status` shows the image with its tag and digest, and where it came from.
    let (code, stdout, stderr) = run(&env, &["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["image"]["image"], format!("{url}@{second}"));
    assert_eq!(status["image"]["tag"], "latest");
    assert_eq!(status["image"]["digest"], second);
    assert_eq!(status["image"]["source"], "override");
    let (code, stdout, stderr) = run(&env, &["status"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Image: {url}:latest@{second} (from override (--image-tag/--image) of \
             container.image 946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest)"
        )),
        "{stdout}"
    );
}
