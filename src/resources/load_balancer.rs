//! The application load balancer, internet-facing or (with `load_balancer.internal`) internal,
//! in the stack's subnets, behind the ALB security group.
//!
//! Its IP address type follows `load_balancer.ip_address_type` (`dualstack` when IPv6 clients are
//! allowed), and changes in place with `SetIpAddressType`.
//!
//! A new load balancer stays `provisioning` for minutes; nothing here waits for it, because the
//! listener and the service can be created meanwhile.

use anyhow::{bail, Context as _, Result};
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancerSchemeEnum, LoadBalancerTypeEnum,
};

use crate::aws::errors::not_visible_yet;
use crate::aws::retry::send_when_ready;
use crate::aws::tags::{owner_tags, tag_elb};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{
    compare, compare_replacing, known, Change, Ctx, Detail, Facts, Resource, StepId,
};
use crate::state::ResourceRecord;

pub struct LoadBalancer;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub dns_name: String,
    pub zone_id: String,
    pub scheme: Option<String>,
    /// `application`, `network` or `gateway`.
    pub load_balancer_type: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    /// `ipv4`, `dualstack` or `dualstack-without-public-ipv4`.
    pub ip_address_type: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
    /// `internet-facing` or `internal`.
    pub scheme: &'static str,
    /// `ipv4` or `dualstack`.
    pub ip_address_type: &'static str,
}

const INTERNET_FACING: &str = "internet-facing";
const INTERNAL: &str = "internal";
const TYPE: &str = "application";

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

impl Resource for LoadBalancer {
    const STEP: StepId = StepId::new("load_balancer", "load balancer");
    const DEPENDS_ON: &'static [&'static str] = &["network", "alb_security_group"];
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            name: ctx.names.load_balancer.clone(),
            subnet_ids: sorted(facts.load_balancer_subnet_ids.clone()),
            security_groups: vec![known(&facts.alb_security_group_id)],
            scheme: if ctx.config.load_balancer.internal {
                INTERNAL
            } else {
                INTERNET_FACING
            },
            ip_address_type: ctx.config.load_balancer.ip_address_type.as_str(),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Detail) -> Result<Option<Live>> {
        let name = &ctx.names.load_balancer;
        let answer = ctx
            .aws
            .elb
            .describe_load_balancers()
            .names(name)
            .send()
            .await
            .or_absent(
                &["LoadBalancerNotFound"],
                format!("reading load balancer {name}"),
            )?;
        let Some(lb) = answer.as_ref().and_then(|a| a.load_balancers().first()) else {
            return Ok(None);
        };
        ctx.elb_tags
            .remember(lb.load_balancer_arn().unwrap_or_default());
        Ok(Some(Live {
            name: name.clone(),
            arn: lb.load_balancer_arn().unwrap_or_default().to_owned(),
            dns_name: lb.dns_name().unwrap_or_default().to_owned(),
            zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().to_owned(),
            scheme: lb.scheme().map(|s| s.as_str().to_owned()),
            load_balancer_type: lb.r#type().map(|t| t.as_str().to_owned()),
            subnet_ids: sorted(
                lb.availability_zones()
                    .iter()
                    .filter_map(|z| z.subnet_id().map(str::to_owned))
                    .collect(),
            ),
            security_groups: sorted(lb.security_groups().to_vec()),
            ip_address_type: lb.ip_address_type().map(|t| t.as_str().to_owned()),
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        // A load balancer's scheme and type are fixed when it is created.
        compare_replacing(
            &mut changes,
            "scheme",
            &live.scheme.as_deref(),
            &Some(desired.scheme),
        );
        compare_replacing(
            &mut changes,
            "type",
            &live.load_balancer_type.as_deref(),
            &Some(TYPE),
        );
        compare(
            &mut changes,
            "subnets",
            &live.subnet_ids,
            &desired.subnet_ids,
        );
        compare(
            &mut changes,
            "security_groups",
            &live.security_groups,
            &desired.security_groups,
        );
        compare(
            &mut changes,
            "ip_address_type",
            &live.ip_address_type.as_deref(),
            &Some(desired.ip_address_type),
        );
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        // CreateLoadBalancer is idempotent: the same name and settings return the existing one.
        let create = ctx
            .aws
            .elb
            .create_load_balancer()
            .name(&desired.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::from(desired.scheme))
            .ip_address_type(IpAddressType::from(desired.ip_address_type))
            .set_subnets(Some(desired.subnet_ids.clone()))
            .set_security_groups(Some(desired.security_groups.clone()))
            .set_tags(Some(owner_tags(&ctx.owner)?));
        let what = format!("creating load balancer {}", desired.name);
        // The load balancer's security group was made moments ago: ELB may not see it yet.
        let created = send_when_ready(
            &what,
            ctx.iam_budget(),
            &ctx.printer,
            not_visible_yet,
            || create.clone().send(),
        )
        .await?
        .or_context(&what)?;
        let lb = created
            .load_balancers()
            .first()
            .context("CreateLoadBalancer returned no load balancer")?;
        Ok(Created::New(Live {
            name: desired.name.clone(),
            arn: lb.load_balancer_arn().unwrap_or_default().to_owned(),
            dns_name: lb.dns_name().unwrap_or_default().to_owned(),
            zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().to_owned(),
            scheme: Some(desired.scheme.to_owned()),
            load_balancer_type: Some(TYPE.to_owned()),
            subnet_ids: desired.subnet_ids.clone(),
            security_groups: desired.security_groups.clone(),
            ip_address_type: Some(desired.ip_address_type.to_owned()),
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        if live.scheme.as_deref() != Some(desired.scheme) {
            bail!(
                "load balancer {} is {} but must be {}; the scheme cannot be changed in \
                 place: delete the load balancer (or run `deployer destroy`) and apply again",
                live.name,
                live.scheme.as_deref().unwrap_or("without a scheme"),
                desired.scheme,
            );
        }
        if live.subnet_ids != desired.subnet_ids {
            ctx.aws
                .elb
                .set_subnets()
                .load_balancer_arn(&live.arn)
                .set_subnets(Some(desired.subnet_ids.clone()))
                .send()
                .await
                .or_context(format!("setting the subnets of {}", live.name))?;
        }
        if live.security_groups != desired.security_groups {
            ctx.aws
                .elb
                .set_security_groups()
                .load_balancer_arn(&live.arn)
                .set_security_groups(Some(desired.security_groups.clone()))
                .send()
                .await
                .or_context(format!("setting the security groups of {}", live.name))?;
        }
        if live.ip_address_type.as_deref() != Some(desired.ip_address_type) {
            ctx.aws
                .elb
                .set_ip_address_type()
                .load_balancer_arn(&live.arn)
                .ip_address_type(IpAddressType::from(desired.ip_address_type))
                .send()
                .await
                .or_context(format!(
                    "setting the IP address type of {} to {}",
                    live.name, desired.ip_address_type
                ))?;
        }
        Ok(Live {
            subnet_ids: desired.subnet_ids.clone(),
            security_groups: desired.security_groups.clone(),
            ip_address_type: Some(desired.ip_address_type.to_owned()),
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        ctx.aws
            .elb
            .delete_load_balancer()
            .load_balancer_arn(&live.arn)
            .send()
            .await
            .or_context(format!("deleting load balancer {}", live.name))?;
        Ok(())
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        ctx.elb_tags.tags(&ctx.aws.elb, &live.arn).await
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_elb(&ctx.aws.elb, &ctx.owner, &live.arn).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.name.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.load_balancer_arn = Some(live.arn.clone());
        facts.load_balancer_dns_name = Some(live.dns_name.clone());
        facts.load_balancer_zone_id = Some(live.zone_id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_type_of_load_balancer_forces_replacement() {
        let network = Live {
            load_balancer_type: Some("network".into()),
            ..live()
        };
        assert_eq!(
            LoadBalancer::diff(&network, &desired()),
            [Change::replacing("type", "network", "application")]
        );
    }

    fn live() -> Live {
        Live {
            name: "app-dev".into(),
            arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/app-dev/1"
                .into(),
            dns_name: "app-dev-1.eu-west-1.elb.amazonaws.com".into(),
            zone_id: "Z32O12XQLNTSW2".into(),
            scheme: Some("internet-facing".into()),
            load_balancer_type: Some("application".into()),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-alb".into()],
            ip_address_type: Some("ipv4".into()),
        }
    }

    fn desired() -> Desired {
        Desired {
            name: "app-dev".into(),
            subnet_ids: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-alb".into()],
            scheme: INTERNET_FACING,
            ip_address_type: "ipv4",
        }
    }

    #[test]
    fn ipv4_only_load_balancer_for_ipv6_clients_is_changed_in_place() {
        let wanted = Desired {
            ip_address_type: "dualstack",
            ..desired()
        };
        assert_eq!(
            LoadBalancer::diff(&live(), &wanted),
            [change("ip_address_type", "ipv4", "dualstack")]
        );
    }

    #[test]
    fn internal_wanted_of_an_internet_facing_one_forces_replacement() {
        let wanted = Desired {
            scheme: INTERNAL,
            ..desired()
        };
        assert_eq!(
            LoadBalancer::diff(&live(), &wanted),
            [Change::replacing("scheme", "internet-facing", "internal")]
        );
        let found = Live {
            scheme: Some("internal".into()),
            ..live()
        };
        assert_eq!(LoadBalancer::diff(&found, &wanted), Vec::<Change>::new());
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn same_load_balancer_is_no_change() {
        assert_eq!(
            LoadBalancer::diff(&live(), &desired()),
            Vec::<Change>::new()
        );
    }

    #[test]
    fn subnets_in_another_order_are_no_change() {
        // Both sides are sorted where they are built: AWS lists zones in its own order.
        let found = Live {
            subnet_ids: sorted(vec!["subnet-b".into(), "subnet-a".into()]),
            ..live()
        };
        let wanted = Desired {
            subnet_ids: sorted(vec!["subnet-a".into(), "subnet-b".into()]),
            ..desired()
        };
        assert_eq!(LoadBalancer::diff(&found, &wanted), Vec::<Change>::new());
    }

    #[test]
    fn internal_scheme_is_one_change_to_internet_facing() {
        let found = Live {
            scheme: Some("internal".into()),
            ..live()
        };
        assert_eq!(
            LoadBalancer::diff(&found, &desired()),
            [Change::replacing("scheme", "internal", "internet-facing")]
        );
    }

    #[test]
    fn unknown_scheme_shows_as_none() {
        let found = Live {
            scheme: None,
            ..live()
        };
        assert_eq!(
            LoadBalancer::diff(&found, &desired()),
            [Change::replacing("scheme", "(none)", "internet-facing")]
        );
    }

    #[test]
    fn subnet_change_shows_comma_separated_ids() {
        let found = Live {
            subnet_ids: vec!["subnet-a".into(), "subnet-c".into()],
            ..live()
        };
        assert_eq!(
            LoadBalancer::diff(&found, &desired()),
            [change(
                "subnets",
                "subnet-a, subnet-c",
                "subnet-a, subnet-b"
            )]
        );
    }

    #[test]
    fn security_group_change_shows_plain_ids() {
        let found = Live {
            security_groups: vec!["sg-default".into(), "sg-other".into()],
            ..live()
        };
        assert_eq!(
            LoadBalancer::diff(&found, &desired()),
            [change("security_groups", "sg-default, sg-other", "sg-alb")]
        );
    }

    #[test]
    fn no_security_group_shows_as_none() {
        let found = Live {
            security_groups: Vec::new(),
            ..live()
        };
        assert_eq!(
            LoadBalancer::diff(&found, &desired()),
            [change("security_groups", "(none)", "sg-alb")]
        );
    }
}
