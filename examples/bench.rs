//! The benchmark of the `deployer` binary: how long each command takes, how many AWS calls it
//! makes, the longest chain of calls that had to follow one another, and its peak memory, with
//! AWS emulated by moto behind a proxy that adds a fixed latency to every call (50 ms by default,
//! about what AWS costs from a CI runner).
//!
//! ```text
//! scripts/bench [--latency-ms 50] [--runs 5] [--bin PATH] [--json] [--calls]
//! cargo run --example bench -- --help          # the same, with moto already installed
//! ```
//!
//! Each run starts a fresh moto, warms it up (an `apply` and `destroy` of another environment,
//! straight to moto, so moto's lazy start-up costs are not billed to the binary), puts the proxy
//! in front of it, then measures in order: cold `apply`, no-op `apply`, `plan`, `outputs`,
//! `destroy`. Both applies get `--no-wait` when the binary has it: moto never completes an ECS
//! rollout by itself, and an apply that changes nothing has nothing to wait for anyway. It
//! prints the medians and the targets of BENCHMARKS.md next to them (met / missed). It is a
//! measuring tool, not a test: it exits non-zero only when a command fails, never because a
//! target is missed.
//!
//! Definitions:
//! * wall time: from spawning the process to its exit, measured here;
//! * peak memory: the process's maximum resident set size, from `wait4` via GNU time
//!   (`/usr/bin/time -f %M`), or via a tiny Python wrapper where GNU time is missing;
//! * reads / writes: calls whose operation starts with Describe/List/Get (see
//!   `proxy::is_read_only`) / all others;
//! * polls: reads identical (same operation and request body) to an earlier read that was itself
//!   made after the command's first write: the second and later checks of a wait loop, such as
//!   `ecs:DescribeServices` after `DeleteService` (the first check counts as an ordinary call);
//! * repeats: other reads identical to an earlier one, e.g. a read of the plan pass made again
//!   by the apply pass: candidates for redundant calls;
//! * critical path: the longest chain of calls in which each call started after the previous one
//!   had ended, as observed at the proxy. At latency L no run can beat chain length × L, however
//!   parallel it is;
//! * start: from spawning the process to the first call reaching the proxy (process start,
//!   configuration, SDK set-up).

// The harness is shared with the integration tests, where it is `tests/integration/support`;
// its `mod.rs` needs `CARGO_BIN_EXE_deployer`, which cargo does not set for examples, so the two
// modules are included on their own. Not every helper is used here.
#[allow(dead_code)]
#[path = "../tests/integration/support/moto.rs"]
mod moto;
#[allow(dead_code)]
#[path = "../tests/integration/support/proxy.rs"]
mod proxy;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

use moto::MotoServer;
use proxy::{AwsProxy, TimedCall};

/// Upper bound for one command; a hung one is killed and the benchmark stops.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The targets of the issue, at 50 ms per call.
const NOOP_MAX_CALLS: usize = 15;
const NOOP_MAX_WALL: Duration = Duration::from_millis(500);
const COLD_MAX_CALLS: usize = 35;
const COLD_WALL_FACTOR: f64 = 1.5;
const DESTROY_MAX_CALLS: usize = 30;
/// Task definition revisions of the long-lived stack that the last destroy takes away.
const HISTORY_REVISIONS: usize = 300;
/// Each revision past the first costs destroy its tag check and its deregistration.
const CALLS_PER_EXTRA_REVISION: usize = 2;
/// `ListTaskDefinitions` answers at most 100 revisions a page.
const REVISIONS_PER_PAGE: usize = 100;
const OUTPUTS_MAX_WALL: Duration = Duration::from_millis(10);
/// 50 MB, in KiB as `ru_maxrss` counts.
const MAX_RSS_KIB: u64 = 50_000_000 / 1024;

/// Measures the deployer binary against moto behind a latency-injecting proxy.
#[derive(Debug, Parser)]
#[command(name = "bench", max_term_width = 100)]
struct Args {
    /// Latency the proxy adds to every AWS call, in milliseconds.
    #[arg(long, default_value_t = 50, value_name = "N")]
    latency_ms: u64,

    /// How many times to run each command (each run on a fresh moto).
    #[arg(long, default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,

    /// The binary to measure (default: `deployer` of the same target directory and profile
    /// as this benchmark).
    #[arg(long, value_name = "PATH")]
    bin: Option<PathBuf>,

    /// The configuration to deploy (default: the repository's envs/dev.toml). Its
    /// `endpoint_url` is ignored: every call goes through the proxy.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Print the results as JSON instead of tables.
    #[arg(long)]
    json: bool,

    /// Also list every call of each command's median run, with its start and end.
    #[arg(long)]
    calls: bool,
}

/// The measured commands, in the order each run makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cmd {
    ColdApply,
    NoopApply,
    Plan,
    Outputs,
    Destroy,
    /// `destroy` of a stack with [`HISTORY_REVISIONS`] task definition revisions, applied again
    /// (unmeasured) after the plain destroy.
    DestroyHistory,
}

impl Cmd {
    const ALL: [Cmd; 6] = [
        Cmd::ColdApply,
        Cmd::NoopApply,
        Cmd::Plan,
        Cmd::Outputs,
        Cmd::Destroy,
        Cmd::DestroyHistory,
    ];

    fn key(self) -> &'static str {
        match self {
            Cmd::ColdApply => "cold_apply",
            Cmd::NoopApply => "noop_apply",
            Cmd::Plan => "plan",
            Cmd::Outputs => "outputs",
            Cmd::Destroy => "destroy",
            Cmd::DestroyHistory => "destroy_300_revisions",
        }
    }

    fn args(self, bench: &Bench) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Cmd::ColdApply | Cmd::NoopApply => {
                let mut apply = vec!["apply".into(), "--yes".into()];
                if bench.no_wait {
                    apply.push("--no-wait".into());
                }
                apply
            }
            Cmd::Plan => vec!["plan".into()],
            Cmd::Outputs => vec!["outputs".into()],
            Cmd::Destroy | Cmd::DestroyHistory => vec!["destroy".into(), "--yes".into()],
        };
        args.extend(["--env".into(), bench.environment.clone()]);
        args
    }

    fn label(self, bench: &Bench) -> String {
        let what = match self {
            Cmd::ColdApply => "cold apply",
            Cmd::NoopApply => "no-op apply",
            Cmd::Plan => "plan",
            Cmd::Outputs => "outputs",
            Cmd::Destroy => "destroy",
            Cmd::DestroyHistory => "destroy, 300 revisions",
        };
        match self {
            Cmd::ColdApply | Cmd::NoopApply if bench.no_wait => format!("{what} --no-wait"),
            _ => what.to_owned(),
        }
    }
}

/// How the peak memory of a child is measured.
#[derive(Debug, Clone)]
enum RssProbe {
    /// GNU time: `/usr/bin/time -f %M -o FILE`.
    GnuTime,
    /// `python WRAPPER FILE CMD...`: spawns CMD and reaps it with `os.wait4`.
    Python(String),
}

/// Spawns its arguments, reaps the child with `os.wait4` and writes "maxrss_kib wall_ns" to the
/// file named by its first argument; exits with the child's code.
const RSS_WRAPPER: &str = r#"
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter_ns()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter_ns() - t0
with open(out, "w") as f:
    f.write(f"{usage.ru_maxrss} {wall}\n")
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"#;

/// Everything the runs share.
struct Bench {
    bin: PathBuf,
    latency: Duration,
    runs: u32,
    /// The configuration, without `endpoint_url`.
    config: toml::Table,
    environment: String,
    /// Whether `apply` takes `--no-wait`.
    no_wait: bool,
    probe: RssProbe,
    /// Keeps the files of the probe's answers.
    scratch: tempfile::TempDir,
}

/// One finished command, as measured from the outside.
struct Finished {
    spawned: Instant,
    wall: Duration,
    max_rss_kib: Option<u64>,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// One AWS call of a sample, with times relative to the process spawn.
#[derive(Debug, Clone)]
struct Call {
    /// "service:Operation".
    name: String,
    write: bool,
    /// The answer was an error (HTTP ≥ 400), e.g. a "not found" of a read.
    failed: bool,
    /// A read identical to an earlier one made after the first write: a wait loop's second or
    /// later check.
    poll: bool,
    /// Any other read identical to an earlier one: a candidate for a redundant call.
    repeat: bool,
    start: Duration,
    end: Duration,
}

/// One command of one run, analysed.
struct Sample {
    wall: Duration,
    max_rss_kib: Option<u64>,
    calls: Vec<Call>,
    /// Indices into `calls` of the critical path, in order.
    chain: Vec<usize>,
}

impl Sample {
    fn count(&self, pick: impl Fn(&Call) -> bool) -> usize {
        self.calls.iter().filter(|c| pick(c)).count()
    }
    fn reads(&self) -> usize {
        self.count(|c| !c.write)
    }
    fn writes(&self) -> usize {
        self.count(|c| c.write)
    }
    fn polls(&self) -> usize {
        self.count(|c| c.poll)
    }
    fn repeats(&self) -> usize {
        self.count(|c| c.repeat)
    }
    /// Spawn to the first call.
    fn start(&self) -> Option<Duration> {
        self.calls.first().map(|c| c.start)
    }
    /// The chain's own time: the sum of its calls' durations.
    fn chain_time(&self) -> Duration {
        self.chain
            .iter()
            .map(|&i| self.calls[i].end - self.calls[i].start)
            .sum()
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let bench = Bench::new(args)?;
    eprintln!(
        "bench: {} ({}), {} ms per call, {} run(s); peak memory via {}",
        bench.bin.display(),
        build_kind(&bench.bin),
        bench.latency.as_millis(),
        bench.runs,
        match &bench.probe {
            RssProbe::GnuTime => "GNU time".to_owned(),
            RssProbe::Python(python) => format!("{python} os.wait4"),
        }
    );
    let machine = machine(&bench);
    // The first exec of a large debug binary pays for reading it from disk.
    let _ = Command::new(&bench.bin).arg("--version").output();

    let mut samples: BTreeMap<Cmd, Vec<Sample>> = BTreeMap::new();
    for run in 1..=bench.runs {
        for (cmd, sample) in bench.one_run(run)? {
            samples.entry(cmd).or_default().push(sample);
        }
    }
    let report = Report {
        bench: &bench,
        samples,
        machine,
        load_after: load_average(),
        list_calls: args.calls,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

impl Bench {
    fn new(args: &Args) -> Result<Bench, String> {
        let bin = match &args.bin {
            Some(bin) => bin.clone(),
            None => default_bin()?,
        };
        let bin = bin
            .canonicalize()
            .map_err(|e| format!("cannot find the binary {}: {e}", bin.display()))?;
        let config_path = args.config.clone().unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("envs")
                .join("dev.toml")
        });
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
        let mut config: toml::Table = text
            .parse()
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        config.remove("endpoint_url");
        let environment = config
            .get("environment")
            .and_then(|e| e.as_str())
            .ok_or_else(|| format!("{}: no `environment`", config_path.display()))?
            .to_owned();
        let help = Command::new(&bin)
            .args(["apply", "--help"])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let no_wait = String::from_utf8_lossy(&help.stdout).contains("--no-wait");
        let scratch = tempfile::Builder::new()
            .prefix("deployer-bench-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        Ok(Bench {
            bin,
            latency: Duration::from_millis(args.latency_ms),
            runs: args.runs,
            config,
            environment,
            no_wait,
            probe: detect_probe(scratch.path()),
            scratch,
        })
    }

    /// One run: a fresh moto, warmed up, then every command once through the proxy.
    fn one_run(&self, run: u32) -> Result<Vec<(Cmd, Sample)>, String> {
        let moto = MotoServer::start();
        self.warm_up(&moto.url)
            .map_err(|e| format!("warming up moto: {e}"))?;
        let proxy = AwsProxy::start(&moto.url);
        proxy.set_latency(self.latency);
        let dir = self.work_dir(&self.environment)?;
        let mut samples = Vec::new();
        for cmd in Cmd::ALL {
            if cmd == Cmd::DestroyHistory {
                self.long_lived_stack(dir.path(), &moto.url)
                    .map_err(|e| format!("run {run}: making a stack with history: {e}"))?;
            }
            proxy.clear();
            let args = cmd.args(self);
            let finished = self.measure(dir.path(), &proxy.url(), &args)?;
            if !finished.status.success() {
                return Err(format!(
                    "run {run}: `deployer {}` failed ({}):\n{}{}",
                    args.join(" "),
                    finished.status,
                    finished.stdout,
                    finished.stderr
                ));
            }
            let sample = analyse(&finished, proxy.timed_calls());
            eprintln!(
                "bench: run {run}/{}: {:<24} {:>9}  {:>3} calls  {}",
                self.runs,
                cmd.label(self),
                secs(sample.wall),
                sample.calls.len(),
                sample.max_rss_kib.map(mb).unwrap_or_default(),
            );
            samples.push((cmd, sample));
        }
        Ok(samples)
    }

    /// Makes moto pay its lazy start-up costs (backends, managed IAM policies, imports) before
    /// anything is measured: the same stack under another environment name, created and
    /// destroyed straight against moto, without the proxy.
    fn warm_up(&self, moto_url: &str) -> Result<(), String> {
        // Short: project and environment together have a length limit.
        let environment = format!("{}-w", self.environment);
        let dir = self.work_dir(&environment)?;
        let mut apply = vec!["apply", "--yes"];
        if self.no_wait {
            // moto never completes a rollout by itself.
            apply.push("--no-wait");
        }
        for args in [apply, vec!["destroy", "--yes"]] {
            let mut cmd = self.deployer(dir.path(), moto_url);
            cmd.args(&args).args(["--env", &environment]);
            let (_, output, _) = self.run_with_timeout(cmd)?;
            if !output.status.success() {
                return Err(format!(
                    "`deployer {}` failed ({}):\n{}",
                    args.join(" "),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
        }
        Ok(())
    }

    /// Applies the stack again in `dir`, straight to moto, and registers revisions of its task
    /// definition (with the stack's tags, as a stack deployed for years has) until the family has
    /// [`HISTORY_REVISIONS`].
    fn long_lived_stack(&self, dir: &Path, moto_url: &str) -> Result<(), String> {
        let mut cmd = self.deployer(dir, moto_url);
        cmd.args(Cmd::ColdApply.args(self));
        let (_, output, _) = self.run_with_timeout(cmd)?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let region = self
            .config
            .get("region")
            .and_then(|r| r.as_str())
            .ok_or("the configuration names no region")?;
        runtime.block_on(register_revisions(moto_url, region, HISTORY_REVISIONS - 1))
    }

    /// A temp dir with `envs/<environment>.toml`: the configuration under that environment.
    fn work_dir(&self, environment: &str) -> Result<tempfile::TempDir, String> {
        let dir = tempfile::Builder::new()
            .prefix("deployer-bench-run-")
            .tempdir()
            .map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let mut config = self.config.clone();
        config.insert("environment".into(), environment.into());
        let text = toml::to_string(&config).map_err(|e| e.to_string())?;
        let envs = dir.path().join("envs");
        std::fs::create_dir_all(&envs).map_err(|e| format!("{}: {e}", envs.display()))?;
        let path = envs.join(format!("{environment}.toml"));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(dir)
    }

    /// The binary, run in `dir` against `endpoint` with fake credentials and nothing of the
    /// developer's AWS set-up (like the integration tests' `TestEnv::deployer`).
    fn deployer(&self, dir: &Path, endpoint: &str) -> Command {
        let mut cmd = Command::new(&self.bin);
        self.hermetic(&mut cmd, dir, endpoint);
        cmd
    }

    fn hermetic(&self, cmd: &mut Command, dir: &Path, endpoint: &str) {
        cmd.current_dir(dir).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if let Some(key) = key.to_str() {
                if key.starts_with("AWS_") || key.starts_with("DEPLOYER_") {
                    cmd.env_remove(key);
                }
            }
        }
        let missing = dir.join(".no-aws-config");
        cmd.env("AWS_CONFIG_FILE", &missing)
            .env("AWS_SHARED_CREDENTIALS_FILE", &missing)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1");
    }

    /// Runs the binary with `args` under the memory probe and measures it.
    fn measure(&self, dir: &Path, endpoint: &str, args: &[String]) -> Result<Finished, String> {
        let answer = self.scratch.path().join("rss");
        let _ = std::fs::remove_file(&answer);
        let mut cmd = match &self.probe {
            RssProbe::GnuTime => {
                let mut cmd = Command::new("/usr/bin/time");
                cmd.args(["-f", "%M", "-o"]).arg(&answer).arg(&self.bin);
                cmd
            }
            RssProbe::Python(python) => {
                let mut cmd = Command::new(python);
                cmd.args(["-c", RSS_WRAPPER]).arg(&answer).arg(&self.bin);
                cmd
            }
        };
        cmd.args(args);
        self.hermetic(&mut cmd, dir, endpoint);
        let (spawned, output, exited) = self.run_with_timeout(cmd)?;

        let answer = std::fs::read_to_string(&answer).unwrap_or_default();
        // GNU time puts "Command exited with non-zero status N" before the figure.
        let figures: Vec<u64> = answer
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        let (spawned, wall) = match (&self.probe, figures.get(1)) {
            // The wrapper's own clock leaves Python's start-up out.
            (RssProbe::Python(_), Some(&ns)) => {
                let wall = Duration::from_nanos(ns);
                (exited.checked_sub(wall).unwrap_or(spawned), wall)
            }
            _ => (spawned, exited - spawned),
        };
        Ok(Finished {
            spawned,
            wall,
            max_rss_kib: figures.first().copied(),
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs a command to its end, capturing its output, with [`COMMAND_TIMEOUT`]; returns when
    /// it was spawned, its output, and when it had exited.
    fn run_with_timeout(
        &self,
        mut cmd: Command,
    ) -> Result<(Instant, std::process::Output, Instant), String> {
        use std::os::unix::process::CommandExt;
        // Its own process group, so that a timeout kills a wrapper and the binary together.
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let pid = child.id();
        let (done, watchdog) = mpsc::channel::<()>();
        let killer = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = watchdog.recv_timeout(COMMAND_TIMEOUT) {
                eprintln!("bench: killing process group {pid} after {COMMAND_TIMEOUT:?}");
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
        });
        let output = child.wait_with_output();
        let exited = Instant::now();
        drop(done);
        let _ = killer.join();
        let output = output.map_err(|e| format!("waiting for {}: {e}", self.bin.display()))?;
        Ok((spawned, output, exited))
    }
}

/// An SDK error with its causes, on one line.
fn show(e: impl std::error::Error) -> String {
    aws_sdk_ecs::error::DisplayErrorContext(e).to_string()
}

/// Registers `count` more revisions of the one task definition family in moto at `endpoint` in
/// `region`,
/// copies of its latest revision with its tags.
async fn register_revisions(endpoint: &str, region: &str, count: usize) -> Result<(), String> {
    use aws_sdk_ecs::types::{SortOrder, TaskDefinitionField};
    let config = aws_sdk_ecs::Config::builder()
        .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
        .region(aws_sdk_ecs::config::Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecs::config::Credentials::for_tests())
        .build();
    let ecs = aws_sdk_ecs::Client::from_conf(config);
    let latest = ecs
        .list_task_definitions()
        .sort(SortOrder::Desc)
        .max_results(1)
        .send()
        .await
        .map_err(show)?;
    let arn = latest
        .task_definition_arns()
        .first()
        .ok_or("no task definition")?;
    let described = ecs
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .map_err(show)?;
    let first = described.task_definition().ok_or("no task definition")?;
    for _ in 0..count {
        ecs.register_task_definition()
            .family(first.family().unwrap_or_default())
            .set_container_definitions(Some(first.container_definitions().to_vec()))
            .set_requires_compatibilities(Some(first.requires_compatibilities().to_vec()))
            .set_network_mode(first.network_mode().cloned())
            .set_cpu(first.cpu().map(str::to_owned))
            .set_memory(first.memory().map(str::to_owned))
            .set_execution_role_arn(first.execution_role_arn().map(str::to_owned))
            .set_tags(Some(described.tags().to_vec()))
            .send()
            .await
            .map_err(show)?;
    }
    Ok(())
}

/// `deployer` next to this benchmark's target directory (`target/debug/examples/bench` →
/// `target/debug/deployer`).
fn default_bin() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot locate myself: {e}"))?;
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot locate the target directory")?;
    let bin = profile_dir.join(format!("deployer{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} does not exist: build it (`cargo build --bins`) or pass --bin PATH",
            bin.display()
        ))
    }
}

/// What the figures depend on: the machine, its load, the binary and the toolchain.
fn machine(bench: &Bench) -> Vec<(&'static str, String)> {
    let first_line = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let proc_value = |file: &str, key: &str| {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    vec![
        (
            "cpu",
            format!("{} × {}", cpus, proc_value("/proc/cpuinfo", "model name")),
        ),
        ("memory", proc_value("/proc/meminfo", "MemTotal")),
        ("kernel", first_line("uname", &["-sr"])),
        ("rustc", first_line("rustc", &["--version"])),
        (
            "binary",
            format!(
                "{} ({}, {})",
                bench.bin.display(),
                build_kind(&bench.bin),
                first_line(&bench.bin.to_string_lossy(), &["--version"])
            ),
        ),
        (
            "moto",
            first_line(
                &moto_python(),
                &["-c", "import moto; print(moto.__version__)"],
            ),
        ),
        ("load before", load_average()),
    ]
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews wall times.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The Python that runs moto.
fn moto_python() -> String {
    std::env::var(moto::PYTHON_ENV).unwrap_or_else(|_| "python3".to_string())
}

/// "debug" or "release", guessed from the binary's path.
fn build_kind(bin: &Path) -> &'static str {
    let parts: BTreeSet<_> = bin.components().map(|c| c.as_os_str()).collect();
    if parts.contains(std::ffi::OsStr::new("release")) {
        "release build"
    } else if parts.contains(std::ffi::OsStr::new("debug")) {
        "debug build"
    } else {
        "build profile unknown"
    }
}

/// GNU time if it is there and works, else the Python wrapper (moto's Python).
fn detect_probe(scratch: &Path) -> RssProbe {
    let answer = scratch.join("probe");
    let gnu_time = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&answer)
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let parsed = std::fs::read_to_string(&answer)
        .ok()
        .and_then(|a| a.trim().parse::<u64>().ok())
        .is_some();
    if gnu_time && parsed {
        RssProbe::GnuTime
    } else {
        RssProbe::Python(moto_python())
    }
}

/// Turns the proxy's record into calls relative to the spawn, marks polls and repeats, and finds
/// the critical path.
fn analyse(finished: &Finished, mut timed: Vec<TimedCall>) -> Sample {
    timed.sort_by_key(|t| t.start);
    let since = |at: Instant| at.saturating_duration_since(finished.spawned);
    let first_write_end = timed
        .iter()
        .filter(|t| t.call.is_mutating())
        .map(|t| t.end)
        .min();
    let after_write = |at: Instant| first_write_end.is_some_and(|end| end <= at);
    // Per identical read: whether one was made after the first write.
    let mut seen: BTreeMap<(String, u64), bool> = BTreeMap::new();
    let calls: Vec<Call> = timed
        .iter()
        .map(|t| {
            let name = format!("{}:{}", t.call.service, t.call.operation);
            let write = t.call.is_mutating();
            let key = (name.clone(), t.request_hash);
            let earlier = if write { None } else { seen.get(&key).copied() };
            if !write {
                *seen.entry(key).or_default() |= after_write(t.start);
            }
            let again = earlier.is_some();
            let poll = earlier == Some(true);
            Call {
                name,
                write,
                failed: t.call.status >= 400,
                poll,
                repeat: again && !poll,
                start: since(t.start),
                end: since(t.end),
            }
        })
        .collect();
    let chain = critical_path(&calls);
    Sample {
        wall: finished.wall,
        max_rss_kib: finished.max_rss_kib,
        calls,
        chain,
    }
}

/// The longest chain of calls (sorted by start) in which each starts after the previous one
/// ended. Where several chains are as long, each call's predecessor is the one that ended last
/// before it started (the call it most plausibly waited for), and the chain is the one that
/// ends last.
fn critical_path(calls: &[Call]) -> Vec<usize> {
    // length[i]: the length of the longest chain ending with call i; before[i]: its predecessor.
    let mut length: Vec<usize> = Vec::with_capacity(calls.len());
    let mut before: Vec<Option<usize>> = Vec::with_capacity(calls.len());
    for (i, call) in calls.iter().enumerate() {
        let mut here: (usize, Option<usize>) = (1, None);
        for j in 0..i {
            if calls[j].end > call.start {
                continue;
            }
            let longer = length[j] + 1 > here.0;
            let later =
                length[j] + 1 == here.0 && here.1.is_some_and(|k| calls[j].end > calls[k].end);
            if longer || later {
                here = (length[j] + 1, Some(j));
            }
        }
        length.push(here.0);
        before.push(here.1);
    }
    let Some(mut at) = (0..calls.len()).max_by_key(|&i| (length[i], calls[i].end)) else {
        return Vec::new();
    };
    let mut chain = vec![at];
    while let Some(previous) = before[at] {
        chain.push(previous);
        at = previous;
    }
    chain.reverse();
    chain
}

/// The median of some values (the mean of the middle two for an even count).
fn median<T: Copy + Ord>(values: impl IntoIterator<Item = T>, mean: fn(T, T) -> T) -> Option<T> {
    let mut values: Vec<T> = values.into_iter().collect();
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(mean(values[n / 2 - 1], values[n / 2])),
    }
}

fn median_duration(values: impl IntoIterator<Item = Duration>) -> Duration {
    median(values, |a, b| (a + b) / 2).unwrap_or_default()
}

/// Medians of counts round up: a target on counts is missed if half the runs miss it.
fn median_count(values: impl IntoIterator<Item = usize>) -> usize {
    median(values, |a, b| (a + b).div_ceil(2)).unwrap_or_default()
}

fn secs(d: Duration) -> String {
    if d < Duration::from_millis(100) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

fn mb(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// One target, evaluated.
struct Verdict {
    cmd: Cmd,
    /// "API calls", "wall time", ...
    what: &'static str,
    measured: String,
    /// The target, e.g. "≤ 15".
    target: String,
    met: bool,
}

struct Report<'a> {
    bench: &'a Bench,
    samples: BTreeMap<Cmd, Vec<Sample>>,
    /// (what, value) pairs describing the machine, taken before the runs.
    machine: Vec<(&'static str, String)>,
    load_after: String,
    list_calls: bool,
}

/// The figures of one command over all runs.
struct Figures {
    wall: Duration,
    wall_min: Duration,
    wall_max: Duration,
    calls: usize,
    reads: usize,
    writes: usize,
    polls: usize,
    repeats: usize,
    chain: usize,
    start: Option<Duration>,
    /// The highest over the runs.
    max_rss_kib: Option<u64>,
}

impl Report<'_> {
    fn samples(&self, cmd: Cmd) -> &[Sample] {
        self.samples.get(&cmd).map(Vec::as_slice).unwrap_or(&[])
    }

    fn figures(&self, cmd: Cmd) -> Figures {
        let samples = self.samples(cmd);
        let count = |f: fn(&Sample) -> usize| median_count(samples.iter().map(f));
        let starts: Vec<Duration> = samples.iter().filter_map(Sample::start).collect();
        Figures {
            wall: median_duration(samples.iter().map(|s| s.wall)),
            wall_min: samples.iter().map(|s| s.wall).min().unwrap_or_default(),
            wall_max: samples.iter().map(|s| s.wall).max().unwrap_or_default(),
            calls: count(|s| s.calls.len()),
            reads: count(Sample::reads),
            writes: count(Sample::writes),
            polls: count(Sample::polls),
            repeats: count(Sample::repeats),
            chain: count(|s| s.chain.len()),
            start: (!starts.is_empty()).then(|| median_duration(starts)),
            max_rss_kib: samples.iter().filter_map(|s| s.max_rss_kib).max(),
        }
    }

    /// The sample whose wall time is the median (the lower middle one for an even count).
    fn typical(&self, cmd: Cmd) -> Option<&Sample> {
        let samples = self.samples(cmd);
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.sort_by_key(|&i| samples[i].wall);
        order
            .get(samples.len().saturating_sub(1) / 2)
            .map(|&i| &samples[i])
    }

    fn verdicts(&self) -> Vec<Verdict> {
        let latency = self.bench.latency;
        let mut verdicts = Vec::new();
        let mut push = |cmd, what, measured: String, target: String, met| {
            verdicts.push(Verdict {
                cmd,
                what,
                measured,
                target,
                met,
            })
        };
        for cmd in [Cmd::NoopApply, Cmd::Plan] {
            let f = self.figures(cmd);
            push(
                cmd,
                "API calls",
                f.calls.to_string(),
                format!("≤ {NOOP_MAX_CALLS}"),
                f.calls <= NOOP_MAX_CALLS,
            );
            push(
                cmd,
                "wall time",
                secs(f.wall),
                format!("< {}", secs(NOOP_MAX_WALL)),
                f.wall < NOOP_MAX_WALL,
            );
        }
        let f = self.figures(Cmd::ColdApply);
        push(
            Cmd::ColdApply,
            "API calls",
            f.calls.to_string(),
            format!("≤ {COLD_MAX_CALLS}"),
            f.calls <= COLD_MAX_CALLS,
        );
        let start = f.start.unwrap_or_default();
        let budget = latency.mul_f64(f.chain as f64 * COLD_WALL_FACTOR) + start;
        push(
            Cmd::ColdApply,
            "wall time",
            secs(f.wall),
            format!(
                "≤ {} = {COLD_WALL_FACTOR} × critical path ({} calls × {} ms) + start ({})",
                secs(budget),
                f.chain,
                latency.as_millis(),
                secs(start),
            ),
            f.wall <= budget,
        );
        let f = self.figures(Cmd::Destroy);
        push(
            Cmd::Destroy,
            "API calls",
            format!("{} + {} polls", f.calls - f.polls, f.polls),
            format!("≤ {DESTROY_MAX_CALLS} without polls"),
            f.calls - f.polls <= DESTROY_MAX_CALLS,
        );
        let f = self.figures(Cmd::DestroyHistory);
        let extra = HISTORY_REVISIONS - 1;
        let history_max =
            DESTROY_MAX_CALLS + CALLS_PER_EXTRA_REVISION * extra + extra / REVISIONS_PER_PAGE;
        push(
            Cmd::DestroyHistory,
            "API calls",
            format!("{} + {} polls", f.calls - f.polls, f.polls),
            format!(
                "≤ {history_max} without polls = {DESTROY_MAX_CALLS} + \
                 {CALLS_PER_EXTRA_REVISION} × {extra} revisions + {} pages",
                extra / REVISIONS_PER_PAGE
            ),
            f.calls - f.polls <= history_max,
        );
        let f = self.figures(Cmd::Outputs);
        push(
            Cmd::Outputs,
            "wall time",
            secs(f.wall),
            format!("< {}", secs(OUTPUTS_MAX_WALL)),
            f.wall < OUTPUTS_MAX_WALL,
        );
        push(
            Cmd::Outputs,
            "API calls",
            f.calls.to_string(),
            "= 0".into(),
            f.calls == 0,
        );
        for cmd in Cmd::ALL {
            let f = self.figures(cmd);
            push(
                cmd,
                "peak memory",
                f.max_rss_kib.map(mb).unwrap_or_else(|| "unknown".into()),
                format!("< {}", mb(MAX_RSS_KIB)),
                f.max_rss_kib.is_some_and(|kib| kib < MAX_RSS_KIB),
            );
        }
        verdicts
    }

    /// Per operation: the count in each run, reads then writes.
    fn operations(&self, cmd: Cmd) -> BTreeMap<(bool, String), OpCounts> {
        let samples = self.samples(cmd);
        let mut ops: BTreeMap<(bool, String), OpCounts> = BTreeMap::new();
        for (run, sample) in samples.iter().enumerate() {
            for call in &sample.calls {
                let op = ops
                    .entry((call.write, call.name.clone()))
                    .or_insert_with(|| OpCounts::new(samples.len()));
                op.calls[run] += 1;
                op.failed[run] += usize::from(call.failed);
                op.polls[run] += usize::from(call.poll);
                op.repeats[run] += usize::from(call.repeat);
            }
        }
        ops
    }

    fn text(&self) -> String {
        let bench = self.bench;
        let mut out = String::new();
        let _ = writeln!(out, "\ndeployer benchmark");
        for (what, value) in &self.machine {
            let _ = writeln!(out, "  {what:<12} {value}");
        }
        let _ = writeln!(out, "  {:<12} {}", "load after", self.load_after);
        let _ = writeln!(
            out,
            "{} ms per AWS call, {} run(s) per command, medians over the runs; peak memory is \
             the highest of the runs.",
            bench.latency.as_millis(),
            bench.runs,
        );
        if !bench.no_wait {
            let _ = writeln!(
                out,
                "This binary has no `apply --no-wait`; apply ran without it (it does not wait \
                 for the ECS rollout)."
            );
        }
        let _ = writeln!(
            out,
            "\n{:<24} {:>9} {:>21} {:>5} {:>5} {:>6} {:>5} {:>7} {:>10} {:>8} {:>9}",
            "command",
            "wall",
            "(min … max)",
            "calls",
            "reads",
            "writes",
            "polls",
            "repeats",
            "crit.path",
            "start",
            "peak RSS"
        );
        for cmd in Cmd::ALL {
            let f = self.figures(cmd);
            let ideal = if f.chain > 0 {
                format!("{} ({})", f.chain, secs(bench.latency * f.chain as u32))
            } else {
                "0".into()
            };
            let _ = writeln!(
                out,
                "{:<24} {:>9} {:>21} {:>5} {:>5} {:>6} {:>5} {:>7} {:>10} {:>8} {:>9}",
                cmd.label(bench),
                secs(f.wall),
                format!("({} … {})", secs(f.wall_min), secs(f.wall_max)),
                f.calls,
                f.reads,
                f.writes,
                f.polls,
                f.repeats,
                ideal,
                f.start.map(secs).unwrap_or_else(|| "-".into()),
                f.max_rss_kib.map(mb).unwrap_or_else(|| "?".into()),
            );
        }
        let _ = writeln!(
            out,
            "\ncrit.path: the longest chain of calls each starting after the previous ended, and \
             that many × latency; start: spawn → first AWS call; polls: 2nd and later identical \
             checks of a wait loop; repeats: other reads identical to an earlier one."
        );

        let _ = writeln!(
            out,
            "\nTargets at {} ms per call:",
            bench.latency.as_millis()
        );
        if bench.latency != Duration::from_millis(50) {
            let _ = writeln!(
                out,
                "  (the targets are meant for 50 ms; at another latency they are only indicative)"
            );
        }
        for v in self.verdicts() {
            let _ = writeln!(
                out,
                "  {:<6} {:<22} {:<11} {:>12}   target {}",
                if v.met { "met" } else { "MISSED" },
                v.cmd.label(bench),
                v.what,
                v.measured,
                v.target,
            );
        }

        let _ = writeln!(
            out,
            "\nAPI calls by operation (per run; \"a/b\" where runs differ; \"n failed\": error \
             answers, e.g. not-found reads):"
        );
        for cmd in Cmd::ALL {
            let ops = self.operations(cmd);
            if ops.is_empty() {
                let _ = writeln!(out, "  {}: none", cmd.label(bench));
                continue;
            }
            let _ = writeln!(out, "  {}:", cmd.label(bench));
            for (write, heading) in [(false, "reads "), (true, "writes")] {
                let list: Vec<String> = ops
                    .iter()
                    .filter(|((w, _), _)| *w == write)
                    .map(|((_, name), counts)| format!("{name} {}", counts.describe()))
                    .collect();
                if !list.is_empty() {
                    let _ = writeln!(out, "    {heading}: {}", wrap(&list, 100, 14));
                }
            }
        }

        let _ = writeln!(
            out,
            "\nCritical paths (of the run with the median wall time):"
        );
        for cmd in Cmd::ALL {
            let Some(sample) = self.typical(cmd) else {
                continue;
            };
            if sample.chain.is_empty() {
                continue;
            }
            let names: Vec<String> = sample
                .chain
                .iter()
                .map(|&i| sample.calls[i].name.clone())
                .collect();
            let _ = writeln!(
                out,
                "  {} — {} calls, ideal {} at {} ms, the chain's calls took {}, the run \
                 {}:\n    {}",
                cmd.label(bench),
                sample.chain.len(),
                secs(bench.latency * sample.chain.len() as u32),
                bench.latency.as_millis(),
                secs(sample.chain_time()),
                secs(sample.wall),
                wrap_chain(&names, 100, 4),
            );
        }
        if self.list_calls {
            self.call_lists(&mut out);
        }
        out
    }

    /// Every call of each command's median run: start and end since the spawn, and flags.
    fn call_lists(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\nCalls of the median runs (times since the process started; * on the critical \
             path):"
        );
        for cmd in Cmd::ALL {
            let Some(sample) = self.typical(cmd) else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {} (wall {}):",
                cmd.label(self.bench),
                secs(sample.wall)
            );
            for (i, call) in sample.calls.iter().enumerate() {
                let mut flags = Vec::new();
                for (on, flag) in [
                    (call.write, "write"),
                    (call.failed, "failed"),
                    (call.poll, "poll"),
                    (call.repeat, "repeat"),
                ] {
                    if on {
                        flags.push(flag);
                    }
                }
                let _ = writeln!(
                    out,
                    "    {} {:>8.1} … {:>7.1} ms  {:<52} {}",
                    if sample.chain.contains(&i) { "*" } else { " " },
                    ms(call.start),
                    ms(call.end),
                    call.name,
                    flags.join(" "),
                );
            }
        }
    }

    fn json(&self) -> serde_json::Value {
        let bench = self.bench;
        let commands: serde_json::Map<String, serde_json::Value> = Cmd::ALL
            .iter()
            .map(|&cmd| {
                let f = self.figures(cmd);
                let samples = self.samples(cmd);
                let operations: Vec<_> = self
                    .operations(cmd)
                    .into_iter()
                    .map(|((write, name), c)| {
                        json!({
                            "operation": name,
                            "write": write,
                            "calls_per_run": c.calls,
                            "failed_per_run": c.failed,
                            "polls_per_run": c.polls,
                            "repeats_per_run": c.repeats,
                        })
                    })
                    .collect();
                let chain: Vec<String> = self
                    .typical(cmd)
                    .map(|s| s.chain.iter().map(|&i| s.calls[i].name.clone()).collect())
                    .unwrap_or_default();
                let value = json!({
                    "label": cmd.label(bench),
                    "args": cmd.args(bench),
                    "wall_ms": { "median": ms(f.wall), "min": ms(f.wall_min), "max": ms(f.wall_max),
                                 "runs": samples.iter().map(|s| ms(s.wall)).collect::<Vec<_>>() },
                    "calls": f.calls,
                    "reads": f.reads,
                    "writes": f.writes,
                    "polls": f.polls,
                    "repeats": f.repeats,
                    "critical_path": { "calls": f.chain, "median_run": chain },
                    "start_ms": f.start.map(ms),
                    "peak_rss_kib": f.max_rss_kib,
                    "peak_rss_kib_runs": samples.iter().map(|s| s.max_rss_kib).collect::<Vec<_>>(),
                    "operations": operations,
                });
                (cmd.key().to_owned(), value)
            })
            .collect();
        let targets: Vec<_> = self
            .verdicts()
            .into_iter()
            .map(|v| {
                json!({ "command": v.cmd.key(), "what": v.what, "measured": v.measured,
                        "target": v.target, "met": v.met })
            })
            .collect();
        let machine: serde_json::Map<String, serde_json::Value> = self
            .machine
            .iter()
            .map(|(what, value)| (what.replace(' ', "_"), value.clone().into()))
            .collect();
        json!({
            "machine": machine,
            "load_after": self.load_after,
            "binary": bench.bin,
            "build": build_kind(&bench.bin),
            "latency_ms": bench.latency.as_millis() as u64,
            "runs": bench.runs,
            "no_wait": bench.no_wait,
            "commands": commands,
            "targets": targets,
        })
    }
}

/// Per-run counts of one operation.
struct OpCounts {
    calls: Vec<usize>,
    failed: Vec<usize>,
    polls: Vec<usize>,
    repeats: Vec<usize>,
}

impl OpCounts {
    fn new(runs: usize) -> OpCounts {
        OpCounts {
            calls: vec![0; runs],
            failed: vec![0; runs],
            polls: vec![0; runs],
            repeats: vec![0; runs],
        }
    }

    /// "×3", "×2/3" where runs differ, with notes: "(1 failed, 2 polls)".
    fn describe(&self) -> String {
        let per_run = |counts: &[usize]| -> String {
            let distinct: BTreeSet<usize> = counts.iter().copied().collect();
            distinct
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("/")
        };
        let mut text = format!("×{}", per_run(&self.calls));
        let mut notes = Vec::new();
        for (counts, what) in [
            (&self.failed, "failed"),
            (&self.polls, "polls"),
            (&self.repeats, "identical repeats"),
        ] {
            if counts.iter().any(|&n| n > 0) {
                notes.push(format!("{} {what}", per_run(counts)));
            }
        }
        if !notes.is_empty() {
            let _ = write!(text, " ({})", notes.join(", "));
        }
        text
    }
}

/// Joins items with ", ", wrapping at `width` with `indent` spaces.
fn wrap(items: &[String], width: usize, indent: usize) -> String {
    join_wrapped(items, ", ", width, indent)
}

fn wrap_chain(items: &[String], width: usize, indent: usize) -> String {
    join_wrapped(items, " → ", width, indent)
}

fn join_wrapped(items: &[String], separator: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut line = indent;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(separator.trim_end());
            line += separator.trim_end().chars().count();
            if line + 1 + item.chars().count() > width {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                line = indent;
            } else {
                out.push(' ');
                line += 1;
            }
        }
        out.push_str(item);
        line += item.chars().count();
    }
    out
}
