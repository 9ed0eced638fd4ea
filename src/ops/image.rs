//! Which image a run deploys, decided once the stack has been read and before the plan is
//! judged.
//!
//! AWS is the record of what runs: every revision this tool registers carries tags naming where
//! its image came from (see [`crate::names::revision_tags`]). So a run without its state file (a
//! fresh CI runner) keeps the image of the revision the service runs, unless `container.image`
//! changed since that revision was registered or the command line asks for another image.
//!
//! An image deployed anew is looked up in ECR first: a missing one stops the run before any
//! change, and a tag is pinned to the digest it points to now (`repo@sha256:...`). So pushing a
//! tag again (`latest`) and deploying it is a new revision, and a task ECS starts later (a
//! replacement, a scale-out) runs the image that was deployed, not whatever the tag points to by
//! then.

use anyhow::{anyhow, Result};

use super::Session;
use crate::aws::ecr::{image_exists, ImageLookup};
use crate::aws::partition;
use crate::config::AWS_REGIONS;
use crate::contract::{Ctx, DeployImage, Facts, Revision};
use crate::exit::{Exit, ExitError};
use crate::names::{image_digest, image_repository, EcrImage, ImageOrigin, ImageSource};
use crate::state::ImageOverride;

/// An image chosen on the command line for this run, instead of `container.image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    /// `--image URI`.
    Uri(String),
    /// `--image-tag TAG`: that tag in the stack's ECR repository.
    Tag(String),
}

/// What a missing image is to a run: `apply` stops before any change; `plan` says so and shows
/// the plan with the image as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Stops,
    Warns,
}

/// How the image to deploy anew was asked for, which decides how it is looked up and what a
/// failed lookup says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    /// `--image-tag TAG`.
    Tag(String),
    /// `--image URI`.
    Uri,
    /// `container.image` (or an override an older deployer cached in the state).
    Configured,
}

/// What the run deploys, before ECR is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    /// The image of the revision that runs, with its origin: nothing to look up.
    Keep(DeployImage),
    /// An image reference to deploy, looked up (and pinned) first.
    New {
        reference: String,
        source: ImageSource,
        asked: Asked,
    },
}

/// Decides the image the run deploys and sets it in `ctx`: the one chosen on the command line;
/// else the one the service runs, kept while `container.image` is what it was derived from;
/// else the configured one. An image deployed anew is looked up in ECR and pinned to its digest
/// there (see the module's documentation). `facts` are what the plan's reads found.
///
/// Errors: exit 3 for an image not in ECR (with [`Missing::Stops`]) or an `--image-tag` before
/// the stack's repository exists.
pub async fn decide(
    session: &mut Session,
    choice: Option<&ImageChoice>,
    facts: &Facts,
    missing: Missing,
) -> Result<()> {
    let ctx = &session.ctx;
    if let (Some(ImageChoice::Tag(tag)), None) = (choice, &facts.repository_url) {
        return Err(invalid(format!(
            "--image-tag {tag}: the ECR repository {} does not exist yet; run `deployer apply \
             --target ecr_repository` to create just the repository, push the image, then deploy \
             it",
            ctx.names.ecr_repository
        )));
    }
    let configured = &ctx.config.container.image;
    let wanted = wanted(
        choice,
        facts.repository_url.as_deref(),
        configured,
        facts.task_definition_revision.as_ref(),
        ctx.recorded.image_override.as_ref(),
    );
    let image = match wanted {
        Wanted::Keep(image) => image,
        Wanted::New {
            reference,
            source,
            asked,
        } => {
            let digest = look_up(ctx, facts, &reference, &asked, missing).await?;
            DeployImage {
                image: digest.map_or_else(|| reference.clone(), |d| pinned(&reference, &d)),
                origin: ImageOrigin {
                    source,
                    configured: configured.clone(),
                    requested: reference,
                },
            }
        }
    };
    session.ctx.image = image;
    Ok(())
}

/// What to deploy, given what was asked and what runs. `cache` is the override the state
/// recorded: it stands in for the tags of a revision registered before they existed.
fn wanted(
    choice: Option<&ImageChoice>,
    repository_url: Option<&str>,
    configured: &str,
    running: Option<&Revision>,
    cache: Option<&ImageOverride>,
) -> Wanted {
    let new = |reference: String, asked: Asked| Wanted::New {
        source: if reference == configured {
            ImageSource::Configuration
        } else {
            ImageSource::Override
        },
        reference,
        asked,
    };
    match choice {
        Some(ImageChoice::Tag(tag)) => {
            let url = repository_url.unwrap_or_default();
            return new(format!("{url}:{tag}"), Asked::Tag(tag.clone()));
        }
        Some(ImageChoice::Uri(uri)) => return new(uri.clone(), Asked::Uri),
        None => {}
    }
    let Some(running) = running else {
        return new(configured.to_owned(), Asked::Configured);
    };
    // Tags that do not describe the revision's image (copied onto another by hand) are not
    // believed.
    let origin = running
        .origin
        .as_ref()
        .filter(|origin| describes(origin, &running.image));
    match origin {
        Some(origin) if origin.configured == configured => Wanted::Keep(DeployImage {
            image: running.image.clone(),
            origin: origin.clone(),
        }),
        Some(_) => new(configured.to_owned(), Asked::Configured),
        // Registered before revisions were tagged (or tagged by hand): the state's cache says
        // what was deployed.
        None => {
            let reference = match cache {
                Some(o) if o.configured == configured => o.image.clone(),
                _ => configured.to_owned(),
            };
            if reference == running.image {
                let source = if reference == configured {
                    ImageSource::Configuration
                } else {
                    ImageSource::Override
                };
                Wanted::Keep(DeployImage {
                    image: reference.clone(),
                    origin: ImageOrigin {
                        source,
                        configured: configured.to_owned(),
                        requested: reference,
                    },
                })
            } else {
                new(reference, Asked::Configured)
            }
        }
    }
}

/// Whether `origin` is that of `image`: the image asked for, or it pinned to its digest.
fn describes(origin: &ImageOrigin, image: &str) -> bool {
    image == origin.requested
        || image_digest(image).is_some_and(|digest| pinned(&origin.requested, digest) == image)
}

/// `reference` pinned to `digest`: `repo:tag` (or `repo@old`) becomes `repo@digest`.
fn pinned(reference: &str, digest: &str) -> String {
    format!("{}@{digest}", image_repository(reference))
}

fn invalid(what: String) -> anyhow::Error {
    ExitError::new(Exit::InvalidInput, anyhow!(what)).into()
}

/// Looks up an image to deploy anew in ECR and returns its digest when ECR could tell.
///
/// An ECR image is looked up in its own registry: the region its host names, which need not be
/// the stack's. Another account's registry cannot be looked into with this run's credentials, so
/// such an image is left to ECS (with a warning for one chosen on the command line); so is one
/// ECR will not describe to this caller. Images outside ECR are the user's business.
async fn look_up(
    ctx: &Ctx,
    facts: &Facts,
    reference: &str,
    asked: &Asked,
    missing: Missing,
) -> Result<Option<String>> {
    let missing_image = |what: String| -> Result<Option<String>> {
        match missing {
            Missing::Stops => Err(invalid(what)),
            Missing::Warns => {
                ctx.printer
                    .warn(&format!("{what}; apply would stop here, before any change"));
                Ok(None)
            }
        }
    };
    if let Asked::Tag(tag) = asked {
        let url = facts.repository_url.as_deref().unwrap_or_default();
        return match image_exists(&ctx.aws.ecr, None, &ctx.names.ecr_repository, tag).await? {
            ImageLookup::Found(digest) => Ok(digest),
            ImageLookup::ImageMissing | ImageLookup::RepositoryMissing => missing_image(format!(
                "image {url}:{tag} is not in ECR; push it first (docker push {url}:{tag})"
            )),
            ImageLookup::NotAllowed(why) => Err(anyhow!("looking up image {url}:{tag}: {why}")),
        };
    }
    let Some(ecr) = EcrImage::parse(reference) else {
        return Ok(None);
    };
    let account = stack_account(facts);
    let chosen = *asked == Asked::Uri;
    if !AWS_REGIONS.contains(&ecr.region) {
        return if chosen {
            Err(invalid(format!(
                "image {reference}: its registry's region {:?} is not an AWS region",
                ecr.region
            )))
        } else {
            // Validation checked the configured image's form; ECS tells about its registry.
            Ok(None)
        };
    }
    let stack_partition = partition(&ctx.aws.region);
    if chosen && partition(ecr.region) != stack_partition {
        return Err(invalid(format!(
            "image {reference} is in a registry of {}, and a stack in {} ({stack_partition}) \
             cannot pull from another partition",
            ecr.region, ctx.aws.region
        )));
    }
    if !chosen {
        // The configured image is checked only in this account's registry, which this run can
        // look into; before the stack exists its account is not known, and the stack's own
        // repository may be about to be created: neither is checked.
        let ours = account.is_some_and(|a| a == ecr.account);
        let stack_repository =
            ecr.repository == ctx.names.ecr_repository && ecr.region == ctx.aws.region;
        if !ours || (stack_repository && facts.repository_url.is_none()) {
            return Ok(None);
        }
    } else if account.is_some_and(|ours| ours != ecr.account) {
        ctx.printer.warn(&format!(
            "image {reference} is in the registry of account {}, which this run cannot look \
             into; it is not checked, and ECS will need permission to pull it",
            ecr.account
        ));
        return Ok(None);
    }
    let what = if chosen { "image" } else { "container.image" };
    let client = ctx.aws.ecr_in(ecr.region);
    match image_exists(&client, Some(ecr.account), ecr.repository, ecr.reference).await? {
        ImageLookup::Found(digest) => Ok(digest),
        ImageLookup::ImageMissing => missing_image(format!(
            "{what} {reference} is not in ECR: repository {} in {} has no {}; push it first",
            ecr.repository, ecr.region, ecr.reference
        )),
        // Before the stack exists its account is not known: a repository that cannot be seen
        // may be another account's.
        ImageLookup::RepositoryMissing if account.is_some() => missing_image(format!(
            "{what} {reference} is not in ECR: there is no repository {} in {}; push it first",
            ecr.repository, ecr.region
        )),
        ImageLookup::RepositoryMissing => {
            ctx.printer.warn(&format!(
                "image {reference} cannot be checked: no repository {} in {} is visible to this \
                 run (it may be another account's); going on",
                ecr.repository, ecr.region
            ));
            Ok(None)
        }
        ImageLookup::NotAllowed(why) => {
            ctx.printer.warn(&format!(
                "image {reference} cannot be checked ({why}); going on"
            ));
            Ok(None)
        }
    }
}

/// The account of this stack, from an ARN or URL already read, if there is one yet.
fn stack_account(facts: &Facts) -> Option<&str> {
    let from_url = facts
        .repository_url
        .as_deref()
        .and_then(|url| url.split('.').next());
    // arn:PARTITION:iam::ACCOUNT:role/NAME
    let from_role = || {
        facts
            .execution_role_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(4))
    };
    from_url.or_else(from_role).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_account_comes_from_the_repository_or_the_role() {
        let mut facts = Facts::default();
        assert_eq!(stack_account(&facts), None);
        facts.execution_role_arn = Some("arn:aws:iam::111122223333:role/x".into());
        assert_eq!(stack_account(&facts), Some("111122223333"));
        facts.repository_url = Some("444455556666.dkr.ecr.eu-central-1.amazonaws.com/x".into());
        assert_eq!(stack_account(&facts), Some("444455556666"));
    }

    #[test]
    fn a_tag_is_replaced_by_the_digest_it_points_to() {
        let digest = "sha256:0a";
        for (reference, expected) in [
            (
                "1.dkr.ecr.eu-central-1.amazonaws.com/app:v2",
                "1.dkr.ecr.eu-central-1.amazonaws.com/app@sha256:0a",
            ),
            (
                "1.dkr.ecr.eu-central-1.amazonaws.com/team/app",
                "1.dkr.ecr.eu-central-1.amazonaws.com/team/app@sha256:0a",
            ),
            (
                "1.dkr.ecr.eu-central-1.amazonaws.com/app@sha256:ff",
                "1.dkr.ecr.eu-central-1.amazonaws.com/app@sha256:0a",
            ),
            ("localhost:5000/app:v1", "localhost:5000/app@sha256:0a"),
            ("localhost:5000/app", "localhost:5000/app@sha256:0a"),
        ] {
            assert_eq!(pinned(reference, digest), expected, "{reference}");
        }
    }

    const CONFIGURED: &str = "1.dkr.ecr.eu-central-1.amazonaws.com/app:v1";
    const URL: &str = "1.dkr.ecr.eu-central-1.amazonaws.com/app";

    fn origin(source: ImageSource, configured: &str, requested: &str) -> ImageOrigin {
        ImageOrigin {
            source,
            configured: configured.into(),
            requested: requested.into(),
        }
    }

    fn running(image: &str, origin: Option<ImageOrigin>) -> Revision {
        Revision {
            arn: "arn:aws:ecs:eu-central-1:1:task-definition/app:3".into(),
            image: image.into(),
            origin,
            previous: None,
        }
    }

    fn new(reference: &str, source: ImageSource, asked: Asked) -> Wanted {
        Wanted::New {
            reference: reference.into(),
            source,
            asked,
        }
    }

    /// The case of issue 12: CI deployed `--image-tag v3`, and the runner lost its state. The
    /// revision that runs says so, and a plain run keeps it.
    #[test]
    fn what_runs_is_kept_while_the_configured_image_is_what_it_was_derived_from() {
        let v3 = origin(ImageSource::Override, CONFIGURED, &format!("{URL}:v3"));
        let revision = running(&format!("{URL}@sha256:33"), Some(v3.clone()));
        assert_eq!(
            wanted(None, Some(URL), CONFIGURED, Some(&revision), None),
            Wanted::Keep(DeployImage {
                image: format!("{URL}@sha256:33"),
                origin: v3,
            })
        );
        // Once the configuration names another image, that one is deployed.
        assert_eq!(
            wanted(None, Some(URL), &format!("{URL}:v4"), Some(&revision), None),
            new(
                &format!("{URL}:v4"),
                ImageSource::Configuration,
                Asked::Configured
            )
        );
    }

    #[test]
    fn the_command_line_wins_and_names_its_source() {
        let revision = running(
            CONFIGURED,
            Some(origin(ImageSource::Configuration, CONFIGURED, CONFIGURED)),
        );
        let tag = ImageChoice::Tag("v2".into());
        assert_eq!(
            wanted(Some(&tag), Some(URL), CONFIGURED, Some(&revision), None),
            new(
                &format!("{URL}:v2"),
                ImageSource::Override,
                Asked::Tag("v2".into())
            )
        );
        // The configured image, asked for by hand, is the configured image.
        let uri = ImageChoice::Uri(CONFIGURED.into());
        assert_eq!(
            wanted(Some(&uri), Some(URL), CONFIGURED, Some(&revision), None),
            new(CONFIGURED, ImageSource::Configuration, Asked::Uri)
        );
    }

    #[test]
    fn nothing_running_deploys_the_configured_image() {
        assert_eq!(
            wanted(None, None, CONFIGURED, None, None),
            new(CONFIGURED, ImageSource::Configuration, Asked::Configured)
        );
    }

    #[test]
    fn tags_that_do_not_describe_the_image_are_not_believed() {
        let tags = origin(ImageSource::Configuration, CONFIGURED, CONFIGURED);
        let by_hand = running("nginx:1.27", Some(tags.clone()));
        assert_eq!(
            wanted(None, Some(URL), CONFIGURED, Some(&by_hand), None),
            new(CONFIGURED, ImageSource::Configuration, Asked::Configured)
        );
        let pinned_configured = running(&format!("{URL}@sha256:11"), Some(tags.clone()));
        assert_eq!(
            wanted(None, Some(URL), CONFIGURED, Some(&pinned_configured), None),
            Wanted::Keep(DeployImage {
                image: format!("{URL}@sha256:11"),
                origin: tags,
            })
        );
    }

    /// A revision registered before revisions were tagged: the state's cache of the override
    /// stands in, as it did before.
    #[test]
    fn an_untagged_revision_falls_back_to_the_states_cache() {
        let v2 = format!("{URL}:v2");
        let cache = ImageOverride {
            image: v2.clone(),
            configured: CONFIGURED.into(),
        };
        let revision = running(&v2, None);
        assert_eq!(
            wanted(None, Some(URL), CONFIGURED, Some(&revision), Some(&cache)),
            Wanted::Keep(DeployImage {
                image: v2.clone(),
                origin: origin(ImageSource::Override, CONFIGURED, &v2),
            })
        );
        assert_eq!(
            wanted(None, Some(URL), CONFIGURED, Some(&revision), None),
            new(CONFIGURED, ImageSource::Configuration, Asked::Configured)
        );
        let configured = running(CONFIGURED, None);
        assert_eq!(
            wanted(None, Some(URL), CONFIGURED, Some(&configured), None),
            Wanted::Keep(DeployImage {
                image: CONFIGURED.into(),
                origin: origin(ImageSource::Configuration, CONFIGURED, CONFIGURED),
            })
        );
    }
}
