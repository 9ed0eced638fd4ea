//! The names and tags of everything the deployer makes.
//!
//! Every resource is named `{project}-{environment}-{type}` and tagged with the project, the
//! environment and `ManagedBy=deployer`. Because names are deterministic, a lost state file costs
//! nothing: each resource can be found again by its name, and its tags prove that it is ours.
//!
//! A `[names]` table in the configuration overrides any of these names, for a stack whose
//! resources were named by another tool (see `deployer import`); this module is still the one
//! place names come from.
//!
//! The suffixes come from [`crate::config::suffix`], the same constants configuration validation
//! checks against AWS's name length limits, so every name built here is one that was checked.

use crate::config::{suffix, Config};

/// The value of the `ManagedBy` tag on everything this tool creates.
pub const MANAGED_BY: &str = "deployer";

/// The default name of the task role's inline policy, which holds `[[task_role.statements]]`.
pub const TASK_ROLE_POLICY: &str = "app-permissions";

/// The tag `AdoptedBy=deployer`, put beside the owner tags on an ECR repository this tool took
/// over (`import`, `apply --adopt`) rather than created. Its images are someone else's to
/// delete: `destroy` keeps such a repository while it holds images, unless
/// `--force-delete-images`. A tag rather than a mark in the state, because the state is a cache
/// (a lost one changes no plan) while the repository and its tags are what lasts.
pub const ADOPTED_TAG: (&str, &str) = ("AdoptedBy", MANAGED_BY);

/// Names of every resource of one environment, derived once from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub alb_security_group: String,
    pub ecs_security_group: String,
    pub ecr_repository: String,
    pub execution_role: String,
    pub task_role: String,
    /// The task role's inline policy (not of the `{project}-{environment}-` pattern).
    pub task_role_policy: String,
    pub log_group: String,
    pub load_balancer: String,
    pub target_group: String,
    pub cluster: String,
    pub task_family: String,
    pub service: String,
}

impl Names {
    /// The names of `[names]`, and the pattern's for the others.
    pub fn new(config: &Config) -> Self {
        let o = &config.names;
        let name = |given: &Option<String>, suffix: &str| {
            given
                .clone()
                .unwrap_or_else(|| config.resource_name(suffix))
        };
        Self {
            alb_security_group: name(&o.alb_security_group, suffix::ALB_SECURITY_GROUP),
            ecs_security_group: name(&o.ecs_security_group, suffix::ECS_SECURITY_GROUP),
            ecr_repository: name(&o.ecr_repository, suffix::ECR_REPOSITORY),
            execution_role: name(&o.execution_role, suffix::TASK_EXECUTION_ROLE),
            task_role: name(&o.task_role, suffix::TASK_ROLE),
            task_role_policy: o
                .task_role_policy
                .clone()
                .unwrap_or_else(|| TASK_ROLE_POLICY.to_owned()),
            log_group: name(&o.log_group, suffix::LOG_GROUP),
            load_balancer: name(&o.load_balancer, suffix::ALB),
            target_group: name(&o.target_group, suffix::TARGET_GROUP),
            cluster: name(&o.cluster, suffix::CLUSTER),
            task_family: name(&o.task_family, suffix::TASK_FAMILY),
            service: name(&o.service, suffix::SERVICE),
        }
    }

    /// The pattern's name of each key of `[names]` for `project`-`environment`: what an
    /// override is compared with to know whether it is needed. The container's is
    /// [`DEFAULT_CONTAINER_NAME`](crate::config::DEFAULT_CONTAINER_NAME).
    pub fn default_for(project: &str, environment: &str, key: &str) -> Option<String> {
        let suffix = match key {
            "alb_security_group" => suffix::ALB_SECURITY_GROUP,
            "ecs_security_group" => suffix::ECS_SECURITY_GROUP,
            "ecr_repository" => suffix::ECR_REPOSITORY,
            "execution_role" => suffix::TASK_EXECUTION_ROLE,
            "task_role" => suffix::TASK_ROLE,
            "log_group" => suffix::LOG_GROUP,
            "load_balancer" => suffix::ALB,
            "target_group" => suffix::TARGET_GROUP,
            "cluster" => suffix::CLUSTER,
            "task_family" => suffix::TASK_FAMILY,
            "service" => suffix::SERVICE,
            "container" => return Some(crate::config::DEFAULT_CONTAINER_NAME.to_owned()),
            "task_role_policy" => return Some(TASK_ROLE_POLICY.to_owned()),
            _ => return None,
        };
        Some(format!("{project}-{environment}-{suffix}"))
    }
}

/// The other name a target group of this stack may have: `{name}-b`, shortened to fit ELB's
/// 32 characters. A target group whose port or protocol changes is replaced by a new one beside
/// it (listeners and services move to it before the old one is deleted), so the two names take
/// turns: `{name}` is replaced by `{name}-b`, and `{name}-b` by `{name}`.
pub fn alternate_target_group(name: &str) -> String {
    let kept = name.get(..name.len().min(30)).unwrap_or(name);
    format!("{}-b", kept.trim_end_matches('-'))
}

/// The tags that mark a resource as belonging to one project and environment of this tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerTags {
    pub project: String,
    pub environment: String,
}

impl OwnerTags {
    pub fn new(config: &Config) -> Self {
        Self {
            project: config.project.clone(),
            environment: config.environment.clone(),
        }
    }

    /// The tags to put on a new resource, as key/value pairs in a stable order.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("Environment", self.environment.as_str()),
            ("ManagedBy", MANAGED_BY),
            ("Project", self.project.as_str()),
        ]
    }

    /// The tags as `Key=Value` pairs, for messages.
    pub fn describe(&self) -> String {
        let pairs: Vec<String> = self
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        pairs.join(", ")
    }

    /// Whether a resource's tags say that it was taken over by this tool rather than made by it
    /// ([`ADOPTED_TAG`]).
    pub fn adopted<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        tags.into_iter().any(|pair| pair == ADOPTED_TAG)
    }

    /// Whether a resource's tags say that it belongs to this project and environment.
    pub fn matches<'a>(&self, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let mut found = [false; 3];
        for (key, value) in tags {
            for (slot, (want_key, want_value)) in found.iter_mut().zip(self.pairs()) {
                if key == want_key && value == want_value {
                    *slot = true;
                }
            }
        }
        found.iter().all(|f| *f)
    }
}

/// Tags on every task definition revision this tool registers, saying which image it runs and
/// where that image came from. They make AWS the record of what runs: a runner without the state
/// file (a fresh CI runner) reads them from the revision the service runs, and keeps its image
/// unless `container.image` changed since. ECS allows these characters in tag values: image
/// references and ARNs use only letters, digits and `. _ - / : @`.
pub mod revision_tags {
    /// `configuration` or `override` ([`super::ImageSource`]).
    pub const IMAGE_SOURCE: &str = "ImageSource";
    /// `container.image` when the revision was registered.
    pub const CONFIGURED_IMAGE: &str = "ConfiguredImage";
    /// The image as asked for (`repo:v2`), before it was pinned to its digest.
    pub const REQUESTED_IMAGE: &str = "RequestedImage";
    /// The revision the service ran when this one was registered: what `rollback` goes back to.
    pub const PREVIOUS_REVISION: &str = "PreviousRevision";
}

/// Whether a revision's image is the configured one or one chosen for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSource {
    /// `container.image`.
    Configuration,
    /// `--image-tag`/`--image` (or a rollback to a revision of one).
    Override,
}

impl ImageSource {
    /// The value of the `ImageSource` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageSource::Configuration => "configuration",
            ImageSource::Override => "override",
        }
    }
}

/// Where a revision's image came from, as its tags record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOrigin {
    pub source: ImageSource,
    /// `container.image` when the revision was registered.
    pub configured: String,
    /// The image as asked for: a tag (`repo:v2`) the revision's image pins to its digest, or the
    /// revision's image itself.
    pub requested: String,
}

impl ImageOrigin {
    /// The tags that record it, as key/value pairs.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (revision_tags::IMAGE_SOURCE, self.source.as_str()),
            (revision_tags::CONFIGURED_IMAGE, self.configured.as_str()),
            (revision_tags::REQUESTED_IMAGE, self.requested.as_str()),
        ]
    }

    /// Reads it back from a revision's tags; `None` when they do not record it (a revision
    /// registered by hand, or by a deployer from before these tags).
    pub fn from_tags(tags: &[(String, String)]) -> Option<Self> {
        let get = |key: &str| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let source = match get(revision_tags::IMAGE_SOURCE)?.as_str() {
            "configuration" => ImageSource::Configuration,
            "override" => ImageSource::Override,
            _ => return None,
        };
        Some(ImageOrigin {
            source,
            configured: get(revision_tags::CONFIGURED_IMAGE)?,
            requested: get(revision_tags::REQUESTED_IMAGE)?,
        })
    }
}

/// An image in ECR, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG` (or `@sha256:...`; the FIPS
/// `dkr.ecr-fips.` and China `.amazonaws.com.cn` hosts too), taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct EcrImage<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub repository: &'a str,
    /// The tag, or the digest `sha256:...`.
    pub reference: &'a str,
}

impl<'a> EcrImage<'a> {
    /// `None` for images outside ECR.
    pub fn parse(image: &'a str) -> Option<Self> {
        let (host, rest) = image.split_once('/')?;
        let (account, domain) = host.split_once('.')?;
        let regional = domain
            .strip_prefix("dkr.ecr.")
            .or_else(|| domain.strip_prefix("dkr.ecr-fips."))?;
        let (region, suffix) = regional.split_once('.')?;
        if !matches!(suffix, "amazonaws.com" | "amazonaws.com.cn") {
            return None;
        }
        let (repository, reference) = match rest.split_once('@') {
            Some((repository, digest)) => (repository, digest),
            None => rest.rsplit_once(':').unwrap_or((rest, "latest")),
        };
        Some(EcrImage {
            account,
            region,
            repository,
            reference,
        })
    }
}

/// The digest an image reference pins (`sha256:...` after its `@`), if it pins one.
pub fn image_digest(image: &str) -> Option<&str> {
    image.split_once('@').map(|(_, digest)| digest)
}

/// The repository of an image reference, without its tag or digest (`registry:5000/app` of
/// `registry:5000/app:v2` or `registry:5000/app@sha256:...`): a tag follows the last `:` after
/// the last `/`, since a registry's port comes before.
pub fn image_repository(image: &str) -> &str {
    if let Some((repository, _)) = image.split_once('@') {
        return repository;
    }
    let slash = image.rfind('/').map_or(0, |at| at + 1);
    match image[slash..].rfind(':') {
        Some(colon) => &image[..slash + colon],
        None => image,
    }
}

/// The tag of an image reference (`v2` of `repo:v2`); `None` for one that names a digest. Docker
/// reads a reference without either as `:latest`.
pub fn image_tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    Some(name.split_once(':').map_or("latest", |(_, tag)| tag))
}

/// An image as people read it: with the tag it was asked for and the digest it was pinned to
/// (`repo:v2@sha256:...`, Docker's notation for both), or as it is when it pins nothing or
/// was asked for by digest.
pub fn shown_image(image: &str, requested: Option<&str>) -> String {
    match (image_digest(image), requested) {
        (Some(digest), Some(requested)) if !requested.contains('@') => {
            format!("{requested}@{digest}")
        }
        _ => image.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ecr(
        account: &'static str,
        region: &'static str,
        repository: &'static str,
        reference: &'static str,
    ) -> Option<EcrImage<'static>> {
        Some(EcrImage {
            account,
            region,
            repository,
            reference,
        })
    }

    #[test]
    fn ecr_images_are_split_with_their_region_and_others_are_not() {
        assert_eq!(
            EcrImage::parse("946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:abc"),
            ecr("946760796955", "eu-central-1", "flask-tp-app", "abc")
        );
        assert_eq!(
            EcrImage::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com/shared/app:v7"),
            ecr("123456789012", "us-east-1", "shared/app", "v7")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.eu-central-1.amazonaws.com/team/app@sha256:00ff"),
            ecr("1", "eu-central-1", "team/app", "sha256:00ff")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.eu-central-1.amazonaws.com/app"),
            ecr("1", "eu-central-1", "app", "latest")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr-fips.us-gov-west-1.amazonaws.com/app:1"),
            ecr("1", "us-gov-west-1", "app", "1")
        );
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1"),
            ecr("1", "cn-north-1", "app", "1")
        );
        assert_eq!(EcrImage::parse("nginx:1.27"), None);
        assert_eq!(EcrImage::parse("ghcr.io/org/app:1"), None);
        assert_eq!(
            EcrImage::parse("1.dkr.ecr.eu-central-1.example.com/app:1"),
            None
        );
    }

    use crate::config::RESOURCE_SUFFIXES;
    use std::path::Path;

    /// Renaming a suffix orphans the resources deployed under the old name, and a name built
    /// from a suffix that validation does not know escapes the length check. So the names are
    /// exactly the ones the validated table yields: one per entry, none left over.
    #[test]
    fn every_name_is_built_from_the_validated_suffixes() {
        let config = Config::from_toml_str(
            "project = \"simhill\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n\
             [container]\nimage = \"nginx:1.27\"\n",
            Path::new("names.toml"),
        )
        .unwrap();
        // No `..`: a new field fails to compile here until it is added to the comparison.
        let Names {
            alb_security_group,
            ecs_security_group,
            ecr_repository,
            execution_role,
            task_role,
            task_role_policy,
            log_group,
            load_balancer,
            target_group,
            cluster,
            task_family,
            service,
        } = Names::new(&config);
        // The one name that is not the stack's: an inline policy lives inside its role.
        assert_eq!(task_role_policy, TASK_ROLE_POLICY);
        let mut built = vec![
            alb_security_group,
            ecs_security_group,
            ecr_repository,
            execution_role,
            task_role,
            log_group,
            load_balancer,
            target_group,
            cluster,
            task_family,
            service,
        ];
        let mut checked: Vec<String> = RESOURCE_SUFFIXES
            .iter()
            .map(|(suffix, _, _)| config.resource_name(suffix))
            .collect();
        built.sort();
        checked.sort();
        assert_eq!(built, checked);
    }

    fn owner() -> OwnerTags {
        OwnerTags {
            project: "simhill".into(),
            environment: "dev".into(),
        }
    }

    #[test]
    fn all_three_tags_are_needed_to_match() {
        let full = [
            ("Project", "simhill"),
            ("Environment", "dev"),
            ("ManagedBy", "deployer"),
            ("Other", "x"),
        ];
        assert!(owner().matches(full));
        assert!(!owner().matches(full[..2].iter().copied()));
        assert!(!owner().matches([
            ("Project", "simhill"),
            ("Environment", "prod"),
            ("ManagedBy", "deployer"),
        ]));
    }

    #[test]
    fn image_origin_round_trips_through_its_tags() {
        let origin = ImageOrigin {
            source: ImageSource::Override,
            configured: "nginx:1.27".into(),
            requested: "1.dkr.ecr.eu-central-1.amazonaws.com/app:v2".into(),
        };
        let tags: Vec<(String, String)> = origin
            .pairs()
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain([("Project".to_owned(), "simhill".to_owned())])
            .collect();
        assert_eq!(ImageOrigin::from_tags(&tags), Some(origin));
        assert_eq!(
            ImageOrigin::from_tags(&tags[1..]),
            None,
            "no source, no origin"
        );
        let odd: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| {
                let v = if k == "ImageSource" { "other" } else { v };
                (k.clone(), v.to_owned())
            })
            .collect();
        assert_eq!(ImageOrigin::from_tags(&odd), None, "an unknown source");
    }

    #[test]
    fn images_show_their_tag_and_digest() {
        let pinned = "1.dkr.ecr.eu-central-1.amazonaws.com/app@sha256:ab";
        let asked = "1.dkr.ecr.eu-central-1.amazonaws.com/app:v2";
        assert_eq!(
            shown_image(pinned, Some(asked)),
            "1.dkr.ecr.eu-central-1.amazonaws.com/app:v2@sha256:ab"
        );
        assert_eq!(shown_image(pinned, Some(pinned)), pinned);
        assert_eq!(shown_image(pinned, None), pinned);
        assert_eq!(shown_image("nginx:1.27", Some("nginx:1.27")), "nginx:1.27");
        assert_eq!(image_digest(pinned), Some("sha256:ab"));
        assert_eq!(image_digest(asked), None);
        assert_eq!(image_tag(asked), Some("v2"));
        assert_eq!(image_tag("localhost:5000/app"), Some("latest"));
        assert_eq!(image_tag(pinned), None);
        assert_eq!(
            image_repository(pinned),
            "1.dkr.ecr.eu-central-1.amazonaws.com/app"
        );
        assert_eq!(
            image_repository(asked),
            "1.dkr.ecr.eu-central-1.amazonaws.com/app"
        );
        assert_eq!(image_repository("localhost:5000/app"), "localhost:5000/app");
        assert_eq!(
            image_repository("localhost:5000/app:v1"),
            "localhost:5000/app"
        );
    }

    fn with_names(table: &str) -> Result<Config, String> {
        Config::from_toml_str(
            &format!(
                "project = \"simhill\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n\
                 [container]\nimage = \"nginx:1.27\"\n[names]\n{table}"
            ),
            Path::new("names.toml"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn names_table_overrides_only_what_it_names() {
        let config = with_names(
            "ecs_security_group = \"simhill-dev-ecs-tasks-sg\"\nlog_group = \"/ecs/simhill-dev\"\n\
             container = \"simhill-dev-container\"\n",
        )
        .unwrap();
        let names = Names::new(&config);
        assert_eq!(names.ecs_security_group, "simhill-dev-ecs-tasks-sg");
        assert_eq!(names.log_group, "/ecs/simhill-dev");
        assert_eq!(names.alb_security_group, "simhill-dev-alb-sg");
        assert_eq!(names.load_balancer, "simhill-dev-alb");
        assert_eq!(config.container.name, "simhill-dev-container");
    }

    #[test]
    fn a_name_aws_refuses_is_reported_at_its_line_with_the_rule() {
        let error = with_names("load_balancer = \"simhill_dev_alb\"\n").unwrap_err();
        assert!(error.contains("names.toml:7:"), "{error}");
        assert!(error.contains("names.load_balancer"), "{error}");
        assert!(error.contains("contains '_'"), "{error}");
        let error = with_names("cluster = \"x\"\nunknown = \"y\"\n").unwrap_err();
        assert!(error.contains("unknown"), "{error}");
    }

    #[test]
    fn the_container_is_named_in_one_place() {
        let error = Config::from_toml_str(
            "project = \"simhill\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n\
             [container]\nimage = \"nginx:1.27\"\nname = \"web\"\n[names]\ncontainer = \"api\"\n",
            Path::new("names.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("names.container"), "{error}");
        assert!(error.contains("one of the two places"), "{error}");
    }

    #[test]
    fn default_for_is_the_pattern() {
        assert_eq!(
            Names::default_for("simhill", "dev", "ecs_security_group").as_deref(),
            Some("simhill-dev-ecs-sg")
        );
        assert_eq!(
            Names::default_for("simhill", "dev", "container").as_deref(),
            Some("app")
        );
        assert_eq!(Names::default_for("simhill", "dev", "nothing"), None);
    }
}
