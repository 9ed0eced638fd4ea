//! The per-environment configuration file (`envs/<env>.toml`) and everything
//! needed to trust it.
//!
//! This module exists so that a bad configuration fails *here*, before a single
//! AWS call is made, with a message that points at the line to fix. A typo that
//! only surfaces as an AWS error halfway through a deployment (the stack this
//! tool replaces once shipped `region = "eu-centra1-1"`) leaves resources
//! half-created and costs far more time than a precise error up front.
//!
//! Loading is done in layers, each producing its own kind of [`ConfigError`]:
//!
//! 1. syntax: the text must be TOML ([`ConfigError::Parse`]);
//! 2. shape: known keys only, the right types, required keys present
//!    ([`ConfigError::Parse`]);
//! 3. meaning: every value within what AWS accepts, checked all at once so a
//!    person fixes the file in one pass ([`ConfigError::Invalid`]).
//!
//! Numbers are first read as `i64` so that `port = 70000` or
//! `desired_count = -1` are reported as validation problems that say what is
//! allowed, instead of as serde overflow errors. Positions come from a second,
//! span-preserving parse of the same text with `toml_edit`.
//!
//! The naming rule of every AWS resource (`{project}-{environment}-{suffix}`)
//! lives here too, with [`RESOURCE_SUFFIXES`], because the length limits of
//! those names are what bound the length of `project` and `environment`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

// ---------------------------------------------------------------------------
// Public configuration types
// ---------------------------------------------------------------------------

/// A validated environment configuration: one `envs/<env>.toml` file.
///
/// Obtain it through [`Config::load`] or [`Config::from_toml_str`]; those
/// guarantee every value is acceptable to AWS. The serde derives exist for
/// round-tripping (state files, `--print-config`); deserializing directly does
/// not validate, so call [`Config::validate`] on such a value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Project name, the first part of every resource name.
    pub project: String,
    /// Environment name (`dev`, `prod`, ...), the second part of every
    /// resource name.
    pub environment: String,
    /// AWS region to deploy into, e.g. `eu-central-1`.
    pub region: String,
    /// Endpoint of a local AWS emulator; `None` talks to real AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// The application container.
    pub container: ContainerConfig,
    /// Fargate task size.
    #[serde(default)]
    pub task: TaskConfig,
    /// ECS service and its rolling deployment.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Application Load Balancer listener and target group.
    #[serde(default)]
    pub load_balancer: LoadBalancerConfig,
    /// Target group health check.
    #[serde(default)]
    pub health_check: HealthCheckConfig,
    /// CloudWatch Logs.
    #[serde(default)]
    pub logs: LogsConfig,
    /// ECR repository settings.
    #[serde(default)]
    pub ecr: EcrConfig,
    /// How long to wait on AWS.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
}

/// The `[container]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    /// Image reference, `[registry[:port]/]path[:tag][@sha256:digest]`.
    pub image: String,
    /// Port the container listens on (default 5000).
    #[serde(default = "default_container_port")]
    pub port: u16,
    /// Plain environment variables, by name.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Secret environment variables: name to the ARN of an SSM parameter or a
    /// Secrets Manager secret, resolved by ECS at task start.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

/// Default of [`ContainerConfig::port`]; Flask's usual port.
pub const DEFAULT_CONTAINER_PORT: u16 = 5000;

fn default_container_port() -> u16 {
    DEFAULT_CONTAINER_PORT
}

/// The `[task]` table: Fargate CPU units and memory (MiB).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskConfig {
    /// CPU units; 1024 is one vCPU.
    pub cpu: u32,
    /// Memory in MiB; must be a Fargate combination with `cpu`.
    pub memory: u32,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            cpu: 256,
            memory: 512,
        }
    }
}

/// The `[service]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Number of tasks to keep running.
    pub desired_count: u32,
    /// Lower bound of running tasks during a deployment, in percent.
    pub min_healthy_percent: u32,
    /// Upper bound of running tasks during a deployment, in percent.
    pub max_percent: u32,
    /// Seconds ECS ignores failing load balancer health checks of a new task.
    pub health_check_grace_seconds: u32,
    /// Deployment circuit breaker with automatic rollback.
    pub circuit_breaker: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            desired_count: 2,
            min_healthy_percent: 100,
            max_percent: 200,
            health_check_grace_seconds: 60,
            circuit_breaker: true,
        }
    }
}

/// The `[load_balancer]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadBalancerConfig {
    /// Listener port.
    pub port: u16,
    /// Seconds the target group drains a deregistered task.
    pub deregistration_delay_seconds: u32,
}

impl Default for LoadBalancerConfig {
    fn default() -> Self {
        LoadBalancerConfig {
            port: 80,
            deregistration_delay_seconds: 30,
        }
    }
}

/// The `[health_check]` table: the target group's HTTP health check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    /// Request path, starting with `/`.
    pub path: String,
    /// Seconds between checks.
    pub interval_seconds: u32,
    /// Seconds before a check counts as failed; below `interval_seconds`.
    pub timeout_seconds: u32,
    /// Consecutive successes before a target is healthy.
    pub healthy_threshold: u32,
    /// Consecutive failures before a target is unhealthy.
    pub unhealthy_threshold: u32,
    /// Successful HTTP codes: `"200"`, `"200,302"` or `"200-299"`.
    pub matcher: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            path: "/".to_string(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: "200".to_string(),
        }
    }
}

/// The `[logs]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogsConfig {
    /// Log group retention; one of [`LOG_RETENTION_DAYS`].
    pub retention_days: u32,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig { retention_days: 30 }
    }
}

/// The `[ecr]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EcrConfig {
    /// Scan images for vulnerabilities when pushed.
    pub scan_on_push: bool,
    /// Forbid overwriting a tag.
    pub immutable_tags: bool,
    /// The lifecycle policy keeps the last N images.
    pub keep_images: u32,
}

impl Default for EcrConfig {
    fn default() -> Self {
        EcrConfig {
            scan_on_push: true,
            immutable_tags: false,
            keep_images: 30,
        }
    }
}

/// The `[timeouts]` table: time budgets, in seconds, for waiting on AWS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutsConfig {
    /// Waiting for a new IAM role to be usable by ECS.
    pub iam_propagation: u32,
    /// Waiting for ENIs to detach before a security group can be deleted.
    pub resource_release: u32,
    /// Waiting for the ECS rollout to finish.
    pub deployment: u32,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            iam_propagation: 240,
            resource_release: 1200,
            deployment: 900,
        }
    }
}

// ---------------------------------------------------------------------------
// Tables of what AWS accepts
// ---------------------------------------------------------------------------

/// Suffixes of the derived resource names (see [`Config::resource_name`]).
///
/// Kept as named constants so every module spells a resource's name the same
/// way; a renamed suffix would otherwise orphan the resources deployed under
/// the old name.
pub mod suffix {
    /// Application Load Balancer.
    pub const ALB: &str = "alb";
    /// Target group.
    pub const TARGET_GROUP: &str = "tg";
    /// Security group of the load balancer.
    pub const ALB_SECURITY_GROUP: &str = "alb-sg";
    /// Security group of the ECS tasks.
    pub const ECS_SECURITY_GROUP: &str = "ecs-sg";
    /// IAM task execution role.
    pub const TASK_EXECUTION_ROLE: &str = "ecs-task-execution-role";
    /// ECR repository.
    pub const ECR_REPOSITORY: &str = "ecr";
    /// CloudWatch log group.
    pub const LOG_GROUP: &str = "logs";
    /// ECS cluster.
    pub const CLUSTER: &str = "cluster";
    /// ECS service.
    pub const SERVICE: &str = "service";
    /// Task definition family.
    pub const TASK_FAMILY: &str = "task";
}

/// Every derived resource name: `(suffix, what it names, maximum length)`.
///
/// Validation checks `{project}-{environment}-{suffix}` against each maximum,
/// so a name that AWS would reject is caught before anything is created. The
/// project/environment alphabet (lowercase letters, digits, single hyphens)
/// already satisfies every character rule of these resources.
pub const RESOURCE_SUFFIXES: &[(&str, &str, usize)] = &[
    (suffix::ALB, "load balancer", 32),
    (suffix::TARGET_GROUP, "target group", 32),
    (suffix::TASK_EXECUTION_ROLE, "IAM role", 64),
    (suffix::ECR_REPOSITORY, "ECR repository", 256),
    (suffix::ALB_SECURITY_GROUP, "security group", 255),
    (suffix::ECS_SECURITY_GROUP, "security group", 255),
    (suffix::LOG_GROUP, "log group", 512),
    (suffix::CLUSTER, "ECS cluster", 255),
    (suffix::SERVICE, "ECS service", 255),
    (suffix::TASK_FAMILY, "task definition family", 255),
];

/// Every AWS region this tool accepts: the commercial partition, China,
/// GovCloud and the European Sovereign Cloud (the same list as the AWS SDK's
/// partition table). Sorted.
pub const AWS_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eusc-de-east-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// Fargate CPU units, ascending.
pub const FARGATE_CPU_UNITS: &[u32] = &[256, 512, 1024, 2048, 4096, 8192, 16384];

/// The memory sizes (MiB) Fargate accepts with `cpu` units, ascending, or
/// `None` if `cpu` is not a Fargate CPU value.
pub fn fargate_memory_options(cpu: u32) -> Option<Vec<u32>> {
    let stepped = |lo: u32, hi: u32, step: u32| (lo..=hi).step_by(step as usize).collect();
    match cpu {
        256 => Some(vec![512, 1024, 2048]),
        512 => Some(stepped(1024, 4096, 1024)),
        1024 => Some(stepped(2048, 8192, 1024)),
        2048 => Some(stepped(4096, 16384, 1024)),
        4096 => Some(stepped(8192, 30720, 1024)),
        8192 => Some(stepped(16384, 61440, 4096)),
        16384 => Some(stepped(32768, 122880, 8192)),
        _ => None,
    }
}

/// The retention periods (days) CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a configuration could not be loaded.
///
/// The `Display` text is meant to be shown to a person as is, and is kept
/// stable (it is snapshot-tested): compiler-style `path:line:column:` prefixes
/// so editors and terminals can jump to the spot.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8). For a
    /// missing file the message also lists the `.toml` files that do exist
    /// next to it.
    #[error("{}", display_read(path, error))]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// The underlying I/O error. Not a `source`: the message already says it, and a cause
        /// chain printed on one line would say it twice.
        error: std::io::Error,
    },
    /// The text is not TOML, or does not have the expected shape: an unknown
    /// key, a wrong type, a missing required key.
    #[error("{}", display_parse(path, message))]
    Parse {
        /// The file (or origin given to [`Config::from_toml_str`]).
        path: PathBuf,
        /// `line:column: description` (the location is left out only when
        /// unknown), possibly followed by an excerpt of the offending line.
        message: String,
    },
    /// The file is well-formed but some values are not acceptable. Every
    /// problem is listed, in file order.
    #[error("{}", display_invalid(path, problems))]
    Invalid {
        /// The file (or origin given to [`Config::from_toml_str`]).
        path: PathBuf,
        /// All problems found, sorted by position.
        problems: Vec<Problem>,
    },
}

/// One unacceptable value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the key, like `task.memory` or
    /// `container.environment.FLASK_APP`.
    pub key: String,
    /// 1-based line of the value (of the key, for a problem with a key's
    /// name such as an environment variable's; of the closest related key
    /// when the value was left to its default); `None` when not known, as
    /// from [`Config::validate`].
    pub line: Option<usize>,
    /// 1-based column (in characters) matching `line`.
    pub column: Option<usize>,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for Problem {
    /// `line:column: key: message`, or `key: message` when not located.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "{line}:{column}: ")?;
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Joins a path and a message that may begin with `line:column:`, the way
/// compilers do (`file:3:10: ...` but `file: ...`).
fn with_path(path: &Path, located: &str) -> String {
    let sep = if located.starts_with(|c: char| c.is_ascii_digit()) {
        ":"
    } else {
        ": "
    };
    format!("{}{sep}{located}", path.display())
}

fn display_read(path: &Path, source: &std::io::Error) -> String {
    let mut out = format!("cannot read {}: {source}", path.display());
    if source.kind() == std::io::ErrorKind::NotFound {
        if let Some(hint) = not_found_hint(path) {
            out.push_str("\n  hint: ");
            out.push_str(&hint);
        }
    }
    out
}

/// Lists the configurations that do exist next to a missing one, because the
/// usual cause is a mistyped environment name.
///
/// This runs when the error is displayed, not when it is created, because the
/// `Read` variant carries only the path; the listing is sorted so the text is
/// stable for a given directory.
fn not_found_hint(path: &Path) -> Option<String> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "directory {} does not exist here; run deployer from the directory that holds \
                 it, or name the file with --config PATH",
                dir.display()
            ));
        }
        Err(_) => return None,
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Some(format!("{} has no .toml files", dir.display()));
    }
    let wanted = path.file_name()?.to_string_lossy().into_owned();
    let listing = format!(".toml files in {}: {}", dir.display(), names.join(", "));
    let closest = names
        .iter()
        .map(|n| (strsim::damerau_levenshtein(n, &wanted), n))
        .min()
        .filter(|(d, _)| *d <= 2);
    Some(match closest {
        Some((_, name)) => format!("did you mean {}? ({listing})", dir.join(name).display()),
        None => listing,
    })
}

fn display_parse(path: &Path, message: &str) -> String {
    with_path(path, message)
}

fn display_invalid(path: &Path, problems: &[Problem]) -> String {
    match problems {
        [] => format!("{}: invalid configuration", path.display()),
        [one] => with_path(path, &one.to_string()),
        many => {
            let mut out = format!("{}: {} problems:", path.display(), many.len());
            for p in many {
                out.push_str("\n  ");
                out.push_str(&with_path(path, &p.to_string()));
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

impl Config {
    /// Reads, parses and validates a file. Never touches the network.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Same as [`Config::load`] from a string; `origin` is the path used in
    /// messages.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        // Editors on Windows may save a BOM, which TOML does not allow.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let parse_error = |message: String| ConfigError::Parse {
            path: origin.to_path_buf(),
            message,
        };

        let doc = toml_edit::ImDocument::parse(text)
            .map_err(|e| parse_error(describe_syntax_error(text, e.message(), e.span())))?;
        let locator = Locator::new(text, &doc);
        if let Some(message) = check_table_shapes(&locator, &doc) {
            return Err(parse_error(message));
        }
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| parse_error(describe_shape_error(&locator, e.message(), e.span())))?;

        let mut validator = Validator {
            locator: Some(&locator),
            problems: Vec::new(),
        };
        let config = build(&raw, &mut validator);
        if validator.problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: origin.to_path_buf(),
                problems: validator.into_sorted(),
            })
        }
    }

    /// Checks a `Config` that did not come from [`Config::load`] (built in
    /// code or deserialized directly) against the same rules. The problems
    /// carry no line or column.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut validator = Validator {
            locator: None,
            problems: Vec::new(),
        };
        build(&RawConfig::from(self), &mut validator);
        if validator.problems.is_empty() {
            Ok(())
        } else {
            Err(validator.into_sorted())
        }
    }

    /// `{project}-{environment}-{suffix}`, the naming rule of every AWS
    /// resource. Use the constants in [`suffix`].
    pub fn resource_name(&self, suffix: &str) -> String {
        format!("{}-{}-{}", self.project, self.environment, suffix)
    }
}

// ---------------------------------------------------------------------------
// The file as written: wide integers and no validation yet
// ---------------------------------------------------------------------------

/// An integer as written in the file, before range checks. Reading every
/// number as `i64` turns `port = 70000` into a validation problem that says
/// what is allowed, rather than a serde overflow error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl serde::de::Visitor<'_> for IntVisitor {
            type Value = Int;
            // Shown as "expected an integer" rather than serde's "expected i64".
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Int, E> {
                Ok(Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
        }
        deserializer.deserialize_i64(IntVisitor)
    }
}

impl From<u32> for Int {
    fn from(v: u32) -> Self {
        Int(v.into())
    }
}

impl From<u16> for Int {
    fn from(v: u16) -> Self {
        Int(v.into())
    }
}

// The raw mirror takes its defaults from the public types' `Default` impls so
// the documented defaults are written down exactly once.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    project: String,
    environment: String,
    region: String,
    #[serde(default)]
    endpoint_url: Option<String>,
    container: RawContainer,
    #[serde(default)]
    task: RawTask,
    #[serde(default)]
    service: RawService,
    #[serde(default)]
    load_balancer: RawLoadBalancer,
    #[serde(default)]
    health_check: RawHealthCheck,
    #[serde(default)]
    logs: RawLogs,
    #[serde(default)]
    ecr: RawEcr,
    #[serde(default)]
    timeouts: RawTimeouts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContainer {
    image: String,
    #[serde(default = "raw_default_container_port")]
    port: Int,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

fn raw_default_container_port() -> Int {
    DEFAULT_CONTAINER_PORT.into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTask {
    cpu: Int,
    memory: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawService {
    desired_count: Int,
    min_healthy_percent: Int,
    max_percent: Int,
    health_check_grace_seconds: Int,
    circuit_breaker: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLoadBalancer {
    port: Int,
    deregistration_delay_seconds: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHealthCheck {
    path: String,
    interval_seconds: Int,
    timeout_seconds: Int,
    healthy_threshold: Int,
    unhealthy_threshold: Int,
    matcher: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLogs {
    retention_days: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawEcr {
    scan_on_push: bool,
    immutable_tags: bool,
    keep_images: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTimeouts {
    iam_propagation: Int,
    resource_release: Int,
    deployment: Int,
}

impl From<&Config> for RawConfig {
    fn from(c: &Config) -> Self {
        RawConfig {
            project: c.project.clone(),
            environment: c.environment.clone(),
            region: c.region.clone(),
            endpoint_url: c.endpoint_url.clone(),
            container: RawContainer {
                image: c.container.image.clone(),
                port: c.container.port.into(),
                environment: c.container.environment.clone(),
                secrets: c.container.secrets.clone(),
            },
            task: (&c.task).into(),
            service: (&c.service).into(),
            load_balancer: (&c.load_balancer).into(),
            health_check: (&c.health_check).into(),
            logs: (&c.logs).into(),
            ecr: (&c.ecr).into(),
            timeouts: (&c.timeouts).into(),
        }
    }
}

impl From<&TaskConfig> for RawTask {
    fn from(t: &TaskConfig) -> Self {
        RawTask {
            cpu: t.cpu.into(),
            memory: t.memory.into(),
        }
    }
}

impl Default for RawTask {
    fn default() -> Self {
        (&TaskConfig::default()).into()
    }
}

impl From<&ServiceConfig> for RawService {
    fn from(s: &ServiceConfig) -> Self {
        RawService {
            desired_count: s.desired_count.into(),
            min_healthy_percent: s.min_healthy_percent.into(),
            max_percent: s.max_percent.into(),
            health_check_grace_seconds: s.health_check_grace_seconds.into(),
            circuit_breaker: s.circuit_breaker,
        }
    }
}

impl Default for RawService {
    fn default() -> Self {
        (&ServiceConfig::default()).into()
    }
}

impl From<&LoadBalancerConfig> for RawLoadBalancer {
    fn from(l: &LoadBalancerConfig) -> Self {
        RawLoadBalancer {
            port: l.port.into(),
            deregistration_delay_seconds: l.deregistration_delay_seconds.into(),
        }
    }
}

impl Default for RawLoadBalancer {
    fn default() -> Self {
        (&LoadBalancerConfig::default()).into()
    }
}

impl From<&HealthCheckConfig> for RawHealthCheck {
    fn from(h: &HealthCheckConfig) -> Self {
        RawHealthCheck {
            path: h.path.clone(),
            interval_seconds: h.interval_seconds.into(),
            timeout_seconds: h.timeout_seconds.into(),
            healthy_threshold: h.healthy_threshold.into(),
            unhealthy_threshold: h.unhealthy_threshold.into(),
            matcher: h.matcher.clone(),
        }
    }
}

impl Default for RawHealthCheck {
    fn default() -> Self {
        (&HealthCheckConfig::default()).into()
    }
}

impl From<&LogsConfig> for RawLogs {
    fn from(l: &LogsConfig) -> Self {
        RawLogs {
            retention_days: l.retention_days.into(),
        }
    }
}

impl Default for RawLogs {
    fn default() -> Self {
        (&LogsConfig::default()).into()
    }
}

impl From<&EcrConfig> for RawEcr {
    fn from(e: &EcrConfig) -> Self {
        RawEcr {
            scan_on_push: e.scan_on_push,
            immutable_tags: e.immutable_tags,
            keep_images: e.keep_images.into(),
        }
    }
}

impl Default for RawEcr {
    fn default() -> Self {
        (&EcrConfig::default()).into()
    }
}

impl From<&TimeoutsConfig> for RawTimeouts {
    fn from(t: &TimeoutsConfig) -> Self {
        RawTimeouts {
            iam_propagation: t.iam_propagation.into(),
            resource_release: t.resource_release.into(),
            deployment: t.deployment.into(),
        }
    }
}

impl Default for RawTimeouts {
    fn default() -> Self {
        (&TimeoutsConfig::default()).into()
    }
}

/// The keys each table accepts, `""` being the top level. serde knows these
/// too but does not expose them; they are needed to tell a person that `cpu`
/// belongs in `[task]`. A unit test keeps this in step with the structs.
const SCHEMA: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "project",
            "environment",
            "region",
            "endpoint_url",
            "container",
            "task",
            "service",
            "load_balancer",
            "health_check",
            "logs",
            "ecr",
            "timeouts",
        ],
    ),
    ("container", &["image", "port", "environment", "secrets"]),
    ("task", &["cpu", "memory"]),
    (
        "service",
        &[
            "desired_count",
            "min_healthy_percent",
            "max_percent",
            "health_check_grace_seconds",
            "circuit_breaker",
        ],
    ),
    ("load_balancer", &["port", "deregistration_delay_seconds"]),
    (
        "health_check",
        &[
            "path",
            "interval_seconds",
            "timeout_seconds",
            "healthy_threshold",
            "unhealthy_threshold",
            "matcher",
        ],
    ),
    ("logs", &["retention_days"]),
    ("ecr", &["scan_on_push", "immutable_tags", "keep_images"]),
    (
        "timeouts",
        &["iam_propagation", "resource_release", "deployment"],
    ),
];

/// Keys whose value must be a single table.
const TABLE_KEYS: &[&[&str]] = &[
    &["container"],
    &["container", "environment"],
    &["container", "secrets"],
    &["task"],
    &["service"],
    &["load_balancer"],
    &["health_check"],
    &["logs"],
    &["ecr"],
    &["timeouts"],
];

// ---------------------------------------------------------------------------
// Positions: which key sits where in the text
// ---------------------------------------------------------------------------

struct Entry {
    path: Vec<String>,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
}

/// 1-based line and character column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Maps dotted key paths to positions and back, from a span-preserving parse.
struct Locator<'a> {
    text: &'a str,
    entries: Vec<Entry>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str, doc: &toml_edit::ImDocument<&str>) -> Self {
        fn walk(table: &dyn toml_edit::TableLike, prefix: &[String], out: &mut Vec<Entry>) {
            for (name, item) in table.iter() {
                let mut path = prefix.to_vec();
                path.push(name.to_string());
                let key = table.get_key_value(name).and_then(|(k, _)| k.span());
                out.push(Entry {
                    path: path.clone(),
                    key,
                    value: item.span(),
                });
                if let Some(inner) = item.as_table_like() {
                    walk(inner, &path, out);
                }
            }
        }
        let mut entries = Vec::new();
        walk(doc.as_table(), &[], &mut entries);
        Locator { text, entries }
    }

    fn find(&self, path: &[&str]) -> Option<&Entry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// 1-based line and character column of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(self.text, offset)
    }

    /// Position of a key's value; for a key left out, the position of its
    /// closest enclosing key that is written in the file.
    fn value_pos(&self, path: &[&str]) -> Option<(usize, usize)> {
        (1..=path.len()).rev().find_map(|n| {
            let entry = self.find(&path[..n])?;
            let span = entry.value.clone().or_else(|| entry.key.clone())?;
            Some(self.line_col(span.start))
        })
    }

    /// Position of a key itself (for problems with the name, not the value).
    fn key_pos(&self, path: &[&str]) -> Option<(usize, usize)> {
        let span = self.find(path)?.key.clone()?;
        Some(self.line_col(span.start))
    }

    /// The innermost entry whose key or value starts at, or contains, `offset`.
    fn path_at(&self, offset: usize) -> Option<&[String]> {
        let contains = |r: &Option<Range<usize>>| {
            r.as_ref()
                .is_some_and(|r| r.start <= offset && offset < r.end.max(r.start + 1))
        };
        self.entries
            .iter()
            .filter(|e| contains(&e.key) || contains(&e.value))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.as_slice())
    }
}

// ---------------------------------------------------------------------------
// Parse errors: the toml crate's messages, reworded for a person
// ---------------------------------------------------------------------------

/// `file:line:col: invalid TOML: ...` followed by the line and a caret,
/// because a syntax error's wording alone rarely shows what is wrong.
fn describe_syntax_error(text: &str, message: &str, span: Option<Range<usize>>) -> String {
    let reworded = if message.starts_with("invalid string\nexpected `\"`, `'`") {
        "expected a value; strings need quotes, like \"simhill\"".to_string()
    } else {
        message.trim().lines().collect::<Vec<_>>().join("; ")
    };
    let Some(span) = span else {
        return format!("invalid TOML: {reworded}");
    };
    let (line, column) = line_col(text, span.start);
    let source_line = text.lines().nth(line - 1).unwrap_or("").replace('\t', " ");
    let gutter = " ".repeat(line.to_string().len());
    format!(
        "{line}:{column}: invalid TOML: {reworded}\n  {line} | {source_line}\n  {gutter} | {}^",
        " ".repeat(column - 1)
    )
}

/// Rejects arrays (`[[task]]`) and scalars where a table belongs, before serde
/// sees them: serde would read an array of tables as a struct written as a
/// sequence and report a confusing type error about its first field.
fn check_table_shapes(locator: &Locator<'_>, doc: &toml_edit::ImDocument<&str>) -> Option<String> {
    let lookup = |path: &[&str]| {
        path.iter()
            .try_fold(doc.as_item(), |item, part| item.as_table_like()?.get(part))
    };
    for path in TABLE_KEYS {
        let Some(item) = lookup(path) else { continue };
        if item.is_table_like() {
            continue;
        }
        let found = match item {
            toml_edit::Item::ArrayOfTables(_) => {
                format!("an array of tables [[{}]]", path.join("."))
            }
            toml_edit::Item::Value(v) => format!("{} {}", v.type_name(), v.to_string().trim()),
            _ => "nothing".to_string(),
        };
        let located = locator
            .value_pos(path)
            .map(|(l, c)| format!("{l}:{c}: "))
            .unwrap_or_default();
        return Some(format!(
            "{located}{}: expected a table [{}], found {found}",
            path.join("."),
            path.join(".")
        ));
    }
    None
}

/// Rewords serde's messages (unknown field, missing field, invalid type) to
/// name the key, its table and what is expected.
fn describe_shape_error(
    locator: &Locator<'_>,
    message: &str,
    span: Option<Range<usize>>,
) -> String {
    let located = span
        .as_ref()
        .map(|s| {
            let (l, c) = locator.line_col(s.start);
            format!("{l}:{c}: ")
        })
        .unwrap_or_default();
    let path_here: Option<Vec<&str>> = span
        .as_ref()
        .and_then(|s| locator.path_at(s.start))
        .map(|p| p.iter().map(String::as_str).collect());

    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, tail)) = rest.split_once('`') {
            let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let table = match &path_here {
                Some(p) if p.last() == Some(&field) => p[..p.len() - 1].join("."),
                _ => SCHEMA
                    .iter()
                    .find(|(_, fields)| *fields == expected.as_slice())
                    .map_or(String::new(), |(t, _)| (*t).to_string()),
            };
            return format!("{located}{}", unknown_key_message(field, &table, &expected));
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        let tables: Vec<&str> = SCHEMA
            .iter()
            .filter(|(_, fields)| fields.contains(&field))
            .map(|(t, _)| *t)
            .collect();
        let text = match (field, tables.as_slice()) {
            ("container", _) => {
                "missing required table [container]; it must set at least `image`".to_string()
            }
            (_, [""]) => format!(
                "missing required key `{field}` at the top level (before the first [table])"
            ),
            (_, [table]) => format!("missing required key `{field}` in [{table}]"),
            _ => format!("missing required key `{field}`"),
        };
        return format!("{located}{text}");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            let key = path_here.as_deref().map(dotted).unwrap_or_default();
            let mut text = format!(
                "expected {}, found {}",
                nice_type(expected),
                nice_type(found)
            );
            let scalar = ["integer", "floating point", "boolean"]
                .iter()
                .any(|t| found.starts_with(t));
            // Environment values are strings even when they look like numbers.
            let env_value = path_here
                .as_deref()
                .is_some_and(|p| p.starts_with(&["container", "environment"]));
            if expected == "a string" && scalar && env_value {
                if let Some(raw) = span.as_ref().and_then(|s| locator.text.get(s.clone())) {
                    text.push_str(&format!("; put it in quotes: \"{raw}\""));
                }
            }
            return if key.is_empty() {
                format!("{located}{text}")
            } else {
                format!("{located}{key}: {text}")
            };
        }
    }
    let key = path_here.as_deref().map(dotted).unwrap_or_default();
    let text = message.trim().lines().collect::<Vec<_>>().join("; ");
    if key.is_empty() {
        format!("{located}{text}")
    } else {
        format!("{located}{key}: {text}")
    }
}

fn unknown_key_message(field: &str, table: &str, expected: &[&str]) -> String {
    let place = if table.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in [{table}]")
    };
    let mut text = format!("unknown key `{field}` {place}");
    // A key from another table usually means a missing or misplaced [header].
    let homes: Vec<String> = SCHEMA
        .iter()
        .filter(|(t, fields)| *t != table && !t.is_empty() && fields.contains(&field))
        .map(|(t, _)| format!("[{t}]"))
        .collect();
    if !homes.is_empty() {
        text.push_str(&format!(" (`{field}` belongs in {})", join_or(&homes)));
    } else if let Some(best) = closest(field, expected.iter().copied()) {
        text.push_str(&format!(" (did you mean `{best}`?)"));
    }
    if !expected.is_empty() {
        text.push_str(&format!("; expected one of: {}", expected.join(", ")));
    }
    text
}

fn nice_type(t: &str) -> String {
    match t {
        "map" | "a map" => "a table".to_string(),
        "sequence" | "a sequence" => "an array".to_string(),
        "i64" | "u16" | "u32" => "an integer".to_string(),
        _ if t.starts_with("struct ") => "a table".to_string(),
        _ => t.replacen("floating point", "float", 1),
    }
}

/// The closest candidate by edit distance if close enough to be a typo, or
/// else the only candidate that begins with `word` (`retention` for
/// `retention_days`).
fn closest<'c>(word: &str, candidates: impl Iterator<Item = &'c str> + Clone) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let typo = candidates
        .clone()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    typo.or_else(|| {
        let mut prefixed = candidates.filter(|c| word.len() >= 3 && c.starts_with(word));
        match (prefixed.next(), prefixed.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}

/// A dotted key path as it would be written in TOML.
fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    path.iter()
        .map(|part| {
            let part = part.as_ref();
            let bare = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                part.to_string()
            } else {
                format!("{part:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `a`, `a or b`, `a, b or c`.
fn join_or<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!(
            "{} or {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

// ---------------------------------------------------------------------------
// Validation: checks every value and converts to the public types
// ---------------------------------------------------------------------------

struct Validator<'a> {
    locator: Option<&'a Locator<'a>>,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn push_at(&mut self, key: &[&str], pos: Option<(usize, usize)>, message: String) {
        self.problems.push(Problem {
            key: dotted(key),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message,
        });
    }

    /// A problem with a value, located at the value.
    fn push(&mut self, key: &[&str], message: String) {
        let pos = self.locator.and_then(|l| l.value_pos(key));
        self.push_at(key, pos, message);
    }

    /// A problem with a value, located at the first of `at` that is written
    /// in the file (for a value left to its default, the related key that
    /// made it wrong).
    fn push_near(&mut self, key: &[&str], at: &[&[&str]], message: String) {
        let pos = self.locator.and_then(|l| {
            at.iter()
                .find(|p| l.find(p).is_some())
                .and_then(|p| l.value_pos(p))
                .or_else(|| l.value_pos(key))
        });
        self.push_at(key, pos, message);
    }

    /// A problem with a key's name, located at the key.
    fn push_key(&mut self, key: &[&str], message: String) {
        let pos = self
            .locator
            .and_then(|l| l.key_pos(key).or_else(|| l.value_pos(key)));
        self.push_at(key, pos, message);
    }

    fn into_sorted(mut self) -> Vec<Problem> {
        // File order; problems without a position (none when loaded from a
        // file) go last. The sort is stable, so ties keep check order.
        self.problems
            .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0)));
        self.problems
    }

    fn in_range(&mut self, key: &[&str], value: Int, lo: i64, hi: i64) -> Option<i64> {
        let Int(v) = value;
        if (lo..=hi).contains(&v) {
            return Some(v);
        }
        let allowed = if hi == i64::from(u32::MAX) {
            if v < lo {
                format!("must be {lo} or more")
            } else {
                format!("must be at most {hi}")
            }
        } else {
            format!("allowed {lo}-{hi}")
        };
        self.push(key, format!("{v} is out of range; {allowed}"));
        None
    }

    /// A `u32` in `lo..=hi`; 0 after recording a problem (the result is then
    /// discarded with the rest of the config).
    fn u32_in(&mut self, key: &[&str], value: Int, lo: u32, hi: u32) -> u32 {
        self.in_range(key, value, lo.into(), hi.into())
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    }

    fn port(&mut self, key: &[&str], value: Int) -> u16 {
        match u16::try_from(value.0) {
            Ok(p) if p != 0 => p,
            _ => {
                self.push(
                    key,
                    format!("{} is not a valid port; ports 1-65535", value.0),
                );
                0
            }
        }
    }

    fn name(&mut self, key: &[&str], value: &str) -> bool {
        match name_error(value) {
            None => true,
            Some(why) => {
                let mut msg = format!(
                    "{value:?} {why}; use lowercase letters, digits and single hyphens, starting with a letter"
                );
                let fixed = sanitize_name(value);
                if fixed != value && name_error(&fixed).is_none() {
                    msg.push_str(&format!(" (did you mean {fixed:?}?)"));
                }
                self.push(key, msg);
                false
            }
        }
    }
}

fn build(raw: &RawConfig, v: &mut Validator<'_>) -> Config {
    let project_ok = v.name(&["project"], &raw.project);
    let environment_ok = v.name(&["environment"], &raw.environment);
    if project_ok && environment_ok {
        check_derived_names(v, &raw.project, &raw.environment);
    }

    if let Some(message) = region_error(&raw.region) {
        v.push(&["region"], message);
    }
    if let Some(url) = &raw.endpoint_url {
        if let Err(why) = check_endpoint_url(url) {
            let with_scheme = format!("http://{url}");
            let message = if !url.contains("://") && check_endpoint_url(&with_scheme).is_ok() {
                format!("{url:?} {why} (did you mean {with_scheme:?}?)")
            } else {
                format!("{url:?} {why}; expected a URL like \"http://127.0.0.1:5000\"")
            };
            v.push(&["endpoint_url"], message);
        }
    }

    let container = build_container(&raw.container, v);
    let task = build_task(&raw.task, v);
    let service = build_service(&raw.service, v);

    let lb = &raw.load_balancer;
    let load_balancer = LoadBalancerConfig {
        port: v.port(&["load_balancer", "port"], lb.port),
        deregistration_delay_seconds: v.u32_in(
            &["load_balancer", "deregistration_delay_seconds"],
            lb.deregistration_delay_seconds,
            0,
            3600,
        ),
    };

    let health_check = build_health_check(&raw.health_check, v);

    let retention = raw.logs.retention_days.0;
    let retention_ok = u32::try_from(retention)
        .ok()
        .filter(|d| LOG_RETENTION_DAYS.contains(d));
    if retention_ok.is_none() {
        let allowed: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
        v.push(
            &["logs", "retention_days"],
            format!(
                "{retention} is not a CloudWatch Logs retention period; allowed {}",
                join_or(&allowed)
            ),
        );
    }
    let logs = LogsConfig {
        retention_days: retention_ok.unwrap_or(0),
    };

    let ecr = EcrConfig {
        scan_on_push: raw.ecr.scan_on_push,
        immutable_tags: raw.ecr.immutable_tags,
        keep_images: v.u32_in(&["ecr", "keep_images"], raw.ecr.keep_images, 1, 1000),
    };

    let t = &raw.timeouts;
    let timeouts = TimeoutsConfig {
        iam_propagation: v.u32_in(&["timeouts", "iam_propagation"], t.iam_propagation, 1, 3600),
        resource_release: v.u32_in(
            &["timeouts", "resource_release"],
            t.resource_release,
            1,
            7200,
        ),
        deployment: v.u32_in(&["timeouts", "deployment"], t.deployment, 1, 86400),
    };

    Config {
        project: raw.project.clone(),
        environment: raw.environment.clone(),
        region: raw.region.clone(),
        endpoint_url: raw.endpoint_url.clone(),
        container,
        task,
        service,
        load_balancer,
        health_check,
        logs,
        ecr,
        timeouts,
    }
}

fn build_container(c: &RawContainer, v: &mut Validator<'_>) -> ContainerConfig {
    if let Err(why) = check_image_reference(&c.image) {
        v.push(
            &["container", "image"],
            format!(
                "{:?} is not a valid image reference: {why}; expected [registry[:port]/]name[:tag][@sha256:digest], like \"nginx:1.27\"",
                c.image
            ),
        );
    }
    let port = v.port(&["container", "port"], c.port);

    for name in c.environment.keys() {
        if !is_env_var_name(name) {
            v.push_key(
                &["container", "environment", name],
                format!("{name:?} {ENV_NAME_RULE}"),
            );
        }
    }
    for (name, arn) in &c.secrets {
        if !is_env_var_name(name) {
            v.push_key(
                &["container", "secrets", name],
                format!("{name:?} {ENV_NAME_RULE}"),
            );
        }
        if c.environment.contains_key(name) {
            v.push_key(
                &["container", "secrets", name],
                format!("{name:?} is also set in [container.environment]; a variable is either plain or secret, not both"),
            );
        }
        if let Err(why) = check_secret_arn(arn) {
            v.push(
                &["container", "secrets", name],
                format!(
                    "{arn:?} is not an SSM parameter or Secrets Manager secret ARN: {why}; expected arn:aws:ssm:REGION:ACCOUNT:parameter/NAME or arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"
                ),
            );
        }
    }

    ContainerConfig {
        image: c.image.clone(),
        port,
        environment: c.environment.clone(),
        secrets: c.secrets.clone(),
    }
}

fn build_task(t: &RawTask, v: &mut Validator<'_>) -> TaskConfig {
    let (Int(cpu), Int(memory)) = (t.cpu, t.memory);
    let cpu_list: Vec<String> = FARGATE_CPU_UNITS.iter().map(u32::to_string).collect();
    let options = u32::try_from(cpu).ok().and_then(fargate_memory_options);
    let Some(options) = options else {
        let mut msg = format!(
            "{cpu} is not a Fargate CPU value; allowed {} (1024 = 1 vCPU)",
            join_or(&cpu_list)
        );
        // People often write vCPUs where CPU units are expected.
        if let Some(units) = [1, 2, 4, 8, 16].contains(&cpu).then(|| cpu * 1024) {
            msg.push_str(&format!("; did you mean {units}?"));
        }
        v.push(&["task", "cpu"], msg);
        return TaskConfig { cpu: 0, memory: 0 };
    };
    let memory_ok = u32::try_from(memory).ok().filter(|m| options.contains(m));
    if memory_ok.is_none() {
        let mut msg = format!(
            "{memory} is not valid with cpu {cpu}; Fargate allows memory {} with cpu {cpu}",
            describe_memory(&options)
        );
        let other_cpus: Vec<String> = FARGATE_CPU_UNITS
            .iter()
            .filter(|c| {
                fargate_memory_options(**c)
                    .is_some_and(|m| u32::try_from(memory).is_ok_and(|x| m.contains(&x)))
            })
            .map(u32::to_string)
            .collect();
        if !other_cpus.is_empty() {
            msg.push_str(&format!(
                ", or memory {memory} with cpu {}",
                join_or(&other_cpus)
            ));
        } else if (1..=120).contains(&memory) {
            msg.push_str(" (memory is in MiB: 1 GB = 1024)");
        }
        v.push_near(
            &["task", "memory"],
            &[&["task", "memory"], &["task", "cpu"]],
            msg,
        );
    }
    TaskConfig {
        cpu: u32::try_from(cpu).unwrap_or(0),
        memory: memory_ok.unwrap_or(0),
    }
}

/// `512, 1024 or 2048`, or `8192 to 30720 in steps of 1024` for long lists.
fn describe_memory(options: &[u32]) -> String {
    if options.len() <= 4 {
        let items: Vec<String> = options.iter().map(u32::to_string).collect();
        return join_or(&items);
    }
    let step = options[1] - options[0];
    format!(
        "{} to {} in steps of {step}",
        options[0],
        options[options.len() - 1]
    )
}

fn build_service(s: &RawService, v: &mut Validator<'_>) -> ServiceConfig {
    let desired_count = v.u32_in(&["service", "desired_count"], s.desired_count, 0, u32::MAX);
    let min = v.in_range(
        &["service", "min_healthy_percent"],
        s.min_healthy_percent,
        0,
        100,
    );
    let max = v.in_range(&["service", "max_percent"], s.max_percent, 100, 400);
    // Implied by the two ranges today; kept so the rule survives if a range
    // is ever widened.
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            v.push(
                &["service", "max_percent"],
                format!("{max} is below min_healthy_percent ({min}); it must be at least that"),
            );
        }
    }
    ServiceConfig {
        desired_count,
        min_healthy_percent: min.and_then(|x| u32::try_from(x).ok()).unwrap_or(0),
        max_percent: max.and_then(|x| u32::try_from(x).ok()).unwrap_or(0),
        health_check_grace_seconds: v.u32_in(
            &["service", "health_check_grace_seconds"],
            s.health_check_grace_seconds,
            0,
            2_147_483_647,
        ),
        circuit_breaker: s.circuit_breaker,
    }
}

fn build_health_check(h: &RawHealthCheck, v: &mut Validator<'_>) -> HealthCheckConfig {
    let path_problem = if !h.path.starts_with('/') {
        Some("must start with \"/\"")
    } else if h.path.chars().count() > 1024 {
        Some("is longer than 1024 characters")
    } else if h.path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain spaces or control characters")
    } else {
        None
    };
    if let Some(why) = path_problem {
        let shown = if h.path.chars().count() > 60 {
            format!("{:?}...", h.path.chars().take(60).collect::<String>())
        } else {
            format!("{:?}", h.path)
        };
        let hint = if h.path.starts_with('/') {
            String::new()
        } else {
            format!(" (did you mean \"/{}\"?)", h.path)
        };
        v.push(&["health_check", "path"], format!("{shown} {why}{hint}"));
    }

    let interval = v.in_range(
        &["health_check", "interval_seconds"],
        h.interval_seconds,
        5,
        300,
    );
    let timeout = v.in_range(
        &["health_check", "timeout_seconds"],
        h.timeout_seconds,
        2,
        120,
    );
    if let (Some(interval), Some(timeout)) = (interval, timeout) {
        if timeout >= interval {
            v.push_near(
                &["health_check", "timeout_seconds"],
                &[
                    &["health_check", "timeout_seconds"],
                    &["health_check", "interval_seconds"],
                ],
                format!("{timeout} must be less than interval_seconds ({interval})"),
            );
        }
    }
    let healthy = v.u32_in(
        &["health_check", "healthy_threshold"],
        h.healthy_threshold,
        2,
        10,
    );
    let unhealthy = v.u32_in(
        &["health_check", "unhealthy_threshold"],
        h.unhealthy_threshold,
        2,
        10,
    );
    if let Err(why) = check_matcher(&h.matcher) {
        v.push(
            &["health_check", "matcher"],
            format!(
                "{:?} is not a valid matcher ({why}); use codes 200-499 like \"200\", \"200,302\" or \"200-299\"",
                h.matcher
            ),
        );
    }
    HealthCheckConfig {
        path: h.path.clone(),
        interval_seconds: interval.and_then(|x| u32::try_from(x).ok()).unwrap_or(0),
        timeout_seconds: timeout.and_then(|x| u32::try_from(x).ok()).unwrap_or(0),
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        matcher: h.matcher.clone(),
    }
}

/// One problem on `project` for the most constraining derived name, because
/// several "name too long" messages for one cause would bury the fix.
fn check_derived_names(v: &mut Validator<'_>, project: &str, environment: &str) {
    let prefix = format!("{project}-{environment}");
    let worst = RESOURCE_SUFFIXES
        .iter()
        .map(|(suffix, what, max)| (format!("{prefix}-{suffix}"), *what, *max))
        .filter(|(name, _, max)| name.len() > *max)
        .max_by_key(|(name, _, max)| (name.len() - max, std::cmp::Reverse(*max)));
    if let Some((name, what, max)) = worst {
        let budget = RESOURCE_SUFFIXES
            .iter()
            .map(|(suffix, _, max)| max - suffix.len() - 2)
            .min()
            .unwrap_or(0);
        v.push(
            &["project"],
            format!(
                "{project:?} is too long: with environment {environment:?} the {what} name {name:?} has {} characters, and AWS allows at most {max}; project and environment together may have at most {budget} characters",
                name.len()
            ),
        );
    }
    // Elastic Load Balancing reserves the prefix for internal load balancers.
    if prefix.starts_with("internal-") {
        v.push(
            &["project"],
            format!(
                "{project:?} would name the load balancer \"{prefix}-{}\", but AWS reserves the \"internal-\" prefix; choose another project name",
                suffix::ALB
            ),
        );
    }
}

// ---------------------------------------------------------------------------
// Value syntaxes, hand-parsed (no regex dependency)
// ---------------------------------------------------------------------------

/// Why `value` does not match `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`.
fn name_error(value: &str) -> Option<&'static str> {
    let Some(first) = value.chars().next() else {
        return Some("is empty");
    };
    if value.chars().any(|c| c.is_ascii_uppercase()) {
        return Some("has uppercase letters");
    }
    if !first.is_ascii_lowercase() {
        return Some("must start with a letter");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(if c == '_' {
            "has an underscore"
        } else if c.is_whitespace() {
            "has a space"
        } else {
            "has a character other than a-z, 0-9 and -"
        });
    }
    if value.ends_with('-') {
        return Some("ends with a hyphen");
    }
    if value.contains("--") {
        return Some("has two hyphens in a row");
    }
    None
}

/// The nearest valid name, offered as a suggestion: lowercased, with other
/// characters turned into single hyphens.
fn sanitize_name(value: &str) -> String {
    if !value.is_ascii() {
        return String::new();
    }
    let mut out = String::new();
    for c in value.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn region_error(region: &str) -> Option<String> {
    if AWS_REGIONS.contains(&region) {
        return None;
    }
    let normalized = region.trim().to_ascii_lowercase();
    let base = format!("{region:?} is not an AWS region");
    if AWS_REGIONS.contains(&normalized.as_str()) {
        return Some(format!("{base}; did you mean {normalized:?}?"));
    }
    // "eu-central-1a" is an availability zone of "eu-central-1".
    if let Some(zone_region) = normalized
        .strip_suffix(|c: char| c.is_ascii_lowercase())
        .filter(|r| AWS_REGIONS.contains(r))
    {
        return Some(format!(
            "{region:?} is an availability zone, not a region; did you mean {zone_region:?}?"
        ));
    }
    let distances: Vec<(usize, &str)> = AWS_REGIONS
        .iter()
        .map(|r| (strsim::damerau_levenshtein(&normalized, r), *r))
        .collect();
    let best = distances
        .iter()
        .map(|(d, _)| *d)
        .min()
        .unwrap_or(usize::MAX);
    if best <= 3 {
        let nearest: Vec<String> = distances
            .iter()
            .filter(|(d, _)| *d == best)
            .map(|(_, r)| format!("{r:?}"))
            .collect();
        return Some(format!("{base}; did you mean {}?", join_or(&nearest)));
    }
    let prefix = normalized.split('-').next().unwrap_or("");
    let same_prefix: Vec<&str> = AWS_REGIONS
        .iter()
        .copied()
        .filter(|r| r.split('-').next() == Some(prefix))
        .collect();
    let listed = if same_prefix.is_empty() {
        AWS_REGIONS
    } else {
        &same_prefix
    };
    Some(format!("{base}; AWS regions are: {}", listed.join(", ")))
}

/// Checks `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, following the
/// grammar of the distribution project's reference parser that Docker and ECS
/// use.
pub fn check_image_reference(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("it is empty".to_string());
    }
    if let Some((scheme, _)) = image.split_once("://") {
        return Err(format!("it must not start with \"{scheme}://\""));
    }
    if image.chars().any(char::is_whitespace) {
        return Err("it contains whitespace".to_string());
    }
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        let ok = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(format!(
                "digest {digest:?} must be \"sha256:\" followed by 64 lowercase hex digits"
            ));
        }
    }
    let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
        Some(i) => (
            &name_and_tag[..last_slash + i],
            Some(&name_and_tag[last_slash + i + 1..]),
        ),
        None => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        let mut chars = tag.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !(first_ok && rest_ok && tag.len() <= 128) {
            return Err(format!(
                "tag {tag:?} must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            ));
        }
    }
    if name.is_empty() {
        return Err("the repository name is empty".to_string());
    }
    if name.len() > 255 {
        return Err("the name is longer than 255 characters".to_string());
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // As in Docker: the first component is a registry only if it looks like a
    // host (has a dot or a port, or is localhost) and something follows it.
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            check_registry(first)?;
            components.remove(0);
        }
    }
    for component in components {
        if !is_path_component(component) {
            return Err(format!(
                "repository path component {component:?} must be lowercase letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(())
}

fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = split_host_port(registry);
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if !host_ok {
        return Err(format!("registry host {host:?} is not a valid host name"));
    }
    if let Some(port) = port {
        if !is_port(port) {
            return Err(format!("registry port {port:?} must be a number 1-65535"));
        }
    }
    Ok(())
}

/// `host:port` into its parts, keeping `[v6::addr]` whole.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    let host_end = if s.starts_with('[') {
        s.find(']').map_or(s.len(), |i| i + 1)
    } else {
        s.find(':').unwrap_or(s.len())
    };
    let (host, rest) = s.split_at(host_end);
    (host, rest.strip_prefix(':'))
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok_and(|p| p != 0)
}

/// `[a-z0-9]+` runs separated by exactly one of `.`, `_`, `__` or `-+`.
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

const ENV_NAME_RULE: &str =
    "is not a valid environment variable name; use letters, digits and underscores, not starting with a digit";

/// `^[A-Za-z_][A-Za-z0-9_]*$`.
fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME` or
/// `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME[...]`, the two
/// forms ECS accepts as a secret's `valueFrom`.
fn check_secret_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return Err("it does not have the six ':'-separated parts of an ARN".to_string());
    };
    if *prefix != "arn" {
        return Err("it does not start with \"arn:\"".to_string());
    }
    if !["aws", "aws-cn", "aws-us-gov", "aws-eusc"].contains(partition) {
        return Err(format!(
            "partition {partition:?} is not aws, aws-cn, aws-us-gov or aws-eusc"
        ));
    }
    if !AWS_REGIONS.contains(region) {
        return Err(format!("region {region:?} is not an AWS region"));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("account {account:?} is not a 12-digit account id"));
    }
    let name = match *service {
        "ssm" => resource.strip_prefix("parameter/"),
        "secretsmanager" => resource.strip_prefix("secret:"),
        other => {
            return Err(format!(
                "service {other:?} is neither ssm nor secretsmanager"
            ));
        }
    };
    match name {
        Some(n) if !n.is_empty() => Ok(()),
        _ => Err(format!(
            "resource {resource:?} does not name a parameter or secret"
        )),
    }
}

/// `http://` or `https://`, a host, an optional port, an optional path.
fn check_endpoint_url(url: &str) -> Result<(), &'static str> {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err("does not start with http:// or https://");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not contain credentials");
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err("has no host");
    }
    let host_ok = if host.starts_with('[') {
        host.ends_with(']') && host.len() > 2
    } else {
        host.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if !host_ok {
        return Err("has an invalid host");
    }
    if port.is_some_and(|p| !is_port(p)) {
        return Err("has an invalid port");
    }
    Ok(())
}

/// `200`, `200,302` or `200-299`, codes 200-499, as the ALB accepts them.
fn check_matcher(matcher: &str) -> Result<(), String> {
    let code = |s: &str| -> Result<u16, String> {
        match s.parse::<u16>() {
            Ok(c) if s.len() == 3 && (200..=499).contains(&c) => Ok(c),
            Ok(c) if s.len() == 3 && (100..=599).contains(&c) => {
                Err(format!("{c} is outside 200-499"))
            }
            _ => Err(format!("{s:?} is not a 3-digit HTTP code")),
        }
    };
    if let Some((lo, hi)) = matcher.split_once('-') {
        let (lo, hi) = (code(lo)?, code(hi)?);
        if lo > hi {
            return Err(format!("the range {lo}-{hi} is backwards"));
        }
        return Ok(());
    }
    for part in matcher.split(',') {
        code(part)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    const MINIMAL: &str = r#"
project = "simhill"
environment = "dev"
region = "eu-central-1"

[container]
image = "nginx:1.27"
"#;

    /// Loads `text` under the origin `envs/test.toml` and returns the error
    /// text, failing the test if it loaded.
    fn error_of(text: &str) -> String {
        match Config::from_toml_str(text, Path::new("envs/test.toml")) {
            Ok(c) => panic!("expected an error, got {c:#?}"),
            Err(e) => e.to_string(),
        }
    }

    /// MINIMAL with `line` appended (so line numbers start at 8).
    fn with(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    #[test]
    fn dev_toml_loads_with_exactly_the_documented_values() {
        let config = Config::load(&manifest_dir().join("envs/dev.toml")).unwrap();
        let expected = Config {
            project: "simhill".into(),
            environment: "dev".into(),
            region: "eu-central-1".into(),
            endpoint_url: None,
            container: ContainerConfig {
                image: "946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest".into(),
                port: 5000,
                environment: BTreeMap::from([
                    ("FLASK_APP".to_string(), "hello".to_string()),
                    ("FLASK_ENV".to_string(), "production".to_string()),
                ]),
                secrets: BTreeMap::new(),
            },
            task: TaskConfig {
                cpu: 256,
                memory: 512,
            },
            service: ServiceConfig {
                desired_count: 2,
                min_healthy_percent: 100,
                max_percent: 200,
                health_check_grace_seconds: 60,
                circuit_breaker: true,
            },
            load_balancer: LoadBalancerConfig {
                port: 80,
                deregistration_delay_seconds: 30,
            },
            health_check: HealthCheckConfig {
                path: "/".into(),
                interval_seconds: 30,
                timeout_seconds: 5,
                healthy_threshold: 2,
                unhealthy_threshold: 2,
                matcher: "200".into(),
            },
            logs: LogsConfig { retention_days: 30 },
            ecr: EcrConfig {
                scan_on_push: true,
                immutable_tags: false,
                keep_images: 30,
            },
            timeouts: TimeoutsConfig {
                iam_propagation: 240,
                resource_release: 1200,
                deployment: 900,
            },
        };
        assert_eq!(config, expected);
        assert_eq!(config.resource_name(suffix::ALB), "simhill-dev-alb");
    }

    #[test]
    fn defaults_fill_in() {
        let config = Config::from_toml_str(MINIMAL, Path::new("m.toml")).unwrap();
        assert_eq!(config.endpoint_url, None);
        assert_eq!(config.container.port, 5000);
        assert!(config.container.environment.is_empty());
        assert!(config.container.secrets.is_empty());
        assert_eq!(config.task, TaskConfig::default());
        assert_eq!(config.task.cpu, 256);
        assert_eq!(config.task.memory, 512);
        assert_eq!(config.service, ServiceConfig::default());
        assert_eq!(config.service.desired_count, 2);
        assert_eq!(config.load_balancer, LoadBalancerConfig::default());
        assert_eq!(config.load_balancer.port, 80);
        assert_eq!(config.health_check, HealthCheckConfig::default());
        assert_eq!(config.health_check.matcher, "200");
        assert_eq!(config.logs.retention_days, 30);
        assert_eq!(config.ecr, EcrConfig::default());
        assert_eq!(config.timeouts, TimeoutsConfig::default());
        assert_eq!(config.timeouts.resource_release, 1200);

        // The public serde derive must fill in the same defaults as the loader.
        let direct: Config = toml::from_str(MINIMAL).unwrap();
        assert_eq!(direct, config);
        assert_eq!(direct.validate(), Ok(()));
    }

    #[test]
    fn partial_tables_keep_other_defaults() {
        let config = Config::from_toml_str(
            &with("[task]\ncpu = 1024\nmemory = 2048\n[health_check]\npath = \"/health\"\n"),
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(
            config.task,
            TaskConfig {
                cpu: 1024,
                memory: 2048
            }
        );
        assert_eq!(config.health_check.path, "/health");
        assert_eq!(config.health_check.interval_seconds, 30);
    }

    #[test]
    fn serialization_round_trips() {
        let config = Config::load(&manifest_dir().join("envs/dev.toml")).unwrap();
        let text = toml::to_string(&config).unwrap();
        let again = Config::from_toml_str(&text, Path::new("roundtrip.toml")).unwrap();
        assert_eq!(again, config);
    }

    /// Each file in the corpus starts with `# expect: KEY[, KEY...]`, the keys
    /// its error message must name.
    #[test]
    fn every_bad_config_fails_naming_its_key() {
        let dir = manifest_dir().join("tests/fixtures/bad-configs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        assert!(files.len() >= 15, "corpus too small: {}", files.len());
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let expect = text
                .lines()
                .find_map(|l| l.strip_prefix("# expect:"))
                .unwrap_or_else(|| panic!("{} lacks an `# expect:` line", file.display()));
            let message = match Config::load(&file) {
                Ok(_) => panic!("{} loaded but should not", file.display()),
                Err(e) => e.to_string(),
            };
            assert!(
                message.starts_with(&file.display().to_string()),
                "{}: message does not start with the path:\n{message}",
                file.display()
            );
            for key in expect.split(',').map(str::trim) {
                assert!(
                    message.contains(key),
                    "{}: message does not mention {key:?}:\n{message}",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn every_good_config_loads() {
        let dir = manifest_dir().join("tests/fixtures/good-configs");
        for entry in std::fs::read_dir(dir).unwrap() {
            let file = entry.unwrap().path();
            if let Err(e) = Config::load(&file) {
                panic!("{}", e);
            }
        }
    }

    fn corpus_error(name: &str) -> String {
        let file = manifest_dir().join("tests/fixtures/bad-configs").join(name);
        let text = std::fs::read_to_string(file).unwrap();
        let origin = PathBuf::from("tests/fixtures/bad-configs").join(name);
        Config::from_toml_str(&text, &origin)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn exact_message_region_typo() {
        assert_eq!(
            corpus_error("region-typo.toml"),
            "tests/fixtures/bad-configs/region-typo.toml:4:10: region: \"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?"
        );
    }

    #[test]
    fn exact_message_cpu_memory() {
        assert_eq!(
            corpus_error("bad-cpu-memory.toml"),
            "tests/fixtures/bad-configs/bad-cpu-memory.toml:11:10: task.memory: 4096 is not valid with cpu 256; Fargate allows memory 512, 1024 or 2048 with cpu 256, or memory 4096 with cpu 512, 1024 or 2048"
        );
        assert_eq!(
            error_of(&with("[task]\ncpu = 256\nmemory = 300\n")),
            "envs/test.toml:10:10: task.memory: 300 is not valid with cpu 256; Fargate allows memory 512, 1024 or 2048 with cpu 256"
        );
        assert_eq!(
            error_of(&with("[task]\ncpu = 4096\nmemory = 4096\n")),
            "envs/test.toml:10:10: task.memory: 4096 is not valid with cpu 4096; Fargate allows memory 8192 to 30720 in steps of 1024 with cpu 4096, or memory 4096 with cpu 512, 1024 or 2048"
        );
    }

    #[test]
    fn exact_message_unknown_nested_key() {
        assert_eq!(
            corpus_error("unknown-nested-key.toml"),
            "tests/fixtures/bad-configs/unknown-nested-key.toml:10:1: unknown key `intervall_seconds` in [health_check] (did you mean `interval_seconds`?); expected one of: path, interval_seconds, timeout_seconds, healthy_threshold, unhealthy_threshold, matcher"
        );
    }

    #[test]
    fn exact_message_wrong_type() {
        assert_eq!(
            corpus_error("wrong-type.toml"),
            "tests/fixtures/bad-configs/wrong-type.toml:8:8: container.port: expected an integer, found string \"5000\""
        );
    }

    #[test]
    fn exact_message_missing_keys() {
        assert_eq!(
            corpus_error("missing-required-key.toml"),
            "tests/fixtures/bad-configs/missing-required-key.toml:1:1: missing required key `region` at the top level (before the first [table])"
        );
        assert_eq!(
            error_of("project = \"simhill\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n[container]\nport = 80\n"),
            "envs/test.toml:4:1: missing required key `image` in [container]"
        );
    }

    #[test]
    fn exact_message_malformed() {
        assert_eq!(
            corpus_error("malformed-toml.toml"),
            "tests/fixtures/bad-configs/malformed-toml.toml:2:11: invalid TOML: expected a value; strings need quotes, like \"simhill\"\n  2 | project = simhill           # strings need quotes\n    |           ^"
        );
    }

    #[test]
    fn exact_message_project_too_long() {
        assert_eq!(
            corpus_error("project-too-long.toml"),
            "tests/fixtures/bad-configs/project-too-long.toml:2:11: project: \"simhill-customer-portal-frontend\" is too long: with environment \"dev\" the load balancer name \"simhill-customer-portal-frontend-dev-alb\" has 40 characters, and AWS allows at most 32; project and environment together may have at most 27 characters"
        );
    }

    #[test]
    fn exact_message_several_problems_in_file_order() {
        let message = corpus_error("several-problems.toml");
        let path = "tests/fixtures/bad-configs/several-problems.toml";
        let expected = [
            format!("{path}: 6 problems:"),
            format!("  {path}:2:11: project: \"SimHill\" has uppercase letters; use lowercase letters, digits and single hyphens, starting with a letter (did you mean \"simhill\"?)"),
            format!("  {path}:4:10: region: \"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?"),
            format!("  {path}:8:8: container.port: 0 is not a valid port; ports 1-65535"),
            format!("  {path}:12:10: task.memory: 300 is not valid with cpu 256; Fargate allows memory 512, 1024 or 2048 with cpu 256"),
            format!("  {path}:15:19: health_check.timeout_seconds: 30 must be less than interval_seconds (10)"),
            format!("  {path}:19:18: logs.retention_days: 45 is not a CloudWatch Logs retention period; allowed 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653"),
        ]
        .join("\n");
        assert_eq!(message, expected);
    }

    #[test]
    fn problems_carry_key_line_and_column() {
        let err = Config::from_toml_str(
            &with("[load_balancer]\nport = 70000\n"),
            Path::new("x.toml"),
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("expected Invalid, got {err:?}");
        };
        assert_eq!(
            problems,
            vec![Problem {
                key: "load_balancer.port".into(),
                line: Some(9),
                column: Some(8),
                message: "70000 is not a valid port; ports 1-65535".into(),
            }]
        );
    }

    #[test]
    fn region_suggestions() {
        let msg = |r: &str| region_error(r).unwrap();
        assert_eq!(
            msg("eu-centra1-1"),
            "\"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?"
        );
        assert!(msg("EU-CENTRAL-1").ends_with("did you mean \"eu-central-1\"?"));
        assert!(msg("eu-central-1a").contains("availability zone"));
        assert!(msg("us-east-3").ends_with("did you mean \"us-east-1\" or \"us-east-2\"?"));
        assert!(msg("eu-cnetral-1").ends_with("did you mean \"eu-central-1\"?"));
        assert!(msg("frankfurt").contains("; AWS regions are: af-south-1, "));
        assert!(msg("eu-frankfurt-1").ends_with(
            "; AWS regions are: eu-central-1, eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-2, eu-west-3"
        ));
        for region in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-5",
            "mx-central-1",
            "cn-north-1",
            "us-gov-west-1",
        ] {
            assert_eq!(region_error(region), None, "{region}");
        }
    }

    #[test]
    fn regions_are_sorted_and_unique() {
        assert!(AWS_REGIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn fargate_combinations() {
        assert_eq!(fargate_memory_options(256), Some(vec![512, 1024, 2048]));
        assert_eq!(
            fargate_memory_options(512),
            Some(vec![1024, 2048, 3072, 4096])
        );
        assert_eq!(fargate_memory_options(4096).unwrap().len(), 23);
        assert_eq!(fargate_memory_options(8192).unwrap().last(), Some(&61440));
        assert_eq!(fargate_memory_options(16384).unwrap().first(), Some(&32768));
        assert_eq!(fargate_memory_options(16384).unwrap().last(), Some(&122880));
        assert_eq!(fargate_memory_options(300), None);
        let msg = error_of(&with("[task]\ncpu = 1\n"));
        assert_eq!(
            msg,
            "envs/test.toml:9:7: task.cpu: 1 is not a Fargate CPU value; allowed 256, 512, 1024, 2048, 4096, 8192 or 16384 (1024 = 1 vCPU); did you mean 1024?"
        );
        // A default memory that does not fit an explicit cpu points at cpu.
        let msg = error_of(&with("[task]\ncpu = 1024\n"));
        assert!(
            msg.starts_with("envs/test.toml:9:7: task.memory: 512 is not valid with cpu 1024"),
            "{msg}"
        );
    }

    #[test]
    fn parse_errors_name_key_and_expectation() {
        assert_eq!(
            error_of(&format!("cpu = 256\n{MINIMAL}")),
            "envs/test.toml:1:1: unknown key `cpu` at the top level (`cpu` belongs in [task]); expected one of: project, environment, region, endpoint_url, container, task, service, load_balancer, health_check, logs, ecr, timeouts"
        );
        assert_eq!(
            error_of(&with("[task]\ncpu = 0.25\n")),
            "envs/test.toml:9:7: task.cpu: expected an integer, found float `0.25`"
        );
        assert_eq!(
            error_of(&with("[container.environment]\nPORT = 5000\n")),
            "envs/test.toml:9:8: container.environment.PORT: expected a string, found integer `5000`; put it in quotes: \"5000\""
        );
        assert_eq!(
            error_of(&with("[[task]]\ncpu = 256\n")),
            "envs/test.toml:8:1: task: expected a table [task], found an array of tables [[task]]"
        );
        assert_eq!(
            error_of("project = \"a\"\nenvironment = \"b\"\nregion = \"eu-central-1\"\ncontainer = \"nginx\"\n"),
            "envs/test.toml:4:13: container: expected a table [container], found string \"nginx\""
        );
        assert_eq!(
            error_of("project = \"a\"\nenvironment = \"b\"\nregion = \"eu-central-1\"\ncontainer = { imgae = \"x\" }\n"),
            "envs/test.toml:4:15: unknown key `imgae` in [container] (did you mean `image`?); expected one of: image, port, environment, secrets"
        );
        assert_eq!(
            error_of(&with("[logs]\nretention = 30\n")),
            "envs/test.toml:9:1: unknown key `retention` in [logs] (did you mean `retention_days`?); expected one of: retention_days"
        );
        let dup = error_of(&with("[task]\ncpu = 256\ncpu = 512\n"));
        assert!(
            dup.starts_with("envs/test.toml:10:1: invalid TOML: duplicate key `cpu`"),
            "{dup}"
        );
    }

    #[test]
    fn missing_file_lists_the_existing_ones() {
        let dir = std::env::temp_dir().join(format!("deployer-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("dev.toml"), MINIMAL).unwrap();
        std::fs::write(dir.join("prod.toml"), MINIMAL).unwrap();
        let missing = dir.join("dve.toml");
        let message = Config::load(&missing).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        let d = dir.display();
        assert!(
            message.starts_with(&format!("cannot read {d}/dve.toml: ")),
            "{message}"
        );
        assert!(
            message.ends_with(&format!(
                "\n  hint: did you mean {d}/dev.toml? (.toml files in {d}: dev.toml, prod.toml)"
            )),
            "{message}"
        );
        let gone = Config::load(Path::new("/nonexistent-deployer-dir/x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            gone.contains("hint: directory /nonexistent-deployer-dir does not exist here"),
            "{gone}"
        );
    }

    #[test]
    fn schema_matches_the_structs() {
        // serde lists a table's fields when it meets an unknown one. MINIMAL
        // ends inside [container].
        for (table, fields) in SCHEMA {
            let text = match *table {
                "" => format!("zzz = 1\n{MINIMAL}"),
                "container" => with("zzz = 1\n"),
                _ => with(&format!("[{table}]\nzzz = 1\n")),
            };
            let message = error_of(&text);
            assert!(
                message.ends_with(&format!("expected one of: {}", fields.join(", "))),
                "{table}: {message}"
            );
        }
        for path in TABLE_KEYS {
            let fields = SCHEMA
                .iter()
                .find(|(t, _)| *t == path[..path.len() - 1].join("."));
            assert!(fields.is_some_and(|(_, f)| f.contains(&path[path.len() - 1])));
        }
    }

    #[test]
    fn ranges_are_enforced() {
        let cases: &[(&str, &str)] = &[
            (
                "[service]\ndesired_count = -1\n",
                "service.desired_count: -1 is out of range; must be 0 or more",
            ),
            (
                "[service]\nmin_healthy_percent = 101\n",
                "service.min_healthy_percent: 101 is out of range; allowed 0-100",
            ),
            (
                "[service]\nmax_percent = 99\n",
                "service.max_percent: 99 is out of range; allowed 100-400",
            ),
            (
                "[service]\nhealth_check_grace_seconds = 2147483648\n",
                "allowed 0-2147483647",
            ),
            (
                "[load_balancer]\nderegistration_delay_seconds = 3601\n",
                "allowed 0-3600",
            ),
            (
                "[health_check]\ninterval_seconds = 4\n",
                "health_check.interval_seconds: 4 is out of range; allowed 5-300",
            ),
            ("[health_check]\ntimeout_seconds = 1\n", "allowed 2-120"),
            ("[health_check]\nhealthy_threshold = 11\n", "allowed 2-10"),
            ("[health_check]\nunhealthy_threshold = 1\n", "allowed 2-10"),
            (
                "[health_check]\ntimeout_seconds = 30\n",
                "health_check.timeout_seconds: 30 must be less than interval_seconds (30)",
            ),
            (
                "[health_check]\npath = \"health\"\n",
                "(did you mean \"/health\"?)",
            ),
            (
                "[health_check]\nmatcher = \"200-\"\n",
                "health_check.matcher",
            ),
            ("[logs]\nretention_days = 0\n", "logs.retention_days"),
            (
                "[ecr]\nkeep_images = 0\n",
                "ecr.keep_images: 0 is out of range; allowed 1-1000",
            ),
            ("[timeouts]\niam_propagation = 0\n", "allowed 1-3600"),
            ("[timeouts]\nresource_release = 7201\n", "allowed 1-7200"),
            ("[timeouts]\ndeployment = 86401\n", "allowed 1-86400"),
        ];
        for (extra, expected) in cases {
            let message = error_of(&with(extra));
            assert!(message.contains(expected), "{extra}: {message}");
        }
    }

    #[test]
    fn names_and_derived_names() {
        let load = |p: &str, e: &str| {
            Config::from_toml_str(
                &format!("project = \"{p}\"\nenvironment = \"{e}\"\nregion = \"eu-central-1\"\n[container]\nimage = \"x\"\n"),
                Path::new("n.toml"),
            )
        };
        for ok in ["a", "simhill", "my-app2", "a1-b2-c3"] {
            assert!(load(ok, "dev").is_ok(), "{ok}");
        }
        for bad in [
            "", "1app", "-app", "app-", "my--app", "my_app", "My-App", "my app", "app!",
        ] {
            let message = load(bad, "dev").unwrap_err().to_string();
            assert!(message.contains("project: "), "{bad}: {message}");
        }
        // 27 characters together is the limit (the ALB name then has 32).
        assert!(load(&"a".repeat(23), "prod").is_ok());
        let message = load(&"a".repeat(24), "prod").unwrap_err().to_string();
        assert!(
            message.contains("has 33 characters, and AWS allows at most 32"),
            "{message}"
        );
        assert!(!message.contains("problems"), "one problem only: {message}");
        let message = load("internal", "dev").unwrap_err().to_string();
        assert!(message.contains("\"internal-\" prefix"), "{message}");
        let message = load("app", "Prod_1").unwrap_err().to_string();
        assert!(
            message.contains("environment: \"Prod_1\" has uppercase letters"),
            "{message}"
        );
        assert!(message.contains("(did you mean \"prod-1\"?)"), "{message}");
    }

    #[test]
    fn resource_names_follow_the_rule() {
        let config = Config::from_toml_str(MINIMAL, Path::new("m.toml")).unwrap();
        assert_eq!(
            config.resource_name(suffix::TASK_EXECUTION_ROLE),
            "simhill-dev-ecs-task-execution-role"
        );
        let suffixes: Vec<&str> = RESOURCE_SUFFIXES.iter().map(|(s, _, _)| *s).collect();
        assert_eq!(
            suffixes,
            [
                "alb",
                "tg",
                "ecs-task-execution-role",
                "ecr",
                "alb-sg",
                "ecs-sg",
                "logs",
                "cluster",
                "service",
                "task"
            ]
        );
    }

    #[test]
    fn image_references() {
        let good = [
            "nginx",
            "nginx:1.27",
            "library/nginx:latest",
            "946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest",
            "localhost:5000/my_app:v1.0",
            "ghcr.io/org/sub/app__x.y-z:TAG_1",
            "registry.example.com:443/a/b",
            "[::1]:5000/app",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ];
        for image in good {
            assert_eq!(check_image_reference(image), Ok(()), "{image}");
        }
        let bad = [
            "",
            "Flask-App:latest",
            "https://ghcr.io/app",
            "app:",
            "app:-x",
            "app:has space",
            "app@sha256:abc",
            "app@md5:0123456789abcdef0123456789abcdef",
            "my..app",
            "my-app-",
            "_app",
            "host:99999/app",
            "bad_host.com/app",
            "a//b",
            "app:tag:extra",
        ];
        for image in bad {
            assert!(check_image_reference(image).is_err(), "{image}");
        }
    }

    #[test]
    fn env_var_names_and_secrets() {
        for ok in ["A", "_A", "FLASK_APP", "a1_b2"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "FLASK-APP", "A B", "É"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
        assert_eq!(
            check_secret_arn("arn:aws:ssm:eu-central-1:123456789012:parameter/prod/db"),
            Ok(())
        );
        assert_eq!(
            check_secret_arn(
                "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf:password::"
            ),
            Ok(())
        );
        assert_eq!(
            check_secret_arn("arn:aws-cn:ssm:cn-north-1:123456789012:parameter/x"),
            Ok(())
        );
        for bad in [
            "db-password",
            "arn:aws:ssm:eu-central-1:123456789012:parameter/",
            "arn:aws:ssm:eu-centra1-1:123456789012:parameter/x",
            "arn:aws:ssm:eu-central-1:1234:parameter/x",
            "arn:aws:s3:eu-central-1:123456789012:parameter/x",
            "arn:aws:secretsmanager:eu-central-1:123456789012:parameter/x",
        ] {
            assert!(check_secret_arn(bad).is_err(), "{bad}");
        }
        let message = error_of(&with(
            "[container.environment]\nDB = \"x\"\n[container.secrets]\nDB = \"arn:aws:ssm:eu-central-1:123456789012:parameter/db\"\n",
        ));
        assert_eq!(
            message,
            "envs/test.toml:11:1: container.secrets.DB: \"DB\" is also set in [container.environment]; a variable is either plain or secret, not both"
        );
        let message = error_of(&with("[container.environment]\n\"MY VAR\" = \"x\"\n"));
        assert!(message.starts_with("envs/test.toml:9:1: container.environment.\"MY VAR\": \"MY VAR\" is not a valid environment variable name"), "{message}");
    }

    #[test]
    fn endpoint_urls() {
        for ok in [
            "http://127.0.0.1:5000",
            "https://localhost",
            "http://moto:5000/",
            "http://[::1]:4566",
        ] {
            assert_eq!(check_endpoint_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "127.0.0.1:5000",
            "ftp://x",
            "http://",
            "http://:5000",
            "http://host:0",
            "http://a b",
            "http://u:p@host",
        ] {
            assert!(check_endpoint_url(bad).is_err(), "{bad}");
        }
        let message = error_of(&format!("endpoint_url = \"localhost:5000\"\n{MINIMAL}"));
        assert_eq!(
            message,
            "envs/test.toml:1:16: endpoint_url: \"localhost:5000\" does not start with http:// or https:// (did you mean \"http://localhost:5000\"?)"
        );
    }

    #[test]
    fn matchers() {
        for ok in ["200", "200,302", "200-299", "404", "200,201,202"] {
            assert_eq!(check_matcher(ok), Ok(()), "{ok}");
        }
        for bad in ["", "20", "500", "200-", "299-200", "200, 302", "abc", "199"] {
            assert!(check_matcher(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validate_reports_problems_without_positions() {
        let mut config = Config::from_toml_str(MINIMAL, Path::new("m.toml")).unwrap();
        config.region = "eu-centra1-1".into();
        config.container.port = 0;
        let problems = config.validate().unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["region", "container.port"]);
        assert!(problems
            .iter()
            .all(|p| p.line.is_none() && p.column.is_none()));
    }

    #[test]
    fn bom_is_ignored() {
        assert!(Config::from_toml_str(&format!("\u{feff}{MINIMAL}"), Path::new("b.toml")).is_ok());
    }
}
