//! The alias A and AAAA records of `https.domain`, in the hosted zone, pointing at the load
//! balancer (see "Routing traffic to an ELB load balancer" in the Route 53 Developer Guide).
//!
//! Route 53 records have no tags: a record is this stack's when the state records it, or when it
//! already points at this stack's load balancer. One that points elsewhere belongs to someone
//! else, and `apply` stops instead of taking the domain over (unless `--adopt`).

use anyhow::Result;
use aws_sdk_route53::types::RrType;

use crate::aws::route53::{self, fqdn, Alias};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, known, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct DnsRecords;

/// The alias target of one record: the load balancer's DNS name (as Route 53 keeps it: lowercase,
/// with a trailing dot) and its canonical hosted zone.
pub type Target = Option<(String, String)>;

#[derive(Debug, Clone)]
pub struct Live {
    pub domain: String,
    pub zone_id: String,
    pub a: Target,
    pub aaaa: Target,
    /// Whether both point at this stack's load balancer.
    pub points_here: bool,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub domain: String,
    pub zone_id: String,
    pub target: (String, String),
}

const ZONE_PART: &str = "zone:";

/// The record types made for the domain.
const KINDS: [&str; 2] = ["A", "AAAA"];

fn shown(target: &Target) -> Option<String> {
    target.as_ref().map(|(dns, zone)| format!("{dns} ({zone})"))
}

fn aliases(domain: &str, live: &Live) -> Vec<Alias> {
    [(RrType::A, &live.a), (RrType::Aaaa, &live.aaaa)]
        .into_iter()
        .filter_map(|(kind, target)| {
            target.as_ref().map(|(dns, zone)| Alias {
                name: fqdn(domain),
                kind,
                dns_name: dns.clone(),
                zone_id: zone.clone(),
            })
        })
        .collect()
}

impl Resource for DnsRecords {
    const STEP: StepId = StepId::new("dns_records", "domain alias records");
    const DEPENDS_ON: &'static [&'static str] = &["hosted_zone", "load_balancer", "listener"];
    const READ_DEPENDS_ON: &'static [&'static str] = &["hosted_zone", "load_balancer"];
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
            target: (
                fqdn(&known(&facts.load_balancer_dns_name)),
                known(&facts.load_balancer_zone_id),
            ),
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        // What the configuration names, else what the state remembers (to remove it).
        let recorded = ctx.recorded(Self::STEP.key());
        let configured = ctx.config.https.as_ref().and_then(|h| h.domain.clone());
        let (domain, zone_id) = match (configured, &facts.hosted_zone_id, recorded) {
            (Some(domain), Some(zone), _) => (domain, zone.clone()),
            (_, _, Some(record)) => match zone_of(record) {
                Some(zone) => (record.id.clone(), zone.to_owned()),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        let name = fqdn(&domain);
        let answer = ctx
            .aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .start_record_name(&name)
            .start_record_type(RrType::A)
            .max_items(2)
            .send()
            .await
            .or_context(format!("reading the records of {domain}"))?;
        let target = |kind: &str| -> Target {
            answer
                .resource_record_sets()
                .iter()
                .filter(|r| fqdn(r.name()) == name && r.r#type().as_str() == kind)
                .find_map(|r| r.alias_target())
                .map(|t| (fqdn(t.dns_name()), t.hosted_zone_id().to_owned()))
        };
        let (a, aaaa) = (target("A"), target("AAAA"));
        if a.is_none() && aaaa.is_none() {
            return Ok(None);
        }
        let ours = facts
            .load_balancer_dns_name
            .as_deref()
            .map(|dns| Some((fqdn(dns), known(&facts.load_balancer_zone_id))));
        let points_here = ours.is_some_and(|ours| a == ours && aaaa == ours);
        Ok(Some(Live {
            domain,
            zone_id,
            a,
            aaaa,
            points_here,
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        let wanted = shown(&Some(desired.target.clone()));
        for (kind, target) in KINDS.iter().zip([&live.a, &live.aaaa]) {
            compare(
                &mut changes,
                &format!("{kind}.alias"),
                &shown(target),
                &wanted,
            );
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        Ok(Created::New(upsert(ctx, desired).await?))
    }

    async fn update(ctx: &Ctx, _: &Live, desired: &Desired) -> Result<Live> {
        upsert(ctx, desired).await
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
                    .filter_map(|(kind, t)| {
                        t.as_ref().map(|(dns, zone)| format!("{kind} {dns} {zone}"))
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
        let target = |kind: &str| -> Target {
            record.parts.iter().find_map(|p| {
                let mut fields = p.split(' ');
                (fields.next()? == kind)
                    .then(|| Some((fields.next()?.to_owned(), fields.next()?.to_owned())))?
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

async fn upsert(ctx: &Ctx, desired: &Desired) -> Result<Live> {
    let (dns, zone) = desired.target.clone();
    let live = Live {
        domain: desired.domain.clone(),
        zone_id: desired.zone_id.clone(),
        a: Some((dns.clone(), zone.clone())),
        aaaa: Some((dns, zone)),
        points_here: true,
    };
    route53::upsert_aliases(
        &ctx.aws.route53,
        &desired.zone_id,
        &aliases(&desired.domain, &live),
        &format!("pointing {} at the load balancer", desired.domain),
    )
    .await?;
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> (String, String) {
        (
            "app-dev-1.eu-central-1.elb.amazonaws.com.".into(),
            "Z215JYRZR1TBD5".into(),
        )
    }

    fn live(a: Target, aaaa: Target) -> Live {
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
}
