//! Route 53 record changes, shared by the certificate (its DNS validation records) and the
//! domain's alias records: one change batch per call, in the zone of `https.hosted_zone`.
//!
//! See "ChangeResourceRecordSets" in the Route 53 API Reference: a batch is applied whole or not
//! at all, `UPSERT` creates or replaces, and `DELETE` must name the record exactly as it is.
//! A change is `PENDING` until every Route 53 DNS server has it (`INSYNC`, see "GetChange").

use anyhow::Result;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};

use super::errors::{is_code, AwsResultExt};
use super::retry::{until_done, Attempt, Budget};
use crate::printer::Printer;

/// A plain record: a name, a type and one value (a CNAME of a DNS validation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    /// Fully qualified, with the trailing dot Route 53 adds.
    pub name: String,
    pub kind: String,
    pub value: String,
}

/// An alias record to a load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    /// `A` or `AAAA`.
    pub kind: RrType,
    /// The load balancer's DNS name and its canonical hosted zone.
    pub dns_name: String,
    pub zone_id: String,
}

/// The TTL of the validation records, as ACM's console creates them.
const VALIDATION_TTL: i64 = 300;

fn record_set(record: &Record) -> Result<ResourceRecordSet> {
    Ok(ResourceRecordSet::builder()
        .name(&record.name)
        .r#type(RrType::from(record.kind.as_str()))
        .ttl(VALIDATION_TTL)
        .resource_records(ResourceRecord::builder().value(&record.value).build()?)
        .build()?)
}

fn alias_set(alias: &Alias) -> Result<ResourceRecordSet> {
    Ok(ResourceRecordSet::builder()
        .name(&alias.name)
        .r#type(alias.kind.clone())
        .alias_target(
            AliasTarget::builder()
                .dns_name(&alias.dns_name)
                .hosted_zone_id(&alias.zone_id)
                .evaluate_target_health(true)
                .build()?,
        )
        .build()?)
}

/// A change batch Route 53 accepted but has not applied on all its DNS servers yet: its ID.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a pending change is waited for with `wait_in_sync`"]
pub struct Pending(pub Option<String>);

async fn change(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    changes: Vec<Change>,
    doing: &str,
) -> Result<Pending> {
    let answer = route53
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build()?)
        .send()
        .await
        .or_context(doing)?;
    Ok(Pending(answer.change_info().and_then(|info| {
        (info.status() != &ChangeStatus::Insync).then(|| info.id().to_owned())
    })))
}

/// Waits, within `budget`, until Route 53 has applied a change on all its DNS servers, so that
/// the name resolves everywhere once `apply` says it is done (Route 53 says "generally within
/// 60 seconds"). Progress goes to stderr.
///
/// Errors: the budget spent (exit code 5), or `GetChange` failing.
pub async fn wait_in_sync(
    route53: &aws_sdk_route53::Client,
    pending: Pending,
    budget: Budget,
    printer: &Printer,
    what: &str,
) -> Result<()> {
    let Some(id) = pending.0 else {
        return Ok(());
    };
    // `ChangeInfo.Id` is `/change/ID`; `GetChange` takes the ID.
    let id = id.trim_start_matches("/change/").to_owned();
    until_done(what, budget, printer, || {
        let id = id.clone();
        async move {
            let answer = route53
                .get_change()
                .id(&id)
                .send()
                .await
                .or_context(format!("reading the Route 53 change {id}"))?;
            Ok(match answer.change_info().map(|i| i.status()) {
                Some(ChangeStatus::Insync) => Attempt::Done(()),
                _ => Attempt::Wait(format!(
                    "the Route 53 change {id} is PENDING until every Route 53 DNS server has it"
                )),
            })
        }
    })
    .await
}

/// Creates or replaces plain records, in one batch. Not waited for: ACM keeps looking until it
/// resolves them.
pub async fn upsert_records(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    records: &[Record],
    doing: &str,
) -> Result<()> {
    let changes = records
        .iter()
        .map(|r| {
            Ok(Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record_set(r)?)
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    let _ = change(route53, zone_id, changes, doing).await?;
    Ok(())
}

/// Creates or replaces alias records, in one batch: the change, to wait for with
/// [`wait_in_sync`].
pub async fn upsert_aliases(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    aliases: &[Alias],
    doing: &str,
) -> Result<Pending> {
    let changes = aliases
        .iter()
        .map(|a| {
            Ok(Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(alias_set(a)?)
                .build()?)
        })
        .collect::<Result<Vec<_>>>()?;
    change(route53, zone_id, changes, doing).await
}

/// Deletes records one at a time: one already gone (Route 53 answers `InvalidChangeBatch`, "it
/// was not found") is what was asked for, and must not keep the others.
pub async fn delete(
    route53: &aws_sdk_route53::Client,
    zone_id: &str,
    records: &[Record],
    aliases: &[Alias],
    doing: &str,
) -> Result<()> {
    let sets = records
        .iter()
        .map(record_set)
        .chain(aliases.iter().map(alias_set))
        .collect::<Result<Vec<_>>>()?;
    for set in sets {
        let answer = route53
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Delete)
                            .resource_record_set(set)
                            .build()?,
                    )
                    .build()?,
            )
            .send()
            .await;
        match answer {
            Err(e) if is_code(&e, &["InvalidChangeBatch"]) && gone(&e) => {}
            // The zone was deleted, and its records with it.
            Err(e) if is_code(&e, &["NoSuchHostedZone"]) => return Ok(()),
            answer => {
                answer.or_context(doing)?;
            }
        }
    }
    Ok(())
}

/// Whether a refused change batch was refused because the record is not there.
fn gone<E: aws_sdk_route53::error::ProvideErrorMetadata, R>(
    error: &aws_sdk_route53::error::SdkError<E, R>,
) -> bool {
    super::errors::message(error).is_some_and(|m| m.contains("not found"))
}

/// A name as Route 53 reports it: lowercase, with its trailing dot.
pub fn fqdn(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}
