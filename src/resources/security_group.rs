//! The two security groups: the load balancer's (open on the listener ports to the CIDR blocks of
//! `load_balancer.allowed_cidrs`) and the tasks' (open on the container port to the load
//! balancer's group only).
//!
//! Both are read with one `DescribeSecurityGroups` call, which also returns their rules and tags;
//! whichever step reads first makes the call, the other reuses the answer. Every rule is read, in
//! both directions and from every kind of peer (IPv4 and IPv6 CIDR blocks, security groups,
//! prefix lists), so a rule added by hand is seen and removed. Outbound, AWS's default (all
//! traffic to anywhere) is what is wanted.

use std::collections::BTreeSet;

use anyhow::{bail, Context as _, Result};
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, PrefixListId, ResourceType, SecurityGroup, Tag,
    TagSpecification, UserIdGroupPair,
};

use crate::aws::errors::not_visible_yet;
use crate::aws::retry::{delete_when_released, send_when_ready, DeleteCodes};
use crate::aws::tags::{owner_tags, pairs};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{
    compare_replacing, known, Change, Ctx, Detail, Facts, Resource, Stage, StepId,
};
use crate::state::ResourceRecord;

/// One rule, inbound or outbound: a protocol and port range, and the peer it admits traffic from
/// (or lets it go to).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp`, a protocol number, or `-1` for all traffic.
    pub protocol: String,
    /// `-1` when the protocol has no ports.
    pub from_port: i32,
    pub to_port: i32,
    pub source: Source,
}

/// The peer of a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// An IPv4 or IPv6 CIDR block.
    Cidr(String),
    Group(String),
    /// A managed prefix list, `pl-...`.
    PrefixList(String),
}

impl Rule {
    /// The rule as a person writes it: `tcp 5000 from sg-...`, `all traffic to 0.0.0.0/0`.
    fn shown(&self, direction: Direction) -> String {
        let traffic = match (self.protocol.as_str(), self.from_port, self.to_port) {
            ("-1", ..) => "all traffic".to_owned(),
            (protocol, -1, _) => protocol.to_owned(),
            (protocol, from, to) if from == to => format!("{protocol} {from}"),
            (protocol, from, to) => format!("{protocol} {from}-{to}"),
        };
        let peer = match &self.source {
            Source::Cidr(peer) | Source::Group(peer) | Source::PrefixList(peer) => peer,
        };
        let way = match direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        format!("{traffic} {way} {peer}")
    }
}

/// Which way a rule goes; the EC2 calls differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// All traffic to `cidr`: AWS's default outbound rule (with `::/0` beside it in a VPC with IPv6).
fn all_traffic_to(cidr: &str) -> Rule {
    Rule {
        protocol: "-1".to_owned(),
        from_port: -1,
        to_port: -1,
        source: Source::Cidr(cidr.to_owned()),
    }
}

/// What the groups let out: AWS's default, all traffic anywhere.
fn default_egress() -> BTreeSet<Rule> {
    BTreeSet::from([all_traffic_to("0.0.0.0/0")])
}

#[derive(Debug, Clone)]
pub struct Live {
    pub id: String,
    pub arn: Option<String>,
    pub vpc_id: String,
    pub ingress: BTreeSet<Rule>,
    pub egress: BTreeSet<Rule>,
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub description: String,
    pub vpc_id: String,
    pub ingress: BTreeSet<Rule>,
    pub egress: BTreeSet<Rule>,
}

/// The load balancer's security group.
pub struct AlbSecurityGroup;
/// The ECS tasks' security group.
pub struct EcsSecurityGroup;

fn tcp_from(port: u16, source: Source) -> BTreeSet<Rule> {
    BTreeSet::from([Rule {
        protocol: "tcp".to_owned(),
        from_port: port.into(),
        to_port: port.into(),
        source,
    }])
}

/// The ports the load balancer listens on, which its group admits from the allowed CIDR blocks:
/// `load_balancer.port`, or with `[https]` 443 and (for its redirect) `load_balancer.port`.
fn listener_ports(ctx: &Ctx) -> Vec<u16> {
    ctx.config.listener_ports()
}

/// Reads a group of this stack by name. Both groups come from one call, made by whichever step
/// asks first.
/// The group named `name` in the stack's VPC; else, in another VPC, the one the state records
/// (`recorded`): the stack's group left behind by a move to another VPC, which its `vpc_id`
/// then shows as a change AWS cannot make in place.
async fn read_named(
    ctx: &Ctx,
    facts: &Facts,
    name: &str,
    recorded: Option<&str>,
) -> Result<Option<Live>> {
    let Some(vpc_id) = &facts.vpc_id else {
        return Ok(None);
    };
    let names = [
        ctx.names.alb_security_group.as_str(),
        ctx.names.ecs_security_group.as_str(),
    ];
    let groups = ctx
        .read_once("security_groups", || describe(ctx, &names))
        .await?;
    let named = || groups.iter().filter(|g| g.group_name() == Some(name));
    Ok(named()
        .find(|g| g.vpc_id() == Some(vpc_id.as_str()))
        .or_else(|| named().find(|g| recorded.is_some() && g.group_id() == recorded))
        .map(live_from))
}

/// One `DescribeSecurityGroups` call for the named groups, in every VPC of the region (names
/// are unique only within a VPC).
async fn describe(ctx: &Ctx, names: &[&str]) -> Result<Vec<SecurityGroup>> {
    let answer = ctx
        .aws
        .ec2
        .describe_security_groups()
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

/// The rules of one direction, one per peer: AWS groups the peers of a protocol and port range
/// into one permission.
fn rules_of(permissions: &[IpPermission]) -> BTreeSet<Rule> {
    let mut rules = BTreeSet::new();
    for permission in permissions {
        let rule = |source| Rule {
            protocol: permission.ip_protocol().unwrap_or("-1").to_owned(),
            from_port: permission.from_port().unwrap_or(-1),
            to_port: permission.to_port().unwrap_or(-1),
            source,
        };
        let cidrs = permission.ip_ranges().iter().filter_map(|r| r.cidr_ip());
        let cidrs6 = permission
            .ipv6_ranges()
            .iter()
            .filter_map(|r| r.cidr_ipv6());
        for cidr in cidrs.chain(cidrs6) {
            rules.insert(rule(Source::Cidr(cidr.to_owned())));
        }
        for group in permission
            .user_id_group_pairs()
            .iter()
            .filter_map(|p| p.group_id())
        {
            rules.insert(rule(Source::Group(group.to_owned())));
        }
        for list in permission
            .prefix_list_ids()
            .iter()
            .filter_map(|p| p.prefix_list_id())
        {
            rules.insert(rule(Source::PrefixList(list.to_owned())));
        }
    }
    rules
}

fn live_from(group: &SecurityGroup) -> Live {
    Live {
        id: group.group_id().unwrap_or_default().to_owned(),
        arn: group.security_group_arn().map(str::to_owned),
        vpc_id: group.vpc_id().unwrap_or_default().to_owned(),
        ingress: rules_of(group.ip_permissions()),
        egress: rules_of(group.ip_permissions_egress()),
        tags: pairs(group.tags()),
    }
}

fn permission(rule: &Rule) -> IpPermission {
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
        Source::PrefixList(list) => builder
            .prefix_list_ids(PrefixListId::builder().prefix_list_id(list).build())
            .build(),
    }
}

/// The rules of one direction to add and to remove. AWS's own second default outbound rule
/// (all traffic to `::/0`, in a VPC with IPv6) is never one to remove.
fn rule_changes<'a>(
    direction: Direction,
    live: &'a BTreeSet<Rule>,
    desired: &'a BTreeSet<Rule>,
) -> (Vec<&'a Rule>, Vec<&'a Rule>) {
    let aws_default = all_traffic_to("::/0");
    let missing = desired.difference(live).collect();
    let extra = live
        .difference(desired)
        .filter(|rule| !(direction == Direction::Egress && **rule == aws_default))
        .collect();
    (missing, extra)
}

fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
    let mut changes = Vec::new();
    // Fixed when the group is created. The description is too, but it only describes: a group
    // adopted with another one (made by hand, or by Terraform) is not worth an outage.
    compare_replacing(&mut changes, "vpc_id", &live.vpc_id, &desired.vpc_id);
    for (direction, live, desired) in [
        (Direction::Ingress, &live.ingress, &desired.ingress),
        (Direction::Egress, &live.egress, &desired.egress),
    ] {
        let (missing, extra) = rule_changes(direction, live, desired);
        for rule in missing {
            changes.push(Change::new(
                direction.field(),
                "(none)",
                rule.shown(direction),
            ));
        }
        for rule in extra {
            changes.push(Change::new(
                direction.field(),
                rule.shown(direction),
                "(none)",
            ));
        }
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
        // What AWS gives every new group.
        egress: default_egress(),
        tags: Vec::new(),
    };
    Ok(Created::New(update(ctx, &live, desired).await?))
}

async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
    let mut updated = live.clone();
    updated.ingress = set_rules(
        ctx,
        &live.id,
        Direction::Ingress,
        &live.ingress,
        &desired.ingress,
    )
    .await?;
    updated.egress = set_rules(
        ctx,
        &live.id,
        Direction::Egress,
        &live.egress,
        &desired.egress,
    )
    .await?;
    Ok(updated)
}

/// Makes one direction's rules of group `id` the desired ones, and returns the rules it has now.
///
/// Revokes first: a rule that changes its peer would otherwise briefly allow both. A rule already
/// gone (or already there) is what was asked for: a retried call whose first answer was lost
/// meets exactly that.
async fn set_rules(
    ctx: &Ctx,
    id: &str,
    direction: Direction,
    live: &BTreeSet<Rule>,
    desired: &BTreeSet<Rule>,
) -> Result<BTreeSet<Rule>> {
    let (missing, mut extra) = rule_changes(direction, live, desired);
    // While something is being replaced, the old rules stay until the service has moved: the
    // running tasks still need them (the old container port, say).
    if ctx.stage == Stage::Expand {
        extra.clear();
    }
    let ec2 = &ctx.aws.ec2;
    if !extra.is_empty() {
        let rules = Some(extra.iter().map(|r| permission(r)).collect());
        let doing = format!(
            "removing {} rules from security group {id}",
            direction.field()
        );
        let gone = &["InvalidPermission.NotFound"];
        match direction {
            Direction::Ingress => ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(rules)
                .send()
                .await
                .or_absent(gone, doing)
                .map(drop)?,
            Direction::Egress => ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(rules)
                .send()
                .await
                .or_absent(gone, doing)
                .map(drop)?,
        }
    }
    if !missing.is_empty() {
        let rules = Some(missing.iter().map(|r| permission(r)).collect());
        let doing = format!("adding {} rules to security group {id}", direction.field());
        let there = &["InvalidPermission.Duplicate"];
        // Right after CreateSecurityGroup, EC2 can still answer that the group does not exist.
        let (budget, printer) = (ctx.iam_budget(), &ctx.printer);
        match direction {
            Direction::Ingress => send_when_ready(&doing, budget, printer, not_visible_yet, || {
                ec2.authorize_security_group_ingress()
                    .group_id(id)
                    .set_ip_permissions(rules.clone())
                    .send()
            })
            .await?
            .or_exists(there, doing)
            .map(drop)?,
            Direction::Egress => send_when_ready(&doing, budget, printer, not_visible_yet, || {
                ec2.authorize_security_group_egress()
                    .group_id(id)
                    .set_ip_permissions(rules.clone())
                    .send()
            })
            .await?
            .or_exists(there, doing)
            .map(drop)?,
        }
    }
    let mut now = live.clone();
    for rule in &extra {
        now.remove(*rule);
    }
    now.extend(missing.into_iter().cloned());
    Ok(now)
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
            "security group {group_id} cannot be deleted: {} refer(s) to it in a rule; remove \
             those rules (or those groups) and run destroy again",
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
            "security group {group_id} cannot be deleted: network interface(s) {} of something outside this stack use it; detach them from the group and run destroy again",
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
                let recorded = ctx.recorded(Self::STEP.key()).map(|r| r.id.as_str());
                read_named(ctx, facts, &Self::desired(ctx, facts).name, recorded).await
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

            fn read_tags(live: &Live) -> Option<Vec<(String, String)>> {
                Some(live.tags.clone())
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
            "Load balancer of {}-{}: its listener ports from the allowed CIDR blocks",
            ctx.config.project, ctx.config.environment
        ),
        vpc_id: known(&facts.vpc_id),
        ingress: listener_ports(ctx)
            .into_iter()
            .flat_map(|port| {
                ctx.config
                    .load_balancer
                    .allowed_cidrs
                    .iter()
                    .flat_map(move |cidr| tcp_from(port, Source::Cidr(cidr.clone())))
            })
            .collect(),
        egress: default_egress(),
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
        egress: default_egress(),
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn live(ingress: BTreeSet<Rule>) -> Live {
        Live {
            id: "sg-1".into(),
            arn: None,
            vpc_id: "vpc-1".into(),
            ingress,
            egress: default_egress(),
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

    fn desired(ingress: BTreeSet<Rule>) -> Desired {
        Desired {
            name: "x".into(),
            description: "x".into(),
            vpc_id: "vpc-1".into(),
            ingress,
            egress: default_egress(),
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
        let range = Rule {
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
            .ip_permissions_egress(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
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
