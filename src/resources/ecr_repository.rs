//! The ECR repository the service's images are pushed to: scan on push, tag mutability as
//! configured, and a lifecycle policy that keeps only the last N images so storage does not grow
//! without bound.
//!
//! A repository this tool created is deleted with its images. One it took over (`import`,
//! `apply --adopt`: it carries [`ADOPTED_TAG`]) holds images someone else pushed: `destroy`
//! keeps it while it holds any, unless `--force-delete-images`.

use anyhow::{Context as _, Result};
use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability};
use serde_json::{json, Value};

use crate::aws::ecr::count_images;
use crate::aws::errors::{brief, is_code};
use crate::aws::tags::{owner_tags, pairs, SdkTag};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::names::{OwnerTags, ADOPTED_TAG};
use crate::state::ResourceRecord;

pub struct EcrRepository;

#[derive(Debug, Clone)]
pub struct Live {
    pub name: String,
    pub arn: String,
    pub uri: String,
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    pub lifecycle_policy: Option<Value>,
    /// Its tags, read by `destroy` (which must know whether the repository was taken over);
    /// `None` when the read did not ask for them.
    pub tags: Option<Vec<(String, String)>>,
    /// How many images it holds: counted only by `destroy`, only for a repository of this
    /// stack that it took over, and not with `--force-delete-images`.
    pub images: Option<usize>,
}

impl Live {
    /// Whether its tags say it was taken over rather than created; also when they were not
    /// read, so that images are never deleted on a guess.
    fn adopted(&self) -> bool {
        self.tags.as_ref().map_or(true, |tags| adopted(tags))
    }
}

fn adopted(tags: &[(String, String)]) -> bool {
    OwnerTags::adopted(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub name: String,
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    /// `None` with `ecr.keep_images = 0`: the repository's lifecycle policy, if any, is not
    /// deployer's to set.
    pub lifecycle_policy: Option<Value>,
}

fn lifecycle_policy(keep: u32) -> Value {
    json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("keep the last {keep} images"),
            "selection": {
                "tagStatus": "any",
                "countType": "imageCountMoreThan",
                "countNumber": keep,
            },
            "action": { "type": "expire" },
        }]
    })
}

fn mutability(immutable: bool) -> ImageTagMutability {
    if immutable {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}

impl EcrRepository {
    async fn list_tags(ctx: &Ctx, arn: &str, name: &str) -> Result<Vec<(String, String)>> {
        let answer = ctx
            .aws
            .ecr
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .or_context(format!("reading the tags of {name}"))?;
        Ok(pairs(answer.tags()))
    }

    async fn put_lifecycle_policy(ctx: &Ctx, name: &str, policy: &Value) -> Result<()> {
        ctx.aws
            .ecr
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(policy.to_string())
            .send()
            .await
            .or_context(format!("setting the lifecycle policy of {name}"))?;
        Ok(())
    }
}

/// Why destroy keeps a repository it took over that holds `images` (counted only for such a
/// repository), unless `force` (`--force-delete-images`); `None` to delete it. An empty one is
/// deleted: it holds nothing to lose.
fn kept_reason(images: Option<usize>, force: bool) -> Option<String> {
    let images = images.filter(|n| *n > 0 && !force)?;
    let plural = if images == 1 { "image" } else { "images" };
    Some(format!(
        "it holds {images} {plural} and deployer did not create it (it was taken over by \
         `import` or `apply --adopt`): kept with them; `deployer destroy \
         --force-delete-images` deletes it and its images"
    ))
}

/// Our tags in the form this service's calls take.
impl Resource for EcrRepository {
    const STEP: StepId = StepId::new("ecr_repository", "ECR repository");
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, _: &Facts) -> Desired {
        Desired {
            name: ctx.names.ecr_repository.clone(),
            scan_on_push: ctx.config.ecr.scan_on_push,
            immutable_tags: ctx.config.ecr.immutable_tags,
            lifecycle_policy: Some(ctx.config.ecr.keep_images)
                .filter(|keep| *keep > 0)
                .map(lifecycle_policy),
        }
    }

    async fn read(ctx: &Ctx, _: &Facts, detail: Detail) -> Result<Option<Live>> {
        let name = &ctx.names.ecr_repository;
        let answer = ctx
            .aws
            .ecr
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .or_absent(
                &["RepositoryNotFoundException"],
                format!("reading ECR repository {name}"),
            )?;
        let Some(repo) = answer.as_ref().and_then(|a| a.repositories().first()) else {
            return Ok(None);
        };
        let manages_policy = ctx.config.ecr.keep_images > 0;
        let lifecycle_policy = match detail {
            Detail::Full if manages_policy => ctx
                .aws
                .ecr
                .get_lifecycle_policy()
                .repository_name(name)
                .send()
                .await
                .or_absent(
                    &["LifecyclePolicyNotFoundException"],
                    format!("reading the lifecycle policy of {name}"),
                )?
                .and_then(|p| serde_json::from_str(p.lifecycle_policy_text()?).ok()),
            Detail::Full | Detail::Identity => None,
        };
        let arn = repo.repository_arn().unwrap_or_default().to_owned();
        // Destroy reads the tags anyway (to check that the repository is ours); reading them
        // here tells, before the plan is shown, whether it was taken over and holds images.
        let (tags, images) = match detail {
            Detail::Full => (None, None),
            Detail::Identity => {
                let tags = Self::list_tags(ctx, &arn, name).await?;
                let pairs = || tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                let images =
                    if ctx.owner.matches(pairs()) && adopted(&tags) && !ctx.force_delete_images {
                        Some(count_images(&ctx.aws.ecr, name).await?)
                    } else {
                        None
                    };
                (Some(tags), images)
            }
        };
        Ok(Some(Live {
            name: name.clone(),
            tags,
            images,
            arn,
            uri: repo.repository_uri().unwrap_or_default().to_owned(),
            scan_on_push: repo
                .image_scanning_configuration()
                .is_some_and(|c| c.scan_on_push()),
            immutable_tags: repo.image_tag_mutability() == Some(&ImageTagMutability::Immutable),
            lifecycle_policy,
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        compare(
            &mut changes,
            "scan_on_push",
            &live.scan_on_push,
            &desired.scan_on_push,
        );
        compare(
            &mut changes,
            "immutable_tags",
            &live.immutable_tags,
            &desired.immutable_tags,
        );
        if let Some(wanted) = desired
            .lifecycle_policy
            .as_ref()
            .filter(|p| live.lifecycle_policy.as_ref() != Some(p))
        {
            let old = live
                .lifecycle_policy
                .as_ref()
                .map_or("(none)".to_owned(), Value::to_string);
            changes.push(Change::new("lifecycle_policy", old, wanted));
        }
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let tags = owner_tags(&ctx.owner)?;
        let created = ctx
            .aws
            .ecr
            .create_repository()
            .repository_name(&desired.name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(desired.scan_on_push)
                    .build(),
            )
            .image_tag_mutability(mutability(desired.immutable_tags))
            .set_tags(Some(tags))
            .send()
            .await
            .or_exists(
                &["RepositoryAlreadyExistsException"],
                format!("creating ECR repository {}", desired.name),
            )?;
        let Created::New(created) = created else {
            return Ok(Created::AlreadyExists);
        };
        let repo = created
            .repository()
            .context("CreateRepository returned no repository")?;
        if let Some(policy) = &desired.lifecycle_policy {
            Self::put_lifecycle_policy(ctx, &desired.name, policy).await?;
        }
        Ok(Created::New(Live {
            name: desired.name.clone(),
            arn: repo.repository_arn().unwrap_or_default().to_owned(),
            uri: repo.repository_uri().unwrap_or_default().to_owned(),
            scan_on_push: desired.scan_on_push,
            immutable_tags: desired.immutable_tags,
            lifecycle_policy: desired.lifecycle_policy.clone(),
            tags: None,
            images: None,
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        if live.scan_on_push != desired.scan_on_push {
            ctx.aws
                .ecr
                .put_image_scanning_configuration()
                .repository_name(&desired.name)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder()
                        .scan_on_push(desired.scan_on_push)
                        .build(),
                )
                .send()
                .await
                .or_context(format!("setting scan on push of {}", desired.name))?;
        }
        if live.immutable_tags != desired.immutable_tags {
            ctx.aws
                .ecr
                .put_image_tag_mutability()
                .repository_name(&desired.name)
                .image_tag_mutability(mutability(desired.immutable_tags))
                .send()
                .await
                .or_context(format!("setting tag mutability of {}", desired.name))?;
        }
        if let Some(policy) = desired
            .lifecycle_policy
            .as_ref()
            .filter(|p| live.lifecycle_policy.as_ref() != Some(p))
        {
            Self::put_lifecycle_policy(ctx, &desired.name, policy).await?;
        }
        Ok(Live {
            scan_on_push: desired.scan_on_push,
            immutable_tags: desired.immutable_tags,
            lifecycle_policy: desired
                .lifecycle_policy
                .clone()
                .or_else(|| live.lifecycle_policy.clone()),
            ..live.clone()
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        // `force` deletes the images too: right for a repository that exists only for this
        // stack. One taken over is only deleted without its images (destroy kept it if it held
        // any), so that an image pushed since the destroy's read makes ECR refuse rather than
        // delete it.
        let force = ctx.force_delete_images || !live.adopted();
        let answer = ctx
            .aws
            .ecr
            .delete_repository()
            .repository_name(&live.name)
            .force(force)
            .send()
            .await;
        match answer {
            Err(e) if is_code(&e, &["RepositoryNotEmptyException"]) => Err(anyhow::anyhow!(
                "ECR repository {} was empty when destroy read it, but holds images now; it \
                 was kept with them. Run destroy again to keep it with its images, or with \
                 --force-delete-images to delete them ({})",
                live.name,
                brief(&e)
            )),
            answer => {
                answer.or_absent(
                    &["RepositoryNotFoundException"],
                    format!("deleting ECR repository {}", live.name),
                )?;
                Ok(())
            }
        }
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        match &live.tags {
            Some(tags) => Ok(tags.clone()),
            None => Self::list_tags(ctx, &live.arn, &live.name).await,
        }
    }

    /// The owner tags, and [`ADOPTED_TAG`]: this tool did not create the repository, so its
    /// images are not this tool's to delete.
    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        let mut tags = owner_tags(&ctx.owner)?;
        tags.push(SdkTag::build(ADOPTED_TAG.0, ADOPTED_TAG.1)?);
        ctx.aws
            .ecr
            .tag_resource()
            .resource_arn(&live.arn)
            .set_tags(Some(tags))
            .send()
            .await
            .or_context(format!("tagging ECR repository {}", live.name))?;
        Ok(())
    }

    fn kept_by_destroy(ctx: &Ctx, live: &Live) -> Option<String> {
        kept_reason(live.images, ctx.force_delete_images)
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.name.clone(), Some(live.arn.clone()))
    }

    fn publish(live: &Live, facts: &mut Facts) {
        facts.repository_url = Some(live.uri.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Live {
        Live {
            name: "app-dev".into(),
            arn: "arn:aws:ecr:eu-west-1:123456789012:repository/app-dev".into(),
            uri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev".into(),
            scan_on_push: true,
            immutable_tags: false,
            lifecycle_policy: Some(lifecycle_policy(30)),
            tags: None,
            images: None,
        }
    }

    fn desired() -> Desired {
        Desired {
            name: "app-dev".into(),
            scan_on_push: true,
            immutable_tags: false,
            lifecycle_policy: Some(lifecycle_policy(30)),
        }
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn a_repository_taken_over_is_kept_only_while_it_holds_images_and_not_forced() {
        let why = kept_reason(Some(3), false).unwrap_or_default();
        assert!(
            why.starts_with("it holds 3 images and deployer did not create it"),
            "{why}"
        );
        assert!(why.contains("--force-delete-images"), "{why}");
        assert!(kept_reason(Some(1), false)
            .unwrap_or_default()
            .contains("it holds 1 image and"));
        assert_eq!(kept_reason(Some(3), true), None, "forced");
        assert_eq!(kept_reason(Some(0), false), None, "empty");
        assert_eq!(kept_reason(None, false), None, "created by this tool");
    }

    #[test]
    fn images_are_kept_when_the_tags_were_not_read() {
        assert!(live().adopted(), "no tags read: never a forced delete");
        let created = Live {
            tags: Some(vec![("ManagedBy".into(), "deployer".into())]),
            ..live()
        };
        assert!(!created.adopted());
        let taken_over = Live {
            tags: Some(vec![("AdoptedBy".into(), "deployer".into())]),
            ..live()
        };
        assert!(taken_over.adopted());
    }

    #[test]
    fn same_repository_is_no_change() {
        assert_eq!(
            EcrRepository::diff(&live(), &desired()),
            Vec::<Change>::new()
        );
    }

    #[test]
    fn lifecycle_policy_is_compared_as_json_not_text() {
        // AWS may hand back the same policy with other spacing and key order.
        let text = r#"{ "rules": [ {
            "action": { "type": "expire" },
            "selection": { "countNumber": 30, "tagStatus": "any", "countType": "imageCountMoreThan" },
            "description": "keep the last 30 images",
            "rulePriority": 1
        } ] }"#;
        let found = Live {
            lifecycle_policy: Some(serde_json::from_str(text).unwrap()),
            ..live()
        };
        assert_ne!(found.lifecycle_policy.as_ref().unwrap().to_string(), text);
        assert_eq!(
            EcrRepository::diff(&found, &desired()),
            Vec::<Change>::new()
        );
    }

    #[test]
    fn scan_on_push_change_shows_plain_booleans() {
        let found = Live {
            scan_on_push: false,
            ..live()
        };
        assert_eq!(
            EcrRepository::diff(&found, &desired()),
            [change("scan_on_push", "false", "true")]
        );
    }

    #[test]
    fn tag_mutability_change_shows_plain_booleans() {
        let wanted = Desired {
            immutable_tags: true,
            ..desired()
        };
        assert_eq!(
            EcrRepository::diff(&live(), &wanted),
            [change("immutable_tags", "false", "true")]
        );
    }

    #[test]
    fn lifecycle_policy_change_shows_both_policies_as_compact_json() {
        let fewer = Desired {
            lifecycle_policy: Some(lifecycle_policy(10)),
            ..desired()
        };
        let changes = EcrRepository::diff(&live(), &fewer);
        assert_eq!(
            changes,
            [change(
                "lifecycle_policy",
                &lifecycle_policy(30).to_string(),
                &lifecycle_policy(10).to_string()
            )]
        );
        assert!(changes[0].old.starts_with(r#"{"rules":[{"#));
        assert!(changes[0].old.contains(r#""countNumber":30"#));
        assert!(changes[0].new.contains(r#""countNumber":10"#));
    }

    #[test]
    fn missing_lifecycle_policy_shows_as_none() {
        let found = Live {
            lifecycle_policy: None,
            ..live()
        };
        assert_eq!(
            EcrRepository::diff(&found, &desired()),
            [change(
                "lifecycle_policy",
                "(none)",
                &lifecycle_policy(30).to_string()
            )]
        );
    }
}
