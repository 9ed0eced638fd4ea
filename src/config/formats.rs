//! The syntaxes of single values: resource names, image references,
//! environment variable names, secret ARNs, endpoint URLs and health check
//! matchers.
//!
//! Each is parsed by hand, following the grammar AWS or Docker applies, so
//! that a value AWS would reject fails before anything is created, and so the
//! message can say which part is wrong; a regex would only say that the whole
//! value does not match (and would add a dependency).

use super::limits::{partition_of, AWS_REGIONS, MAX_IMAGE_CHARS};

/// Why `value` does not match `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`.
pub(super) fn name_error(value: &str) -> Option<&'static str> {
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
pub(super) fn sanitize_name(value: &str) -> String {
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

/// Checks `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, following the
/// grammar of the distribution project's reference parser that Docker and ECS
/// use.
pub fn check_image_reference(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("it is empty".to_string());
    }
    // Checked before anything else, so that no other message quotes a part of the password.
    if let Some((scheme, rest)) = split_scheme(image) {
        let bare = without_credentials(rest);
        let mut why = format!("an image reference has no scheme; leave out {scheme:?}");
        if check_image_reference(&bare).is_ok() {
            why.push_str(&format!(" (did you mean {bare:?}?)"));
        }
        return Err(why);
    }
    if without_credentials(image) != image {
        return Err(
            "it must not contain a user name or password; ECS pulls a private image with the \
             task execution role (ECR) or the container's repository credentials"
                .to_string(),
        );
    }
    if image.chars().any(char::is_whitespace) {
        return Err("it contains whitespace".to_string());
    }
    let chars = image.chars().count();
    if chars > MAX_IMAGE_CHARS {
        return Err(format!(
            "it has {chars} characters, and ECS accepts at most {MAX_IMAGE_CHARS}"
        ));
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

/// `("http://", rest)` for a value that starts with a URL scheme (`http://`, `https:/`,
/// `docker://`, ...). A registry's `host:port` cannot be mistaken for one: its port is digits,
/// never followed by `/` straight after the colon.
fn split_scheme(value: &str) -> Option<(&str, &str)> {
    let colon = value.find(':')?;
    let name = &value[..colon];
    let mut chars = name.chars();
    let is_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    let slashes = value[colon + 1..].len() - value[colon + 1..].trim_start_matches('/').len();
    (is_scheme && slashes > 0).then(|| value.split_at(colon + 1 + slashes))
}

/// The user name and password of `value` (`user:password@` before the host, in a URL or an
/// image reference), if any, replaced by `***`, for quoting a value in a message: a password
/// must not reach a terminal or a CI log.
pub fn redact_credentials(value: &str) -> String {
    let (scheme, rest) = split_scheme(value).unwrap_or(("", value));
    match credentials_end(rest) {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => value.to_string(),
    }
}

/// `rest` without its `user:password@`, for suggesting the value as it should be written.
fn without_credentials(rest: &str) -> String {
    match credentials_end(rest) {
        Some(at) => rest[at + 1..].to_string(),
        None => rest.to_string(),
    }
}

/// Where the `@` ending the credentials is, in text after any scheme: the last `@` before the
/// path, unless a digest follows it (`nginx@sha256:...` names an image, not a user).
fn credentials_end(rest: &str) -> Option<usize> {
    let host = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = host.rfind('@')?;
    (!host[at + 1..].starts_with("sha256:")).then_some(at)
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

pub(super) const ENV_NAME_RULE: &str =
    "is not a valid environment variable name; use letters, digits and underscores, not starting with a digit";

/// `^[A-Za-z_][A-Za-z0-9_]*$`.
pub(super) fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parts of a variable name that mark its value as a secret, upper case.
const SECRET_NAME_PARTS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "SIGNING_KEY",
    "ENCRYPTION_KEY",
    "CREDENTIAL",
];

/// Whether an environment variable's name says its value is a secret (`DB_PASSWORD`,
/// `SECRET_KEY`, `API_TOKEN`, ...), in any case.
///
/// Such a value in `[container.environment]` is written in the file, in every task definition
/// revision, and, unless hidden, in every plan printed to a CI log. A name is only a hint, so
/// this errs towards hiding: a plan that hides a harmless value costs little.
pub fn is_sensitive_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
}

/// Where ECS reads a container secret from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStore {
    /// An SSM Parameter Store parameter, read with `ssm:GetParameters`.
    Parameter,
    /// A Secrets Manager secret, read with `secretsmanager:GetSecretValue`.
    SecretsManager,
}

/// A container secret's `valueFrom`, taken apart: one of the forms ECS accepts,
///
/// - `arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME`,
/// - `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME`, and the same
///   followed by `:JSON-KEY:VERSION-STAGE:VERSION-ID` (any of the three may
///   be empty, the colons may not be left out),
///
/// where the secret's NAME may be the full one, with the `-` and six random
/// characters Secrets Manager appends, or the partial one without them.
///
/// It exists because the string ECS takes is not always the ARN IAM needs:
/// the execution role must be granted the secret itself
/// ([`SecretArn::policy_resource`]), not a JSON key of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretArn<'a> {
    pub partition: &'a str,
    pub store: SecretStore,
    pub region: &'a str,
    pub account: &'a str,
    /// The parameter's name (without a leading `/`, as in its ARN) or the
    /// secret's name as written, with or without its random suffix.
    pub name: &'a str,
}

/// Characters of an SSM parameter name.
fn is_parameter_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')
}

/// Characters of a Secrets Manager secret name.
fn is_secret_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '=' | '.' | '@' | '-')
}

impl<'a> SecretArn<'a> {
    /// Parses `arn`, or says which part is wrong.
    pub fn parse(arn: &'a str) -> Result<Self, String> {
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
        let region_partition = partition_of(region);
        if region_partition != *partition {
            return Err(format!(
                "region {region} is in partition {region_partition}, not {partition}"
            ));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account {account:?} is not a 12-digit account id"));
        }
        let (store, name) = match *service {
            "ssm" => {
                let Some(name) = resource.strip_prefix("parameter/") else {
                    return Err(format!(
                        "resource {resource:?} does not start with \"parameter/\""
                    ));
                };
                if name.is_empty() {
                    return Err("the parameter name is empty".to_string());
                }
                if let Some(c) = name.chars().find(|c| !is_parameter_char(*c)) {
                    return Err(format!(
                        "parameter name {name:?} has {c:?}; parameter names have letters, digits, '_', '.', '-' and '/'"
                    ));
                }
                if name.starts_with('/') || name.contains("//") {
                    return Err(format!(
                        "parameter name {name:?} has an empty path segment (the ARN of parameter /a/b ends in \"parameter/a/b\")"
                    ));
                }
                (SecretStore::Parameter, name)
            }
            "secretsmanager" => {
                let Some(rest) = resource.strip_prefix("secret:") else {
                    return Err(format!(
                        "resource {resource:?} does not start with \"secret:\""
                    ));
                };
                let fields: Vec<&str> = rest.split(':').collect();
                let name = match fields.as_slice() {
                    [name] | [name, _, _, _] => *name,
                    _ => {
                        return Err(format!(
                            "{:?} after \"secret:\" has {} ':'-separated parts, not 1 or 4 (leave unused parts empty, as in NAME:username::)",
                            rest,
                            fields.len()
                        ));
                    }
                };
                if name.is_empty() {
                    return Err("the secret name is empty".to_string());
                }
                if name.len() > 512 {
                    return Err("the secret name is longer than 512 characters".to_string());
                }
                if let Some(c) = name.chars().find(|c| !is_secret_char(*c)) {
                    return Err(format!(
                        "secret name {name:?} has {c:?}; secret names have letters, digits and /_+=.@-"
                    ));
                }
                (SecretStore::SecretsManager, name)
            }
            other => {
                return Err(format!(
                    "service {other:?} is neither ssm nor secretsmanager"
                ));
            }
        };
        Ok(SecretArn {
            partition,
            store,
            region,
            account,
            name,
        })
    }

    /// The IAM `Resource` that covers exactly this secret.
    ///
    /// A parameter is its ARN. A secret is its ARN without the JSON key,
    /// version stage and version id, which IAM does not see. A secret named
    /// without its random suffix (a partial ARN) is granted
    /// `NAME-??????`, as AWS documents for policies on partial ARNs: `?`
    /// matches exactly one character, so no other secret whose name merely
    /// starts with NAME is covered. A name that already ends in `-` and six
    /// letters or digits is taken as complete, as Secrets Manager itself
    /// does.
    pub fn policy_resource(&self) -> String {
        let SecretArn {
            partition,
            region,
            account,
            name,
            ..
        } = self;
        match self.store {
            SecretStore::Parameter => {
                format!("arn:{partition}:ssm:{region}:{account}:parameter/{name}")
            }
            SecretStore::SecretsManager if has_random_suffix(name) => {
                format!("arn:{partition}:secretsmanager:{region}:{account}:secret:{name}")
            }
            SecretStore::SecretsManager => {
                format!("arn:{partition}:secretsmanager:{region}:{account}:secret:{name}-??????")
            }
        }
    }
}

/// Whether a secret name ends in the `-` and six letters or digits that
/// Secrets Manager appends to make its ARN.
fn has_random_suffix(name: &str) -> bool {
    name.len() > 7
        && name.rsplit_once('-').is_some_and(|(_, suffix)| {
            suffix.len() == 6 && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// `http://` or `https://`, a host, an optional port, an optional path.
pub(super) fn check_endpoint_url(url: &str) -> Result<(), &'static str> {
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
        return Err(
            "must not contain a user name or password; AWS credentials come from the \
                    standard chain (environment variables, --profile, SSO)",
        );
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
pub(super) fn check_matcher(matcher: &str) -> Result<(), String> {
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
