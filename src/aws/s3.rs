//! S3 as a store of small documents that several machines share: read an object with its ETag,
//! write or delete it only under a condition, and set up a bucket fit to hold state.
//!
//! The conditions are S3's own (see "How to prevent object overwrites with conditional writes" and
//! "How to perform conditional deletes" in the Amazon S3 User Guide): `If-None-Match: *` writes
//! only where no object exists, `If-Match: <ETag>` writes or deletes only the object that was
//! read. A refused condition is `412 Precondition Failed`; a conflicting write that S3 sees at the
//! same moment is `409 ConditionalRequestConflict`. Both mean "someone else got there first" and
//! are given back as [`Written::Refused`], never retried here.

use anyhow::Result;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use aws_sdk_s3::Client;

use super::errors::{describe, is_code};

/// An object as read: its bytes and the ETag that names this version of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
}

/// What a conditional write asks of the object that is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// No object may exist (`If-None-Match: *`).
    Absent,
    /// The object must still be the version with this ETag (`If-Match`).
    Unchanged(String),
}

/// The outcome of a conditional write or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Done; the ETag of the new object (empty after a delete).
    Done(String),
    /// The condition did not hold (412), or another write raced this one (409), or the object to
    /// change is gone (404 on `If-Match`): nothing was changed.
    Refused,
}

/// Codes that say a condition did not hold.
const REFUSED: &[&str] = &["PreconditionFailed", "ConditionalRequestConflict"];
/// Codes that say the object or bucket is not there.
const MISSING: &[&str] = &["NoSuchKey", "NotFound", "NoSuchBucket"];

type S3Error<E> = SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// The HTTP status S3 answered with; S3 errors to HEAD requests have no body, hence no code.
fn status<E>(error: &S3Error<E>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

fn refused<E: ProvideErrorMetadata>(error: &S3Error<E>) -> bool {
    is_code(error, REFUSED) || matches!(status(error), Some(412 | 409))
}

fn missing<E: ProvideErrorMetadata>(error: &S3Error<E>) -> bool {
    is_code(error, MISSING)
}

/// Reads `s3://bucket/key`; `None` when there is no such object.
///
/// Errors: any other failure of `GetObject` (a missing bucket included), described.
pub async fn get(client: &Client, bucket: &str, key: &str) -> Result<Option<Object>> {
    let answer = client.get_object().bucket(bucket).key(key).send().await;
    let output = match answer {
        Ok(output) => output,
        Err(e) if is_code(&e, &["NoSuchKey"]) => return Ok(None),
        Err(e) => return Err(describe(e, format!("cannot read s3://{bucket}/{key}"))),
    };
    let etag = output.e_tag().unwrap_or_default().to_owned();
    let body = output
        .body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read s3://{bucket}/{key}: {e}"))?
        .into_bytes()
        .to_vec();
    Ok(Some(Object { body, etag }))
}

/// Writes `body` to `s3://bucket/key` if `condition` holds, encrypted with `kms_key_id`
/// (SSE-KMS) when given, else by the bucket's default (SSE-S3).
///
/// Errors: any failure but a refused condition, described.
pub async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    condition: &Condition,
    kms_key_id: Option<&str>,
) -> Result<Written> {
    let mut request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body));
    request = match condition {
        Condition::Absent => request.if_none_match("*"),
        Condition::Unchanged(etag) => request.if_match(etag),
    };
    if let Some(key_id) = kms_key_id {
        request = request
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(key_id);
    }
    match request.send().await {
        Ok(output) => Ok(Written::Done(output.e_tag().unwrap_or_default().to_owned())),
        Err(e) if refused(&e) => Ok(Written::Refused),
        // If-Match on an object that is gone: 404 NoSuchKey.
        Err(e) if matches!(condition, Condition::Unchanged(_)) && missing(&e) => {
            Ok(Written::Refused)
        }
        Err(e) => Err(describe(e, format!("cannot write s3://{bucket}/{key}"))),
    }
}

/// Deletes `s3://bucket/key` if it is still the version with `etag` (`If-Match`, supported on
/// general purpose buckets). In a versioned bucket this adds a delete marker; the versions stay.
///
/// Errors: any failure but a refused condition or a missing object, described.
pub async fn delete(client: &Client, bucket: &str, key: &str, etag: &str) -> Result<Written> {
    let answer = client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .if_match(etag)
        .send()
        .await;
    match answer {
        Ok(_) => Ok(Written::Done(String::new())),
        Err(e) if refused(&e) || missing(&e) => Ok(Written::Refused),
        Err(e) => Err(describe(e, format!("cannot delete s3://{bucket}/{key}"))),
    }
}

/// What [`ensure_state_bucket`] found and changed, setting by setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketSetup {
    /// The settings made now, in the order they were made ("created", "versioning", ...).
    pub changed: Vec<&'static str>,
}

/// The bucket policy that refuses every request not made over TLS, as "What S3 bucket policy
/// should I use to comply with the AWS Config rule s3-bucket-ssl-requests-only?" recommends.
pub fn tls_only_policy(partition: &str, bucket: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [
                format!("arn:{partition}:s3:::{bucket}"),
                format!("arn:{partition}:s3:::{bucket}/*"),
            ],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })
}

/// Makes `bucket` a bucket fit to hold state, changing only what is not so already (a second run
/// only reads): created in `region`; versioning on (every earlier state can be brought back);
/// default encryption SSE-S3, or SSE-KMS with `kms_key_id` and an S3 Bucket Key; every public
/// access blocked; a policy refusing requests without TLS. An existing policy other than that one
/// is replaced.
///
/// Errors: any failed call, described (`BucketAlreadyExists` when the name is another account's).
pub async fn ensure_state_bucket(
    client: &Client,
    bucket: &str,
    region: &str,
    kms_key_id: Option<&str>,
) -> Result<BucketSetup> {
    let mut setup = BucketSetup::default();
    let exists = match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => true,
        Err(e) if missing(&e) || status(&e) == Some(404) => false,
        Err(e) => return Err(describe(e, format!("cannot look for bucket {bucket}"))),
    };
    if !exists {
        let mut request = client.create_bucket().bucket(bucket);
        // us-east-1 is the default location and takes no constraint.
        if region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => setup.changed.push("created"),
            Err(e) if is_code(&e, &["BucketAlreadyOwnedByYou"]) => {}
            Err(e) => return Err(describe(e, format!("cannot create bucket {bucket}"))),
        }
    }

    let versioning = client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| describe(e, format!("cannot read the versioning of bucket {bucket}")))?;
    if versioning.status() != Some(&BucketVersioningStatus::Enabled) {
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| describe(e, format!("cannot turn on versioning of bucket {bucket}")))?;
        setup.changed.push("versioning");
    }

    let wanted_algorithm = match kms_key_id {
        Some(_) => ServerSideEncryption::AwsKms,
        None => ServerSideEncryption::Aes256,
    };
    let current = match client.get_bucket_encryption().bucket(bucket).send().await {
        Ok(output) => output
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| {
                (
                    d.sse_algorithm().clone(),
                    d.kms_master_key_id().map(str::to_owned),
                )
            }),
        Err(e) if is_code(&e, &["ServerSideEncryptionConfigurationNotFoundError"]) => None,
        Err(e) => {
            return Err(describe(
                e,
                format!("cannot read the default encryption of bucket {bucket}"),
            ))
        }
    };
    if current != Some((wanted_algorithm.clone(), kms_key_id.map(str::to_owned))) {
        let default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(wanted_algorithm)
            .set_kms_master_key_id(kms_key_id.map(str::to_owned))
            .build()?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            .bucket_key_enabled(kms_key_id.is_some())
            .build();
        client
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                describe(
                    e,
                    format!("cannot set the default encryption of bucket {bucket}"),
                )
            })?;
        setup.changed.push("encryption");
    }

    let blocked = match client.get_public_access_block().bucket(bucket).send().await {
        Ok(output) => output.public_access_block_configuration().is_some_and(|c| {
            c.block_public_acls() == Some(true)
                && c.ignore_public_acls() == Some(true)
                && c.block_public_policy() == Some(true)
                && c.restrict_public_buckets() == Some(true)
        }),
        Err(e) if is_code(&e, &["NoSuchPublicAccessBlockConfiguration"]) => false,
        Err(e) => {
            return Err(describe(
                e,
                format!("cannot read the public access block of bucket {bucket}"),
            ))
        }
    };
    if !blocked {
        client
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| describe(e, format!("cannot block public access to bucket {bucket}")))?;
        setup.changed.push("public access block");
    }

    let wanted = tls_only_policy(super::partition(region), bucket);
    let current: Option<serde_json::Value> =
        match client.get_bucket_policy().bucket(bucket).send().await {
            Ok(output) => output.policy().and_then(|p| serde_json::from_str(p).ok()),
            Err(e) if is_code(&e, &["NoSuchBucketPolicy"]) => None,
            Err(e) => {
                return Err(describe(
                    e,
                    format!("cannot read the policy of bucket {bucket}"),
                ))
            }
        };
    if current.as_ref() != Some(&wanted) {
        client
            .put_bucket_policy()
            .bucket(bucket)
            .policy(wanted.to_string())
            .send()
            .await
            .map_err(|e| describe(e, format!("cannot set the policy of bucket {bucket}")))?;
        setup.changed.push("TLS-only policy");
    }
    Ok(setup)
}
