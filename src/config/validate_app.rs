//! The rules of the app's own settings: its CPU architecture, what the container is called and
//! runs and how ECS checks and stops it, and the task role's policies.
//!
//! They are apart from `validate` because they describe the app rather than the stack around
//! it, and each of them ends up in an AWS call that would otherwise fail halfway through an
//! apply (a health check interval ECS refuses, a policy statement IAM cannot parse), after the
//! resources before it were made.

use std::collections::{BTreeMap, BTreeSet};

use super::schema::{
    Int, RawCapacityProvider, RawContainerHealthCheck, RawRelease, RawStatement, RawTaskRole,
};
use super::validate::Validator;
use super::{
    CapacityProviderItem, ContainerHealthCheck, CpuArchitecture, PolicyStatement, ReleaseConfig,
    TaskRoleConfig,
};

/// The most characters IAM allows in a role's inline policies together (whitespace aside).
pub const MAX_INLINE_POLICY_CHARS: usize = 10_240;

/// The most managed policies IAM attaches to one role (its quota can be raised to 20 from 10).
pub const MAX_MANAGED_POLICIES: usize = 20;

pub(super) fn cpu_architecture(raw: &str, v: &mut Validator<'_>) -> CpuArchitecture {
    match raw {
        "X86_64" => return CpuArchitecture::X86_64,
        "ARM64" => return CpuArchitecture::Arm64,
        _ => {}
    }
    let normalized = raw.to_ascii_lowercase().replace(['-', '_'], "");
    let meant = match normalized.as_str() {
        "x8664" | "amd64" | "x64" | "intel" => Some("X86_64"),
        "arm64" | "aarch64" | "arm" | "graviton" => Some("ARM64"),
        _ => None,
    };
    let hint = meant.map_or_else(String::new, |m| format!(" (did you mean {m:?}?)"));
    v.push(
        &["task", "cpu_architecture"],
        format!("{raw:?} is not a Fargate CPU architecture; allowed \"X86_64\" or \"ARM64\"{hint}"),
    );
    CpuArchitecture::X86_64
}

/// The longest container name ECS accepts.
const MAX_CONTAINER_NAME: usize = 255;

/// ECS's rule for a container's name: up to 255 letters, digits, hyphens and underscores.
pub(super) fn container_name(raw: &str, v: &mut Validator<'_>) -> String {
    let length = raw.chars().count();
    let why = if raw.is_empty() {
        Some("is empty".to_string())
    } else if length > MAX_CONTAINER_NAME {
        Some(format!("has {length} characters"))
    } else {
        raw.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
            .map(|c| format!("contains {c:?}"))
    };
    if let Some(why) = why {
        v.push(
            &["container", "name"],
            format!(
                "{raw:?} {why}; ECS allows up to {MAX_CONTAINER_NAME} letters, digits, hyphens \
                 and underscores"
            ),
        );
    }
    raw.to_owned()
}

/// `command` or `entry_point`: left out keeps the image's; an empty list would too, but says
/// something else, so it is refused.
pub(super) fn argv(key: &str, raw: Option<&Vec<String>>, v: &mut Validator<'_>) -> Vec<String> {
    match raw {
        Some(list) if list.is_empty() => {
            v.push(
                &["container", key],
                "an empty list; leave the key out to keep the image's own".to_string(),
            );
            Vec::new()
        }
        Some(list) => list.clone(),
        None => Vec::new(),
    }
}

pub(super) fn health_check(
    raw: &RawContainerHealthCheck,
    v: &mut Validator<'_>,
) -> ContainerHealthCheck {
    let key = |field: &'static str| ["container", "health_check", field];
    let command = raw.command.clone().unwrap_or_default();
    match command.first().map(String::as_str) {
        None if raw.command.is_none() => v.push(
            &["container", "health_check"],
            "missing `command`, like [\"CMD-SHELL\", \"curl -f http://localhost:5000/ || exit 1\"]"
                .to_string(),
        ),
        Some("CMD" | "CMD-SHELL") if command.len() >= 2 => {}
        Some(first @ ("CMD" | "CMD-SHELL")) => v.push(
            &key("command"),
            format!("{first:?} needs the command after it, like [{first:?}, \"...\"]"),
        ),
        Some(first) => v.push(
            &key("command"),
            format!(
                "starts with {first:?}; ECS needs \"CMD\" (arguments run directly) or \
                 \"CMD-SHELL\" (one string run by the shell) first, like [\"CMD-SHELL\", {first:?}]"
            ),
        ),
        None => v.push(
            &key("command"),
            "an empty list; ECS needs [\"CMD\", ...] or [\"CMD-SHELL\", \"...\"]".to_string(),
        ),
    }
    ContainerHealthCheck {
        command,
        interval_seconds: v.u32_in(&key("interval_seconds"), raw.interval_seconds, 5, 300),
        timeout_seconds: v.u32_in(&key("timeout_seconds"), raw.timeout_seconds, 2, 60),
        retries: v.u32_in(&key("retries"), raw.retries, 1, 10),
        start_period_seconds: v.u32_in(
            &key("start_period_seconds"),
            raw.start_period_seconds,
            0,
            300,
        ),
    }
}

/// Fargate waits at most 120 seconds between SIGTERM and SIGKILL.
pub(super) fn stop_timeout(raw: Option<Int>, v: &mut Validator<'_>) -> Option<u32> {
    raw.map(|value| v.u32_in(&["container", "stop_timeout_seconds"], value, 1, 120))
}

/// `[release]`: a command is what the table is for, so it must be there and say something.
pub(super) fn release(raw: &RawRelease, v: &mut Validator<'_>) -> ReleaseConfig {
    let command = match &raw.command {
        None => {
            v.push(
                &["release", "command"],
                "missing; give the command to run before each new revision is deployed, as a \
                 list (command = [\"flask\", \"db\", \"upgrade\"]), or remove [release]"
                    .to_string(),
            );
            Vec::new()
        }
        Some(list) if list.is_empty() || list[0].trim().is_empty() => {
            v.push(
                &["release", "command"],
                "an empty command; give the program and its arguments, or remove [release]"
                    .to_string(),
            );
            Vec::new()
        }
        Some(list) => list.clone(),
    };
    ReleaseConfig { command }
}

pub(super) fn task_role(
    raw: &RawTaskRole,
    partition: &str,
    v: &mut Validator<'_>,
) -> TaskRoleConfig {
    let mut seen = BTreeSet::new();
    for (index, arn) in raw.managed_policies.iter().enumerate() {
        let at = format!("[{index}]");
        let key = ["task_role", "managed_policies", at.as_str()];
        if let Err(why) = check_policy_arn(arn, partition) {
            v.push(
                &key,
                format!(
                    "{arn:?} is not a managed policy ARN: {why}; expected \
                     arn:{partition}:iam::aws:policy/NAME or arn:{partition}:iam::ACCOUNT:policy/NAME"
                ),
            );
        } else if !seen.insert(arn) {
            v.push(&key, format!("{arn:?} is listed twice"));
        }
    }
    if raw.managed_policies.len() > MAX_MANAGED_POLICIES {
        v.push(
            &["task_role", "managed_policies"],
            format!(
                "{} policies; IAM attaches at most {MAX_MANAGED_POLICIES} to a role (10 unless \
                 the quota was raised)",
                raw.managed_policies.len()
            ),
        );
    }
    let statements: Vec<PolicyStatement> = raw
        .statements
        .iter()
        .enumerate()
        .map(|(index, s)| statement(index, s, v))
        .collect();
    let size = inline_policy_chars(&statements);
    if size > MAX_INLINE_POLICY_CHARS {
        v.push(
            &["task_role", "statements"],
            format!(
                "the statements take {size} characters as a policy, and IAM allows at most \
                 {MAX_INLINE_POLICY_CHARS} in a role's inline policies; use wildcards or a \
                 managed policy"
            ),
        );
    }
    TaskRoleConfig {
        managed_policies: raw.managed_policies.clone(),
        statements,
    }
}

fn statement(index: usize, raw: &RawStatement, v: &mut Validator<'_>) -> PolicyStatement {
    let at = format!("[{index}]");
    let key = |field: &'static str| ["task_role", "statements", at.as_str(), field];
    let effect = raw.effect.clone().unwrap_or_else(|| "Allow".to_string());
    if effect != "Allow" && effect != "Deny" {
        let hint = match effect.to_ascii_lowercase().as_str() {
            "allow" => " (did you mean \"Allow\"?)",
            "deny" => " (did you mean \"Deny\"?)",
            _ => "",
        };
        v.push(
            &key("effect"),
            format!("{effect:?} is not an effect; allowed \"Allow\" or \"Deny\"{hint}"),
        );
    }
    if raw.actions.is_empty() {
        v.push(
            &key("actions"),
            "no actions; list at least one, like \"s3:GetObject\"".to_string(),
        );
    }
    for (i, action) in raw.actions.iter().enumerate() {
        if let Err(why) = check_action(action) {
            let item = format!("[{i}]");
            v.push(
                &[
                    "task_role",
                    "statements",
                    at.as_str(),
                    "actions",
                    item.as_str(),
                ],
                format!(
                    "{action:?} is not an IAM action: {why}; expected service:Action, like \
                     \"s3:GetObject\" or \"sqs:*\""
                ),
            );
        }
    }
    if raw.resources.is_empty() {
        v.push(
            &key("resources"),
            "no resources; list at least one ARN, or \"*\"".to_string(),
        );
    }
    for (i, resource) in raw.resources.iter().enumerate() {
        if let Err(why) = check_resource(resource) {
            let item = format!("[{i}]");
            v.push(
                &[
                    "task_role",
                    "statements",
                    at.as_str(),
                    "resources",
                    item.as_str(),
                ],
                format!(
                    "{resource:?} is not a resource ARN: {why}; expected \
                     arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (parts may be empty or \
                     wildcards), or \"*\""
                ),
            );
        }
    }
    let mut conditions = BTreeMap::new();
    for (operator, keys) in &raw.conditions {
        if !is_condition_operator(operator) || keys.is_empty() {
            v.push(
                &[
                    "task_role",
                    "statements",
                    at.as_str(),
                    "conditions",
                    operator.as_str(),
                ],
                format!(
                    "{operator:?} is not one of IAM's condition operators with keys (StringEquals, \
                     StringLike, ArnLike, IpAddress, NumericLessThan, DateGreaterThan, Bool, Null, \
                     ..., with IfExists or ForAllValues:/ForAnyValue: where IAM allows them); \
                     expected {{ StringEquals = {{ \"aws:RequestedRegion\" = \"eu-central-1\" }} }}"
                ),
            );
        }
        let mut values_by_key = BTreeMap::new();
        for (name, values) in keys {
            let values = values.clone().into_vec();
            if name.is_empty() || values.is_empty() {
                v.push(
                    &[
                        "task_role",
                        "statements",
                        at.as_str(),
                        "conditions",
                        operator.as_str(),
                    ],
                    format!("{name:?} needs a condition key and at least one value"),
                );
            }
            values_by_key.insert(name.clone(), values);
        }
        conditions.insert(operator.clone(), values_by_key);
    }
    PolicyStatement {
        effect,
        actions: raw.actions.clone(),
        resources: raw.resources.clone(),
        conditions,
    }
}

/// IAM's condition operators ("IAM JSON policy elements: Condition operators"): the base
/// operators, each also with `IfExists` (except `Null`), and the set qualifiers
/// `ForAllValues:` / `ForAnyValue:` before them. IAM refuses a policy with any other.
fn is_condition_operator(operator: &str) -> bool {
    const BASE: &[&str] = &[
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
    ];
    let operator = operator
        .strip_prefix("ForAllValues:")
        .or_else(|| operator.strip_prefix("ForAnyValue:"))
        .unwrap_or(operator);
    if operator == "Null" {
        return true;
    }
    let base = operator.strip_suffix("IfExists").unwrap_or(operator);
    BASE.contains(&base)
}

/// `service:Action`, either part possibly with `*` and `?` wildcards, or `*` alone.
pub fn check_action(action: &str) -> Result<(), &'static str> {
    if action == "*" {
        return Ok(());
    }
    let Some((service, name)) = action.split_once(':') else {
        return Err("it has no \"service:\" prefix");
    };
    if service.is_empty()
        || !service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("the service prefix is lowercase letters, digits and hyphens");
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
    {
        return Err("the action is letters and digits, with * or ? as wildcards");
    }
    Ok(())
}

/// An ARN's shape: six `:`-separated parts, of which the partition, the service and the
/// resource are not empty.
pub fn check_resource(resource: &str) -> Result<(), &'static str> {
    if resource == "*" {
        return Ok(());
    }
    if resource.chars().any(char::is_whitespace) {
        return Err("it contains spaces");
    }
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, service, _, _, rest]
            if !partition.is_empty() && !service.is_empty() && !rest.is_empty() =>
        {
            Ok(())
        }
        ["arn", ..] => {
            Err("it has fewer than six parts, or an empty partition, service or resource")
        }
        _ => Err("it does not start with \"arn:\""),
    }
}

/// `arn:PARTITION:iam::ACCOUNT|aws:policy/[PATH/]NAME` in the stack's partition.
fn check_policy_arn(arn: &str, partition: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", found_partition, "iam", "", account, resource] = parts.as_slice() else {
        return Err("it is not an IAM ARN".to_string());
    };
    if *found_partition != partition {
        return Err(format!(
            "it is in partition {found_partition}, but the stack's region is in {partition}"
        ));
    }
    let account_ok =
        *account == "aws" || (account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()));
    if !account_ok {
        return Err("the account is 12 digits, or \"aws\" for an AWS managed policy".to_string());
    }
    match resource.strip_prefix("policy/") {
        Some(name) if !name.is_empty() && !name.ends_with('/') => Ok(()),
        _ => Err("it does not name a policy/".to_string()),
    }
}

/// Characters the statements take in the policy IAM stores, which does not count whitespace.
fn inline_policy_chars(statements: &[PolicyStatement]) -> usize {
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": statements
            .iter()
            .map(|s| serde_json::json!({
                "Effect": s.effect,
                "Action": s.actions,
                "Resource": s.resources,
                "Condition": s.conditions,
            }))
            .collect::<Vec<_>>(),
    });
    document
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// The providers a Fargate service can use.
const FARGATE_PROVIDERS: &[&str] = &["FARGATE", "FARGATE_SPOT"];

/// `service.capacity_providers`: a strategy as ECS accepts one for Fargate (see the ECS API's
/// `CapacityProviderStrategyItem`): `FARGATE` and/or `FARGATE_SPOT`, each once, a weight of
/// 0-1000 each and at least one above 0, a base of 0-100000 on at most one.
pub(super) fn capacity_providers(
    raw: Option<&[RawCapacityProvider]>,
    v: &mut Validator<'_>,
) -> Vec<CapacityProviderItem> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    if raw.is_empty() {
        v.push(
            &["service", "capacity_providers"],
            "an empty list; leave the key out for the Fargate launch type, or list providers, \
             like [{ provider = \"FARGATE_SPOT\", weight = 1 }]"
                .to_string(),
        );
    }
    let mut items = Vec::new();
    let mut with_base = 0;
    for (index, item) in raw.iter().enumerate() {
        let at = format!("[{index}]");
        let key = |field: &'static str| ["service", "capacity_providers", at.as_str(), field];
        if !FARGATE_PROVIDERS.contains(&item.provider.as_str()) {
            let normalized = item.provider.to_ascii_uppercase().replace('-', "_");
            let hint = if FARGATE_PROVIDERS.contains(&normalized.as_str()) {
                format!(" (did you mean {normalized:?}?)")
            } else {
                String::new()
            };
            v.push(
                &key("provider"),
                format!(
                    "{:?} is not a Fargate capacity provider; allowed \"FARGATE\" or \
                     \"FARGATE_SPOT\"{hint}",
                    item.provider
                ),
            );
        } else if raw[..index]
            .iter()
            .any(|earlier| earlier.provider == item.provider)
        {
            v.push(
                &key("provider"),
                format!(
                    "{:?} is listed twice; give each provider once",
                    item.provider
                ),
            );
        }
        let weight = match item.weight {
            Some(weight) => v.u32_in(&key("weight"), weight, 0, 1000),
            None => {
                v.push(
                    &["service", "capacity_providers", at.as_str()],
                    "missing `weight` (0-1000), like { provider = \"FARGATE\", weight = 1 }"
                        .to_string(),
                );
                0
            }
        };
        let base = match item.base {
            Some(base) => {
                with_base += 1;
                if with_base > 1 {
                    v.push(
                        &key("base"),
                        "a second `base`; ECS allows a base on one provider only".to_string(),
                    );
                }
                v.u32_in(&key("base"), base, 0, 100_000)
            }
            None => 0,
        };
        items.push(CapacityProviderItem {
            provider: item.provider.clone(),
            weight,
            base,
        });
    }
    if !raw.is_empty()
        && raw.iter().all(|i| i.weight.is_some())
        && items.iter().all(|i| i.weight == 0)
    {
        v.push(
            &["service", "capacity_providers"],
            "every weight is 0; at least one provider needs a weight above 0".to_string(),
        );
    }
    items.sort();
    items
}
