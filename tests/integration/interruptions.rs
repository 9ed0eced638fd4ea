//! Runs that end badly: killed at any point, interrupted, or racing another run on the same
//! environment. The state file must always parse, a re-run must converge with no duplicate and
//! nothing leaked, and a second run must never go ahead while one is under way.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::lifecycle::{apply, assert_complete_stack, dev_env, offline_dev_env};
use crate::stack::Stack;
use crate::support::{Fault, TestEnv};

/// Starts `deployer <args>` in the background.
pub(crate) fn start(env: &TestEnv, args: &[&str]) -> Child {
    env.deployer_process()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the proxy has seen `calls` AWS calls; panics if the run ends before that, since
/// whatever the caller does next (kill it, signal it, race it) must happen while it runs.
pub(crate) fn wait_for_calls(env: &TestEnv, child: &mut Child, calls: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.proxy.calls().len() < calls {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the run ended ({status}) after {} calls, before the {calls} waited for: {:?}",
                env.proxy.calls().len(),
                env.proxy.operations()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the run never reached {calls} calls"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGKILL's number on every Unix.
#[cfg(unix)]
const SIGKILL: i32 = 9;

/// Kills the run with SIGKILL and proves that the kill landed: the run was still going when it
/// was sent (killing a child that has already exited also returns `Ok`), and it died of it.
#[cfg(unix)]
fn kill_while_running(child: &mut Child, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    if let Some(status) = child.try_wait().unwrap() {
        panic!("{what}: the run had already ended ({status}) when it was to be killed");
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(SIGKILL),
        "{what}: the run was not killed, it ended with {status}"
    );
}

/// How many AWS calls an uninterrupted run of `args` makes.
fn calls_of_a_whole_run(env: &TestEnv, args: &[&str]) -> usize {
    env.proxy.clear();
    env.deployer().args(args).assert().success();
    env.proxy.calls().len()
}

/// `count` kill points spread evenly over a run of `total` calls, from after its first call to
/// before its last: the run always has a call left to make when it is killed.
fn kill_points(total: usize, count: usize) -> Vec<usize> {
    assert!(
        count >= 2 && total > count,
        "{count} points in {total} calls"
    );
    let last = total - 1;
    (0..count)
        .map(|i| 1 + i * (last - 1) / (count - 1))
        .collect()
}

/// The state file, if any, must parse.
fn assert_state_parses(env: &TestEnv) {
    let path = env.dir.path().join(".deployer/dev.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let state: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("state does not parse after a crash: {e}\n{text}"));
        assert_eq!(state["version"], serde_json::json!(1));
    }
}

#[cfg(unix)]
#[test]
fn killed_at_any_point_of_apply_or_destroy_a_rerun_converges() {
    let env = dev_env();
    // Each call takes a little while, so the kill lands between calls and inside them.
    env.proxy.set_latency(Duration::from_millis(15));
    // The kill points come from the real length of each run, measured here uninterrupted.
    let apply_calls = calls_of_a_whole_run(&env, &["apply", "--yes"]);
    assert_complete_stack(&env, &Stack::read(&env));
    // A destroy polls until the service is gone, so its length may vary a little: the last
    // kill point keeps a margin below the shortest of two runs.
    let destroy_calls = calls_of_a_whole_run(&env, &["destroy", "--yes"]);
    apply(&env);
    let destroy_calls = destroy_calls.min(calls_of_a_whole_run(&env, &["destroy", "--yes"])) - 1;
    assert_eq!(Stack::read(&env).leftovers(), Vec::<String>::new());
    let apply_points = kill_points(apply_calls, 9);
    let destroy_points = kill_points(destroy_calls, 9);
    eprintln!(
        "apply: {apply_calls} calls, killed after {apply_points:?}; \
         destroy: {destroy_calls}+ calls, killed after {destroy_points:?}"
    );

    for (kill_apply, kill_destroy) in apply_points.into_iter().zip(destroy_points) {
        env.proxy.clear();
        let mut child = start(&env, &["apply", "--yes"]);
        wait_for_calls(&env, &mut child, kill_apply);
        kill_while_running(
            &mut child,
            &format!("apply killed after {kill_apply} calls"),
        );
        assert_state_parses(&env);

        apply(&env);
        assert_complete_stack(&env, &Stack::read(&env));

        env.proxy.clear();
        let mut child = start(&env, &["destroy", "--yes"]);
        wait_for_calls(&env, &mut child, kill_destroy);
        kill_while_running(
            &mut child,
            &format!("destroy killed after {kill_destroy} calls"),
        );
        assert_state_parses(&env);

        env.deployer().args(["destroy", "--yes"]).assert().success();
        assert_eq!(
            Stack::read(&env).leftovers(),
            Vec::<String>::new(),
            "apply killed after {kill_apply} calls, destroy after {kill_destroy}"
        );
    }
}

#[test]
fn a_second_run_fails_fast_while_one_holds_the_lock() {
    let env = dev_env();
    env.proxy.set_latency(Duration::from_millis(100));
    let mut first = start(&env, &["apply", "--yes"]);
    wait_for_calls(&env, &mut first, 2);

    let started = Instant::now();
    for args in [&["apply", "--yes"][..], &["destroy", "--yes"][..]] {
        let output = env.deployer().args(args).assert().code(1);
        let stderr = String::from_utf8_lossy(&output.get_output().stderr);
        assert!(
            stderr.contains(&format!(
                "locked by `deployer apply` (pid {} on host",
                first.id()
            )),
            "{stderr}"
        );
        assert!(stderr.contains("force-unlock"), "{stderr}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the second run must not wait"
    );

    let status = first.wait().unwrap();
    assert!(status.success());
    env.proxy.set_latency(Duration::ZERO);
    assert_complete_stack(&env, &Stack::read(&env));
    // The lock is gone with its holder.
    assert!(!env.dir.path().join(".deployer/dev.lock").exists());
}

#[test]
fn force_unlock_removes_a_lock_left_elsewhere() {
    let env = offline_dev_env();
    let lock = env.dir.path().join(".deployer/dev.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(
        &lock,
        r#"{"pid": 1, "host": "ci-runner-7", "started_at": 0, "command": "apply"}"#,
    )
    .unwrap();
    let output = env.deployer().args(["apply", "--yes"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(stderr.contains("on host ci-runner-7"), "{stderr}");
    assert_eq!(env.proxy.calls(), [], "a locked run calls nothing");

    env.deployer().arg("force-unlock").assert().success();
    assert!(!lock.exists(), "force-unlock must remove the lock");
    // Unlocked, the next run goes ahead: it reaches AWS (which this environment refuses).
    let output = env.deployer().args(["apply", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("locked by"), "{stderr}");
    assert_ne!(
        env.proxy.calls(),
        [],
        "the unlocked run goes ahead: {stderr}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_saves_the_state_explains_and_exits_130() {
    let env = dev_env();
    env.proxy.set_latency(Duration::from_millis(60));
    let mut child = start(&env, &["apply", "--yes"]);
    // Past the reads, into the creates.
    wait_for_calls(&env, &mut child, 14);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before the signal"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stderr.contains("records everything completed"), "{stderr}");
    assert_state_parses(&env);
    // Everything made before the signal is in the state: a re-run creates only the rest.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap(),
    )
    .unwrap();
    let recorded = state["resources"].as_object().unwrap().len();
    assert!(recorded > 0 && recorded < 11, "{state:#}");
    env.proxy.set_latency(Duration::ZERO);
    env.proxy.clear();
    apply(&env);
    let creates = env
        .proxy
        .mutating_calls()
        .iter()
        .filter(|c| c.operation.starts_with("Create") || c.operation == "RegisterTaskDefinition")
        .count();
    assert!(
        creates <= 11 - recorded,
        "re-created something already made"
    );
    assert_complete_stack(&env, &Stack::read(&env));
}

/// Reported case: Ctrl-C was ignored while the replaced target group was being deleted at the
/// end of an apply, which waits up to `timeouts.resource_release` for ELB to let go of it.
#[cfg(unix)]
#[test]
fn ctrl_c_ignored_during_final_old_target_group_deletion() {
    let env = dev_env();
    apply(&env);
    env.write_config("dev", &crate::trust::with_container_port(8080));
    // ELB keeps saying the old target group is in use, as it does while it still holds it.
    env.proxy.script(
        "DeleteTargetGroup",
        10_000,
        Fault::error(
            400,
            "ResourceInUse",
            "Target group 'arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/simhill-dev-tg/0123456789abcdef' is currently in use by a listener or a rule",
        ),
    );
    let mut child = start(&env, &["apply", "--yes"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while env.proxy.count("DeleteTargetGroup") < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the deletion was retried"
        );
        assert!(Instant::now() < deadline, "the deletion was never retried");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted while deleting the replaced target group")
            && stderr.contains("the next `deployer apply`"),
        "{stderr}"
    );
    assert_state_parses(&env);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.dir.path().join(".deployer/dev.json")).unwrap(),
    )
    .unwrap();
    assert!(
        state["retiring"]["target_group"].is_object(),
        "still recorded as retiring: {state:#}"
    );

    // ELB has let go: the next apply deletes it, and the stack has one target group.
    env.proxy.reset_faults();
    apply(&env);
    let stack = Stack::read(&env);
    assert_eq!(stack.target_groups.len(), 1, "{:?}", stack.target_groups);
    assert_eq!(
        (
            stack.target_groups[0].target_group_name(),
            stack.target_groups[0].port()
        ),
        (Some("simhill-dev-tg-b"), Some(8080))
    );
    crate::lifecycle::assert_converged(&env);
}
