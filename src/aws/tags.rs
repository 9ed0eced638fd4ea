//! Tags, both ways, for every service's own `Tag` type: this stack's owner tags in the form each
//! SDK takes, and the tags AWS returns as plain (key, value) pairs.
//!
//! Each SDK generates its own `Tag` struct (and IAM's and ECR's builders can fail where the
//! others cannot); [`SdkTag`] is the one place that knows them all.

use std::collections::HashMap;

use anyhow::Result;

use super::errors::AwsResultExt;
use crate::names::OwnerTags;

/// A service's tag type.
pub trait SdkTag: Sized {
    fn build(key: &str, value: &str) -> Result<Self>;
    fn pair(&self) -> (String, String);
}

macro_rules! infallible_tag {
    ($ty:ty) => {
        impl SdkTag for $ty {
            fn build(key: &str, value: &str) -> Result<Self> {
                Ok(<$ty>::builder().key(key).value(value).build())
            }
            fn pair(&self) -> (String, String) {
                (
                    self.key().unwrap_or_default().to_owned(),
                    self.value().unwrap_or_default().to_owned(),
                )
            }
        }
    };
}

macro_rules! fallible_tag {
    ($ty:ty) => {
        impl SdkTag for $ty {
            fn build(key: &str, value: &str) -> Result<Self> {
                Ok(<$ty>::builder().key(key).value(value).build()?)
            }
            fn pair(&self) -> (String, String) {
                (self.key().to_owned(), self.value().to_owned())
            }
        }
    };
}

infallible_tag!(aws_sdk_ecs::types::Tag);
infallible_tag!(aws_sdk_elasticloadbalancingv2::types::Tag);
infallible_tag!(aws_sdk_ec2::types::Tag);
fallible_tag!(aws_sdk_ecr::types::Tag);
fallible_tag!(aws_sdk_iam::types::Tag);

// ACM's tag has a required key and an optional value.
impl SdkTag for aws_sdk_acm::types::Tag {
    fn build(key: &str, value: &str) -> Result<Self> {
        Ok(aws_sdk_acm::types::Tag::builder()
            .key(key)
            .value(value)
            .build()?)
    }
    fn pair(&self) -> (String, String) {
        (
            self.key().to_owned(),
            self.value().unwrap_or_default().to_owned(),
        )
    }
}

/// This stack's owner tags, in the form `T`'s service takes.
pub fn owner_tags<T: SdkTag>(owner: &OwnerTags) -> Result<Vec<T>> {
    owner.pairs().iter().map(|(k, v)| T::build(k, v)).collect()
}

/// This stack's owner tags as a map, the form CloudWatch Logs takes.
pub fn owner_tag_map(owner: &OwnerTags) -> HashMap<String, String> {
    owner
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Tags as AWS returned them, as (key, value) pairs.
pub fn pairs<T: SdkTag>(tags: &[T]) -> Vec<(String, String)> {
    tags.iter().map(SdkTag::pair).collect()
}

/// Puts this stack's owner tags on an ECS resource (cluster, service, task definition).
pub async fn tag_ecs(ecs: &aws_sdk_ecs::Client, owner: &OwnerTags, arn: &str) -> Result<()> {
    ecs.tag_resource()
        .resource_arn(arn)
        .set_tags(Some(owner_tags(owner)?))
        .send()
        .await
        .or_context(format!("tagging {arn}"))?;
    Ok(())
}

/// Puts this stack's owner tags on an Elastic Load Balancing resource (load balancer, target
/// group, listener).
pub async fn tag_elb(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    owner: &OwnerTags,
    arn: &str,
) -> Result<()> {
    elb.add_tags()
        .resource_arns(arn)
        .set_tags(Some(owner_tags(owner)?))
        .send()
        .await
        .or_context(format!("tagging {arn}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tags_round_trip_through_every_sdk_type() {
        let owner = OwnerTags {
            project: "simhill".into(),
            environment: "dev".into(),
        };
        let expected: Vec<(String, String)> = owner
            .pairs()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let ecs: Vec<aws_sdk_ecs::types::Tag> = owner_tags(&owner).unwrap();
        let iam: Vec<aws_sdk_iam::types::Tag> = owner_tags(&owner).unwrap();
        let ecr: Vec<aws_sdk_ecr::types::Tag> = owner_tags(&owner).unwrap();
        assert_eq!(pairs(&ecs), expected);
        assert_eq!(pairs(&iam), expected);
        assert_eq!(pairs(&ecr), expected);
        assert!(owner.matches(expected.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
    }
}
