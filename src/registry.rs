//! The stack: every resource kind it is made of, in the documented order of `apply`. This is
//! the one list that names them all; the engine walks whatever it is handed, and the resources
//! know nothing of each other. Adding a resource is a new file in `resources/` and a line here.

use crate::contract::{Kind, Step};
use crate::resources::{
    certificate::Certificate, cluster::Cluster, dns_records::DnsRecords,
    ecr_repository::EcrRepository, execution_role::ExecutionRole,
    given_certificate::GivenCertificate, hosted_zone::HostedZone, listener::Listener,
    load_balancer::LoadBalancer, log_group::LogGroup, network::Network,
    redirect_listener::RedirectListener, security_group::AlbSecurityGroup,
    security_group::EcsSecurityGroup, service::Service, target_group::TargetGroup,
    task_definition::TaskDefinition, task_role::TaskRole,
};

/// The steps of the stack, in the order `apply` reports them; `destroy` goes the other way.
pub const STACK: &[&dyn Step] = &[
    &Kind::<Network>::NEW,
    &Kind::<HostedZone>::NEW,
    &Kind::<GivenCertificate>::NEW,
    &Kind::<Certificate>::NEW,
    &Kind::<AlbSecurityGroup>::NEW,
    &Kind::<EcsSecurityGroup>::NEW,
    &Kind::<EcrRepository>::NEW,
    &Kind::<ExecutionRole>::NEW,
    &Kind::<TaskRole>::NEW,
    &Kind::<LogGroup>::NEW,
    &Kind::<LoadBalancer>::NEW,
    &Kind::<TargetGroup>::NEW,
    &Kind::<Listener>::NEW,
    &Kind::<RedirectListener>::NEW,
    &Kind::<DnsRecords>::NEW,
    &Kind::<Cluster>::NEW,
    &Kind::<TaskDefinition>::NEW,
    &Kind::<Service>::NEW,
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::with_dependencies;

    #[test]
    fn keys_are_unique_and_dependencies_come_earlier() {
        let mut seen = BTreeSet::new();
        for step in STACK {
            for dep in step.depends_on() {
                assert!(
                    seen.contains(dep),
                    "{} depends on {dep}, which is not an earlier step",
                    step.id().key()
                );
            }
            assert!(seen.insert(step.id().key()), "{} twice", step.id().key());
        }
    }

    #[test]
    fn what_a_read_needs_is_also_a_dependency() {
        for step in STACK {
            for dep in step.read_depends_on() {
                assert!(
                    step.depends_on().contains(dep),
                    "{} reads after {dep}",
                    step.id().key()
                );
            }
        }
    }

    fn keys(steps: &[&dyn Step]) -> Vec<&'static str> {
        steps.iter().map(|s| s.id().key()).collect()
    }

    #[test]
    fn a_target_brings_what_it_depends_on_in_stack_order() {
        let only = |targets: &[&str]| keys(&with_dependencies(STACK, targets).unwrap());
        assert_eq!(only(&["ecr_repository"]), ["ecr_repository"]);
        // The listener serves HTTPS with a certificate when `[https]` is set; without it those
        // steps read nothing.
        assert_eq!(
            only(&["listener"]),
            [
                "network",
                "hosted_zone",
                "given_certificate",
                "certificate",
                "alb_security_group",
                "load_balancer",
                "target_group",
                "listener"
            ]
        );
        // Through a dependency's own dependencies (task_role -> execution_role).
        assert_eq!(only(&["task_role"]), ["execution_role", "task_role"]);
        assert_eq!(
            only(&["log_group", "ecr_repository"]),
            ["ecr_repository", "log_group"]
        );
        // The service needs everything but what only points at the load balancer (the HTTP
        // redirect and the DNS records), the repository too (its URL names the image).
        let mut all_but_edge = keys(STACK);
        all_but_edge.retain(|key| !["redirect_listener", "dns_records"].contains(key));
        assert_eq!(only(&["service"]), all_but_edge);
    }

    #[test]
    fn an_unknown_target_lists_the_steps() {
        let error = with_dependencies(STACK, &["ecr"]).err().unwrap();
        assert!(error.starts_with("no step is called \"ecr\""), "{error}");
        assert!(
            error.ends_with(&format!("the steps are: {}", keys(STACK).join(", "))),
            "{error}"
        );
        let error = with_dependencies(STACK, &["ecr_repositry"]).err().unwrap();
        assert!(
            error.contains("\"ecr_repositry\" (did you mean \"ecr_repository\"?)"),
            "{error}"
        );
    }

    #[test]
    fn keys_are_the_documented_ones() {
        let keys: Vec<&str> = STACK.iter().map(|s| s.id().key()).collect();
        assert_eq!(
            keys,
            [
                "network",
                "hosted_zone",
                "given_certificate",
                "certificate",
                "alb_security_group",
                "ecs_security_group",
                "ecr_repository",
                "execution_role",
                "task_role",
                "log_group",
                "load_balancer",
                "target_group",
                "listener",
                "redirect_listener",
                "dns_records",
                "cluster",
                "task_definition",
                "service",
            ]
        );
    }
}
