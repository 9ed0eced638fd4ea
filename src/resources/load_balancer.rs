//! The internet-facing application load balancer, in the default subnets, behind the ALB
//! security group.
//!
//! A new load balancer stays `provisioning` for minutes; nothing here waits for it, because the
//! listener and the service can be created meanwhile.

use anyhow::{bail, Context as _, Result};
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Tag,
};

use crate::aws::errors::{is_code, AwsResultExt};
use crate::engine::{compare, known, Change, Ctx, Facts, Pass, Resource, StepId};
use crate::state::ResourceRecord;

pub struct LoadBalancer;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub dns_name: String,
    pub zone_id: String,
    pub scheme: Option<String>,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub subnet_ids: Vec<String>,
    pub security_groups: Vec<String>,
}

const SCHEME: &str = "internet-facing";

/// Tags of ELBv2 resources (load balancers, target groups, listeners), which their describe calls
/// do not return. The first call asks for every ELBv2 resource read so far (one call for all
/// three during destroy); anything not in that answer is asked for on its own.
pub(crate) async fn elb_tags(ctx: &Ctx, arn: &str) -> Result<Vec<(String, String)>> {
    let batch = ctx
        .cache
        .elb_tags
        .get_or_try_init(|| async {
            let mut arns = ctx.cache.elb_arns.lock().expect("arns lock").clone();
            arns.insert(arn.to_owned());
            describe_elb_tags(ctx, arns.into_iter().collect()).await
        })
        .await?;
    match batch.get(arn) {
        Some(tags) => Ok(tags.clone()),
        None => Ok(describe_elb_tags(ctx, vec![arn.to_owned()])
            .await?
            .remove(arn)
            .unwrap_or_default()),
    }
}

async fn describe_elb_tags(
    ctx: &Ctx,
    arns: Vec<String>,
) -> Result<std::collections::HashMap<String, Vec<(String, String)>>> {
    let answer = ctx
        .aws
        .elb
        .describe_tags()
        .set_resource_arns(Some(arns))
        .send()
        .await
        .or_context("reading the tags of the load balancer resources")?;
    Ok(answer
        .tag_descriptions()
        .iter()
        .map(|d| {
            let tags = d
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            (d.resource_arn().unwrap_or_default().to_owned(), tags)
        })
        .collect())
}

/// Notes an ELBv2 resource found by a read, for the batched tag lookup.
pub(crate) fn remember_elb_arn(ctx: &Ctx, arn: &str) {
    ctx.cache
        .elb_arns
        .lock()
        .expect("arns lock")
        .insert(arn.to_owned());
}

/// Our tags, in the form every ELBv2 create call takes.
pub(crate) fn elb_owner_tags(ctx: &Ctx) -> Vec<Tag> {
    ctx.owner
        .pairs()
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Puts our tags on an ELBv2 resource.
pub(crate) async fn tag_elb(ctx: &Ctx, arn: &str) -> Result<()> {
    ctx.aws
        .elb
        .add_tags()
        .resource_arns(arn)
        .set_tags(Some(elb_owner_tags(ctx)))
        .send()
        .await
        .or_context(format!("tagging {arn}"))?;
    Ok(())
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

impl Resource for LoadBalancer {
    const STEP: StepId = StepId::LoadBalancer;
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            name: ctx.names.load_balancer.clone(),
            subnet_ids: sorted(facts.subnet_ids.clone()),
            security_groups: vec![known(&facts.alb_security_group_id)],
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, _: Pass) -> Result<Option<Live>> {
        let name = &ctx.names.load_balancer;
        let answer = ctx
            .aws
            .elb
            .describe_load_balancers()
            .names(name)
            .send()
            .await;
        let answer = match answer {
            Err(e) if is_code(&e, &["LoadBalancerNotFound"]) => return Ok(None),
            other => other.or_context(format!("reading load balancer {name}"))?,
        };
        let Some(lb) = answer.load_balancers().first() else {
            return Ok(None);
        };
        remember_elb_arn(ctx, lb.load_balancer_arn().unwrap_or_default());
        Ok(Some(Live {
            name: name.clone(),
            arn: lb.load_balancer_arn().unwrap_or_default().to_owned(),
            dns_name: lb.dns_name().unwrap_or_default().to_owned(),
            zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().to_owned(),
            scheme: lb.scheme().map(|s| s.as_str().to_owned()),
            subnet_ids: sorted(
                lb.availability_zones()
                    .iter()
                    .filter_map(|z| z.subnet_id().map(str::to_owned))
                    .collect(),
            ),
            security_groups: sorted(lb.security_groups().to_vec()),
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        if live.scheme.as_deref() != Some(SCHEME) {
            changes.push(Change::new(
                "scheme",
                live.scheme.as_deref().unwrap_or("(none)"),
                SCHEME,
            ));
        }
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
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Live> {
        let created = ctx
            .aws
            .elb
            .create_load_balancer()
            .name(&desired.name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .ip_address_type(IpAddressType::Ipv4)
            .set_subnets(Some(desired.subnet_ids.clone()))
            .set_security_groups(Some(desired.security_groups.clone()))
            .set_tags(Some(elb_owner_tags(ctx)))
            .send()
            .await
            .or_context(format!("creating load balancer {}", desired.name))?;
        let lb = created
            .load_balancers()
            .first()
            .context("CreateLoadBalancer returned no load balancer")?;
        Ok(Live {
            name: desired.name.clone(),
            arn: lb.load_balancer_arn().unwrap_or_default().to_owned(),
            dns_name: lb.dns_name().unwrap_or_default().to_owned(),
            zone_id: lb.canonical_hosted_zone_id().unwrap_or_default().to_owned(),
            scheme: Some(SCHEME.to_owned()),
            subnet_ids: desired.subnet_ids.clone(),
            security_groups: desired.security_groups.clone(),
        })
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        if live.scheme.as_deref() != Some(SCHEME) {
            bail!(
                "load balancer {} is {} but must be {SCHEME}; the scheme cannot be changed in \
                 place: delete the load balancer (or run `deployer destroy`) and apply again",
                live.name,
                live.scheme.as_deref().unwrap_or("without a scheme"),
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
        Ok(Live {
            subnet_ids: desired.subnet_ids.clone(),
            security_groups: desired.security_groups.clone(),
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
        elb_tags(ctx, &live.arn).await
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_elb(ctx, &live.arn).await
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
