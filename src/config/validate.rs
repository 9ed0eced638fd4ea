//! Every rule a configuration value must follow, and the conversion of the
//! file as written into the public types.
//!
//! Checking and converting are one walk over the file, so a value can only
//! reach a [`Config`] through the check that guards it. The walk never stops
//! at the first problem: it records each one where it was found and goes on,
//! because a person fixing a file wants the whole list in one pass.

use super::formats::{
    check_endpoint_url, check_image_reference, check_matcher, is_env_var_name, is_sensitive_name,
    name_error, redact_credentials, sanitize_name, SecretArn, ENV_NAME_RULE,
};
use super::limits::{
    fargate_memory_options, partition_of, suffix, task_definition_entry_bytes, AWS_REGIONS,
    FARGATE_CPU_UNITS, LOG_RETENTION_DAYS, MAX_DESIRED_COUNT, MAX_TASK_DEFINITION_BYTES,
    RESOURCE_SUFFIXES, TASK_DEFINITION_RESERVED_BYTES,
};
use super::locate::{dotted, join_or, Locator};
use super::schema::{Int, RawConfig, RawContainer, RawHealthCheck, RawService, RawState, RawTask};
use super::validate_app;
use super::validate_edge;
use super::validate_names;
use super::{
    bucket_name_error, state_prefix_error, S3StateConfig, StateConfig, DEFAULT_STATE_PREFIX,
};
use super::{
    Config, ContainerConfig, EcrConfig, HealthCheckConfig, IpAddressType, LoadBalancerConfig,
    LogsConfig, Problem, ServiceConfig, TaskConfig, TimeoutsConfig, DEFAULT_CONTAINER_NAME,
};

/// Checks every value of `raw` and converts it to the public types, with the
/// warnings about what may stay but should change, or returns every problem
/// found; both in file order. `locator` places each problem in the text;
/// without one (a `Config` built in code) problems carry no position.
pub(super) fn check(
    raw: &RawConfig,
    locator: Option<&Locator<'_>>,
) -> Result<(Config, Vec<Problem>), Vec<Problem>> {
    let mut validator = Validator {
        locator,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let config = build(raw, &mut validator);
    if validator.problems.is_empty() {
        let mut warnings = validator.warnings;
        sort_by_position(&mut warnings);
        Ok((config, warnings))
    } else {
        Err(validator.into_sorted())
    }
}

/// File order; entries without a position (none when loaded from a file) go
/// last. The sort is stable, so ties keep check order.
fn sort_by_position(problems: &mut [Problem]) {
    problems.sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.column.unwrap_or(0)));
}

pub(super) struct Validator<'a> {
    locator: Option<&'a Locator<'a>>,
    problems: Vec<Problem>,
    /// What loads but should change: shown, never fatal.
    warnings: Vec<Problem>,
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
    pub(super) fn push(&mut self, key: &[&str], message: String) {
        let pos = self.locator.and_then(|l| l.value_pos(key));
        self.push_at(key, pos, message);
    }

    /// A problem with a value, located at the first of `at` that is written
    /// in the file (for a value left to its default, the related key that
    /// made it wrong).
    pub(super) fn push_near(&mut self, key: &[&str], at: &[&[&str]], message: String) {
        let pos = self.locator.and_then(|l| {
            at.iter()
                .find(|p| l.find(p).is_some())
                .and_then(|p| l.value_pos(p))
                .or_else(|| l.value_pos(key))
        });
        self.push_at(key, pos, message);
    }

    /// Where a key's name is written (its value's position if the name's is
    /// unknown).
    fn key_pos(&self, key: &[&str]) -> Option<(usize, usize)> {
        self.locator
            .and_then(|l| l.key_pos(key).or_else(|| l.value_pos(key)))
    }

    /// A problem with the file as a whole (a missing top-level key or table), located at its
    /// start, where the key belongs.
    fn push_top(&mut self, key: &[&str], message: String) {
        let pos = self.locator.map(|_| (1, 1));
        self.push_at(key, pos, message);
    }

    /// The value of a required key, or `None` after recording that it is missing: at the start
    /// of the file for a top-level key, where it has to be written.
    fn required<'r>(
        &mut self,
        key: &[&str],
        value: Option<&'r str>,
        allowed: &str,
    ) -> Option<&'r str> {
        if value.is_none() {
            self.push_top(
                key,
                format!(
                    "missing required key at the top level (before the first [table]); {allowed}"
                ),
            );
        }
        value
    }

    /// A problem with a key's name, located at the key.
    pub(super) fn push_key(&mut self, key: &[&str], message: String) {
        let pos = self.key_pos(key);
        self.push_at(key, pos, message);
    }

    /// A warning about a key's name, located at the key.
    fn warn_key(&mut self, key: &[&str], message: String) {
        let pos = self.key_pos(key);
        self.warnings.push(Problem {
            key: dotted(key),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message,
        });
    }

    fn into_sorted(mut self) -> Vec<Problem> {
        sort_by_position(&mut self.problems);
        self.problems
    }

    pub(super) fn in_range(&mut self, key: &[&str], value: Int, lo: i64, hi: i64) -> Option<i64> {
        let Int(v) = value;
        if (lo..=hi).contains(&v) {
            return Some(v);
        }
        self.push(key, format!("{v} is out of range; allowed {lo}-{hi}"));
        None
    }

    /// A `u32` in `lo..=hi`; 0 after recording a problem (the result is then
    /// discarded with the rest of the config).
    pub(super) fn u32_in(&mut self, key: &[&str], value: Int, lo: u32, hi: u32) -> u32 {
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
    let name_rule = "lowercase letters, digits and single hyphens, starting with a letter";
    let project = v.required(
        &["project"],
        raw.project.as_deref(),
        &format!("{name_rule}, like \"simhill\""),
    );
    let environment = v.required(
        &["environment"],
        raw.environment.as_deref(),
        &format!("{name_rule}, like \"dev\""),
    );
    let project_ok = project.is_some_and(|p| v.name(&["project"], p));
    let environment_ok = environment.is_some_and(|e| v.name(&["environment"], e));
    if let (Some(project), Some(environment), true) =
        (project, environment, project_ok && environment_ok)
    {
        check_derived_names(v, project, environment);
    }

    let region = v.required(
        &["region"],
        raw.region.as_deref(),
        "an AWS region, like \"eu-central-1\"",
    );
    if let Some(message) = region.and_then(region_error) {
        v.push(&["region"], message);
    }
    if let Some(url) = &raw.endpoint_url {
        if let Err(why) = check_endpoint_url(url) {
            // Quoted without its password, and suggested without its credentials.
            let shown = redact_credentials(url);
            let with_scheme = format!("http://{url}");
            let bare = match shown.split_once("***@") {
                Some((scheme, host)) => format!("{scheme}{host}"),
                None => shown.clone(),
            };
            let message = if !url.contains("://") && check_endpoint_url(&with_scheme).is_ok() {
                format!("{shown:?} {why} (did you mean {with_scheme:?}?)")
            } else if bare != shown && check_endpoint_url(&bare).is_ok() {
                format!("{shown:?} {why} (did you mean {bare:?}?)")
            } else {
                format!("{shown:?} {why}; expected a URL like \"http://127.0.0.1:5000\"")
            };
            v.push(&["endpoint_url"], message);
        }
    }

    let stack_region = region.unwrap_or_default();
    let names = validate_names::check(&raw.names, v);
    let mut container = match &raw.container {
        Some(container) => build_container(container, stack_region, true, v),
        None => {
            v.push_top(
                &["container"],
                "missing required table [container]; it must set at least `image`, like \
                 image = \"nginx:1.27\""
                    .to_string(),
            );
            build_container(&RawContainer::default(), stack_region, false, v)
        }
    };
    if let Some(name) = &names.container {
        // One container, one name: `[names]` may say it instead of `[container]`, not besides.
        let written = raw.container.as_ref().map(|c| c.name.as_str());
        if written.is_some_and(|w| w != name && w != DEFAULT_CONTAINER_NAME) {
            v.push(
                &["names", "container"],
                format!(
                    "{name:?} differs from container.name {:?}; name the container in one of the two places",
                    written.unwrap_or_default()
                ),
            );
        }
        container.name = name.clone();
    }
    let task = build_task(&raw.task, v);
    let service = build_service(&raw.service, v);

    let lb = &raw.load_balancer;
    let allowed = allowed_cidrs(&lb.allowed_cidrs, v);
    let load_balancer = LoadBalancerConfig {
        port: v.port(&["load_balancer", "port"], lb.port),
        deregistration_delay_seconds: v.u32_in(
            &["load_balancer", "deregistration_delay_seconds"],
            lb.deregistration_delay_seconds,
            0,
            3600,
        ),
        ip_address_type: ip_address_type(lb.ip_address_type.as_deref(), &allowed, v),
        allowed_cidrs: allowed,
        internal: lb.internal,
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
        keep_images: v.u32_in(&["ecr", "keep_images"], raw.ecr.keep_images, 0, 1000),
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
        certificate_validation: v.u32_in(
            &["timeouts", "certificate_validation"],
            t.certificate_validation,
            1,
            86400,
        ),
        dns_propagation: v.u32_in(&["timeouts", "dns_propagation"], t.dns_propagation, 1, 7200),
    };
    let https = raw
        .https
        .as_ref()
        .map(|https| validate_edge::https(https, stack_region, load_balancer.port, v));
    let network = raw
        .network
        .as_ref()
        .and_then(|network| validate_edge::network(network, v));
    let task_role = raw
        .task_role
        .as_ref()
        .map(|role| validate_app::task_role(role, partition_of(stack_region), v));
    let state = raw
        .state
        .as_ref()
        .map_or(StateConfig::Local, |state| build_state(state, v));
    let autoscaling = raw
        .autoscaling
        .as_ref()
        .map(|a| validate_app::autoscaling(a, raw.service.desired_count, v));
    let release = raw
        .release
        .as_ref()
        .map(|release| validate_app::release(release, v));

    Config {
        project: project.unwrap_or_default().to_string(),
        environment: environment.unwrap_or_default().to_string(),
        region: region.unwrap_or_default().to_string(),
        endpoint_url: raw.endpoint_url.clone(),
        container,
        task,
        service,
        load_balancer,
        health_check,
        logs,
        ecr,
        timeouts,
        task_role,
        state,
        autoscaling,
        names,
        release,
        https,
        network,
    }
}

/// `load_balancer.allowed_cidrs`: each one a valid IPv4 or IPv6 CIDR block without host bits,
/// at most once, in the canonical form AWS reports it in (so that a rule written `2001:DB8::/32`
/// is not seen as drift when EC2 reads it back as `2001:db8::/32`).
fn allowed_cidrs(cidrs: &[String], v: &mut Validator<'_>) -> Vec<String> {
    let key = ["load_balancer", "allowed_cidrs"];
    if cidrs.is_empty() {
        v.push(
            &key,
            "the list is empty, so no one could connect; list at least one CIDR block, like \
             [\"203.0.113.0/24\"], or leave the key out to allow everyone (\"0.0.0.0/0\")"
                .to_owned(),
        );
        return Vec::new();
    }
    let mut seen = Vec::new();
    for cidr in cidrs {
        match canonical_cidr(cidr) {
            Ok(canonical) if seen.contains(&canonical) => v.push(
                &key,
                format!("{cidr:?} is listed twice (as {canonical:?}); list each block once"),
            ),
            Ok(canonical) => seen.push(canonical),
            Err(why) => v.push(&key, format!("{cidr:?} {why}")),
        }
    }
    seen
}

/// `load_balancer.ip_address_type`: as set, else `dualstack` when an allowed block is IPv6 (an
/// IPv4-only load balancer has no IPv6 address for such a client to reach).
fn ip_address_type(
    given: Option<&str>,
    allowed: &[String],
    v: &mut Validator<'_>,
) -> IpAddressType {
    let key = ["load_balancer", "ip_address_type"];
    let ipv6 = allowed.iter().find(|c| c.contains(':'));
    match (given, ipv6) {
        (None, None) => IpAddressType::Ipv4,
        (None, Some(_)) | (Some("dualstack"), _) => IpAddressType::Dualstack,
        (Some("ipv4"), None) => IpAddressType::Ipv4,
        (Some("ipv4"), Some(block)) => {
            v.push_near(
                &key,
                &[&key, &["load_balancer", "allowed_cidrs"]],
                format!(
                    "\"ipv4\" leaves the load balancer without an IPv6 address, so \
                     load_balancer.allowed_cidrs {block:?} could never connect; use \
                     \"dualstack\" or list IPv4 blocks only"
                ),
            );
            IpAddressType::Ipv4
        }
        (Some(other), _) => {
            v.push(
                &key,
                format!("{other:?} is not an IP address type; use \"ipv4\" or \"dualstack\""),
            );
            IpAddressType::Ipv4
        }
    }
}

/// The canonical form of an IPv4 or IPv6 CIDR block, or why it is not one.
pub(super) fn canonical_cidr(cidr: &str) -> Result<String, String> {
    use std::net::IpAddr;
    let expected =
        "expected an IPv4 or IPv6 CIDR block like \"203.0.113.0/24\" or \"2001:db8::/32\"";
    let Some((address, bits)) = cidr.split_once('/') else {
        // A single address: name the one block that holds just it.
        let single = match cidr.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => format!(" (the single address is \"{cidr}/32\")"),
            Ok(IpAddr::V6(_)) => format!(" (the single address is \"{cidr}/128\")"),
            Err(_) => String::new(),
        };
        return Err(format!("has no prefix length; {expected}{single}"));
    };
    let address: IpAddr = address
        .parse()
        .map_err(|_| format!("is not a valid address; {expected}"))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits: u32 = bits
        .parse()
        .ok()
        .filter(|b| *b <= max)
        .ok_or_else(|| format!("has an invalid prefix length; allowed 0-{max}"))?;
    let (network, host_bits) = match address {
        IpAddr::V4(a) => {
            let raw = u32::from(a);
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            (IpAddr::V4((raw & mask).into()), raw & !mask != 0)
        }
        IpAddr::V6(a) => {
            let raw = u128::from(a);
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            (IpAddr::V6((raw & mask).into()), raw & !mask != 0)
        }
    };
    if host_bits {
        return Err(format!(
            "has bits set after its /{bits} prefix; EC2 takes the network address: \"{network}/{bits}\""
        ));
    }
    Ok(format!("{network}/{bits}"))
}

/// The `[state]` table: `backend = "local"` takes no other key; `"s3"` needs `bucket`.
fn build_state(raw: &RawState, v: &mut Validator<'_>) -> StateConfig {
    match raw.backend.as_deref().unwrap_or("local") {
        "local" => {
            for (key, set) in [
                ("bucket", raw.bucket.is_some()),
                ("prefix", raw.prefix.is_some()),
                ("region", raw.region.is_some()),
                ("kms_key_id", raw.kms_key_id.is_some()),
            ] {
                if set {
                    v.push(
                        &["state", key],
                        format!(
                            "`{key}` is for backend = \"s3\"; the local backend keeps the state \
                             in --state-dir"
                        ),
                    );
                }
            }
            StateConfig::Local
        }
        "s3" => {
            let bucket = raw.bucket.as_deref();
            if bucket.is_none() {
                v.push_near(
                    &["state", "bucket"],
                    &[&["state", "backend"]],
                    "missing required key for backend = \"s3\": the name of the S3 bucket that \
                     holds the state, like bucket = \"acme-deployer-state\""
                        .to_owned(),
                );
            }
            if let Some(why) = bucket.and_then(bucket_name_error) {
                v.push(&["state", "bucket"], why);
            }
            let prefix = raw
                .prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_STATE_PREFIX.to_owned());
            if let Some(why) = state_prefix_error(&prefix) {
                v.push(&["state", "prefix"], why);
            }
            if let Some(why) = raw.region.as_deref().and_then(region_error) {
                v.push(&["state", "region"], why);
            }
            if raw
                .kms_key_id
                .as_deref()
                .is_some_and(|k| k.trim().is_empty())
            {
                v.push(
                    &["state", "kms_key_id"],
                    "is empty; name a KMS key (ID, alias/NAME or ARN), or leave it out for \
                     SSE-S3"
                        .to_owned(),
                );
            }
            StateConfig::S3(S3StateConfig {
                bucket: bucket.unwrap_or_default().to_owned(),
                prefix,
                region: raw.region.clone(),
                kms_key_id: raw.kms_key_id.clone(),
            })
        }
        other => {
            v.push(
                &["state", "backend"],
                format!("{other:?} is not a state backend; allowed \"local\" or \"s3\""),
            );
            StateConfig::Local
        }
    }
}

/// `region` is the stack's, as written: its partition is the only one whose secrets ECS can
/// read. `written` is false for a missing `[container]`, which is reported once, as the table.
fn build_container(
    c: &RawContainer,
    region: &str,
    written: bool,
    v: &mut Validator<'_>,
) -> ContainerConfig {
    let image = match &c.image {
        Some(image) => image.as_str(),
        None => "",
    };
    if c.image.is_none() {
        if written {
            v.push(
                &["container", "image"],
                "missing required key in [container]; an image reference, like \"nginx:1.27\""
                    .to_string(),
            );
        }
    } else if let Err(why) = check_image_reference(image) {
        v.push(
            &["container", "image"],
            format!(
                "{:?} is not a valid image reference: {why}; expected [registry[:port]/]name[:tag][@sha256:digest], like \"nginx:1.27\"",
                redact_credentials(image)
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
        if is_sensitive_name(name) {
            v.warn_key(
                &["container", "environment", name],
                format!(
                    "{name:?} looks like a secret, but its value is written here and in every task definition revision; move it to [container.secrets] as the ARN of an SSM parameter or Secrets Manager secret (plans show its value as \"(sensitive)\")"
                ),
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
        let problem = match SecretArn::parse(arn) {
            Err(why) => Some(why),
            // A secret in another region of the stack's partition is fine (ECS reads it by its
            // full ARN); one in another partition is out of the task's reach.
            Ok(secret) if AWS_REGIONS.contains(&region) => {
                let stack_partition = partition_of(region);
                (secret.partition != stack_partition).then(|| {
                    format!(
                        "it is in partition {}, but the stack's region {region} is in {stack_partition}, and ECS reads secrets only from its own partition",
                        secret.partition
                    )
                })
            }
            Ok(_) => None,
        };
        if let Some(why) = problem {
            v.push(
                &["container", "secrets", name],
                format!(
                    "{arn:?} is not a secret ECS can read: {why}; expected arn:aws:ssm:REGION:ACCOUNT:parameter/NAME, arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME or arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME:JSON-KEY:VERSION-STAGE:VERSION-ID"
                ),
            );
        }
    }

    check_task_definition_size(c, v);

    ContainerConfig {
        image: image.to_string(),
        name: validate_app::container_name(&c.name, v),
        port,
        environment: c.environment.clone(),
        secrets: c.secrets.clone(),
        command: validate_app::argv("command", c.command.as_ref(), v),
        entry_point: validate_app::argv("entry_point", c.entry_point.as_ref(), v),
        health_check: c
            .health_check
            .as_ref()
            .map(|h| validate_app::health_check(h, v)),
        stop_timeout_seconds: validate_app::stop_timeout(c.stop_timeout_seconds, v),
        read_only_root_filesystem: c.read_only_root_filesystem,
    }
}

/// The variables and secrets must leave the task definition within ECS's size limit, or
/// `RegisterTaskDefinition` fails after everything it depends on has been created. One problem,
/// at the largest variable, since that is usually the one to move out (to a file in the image,
/// or to SSM, which `[container.secrets]` reads from).
fn check_task_definition_size(c: &RawContainer, v: &mut Validator<'_>) {
    let entries = c
        .environment
        .iter()
        .map(|(name, value)| (name, task_definition_entry_bytes(name, value)));
    let total: usize = entries.clone().map(|(_, bytes)| bytes).sum::<usize>()
        + c.secrets
            .iter()
            .map(|(name, arn)| task_definition_entry_bytes(name, arn))
            .sum::<usize>();
    let budget = MAX_TASK_DEFINITION_BYTES - TASK_DEFINITION_RESERVED_BYTES;
    if total <= budget {
        return;
    }
    let (key, shown) = match entries.max_by_key(|(_, bytes)| *bytes) {
        Some((name, _)) => {
            let value = &c.environment[name];
            let shown = if value.chars().count() > 40 {
                format!("{:?}...", value.chars().take(40).collect::<String>())
            } else {
                format!("{value:?}")
            };
            (
                vec!["container", "environment", name.as_str()],
                format!("{shown} ({} bytes)", value.len()),
            )
        }
        None => (vec!["container", "secrets"], "the secrets".to_string()),
    };
    v.push(
        &key,
        format!(
            "{shown} makes the task definition too large: its variables and secrets take {total} \
             bytes, and they may take at most {budget} of the {MAX_TASK_DEFINITION_BYTES} bytes \
             (64 KiB) ECS allows for a task definition; move large values into the image or into \
             SSM parameters named in [container.secrets]"
        ),
    );
}

fn build_task(t: &RawTask, v: &mut Validator<'_>) -> TaskConfig {
    let cpu_architecture = validate_app::cpu_architecture(&t.cpu_architecture, v);
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
        return TaskConfig {
            cpu: 0,
            memory: 0,
            cpu_architecture,
        };
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
        cpu_architecture,
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
    // A count above the quota is not always refused by the API; the service would just never
    // reach it.
    let desired_count = match u32::try_from(s.desired_count.0)
        .ok()
        .filter(|c| *c <= MAX_DESIRED_COUNT)
    {
        Some(count) => count,
        None => {
            v.push(
                &["service", "desired_count"],
                format!(
                    "{} is out of range; allowed 0-{MAX_DESIRED_COUNT} (ECS runs at most \
                     {MAX_DESIRED_COUNT} tasks per service)",
                    s.desired_count.0
                ),
            );
            0
        }
    };
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
        capacity_providers: validate_app::capacity_providers(s.capacity_providers.as_deref(), v),
        enable_exec: s.enable_exec,
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

/// One problem, on the longer of `project` and `environment`, for the most
/// constraining derived name, because several "name too long" messages for one
/// cause would bury the fix.
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
        // The longer of the two is the one to shorten, and the one the message points at.
        let (key, value, other, other_value) = if environment.len() > project.len() {
            ("environment", environment, "project", project)
        } else {
            ("project", project, "environment", environment)
        };
        v.push(
            &[key],
            format!(
                "{value:?} is too long: with {other} {other_value:?} the {what} name {name:?} has {} characters, and AWS allows at most {max}; project and environment together may have at most {budget} characters",
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

/// Why `region` is not an AWS region, and which one was probably meant. Also the check of
/// `--region`, so the command line gets the same answer as the file.
pub fn region_error(region: &str) -> Option<String> {
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
