//! A private moto server (the local AWS emulator) for one test.
//!
//! The integration tests run the real `deployer` binary against moto instead
//! of AWS. Every test gets its own server by default: tests run in parallel
//! threads and moto keeps all state in one process, so a shared server would
//! let one test see (or delete) another test's VPCs, roles and services.
//!
//! What runs is `tests/emulator/moto_server.py` (moto plus fixes where it
//! departs from AWS) when the crate has that script, else plain
//! `python -m moto.server`; the interpreter is `$DEPLOYER_TEST_PYTHON`
//! (set by `scripts/test` to its venv) or `python3`.
//!
//! Lifecycle guarantees:
//! * `start()` returns only once the server answers HTTP, and panics with
//!   moto's own output (and an install hint) if it dies or never answers.
//! * `Drop` kills the process, so a panicking test leaves no server behind.
//! * Moto runs under a tiny Python launcher that exits when its parent (the
//!   test binary) is gone, so even a test binary killed by a signal or a CI
//!   timeout — where no destructor runs — leaves no orphan behind.
//!
//! Measured on the 2-core dev machine: a start takes ~0.6 s (more while
//! other tests run), and the first IAM call ~0.8 s more, because
//! `MOTO_IAM_LOAD_MANAGED_POLICIES=true` makes moto load every AWS managed
//! policy when the IAM backend is first used, and the first EC2 call
//! ~1.5 s (EC2 backend set-up). A `/moto-api/reset` takes ~1–1.5 s once
//! those backends are in use (moto rebuilds them), so reusing a server saves
//! nothing:
//! [`MotoServer::reset`] is only for tests that want to wipe state between
//! phases, and there is deliberately no global shared server (see `mod.rs`).

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Environment variable naming the Python interpreter that has moto installed.
pub const PYTHON_ENV: &str = "DEPLOYER_TEST_PYTHON";

/// How long a start may take before we give up. A start is ~0.6 s; the
/// margin is for a loaded 2-core CI machine starting several servers at once.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// How long to wait for moto's "Running on 127.0.0.1:PORT" banner once the
/// port answers, before trusting the answer without it.
const BANNER_GRACE: Duration = Duration::from_secs(3);

/// How many fresh ports to try if another process grabs ours in the gap
/// between choosing it and moto binding it.
const PORT_ATTEMPTS: usize = 5;

/// Ports are chosen below the kernel's ephemeral range (32768–60999 by
/// default on Linux). Ports from `bind(:0)` and outgoing connections — the
/// proxies, the SDK, other tests — come from the ephemeral range, so they
/// can never take a port we picked while moto is still importing.
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_000;

/// Ports handed to live servers of this test process, so two tests starting
/// at the same moment never race for the same one.
static RESERVED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// The repository's patched emulator (moto with fixes where it departs from
/// AWS), relative to the crate root; used when it exists.
const EMULATOR_SCRIPT: &str = "tests/emulator/moto_server.py";

/// Runs its first argument — a `.py` script or a module such as
/// `moto.server` — as `__main__` with the remaining arguments, like
/// `python script.py ARGS` / `python -m module ARGS` would, plus a watchdog
/// thread that exits as soon as the parent process is gone (the process is
/// then re-parented, so `getppid()` changes). Rust cannot run destructors
/// when the test binary is killed, so this is what prevents orphans then.
const LAUNCHER: &str = r#"
import os, runpy, sys, threading, time
parent = os.getppid()
def watch_parent():
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)
threading.Thread(target=watch_parent, daemon=True).start()
target = sys.argv[1]
sys.argv = sys.argv[1:]
if target.endswith(".py"):
    sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"#;

/// A running moto server on `127.0.0.1:port`, killed on drop.
pub struct MotoServer {
    pub port: u16,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub url: String,
    child: Child,
    /// moto's stdout and stderr (werkzeug logs every request there); kept
    /// in a file rather than a pipe so a chatty server can never block on a
    /// full pipe, and deleted on drop.
    log: tempfile::NamedTempFile,
}

/// Configures a [`MotoServer`] before it starts (moto reads most of its
/// switches from environment variables at start-up or per request).
#[derive(Debug, Clone)]
pub struct MotoBuilder {
    env: Vec<(String, String)>,
    /// The script to run instead of plain `python -m moto.server`.
    script: Option<PathBuf>,
}

impl Default for MotoBuilder {
    fn default() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(EMULATOR_SCRIPT);
        MotoBuilder {
            // Without this, moto knows no AWS managed policies, and attaching
            // e.g. AmazonECSTaskExecutionRolePolicy fails with NoSuchEntity.
            env: vec![("MOTO_IAM_LOAD_MANAGED_POLICIES".into(), "true".into())],
            script: script.is_file().then_some(script),
        }
    }
}

impl MotoBuilder {
    /// Sets an environment variable for the moto process, e.g.
    /// `MOTO_ECS_SERVICE_RUNNING=2` (every ECS service then reports two
    /// running tasks, and a COMPLETED rollout if it wants at most two).
    /// Only these variables reach moto: `MOTO_*` variables of the
    /// developer's shell are not passed on, so every run sees the same moto.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Runs this script (same command line as `python -m moto.server`)
    /// instead of the default: `tests/emulator/moto_server.py` if the crate
    /// has it, else plain `moto.server`. `None` forces plain moto.
    pub fn script(mut self, script: Option<PathBuf>) -> Self {
        self.script = script;
        self
    }

    /// Starts the server and waits until it answers; panics with moto's
    /// output if it cannot.
    pub fn start(self) -> MotoServer {
        let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
        let target = match &self.script {
            Some(script) => script.as_os_str().to_owned(),
            None => "moto.server".into(),
        };
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = reserve_port();
            match spawn_and_wait(&python, &target, port, &self.env) {
                Ok(server) => return server,
                Err(StartError::PortTaken(log)) => {
                    release_port(port);
                    failures.push(log);
                }
                Err(StartError::Fatal(message)) => {
                    release_port(port);
                    panic!("{message}");
                }
            }
        }
        panic!(
            "moto could not bind any of {PORT_ATTEMPTS} ports; last output:\n{}",
            failures.last().map(String::as_str).unwrap_or("")
        );
    }
}

impl MotoServer {
    /// Starts a server with the default settings (managed policies loaded).
    pub fn start() -> MotoServer {
        MotoBuilder::default().start()
    }

    /// For extra environment variables: `MotoServer::builder().env(..).start()`.
    pub fn builder() -> MotoBuilder {
        MotoBuilder::default()
    }

    /// Wipes all emulated resources (`POST /moto-api/reset`), e.g. to reuse
    /// one server for several sequential phases of a single test. Takes
    /// ~1 s: moto rebuilds its backends (managed IAM policies included).
    pub fn reset(&self) {
        match http_request(
            self.port,
            "POST",
            "/moto-api/reset",
            Duration::from_secs(30),
        ) {
            Ok(200) => {}
            Ok(status) => panic!("moto reset answered HTTP {status}\n{}", self.log()),
            Err(e) => panic!("moto reset failed: {e}\n{}", self.log()),
        }
    }

    /// The moto process id (e.g. to check that it is gone after a drop).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything moto printed so far (startup messages, one line per
    /// request, Python tracebacks of moto bugs); useful in failure messages.
    pub fn log(&self) -> String {
        read_log(self.log.path())
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // SIGKILL: moto keeps no state worth flushing, and a graceful stop
        // would only slow every test down.
        let _ = self.child.kill();
        let _ = self.child.wait();
        release_port(self.port);
    }
}

enum StartError {
    /// Someone else bound the port first; retry with another one.
    PortTaken(String),
    /// Anything else: not worth retrying.
    Fatal(String),
}

fn spawn_and_wait(
    python: &str,
    target: &OsStr,
    port: u16,
    env: &[(String, String)],
) -> Result<MotoServer, StartError> {
    let log = tempfile::Builder::new()
        .prefix("moto-log-")
        .tempfile()
        .map_err(|e| StartError::Fatal(format!("cannot create a temp file for moto's log: {e}")))?;
    let stdio = |what: &str| {
        log.as_file()
            .try_clone()
            .map(Stdio::from)
            .map_err(|e| StartError::Fatal(format!("cannot open moto's log for {what}: {e}")))
    };
    let mut command = Command::new(python);
    command
        .arg("-c")
        .arg(LAUNCHER)
        .arg(target)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(stdio("stdout")?)
        .stderr(stdio("stderr")?)
        // Python buffers stdout when it is a file; we want to see messages
        // of a server that dies in the panic message.
        .env("PYTHONUNBUFFERED", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|key| key.starts_with("MOTO_")) {
            command.env_remove(&key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let child = command.spawn().map_err(|e| {
        StartError::Fatal(format!(
            "cannot run `{python}` to start moto: {e}\n{}",
            install_hint(python)
        ))
    })?;
    let mut server = MotoServer {
        port,
        url: format!("http://127.0.0.1:{port}"),
        child,
        log,
    };

    let spawned = Instant::now();
    let deadline = spawned + START_DEADLINE;
    loop {
        match server.child.try_wait() {
            Ok(Some(status)) => {
                let output = server.log();
                let err = if output.contains("Address already in use") {
                    StartError::PortTaken(output)
                } else {
                    StartError::Fatal(format!(
                        "moto exited during start-up ({status}). Its output:\n{output}\n{}",
                        install_hint(python)
                    ))
                };
                drop(server);
                return Err(err);
            }
            Ok(None) => {}
            Err(e) => {
                return Err(StartError::Fatal(format!(
                    "cannot poll the moto process: {e}"
                )))
            }
        }
        // The dashboard is served by moto's own app (not a backend), so a
        // 200 here means a moto is up rather than merely something listening.
        // That it is *our* moto (and not, say, one of a concurrent test run
        // that won the port, which would make ours exit in a moment) shows
        // in our log: werkzeug prints the address once it has bound it. The
        // grace period keeps a future change of that banner from breaking
        // start-up; by then a loser of the port race has long exited.
        if let Ok(200) = http_request(port, "GET", "/moto-api/", Duration::from_secs(2)) {
            let bound = server.log().contains(&format!("127.0.0.1:{port}"));
            if bound || spawned.elapsed() > BANNER_GRACE {
                return Ok(server);
            }
        }
        if Instant::now() >= deadline {
            let output = server.log();
            return Err(StartError::Fatal(format!(
                "moto did not answer on port {port} within {START_DEADLINE:?}. Its output:\n{output}\n{}",
                install_hint(python)
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn install_hint(python: &str) -> String {
    format!(
        "hint: the integration tests need moto for `{python}`: run them with \
         `scripts/test` (see README; it installs tests/requirements.txt into a \
         venv), or run `{python} -m pip install -r tests/requirements.txt`, or \
         point {PYTHON_ENV} at a Python that has `moto[server]`."
    )
}

fn read_log(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("<cannot read moto's log {}: {e}>", path.display()),
    }
}

/// A minimal blocking HTTP/1.1 request returning the status code: enough
/// for readiness polls and resets, and usable without any async runtime.
fn http_request(port: u16, method: &str, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    // "HTTP/1.1 200 OK" -> 200
    head.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))
}

fn reserve_port() -> u16 {
    let mut reserved = RESERVED_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let span = u64::from(PORT_RANGE.end - PORT_RANGE.start);
    loop {
        // RandomState is randomly keyed per instance: a dependency-free
        // source of random numbers that differ between test processes.
        let random = RandomState::new().build_hasher().finish();
        let port = PORT_RANGE.start + (random % span) as u16;
        if reserved.contains(&port) {
            continue;
        }
        // Free right now? (moto binds it a second later; see PORT_RANGE.)
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            reserved.insert(port);
            return port;
        }
    }
}

fn release_port(port: u16) {
    RESERVED_PORTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&port);
}
