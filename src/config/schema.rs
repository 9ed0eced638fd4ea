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
    Config, EcrConfig, HealthCheckConfig, LoadBalancerConfig, LogsConfig, ServiceConfig,
    TaskConfig, TimeoutsConfig, DEFAULT_CONTAINER_PORT,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContainer {
    #[serde(default)]
    pub(super) image: Option<String>,
    #[serde(default = "raw_default_container_port")]
    pub(super) port: Int,
    #[serde(default)]
    pub(super) environment: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) secrets: BTreeMap<String, String>,
}

fn raw_default_container_port() -> Int {
    DEFAULT_CONTAINER_PORT.into()
}

/// What a missing `[container]` stands for while the rest of the file is checked.
impl Default for RawContainer {
    fn default() -> Self {
        RawContainer {
            image: None,
            port: raw_default_container_port(),
            environment: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTask {
    pub(super) cpu: Int,
    pub(super) memory: Int,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawService {
    pub(super) desired_count: Int,
    pub(super) min_healthy_percent: Int,
    pub(super) max_percent: Int,
    pub(super) health_check_grace_seconds: Int,
    pub(super) circuit_breaker: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLoadBalancer {
    pub(super) port: Int,
    pub(super) deregistration_delay_seconds: Int,
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
                port: c.container.port.into(),
                environment: c.container.environment.clone(),
                secrets: c.container.secrets.clone(),
            }),
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
pub(super) const TABLE_KEYS: &[&[&str]] = &[
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
