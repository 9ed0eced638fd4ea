//! The ACM certificate requested for `https.domain` (and `https.subject_alternative_names`),
//! validated through DNS: its validation records go into the hosted zone, and `apply` waits,
//! within `timeouts.certificate_validation`, until ACM has issued it.
//!
//! See "DNS validation" in the ACM User Guide: ACM gives one CNAME record per name, and issues the
//! certificate once it can resolve them; it keeps renewing the certificate as long as they stay.
//! A certificate given by `https.certificate_arn` is not this step's (see `given_certificate`).
//!
//! ACM cannot change a certificate's names, and cannot reissue one that failed validation: either
//! is a replacement, requested and validated beside the old certificate, which the HTTPS listener
//! serves until the new one is issued; the old one is deleted at the end of the apply. ACM gives
//! the same validation record to every certificate of the account for the same name, so records
//! of names the configuration still lists stay.
//!
//! ACM refuses to delete a certificate while a listener uses it (`ResourceInUseException`), and
//! Elastic Load Balancing lets go of it a little after the listener is deleted: `destroy` waits
//! for that within `timeouts.resource_release`.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Result};
use aws_sdk_acm::types::{CertificateDetail, CertificateStatus, Tag, ValidationMethod};

use crate::aws::retry::{as_aws_says, delete_when_released, until_done, Attempt, DeleteCodes};
use crate::aws::route53::{self, Record};
use crate::aws::tags::{owner_tags, pairs};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare_replacing, known, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Certificate;

#[derive(Debug, Clone)]
pub struct Live {
    pub arn: String,
    pub domain: String,
    /// The other names, sorted (ACM lists the domain among them too; it is left out here).
    pub subject_alternative_names: Vec<String>,
    /// `PENDING_VALIDATION`, `ISSUED`, `FAILED`, ...
    pub status: String,
    /// The DNS validation records ACM asks for, once it has made them up.
    pub validation_records: Vec<Record>,
    /// The zone the validation records are in.
    pub zone_id: Option<String>,
    /// Its tags, when the read had to look at them to find it.
    pub tags: Option<Vec<(String, String)>>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub domain: String,
    pub subject_alternative_names: Vec<String>,
    pub zone_id: String,
    /// The ARN of the certificate this one replaces: part of the request's idempotency token, so
    /// that a replacement for the same names is a new certificate, not the failed one again.
    pub replaces: Option<String>,
}

const ISSUED: &str = "ISSUED";

/// Record part prefixes of the state: what `retire` needs once the configuration is gone.
const ZONE_PART: &str = "zone:";
const RECORD_PART: &str = "record:";

fn sorted<T: Ord>(names: impl IntoIterator<Item = T>) -> Vec<T> {
    names
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn live_from(certificate: &CertificateDetail, zone_id: Option<String>) -> Live {
    let domain = certificate.domain_name().unwrap_or_default().to_owned();
    Live {
        arn: certificate.certificate_arn().unwrap_or_default().to_owned(),
        subject_alternative_names: sorted(
            certificate
                .subject_alternative_names()
                .iter()
                .filter(|n| **n != domain)
                .cloned(),
        ),
        domain,
        status: certificate
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        validation_records: sorted(certificate.domain_validation_options().iter().filter_map(
            |o| {
                o.resource_record().map(|r| Record {
                    name: r.name().to_owned(),
                    kind: r.r#type().as_str().to_owned(),
                    value: r.value().to_owned(),
                })
            },
        )),
        zone_id,
        tags: None,
    }
}

async fn describe(ctx: &Ctx, arn: &str) -> Result<Option<CertificateDetail>> {
    crate::aws::acm::describe_certificate(&ctx.aws.acm, arn).await
}

async fn tags_of(ctx: &Ctx, arn: &str) -> Result<Vec<(String, String)>> {
    let answer = ctx
        .aws
        .acm
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .or_context(format!("reading the tags of the certificate {arn}"))?;
    Ok(pairs(answer.tags()))
}

/// The certificate of this stack for `domain`, when the state does not know it: among the
/// certificates for that name, the one with this stack's tags.
async fn find(ctx: &Ctx, domain: &str) -> Result<Option<(String, Vec<(String, String)>)>> {
    let mut candidates = Vec::new();
    let mut next = None;
    loop {
        let page = ctx
            .aws
            .acm
            .list_certificates()
            .set_next_token(next)
            .send()
            .await
            .or_context("listing the certificates")?;
        candidates.extend(
            page.certificate_summary_list()
                .iter()
                .filter(|c| c.domain_name() == Some(domain))
                .filter_map(|c| c.certificate_arn().map(str::to_owned)),
        );
        next = page.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    for arn in candidates {
        let tags = tags_of(ctx, &arn).await?;
        if ctx
            .owner
            .matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            return Ok(Some((arn, tags)));
        }
    }
    Ok(None)
}

/// Puts the validation records in the zone and waits until ACM has issued the certificate.
///
/// ACM makes the records up a few seconds after the request: until then they are waited for
/// too. Progress goes to stderr while ACM validates.
async fn validate(ctx: &Ctx, arn: &str, zone_id: &str) -> Result<Live> {
    let records_put: std::sync::Mutex<Option<Vec<Record>>> = std::sync::Mutex::new(None);
    let what = format!("waiting for ACM to issue the certificate {arn}");
    until_done(&what, ctx.certificate_budget(), &ctx.printer, || {
        let records_put = &records_put;
        async move {
            let certificate = describe(ctx, arn)
                .await?
                .ok_or_else(|| anyhow!("the certificate {arn} disappeared while validating"))?;
            let live = live_from(&certificate, Some(zone_id.to_owned()));
            match certificate.status() {
                Some(CertificateStatus::Issued) => return Ok(Attempt::Done(live)),
                Some(CertificateStatus::PendingValidation) | None => {}
                Some(other) => bail!(
                    "ACM did not issue the certificate {arn}: it is {} ({}); check that the \
                     hosted zone {zone_id} is the one the domain is delegated to, then delete \
                     the certificate and apply again",
                    other.as_str(),
                    certificate
                        .failure_reason()
                        .map(|r| r.as_str())
                        .unwrap_or("no reason given")
                ),
            }
            let wanted = live.validation_records.len()
                >= names(&live.domain, &live.subject_alternative_names);
            if live.validation_records.is_empty() || !wanted {
                return Ok(Attempt::Wait(
                    "ACM has not given all its DNS validation records yet".to_owned(),
                ));
            }
            let put = records_put
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if put.as_ref() != Some(&live.validation_records) {
                route53::upsert_records(
                    &ctx.aws.route53,
                    zone_id,
                    &live.validation_records,
                    &format!("putting the validation records of {arn} in the hosted zone"),
                )
                .await?;
                *records_put
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(live.validation_records.clone());
            }
            Ok(Attempt::Wait(
                "the certificate is PENDING_VALIDATION until ACM resolves its DNS validation \
                 records"
                    .to_owned(),
            ))
        }
    })
    .await
}

/// How many distinct validation records the names need: a wildcard shares the record of the
/// name it covers.
fn names(domain: &str, sans: &[String]) -> usize {
    std::iter::once(domain)
        .chain(sans.iter().map(String::as_str))
        .map(|n| n.strip_prefix("*.").unwrap_or(n))
        .collect::<BTreeSet<_>>()
        .len()
}

/// An idempotency token for the request: the SDK's retries of a request whose answer was lost
/// ask for the same certificate, not a second one. Letters and digits, at most 32.
///
/// It is this run's own: ACM answers a token it saw within the hour with the certificate it made
/// then, even one deleted since (a destroy, or `[https]` off and on again). An earlier run whose
/// answer was lost is covered by the read, which finds the certificate by its tags.
fn idempotency_token(ctx: &Ctx, desired: &Desired) -> String {
    use std::hash::{Hash, Hasher};
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (
        RUN.get_or_init(|| fastrand::u64(..)),
        &ctx.config.project,
        &ctx.config.environment,
        &desired.domain,
        &desired.subject_alternative_names,
        &desired.replaces,
    )
        .hash(&mut hasher);
    format!("deployer{:016x}", hasher.finish())
}

impl Resource for Certificate {
    const STEP: StepId = StepId::new("certificate", "ACM certificate");
    const DEPENDS_ON: &'static [&'static str] = &["hosted_zone"];
    const READ_DEPENDS_ON: &'static [&'static str] = &["hosted_zone"];
    const REPLACEABLE: bool = true;
    type Live = Live;
    type Desired = Desired;

    fn wanted(ctx: &Ctx) -> bool {
        ctx.config
            .https
            .as_ref()
            .is_some_and(|h| h.requests_certificate())
    }

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        let https = ctx.config.https.clone().unwrap_or_default();
        Desired {
            domain: https.domain.unwrap_or_default(),
            subject_alternative_names: sorted(https.subject_alternative_names),
            zone_id: known(&facts.hosted_zone_id),
            replaces: None,
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        let recorded = ctx.recorded(Self::STEP.key()).and_then(|r| r.arn.clone());
        // The recorded certificate's validation records are in the zone it was validated in,
        // which may not be the configured one any more (to delete them from there).
        let recorded_zone = ctx
            .recorded(Self::STEP.key())
            .and_then(|r| zone_of(r).map(str::to_owned));
        if let Some(arn) = recorded {
            if let Some(certificate) = describe(ctx, &arn).await? {
                let zone_id = recorded_zone.or_else(|| facts.hosted_zone_id.clone());
                return Ok(Some(live_from(&certificate, zone_id)));
            }
        }
        let zone_id = facts.hosted_zone_id.clone();
        let Some(domain) = ctx.config.https.as_ref().and_then(|h| h.domain.as_deref()) else {
            return Ok(None);
        };
        if !Self::wanted(ctx) {
            return Ok(None);
        }
        let Some((arn, tags)) = find(ctx, domain).await? else {
            return Ok(None);
        };
        Ok(describe(ctx, &arn).await?.map(|c| Live {
            tags: Some(tags),
            ..live_from(&c, zone_id)
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        // ACM cannot change the names of a certificate.
        compare_replacing(&mut changes, "domain", &live.domain, &desired.domain);
        compare_replacing(
            &mut changes,
            "subject_alternative_names",
            &live.subject_alternative_names,
            &desired.subject_alternative_names,
        );
        match live.status.as_str() {
            ISSUED => {}
            // Still validating (an earlier run gave up waiting): put the records and wait again.
            "PENDING_VALIDATION" => changes.push(Change::new("status", &live.status, ISSUED)),
            // Failed, timed out, revoked or expired: only a new certificate helps.
            other => changes.push(Change::replacing("status", other, ISSUED)),
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let mut request = ctx
            .aws
            .acm
            .request_certificate()
            .domain_name(&desired.domain)
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(idempotency_token(ctx, desired))
            .set_tags(Some(owner_tags::<Tag>(&ctx.owner)?));
        if !desired.subject_alternative_names.is_empty() {
            // ACM wants the domain among the alternative names too.
            request = request.set_subject_alternative_names(Some(
                std::iter::once(desired.domain.clone())
                    .chain(desired.subject_alternative_names.iter().cloned())
                    .collect(),
            ));
        }
        let answer = request
            .send()
            .await
            .or_context(format!("requesting a certificate for {}", desired.domain))?;
        let arn = answer
            .certificate_arn()
            .ok_or_else(|| anyhow!("RequestCertificate returned no certificate ARN"))?;
        ctx.printer.info(&format!(
            "   requested certificate {arn} for {}; validating it through DNS (up to {}s, \
             timeouts.certificate_validation)",
            desired.domain, ctx.config.timeouts.certificate_validation
        ));
        Ok(Created::New(validate(ctx, arn, &desired.zone_id).await?))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        validate(ctx, &live.arn, &desired.zone_id).await
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        delete_certificate(
            ctx,
            &live.arn,
            live.zone_id.as_deref(),
            &live.validation_records,
        )
        .await
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        match &live.tags {
            Some(tags) => Ok(tags.clone()),
            None => tags_of(ctx, &live.arn).await,
        }
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        ctx.aws
            .acm
            .add_tags_to_certificate()
            .certificate_arn(&live.arn)
            .set_tags(Some(owner_tags::<Tag>(&ctx.owner)?))
            .send()
            .await
            .or_context(format!("tagging the certificate {}", live.arn))?;
        Ok(())
    }

    fn record(live: &Live) -> ResourceRecord {
        let mut record = ResourceRecord::new(live.arn.clone(), Some(live.arn.clone()));
        record.parts = live
            .zone_id
            .iter()
            .map(|z| format!("{ZONE_PART}{z}"))
            .chain(
                live.validation_records
                    .iter()
                    .map(|r| format!("{RECORD_PART}{} {} {}", r.name, r.kind, r.value)),
            )
            .collect();
        record
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.requested_certificate_arn = Some(live.arn.clone());
    }

    fn replacement(live: &Live, desired: Desired) -> Desired {
        Desired {
            replaces: Some(live.arn.clone()),
            ..desired
        }
    }

    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        // The validation records of names still configured serve the certificate that replaced
        // this one.
        let https = ctx.config.https.as_ref().filter(|_| Self::wanted(ctx));
        let kept: Vec<String> = https
            .map(|h| {
                h.domain
                    .iter()
                    .chain(&h.subject_alternative_names)
                    .map(|n| route53::fqdn(n.strip_prefix("*.").unwrap_or(n)))
                    .collect()
            })
            .unwrap_or_default();
        let records: Vec<Record> = record
            .parts
            .iter()
            .filter_map(|p| p.strip_prefix(RECORD_PART))
            .filter_map(|p| {
                let mut fields = p.splitn(3, ' ');
                Some(Record {
                    name: fields.next()?.to_owned(),
                    kind: fields.next()?.to_owned(),
                    value: fields.next()?.to_owned(),
                })
            })
            .filter(|r| !kept.contains(&validated_name(&r.name)))
            .collect();
        let arn = record.arn.as_deref().unwrap_or(&record.id);
        delete_certificate(ctx, arn, zone_of(record), &records).await
    }
}

/// The name a DNS validation record validates: ACM names it `_<token>.<name>.`.
fn validated_name(record_name: &str) -> String {
    let name = route53::fqdn(record_name);
    match name.split_once('.') {
        Some((token, rest)) if token.starts_with('_') => rest.to_owned(),
        _ => name,
    }
}

fn zone_of(record: &ResourceRecord) -> Option<&str> {
    record.parts.iter().find_map(|p| p.strip_prefix(ZONE_PART))
}

/// Deletes the certificate once the load balancer has let go of it, then its validation records.
async fn delete_certificate(
    ctx: &Ctx,
    arn: &str,
    zone_id: Option<&str>,
    records: &[Record],
) -> Result<()> {
    delete_when_released(
        &format!("deleting the certificate {arn}"),
        ctx.release_budget(),
        &ctx.printer,
        DeleteCodes {
            gone: &["ResourceNotFoundException"],
            in_use: &["ResourceInUseException"],
        },
        || ctx.aws.acm.delete_certificate().certificate_arn(arn).send(),
        as_aws_says,
    )
    .await?;
    if let (Some(zone_id), false) = (zone_id, records.is_empty()) {
        route53::delete(
            &ctx.aws.route53,
            zone_id,
            records,
            &[],
            &format!("deleting the validation records of {arn}"),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(status: &str) -> Live {
        Live {
            arn: "arn:aws:acm:eu-central-1:123456789012:certificate/1".into(),
            domain: "app.example.com".into(),
            subject_alternative_names: vec!["www.example.com".into()],
            status: status.into(),
            validation_records: Vec::new(),
            zone_id: Some("Z1".into()),
            tags: None,
        }
    }

    fn desired() -> Desired {
        Desired {
            domain: "app.example.com".into(),
            subject_alternative_names: vec!["www.example.com".into()],
            zone_id: "Z1".into(),
            replaces: None,
        }
    }

    #[test]
    fn an_issued_certificate_for_the_same_names_is_no_change() {
        assert_eq!(Certificate::diff(&live(ISSUED), &desired()), []);
    }

    #[test]
    fn other_names_force_a_new_certificate() {
        let wanted = Desired {
            subject_alternative_names: Vec::new(),
            ..desired()
        };
        assert_eq!(
            Certificate::diff(&live(ISSUED), &wanted),
            [Change::replacing(
                "subject_alternative_names",
                "www.example.com",
                "(none)"
            )]
        );
    }

    #[test]
    fn pending_is_waited_for_and_failed_needs_a_new_one() {
        assert_eq!(
            Certificate::diff(&live("PENDING_VALIDATION"), &desired()),
            [Change::new("status", "PENDING_VALIDATION", ISSUED)]
        );
        assert_eq!(
            Certificate::diff(&live("VALIDATION_TIMED_OUT"), &desired()),
            [Change::replacing("status", "VALIDATION_TIMED_OUT", ISSUED)]
        );
    }

    #[test]
    fn a_validation_record_validates_the_name_after_its_token() {
        assert_eq!(
            validated_name("_3639ac514e785e898d2646601fa951d5.App.Example.com."),
            "app.example.com."
        );
        assert_eq!(validated_name("app.example.com"), "app.example.com.");
    }

    #[test]
    fn a_wildcard_shares_the_validation_record_of_its_name() {
        assert_eq!(names("example.com", &["*.example.com".into()]), 1);
        assert_eq!(names("app.example.com", &["www.example.com".into()]), 2);
    }
}
