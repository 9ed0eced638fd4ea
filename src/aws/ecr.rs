//! Images in ECR, as a deploy checks them: whether a tag or digest is there, and the digest a tag
//! points to now; and how many images a repository holds, as `destroy` counts them before it
//! keeps a repository it took over. The stack's own repository is a resource
//! (`ecr_repository`); this looks into any repository, of any account and region, that an image
//! names.

use anyhow::Result;
use aws_sdk_ecr::types::ImageIdentifier;

use super::errors::{brief, describe, is_code};
use super::AwsResultExt;

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

/// The number of images in `repository` of the client's account and region: `DescribeImages`
/// lists each image once, with all its tags
/// (<https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html>), a
/// page of up to 1000 at a time. Errors: the call's.
pub async fn count_images(ecr: &aws_sdk_ecr::Client, repository: &str) -> Result<usize> {
    let mut pages = ecr
        .describe_images()
        .repository_name(repository)
        .max_results(1000)
        .into_paginator()
        .send();
    let mut count = 0;
    while let Some(page) = pages.next().await {
        let page = page.or_context(format!("counting the images of {repository}"))?;
        count += page.image_details().len();
    }
    Ok(count)
}
