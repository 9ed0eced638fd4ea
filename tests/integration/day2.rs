//! The commands of a running stack: `logs`, `run`, `apply`'s release command and `exec`.
//!
//! The emulator runs no containers: a one-off task stays RUNNING in it, and the test decides
//! when it stops and with which exit code by rewriting `DescribeTasks` answers through the
//! proxy, after writing the task's log lines into its log stream with `PutLogEvents`, as the
//! `awslogs` driver would.

use std::io::Read;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::{json, Value};

use crate::lifecycle::{apply, dev_env, DEV_TOML};
use crate::stack::PREFIX;
use crate::support::{block_on, TestEnv, REGION};

const LOG_GROUP: &str = "simhill-dev-logs";
const CLUSTER: &str = "simhill-dev-cluster";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn logs_client(env: &TestEnv) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&env.sdk_config())
}

fn ecs_client(env: &TestEnv) -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&env.sdk_config())
}

/// Writes `lines` (time in ms, message) into `stream` of the stack's log group, creating the
/// group and the stream when missing. Straight to the emulator: not a call of the binary.
fn put_lines(env: &TestEnv, stream: &str, lines: &[(i64, &str)]) {
    let logs = logs_client(env);
    block_on(async {
        let _ = logs
            .create_log_group()
            .log_group_name(LOG_GROUP)
            .send()
            .await;
        let _ = logs
            .create_log_stream()
            .log_group_name(LOG_GROUP)
            .log_stream_name(stream)
            .send()
            .await;
        let events = lines
            .iter()
            .map(|(at, message)| {
                InputLogEvent::builder()
                    .timestamp(*at)
                    .message(*message)
                    .build()
                    .unwrap()
            })
            .collect::<Vec<_>>();
        logs.put_log_events()
            .log_group_name(LOG_GROUP)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .unwrap();
    });
}

/// Waits until `found` gives a value, failing the test after a minute.
fn wait_for<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `deployer` with its stdout and stderr collected as they come.
struct Background {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    fn start(env: &TestEnv, args: &[&str]) -> Background {
        let mut child = env
            .deployer_process()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let collect = |mut pipe: Box<dyn Read + Send>| {
            let text = Arc::new(Mutex::new(String::new()));
            let sink = text.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    sink.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            });
            text
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Background {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the process to end: its exit code, stdout and stderr.
    fn finish(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("deployer did not end; stderr:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Let the readers drain the pipes.
        std::thread::sleep(Duration::from_millis(200));
        (status.code().unwrap_or(-1), self.stdout(), self.stderr())
    }
}

/// The tasks started by `started_by` that the emulator lists (it never stops one by itself).
fn tasks_started_by(env: &TestEnv, started_by: &str) -> Vec<String> {
    let ecs = ecs_client(env);
    block_on(
        ecs.list_tasks()
            .cluster(CLUSTER)
            .started_by(started_by)
            .send(),
    )
    .map(|answer| answer.task_arns().to_vec())
    .unwrap_or_default()
}

/// The ARN of the one-off task the binary started (`startedBy`), once the emulator lists it:
/// one not in `earlier`.
fn started_task(env: &TestEnv, started_by: &str, earlier: &[String]) -> String {
    wait_for(&format!("a task started by {started_by}"), || {
        tasks_started_by(env, started_by)
            .into_iter()
            .find(|arn| !earlier.contains(arn))
    })
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

/// Makes every task `DescribeTasks` reports stop with `exit` once `stopped` is raised.
fn stop_tasks_when(env: &TestEnv, stopped: Arc<AtomicBool>, exit: Arc<AtomicI32>) {
    env.proxy
        .set_rewriter("DescribeTasks", move |answer: &mut Value| {
            if !stopped.load(Ordering::SeqCst) {
                return;
            }
            for task in answer["tasks"].as_array_mut().into_iter().flatten() {
                task["lastStatus"] = json!("STOPPED");
                task["stoppedReason"] = json!("Essential container in task exited");
                task["containers"] =
                    json!([{"name": "app", "exitCode": exit.load(Ordering::SeqCst)}]);
            }
        });
}

fn service_revision(env: &TestEnv) -> String {
    let ecs = ecs_client(env);
    let answer = block_on(
        ecs.describe_services()
            .cluster(CLUSTER)
            .services(format!("{PREFIX}-service"))
            .send(),
    )
    .unwrap();
    answer.services()[0].task_definition().unwrap().to_owned()
}

/// Starts `deployer run -- CMD`, writes the task's lines while it runs, then stops it with
/// `exit`: the binary's exit code, stdout and stderr, and the task's ARN.
fn run_task_exiting(env: &TestEnv, exit: i32, lines: &[&str]) -> (i32, String, String, String) {
    let stopped = Arc::new(AtomicBool::new(false));
    stop_tasks_when(env, stopped.clone(), Arc::new(AtomicI32::new(exit)));
    let earlier = tasks_started_by(env, "deployer-run");
    let run = Background::start(env, &["run", "--yes", "--", "flask", "db", "upgrade"]);
    let arn = started_task(env, "deployer-run", &earlier);
    let at = now_ms();
    let timed: Vec<(i64, &str)> = lines
        .iter()
        .enumerate()
        .map(|(n, line)| (at + n as i64, *line))
        .collect();
    put_lines(env, &format!("ecs/app/{}", task_id(&arn)), &timed);
    stopped.store(true, Ordering::SeqCst);
    let (code, stdout, stderr) = run.finish();
    env.proxy.clear_rewriter("DescribeTasks");
    (code, stdout, stderr, arn)
}

#[test]
fn run_passes_through_exit_codes_0_and_3_and_prints_the_logs() {
    let env = dev_env();
    apply(&env);
    let revision = service_revision(&env);

    let (code, stdout, stderr, arn) =
        run_task_exiting(&env, 0, &["Running upgrade 1a2b -> 3c4d", "done"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "Running upgrade 1a2b -> 3c4d\ndone\n", "{stderr}");
    assert!(stderr.contains("exited with code 0"), "{stderr}");

    // The task ran the service's revision, in its network, with the command replaced.
    let ecs = ecs_client(&env);
    let task = block_on(ecs.describe_tasks().cluster(CLUSTER).tasks(&arn).send()).unwrap();
    let task = &task.tasks()[0];
    assert_eq!(task.task_definition_arn(), Some(revision.as_str()));
    let container = &task.overrides().unwrap().container_overrides()[0];
    assert_eq!(container.name(), Some("app"));
    assert_eq!(container.command(), ["flask", "db", "upgrade"]);

    let (code, stdout, stderr, _) = run_task_exiting(
        &env,
        3,
        &[
            "Traceback (most recent call last):",
            "KeyError: 'DATABASE_URL'",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(stdout.contains("KeyError: 'DATABASE_URL'"), "{stdout}");
    assert!(stderr.contains("exited with code 3"), "{stderr}");
    // Nothing of the stack changed.
    assert_eq!(service_revision(&env), revision);
    assert_eq!(env.proxy.count("UpdateService"), 0);
}

#[test]
fn run_that_cannot_start_exits_125_with_the_reason() {
    let env = dev_env();
    apply(&env);
    env.proxy.set_rewriter("RunTask", |answer: &mut Value| {
        answer["tasks"] = json!([]);
        answer["failures"] =
            json!([{"reason": "RESOURCE:ENI", "detail": "no free network interfaces"}]);
    });
    let output = env
        .deployer()
        .args(["run", "--yes", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("RESOURCE:ENI (no free network interfaces)"),
        "{stderr}"
    );
    env.proxy.clear_rewriter("RunTask");

    // A task that stopped before its command ran (no exit code): 125 with ECS's reasons.
    env.proxy
        .set_rewriter("DescribeTasks", |answer: &mut Value| {
            for task in answer["tasks"].as_array_mut().into_iter().flatten() {
                task["lastStatus"] = json!("STOPPED");
                task["stoppedReason"] = json!("Task failed to start");
                task["containers"] = json!([{"name": "app", "reason": "CannotPullContainerError: pull access denied"}]);
            }
        });
    let output = env
        .deployer()
        .args(["run", "--yes", "--", "true"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains(
            "stopped before its command ran: Task failed to start; app: CannotPullContainerError"
        ),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_task_size_fargate_does_not_offer_without_calling_aws() {
    let env = crate::lifecycle::offline_dev_env();
    let output = env
        .deployer()
        .args([
            "run", "--yes", "--cpu", "256", "--memory", "4096", "--", "true",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "--memory 4096 does not go with --cpu 256 on Fargate; use one of [512, 1024, 2048]"
        ),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
}

/// The shipped configuration with a release command, and a new variable so that the next apply
/// registers a new revision.
fn with_release(version: &str) -> String {
    format!(
        "{}\n[release]\ncommand = [\"flask\", \"db\", \"upgrade\"]\n",
        DEV_TOML.replace(
            "[container.environment]",
            &format!("[container.environment]\nAPP_VERSION = \"{version}\""),
        )
    )
}

#[test]
fn failing_release_command_leaves_the_service_on_its_old_revision() {
    let env = dev_env();
    apply(&env);
    let old = service_revision(&env);

    env.write_config("dev", &with_release("2"));
    let stopped = Arc::new(AtomicBool::new(false));
    let exit = Arc::new(AtomicI32::new(1));
    stop_tasks_when(&env, stopped.clone(), exit.clone());
    let applying = Background::start(&env, &["apply", "--yes"]);
    let arn = started_task(&env, "deployer-release", &[]);
    let at = now_ms();
    put_lines(
        &env,
        &format!("ecs/app/{}", task_id(&arn)),
        &[
            (at, "INFO  [alembic] Running upgrade 1a2b -> 3c4d"),
            (
                at + 1,
                "sqlalchemy.exc.OperationalError: no such table: users",
            ),
        ],
    );
    stopped.store(true, Ordering::SeqCst);
    let (code, _, stderr) = applying.finish();
    assert_eq!(code, 6, "{stderr}");
    assert!(
        stderr.contains("release command `flask db upgrade` exited with code 1; the service stays on the revision it ran"),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("  | sqlalchemy.exc.OperationalError: no such table: users")
            .count(),
        1,
        "the error shows the task's last lines, once: {stderr}"
    );
    assert!(
        stderr.contains("release | sqlalchemy.exc.OperationalError"),
        "the lines are shown as they come: {stderr}"
    );
    // The release ran the new revision, and the service was never updated.
    let ecs = ecs_client(&env);
    let task = block_on(ecs.describe_tasks().cluster(CLUSTER).tasks(&arn).send()).unwrap();
    let released = task.tasks()[0].task_definition_arn().unwrap().to_owned();
    assert_ne!(released, old);
    assert_eq!(env.proxy.count("UpdateService"), 0);
    assert_eq!(service_revision(&env), old);

    // Once the command succeeds, the service gets the revision, after the release ran.
    env.proxy.clear();
    exit.store(0, Ordering::SeqCst);
    let output = env.deployer().args(["apply", "--yes"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Release: `flask db upgrade` succeeded."),
        "{stderr}"
    );
    let operations = env.proxy.operations();
    let run_at = operations.iter().position(|o| o == "ecs:RunTask").unwrap();
    let update_at = operations
        .iter()
        .position(|o| o == "ecs:UpdateService")
        .unwrap();
    assert!(run_at < update_at, "{operations:#?}");
    let new = service_revision(&env);
    assert_ne!(new, old);

    // No new revision, no release: a no-op apply makes no more calls than without [release].
    env.proxy.clear();
    apply(&env);
    assert_eq!(env.proxy.count("RunTask"), 0);
    assert!(
        env.proxy.calls().len() <= 15,
        "{:#?}",
        env.proxy.operations()
    );

    // --skip-release deploys a new revision without the command.
    env.write_config("dev", &with_release("3"));
    env.proxy.clear();
    env.deployer()
        .args(["apply", "--yes", "--skip-release"])
        .assert()
        .success();
    assert_eq!(env.proxy.count("RunTask"), 0);
    assert_ne!(service_revision(&env), new);
}

#[test]
fn logs_since_shows_each_line_with_its_time_and_task() {
    let env = TestEnv::start();
    env.write_config("dev", DEV_TOML);
    let now = now_ms();
    put_lines(
        &env,
        "ecs/app/task0001",
        &[
            (now - 3 * 3_600_000, "three hours ago"),
            (now - 60_000, "GET / 200"),
            (now - 30_000, "ERROR boom"),
        ],
    );
    put_lines(
        &env,
        "ecs/app/task0002",
        &[(now - 45_000, "GET /health 200")],
    );

    let logs = |args: &[&str]| -> String {
        let output = env.deployer().arg("logs").args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let recent = logs(&["--since", "10m"]);
    let lines: Vec<&str> = recent.lines().collect();
    assert_eq!(lines.len(), 3, "{recent}");
    // In time order across tasks: TIME TASK MESSAGE.
    assert!(lines[0].ends_with(" task0001 GET / 200"), "{recent}");
    assert!(lines[1].ends_with(" task0002 GET /health 200"), "{recent}");
    assert!(lines[2].ends_with(" task0001 ERROR boom"), "{recent}");
    assert!(
        lines[0].starts_with("20") && lines[0].contains('T'),
        "{recent}"
    );

    assert_eq!(logs(&["--since", "4h"]).lines().count(), 4);
    assert_eq!(
        logs(&["--since", "4h", "--task", "task0002"])
            .lines()
            .count(),
        1
    );
    let errors = logs(&["--since", "1h", "--filter", "ERROR"]);
    assert!(
        errors.trim_end().ends_with("task0001 ERROR boom"),
        "{errors}"
    );
    let json_lines = logs(&["--since", "1h", "--task", "task0002", "--json"]);
    let line: Value = serde_json::from_str(json_lines.trim()).unwrap();
    assert_eq!(line["task"], "task0002");
    assert_eq!(line["message"], "GET /health 200");
    assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");

    // Bad input: no AWS call.
    env.proxy.clear();
    let output = env
        .deployer()
        .args(["logs", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("neither a duration"));
    assert_eq!(env.proxy.calls(), []);
}

#[test]
fn logs_follow_prints_lines_written_meanwhile_once_each() {
    let env = TestEnv::start();
    env.write_config("dev", DEV_TOML);
    let now = now_ms();
    put_lines(&env, "ecs/app/task0001", &[(now - 5_000, "before")]);
    let follow = Background::start(&env, &["logs", "--follow", "--since", "1m"]);
    wait_for("the first line", || {
        follow.stdout().contains("before").then_some(())
    });
    // Written while it follows, including one that arrives late with an earlier time than a
    // line already printed (another task's batch).
    put_lines(
        &env,
        "ecs/app/task0001",
        &[(now_ms(), "first while following")],
    );
    wait_for("the second line", || {
        follow
            .stdout()
            .contains("first while following")
            .then_some(())
    });
    let later = now_ms();
    put_lines(
        &env,
        "ecs/app/task0001",
        &[(later, "second while following")],
    );
    put_lines(
        &env,
        "ecs/app/task0002",
        &[(later - 2_000, "late from another task")],
    );
    wait_for("the late lines", || {
        let out = follow.stdout();
        (out.contains("second while following") && out.contains("late from another task"))
            .then_some(())
    });
    // Two more polls over the same lines print nothing again.
    let polls = env.proxy.count("FilterLogEvents");
    wait_for("two more polls", || {
        (env.proxy.count("FilterLogEvents") >= polls + 2).then_some(())
    });
    let pid = follow.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let (code, stdout, stderr) = follow.finish();
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "before",
        "first while following",
        "second while following",
        "late from another task",
    ] {
        let count = stdout
            .lines()
            .filter(|l| l.ends_with(&format!(" {line}")))
            .count();
        assert_eq!(count, 1, "{line:?} printed {count} times:\n{stdout}");
    }
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
}

/// The shipped configuration with ECS Exec.
fn with_exec() -> String {
    DEV_TOML.replace("[service]", "[service]\nenable_exec = true")
}

#[test]
fn exec_without_the_plugin_says_how_to_install_it() {
    let env = crate::lifecycle::offline_dev_env();
    env.write_config("dev", &with_exec());
    let empty = tempfile::tempdir().unwrap();
    let output = env
        .deployer()
        .env("PATH", empty.path())
        .args(["exec"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("session-manager-plugin is not installed (not found on PATH)")
            && stderr.contains("session-manager-working-with-install-plugin.html"),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
}

#[cfg(unix)]
#[test]
fn exec_hands_the_session_to_the_plugin_as_the_aws_cli_does() {
    use std::os::unix::fs::PermissionsExt;

    let env = TestEnv::start();
    env.write_config("dev", &with_exec());
    apply(&env);
    // ECS Exec is on for the service, and stays so (no drift on the next plan).
    let ecs = ecs_client(&env);
    let service = block_on(
        ecs.describe_services()
            .cluster(CLUSTER)
            .services(format!("{PREFIX}-service"))
            .send(),
    )
    .unwrap();
    assert!(service.services()[0].enable_execute_command());
    env.deployer()
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0);
    // The task role exists for it, with the Session Manager permissions.
    let iam = aws_sdk_iam::Client::new(&env.sdk_config());
    let policy = block_on(
        iam.get_role_policy()
            .role_name(format!("{PREFIX}-task-role"))
            .policy_name("app-permissions")
            .send(),
    )
    .unwrap();
    let document = urlencoding::decode(policy.policy_document()).unwrap();
    let document: Value = serde_json::from_str(&document).unwrap();
    // The four actions "ECS Exec: IAM permissions required" (Amazon ECS Developer Guide) lists,
    // which have no resource-level permissions: every one of them, on `*`.
    let statements = document["Statement"].as_array().unwrap();
    let session_manager: Vec<&Value> = statements
        .iter()
        .filter(|s| {
            s["Action"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a.as_str().unwrap().starts_with("ssmmessages:"))
            })
        })
        .collect();
    assert_eq!(session_manager.len(), 1, "{document:#}");
    let mut actions: Vec<&str> = session_manager[0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
        ],
        "{document:#}"
    );
    assert_eq!(session_manager[0]["Effect"], "Allow", "{document:#}");
    assert_eq!(session_manager[0]["Resource"], json!(["*"]), "{document:#}");

    // A plugin that records how it is called.
    let bin = tempfile::tempdir().unwrap();
    let record = bin.path().join("args");
    let plugin = bin.path().join("session-manager-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\nexit 7\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());

    let task = format!("arn:aws:ecs:{REGION}:123456789012:task/{CLUSTER}/0f1e2d3c4b5a");
    let listed = task.clone();
    env.proxy
        .set_rewriter("ListTasks", move |answer: &mut Value| {
            answer["taskArns"] = json!([listed]);
        });
    let exec_enabled = Arc::new(AtomicBool::new(false));
    let enabled = exec_enabled.clone();
    let described = task.clone();
    env.proxy
        .set_rewriter("DescribeTasks", move |answer: &mut Value| {
            answer["tasks"] = json!([{
                "taskArn": described,
                "lastStatus": "RUNNING",
                "enableExecuteCommand": enabled.load(Ordering::SeqCst),
                "containers": [{"name": "app", "runtimeId": "0f1e2d3c4b5a-1234567890"}],
            }]);
        });

    // A task started before ECS Exec was turned on: said so, with what to do.
    let output = env
        .deployer()
        .env("PATH", &path)
        .args(["exec"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ECS Exec is not enabled on task 0f1e2d3c4b5a")
            && stderr.contains("`enable_exec = true` under [service]")
            && stderr.contains("deployer restart"),
        "{stderr}"
    );
    assert_eq!(env.proxy.count("ExecuteCommand"), 0);

    exec_enabled.store(true, Ordering::SeqCst);
    let output = env
        .deployer()
        .env("PATH", &path)
        .args(["exec", "--", "sh", "-c", "ls -la /app"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(7),
        "the plugin's exit code: {stderr}"
    );
    // ECS Exec takes the command as one string: the words as given, each quoted for `sh` where
    // it needs to be; in the task's app container, interactive (as the AWS CLI sends it).
    let sent = env.proxy.requests("ExecuteCommand");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let request = sent[0].json();
    assert_eq!(request["command"], "sh -c 'ls -la /app'", "{request:#}");
    assert_eq!(request["cluster"], CLUSTER, "{request:#}");
    assert_eq!(request["task"], json!(task), "{request:#}");
    assert_eq!(request["container"], "app", "{request:#}");
    assert_eq!(request["interactive"], true, "{request:#}");
    let args = std::fs::read_to_string(&record).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args.len(), 6, "{args:?}");
    let session: Value = serde_json::from_str(args[0]).unwrap();
    assert!(session["sessionId"]
        .as_str()
        .unwrap()
        .starts_with("ecs-execute-command-"));
    assert!(session["streamUrl"].as_str().unwrap().starts_with("wss://"));
    assert_eq!(session["tokenValue"], "emulated-token");
    assert_eq!(args[1], REGION);
    assert_eq!(args[2], "StartSession");
    assert_eq!(args[3], "");
    let target: Value = serde_json::from_str(args[4]).unwrap();
    assert_eq!(
        target,
        json!({"Target": format!("ecs:{CLUSTER}_0f1e2d3c4b5a_0f1e2d3c4b5a-1234567890")})
    );
    assert_eq!(args[5], env.proxy.url());
}
