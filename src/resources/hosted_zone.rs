//! The Route 53 public hosted zone of `https.hosted_zone`: looked up, never created or deleted.
//!
//! It is read before any change, so that a zone that does not exist (or is private, which the
//! internet cannot resolve) stops `apply` with the zone named instead of after the load balancer
//! was made. Without `https.hosted_zone` it makes no call.

use anyhow::{bail, Result};

use crate::aws::{AwsResultExt, Created};
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct HostedZone;

#[derive(Debug, Clone)]
pub struct Live {
    /// `Z...`, without the `/hostedzone/` prefix Route 53 answers with.
    pub id: String,
    pub name: String,
}

impl Resource for HostedZone {
    const STEP: StepId = StepId::new("hosted_zone", "Route 53 hosted zone");
    const MANAGED: bool = false;
    type Live = Live;
    type Desired = ();

    fn wanted(ctx: &Ctx) -> bool {
        zone_name(ctx).is_some()
    }

    fn desired(_: &Ctx, _: &Facts) {}

    async fn read(ctx: &Ctx, _: &Facts, detail: Detail) -> Result<Option<Live>> {
        let Some(zone) = zone_name(ctx) else {
            return Ok(None);
        };
        let wanted = crate::aws::route53::fqdn(zone);
        // Zones are listed in name order from the one named; a public and a private zone may
        // share a name, so a few are asked for.
        let answer = ctx
            .aws
            .route53
            .list_hosted_zones_by_name()
            .dns_name(&wanted)
            .max_items(10)
            .send()
            .await
            .or_context(format!("looking up the hosted zone {zone}"))?;
        let same_name: Vec<_> = answer
            .hosted_zones()
            .iter()
            .filter(|z| crate::aws::route53::fqdn(z.name()) == wanted)
            .collect();
        let public = same_name
            .iter()
            .find(|z| !z.config().is_some_and(|c| c.private_zone()));
        let Some(found) = public else {
            // A destroy goes on without it: the records in a zone deleted went with it, and
            // those the state records are found by their own zone.
            if detail == Detail::Identity {
                return Ok(None);
            }
            if same_name.is_empty() {
                bail!(
                    "https.hosted_zone: Route 53 has no hosted zone {zone} in this account; \
                     create the public zone (and delegate the domain to its name servers) or \
                     correct the name"
                );
            }
            bail!(
                "https.hosted_zone: the hosted zone {zone} of this account is private; the \
                 certificate's validation records and the domain's records must be in a public \
                 zone"
            );
        };
        Ok(Some(Live {
            id: found.id().trim_start_matches("/hostedzone/").to_owned(),
            name: zone.to_owned(),
        }))
    }

    fn diff(_: &Live, _: &()) -> Vec<Change> {
        Vec::new()
    }

    async fn create(_: &Ctx, _: &()) -> Result<Created<Live>> {
        bail!("the hosted zone is looked up, never created")
    }

    async fn update(_: &Ctx, live: &Live, _: &()) -> Result<Live> {
        Ok(live.clone())
    }

    async fn delete(_: &Ctx, _: &Live) -> Result<()> {
        bail!("the hosted zone is looked up, never deleted")
    }

    async fn tags(_: &Ctx, _: &Live) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    async fn tag(_: &Ctx, _: &Live) -> Result<()> {
        Ok(())
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.id.clone(), None)
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.hosted_zone_id = Some(live.id.clone());
    }
}

fn zone_name(ctx: &Ctx) -> Option<&str> {
    ctx.config.https.as_ref()?.hosted_zone.as_deref()
}
