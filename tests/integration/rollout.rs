//! CI deploys: `--image-tag` ships an image with one new revision and one `UpdateService`; the
//! run follows *its* deployment and exits 0 only when ECS completed it, 4 when ECS rolled it back
//! or its tasks keep stopping, 5 when it does not finish in time. The emulator runs no tasks, so
//! the proxy rewrites ECS's answers into the rollouts that matter.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::lifecycle::{apply, dev_env, DEV_TOML};
use crate::stack::{Stack, PREFIX};
use crate::support::{block_on, TestEnv};

/// Puts an image with `tag` into the stack's ECR repository, as `docker push` would: an image
/// of its own for each tag.
pub fn push_image(env: &TestEnv, tag: &str) -> String {
    push_build(env, tag, tag)
}

/// Pushes a build named `build` (each build is another image, with another digest) as `tag`;
/// returns its digest (`sha256:...`).
pub fn push_build(env: &TestEnv, tag: &str, build: &str) -> String {
    let ecr = aws_sdk_ecr::Client::new(&env.sdk_config());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{:0>64}", build.len())},
        "layers": [],
        "annotations": {"build": build}
    });
    let pushed = block_on(
        ecr.put_image()
            .repository_name(format!("{PREFIX}-ecr"))
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

fn run(env: &TestEnv, args: &[&str]) -> (i32, String) {
    let output = env.deployer().args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn repository_url(stack: &Stack) -> String {
    stack.repositories[0].repository_uri().unwrap().to_owned()
}

#[test]
fn image_tag_deploys_one_revision_with_one_update_service() {
    let env = dev_env();
    apply(&env);
    let digest = push_image(&env, "v2");
    env.proxy.clear();
    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "v2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.proxy.count("RegisterTaskDefinition"), 1);
    assert_eq!(env.proxy.count("UpdateService"), 1);
    let writes: Vec<String> = env
        .proxy
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(writes, ["RegisterTaskDefinition", "UpdateService"]);

    let stack = Stack::read(&env);
    let image = format!("{}@{digest}", repository_url(&stack));
    let service = &stack.services[0];
    let running = stack
        .task_definitions
        .iter()
        .find(|t| t.task_definition_arn() == service.task_definition())
        .unwrap();
    assert_eq!(
        running.container_definitions()[0].image(),
        Some(image.as_str())
    );

    // The revision records it (and the state caches it): the next plain apply keeps it
    // instead of reverting.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["image_override"]["image"], json!(image));
    assert_eq!(state.get("task_definition_history"), None);
    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), []);
}

#[test]
fn missing_image_stops_before_any_change() {
    let env = dev_env();
    apply(&env);
    env.proxy.clear();
    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "not-pushed"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(":not-pushed is not in ECR; push it first"),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), []);

    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "bad tag!"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("--image-tag \"bad tag!\" is not a valid tag"),
        "{stderr}"
    );
}

#[test]
fn image_tag_before_the_repository_exists_is_a_clear_error() {
    let env = dev_env();
    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "v1"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("does not exist yet"), "{stderr}");
    assert_eq!(env.proxy.mutating_calls(), []);
}

/// One poll's worth of the new deployment, as ECS would describe it.
#[derive(Clone)]
struct Frame {
    rollout: &'static str,
    reason: &'static str,
    running: i32,
    pending: i32,
    failed: i32,
    event: Option<&'static str>,
}

const NEW: &str = "ecs-svc/1111111111111111111";
const OLD: &str = "ecs-svc/0000000000000000000";

fn deployment(id: &str, status: &str, frame: &Frame) -> Value {
    json!({
        "id": id,
        "status": status,
        "desiredCount": 2,
        "pendingCount": frame.pending,
        "runningCount": frame.running,
        "failedTasks": frame.failed,
        "rolloutState": frame.rollout,
        "rolloutStateReason": frame.reason,
        "taskDefinition": "arn:aws:ecs:eu-central-1:123456789012:task-definition/simhill-dev-task:2",
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Makes ECS describe the deployment that `UpdateService` starts as `frames`, one per
/// `DescribeServices` after it (the last one repeating). Returns how many polls were answered.
fn script_rollout(env: &TestEnv, frames: Vec<Frame>) -> Arc<AtomicUsize> {
    let started = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(AtomicUsize::new(0));
    let first = frames[0].clone();
    let flag = started.clone();
    env.proxy
        .set_rewriter("UpdateService", move |answer: &mut Value| {
            answer["service"]["deployments"] = json!([
                deployment(NEW, "PRIMARY", &first),
                deployment(
                    OLD,
                    "ACTIVE",
                    &Frame {
                        rollout: "COMPLETED",
                        reason: "",
                        running: 2,
                        pending: 0,
                        failed: 0,
                        event: None
                    }
                ),
            ]);
            flag.store(true, Ordering::SeqCst);
        });
    let counter = polls.clone();
    env.proxy
        .set_rewriter("DescribeServices", move |answer: &mut Value| {
            if !started.load(Ordering::SeqCst) {
                return;
            }
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let frame = &frames[n.min(frames.len() - 1)];
            let service = &mut answer["services"][0];
            let mut deployments = vec![deployment(NEW, "PRIMARY", frame)];
            if frame.rollout != "COMPLETED" {
                deployments.push(deployment(
                    OLD,
                    "ACTIVE",
                    &Frame {
                        rollout: "COMPLETED",
                        reason: "",
                        running: 2,
                        pending: 0,
                        failed: 0,
                        event: None,
                    },
                ));
            }
            service["deployments"] = json!(deployments);
            let events: Vec<Value> = frames[..=n.min(frames.len() - 1)]
                .iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    f.event.map(
                        |m| json!({"id": format!("event-{i}"), "createdAt": now(), "message": m}),
                    )
                })
                .rev()
                .collect();
            service["events"] = json!(events);
        });
    polls
}

fn frame(rollout: &'static str, running: i32, pending: i32, failed: i32) -> Frame {
    Frame {
        rollout,
        reason: "",
        running,
        pending,
        failed,
        event: None,
    }
}

/// Deploys v2 with the rollout scripted; returns the exit code and stderr.
fn deploy_v2(env: &TestEnv, frames: Vec<Frame>, extra: &[&str]) -> (i32, String, usize) {
    apply(env);
    push_image(env, "v2");
    let polls = script_rollout(env, frames);
    let mut args = vec!["apply", "--yes", "--image-tag", "v2"];
    args.extend_from_slice(extra);
    let (code, stderr) = run(env, &args);
    (code, stderr, polls.load(Ordering::SeqCst))
}

#[test]
fn successful_rollout_is_followed_to_completion() {
    let env = dev_env();
    let (code, stderr, polls) = deploy_v2(
        &env,
        vec![
            Frame {
                event: Some("(service simhill-dev-service) has started 2 tasks"),
                ..frame("IN_PROGRESS", 0, 2, 0)
            },
            frame("IN_PROGRESS", 1, 1, 0),
            frame("COMPLETED", 2, 0, 0),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(polls, 3);
    assert!(
        stderr.contains("rollout: 0/2 running, 2 pending, 0 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rollout: 1/2 running, 1 pending, 0 failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("event: (service simhill-dev-service) has started 2 tasks"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("deployment {NEW} completed")),
        "{stderr}"
    );
    assert!(stderr.contains("targets: none registered yet"), "{stderr}");
}

#[test]
fn rolled_back_deployment_fails_with_the_reason_and_exit_4() {
    let env = dev_env();
    let reason = "ECS deployment circuit breaker: tasks failed to start.";
    let (code, stderr, _) = deploy_v2(
        &env,
        vec![
            frame("IN_PROGRESS", 0, 2, 1),
            Frame { reason, event: Some("(service simhill-dev-service) rolling back to deployment ecs-svc/0000000000000000000"), ..frame("FAILED", 0, 0, 2) },
        ],
        &[],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains(&format!("deployment {NEW} failed: {reason}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("event: (service simhill-dev-service) rolling back"),
        "{stderr}"
    );
}

#[test]
fn deployment_that_never_finishes_times_out_with_exit_5() {
    let env = dev_env();
    let (code, stderr, _) = deploy_v2(
        &env,
        vec![frame("IN_PROGRESS", 1, 1, 0)],
        &["--timeout", "3"],
    );
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("did not complete within 3s (1/2 running, 1 pending)"),
        "{stderr}"
    );
    assert!(stderr.contains("deployer status"), "{stderr}");
}

#[test]
fn tasks_that_keep_stopping_fail_fast_with_their_reasons() {
    let env = dev_env();
    let task =
        |n: usize| format!("arn:aws:ecs:eu-central-1:123456789012:task/{PREFIX}-cluster/{n:032}");
    let listed = Arc::new(AtomicUsize::new(0));
    let stopped = listed.clone();
    env.proxy
        .set_rewriter("ListTasks", move |answer: &mut Value| {
            let n = stopped.fetch_add(1, Ordering::SeqCst) + 1;
            answer["taskArns"] = json!((0..n.min(3)).map(task).collect::<Vec<_>>());
        });
    env.proxy.set_rewriter("DescribeTasks", move |answer: &mut Value| {
        answer["tasks"] = json!((0..3)
            .map(|n| json!({
                "taskArn": task(n),
                "lastStatus": "STOPPED",
                "stoppedReason": "Essential container in task exited",
                "containers": [{"name": "app", "exitCode": 3, "reason": "ModuleNotFoundError: No module named 'hello'"}],
            }))
            .collect::<Vec<_>>());
    });
    let (code, stderr, _) = deploy_v2(
        &env,
        vec![
            frame("IN_PROGRESS", 0, 2, 1),
            frame("IN_PROGRESS", 0, 2, 2),
            frame("IN_PROGRESS", 0, 2, 3),
        ],
        &[],
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("task stopped: Essential container in task exited; app exited 3: ModuleNotFoundError: No module named 'hello'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("new tasks keep stopping (3 so far)"),
        "{stderr}"
    );
}

#[test]
fn no_wait_returns_at_once() {
    let env = dev_env();
    let (code, stderr, polls) =
        deploy_v2(&env, vec![frame("IN_PROGRESS", 0, 2, 0)], &["--no-wait"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(polls, 0, "no DescribeServices after the update");
}

#[test]
fn rollback_returns_to_the_previous_revision_and_status_shows_it() {
    let env = dev_env();
    apply(&env);
    push_image(&env, "v2");
    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "v2"]);
    assert_eq!(code, 0, "{stderr}");
    let first = Stack::read(&env).task_definitions[0]
        .task_definition_arn()
        .unwrap()
        .to_owned();

    env.proxy.clear();
    let (code, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.proxy.count("UpdateService"), 1);
    let stack = Stack::read(&env);
    assert_eq!(stack.services[0].task_definition(), Some(first.as_str()));
    // The next apply keeps the rolled-back image rather than redeploying v2.
    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
    // Nothing earlier to go back to.
    let (code, stderr) = run(&env, &["rollback", "--yes"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no revision before"), "{stderr}");

    let output = env.deployer().args(["status", "--json"]).assert().success();
    let status: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    assert_eq!(status["service"], json!(format!("{PREFIX}-service")));
    assert_eq!(status["desired"], json!(2));
    assert_eq!(
        status["task_definition"],
        json!(first.rsplit('/').next().unwrap())
    );
    assert!(status["url"].as_str().unwrap().starts_with("http://"));
    let text = env.deployer().arg("status").assert().success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
    assert!(
        text.contains("Deployments:") && text.contains("URL: http://"),
        "{text}"
    );
}

/// `apply --no-wait`, then `deployer wait`: the deployment is followed to its end with `apply`'s
/// exit codes, and a wait with nothing in progress returns at once.
#[test]
fn wait_follows_a_deployment_started_without_waiting() {
    for (frames, expected) in [
        (
            vec![
                frame("IN_PROGRESS", 0, 2, 0),
                frame("IN_PROGRESS", 1, 1, 0),
                frame("COMPLETED", 2, 0, 0),
            ],
            0,
        ),
        (
            vec![
                frame("IN_PROGRESS", 0, 2, 1),
                Frame {
                    reason: "ECS deployment circuit breaker: tasks failed to start.",
                    ..frame("FAILED", 0, 0, 2)
                },
            ],
            4,
        ),
    ] {
        let env = dev_env();
        let (code, stderr, polls) = deploy_v2(&env, frames, &["--no-wait"]);
        assert_eq!((code, polls), (0, 0), "{stderr}");
        env.proxy.clear();
        let (code, stderr) = run(&env, &["wait", "--timeout", "60"]);
        assert_eq!(code, expected, "{stderr}");
        assert_eq!(env.proxy.mutating_calls(), [], "wait changes nothing");
        assert!(stderr.contains(&format!("deployment {NEW}")), "{stderr}");
    }
    let env = dev_env();
    apply(&env);
    let (code, stderr) = run(&env, &["wait"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("nothing to wait for"), "{stderr}");
}

/// The service's PRIMARY deployment and revision, as ECS lists them now.
fn primary(env: &TestEnv) -> (String, String) {
    let stack = Stack::read(env);
    let service = &stack.services[0];
    let deployment = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id())
        .unwrap()
        .to_owned();
    (deployment, service.task_definition().unwrap().to_owned())
}

/// `deployer restart` and `apply --force-new-deployment`: one `UpdateService` that starts a new
/// deployment of the revision the service runs; no new revision.
#[test]
fn restart_starts_one_new_deployment_of_the_same_revision() {
    let env = dev_env();
    apply(&env);
    for command in [
        &["restart", "--yes"][..],
        &["apply", "--yes", "--force-new-deployment"],
    ] {
        let (deployment, revision) = primary(&env);
        env.proxy.clear();
        let (code, stderr) = run(&env, command);
        assert_eq!(code, 0, "{command:?}: {stderr}");
        let writes: Vec<String> = env
            .proxy
            .mutating_calls()
            .iter()
            .map(|c| c.operation.clone())
            .collect();
        assert_eq!(writes, ["UpdateService"], "{command:?}: {stderr}");
        let (new_deployment, new_revision) = primary(&env);
        assert_ne!(
            new_deployment, deployment,
            "{command:?} started no deployment"
        );
        assert_eq!(new_revision, revision, "{command:?} changed the revision");
    }
}

/// ECS's reads lag its writes: the first polls after `UpdateService` may not list the service,
/// or list it without the new deployment. That is not a rollback.
#[test]
fn a_deployment_not_listed_yet_is_polled_again_not_called_rolled_back() {
    let env = dev_env();
    apply(&env);
    push_image(&env, "v2");
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    env.proxy
        .set_rewriter("UpdateService", move |answer: &mut Value| {
            answer["service"]["deployments"] =
                json!([deployment(NEW, "PRIMARY", &frame("IN_PROGRESS", 0, 2, 0))]);
            flag.store(true, Ordering::SeqCst);
        });
    let polls = Arc::new(AtomicUsize::new(0));
    let counter = polls.clone();
    env.proxy
        .set_rewriter("DescribeServices", move |answer: &mut Value| {
            if !started.load(Ordering::SeqCst) {
                return;
            }
            match counter.fetch_add(1, Ordering::SeqCst) {
                // The service itself is not listed yet.
                0 => answer["services"] = json!([]),
                // Then only with the deployment before this one.
                1 => {
                    answer["services"][0]["deployments"] =
                        json!([deployment(OLD, "PRIMARY", &frame("COMPLETED", 2, 0, 0))])
                }
                _ => {
                    answer["services"][0]["deployments"] =
                        json!([deployment(NEW, "PRIMARY", &frame("COMPLETED", 2, 0, 0))])
                }
            }
        });
    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "v2"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(polls.load(Ordering::SeqCst), 3, "{stderr}");
    assert!(
        stderr.contains(&format!("deployment {NEW} completed")),
        "{stderr}"
    );
}

/// Tasks stopped because ECS could not assume the execution role yet, each at `stopped_at`.
fn stop_tasks_for_the_role(env: &TestEnv) {
    let task =
        |n: usize| format!("arn:aws:ecs:eu-central-1:123456789012:task/{PREFIX}-cluster/{n:032}");
    let listed = Arc::new(AtomicUsize::new(0));
    let stopped = listed.clone();
    env.proxy
        .set_rewriter("ListTasks", move |answer: &mut Value| {
            let n = stopped.fetch_add(1, Ordering::SeqCst) + 1;
            answer["taskArns"] = json!((0..n.min(3)).map(task).collect::<Vec<_>>());
        });
    env.proxy.set_rewriter("DescribeTasks", move |answer: &mut Value| {
        answer["tasks"] = json!((0..3)
            .map(|n| json!({
                "taskArn": task(n),
                "lastStatus": "STOPPED",
                "stoppedAt": now(),
                "stoppedReason": format!(
                    "ECS was unable to assume the role 'arn:aws:iam::123456789012:role/{PREFIX}-ecs-task-execution-role' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role."
                ),
            }))
            .collect::<Vec<_>>());
    });
}

/// Three tasks stop, then the deployment completes.
fn role_frames() -> Vec<Frame> {
    vec![
        frame("IN_PROGRESS", 0, 2, 1),
        frame("IN_PROGRESS", 0, 2, 2),
        frame("IN_PROGRESS", 0, 2, 3),
        frame("IN_PROGRESS", 1, 1, 3),
        frame("COMPLETED", 2, 0, 3),
    ]
}

#[test]
fn launches_refused_while_a_new_role_propagates_are_waited_for_not_counted() {
    let env = dev_env();
    stop_tasks_for_the_role(&env);
    let (code, stderr, _) = deploy_v2(&env, role_frames(), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("(the new execution role is not usable yet; ECS starts another)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("deployment {NEW} completed")),
        "{stderr}"
    );
}

#[test]
fn launches_refused_long_after_the_role_was_made_count_as_failures() {
    let env = TestEnv::start();
    let config = DEV_TOML.replace("iam_propagation = 240", "iam_propagation = 1");
    assert_ne!(config, DEV_TOML);
    env.write_config("dev", &config);
    stop_tasks_for_the_role(&env);
    apply(&env);
    // The role is older than its propagation budget now.
    std::thread::sleep(std::time::Duration::from_secs(2));
    push_image(&env, "v2");
    script_rollout(&env, role_frames());
    let (code, stderr) = run(&env, &["apply", "--yes", "--image-tag", "v2"]);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("new tasks keep stopping (3 so far)"),
        "{stderr}"
    );
}

/// `container.image` in this account's ECR is checked like `--image-tag` when a run deploys it.
#[test]
fn a_configured_image_missing_from_this_accounts_ecr_stops_before_any_change() {
    let env = TestEnv::start();
    let image =
        |tag: &str| format!("123456789012.dkr.ecr.eu-central-1.amazonaws.com/{PREFIX}-ecr:{tag}");
    let configured = |tag: &str| {
        let config = DEV_TOML.replace(
            "946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest",
            &image(tag),
        );
        assert_ne!(config, DEV_TOML);
        config
    };
    // The first apply creates the repository the image is to be pushed to: nothing to check.
    env.write_config("dev", &configured("v1"));
    apply(&env);

    env.write_config("dev", &configured("v2"));
    env.proxy.clear();
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "container.image {} is not in ECR: repository {PREFIX}-ecr in eu-central-1 has no v2; \
             push it first",
            image("v2")
        )),
        "{stderr}"
    );
    assert_eq!(env.proxy.mutating_calls(), []);

    let digest = push_image(&env, "v2");
    let (code, stderr) = run(&env, &["apply", "--yes"]);
    assert_eq!(code, 0, "{stderr}");
    // The service runs a revision of the new image, pinned to its digest: a push of another
    // image as v2 changes nothing that runs.
    let stack = Stack::read(&env);
    let running = stack.services[0].task_definition().unwrap();
    let revision = stack
        .task_definitions
        .iter()
        .find(|t| t.task_definition_arn() == Some(running))
        .unwrap();
    let pinned = format!("123456789012.dkr.ecr.eu-central-1.amazonaws.com/{PREFIX}-ecr@{digest}");
    assert_eq!(
        revision.container_definitions()[0].image(),
        Some(pinned.as_str()),
        "the new image was deployed"
    );
    crate::rollout::push_build(&env, "v2", "another build");
    env.proxy.clear();
    let stderr = apply(&env);
    assert!(stderr.contains("No changes"), "{stderr}");
}
