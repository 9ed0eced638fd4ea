//! The stack's outputs (those of the old Terraform stack), computed from what a run found or
//! made, and recorded in the state so that `deployer outputs` needs no AWS call.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::contract::Facts;
use crate::names::Names;

/// The names `deployer outputs` knows, in the order they are documented.
pub const OUTPUT_NAMES: [&str; 8] = [
    "alb_dns_name",
    "alb_zone_id",
    "ecr_repository_url",
    "ecs_cluster_name",
    "ecs_service_name",
    "application_url",
    "certificate_arn",
    "domain",
];

/// The outputs, by name; an output whose resource does not exist is left out (and
/// `certificate_arn` and `domain` without `[https]`).
pub fn outputs(config: &Config, names: &Names, facts: &Facts) -> BTreeMap<String, String> {
    let mut outputs = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            outputs.insert(key.to_owned(), value);
        }
    };
    put("alb_dns_name", facts.load_balancer_dns_name.clone());
    put("alb_zone_id", facts.load_balancer_zone_id.clone());
    put("ecr_repository_url", facts.repository_url.clone());
    put(
        "ecs_cluster_name",
        facts.cluster_arn.as_ref().map(|_| names.cluster.clone()),
    );
    put(
        "ecs_service_name",
        facts.service_arn.as_ref().map(|_| names.service.clone()),
    );
    let https = config.https.as_ref();
    let domain = https.and_then(|h| h.domain.clone());
    put(
        "application_url",
        facts
            .load_balancer_dns_name
            .as_ref()
            .map(|dns| match (https, &domain) {
                (Some(_), Some(domain)) => format!("https://{domain}"),
                (Some(_), None) => format!("https://{dns}"),
                (None, _) => match config.load_balancer.port {
                    80 => format!("http://{dns}"),
                    port => format!("http://{dns}:{port}"),
                },
            }),
    );
    put(
        "certificate_arn",
        https.and_then(|h| {
            h.certificate_arn
                .clone()
                .or_else(|| facts.requested_certificate_arn.clone())
        }),
    );
    put("domain", domain);
    outputs
}
