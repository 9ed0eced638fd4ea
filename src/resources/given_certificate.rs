//! The certificate of `https.certificate_arn`: looked up, never created, changed or deleted.
//!
//! It is read before any change, so that a certificate that does not exist, is in another
//! account, or is not issued yet stops `apply` with its ARN named, instead of the HTTPS listener's
//! create failing after the load balancer was made. Without `https.certificate_arn` it makes no
//! call.

use anyhow::{bail, Result};

use crate::aws::Created;
use crate::contract::{Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct GivenCertificate;

#[derive(Debug, Clone)]
pub struct Live {
    pub arn: String,
    pub domain: String,
}

impl Resource for GivenCertificate {
    const STEP: StepId = StepId::new("given_certificate", "given certificate");
    const MANAGED: bool = false;
    type Live = Live;
    type Desired = ();

    fn wanted(ctx: &Ctx) -> bool {
        given(ctx).is_some()
    }

    fn desired(_: &Ctx, _: &Facts) {}

    async fn read(ctx: &Ctx, _: &Facts, detail: Detail) -> Result<Option<Live>> {
        let Some(arn) = given(ctx) else {
            return Ok(None);
        };
        // Destroy neither uses nor deletes it.
        if detail == Detail::Identity {
            return Ok(None);
        }
        let answer = crate::aws::acm::describe_certificate(&ctx.aws.acm, arn).await?;
        let Some(certificate) = answer.as_ref() else {
            bail!(
                "https.certificate_arn: ACM has no certificate {arn} in this account and region; \
                 check the ARN, or request or import the certificate in {}",
                ctx.aws.region
            );
        };
        let status = certificate
            .status()
            .map(|s| s.as_str())
            .unwrap_or("unknown");
        if status != "ISSUED" {
            bail!(
                "https.certificate_arn: the certificate {arn} is {status}; a load balancer only \
                 serves an ISSUED certificate (finish its validation, or give another one)"
            );
        }
        Ok(Some(Live {
            arn: arn.to_owned(),
            domain: certificate.domain_name().unwrap_or_default().to_owned(),
        }))
    }

    fn diff(_: &Live, _: &()) -> Vec<Change> {
        Vec::new()
    }

    async fn create(_: &Ctx, _: &()) -> Result<Created<Live>> {
        bail!("a given certificate is looked up, never created")
    }

    async fn update(_: &Ctx, live: &Live, _: &()) -> Result<Live> {
        Ok(live.clone())
    }

    async fn delete(_: &Ctx, _: &Live) -> Result<()> {
        bail!("a given certificate is never deleted")
    }

    async fn tags(_: &Ctx, _: &Live) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    async fn tag(_: &Ctx, _: &Live) -> Result<()> {
        Ok(())
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.arn.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.given_certificate_arn = Some(live.arn.clone());
    }
}

fn given(ctx: &Ctx) -> Option<&str> {
    ctx.config.https.as_ref()?.certificate_arn.as_deref()
}
