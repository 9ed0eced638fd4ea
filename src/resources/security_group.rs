//! The two security groups: the load balancer's (open on the ALB port to the world) and the
//! tasks' (open on the container port to the load balancer's group only).
//!
//! Both are read with one `DescribeSecurityGroups` call, which also returns their rules and tags;
//! whichever step reads first makes the call, the other reuses the answer.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{bail, Context as _, Result};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroup, Tag, TagSpecification,
    UserIdGroupPair,
};

use crate::aws::retry::{delete_when_released, DeleteCodes};
use crate::aws::tags::{owner_tags, pairs};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{
    compare_replacing, known, Change, Ctx, Detail, Facts, PlanValue, Resource, StepId,
};
use crate::state::ResourceRecord;

/// One inbound rule: TCP on a port from a CIDR block or from another security group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ingress {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

impl PlanValue for Ingress {
    fn show(&self) -> String {
        self.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Group(String),
}

impl fmt::Display for Ingress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = if self.from_port == self.to_port {
            self.from_port.to_string()
        } else {
            format!("{}-{}", self.from_port, self.to_port)
        };
        let source = match &self.source {
            Source::Cidr(cidr) => cidr,
            Source::Group(group) => group,
        };
        write!(f, "{} {ports} from {source}", self.protocol)
    }
}

#[derive(Debug, Clone)]
pub struct Live {
    pub id: String,
    pub arn: Option<String>,
    pub vpc_id: String,
    pub ingress: BTreeSet<Ingress>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub ingress: BTreeSet<Ingress>,
}

/// The load balancer's security group.
pub struct AlbSecurityGroup;
/// The ECS tasks' security group.
pub struct EcsSecurityGroup;

fn tcp_from(port: u16, source: Source) -> BTreeSet<Ingress> {
    BTreeSet::from([Ingress {
        protocol: "tcp".to_owned(),
        from_port: port.into(),
        to_port: port.into(),
        source,
    }])
}

/// Reads a group of this stack by name. Both groups come from one call, made by whichever step
/// asks first.
async fn read_named(ctx: &Ctx, facts: &Facts, name: &str) -> Result<Option<Live>> {
    let Some(vpc_id) = &facts.vpc_id else {
        return Ok(None);
    };
    let names = [
        ctx.names.alb_security_group.as_str(),
        ctx.names.ecs_security_group.as_str(),
    ];
    let groups = ctx
        .read_once("security_groups", || describe(ctx, vpc_id, &names))
        .await?;
    Ok(groups
        .iter()
        .find(|g| g.group_name() == Some(name))
        .map(live_from))
}

/// One `DescribeSecurityGroups` call for the named groups of the VPC.
async fn describe(ctx: &Ctx, vpc_id: &str, names: &[&str]) -> Result<Vec<SecurityGroup>> {
    let answer = ctx
        .aws
        .ec2
        .describe_security_groups()
        .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
        .filters(
            Filter::builder()
                .name("group-name")
                .set_values(Some(names.iter().map(|n| n.to_string()).collect()))
                .build(),
        )
        .send()
        .await
        .or_context("reading the security groups")?;
    Ok(answer.security_groups.unwrap_or_default())
}

fn live_from(group: &SecurityGroup) -> Live {
    let mut ingress = BTreeSet::new();
    for permission in group.ip_permissions() {
        let protocol = permission.ip_protocol().unwrap_or("-1").to_owned();
        let (from_port, to_port) = (
            permission.from_port().unwrap_or(-1),
            permission.to_port().unwrap_or(-1),
        );
        let rule = |source| Ingress {
            protocol: protocol.clone(),
            from_port,
            to_port,
            source,
        };
        for range in permission.ip_ranges() {
            if let Some(cidr) = range.cidr_ip() {
                ingress.insert(rule(Source::Cidr(cidr.to_owned())));
            }
        }
        for range in permission.ipv6_ranges() {
            if let Some(cidr) = range.cidr_ipv6() {
                ingress.insert(rule(Source::Cidr(cidr.to_owned())));
            }
        }
        for pair in permission.user_id_group_pairs() {
            if let Some(group) = pair.group_id() {
                ingress.insert(rule(Source::Group(group.to_owned())));
            }
        }
    }
    Live {
        id: group.group_id().unwrap_or_default().to_owned(),
        arn: group.security_group_arn().map(str::to_owned),
        vpc_id: group.vpc_id().unwrap_or_default().to_owned(),
        ingress,
        tags: pairs(group.tags()),
    }
}

fn permission(rule: &Ingress) -> IpPermission {
    let builder = IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .from_port(rule.from_port)
        .to_port(rule.to_port);
    match &rule.source {
        Source::Cidr(cidr) if cidr.contains(':') => builder
            .ipv6_ranges(
                aws_sdk_ec2::types::Ipv6Range::builder()
                    .cidr_ipv6(cidr)
                    .build(),
            )
            .build(),
        Source::Cidr(cidr) => builder
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build(),
        Source::Group(group) => builder
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
            .build(),
    }
}

fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
    let mut changes = Vec::new();
    // Fixed when the group is created. The description is too, but it only describes: a group
    // adopted with another one (made by hand, or by Terraform) is not worth an outage.
    compare_replacing(&mut changes, "vpc_id", &live.vpc_id, &desired.vpc_id);
    for missing in desired.ingress.difference(&live.ingress) {
        changes.push(Change::new("ingress", "(none)", missing));
    }
    for extra in live.ingress.difference(&desired.ingress) {
        changes.push(Change::new("ingress", extra, "(none)"));
    }
    changes
}

async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::SecurityGroup)
        .tags(Tag::builder().key("Name").value(&desired.name).build())
        .set_tags(Some(owner_tags::<Tag>(&ctx.owner)?))
        .build();
    let created = ctx
        .aws
        .ec2
        .create_security_group()
        .group_name(&desired.name)
        .description(&desired.description)
        .vpc_id(&desired.vpc_id)
        .tag_specifications(tags)
        .send()
        .await
        .or_exists(
            &["InvalidGroup.Duplicate"],
            format!("creating security group {}", desired.name),
        )?;
    let Created::New(created) = created else {
        return Ok(Created::AlreadyExists);
    };
    let live = Live {
        id: created
            .group_id()
            .context("CreateSecurityGroup returned no group id")?
            .to_owned(),
        arn: created.security_group_arn().map(str::to_owned),
        vpc_id: desired.vpc_id.clone(),
        ingress: BTreeSet::new(),
        tags: Vec::new(),
    };
    Ok(Created::New(update(ctx, &live, desired).await?))
}

async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
    let missing: Vec<IpPermission> = desired
        .ingress
        .difference(&live.ingress)
        .map(permission)
        .collect();
    let extra: Vec<IpPermission> = live
        .ingress
        .difference(&desired.ingress)
        .map(permission)
        .collect();
    // Revoke first: a rule that changes source would otherwise briefly allow both.
    // A rule already gone (or already there) is what was asked for: a retried call whose first
    // answer was lost meets exactly that.
    if !extra.is_empty() {
        ctx.aws
            .ec2
            .revoke_security_group_ingress()
            .group_id(&live.id)
            .set_ip_permissions(Some(extra))
            .send()
            .await
            .or_absent(
                &["InvalidPermission.NotFound"],
                format!("removing rules from security group {}", live.id),
            )?;
    }
    if !missing.is_empty() {
        ctx.aws
            .ec2
            .authorize_security_group_ingress()
            .group_id(&live.id)
            .set_ip_permissions(Some(missing))
            .send()
            .await
            .or_exists(
                &["InvalidPermission.Duplicate"],
                format!("adding rules to security group {}", live.id),
            )?;
    }
    Ok(Live {
        ingress: desired.ingress.clone(),
        ..live.clone()
    })
}

/// Deletes a group, waiting while network interfaces still use it: those of stopped tasks and
/// of a deleted load balancer detach minutes after their owners are gone.
async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
    delete_when_released(
        &format!("deleting security group {}", live.id),
        ctx.release_budget(),
        &ctx.printer,
        DeleteCodes {
            gone: &["InvalidGroup.NotFound"],
            in_use: &["DependencyViolation", "InvalidGroup.InUse"],
        },
        || {
            ctx.aws
                .ec2
                .delete_security_group()
                .group_id(&live.id)
                .send()
        },
        |_| holders(ctx, &live.id),
    )
    .await
}

/// What still holds a group AWS will not delete, and whether waiting helps.
///
/// Network interfaces of stopped tasks and of a deleted load balancer detach by themselves within
/// minutes: that is worth waiting for. A rule in another security group that refers to this one,
/// or a network interface of something else, stays until someone removes it: waiting the whole
/// `timeouts.resource_release` would only delay the same failure, so it stops at once, naming
/// what is in the way.
async fn holders(ctx: &Ctx, group_id: &str) -> Result<String> {
    let referencing = referencing_groups(ctx, group_id).await?;
    if !referencing.is_empty() {
        bail!(
            "security group {group_id} cannot be deleted: {} refer(s) to it in a rule; remove              those rules (or those groups) and run destroy again",
            referencing.join(", ")
        );
    }
    let interfaces = ctx
        .aws
        .ec2
        .describe_network_interfaces()
        .filters(Filter::builder().name("group-id").values(group_id).build())
        .send()
        .await
        .or_context(format!("looking up what uses security group {group_id}"))?;
    let (leaving, staying): (Vec<_>, Vec<_>) = interfaces
        .network_interfaces()
        .iter()
        .partition(|eni| goes_away_by_itself(eni, &ctx.names.load_balancer));
    let describe = |enis: &[&aws_sdk_ec2::types::NetworkInterface]| -> String {
        let shown: Vec<String> = enis
            .iter()
            .map(|eni| {
                let id = eni.network_interface_id().unwrap_or("?");
                match eni.description() {
                    Some(d) if !d.is_empty() => format!("{id} ({d})"),
                    _ => id.to_owned(),
                }
            })
            .collect();
        shown.join(", ")
    };
    if !staying.is_empty() {
        bail!(
            "security group {group_id} cannot be deleted: network interface(s) {} of something              outside this stack use it; detach them from the group and run destroy again",
            describe(&staying)
        );
    }
    Ok(if leaving.is_empty() {
        "it is still in use (DependencyViolation)".to_owned()
    } else {
        format!(
            "still in use by network interface(s) {} that are detaching",
            describe(&leaving)
        )
    })
}

/// Other security groups with a rule (inbound or outbound) that names this one.
async fn referencing_groups(ctx: &Ctx, group_id: &str) -> Result<Vec<String>> {
    let mut found = BTreeSet::new();
    for filter in ["ip-permission.group-id", "egress.ip-permission.group-id"] {
        let answer = ctx
            .aws
            .ec2
            .describe_security_groups()
            .filters(Filter::builder().name(filter).values(group_id).build())
            .send()
            .await
            .or_context(format!("looking up the groups that refer to {group_id}"))?;
        for group in answer.security_groups() {
            let id = group.group_id().unwrap_or_default();
            // A group may refer to itself; that goes with it.
            if id != group_id {
                found.insert(format!(
                    "security group {id} ({})",
                    group.group_name().unwrap_or_default()
                ));
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// Whether a network interface is one AWS removes by itself once its owner is gone: one that is
/// detaching, one of an ECS task, or one of this stack's load balancer.
fn goes_away_by_itself(eni: &aws_sdk_ec2::types::NetworkInterface, load_balancer: &str) -> bool {
    let detaching = eni
        .attachment()
        .and_then(|a| a.status())
        .is_some_and(|s| s.as_str() == "detaching");
    let description = eni.description().unwrap_or_default();
    let of_a_task =
        eni.requester_id() == Some("amazon-ecs") || description.contains(":attachment/");
    let of_our_load_balancer = description.starts_with(&format!("ELB app/{load_balancer}/"));
    detaching || of_a_task || of_our_load_balancer
}

/// Implements [`Resource`] for a security group type, given its step, the fact it publishes and
/// how its desired state is built.
macro_rules! security_group_resource {
    ($ty:ty, $step:expr, $depends_on:expr, $fact:ident, |$ctx:ident, $facts:ident| $desired:expr) => {
        impl Resource for $ty {
            const STEP: StepId = $step;
            const DEPENDS_ON: &'static [&'static str] = $depends_on;
            const READ_DEPENDS_ON: &'static [&'static str] = &["network"];
            type Live = Live;
            type Desired = Desired;

            fn desired($ctx: &Ctx, $facts: &Facts) -> Desired {
                $desired
            }

            async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
                read_named(ctx, facts, &Self::desired(ctx, facts).name).await
            }

            fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
                diff(live, desired)
            }

            async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
                create(ctx, desired).await
            }

            async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
                update(ctx, live, desired).await
            }

            async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
                delete(ctx, live).await
            }

            async fn tags(_: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
                Ok(live.tags.clone())
            }

            async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
                ctx.aws
                    .ec2
                    .create_tags()
                    .resources(&live.id)
                    .set_tags(Some(owner_tags(&ctx.owner)?))
                    .send()
                    .await
                    .or_context(format!("tagging security group {}", live.id))?;
                Ok(())
            }

            fn record(live: &Live) -> ResourceRecord {
                ResourceRecord::new(live.id.clone(), live.arn.clone())
            }

            fn publish(live: &Live, facts: &mut Facts) {
                facts.$fact = Some(live.id.clone());
            }
        }
    };
}

security_group_resource!(
    AlbSecurityGroup,
    StepId::new("alb_security_group", "ALB security group"),
    &["network"],
    alb_security_group_id,
    |ctx, facts| Desired {
        name: ctx.names.alb_security_group.clone(),
        description: format!(
            "Load balancer of {}-{}: HTTP from anywhere",
            ctx.config.project, ctx.config.environment
        ),
        vpc_id: known(&facts.vpc_id),
        ingress: tcp_from(
            ctx.config.load_balancer.port,
            Source::Cidr("0.0.0.0/0".into())
        ),
    }
);

security_group_resource!(
    EcsSecurityGroup,
    StepId::new("ecs_security_group", "ECS tasks security group"),
    &["network", "alb_security_group"],
    ecs_security_group_id,
    |ctx, facts| Desired {
        name: ctx.names.ecs_security_group.clone(),
        description: format!(
            "ECS tasks of {}-{}: the container port from the load balancer only",
            ctx.config.project, ctx.config.environment
        ),
        vpc_id: known(&facts.vpc_id),
        ingress: tcp_from(
            ctx.config.container.port,
            Source::Group(known(&facts.alb_security_group_id)),
        ),
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ingress: BTreeSet<Ingress>) -> Live {
        Live {
            id: "sg-1".into(),
            arn: None,
            vpc_id: "vpc-1".into(),
            ingress,
            tags: Vec::new(),
        }
    }

    #[test]
    fn another_vpc_forces_replacement_another_description_is_no_change() {
        let rules = tcp_from(80, Source::Cidr("0.0.0.0/0".into()));
        let moved = Live {
            vpc_id: "vpc-2".into(),
            ..live(rules.clone())
        };
        assert_eq!(
            diff(&moved, &desired(rules)),
            [Change::replacing("vpc_id", "vpc-2", "vpc-1")]
        );
    }

    fn desired(ingress: BTreeSet<Ingress>) -> Desired {
        Desired {
            name: "x".into(),
            description: "x".into(),
            vpc_id: "vpc-1".into(),
            ingress,
        }
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn same_rules_no_change() {
        let rules = tcp_from(80, Source::Cidr("0.0.0.0/0".into()));
        assert!(diff(&live(rules.clone()), &desired(rules)).is_empty());
    }

    #[test]
    fn missing_and_extra_rules_are_both_reported() {
        let wanted = tcp_from(80, Source::Cidr("0.0.0.0/0".into()));
        let mut found = tcp_from(22, Source::Cidr("10.0.0.0/8".into()));
        found.extend(tcp_from(443, Source::Group("sg-9".into())));
        let changes = diff(&live(found), &desired(wanted));
        let shown: Vec<String> = changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.old, c.new))
            .collect();
        assert_eq!(
            shown,
            [
                "ingress: (none) -> tcp 80 from 0.0.0.0/0",
                "ingress: tcp 22 from 10.0.0.0/8 -> (none)",
                "ingress: tcp 443 from sg-9 -> (none)",
            ]
        );
    }

    #[test]
    fn rule_not_there_yet_is_one_change_from_none() {
        let wanted = tcp_from(5000, Source::Group("sg-alb".into()));
        assert_eq!(
            diff(&live(BTreeSet::new()), &desired(wanted)),
            [change("ingress", "(none)", "tcp 5000 from sg-alb")]
        );
    }

    #[test]
    fn rule_added_by_hand_is_one_change_to_none() {
        let wanted = tcp_from(80, Source::Cidr("0.0.0.0/0".into()));
        let mut found = wanted.clone();
        found.extend(tcp_from(22, Source::Cidr("203.0.113.0/24".into())));
        assert_eq!(
            diff(&live(found), &desired(wanted)),
            [change("ingress", "tcp 22 from 203.0.113.0/24", "(none)")]
        );
    }

    #[test]
    fn port_range_is_shown_as_from_dash_to() {
        let range = Ingress {
            protocol: "tcp".into(),
            from_port: 8000,
            to_port: 8100,
            source: Source::Cidr("10.0.0.0/8".into()),
        };
        assert_eq!(
            diff(&live(BTreeSet::from([range])), &desired(BTreeSet::new())),
            [change("ingress", "tcp 8000-8100 from 10.0.0.0/8", "(none)")]
        );
    }

    #[test]
    fn rules_as_aws_groups_them_are_no_change() {
        // AWS puts every source of one protocol and port range into one permission, and adds
        // descriptions and the owner's account to group pairs.
        let group = SecurityGroup::builder()
            .group_id("sg-1")
            .group_name("app-dev-ecs")
            .description("x")
            .vpc_id("vpc-1")
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(5000)
                    .to_port(5000)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id("sg-alb")
                            .user_id("123456789012")
                            .build(),
                    )
                    .build(),
            )
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(80)
                    .to_port(80)
                    .ip_ranges(
                        IpRange::builder()
                            .cidr_ip("0.0.0.0/0")
                            .description("the world")
                            .build(),
                    )
                    .ipv6_ranges(
                        aws_sdk_ec2::types::Ipv6Range::builder()
                            .cidr_ipv6("::/0")
                            .build(),
                    )
                    .build(),
            )
            .build();
        let mut wanted = tcp_from(5000, Source::Group("sg-alb".into()));
        wanted.extend(tcp_from(80, Source::Cidr("0.0.0.0/0".into())));
        wanted.extend(tcp_from(80, Source::Cidr("::/0".into())));
        let found = live_from(&group);
        assert_eq!(found.id, "sg-1");
        assert_eq!(diff(&found, &desired(wanted)), Vec::<Change>::new());
    }
}
