//! The alias A and AAAA records of `https.domain`, in the hosted zone, pointing at the load
//! balancer (see "Routing traffic to an ELB load balancer" in the Route 53 Developer Guide).
//!
//! The AAAA record exists only for a `dualstack` load balancer (`load_balancer.ip_address_type`):
//! an IPv4-only one has no IPv6 address to point at.
//!
//! Another `https.domain` or `https.hosted_zone` is a replacement: the new records are made
//! beside the old ones, which are deleted at the end of the apply. A new name that already points
//! somewhere else stops the plan.
//!
//! Route 53 records have no tags: a record is this stack's when the state records it, or when it
//! already points at this stack's load balancer. One that points elsewhere belongs to someone
//! else, and `apply` stops instead of taking the domain over (unless `--adopt`).

use anyhow::{bail, Result};
use aws_sdk_route53::types::RrType;

use crate::aws::route53::{self, fqdn, Alias};
use crate::aws::{AwsResultExt, Created};
use crate::config::IpAddressType;
use crate::contract::{
    compare, compare_replacing, known, Change, Ctx, Detail, Facts, Resource, StepId,
};
use crate::state::ResourceRecord;

pub struct DnsRecords;

/// What one record of the domain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An alias to a load balancer: its DNS name (as Route 53 keeps it: lowercase, with a
    /// trailing dot) and its canonical hosted zone.
    Alias { dns_name: String, zone_id: String },
    /// A plain record's values (someone else's server), as a plan shows them.
    Values(String),
}

impl Target {
    fn alias(dns_name: String, zone_id: String) -> Self {
        Target::Alias { dns_name, zone_id }
    }
}

#[derive(Debug, Clone)]
pub struct Live {
    pub domain: String,
    pub zone_id: String,
    pub a: Option<Target>,
    pub aaaa: Option<Target>,
    /// Whether both point at this stack's load balancer.
    pub points_here: bool,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub domain: String,
    pub zone_id: String,
    pub target: Target,
    /// Whether the AAAA record is wanted (a `dualstack` load balancer).
    pub ipv6: bool,
}

const ZONE_PART: &str = "zone:";

/// The record types made for the domain.
const KINDS: [&str; 2] = ["A", "AAAA"];

/// A target as plans show it: an alias's DNS name and zone, a plain record's values.
fn shown(target: &Option<Target>) -> Option<String> {
    target.as_ref().map(|target| match target {
        Target::Alias { dns_name, zone_id } => format!("{dns_name} ({zone_id})"),
        Target::Values(values) => values.clone(),
    })
}

/// The alias records among the domain's (plain records are not this stack's to delete).
fn aliases(domain: &str, live: &Live) -> Vec<Alias> {
    [(RrType::A, &live.a), (RrType::Aaaa, &live.aaaa)]
        .into_iter()
        .filter_map(|(kind, target)| match target {
            Some(Target::Alias { dns_name, zone_id }) => Some(Alias {
                name: fqdn(domain),
                kind,
                dns_name: dns_name.clone(),
                zone_id: zone_id.clone(),
            }),
            _ => None,
        })
        .collect()
}

impl Resource for DnsRecords {
    const STEP: StepId = StepId::new("dns_records", "domain alias records");
    const DEPENDS_ON: &'static [&'static str] = &["hosted_zone", "load_balancer", "listener"];
    const READ_DEPENDS_ON: &'static [&'static str] = &["hosted_zone", "load_balancer"];
    const REPLACEABLE: bool = true;
    type Live = Live;
    type Desired = Desired;

    fn wanted(ctx: &Ctx) -> bool {
        ctx.config
            .https
            .as_ref()
            .is_some_and(|h| h.domain.is_some())
    }

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            domain: ctx
                .config
                .https
                .as_ref()
                .and_then(|h| h.domain.clone())
                .unwrap_or_default(),
            zone_id: known(&facts.hosted_zone_id),
            target: Target::alias(
                fqdn(&known(&facts.load_balancer_dns_name)),
                known(&facts.load_balancer_zone_id),
            ),
            ipv6: ctx.config.load_balancer.ip_address_type == IpAddressType::Dualstack,
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        // What the configuration names, and what the state remembers (to move from, or remove).
        let configured = ctx
            .config
            .https
            .as_ref()
            .and_then(|h| h.domain.clone())
            .zip(facts.hosted_zone_id.clone());
        let recorded = ctx
            .recorded(Self::STEP.key())
            .and_then(|r| Some((r.id.clone(), zone_of(r)?.to_owned())));
        match (configured, recorded) {
            (Some(new), Some(old)) if !same_place(&new, &old) => {
                // A move: the records to replace are the recorded ones, and the new name must
                // not already be someone else's.
                if let Some(there) = records_at(ctx, facts, &new).await? {
                    if !there.points_here {
                        bail!(
                            "https.domain: {} already has A/AAAA records in the hosted zone {} \
                             that point elsewhere ({}); delete them, or choose another domain",
                            there.domain,
                            there.zone_id,
                            shown(&there.a).or(shown(&there.aaaa)).unwrap_or_default()
                        );
                    }
                }
                records_at(ctx, facts, &old).await
            }
            (Some(place), _) | (None, Some(place)) => records_at(ctx, facts, &place).await,
            (None, None) => Ok(None),
        }
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        // Records are found by their name: another name (or zone) is another set of records.
        compare_replacing(
            &mut changes,
            "domain",
            &fqdn(&live.domain),
            &fqdn(&desired.domain),
        );
        compare_replacing(&mut changes, "hosted_zone", &live.zone_id, &desired.zone_id);
        let wanted = shown(&Some(desired.target.clone()));
        for (kind, target, want) in [("A", &live.a, true), ("AAAA", &live.aaaa, desired.ipv6)] {
            compare(
                &mut changes,
                &format!("{kind}.alias"),
                &shown(target),
                &wanted.clone().filter(|_| want),
            );
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        Ok(Created::New(upsert(ctx, desired).await?))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        let updated = upsert(ctx, desired).await?;
        if live.aaaa.is_some() && !desired.ipv6 {
            // An IPv4-only load balancer: an AAAA record would point at no address of it (or,
            // taken over with --adopt, still at the old server).
            route53::delete_listed(
                &ctx.aws.route53,
                &live.zone_id,
                &live.domain,
                RrType::Aaaa,
                &format!("deleting the AAAA record of {}", live.domain),
            )
            .await?;
        }
        Ok(updated)
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        route53::delete(
            &ctx.aws.route53,
            &live.zone_id,
            &[],
            &aliases(&live.domain, live),
            &format!("deleting the records of {}", live.domain),
        )
        .await
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        Ok(if live.points_here {
            ctx.owner
                .pairs()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        } else {
            Vec::new()
        })
    }

    /// Records take no tags; `--adopt` points them here, which makes them this stack's.
    async fn tag(_: &Ctx, _: &Live) -> Result<()> {
        Ok(())
    }

    fn record(live: &Live) -> ResourceRecord {
        let mut record = ResourceRecord::new(live.domain.clone(), None);
        record.parts = std::iter::once(format!("{ZONE_PART}{}", live.zone_id))
            .chain(
                KINDS
                    .iter()
                    .zip([&live.a, &live.aaaa])
                    .filter_map(|(kind, t)| match t {
                        Some(Target::Alias { dns_name, zone_id }) => {
                            Some(format!("{kind} {dns_name} {zone_id}"))
                        }
                        _ => None,
                    }),
            )
            .collect();
        record
    }

    fn publish(_: &Live, _: &mut Facts) {}

    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        let Some(zone_id) = zone_of(record) else {
            return Ok(());
        };
        let target = |kind: &str| -> Option<Target> {
            record.parts.iter().find_map(|p| {
                let mut fields = p.split(' ');
                (fields.next()? == kind).then(|| {
                    Some(Target::alias(
                        fields.next()?.to_owned(),
                        fields.next()?.to_owned(),
                    ))
                })?
            })
        };
        let live = Live {
            domain: record.id.clone(),
            zone_id: zone_id.to_owned(),
            a: target("A"),
            aaaa: target("AAAA"),
            points_here: true,
        };
        Self::delete(ctx, &live).await
    }
}

fn zone_of(record: &ResourceRecord) -> Option<&str> {
    record.parts.iter().find_map(|p| p.strip_prefix(ZONE_PART))
}

/// Whether two (domain, hosted zone) pairs name the same records.
fn same_place(a: &(String, String), b: &(String, String)) -> bool {
    fqdn(&a.0) == fqdn(&b.0) && a.1 == b.1
}

/// The alias records of `domain` in `zone_id`, when there are any.
async fn records_at(
    ctx: &Ctx,
    facts: &Facts,
    (domain, zone_id): &(String, String),
) -> Result<Option<Live>> {
    let name = fqdn(domain);
    let answer = ctx
        .aws
        .route53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(&name)
        // The name's sets come first, in type order: A, AAAA, CAA, CNAME, ...
        .max_items(10)
        .send()
        .await
        // A zone deleted took its records with it.
        .or_absent(
            &["NoSuchHostedZone"],
            format!("reading the records of {domain}"),
        )?;
    let Some(answer) = answer else {
        return Ok(None);
    };
    let sets: Vec<_> = answer
        .resource_record_sets()
        .iter()
        .filter(|r| fqdn(r.name()) == name)
        .collect();
    // Route 53 allows no other record beside a CNAME: the alias records could never be made.
    if let Some(cname) = sets.iter().find(|r| r.r#type() == &RrType::Cname) {
        let to: Vec<&str> = cname.resource_records().iter().map(|r| r.value()).collect();
        bail!(
            "https.domain: {domain} is a CNAME record to {} in the hosted zone {zone_id}, and \
             Route 53 allows no A record beside a CNAME; delete the CNAME record, or choose \
             another domain",
            to.join(", ")
        );
    }
    // An alias, or a plain record with its values (someone else's either way unless it points
    // at this stack's load balancer).
    let target = |kind: &str| -> Option<Target> {
        let set = sets.iter().find(|r| r.r#type().as_str() == kind)?;
        Some(match set.alias_target() {
            Some(t) => Target::alias(fqdn(t.dns_name()), t.hosted_zone_id().to_owned()),
            None => {
                let values: Vec<&str> = set.resource_records().iter().map(|r| r.value()).collect();
                Target::Values(values.join(", "))
            }
        })
    };
    let (a, aaaa) = (target("A"), target("AAAA"));
    if a.is_none() && aaaa.is_none() {
        return Ok(None);
    }
    // Each record there points at this stack's load balancer (an AAAA may be absent).
    let ours = facts.load_balancer_dns_name.as_deref().map(|dns| {
        Some(Target::alias(
            fqdn(dns),
            known(&facts.load_balancer_zone_id),
        ))
    });
    let points_here = ours.is_some_and(|ours| a == ours && (aaaa.is_none() || aaaa == ours));
    Ok(Some(Live {
        domain: domain.clone(),
        zone_id: zone_id.clone(),
        a,
        aaaa,
        points_here,
    }))
}

async fn upsert(ctx: &Ctx, desired: &Desired) -> Result<Live> {
    let live = Live {
        domain: desired.domain.clone(),
        zone_id: desired.zone_id.clone(),
        a: Some(desired.target.clone()),
        aaaa: desired.ipv6.then(|| desired.target.clone()),
        points_here: true,
    };
    let doing = format!("pointing {} at the load balancer", desired.domain);
    let pending = route53::upsert_aliases(
        &ctx.aws.route53,
        &desired.zone_id,
        &aliases(&desired.domain, &live),
        &doing,
    )
    .await?;
    route53::wait_in_sync(
        &ctx.aws.route53,
        pending,
        ctx.dns_budget(),
        &ctx.printer,
        &format!("waiting for Route 53 to apply {doing}"),
    )
    .await?;
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target::alias(
            "app-dev-1.eu-central-1.elb.amazonaws.com.".into(),
            "Z215JYRZR1TBD5".into(),
        )
    }

    fn live(a: Option<Target>, aaaa: Option<Target>) -> Live {
        Live {
            domain: "app.example.com".into(),
            zone_id: "Z1".into(),
            a,
            aaaa,
            points_here: false,
        }
    }

    fn desired() -> Desired {
        Desired {
            domain: "app.example.com".into(),
            zone_id: "Z1".into(),
            target: target(),
            ipv6: true,
        }
    }

    #[test]
    fn both_records_at_the_load_balancer_are_no_change() {
        let found = live(Some(target()), Some(target()));
        assert_eq!(DnsRecords::diff(&found, &desired()), Vec::<Change>::new());
    }

    #[test]
    fn a_deleted_record_is_one_change_from_none() {
        let found = live(Some(target()), None);
        assert_eq!(
            DnsRecords::diff(&found, &desired()),
            [Change::new(
                "AAAA.alias",
                "(none)",
                "app-dev-1.eu-central-1.elb.amazonaws.com. (Z215JYRZR1TBD5)"
            )]
        );
    }

    #[test]
    fn ipv4_only_load_balancer_wants_no_aaaa_record() {
        let wanted = Desired {
            ipv6: false,
            ..desired()
        };
        assert_eq!(
            DnsRecords::diff(&live(Some(target()), None), &wanted),
            Vec::<Change>::new()
        );
        assert_eq!(
            DnsRecords::diff(&live(Some(target()), Some(target())), &wanted),
            [Change::new(
                "AAAA.alias",
                "app-dev-1.eu-central-1.elb.amazonaws.com. (Z215JYRZR1TBD5)",
                "(none)"
            )]
        );
    }

    #[test]
    fn domain_change_leaves_old_alias_records_unless_replaced() {
        // Another domain is other records: made beside, the old ones deleted after.
        let wanted = Desired {
            domain: "www.example.com".into(),
            ..desired()
        };
        assert_eq!(
            DnsRecords::diff(&live(Some(target()), Some(target())), &wanted),
            [Change::replacing(
                "domain",
                "app.example.com.",
                "www.example.com."
            )]
        );
        // The same name written in another case is the same records.
        let same = Desired {
            domain: "App.Example.com".into(),
            ..desired()
        };
        assert_eq!(
            DnsRecords::diff(&live(Some(target()), Some(target())), &same),
            Vec::<Change>::new()
        );
    }
}
