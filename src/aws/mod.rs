//! Everything about talking to AWS that is not specific to one resource: building the SDK
//! clients from the standard credential chain, recognising the errors the resources branch on,
//! waiting out AWS's known slow spots, and the idioms every resource needs (tags both ways, "not
//! found" as absent, "already exists" after a lost answer). Each idiom lives here once.

pub mod acm;
pub mod autoscaling;
mod clients;
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
