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
//! 0. size: at most [`MAX_CONFIG_BYTES`], read no further
//!    ([`ConfigError::TooLarge`]);
//! 1. syntax: the text must be TOML ([`ConfigError::Parse`]);
//! 2. shape: known keys only, the right types ([`ConfigError::Parse`]);
//! 3. meaning: required keys present and every value within what AWS accepts,
//!    checked all at once so a person fixes the file in one pass
//!    ([`ConfigError::Invalid`]).
//!
//! Numbers are first read as `i64` so that `port = 70000` or
//! `desired_count = -1` are reported as validation problems that say what is
//! allowed, instead of as serde overflow errors. Positions come from a second,
//! span-preserving parse of the same text with `toml_edit`.
//!
//! This file holds what the rest of the crate uses: the validated types, their
//! defaults, the errors and the entry points. The work behind them is split by
//! the kind of knowledge it needs:
//!
//! - `schema`: the file as written, before any check;
//! - `locate`: where a key sits in the text, and parse errors reworded for a
//!   person;
//! - `validate`: every rule a value must follow, turning the raw file into a
//!   [`Config`];
//! - `formats`: the hand-parsed syntaxes of single values (names, image
//!   references, ARNs, URLs, matchers);
//! - `validate_app`: the rules of the app's own settings (architecture, container command and
//!   health check, task role policies);
//! - `limits`: what AWS accepts (regions, Fargate sizes, log retention
//!   periods), and the resource name suffixes with their length limits.
//!
//! The naming rule of every AWS resource (`{project}-{environment}-{suffix}`)
//! lives here too, because the length limits of those names are what bound
//! the length of `project` and `environment`. The constants in [`suffix`] are
//! the only spelling of each suffix: [`crate::names`] builds the names from
//! them, and validation checks them through [`RESOURCE_SUFFIXES`].

mod formats;
mod limits;
mod locate;
mod schema;
mod validate;
mod validate_app;
mod validate_edge;
mod validate_names;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_app;
#[cfg(test)]
mod tests_limits;
#[cfg(test)]
mod tests_secrets;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use formats::{
    check_image_reference, is_sensitive_name, redact_credentials, SecretArn, SecretStore,
};
pub use limits::{
    fargate_memory_options, partition_of, suffix, AWS_REGIONS, FARGATE_CPU_UNITS,
    LOG_RETENTION_DAYS, MAX_DESIRED_COUNT, RESOURCE_SUFFIXES,
};

pub use validate::region_error;
pub use validate_app::{check_action, check_resource};
pub use validate_names::{name_rule_error, NAME_RULES};

use locate::{
    check_table_shapes, describe_shape_error, describe_syntax_error, unknown_keys, Locator,
};
use schema::RawConfig;

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
    /// The role the app's own code runs as; `None` runs it without AWS credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role: Option<TaskRoleConfig>,
    /// Where the state and the lock are kept.
    #[serde(default, skip_serializing_if = "StateConfig::is_local")]
    pub state: StateConfig,
    /// Application Auto Scaling of the service's task count; `None` keeps `desired_count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingConfig>,
    /// Names that differ from `{project}-{environment}-{suffix}`, such as those of a stack made
    /// by another tool and taken over (`deployer import`).
    #[serde(default, skip_serializing_if = "NameOverrides::is_empty")]
    pub names: NameOverrides,
    /// A command run as a one-off task of each new revision before the service gets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseConfig>,
    /// HTTPS on port 443; `None` serves plain HTTP on `load_balancer.port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<HttpsConfig>,
    /// Where the tasks and the load balancer run; `None` is the default VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
}

/// The `[network]` table: a VPC and its subnets instead of the default VPC.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// `vpc-...`.
    pub vpc_id: String,
    /// The tasks' subnets, `subnet-...`.
    pub subnets: Vec<String>,
    /// The load balancer's subnets, in at least two Availability Zones (by default `subnets`).
    pub load_balancer_subnets: Vec<String>,
    /// Whether the tasks get a public IP: false by default, for private subnets with a NAT
    /// gateway or VPC endpoints.
    pub assign_public_ip: bool,
}

/// Written as a person would write the table (`deployer import`): `load_balancer_subnets` only
/// when they are not the tasks' subnets, which is what the key defaults to.
impl Serialize for NetworkConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let own = self.load_balancer_subnets != self.subnets;
        let mut table = serializer.serialize_struct("NetworkConfig", 3 + usize::from(own))?;
        table.serialize_field("vpc_id", &self.vpc_id)?;
        table.serialize_field("subnets", &self.subnets)?;
        if own {
            table.serialize_field("load_balancer_subnets", &self.load_balancer_subnets)?;
        }
        table.serialize_field("assign_public_ip", &self.assign_public_ip)?;
        table.end()
    }
}

/// The `[https]` table: an HTTPS listener on port 443 with an ACM certificate, either one given
/// by ARN or one requested for `domain` and validated through DNS records in `hosted_zone`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpsConfig {
    /// An existing, issued ACM certificate in the stack's region; never deleted by `destroy`.
    pub certificate_arn: Option<String>,
    /// The name the app is reached at (lowercase, without a trailing dot): alias A and AAAA
    /// records for it point at the load balancer, and without `certificate_arn` a certificate
    /// is requested for it.
    pub domain: Option<String>,
    /// The Route 53 public hosted zone that holds `domain` (`example.com`).
    pub hosted_zone: Option<String>,
    /// More names for a requested certificate, in the same zone (`*.example.com` allowed).
    pub subject_alternative_names: Vec<String>,
    /// The load balancer's TLS security policy for the HTTPS listener.
    pub ssl_policy: String,
    /// Whether `load_balancer.port` answers plain HTTP with a 301 redirect to HTTPS; without it,
    /// only port 443 is served.
    pub redirect_http: bool,
}

/// AWS's recommended TLS policy: TLS 1.3 and 1.2 with forward secrecy (see "Security policies
/// for your Application Load Balancer" in the ELB User Guide).
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/// The port of the HTTPS listener.
pub const HTTPS_PORT: u16 = 443;

impl Default for HttpsConfig {
    fn default() -> Self {
        HttpsConfig {
            certificate_arn: None,
            domain: None,
            hosted_zone: None,
            subject_alternative_names: Vec::new(),
            ssl_policy: DEFAULT_SSL_POLICY.to_owned(),
            redirect_http: true,
        }
    }
}

impl HttpsConfig {
    /// Whether deployer requests (and later deletes) the certificate: a domain without a given
    /// certificate.
    pub fn requests_certificate(&self) -> bool {
        self.certificate_arn.is_none() && self.domain.is_some()
    }
}

/// `[release]`: the release command (a database migration, say), run by `apply` as a one-off
/// task of a new task definition revision before the service is moved to it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    /// The command and its arguments, replacing the image's `CMD` (the entry point stays).
    pub command: Vec<String>,
}

/// `[autoscaling]`: Application Auto Scaling moves the service's desired count between `min` and
/// `max`, with one target tracking policy per target set (see "Target tracking scaling policies"
/// in the Application Auto Scaling User Guide). `service.desired_count` is then only the count a
/// new service starts with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingConfig {
    /// The fewest tasks (0-5000).
    pub min: u32,
    /// The most tasks (1-5000, at least `min`).
    pub max: u32,
    /// Average CPU use of the service's tasks to keep, in percent (1-100):
    /// `ECSServiceAverageCPUUtilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// Average memory use of the service's tasks to keep, in percent (1-100):
    /// `ECSServiceAverageMemoryUtilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_percent: Option<u32>,
    /// Load balancer requests per task and minute to keep (1-1000000): `ALBRequestCountPerTarget`
    /// of the stack's target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_target: Option<u32>,
    /// Seconds after a scale-in before the next scale-in (0-86400; default 300).
    #[serde(default = "default_cooldown")]
    pub scale_in_cooldown: u32,
    /// Seconds after a scale-out before the next scale-out (0-86400; default 300).
    #[serde(default = "default_cooldown")]
    pub scale_out_cooldown: u32,
}

/// Application Auto Scaling's default cooldown for ECS services, in seconds.
pub const DEFAULT_COOLDOWN: u32 = 300;

fn default_cooldown() -> u32 {
    DEFAULT_COOLDOWN
}

/// The `[names]` table: the name of each resource that does not follow the
/// `{project}-{environment}-{suffix}` pattern; `None` keeps the pattern. Each is checked
/// against the naming rule of its AWS resource (see [`NAME_RULES`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NameOverrides {
    /// Security group of the load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alb_security_group: Option<String>,
    /// Security group of the ECS tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs_security_group: Option<String>,
    /// ECR repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecr_repository: Option<String>,
    /// IAM task execution role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role: Option<String>,
    /// IAM role the app's code runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role: Option<String>,
    /// The task role's inline policy, which holds `[[task_role.statements]]` (default
    /// `app-permissions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_policy: Option<String>,
    /// CloudWatch Logs log group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Application Load Balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<String>,
    /// Target group (its replacement takes turns with `{name}-b`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_group: Option<String>,
    /// ECS cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Task definition family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_family: Option<String>,
    /// ECS service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The container in the task definition; the same as `container.name`, which it sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

impl NameOverrides {
    /// Whether every name follows the pattern.
    pub fn is_empty(&self) -> bool {
        self.entries().iter().all(|(_, v)| v.is_none())
    }

    /// Every key of the table with its value, in the order of [`NAME_RULES`].
    pub fn entries(&self) -> [(&'static str, Option<&str>); 13] {
        [
            ("alb_security_group", self.alb_security_group.as_deref()),
            ("ecs_security_group", self.ecs_security_group.as_deref()),
            ("ecr_repository", self.ecr_repository.as_deref()),
            ("execution_role", self.execution_role.as_deref()),
            ("task_role", self.task_role.as_deref()),
            ("task_role_policy", self.task_role_policy.as_deref()),
            ("log_group", self.log_group.as_deref()),
            ("load_balancer", self.load_balancer.as_deref()),
            ("target_group", self.target_group.as_deref()),
            ("cluster", self.cluster.as_deref()),
            ("task_family", self.task_family.as_deref()),
            ("service", self.service.as_deref()),
            ("container", self.container.as_deref()),
        ]
    }
}

/// The `[container]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    /// Image reference, `[registry[:port]/]path[:tag][@sha256:digest]`.
    pub image: String,
    /// The container's name in the task definition, which the service's load balancer
    /// reference names too (default `app`).
    #[serde(default = "default_container_name")]
    pub name: String,
    /// Port the container listens on (default 5000).
    #[serde(default = "default_container_port")]
    pub port: u16,
    /// Plain environment variables, by name.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Secret environment variables: name to the ARN of an SSM parameter or a
    /// Secrets Manager secret (possibly with a JSON key, version stage or
    /// version id; see [`SecretArn`]), resolved by ECS at task start.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Arguments replacing the image's `CMD`; empty keeps the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Replaces the image's `ENTRYPOINT`; empty keeps the image's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// The container's own health check, run by ECS inside the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<ContainerHealthCheck>,
    /// Seconds between SIGTERM and SIGKILL; `None` leaves ECS's 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout_seconds: Option<u32>,
    /// Mounts the container's root file system read-only.
    #[serde(default)]
    pub read_only_root_filesystem: bool,
}

/// `[container.health_check]`: a command ECS runs inside the container. Its ranges are ECS's.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerHealthCheck {
    /// `["CMD", exe, args...]` or `["CMD-SHELL", "a shell command"]`.
    pub command: Vec<String>,
    /// Seconds between checks (5-300).
    pub interval_seconds: u32,
    /// Seconds one check may take (2-60).
    pub timeout_seconds: u32,
    /// Failures in a row before the container is unhealthy (1-10).
    pub retries: u32,
    /// Seconds after start during which failures do not count (0-300).
    pub start_period_seconds: u32,
}

impl ContainerHealthCheck {
    /// ECS's defaults for what is left out.
    pub const DEFAULT_INTERVAL: u32 = 30;
    pub const DEFAULT_TIMEOUT: u32 = 5;
    pub const DEFAULT_RETRIES: u32 = 3;
    pub const DEFAULT_START_PERIOD: u32 = 0;
}

/// The CPU architecture the task's image is built for (`runtimePlatform`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum CpuArchitecture {
    /// Intel or AMD; what Fargate runs when nothing is said.
    #[default]
    #[serde(rename = "X86_64")]
    X86_64,
    /// Graviton.
    #[serde(rename = "ARM64")]
    Arm64,
}

impl CpuArchitecture {
    /// As ECS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CpuArchitecture::X86_64 => "X86_64",
            CpuArchitecture::Arm64 => "ARM64",
        }
    }
}

/// `[task_role]`: the IAM role the app's own code gets credentials of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskRoleConfig {
    /// ARNs of managed policies attached to the role.
    pub managed_policies: Vec<String>,
    /// The statements of the role's one inline policy.
    pub statements: Vec<PolicyStatement>,
}

/// One statement of the task role's inline policy, in IAM's terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyStatement {
    /// `Allow` or `Deny`.
    pub effect: String,
    /// `service:Action` patterns, or `*`.
    pub actions: Vec<String>,
    /// ARNs (patterns allowed), or `*`.
    pub resources: Vec<String>,
    /// Operator -> condition key -> values, as IAM's `Condition`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// Default of [`ContainerConfig::port`]; Flask's usual port.
pub const DEFAULT_CONTAINER_PORT: u16 = 5000;

fn default_container_port() -> u16 {
    DEFAULT_CONTAINER_PORT
}

/// Default of [`ContainerConfig::name`]: the name every stack had before it could be set.
pub const DEFAULT_CONTAINER_NAME: &str = "app";

fn default_container_name() -> String {
    DEFAULT_CONTAINER_NAME.to_owned()
}

/// The `[task]` table: Fargate CPU units and memory (MiB).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskConfig {
    /// CPU units; 1024 is one vCPU.
    pub cpu: u32,
    /// Memory in MiB; must be a Fargate combination with `cpu`.
    pub memory: u32,
    /// What the image is built for.
    pub cpu_architecture: CpuArchitecture,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            cpu: 256,
            memory: 512,
            cpu_architecture: CpuArchitecture::X86_64,
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
    /// Where the tasks run: a capacity provider strategy over Fargate and Fargate Spot, or
    /// (empty) the Fargate launch type.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_providers: Vec<CapacityProviderItem>,
    /// ECS Exec (`deployer exec`): `enableExecuteCommand` on the service, and the Session
    /// Manager permissions on the task role.
    pub enable_exec: bool,
}

/// One capacity provider of the service's strategy (ECS's `CapacityProviderStrategyItem`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub struct CapacityProviderItem {
    /// `FARGATE` or `FARGATE_SPOT`.
    pub provider: String,
    /// Its share of the tasks beyond the bases, relative to the other weights (0-1000).
    pub weight: u32,
    /// Tasks it runs first, before the weights count (0-100000; at most one provider has one).
    pub base: u32,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            desired_count: 2,
            min_healthy_percent: 100,
            max_percent: 200,
            health_check_grace_seconds: 60,
            circuit_breaker: true,
            capacity_providers: Vec::new(),
            enable_exec: false,
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
    /// Who may connect: IPv4 and IPv6 CIDR blocks admitted by the load balancer's security
    /// group, in their canonical form (`203.0.113.0/24`, `2001:db8::/32`).
    pub allowed_cidrs: Vec<String>,
    /// An internal load balancer (scheme `internal`, reachable only from inside the VPC)
    /// instead of an internet-facing one. Fixed when the load balancer is created.
    pub internal: bool,
    /// Whether the load balancer takes IPv6 clients too: `dualstack` when `allowed_cidrs` lists
    /// an IPv6 block (unless set), else `ipv4`. See "IP address types" in the ELB User Guide.
    pub ip_address_type: IpAddressType,
}

/// The IP address type of the load balancer (ELB's `IpAddressType`, Terraform's
/// `ip_address_type`). A `dualstack` one needs subnets with an IPv6 CIDR block, and gets an IPv6
/// address (and, with `[https]`, an AAAA alias record) besides its IPv4 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpAddressType {
    #[default]
    Ipv4,
    Dualstack,
}

impl IpAddressType {
    /// ELB's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            IpAddressType::Ipv4 => "ipv4",
            IpAddressType::Dualstack => "dualstack",
        }
    }
}

impl Config {
    /// The ports the load balancer listens on: `load_balancer.port` (HTTP); with `[https]`, 443
    /// and, for its redirect, `load_balancer.port`.
    pub fn listener_ports(&self) -> Vec<u16> {
        match &self.https {
            None => vec![self.load_balancer.port],
            Some(https) if https.redirect_http => vec![HTTPS_PORT, self.load_balancer.port],
            Some(_) => vec![HTTPS_PORT],
        }
    }

    /// The port of the listener that forwards to the app: 443 with `[https]`.
    pub fn forward_port(&self) -> u16 {
        match &self.https {
            Some(_) => HTTPS_PORT,
            None => self.load_balancer.port,
        }
    }

    /// The port that answers with a redirect to HTTPS, when there is one.
    pub fn redirect_port(&self) -> Option<u16> {
        self.https
            .as_ref()
            .filter(|h| h.redirect_http)
            .map(|_| self.load_balancer.port)
    }
}

/// Who may connect when `load_balancer.allowed_cidrs` is not set: anyone.
pub const DEFAULT_ALLOWED_CIDR: &str = "0.0.0.0/0";

impl Default for LoadBalancerConfig {
    fn default() -> Self {
        LoadBalancerConfig {
            port: 80,
            deregistration_delay_seconds: 30,
            allowed_cidrs: vec![DEFAULT_ALLOWED_CIDR.to_owned()],
            internal: false,
            ip_address_type: IpAddressType::Ipv4,
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
    /// The lifecycle policy keeps the last N images; 0 sets no policy and leaves one there as
    /// it is (a repository taken over from another tool, whose images are kept).
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
    /// Waiting for ACM to issue a requested certificate once its DNS validation records are in
    /// the hosted zone.
    pub certificate_validation: u32,
    /// Waiting for Route 53 to apply a change of the domain's records on all its DNS servers.
    pub dns_propagation: u32,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            iam_propagation: 240,
            resource_release: 1200,
            deployment: 900,
            certificate_validation: 1800,
            dns_propagation: 600,
        }
    }
}

/// The `[state]` table: where the state and the lock of each environment are kept.
///
/// `Local` keeps them as files in the state directory (`--state-dir`, one machine); `S3` keeps
/// them in a bucket that every machine of a team reaches: the state in the object
/// `<prefix><project>/<environment>.json` and the lock in `<prefix><project>/<environment>.lock`,
/// written with S3's conditional writes (see "How to prevent object overwrites with conditional
/// writes" in the Amazon S3 User Guide).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum StateConfig {
    #[default]
    Local,
    S3(S3StateConfig),
}

impl StateConfig {
    pub fn is_local(&self) -> bool {
        matches!(self, StateConfig::Local)
    }
}

/// `[state]` with `backend = "s3"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct S3StateConfig {
    /// The bucket's name (3-63 lowercase letters, digits, dots and hyphens).
    pub bucket: String,
    /// Put before every key: empty, or ending in `/`. Default [`DEFAULT_STATE_PREFIX`].
    pub prefix: String,
    /// The bucket's region, when it is not the stack's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The KMS key (ID, alias or ARN) that encrypts the objects (SSE-KMS); `None` keeps the
    /// bucket's default encryption (SSE-S3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// The `prefix` of `[state]` when none is given.
pub const DEFAULT_STATE_PREFIX: &str = "deployer/";

impl S3StateConfig {
    /// The object holding the state of `project`'s `environment`: `<prefix><project>/<environment>.json`.
    pub fn state_key(&self, project: &str, environment: &str) -> String {
        format!("{}{project}/{environment}.json", self.prefix)
    }

    /// The object that is the lock of `project`'s `environment`: `<prefix><project>/<environment>.lock`.
    pub fn lock_key(&self, project: &str, environment: &str) -> String {
        format!("{}{project}/{environment}.lock", self.prefix)
    }

    /// `s3://<bucket>/<prefix>`, as `--state` takes it.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Why `name` is not an S3 general purpose bucket name, following "General purpose bucket naming
/// rules" in the Amazon S3 User Guide.
pub fn bucket_name_error(name: &str) -> Option<String> {
    let rule = "3-63 lowercase letters, digits, dots and hyphens, starting and ending with a \
                letter or digit";
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let ip_like = name.split('.').count() == 4
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    if !(3..=63).contains(&name.len()) || !chars_ok || !ends_ok {
        Some(format!("{name:?} is not an S3 bucket name: {rule}"))
    } else if name.contains("..") || ip_like {
        Some(format!(
            "{name:?} is not an S3 bucket name: no two dots in a row, and not an IP address"
        ))
    } else {
        None
    }
}

/// Why `prefix` cannot begin the state's keys: it must be empty or end in `/`, and not start
/// with `/` (S3 keys have no leading slash).
pub fn state_prefix_error(prefix: &str) -> Option<String> {
    if prefix.starts_with('/') {
        Some(format!(
            "{prefix:?} starts with \"/\"; write it without, like \"deployer/\""
        ))
    } else if !prefix.is_empty() && !prefix.ends_with('/') {
        Some(format!(
            "{prefix:?} does not end in \"/\"; write it like \"{prefix}/\" (or \"\" for none)"
        ))
    } else if prefix.len() > 512 {
        Some(format!("{prefix:?} is longer than 512 characters"))
    } else {
        None
    }
}

/// Reads `--state` / `DEPLOYER_STATE`: `local`, or `s3://BUCKET[/PREFIX]` (the prefix defaulting
/// to [`DEFAULT_STATE_PREFIX`]; a `/` is added after a prefix that lacks one). `region` and
/// `kms_key_id` are kept from `configured` when it is an S3 backend too.
///
/// Errors: what was wrong and what is allowed, to be shown after `--state: `.
pub fn parse_state_url(url: &str, configured: &StateConfig) -> Result<StateConfig, String> {
    if url == "local" {
        return Ok(StateConfig::Local);
    }
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(format!(
            "{url:?} is not a state location; expected \"s3://BUCKET/PREFIX/\" or \"local\""
        ));
    };
    let (bucket, prefix) = match rest.split_once('/') {
        Some((bucket, "")) => (bucket, String::new()),
        Some((bucket, prefix)) if prefix.ends_with('/') => (bucket, prefix.to_owned()),
        Some((bucket, prefix)) => (bucket, format!("{prefix}/")),
        None => (rest, DEFAULT_STATE_PREFIX.to_owned()),
    };
    if let Some(why) = bucket_name_error(bucket).or_else(|| state_prefix_error(&prefix)) {
        return Err(why);
    }
    let (region, kms_key_id) = match configured {
        StateConfig::S3(s3) => (s3.region.clone(), s3.kms_key_id.clone()),
        StateConfig::Local => (None, None),
    };
    Ok(StateConfig::S3(S3StateConfig {
        bucket: bucket.to_owned(),
        prefix,
        region,
        kms_key_id,
    }))
}

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
    /// The file is larger than [`MAX_CONFIG_BYTES`]: not a configuration written by hand, and
    /// too large to parse quickly. Nothing past the limit was read.
    #[error(
        "{}: the file has {} bytes, and a configuration may have at most {} bytes (1 MiB); is it \
         the right file?",
        path.display(),
        size.map_or_else(|| format!("more than {MAX_CONFIG_BYTES}"), |s| s.to_string()),
        MAX_CONFIG_BYTES
    )]
    TooLarge {
        /// The file that was asked for.
        path: PathBuf,
        /// Its size, when the file system tells it (not for a pipe).
        size: Option<u64>,
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

/// Something a configuration should change but may keep: it loads, and the
/// warning is shown on stderr by every command that reads the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file (or origin given to [`Config::from_toml_str_with_warnings`]).
    pub path: PathBuf,
    /// Where and what, in the same form as a problem.
    pub problem: Problem,
}

impl fmt::Display for Warning {
    /// `path:line:column: key: message`, like a problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&with_path(&self.path, &self.problem.to_string()))
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

/// The largest configuration file read. A hand-written file is a few KiB; parsing a file of
/// tens of MB takes half a minute and hundreds of MB of memory, and it is always a mistake
/// (`--config` naming a log, an image, a device).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads at most [`MAX_CONFIG_BYTES`] (plus one, to tell a file of exactly the limit from a
/// larger one), so that a huge file, or an endless one like `/dev/zero`, is refused without
/// being loaded.
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_error = |error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        let size = std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    String::from_utf8(bytes).map_err(|_| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

impl Config {
    /// Reads, parses and validates a file. Never touches the network.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_warnings(path).map(|(config, _)| config)
    }

    /// [`Config::load`], with the warnings about what loaded but should
    /// change, in file order.
    pub fn load_with_warnings(path: &Path) -> Result<(Config, Vec<Warning>), ConfigError> {
        let text = read_bounded(path)?;
        Self::from_toml_str_with_warnings(&text, path)
    }

    /// Same as [`Config::load`] from a string; `origin` is the path used in
    /// messages.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        Self::from_toml_str_with_warnings(text, origin).map(|(config, _)| config)
    }

    /// Same as [`Config::load_with_warnings`] from a string; `origin` is the
    /// path used in messages.
    pub fn from_toml_str_with_warnings(
        text: &str,
        origin: &Path,
    ) -> Result<(Config, Vec<Warning>), ConfigError> {
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
        // Several unknown keys are listed together; one is left to serde's message.
        let unknown = unknown_keys(&locator, &doc);
        if unknown.len() > 1 {
            return Err(ConfigError::Invalid {
                path: origin.to_path_buf(),
                problems: unknown,
            });
        }
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| parse_error(describe_shape_error(&locator, e.message(), e.span())))?;

        let (config, warnings) =
            validate::check(&raw, Some(&locator)).map_err(|problems| ConfigError::Invalid {
                path: origin.to_path_buf(),
                problems,
            })?;
        let warnings = warnings
            .into_iter()
            .map(|problem| Warning {
                path: origin.to_path_buf(),
                problem,
            })
            .collect();
        Ok((config, warnings))
    }

    /// Checks a `Config` that did not come from [`Config::load`] (built in
    /// code or deserialized directly) against the same rules. The problems
    /// carry no line or column.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        validate::check(&RawConfig::from(self), None).map(drop)
    }

    /// `{project}-{environment}-{suffix}`, the naming rule of every AWS
    /// resource. Use the constants in [`suffix`].
    pub fn resource_name(&self, suffix: &str) -> String {
        format!("{}-{}-{}", self.project, self.environment, suffix)
    }

    /// Whether the app's tasks run as a task role: `[task_role]` asks for one, and ECS Exec
    /// (`service.enable_exec`) needs one for its Session Manager permissions.
    pub fn wants_task_role(&self) -> bool {
        self.task_role.is_some() || self.service.enable_exec
    }
}
