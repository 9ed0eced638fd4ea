//! Reading an ACM certificate, for the two ways a stack gets one: a certificate given by ARN,
//! and one the stack requests. Both read it the same way and take "not found" as absent.

use anyhow::Result;
use aws_sdk_acm::types::CertificateDetail;

use super::AwsResultExt;

/// `DescribeCertificate` of `arn` (see the ACM API Reference): its detail, or `None` when ACM
/// answers `ResourceNotFoundException`. Errors: any other failure of the call.
pub async fn describe_certificate(
    acm: &aws_sdk_acm::Client,
    arn: &str,
) -> Result<Option<CertificateDetail>> {
    let answer = acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .or_absent(
            &["ResourceNotFoundException"],
            format!("reading the certificate {arn}"),
        )?;
    Ok(answer.and_then(|a| a.certificate))
}
