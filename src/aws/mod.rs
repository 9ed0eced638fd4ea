//! Everything about talking to AWS that is not specific to one resource: building the SDK
//! clients from the standard credential chain, recognising the errors the resources branch on,
//! waiting out AWS's known slow spots, and the idioms every resource needs (tags both ways, "not
//! found" as absent, "already exists" after a lost answer). Each idiom lives here once.

pub mod acm;
pub mod autoscaling;
mod clients;
pub mod ecr;
pub mod ecs;
mod elb_tags;
pub mod errors;
pub mod iam;
pub mod listeners;
pub mod logs;
pub mod policy;
pub mod retry;
pub mod route53;
pub mod s3;
pub mod tags;
pub mod tasks;
pub mod vpc;

pub use clients::{AwsClients, ConnectOptions};
pub use elb_tags::ElbTagBatch;
pub use errors::{AwsResultExt, Created};

/// The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`, `aws-eusc`), for ARNs built by
/// hand.
pub fn partition(region: &str) -> &'static str {
    crate::config::partition_of(region)
}

/// The account of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`); `None` when the ARN has
/// none (an S3 bucket's) or is not an ARN.
pub fn account_of(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (!account.is_empty()).then(|| account.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_is_the_fifth_part_of_an_arn() {
        assert_eq!(
            account_of("arn:aws:iam::123456789012:role/x").as_deref(),
            Some("123456789012")
        );
        assert_eq!(account_of("arn:aws:s3:::bucket"), None);
        assert_eq!(account_of("not an arn"), None);
    }
}
