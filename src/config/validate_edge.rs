//! The rules of `[https]` (which certificate, which names, which zone) and of `[network]` (which
//! VPC and subnets).
//!
//! Each of them ends up in an AWS call (ACM's RequestCertificate, Route 53's change batch, ELB's
//! CreateListener) that would otherwise fail after the load balancer was made, or, for a domain
//! outside its zone, never validate at all and time out after half an hour.

use super::limits::partition_of;
use super::schema::{RawHttps, RawNetwork};
use super::validate::Validator;
use super::{HttpsConfig, NetworkConfig, HTTPS_PORT};

/// The most names ACM puts on one certificate by default (its domain and nine more).
pub const MAX_CERTIFICATE_NAMES: usize = 10;

pub(super) fn https(
    raw: &RawHttps,
    region: &str,
    http_port: u16,
    v: &mut Validator<'_>,
) -> HttpsConfig {
    let key = |k: &'static str| ["https", k];
    if let Some(arn) = &raw.certificate_arn {
        if let Err(why) = check_certificate_arn(arn, region) {
            v.push(&key("certificate_arn"), format!("{arn:?} {why}"));
        }
    }
    let zone = raw
        .hosted_zone
        .as_deref()
        .map(|z| z.strip_suffix('.').unwrap_or(z).to_owned());
    if let Some(zone) = &zone {
        if let Err(why) = check_dns_name(zone, false) {
            v.push(&key("hosted_zone"), format!("{zone:?} {why}"));
        }
    }
    match (&raw.certificate_arn, &raw.domain, &zone) {
        (None, None, _) => v.push_key(
            &["https"],
            "[https] needs a certificate: set certificate_arn = \"arn:aws:acm:...\" (an issued \
             certificate), or domain = \"app.example.com\" with hosted_zone = \"example.com\" to \
             have one requested and validated in Route 53"
                .to_owned(),
        ),
        (_, Some(_), None) => v.push_near(
            &key("hosted_zone"),
            &[&key("domain")],
            "missing: a domain needs the Route 53 public hosted zone that holds it, like \
             hosted_zone = \"example.com\""
                .to_owned(),
        ),
        (_, None, Some(_)) => v.push(
            &key("hosted_zone"),
            "a hosted zone is only used for a domain; set domain = \"app.example.com\" too, or \
             remove hosted_zone"
                .to_owned(),
        ),
        _ => {}
    }
    if let Some(domain) = &raw.domain {
        if let Err(why) = check_dns_name(domain, false) {
            v.push(&key("domain"), format!("{domain:?} {why}"));
        } else if let Some(zone) = &zone {
            if !in_zone(domain, zone) {
                v.push(
                    &key("domain"),
                    format!(
                        "{domain:?} is not in the hosted zone {zone:?}: Route 53 can only answer \
                         for names that end in .{zone}"
                    ),
                );
            }
        }
    }
    let sans_key = key("subject_alternative_names");
    if !raw.subject_alternative_names.is_empty() && raw.certificate_arn.is_some() {
        v.push(
            &sans_key,
            "only for a certificate deployer requests; a given certificate_arn has its names \
             already"
                .to_owned(),
        );
    }
    let mut seen: Vec<&str> = raw.domain.iter().map(String::as_str).collect();
    for name in &raw.subject_alternative_names {
        if let Err(why) = check_dns_name(name, true) {
            v.push(&sans_key, format!("{name:?} {why}"));
        } else if seen.contains(&name.as_str()) {
            v.push(
                &sans_key,
                format!("{name:?} is listed twice (or is the domain itself)"),
            );
        } else if let Some(zone) = zone.as_deref().filter(|z| !in_zone(name, z)) {
            v.push(
                &sans_key,
                format!(
                    "{name:?} is not in the hosted zone {zone:?}, where its validation record \
                     must go"
                ),
            );
        }
        seen.push(name);
    }
    if raw.subject_alternative_names.len() + 1 > MAX_CERTIFICATE_NAMES {
        v.push(
            &sans_key,
            format!(
                "{} names: ACM puts at most {MAX_CERTIFICATE_NAMES} names (the domain and {} \
                 more) on a certificate",
                raw.subject_alternative_names.len(),
                MAX_CERTIFICATE_NAMES - 1
            ),
        );
    }
    let policy = &raw.ssl_policy;
    let policy_ok = policy.starts_with("ELBSecurityPolicy-")
        && policy
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !policy_ok {
        v.push(
            &key("ssl_policy"),
            format!(
                "{policy:?} is not an Application Load Balancer security policy; use one of \
                 ELB's predefined policies, like \"{}\"",
                super::DEFAULT_SSL_POLICY
            ),
        );
    }
    if http_port == HTTPS_PORT {
        v.push_near(
            &["load_balancer", "port"],
            &[&["load_balancer", "port"], &["https"]],
            format!(
                "with [https], port {HTTPS_PORT} is the HTTPS listener's; load_balancer.port is \
                 the plain HTTP port that redirects to it, usually 80"
            ),
        );
    }
    HttpsConfig {
        certificate_arn: raw.certificate_arn.clone(),
        domain: raw.domain.clone(),
        hosted_zone: zone,
        subject_alternative_names: raw.subject_alternative_names.clone(),
        ssl_policy: raw.ssl_policy.clone(),
        redirect_http: raw.redirect_http,
    }
}

/// Whether `name` is `zone` or a name under it.
fn in_zone(name: &str, zone: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// An ACM certificate ARN of the stack's region and partition:
/// `arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID`. A load balancer only takes a certificate
/// of its own region.
fn check_certificate_arn(arn: &str, region: &str) -> Result<(), String> {
    let partition = partition_of(region);
    let expected = format!("expected arn:{partition}:acm:{region}:ACCOUNT:certificate/ID");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, arn_partition, service, arn_region, account, resource] = parts[..] else {
        return Err(format!("is not an ARN; {expected}"));
    };
    if prefix != "arn" || service != "acm" || !resource.starts_with("certificate/") {
        return Err(format!("is not an ACM certificate ARN; {expected}"));
    }
    if arn_partition != partition || arn_region != region {
        return Err(format!(
            "is in {arn_region} ({arn_partition}); a load balancer only uses a certificate of \
             its own region: request or import it in {region}"
        ));
    }
    let id = &resource["certificate/".len()..];
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) || id.is_empty() {
        return Err(format!("is malformed; {expected}"));
    }
    Ok(())
}

/// A DNS name Route 53 and ACM take: lowercase labels of letters, digits and hyphens (not at
/// either end), at most 63 characters each and 253 in all, at least two labels, no trailing
/// dot. `wildcard` allows a leading `*.`.
fn check_dns_name(name: &str, wildcard: bool) -> Result<(), String> {
    let rule = "expected a lowercase DNS name like \"app.example.com\"";
    let bare = match name.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        Some(_) => {
            return Err(format!(
                "is a wildcard; {rule} (a wildcard only as a subject alternative name)"
            ))
        }
        None => name,
    };
    if name.len() > 253 {
        return Err(format!("has {} characters; at most 253", name.len()));
    }
    if let Some(without) = bare.strip_suffix('.') {
        return Err(format!(
            "ends with a dot; write it without the trailing dot, like {without:?}"
        ));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    if labels.len() < 2 {
        return Err(format!("has a single label; {rule}"));
    }
    for label in labels {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(format!("has an invalid label {label:?}; {rule}"));
        }
    }
    Ok(())
}

/// `[network]`: a VPC ID and subnet IDs of the right shape, each subnet once. Whether they exist,
/// belong to the VPC and span two Availability Zones is for the network step to ask AWS, before
/// any change. `None` after recording a problem.
pub(super) fn network(raw: &RawNetwork, v: &mut Validator<'_>) -> Option<NetworkConfig> {
    let Some(vpc_id) = &raw.vpc_id else {
        v.push_key(
            &["network"],
            "[network] needs vpc_id = \"vpc-...\" and subnets = [\"subnet-...\", ...]; leave the \
             table out to use the default VPC"
                .to_owned(),
        );
        return None;
    };
    let mut ok = true;
    if !is_id(vpc_id, "vpc-") {
        v.push(
            &["network", "vpc_id"],
            format!("{vpc_id:?} is not a VPC ID; expected \"vpc-\" and 8 or 17 hex digits"),
        );
        ok = false;
    }
    if raw.subnets.is_empty() {
        v.push_near(
            &["network", "subnets"],
            &[&["network", "vpc_id"]],
            "missing: the tasks' subnets, like subnets = [\"subnet-0a1b2c3d\", \"subnet-4e5f6a7b\"]"
                .to_owned(),
        );
        ok = false;
    }
    let lists: [(&str, &[String]); 2] = [
        ("subnets", &raw.subnets),
        (
            "load_balancer_subnets",
            raw.load_balancer_subnets.as_deref().unwrap_or_default(),
        ),
    ];
    for (key, subnets) in lists {
        let mut seen = Vec::new();
        for subnet in subnets {
            if !is_id(subnet, "subnet-") {
                v.push(
                    &["network", key],
                    format!(
                        "{subnet:?} is not a subnet ID; expected \"subnet-\" and 8 or 17 hex digits"
                    ),
                );
                ok = false;
            } else if seen.contains(&subnet) {
                v.push(&["network", key], format!("{subnet:?} is listed twice"));
                ok = false;
            }
            seen.push(subnet);
        }
    }
    let load_balancer_subnets = raw
        .load_balancer_subnets
        .clone()
        .unwrap_or_else(|| raw.subnets.clone());
    if load_balancer_subnets.len() < 2 && ok {
        let key = if raw.load_balancer_subnets.is_some() {
            "load_balancer_subnets"
        } else {
            "subnets"
        };
        v.push(
            &["network", key],
            "an application load balancer needs subnets in at least two Availability Zones; \
             list two or more"
                .to_owned(),
        );
        ok = false;
    }
    ok.then(|| NetworkConfig {
        vpc_id: vpc_id.clone(),
        subnets: raw.subnets.clone(),
        load_balancer_subnets,
        assign_public_ip: raw.assign_public_ip.unwrap_or(false),
    })
}

/// `prefix` and 8 or 17 lowercase hex digits: EC2's resource IDs.
fn is_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}
