//! The S3 backend: a state and a lock that several machines share. Two runners (two working
//! directories) deploy one environment through one bucket on the emulator: exactly one goes ahead,
//! the other names it, or waits for it with `--lock-timeout`; a state written by another run
//! between read and write is never overwritten, whether it was the first state or a later one; `state init` is idempotent; `state migrate`
//! round-trips; `outputs` reads the bucket with one call; a killed run's lock is reported and
//! cleared by `force-unlock`.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::interruptions::wait_for_calls;
use crate::lifecycle::{assert_complete_stack, DEV_TOML};
use crate::stack::Stack;
use crate::support::proxy::SentRequest;
use crate::support::{block_on, TestEnv, REGION};

const BUCKET: &str = "team-deployer-state";
const STATE_KEY: &str = "deployer/simhill/dev.json";
const LOCK_KEY: &str = "deployer/simhill/dev.lock";
const STATE_URL: &str = "s3://team-deployer-state/deployer/";

/// The shipped configuration, keeping its state in the team's bucket.
fn s3_toml() -> String {
    format!("{DEV_TOML}\n[state]\nbackend = \"s3\"\nbucket = \"{BUCKET}\"\n")
}

/// A test environment whose `envs/dev.toml` uses the S3 backend, with the bucket set up by
/// `deployer state init`.
fn s3_env() -> TestEnv {
    let env = TestEnv::start();
    env.write_config("dev", &s3_toml());
    env.deployer()
        .args(["state", "init", "--bucket", BUCKET])
        .assert()
        .success();
    env
}

/// A second working directory (another runner) with the same configuration.
fn runner_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("deployer-runner-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("envs")).unwrap();
    std::fs::write(dir.path().join("envs/dev.toml"), s3_toml()).unwrap();
    dir
}

fn start_in(env: &TestEnv, dir: &Path, args: &[&str]) -> Child {
    env.deployer_process()
        .current_dir(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn s3(env: &TestEnv) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&env.sdk_config())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The object's text, `None` when there is none.
pub fn object(env: &TestEnv, key: &str) -> Option<String> {
    let client = s3(env);
    block_on(async {
        match client.get_object().bucket(BUCKET).key(key).send().await {
            Ok(output) => {
                let bytes = output.body.collect().await.unwrap().into_bytes();
                Some(String::from_utf8(bytes.to_vec()).unwrap())
            }
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => None,
            Err(e) => panic!("GetObject {key}: {e:?}"),
        }
    })
}

fn put_object(env: &TestEnv, key: &str, body: &str) {
    let client = s3(env);
    block_on(
        client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.as_bytes().to_vec().into())
            .send(),
    )
    .unwrap();
}

/// Polls until the lock object exists; panics if `child` ends first.
fn wait_for_lock(env: &TestEnv, child: &mut Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(text) = object(env, LOCK_KEY) {
            return serde_json::from_str(&text).unwrap();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its lock was seen");
        }
        assert!(Instant::now() < deadline, "the lock never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn two_runners_sharing_an_s3_backend_one_proceeds_the_other_names_it_or_waits() {
    let env = s3_env();
    let second = runner_dir();
    env.proxy.clear();
    env.proxy.set_latency(Duration::from_millis(40));
    let mut first = start_in(&env, env.dir.path(), &["apply", "--yes"]);
    let holder = wait_for_lock(&env, &mut first);
    assert_eq!(holder["pid"], json!(first.id()));
    assert_eq!(holder["command"], json!("apply"));

    // The other runner fails at once, naming the holder, and changes nothing.
    let refused = env
        .deployer_process()
        .current_dir(second.path())
        .args(["apply", "--yes"])
        .output()
        .unwrap();
    let stderr = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "locked by `deployer apply` (pid {} on host",
            first.id()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("ago"), "the age of the lock: {stderr}");
    assert!(stderr.contains("force-unlock"), "{stderr}");
    assert!(!second.path().join(".deployer").exists(), "{stderr}");

    // With --lock-timeout it waits for the first and then goes ahead.
    let waiting = start_in(
        &env,
        second.path(),
        &["apply", "--yes", "--lock-timeout", "300"],
    );
    let first_output = first.wait_with_output().unwrap();
    assert!(
        first_output.status.success(),
        "{}",
        stderr_of(&first_output)
    );
    let waited = waiting.wait_with_output().unwrap();
    let stderr = stderr_of(&waited);
    assert!(waited.status.success(), "{stderr}");
    assert!(stderr.contains("waiting up to 300s"), "{stderr}");
    env.proxy.set_latency(Duration::ZERO);

    // One state, in the bucket, that both runners see; no lock left; nothing local.
    assert_eq!(object(&env, LOCK_KEY), None, "the lock was left behind");
    let state: Value = serde_json::from_str(&object(&env, STATE_KEY).unwrap()).unwrap();
    assert!(state["outputs"]["alb_dns_name"].is_string(), "{state:#}");
    assert!(!env.dir.path().join(".deployer/dev.json").exists());
    assert_complete_stack(&env, &Stack::read(&env));
    for dir in [env.dir.path(), second.path()] {
        let plan = env
            .deployer_process()
            .current_dir(dir)
            .args(["plan", "--detailed-exitcode"])
            .output()
            .unwrap();
        assert_eq!(plan.status.code(), Some(0), "{}", stderr_of(&plan));
    }
    assert_s3_calls_allowed_by_the_policy(&env);
}

/// Every S3 call the runs made is granted by `deployer iam-policy` of the S3-backed
/// configuration, on the environment's two objects only.
fn assert_s3_calls_allowed_by_the_policy(env: &TestEnv) {
    let output = env.deployer().arg("iam-policy").assert().success();
    let policy: Value = serde_json::from_slice(&output.get_output().stdout).unwrap();
    let statement = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "StateObjects")
        .unwrap_or_else(|| panic!("no StateObjects statement: {policy:#}"));
    assert_eq!(
        statement["Resource"],
        json!([
            format!("arn:aws:s3:::{BUCKET}/{STATE_KEY}"),
            format!("arn:aws:s3:::{BUCKET}/{LOCK_KEY}"),
        ])
    );
    let granted: Vec<&str> = statement["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let called: std::collections::BTreeSet<String> = env
        .proxy
        .calls()
        .iter()
        .filter(|c| c.service == "s3")
        .map(|c| format!("s3:{}", c.operation))
        .collect();
    assert!(!called.is_empty());
    for action in &called {
        assert!(
            granted.contains(&action.as_str()),
            "{action} not in {granted:?}"
        );
    }
}

/// A state an earlier run wrote, with a marker in its outputs.
fn state_with_marker(marker: &str) -> String {
    json!({
        "version": 1,
        "project": "simhill",
        "environment": "dev",
        "region": REGION,
        "outputs": { "alb_dns_name": marker },
    })
    .to_string()
}

/// The ETag of the object, as S3 has it now.
fn etag(env: &TestEnv, key: &str) -> String {
    let client = s3(env);
    let head = block_on(client.head_object().bucket(BUCKET).key(key).send()).unwrap();
    head.e_tag().unwrap().to_owned()
}

/// Runs an apply during which, once it holds its lock and has read the state, another run (whose
/// lock was force-unlocked) writes `theirs`; checks that the apply stopped because S3 refused its
/// write (one `PutObject` answered 412), that `theirs` is there as written and that the lock was
/// released. Returns the refused request.
fn apply_while_another_run_writes(env: &TestEnv, theirs: &str) -> SentRequest {
    env.proxy.clear();
    env.proxy.set_latency(Duration::from_millis(150));
    let mut run = start_in(env, env.dir.path(), &["apply", "--yes"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !env.proxy.operations().iter().any(|op| op == "s3:GetObject") {
        assert!(Instant::now() < deadline, "{:?}", env.proxy.operations());
        assert!(run.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
    put_object(env, STATE_KEY, theirs);

    let output = run.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the state s3://{BUCKET}/{STATE_KEY} was changed by another run"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("it was not overwritten"), "{stderr}");
    assert_eq!(object(env, STATE_KEY).as_deref(), Some(theirs));
    // The write was refused by S3's condition, not skipped.
    let mut refused: Vec<SentRequest> = env
        .proxy
        .requests("PutObject")
        .into_iter()
        .filter(|r| r.call.status == 412)
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", env.proxy.calls());
    // The run's lock was released all the same.
    assert_eq!(object(env, LOCK_KEY), None);
    refused.remove(0)
}

#[test]
fn a_state_written_by_another_run_between_read_and_write_is_never_overwritten() {
    let env = s3_env();
    let refused =
        apply_while_another_run_writes(&env, &state_with_marker("written-by-another-run"));
    // There was no state to read: the write was one where none may exist.
    assert_eq!(refused.header("if-none-match"), Some("*"));
}

#[test]
fn a_later_write_with_a_stale_etag_is_refused_and_the_newer_state_kept() {
    let env = s3_env();
    // A state exists: this run's writes are conditional on the version it reads (If-Match), not
    // on there being none.
    put_object(
        &env,
        STATE_KEY,
        &state_with_marker("written-by-an-earlier-run"),
    );
    let read_etag = etag(&env, STATE_KEY);
    let refused =
        apply_while_another_run_writes(&env, &state_with_marker("written-by-another-run"));
    // S3 refused the write by its condition: the ETag the run had read.
    assert_eq!(
        refused.header("if-match").map(|e| e.trim_matches('"')),
        Some(read_etag.trim_matches('"')),
        "{:?}",
        refused.headers
    );
    assert_eq!(refused.header("if-none-match"), None);
}

#[test]
fn state_init_twice_is_a_no_op_and_sets_the_bucket_up() {
    let env = s3_env();
    let first: Vec<String> = env
        .proxy
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert!(first.contains(&"CreateBucket".to_owned()), "{first:?}");
    env.proxy.clear();
    let output = env
        .deployer()
        .args(["state", "init", "--bucket", BUCKET])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(stderr.contains("nothing changed"), "{stderr}");
    assert_eq!(
        env.proxy.mutating_calls(),
        [],
        "a second init only reads: {:?}",
        env.proxy.operations()
    );

    let client = s3(&env);
    block_on(async {
        let versioning = client
            .get_bucket_versioning()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        assert_eq!(
            versioning.status().map(|s| s.as_str()),
            Some("Enabled"),
            "{versioning:?}"
        );
        let block = client
            .get_public_access_block()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let block = block.public_access_block_configuration().unwrap();
        assert_eq!(
            (
                block.block_public_acls(),
                block.ignore_public_acls(),
                block.block_public_policy(),
                block.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );
        let encryption = client
            .get_bucket_encryption()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let rule = &encryption
            .server_side_encryption_configuration()
            .unwrap()
            .rules()[0];
        assert_eq!(
            rule.apply_server_side_encryption_by_default()
                .unwrap()
                .sse_algorithm()
                .as_str(),
            "AES256"
        );
        let policy = client
            .get_bucket_policy()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
        assert_eq!(policy["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
            "false"
        );
    });

    // With a KMS key the default encryption becomes SSE-KMS, once.
    env.proxy.clear();
    env.deployer()
        .args([
            "state",
            "init",
            "--bucket",
            BUCKET,
            "--kms-key-id",
            "alias/deployer-state",
        ])
        .assert()
        .success();
    assert_eq!(
        env.proxy.count("PutBucketEncryption"),
        1,
        "{:?}",
        env.proxy.operations()
    );
    env.proxy.clear();
    env.deployer()
        .args([
            "state",
            "init",
            "--bucket",
            BUCKET,
            "--kms-key-id",
            "alias/deployer-state",
        ])
        .assert()
        .success();
    assert_eq!(
        env.proxy.mutating_calls(),
        [],
        "{:?}",
        env.proxy.operations()
    );
}

/// A recorded state of the dev environment, as a finished apply leaves it (without resources,
/// so that it needs no stack).
fn recorded_state() -> Value {
    json!({
        "version": 1,
        "project": "simhill",
        "environment": "dev",
        "region": REGION,
        "updated_at": 1,
        "resources": {},
        "outputs": {
            "alb_dns_name": "simhill-dev-alb-1.eu-central-1.elb.amazonaws.com",
            "ecs_cluster_name": "simhill-dev-cluster",
        },
    })
}

#[test]
fn migrate_round_trips_and_outputs_reads_the_bucket_with_one_call() {
    let env = TestEnv::start();
    env.write_config("dev", DEV_TOML);
    env.deployer()
        .args(["state", "init", "--bucket", BUCKET])
        .assert()
        .success();
    let local = env.dir.path().join(".deployer/dev.json");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(&local, recorded_state().to_string()).unwrap();

    env.deployer()
        .args(["state", "migrate", "--to", STATE_URL, "--yes"])
        .assert()
        .success();
    assert!(!local.exists(), "the local copy stays behind");
    let moved: Value = serde_json::from_str(&object(&env, STATE_KEY).unwrap()).unwrap();
    assert_eq!(moved["outputs"], recorded_state()["outputs"]);
    assert_eq!(object(&env, LOCK_KEY), None, "migrate left its lock");

    // From a fresh directory that has only the configuration: one GetObject, nothing else.
    let fresh = runner_dir();
    env.proxy.clear();
    let output = env
        .deployer_process()
        .current_dir(fresh.path())
        .args(["outputs", "alb_dns_name"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "simhill-dev-alb-1.eu-central-1.elb.amazonaws.com"
    );
    assert_eq!(env.proxy.operations(), ["s3:GetObject"]);
    // `state show` prints the same state.
    let output = env
        .deployer_process()
        .current_dir(fresh.path())
        .args(["state", "show"])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["outputs"], recorded_state()["outputs"]);

    // And back: the same state in the local file, nothing left in the bucket.
    env.deployer()
        .args([
            "state", "migrate", "--state", STATE_URL, "--to", "local", "--yes",
        ])
        .assert()
        .success();
    let back: Value = serde_json::from_str(&std::fs::read_to_string(&local).unwrap()).unwrap();
    for key in ["project", "environment", "region", "resources", "outputs"] {
        assert_eq!(back[key], recorded_state()[key], "{key}");
    }
    assert_eq!(object(&env, STATE_KEY), None);
    env.proxy.clear();
    env.deployer()
        .args(["outputs", "ecs_cluster_name"])
        .assert()
        .success();
    assert_eq!(env.proxy.calls(), [], "the local backend calls nothing");
}

#[test]
fn migrate_never_overwrites_a_different_state_at_the_destination() {
    let env = s3_env();
    put_object(&env, STATE_KEY, &recorded_state().to_string());
    let local = env.dir.path().join(".deployer/dev.json");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    let mut other = recorded_state();
    other["outputs"]["alb_dns_name"] = json!("another");
    std::fs::write(&local, other.to_string()).unwrap();
    let output = env
        .deployer()
        .args([
            "state", "migrate", "--state", "local", "--to", STATE_URL, "--yes",
        ])
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("already holds a different state"),
        "{stderr}"
    );
    assert!(local.exists());
    assert_eq!(object(&env, STATE_KEY), Some(recorded_state().to_string()));
}

#[cfg(unix)]
#[test]
fn stale_s3_lock_of_a_dead_process_on_the_same_host_needed_force_unlock() {
    let env = s3_env();
    env.proxy.set_latency(Duration::from_millis(20));
    env.proxy.clear();
    let mut child = start_in(&env, env.dir.path(), &["apply", "--yes"]);
    wait_for_lock(&env, &mut child);
    // Into the creates.
    wait_for_calls(&env, &mut child, 20);
    child.kill().unwrap();
    child.wait().unwrap();
    env.proxy.set_latency(Duration::ZERO);
    let holder: Value = serde_json::from_str(&object(&env, LOCK_KEY).unwrap()).unwrap();
    assert_eq!(holder["pid"], json!(child.id()));

    // The killed run was a process of this host that is gone: its lock is taken over.
    env.proxy.clear();
    let output = env.deployer().args(["apply", "--yes"]).assert().success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "taking over the lock of `deployer apply` (pid {} on host",
            child.id()
        )),
        "{stderr}"
    );
    assert_eq!(object(&env, LOCK_KEY), None);
    assert_complete_stack(&env, &Stack::read(&env));

    // A lock of another host (a runner that may still be going) is reported, not taken.
    put_object(
        &env,
        LOCK_KEY,
        r#"{"pid": 4242, "host": "ci-runner-elsewhere", "started_at": 0, "command": "apply"}"#,
    );
    env.proxy.clear();
    let output = env.deployer().args(["apply", "--yes"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(
        stderr.contains("locked by `deployer apply` (pid 4242 on host ci-runner-elsewhere"),
        "{stderr}"
    );
    assert!(stderr.contains("started 20"), "the lock's age: {stderr}");
    // Only the refused lock write and the read of its holder.
    assert_eq!(env.proxy.operations(), ["s3:PutObject", "s3:GetObject"]);

    let output = env.deployer().arg("force-unlock").assert().success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(stderr.contains("Removed the lock of dev"), "{stderr}");
    assert_eq!(object(&env, LOCK_KEY), None);

    env.deployer().args(["apply", "--yes"]).assert().success();
    assert_complete_stack(&env, &Stack::read(&env));
    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
    assert_eq!(object(&env, LOCK_KEY), None);

    // A no-op apply with the S3 backend costs three calls more than with the local one: the lock
    // written and deleted, the state read; the state is not written when nothing changed.
    env.proxy.clear();
    env.deployer().args(["apply", "--yes"]).assert().success();
    let operations = env.proxy.operations();
    let s3: Vec<&String> = operations.iter().filter(|o| o.starts_with("s3:")).collect();
    assert_eq!(
        s3,
        ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
        "{operations:?}"
    );
    assert!(operations.len() <= 15 + 3, "{operations:?}");
}
