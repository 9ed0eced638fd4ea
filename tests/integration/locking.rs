//! The environment's lock and the state directory under pressure: many runs at once, a holder that
//! died, signals before any change, leftovers of killed runs, and the permissions of what the tool
//! writes (whatever the umask).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::interruptions::{start, wait_for_calls};
use crate::lifecycle::{apply, dev_env};
use crate::support::TestEnv;

/// Latency of every AWS call while runs race: long enough that a run holding the lock is still
/// reading when the others start.
const RACE_LATENCY: Duration = Duration::from_millis(300);

/// How many runs start at once in each round.
const RUNNERS: usize = 8;

fn state_dir(env: &TestEnv) -> PathBuf {
    env.dir.path().join(".deployer")
}

fn lock_path(env: &TestEnv) -> PathBuf {
    state_dir(env).join("dev.lock")
}

/// The host name as the binary reads it.
pub fn this_host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// The ID of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Polls until `path` exists (or the child ended, or a minute passed).
fn wait_for_file(path: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !path.exists() && child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[derive(Debug)]
struct Run {
    pid: u32,
    code: Option<i32>,
    stderr: String,
}

/// Starts `RUNNERS` `deployer apply --yes` at once and waits for all of them.
fn race(env: &TestEnv) -> Vec<Run> {
    let children: Vec<Child> = (0..RUNNERS)
        .map(|_| start(env, &["apply", "--yes"]))
        .collect();
    children
        .into_iter()
        .map(|child| {
            let pid = child.id();
            let output = child.wait_with_output().unwrap();
            Run {
                pid,
                code: output.status.code(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        })
        .collect()
}

/// Exactly one run of the round went ahead, every other one failed at once naming it, and AWS saw
/// the calls of one run only. Returns the run that went ahead.
fn assert_one_holder(env: &TestEnv, runs: &[Run], calls_of_one_run: usize, round: &str) -> u32 {
    let winners: Vec<&Run> = runs.iter().filter(|r| r.code == Some(0)).collect();
    assert_eq!(winners.len(), 1, "{round}: runs that went ahead: {runs:#?}");
    let winner = winners[0];
    let named = format!("locked by `deployer apply` (pid {} on host", winner.pid);
    for run in runs.iter().filter(|r| r.pid != winner.pid) {
        assert_eq!(run.code, Some(1), "{round}: {run:#?}");
        assert!(run.stderr.contains(&named), "{round}: {run:#?}");
    }
    assert_eq!(
        env.proxy.calls().len(),
        calls_of_one_run,
        "{round}: AWS saw more than one run's calls: {:?}",
        env.proxy.operations()
    );
    assert!(
        !lock_path(env).exists(),
        "{round}: the lock was left behind"
    );
    winner.pid
}

#[test]
fn eight_concurrent_applies_exactly_one_holds_the_lock() {
    let env = dev_env();
    apply(&env);
    // What one run on the converged stack calls, to tell one run's calls from two.
    env.proxy.clear();
    apply(&env);
    let calls_of_one_run = env.proxy.calls().len();
    assert!(calls_of_one_run > 3, "{:?}", env.proxy.operations());

    env.proxy.set_latency(RACE_LATENCY);
    let started = Instant::now();
    for round in ["free lock 1", "dead holder", "free lock 2"] {
        env.proxy.clear();
        if round == "dead holder" {
            // Left by a run that died on this host (in the format of older versions).
            fs::write(
                lock_path(&env),
                format!(
                    r#"{{"pid": {}, "host": "{}", "started_at": 0, "command": "apply"}}"#,
                    dead_pid(),
                    this_host()
                ),
            )
            .unwrap();
        }
        let runs = race(&env);
        let winner = assert_one_holder(&env, &runs, calls_of_one_run, round);
        if round == "dead holder" {
            let stderr = &runs.iter().find(|r| r.pid == winner).unwrap().stderr;
            assert!(stderr.contains("taking over the lock of"), "{stderr}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the rounds took {:?}",
        started.elapsed()
    );
}

/// Reported case: `force-unlock` removed the lock of a run still going on this machine, and a
/// second `apply` then ran beside it. A live run of this host is refused; and a run whose lock
/// was replaced meanwhile (removed by hand, or from another machine) leaves the new holder's
/// lock alone when it ends.
#[test]
fn force_unlock_refuses_a_run_still_going_on_this_host() {
    let env = dev_env();
    apply(&env);
    env.proxy.set_latency(RACE_LATENCY);
    let lock = lock_path(&env);
    let mut first = start(&env, &["apply", "--yes"]);
    wait_for_file(&lock, &mut first);

    let output = env.deployer().arg("force-unlock").assert().code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains(&format!("`deployer apply` (pid {}", first.id()))
            && stderr.contains("still running on this host"),
        "{stderr}"
    );
    assert!(lock.exists(), "the live run's lock stays");

    // Another run (on another machine sharing the directory) holds the lock now.
    let other = r#"{"pid": 4242, "host": "ci-runner-7", "started_at": 0, "command": "destroy", "token": "0123456789abcdef"}"#;
    fs::write(&lock, other).unwrap();
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run ended too soon for this test"
    );

    // The first run ends and leaves the other run's lock where it is.
    assert!(first.wait().unwrap().success());
    let text = fs::read_to_string(&lock)
        .unwrap_or_else(|e| panic!("the first run removed the other run's lock: {e}"));
    assert_eq!(text, other);
    let output = env.deployer().args(["apply", "--yes"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("locked by `deployer destroy` (pid 4242 on host ci-runner-7"),
        "{stderr}"
    );
    // That lock is another machine's: force-unlock removes it.
    env.deployer().arg("force-unlock").assert().success();
    assert!(!lock.exists());
}

#[cfg(unix)]
#[test]
fn sigterm_while_still_reading_exits_130_and_releases_the_lock() {
    let env = dev_env();
    // The first call is still in flight when the signal comes.
    env.proxy.set_latency(Duration::from_secs(1));
    let lock = lock_path(&env);
    for command in ["apply", "destroy", "rollback"] {
        env.proxy.clear();
        let mut child = start(&env, &[command, "--yes"]);
        wait_for_file(&lock, &mut child);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{command} ended before the signal"
        );
        assert!(lock.exists(), "{command} holds the lock while reading");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(130), "{command}: {stderr}");
        assert!(
            stderr.contains("interrupted before any change"),
            "{command}: {stderr}"
        );
        assert!(!lock.exists(), "{command} left its lock behind");
        assert_eq!(env.proxy.mutating_calls(), [], "{command}");
    }
    // The next run goes ahead.
    env.proxy.set_latency(Duration::ZERO);
    apply(&env);
}

#[test]
fn temporary_state_files_left_by_a_kill_are_removed_by_the_next_run() {
    let env = dev_env();
    let dir = state_dir(&env);
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str| {
        let path = dir.join(name);
        fs::write(&path, "{ half a state").unwrap();
        path
    };
    // Left by killed runs of this environment: a state write, a lock being created.
    let state_temp = write(".dev.json.tmpAbC123");
    let lock_temp = write(".dev.lock.tmpXyZ789");
    // An older version's temporary state file, an hour and more old.
    let old_legacy = write(".tmpQwE456");
    fs::File::options()
        .write(true)
        .open(&old_legacy)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    // Kept: an older version's temporary file that a live run may be writing, another
    // environment's, and anything else.
    let fresh_legacy = write(".tmpRtY012");
    let other_environment = write(".prod.json.tmpAbC123");
    let other_file = write("notes.tmp");

    apply(&env);
    for removed in [&state_temp, &lock_temp, &old_legacy] {
        assert!(!removed.exists(), "{} is left", removed.display());
    }
    for kept in [&fresh_legacy, &other_environment, &other_file] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".prod.json.tmpAbC123",
            ".tmpRtY012",
            "dev.json",
            "notes.tmp"
        ]
    );
}

#[cfg(unix)]
#[test]
fn an_existing_state_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = dev_env();
    let dir = state_dir(&env);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(mode(&dir), 0o755);
    apply(&env);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("dev.json")), 0o600);
}

/// `deployer <args>` started through `sh` with umask 000, with the environment of
/// [`TestEnv::deployer_process`].
#[cfg(unix)]
fn start_with_umask_000(env: &TestEnv, args: &[&str]) -> Child {
    let deployer = env.deployer_process();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        // The probe file shows the umask the binary inherits.
        .arg(r#"umask 000; : > umask-probe; exec "$0" "$@""#)
        .arg(deployer.get_program())
        .args(args);
    if let Some(dir) = deployer.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (key, value) in deployer.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

#[cfg(unix)]
#[test]
fn under_umask_000_the_lock_and_state_files_are_private() {
    let env = dev_env();
    env.proxy.set_latency(Duration::from_millis(50));
    let lock = lock_path(&env);
    let mut child = start_with_umask_000(&env, &["apply", "--yes"]);
    wait_for_calls(&env, &mut child, 1);
    assert!(lock.exists(), "the run holds the lock");
    assert_eq!(mode(&lock), 0o600);
    assert_eq!(mode(&state_dir(&env)), 0o700);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(mode(&state_dir(&env)), 0o700);
    assert_eq!(mode(&state_dir(&env).join("dev.json")), 0o600);
    // The run really had umask 000: a file made the ordinary way was open to everyone.
    assert_eq!(mode(&env.dir.path().join("umask-probe")), 0o666);
}
