//! Images in ECR, as a deploy checks them: whether a tag or digest is there, and the digest a tag
//! points to now. The stack's own repository is a resource (`ecr_repository`); this looks into
//! any repository, of any account and region, that an image names.

use anyhow::Result;
use aws_sdk_ecr::types::ImageIdentifier;

use super::errors::{brief, describe, is_code};

/// What ECR says about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageLookup {
    /// There, with the digest of its manifest (`sha256:...`) when ECR gave one.
    Found(Option<String>),
    /// The repository is there, the tag or digest is not.
    ImageMissing,
    /// No such repository in that registry (or none this principal may see).
    RepositoryMissing,
    /// ECR refused to answer; the reason, as AWS gave it.
    NotAllowed(String),
}

/// Looks up an image (by tag, or by digest `sha256:...`) in a repository of ECR, with
/// `DescribeImages`, whose answer also says the digest the tag points to now
/// (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html>). `ecr`
/// is a client for the registry's region, which need not be the stack's; `registry` is the
/// account ID, or `None` for the caller's own account.
pub async fn image_exists(
    ecr: &aws_sdk_ecr::Client,
    registry: Option<&str>,
    repository: &str,
    reference: &str,
) -> Result<ImageLookup> {
    let id = if reference.starts_with("sha256:") {
        ImageIdentifier::builder().image_digest(reference).build()
    } else {
        ImageIdentifier::builder().image_tag(reference).build()
    };
    let answer = ecr
        .describe_images()
        .set_registry_id(registry.map(str::to_owned))
        .repository_name(repository)
        .image_ids(id)
        .send()
        .await;
    Ok(match answer {
        Ok(found) if !found.image_details().is_empty() => ImageLookup::Found(
            found
                .image_details()
                .iter()
                .find_map(|d| d.image_digest())
                .map(str::to_owned),
        ),
        Ok(_) => ImageLookup::ImageMissing,
        Err(e) if is_code(&e, &["ImageNotFoundException"]) => ImageLookup::ImageMissing,
        Err(e) if is_code(&e, &["RepositoryNotFoundException"]) => ImageLookup::RepositoryMissing,
        Err(e) if is_code(&e, &["AccessDeniedException"]) => ImageLookup::NotAllowed(brief(&e)),
        Err(e) => {
            return Err(describe(
                e,
                format!("looking up image {repository}:{reference}"),
            ))
        }
    })
}
