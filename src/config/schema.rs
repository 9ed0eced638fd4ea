//! The configuration file as written: every key it may have, with numbers
//! still as wide as the text allows and nothing checked yet.
//!
//! This mirror of the public types exists so that serde can only report the
//! shape of the file (unknown keys, wrong types, missing keys), and every
//! value-level problem is left to validation, which reports all of them at
//! once with what is allowed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use super::{
    AutoscalingConfig, Config, ContainerHealthCheck, EcrConfig, HealthCheckConfig, HttpsConfig,
    LoadBalancerConfig, LogsConfig, NameOverrides, NetworkConfig, PolicyStatement, ServiceConfig,
    StateConfig, TaskConfig, TaskRoleConfig, TimeoutsConfig, DEFAULT_CONTAINER_NAME,
    DEFAULT_CONTAINER_PORT,
};

/// An integer as written in the file, before range checks. Reading every
/// number as `i64` turns `port = 70000` into a validation problem that says
/// what is allowed, rather than a serde overflow error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Int(pub(super) i64);

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

// The required keys are optional here: a missing one is a validation problem, reported with
// every other problem of the file, where serde would stop at the first one it misses.
//
// The raw mirror takes its defaults from the public types' `Default` impls so
// the documented defaults are written down exactly once.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) project: Option<String>,
    #[serde(default)]
    pub(super) environment: Option<String>,
    #[serde(default)]
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) endpoint_url: Option<String>,
    #[serde(default)]
    pub(super) container: Option<RawContainer>,
    #[serde(default)]
    pub(super) task: RawTask,
    #[serde(default)]
    pub(super) service: RawService,
    #[serde(default)]
    pub(super) load_balancer: RawLoadBalancer,
    #[serde(default)]
    pub(super) health_check: RawHealthCheck,
    #[serde(default)]
    pub(super) logs: RawLogs,
    #[serde(default)]
    pub(super) ecr: RawEcr,
    #[serde(default)]
    pub(super) timeouts: RawTimeouts,
    #[serde(default)]
    pub(super) task_role: Option<RawTaskRole>,
    #[serde(default)]
    pub(super) state: Option<RawState>,
    pub(super) autoscaling: Option<RawAutoscaling>,
    #[serde(default)]
    pub(super) release: Option<RawRelease>,
    #[serde(default)]
    pub(super) https: Option<RawHttps>,
    #[serde(default)]
    pub(super) network: Option<RawNetwork>,
    /// Only strings, so the public type serves as its own raw form.
    #[serde(default)]
    pub(super) names: NameOverrides,
}

/// `[network]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNetwork {
    pub(super) vpc_id: Option<String>,
    pub(super) subnets: Vec<String>,
    pub(super) load_balancer_subnets: Option<Vec<String>>,
    pub(super) assign_public_ip: Option<bool>,
}

impl From<&NetworkConfig> for RawNetwork {
    fn from(n: &NetworkConfig) -> Self {
        RawNetwork {
            vpc_id: Some(n.vpc_id.clone()),
            subnets: n.subnets.clone(),
            load_balancer_subnets: Some(n.load_balancer_subnets.clone()),
            assign_public_ip: Some(n.assign_public_ip),
        }
    }
}

/// `[https]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHttps {
    pub(super) certificate_arn: Option<String>,
    pub(super) domain: Option<String>,
    pub(super) hosted_zone: Option<String>,
    pub(super) subject_alternative_names: Vec<String>,
    pub(super) ssl_policy: String,
    pub(super) redirect_http: bool,
}

impl From<&HttpsConfig> for RawHttps {
    fn from(h: &HttpsConfig) -> Self {
        RawHttps {
            certificate_arn: h.certificate_arn.clone(),
            domain: h.domain.clone(),
            hosted_zone: h.hosted_zone.clone(),
            subject_alternative_names: h.subject_alternative_names.clone(),
            ssl_policy: h.ssl_policy.clone(),
            redirect_http: h.redirect_http,
        }
    }
}

impl Default for RawHttps {
    fn default() -> Self {
        (&HttpsConfig::default()).into()
    }
}

/// The `[state]` table as written: every key optional, so that a missing bucket is reported with
/// the file's other problems.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawState {
    #[serde(default)]
    pub(super) backend: Option<String>,
    #[serde(default)]
    pub(super) bucket: Option<String>,
    #[serde(default)]
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) region: Option<String>,
    #[serde(default)]
    pub(super) kms_key_id: Option<String>,
}

/// `[autoscaling]` as written: `min` and `max` are required, which validation reports.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAutoscaling {
    pub(super) min: Option<Int>,
    pub(super) max: Option<Int>,
    pub(super) cpu_percent: Option<Int>,
    pub(super) memory_percent: Option<Int>,
    pub(super) requests_per_target: Option<Int>,
    pub(super) scale_in_cooldown: Option<Int>,
    pub(super) scale_out_cooldown: Option<Int>,
}

impl From<&AutoscalingConfig> for RawAutoscaling {
    fn from(a: &AutoscalingConfig) -> Self {
        RawAutoscaling {
            min: Some(a.min.into()),
            max: Some(a.max.into()),
            cpu_percent: a.cpu_percent.map(Into::into),
            memory_percent: a.memory_percent.map(Into::into),
            requests_per_target: a.requests_per_target.map(Into::into),
            scale_in_cooldown: Some(a.scale_in_cooldown.into()),
            scale_out_cooldown: Some(a.scale_out_cooldown.into()),
        }
    }
}

/// `[release]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRelease {
    pub(super) command: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContainer {
    #[serde(default)]
    pub(super) image: Option<String>,
    #[serde(default = "raw_default_container_name")]
    pub(super) name: String,
    #[serde(default = "raw_default_container_port")]
    pub(super) port: Int,
    #[serde(default)]
    pub(super) environment: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) secrets: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) command: Option<Vec<String>>,
    #[serde(default)]
    pub(super) entry_point: Option<Vec<String>>,
    #[serde(default)]
    pub(super) health_check: Option<RawContainerHealthCheck>,
    #[serde(default)]
    pub(super) stop_timeout_seconds: Option<Int>,
    #[serde(default)]
    pub(super) read_only_root_filesystem: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawContainerHealthCheck {
    pub(super) command: Option<Vec<String>>,
    pub(super) interval_seconds: Int,
    pub(super) timeout_seconds: Int,
    pub(super) retries: Int,
    pub(super) start_period_seconds: Int,
}

impl Default for RawContainerHealthCheck {
    fn default() -> Self {
        RawContainerHealthCheck {
            command: None,
            interval_seconds: ContainerHealthCheck::DEFAULT_INTERVAL.into(),
            timeout_seconds: ContainerHealthCheck::DEFAULT_TIMEOUT.into(),
            retries: ContainerHealthCheck::DEFAULT_RETRIES.into(),
            start_period_seconds: ContainerHealthCheck::DEFAULT_START_PERIOD.into(),
        }
    }
}

impl From<&ContainerHealthCheck> for RawContainerHealthCheck {
    fn from(h: &ContainerHealthCheck) -> Self {
        RawContainerHealthCheck {
            command: Some(h.command.clone()),
            interval_seconds: h.interval_seconds.into(),
            timeout_seconds: h.timeout_seconds.into(),
            retries: h.retries.into(),
            start_period_seconds: h.start_period_seconds.into(),
        }
    }
}

/// `[task_role]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTaskRole {
    pub(super) managed_policies: Vec<String>,
    pub(super) statements: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatement {
    #[serde(default)]
    pub(super) effect: Option<String>,
    #[serde(default)]
    pub(super) actions: Vec<String>,
    #[serde(default)]
    pub(super) resources: Vec<String>,
    #[serde(default)]
    pub(super) conditions: BTreeMap<String, BTreeMap<String, OneOrMany>>,
}

/// A condition's value: IAM takes one string or a list of them.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

impl From<&TaskRoleConfig> for RawTaskRole {
    fn from(r: &TaskRoleConfig) -> Self {
        RawTaskRole {
            managed_policies: r.managed_policies.clone(),
            statements: r.statements.iter().map(RawStatement::from).collect(),
        }
    }
}

impl From<&PolicyStatement> for RawStatement {
    fn from(s: &PolicyStatement) -> Self {
        RawStatement {
            effect: Some(s.effect.clone()),
            actions: s.actions.clone(),
            resources: s.resources.clone(),
            conditions: s
                .conditions
                .iter()
                .map(|(op, keys)| {
                    let keys = keys
                        .iter()
                        .map(|(k, v)| (k.clone(), OneOrMany::Many(v.clone())))
                        .collect();
                    (op.clone(), keys)
                })
                .collect(),
        }
    }
}

fn raw_default_container_port() -> Int {
    DEFAULT_CONTAINER_PORT.into()
}

fn raw_default_container_name() -> String {
    DEFAULT_CONTAINER_NAME.to_owned()
}

/// What a missing `[container]` stands for while the rest of the file is checked.
impl Default for RawContainer {
    fn default() -> Self {
        RawContainer {
            image: None,
            name: raw_default_container_name(),
            port: raw_default_container_port(),
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
            command: None,
            entry_point: None,
            health_check: None,
            stop_timeout_seconds: None,
            read_only_root_filesystem: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTask {
    pub(super) cpu: Int,
    pub(super) memory: Int,
    pub(super) cpu_architecture: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawService {
    pub(super) desired_count: Int,
    pub(super) min_healthy_percent: Int,
    pub(super) max_percent: Int,
    pub(super) health_check_grace_seconds: Int,
    pub(super) circuit_breaker: bool,
    pub(super) capacity_providers: Option<Vec<RawCapacityProvider>>,
    pub(super) enable_exec: bool,
}

/// One `{ provider = "...", weight = N, base = N }` of `service.capacity_providers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapacityProvider {
    pub(super) provider: String,
    pub(super) weight: Option<Int>,
    pub(super) base: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLoadBalancer {
    pub(super) port: Int,
    pub(super) deregistration_delay_seconds: Int,
    pub(super) allowed_cidrs: Vec<String>,
    pub(super) internal: bool,
    /// Unset: derived from `allowed_cidrs`.
    pub(super) ip_address_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawHealthCheck {
    pub(super) path: String,
    pub(super) interval_seconds: Int,
    pub(super) timeout_seconds: Int,
    pub(super) healthy_threshold: Int,
    pub(super) unhealthy_threshold: Int,
    pub(super) matcher: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLogs {
    pub(super) retention_days: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawEcr {
    pub(super) scan_on_push: bool,
    pub(super) immutable_tags: bool,
    pub(super) keep_images: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTimeouts {
    pub(super) iam_propagation: Int,
    pub(super) resource_release: Int,
    pub(super) deployment: Int,
    pub(super) certificate_validation: Int,
    pub(super) dns_propagation: Int,
}

impl From<&Config> for RawConfig {
    fn from(c: &Config) -> Self {
        RawConfig {
            project: Some(c.project.clone()),
            environment: Some(c.environment.clone()),
            region: Some(c.region.clone()),
            endpoint_url: c.endpoint_url.clone(),
            container: Some(RawContainer {
                image: Some(c.container.image.clone()),
                name: c.container.name.clone(),
                port: c.container.port.into(),
                environment: c.container.environment.clone(),
                secrets: c.container.secrets.clone(),
                command: (!c.container.command.is_empty()).then(|| c.container.command.clone()),
                entry_point: (!c.container.entry_point.is_empty())
                    .then(|| c.container.entry_point.clone()),
                health_check: c.container.health_check.as_ref().map(Into::into),
                stop_timeout_seconds: c.container.stop_timeout_seconds.map(Into::into),
                read_only_root_filesystem: c.container.read_only_root_filesystem,
            }),
            task: (&c.task).into(),
            service: (&c.service).into(),
            load_balancer: (&c.load_balancer).into(),
            health_check: (&c.health_check).into(),
            logs: (&c.logs).into(),
            ecr: (&c.ecr).into(),
            timeouts: (&c.timeouts).into(),
            task_role: c.task_role.as_ref().map(Into::into),
            state: match &c.state {
                StateConfig::Local => None,
                StateConfig::S3(s3) => Some(RawState {
                    backend: Some("s3".to_owned()),
                    bucket: Some(s3.bucket.clone()),
                    prefix: Some(s3.prefix.clone()),
                    region: s3.region.clone(),
                    kms_key_id: s3.kms_key_id.clone(),
                }),
            },
            autoscaling: c.autoscaling.as_ref().map(Into::into),
            names: c.names.clone(),
            release: c.release.as_ref().map(|r| RawRelease {
                command: Some(r.command.clone()),
            }),
            https: c.https.as_ref().map(Into::into),
            network: c.network.as_ref().map(Into::into),
        }
    }
}

impl From<&TaskConfig> for RawTask {
    fn from(t: &TaskConfig) -> Self {
        RawTask {
            cpu: t.cpu.into(),
            memory: t.memory.into(),
            cpu_architecture: t.cpu_architecture.as_str().to_owned(),
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
            capacity_providers: None,
            enable_exec: s.enable_exec,
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
            allowed_cidrs: l.allowed_cidrs.clone(),
            internal: l.internal,
            ip_address_type: None,
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
            certificate_validation: t.certificate_validation.into(),
            dns_propagation: t.dns_propagation.into(),
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
pub(super) const SCHEMA: &[(&str, &[&str])] = &[
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
            "task_role",
            "state",
            "autoscaling",
            "release",
            "https",
            "network",
            "names",
        ],
    ),
    (
        "container",
        &[
            "image",
            "name",
            "port",
            "environment",
            "secrets",
            "command",
            "entry_point",
            "health_check",
            "stop_timeout_seconds",
            "read_only_root_filesystem",
        ],
    ),
    (
        "container.health_check",
        &[
            "command",
            "interval_seconds",
            "timeout_seconds",
            "retries",
            "start_period_seconds",
        ],
    ),
    ("task", &["cpu", "memory", "cpu_architecture"]),
    (
        "service",
        &[
            "desired_count",
            "min_healthy_percent",
            "max_percent",
            "health_check_grace_seconds",
            "circuit_breaker",
            "capacity_providers",
            "enable_exec",
        ],
    ),
    (
        "load_balancer",
        &[
            "port",
            "deregistration_delay_seconds",
            "allowed_cidrs",
            "internal",
            "ip_address_type",
        ],
    ),
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
        &[
            "iam_propagation",
            "resource_release",
            "deployment",
            "certificate_validation",
            "dns_propagation",
        ],
    ),
    ("task_role", &["managed_policies", "statements"]),
    (
        "state",
        &["backend", "bucket", "prefix", "region", "kms_key_id"],
    ),
    (
        "autoscaling",
        &[
            "min",
            "max",
            "cpu_percent",
            "memory_percent",
            "requests_per_target",
            "scale_in_cooldown",
            "scale_out_cooldown",
        ],
    ),
    (
        "names",
        &[
            "alb_security_group",
            "ecs_security_group",
            "ecr_repository",
            "execution_role",
            "task_role",
            "task_role_policy",
            "log_group",
            "load_balancer",
            "target_group",
            "cluster",
            "task_family",
            "service",
            "container",
        ],
    ),
    ("release", &["command"]),
    (
        "https",
        &[
            "certificate_arn",
            "domain",
            "hosted_zone",
            "subject_alternative_names",
            "ssl_policy",
            "redirect_http",
        ],
    ),
    (
        "network",
        &[
            "vpc_id",
            "subnets",
            "load_balancer_subnets",
            "assign_public_ip",
        ],
    ),
];

/// Keys whose value must be a single table.
pub(super) const TABLE_KEYS: &[&[&str]] = &[
    &["container"],
    &["container", "environment"],
    &["container", "secrets"],
    &["container", "health_check"],
    &["task_role"],
    &["autoscaling"],
    &["release"],
    &["https"],
    &["network"],
    &["task"],
    &["service"],
    &["load_balancer"],
    &["health_check"],
    &["logs"],
    &["ecr"],
    &["timeouts"],
    &["state"],
    &["names"],
];
