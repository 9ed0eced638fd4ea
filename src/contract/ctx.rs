//! What a run shares between its steps ([`Ctx`]) and what earlier steps tell later ones
//! ([`Facts`]).

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::sync::OnceCell;

use aws_sdk_ecs::types::Service;
use aws_sdk_elasticloadbalancingv2::types::Listener;

use crate::aws::ecs::{active, describe_services, SERVICE_READ};
use crate::aws::listeners::{self, LISTENERS_READ};
use crate::aws::retry::Budget;
use crate::aws::{AwsClients, ElbTagBatch};
use crate::config::Config;
use crate::names::{ImageOrigin, ImageSource, Names, OwnerTags};
use crate::printer::Printer;
use crate::state::{ImageOverride, ResourceRecord, State};

/// Shown in a plan where a value depends on a resource that does not exist yet.
pub const UNKNOWN: &str = "(known after apply)";

/// What earlier steps found or made, for the steps after them.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub vpc_id: Option<String>,
    /// The tasks' subnets.
    pub subnet_ids: Vec<String>,
    /// The load balancer's subnets.
    pub load_balancer_subnet_ids: Vec<String>,
    /// Whether the tasks get a public IP (`None` until the network is read: the default VPC's
    /// `true`).
    pub assign_public_ip: Option<bool>,
    pub alb_security_group_id: Option<String>,
    pub ecs_security_group_id: Option<String>,
    pub repository_url: Option<String>,
    pub execution_role_arn: Option<String>,
    /// When IAM created the execution role, for telling its propagation from real failures.
    pub execution_role_created: Option<std::time::SystemTime>,
    /// The task role's ARN; `None` also when `[task_role]` asks for none.
    pub task_role_arn: Option<String>,
    pub log_group_name: Option<String>,
    pub load_balancer_arn: Option<String>,
    pub load_balancer_dns_name: Option<String>,
    pub load_balancer_zone_id: Option<String>,
    /// The Route 53 hosted zone of `https.hosted_zone`, without its `/hostedzone/` prefix.
    pub hosted_zone_id: Option<String>,
    /// `https.certificate_arn`, once ACM has shown it exists and is issued.
    pub given_certificate_arn: Option<String>,
    /// The certificate requested for `https.domain`.
    pub requested_certificate_arn: Option<String>,
    pub target_group_arn: Option<String>,
    pub listener_arn: Option<String>,
    pub cluster_arn: Option<String>,
    pub task_definition_arn: Option<String>,
    /// The task definition revision the task definition step found (the one the service runs),
    /// with its image and that image's origin.
    pub task_definition_revision: Option<Revision>,
    pub service_arn: Option<String>,
    /// The ARN of the service's Application Auto Scaling scalable target, which carries the
    /// owner tags of its scaling policies; `None` while there is none.
    pub scalable_target_arn: Option<String>,
    /// The service's PRIMARY deployment: after a create or update, the one this run started.
    pub deployment_id: Option<String>,
    /// A target group being replaced: until the service runs in its replacement, the listener
    /// keeps forwarding to it and the service stays registered in it.
    pub retiring_target_group_arn: Option<String>,
}

/// A value of a fact, or [`UNKNOWN`] while its step has not run.
pub fn known(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| UNKNOWN.to_owned())
}

/// A task definition revision as the workflows see it: its image, and what its tags record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub arn: String,
    /// The app container's image.
    pub image: String,
    /// Where the image came from; `None` when the tags do not say (a revision registered by
    /// hand, or by a deployer from before these tags).
    pub origin: Option<ImageOrigin>,
    /// The revision the service ran when this one was registered, as its tags record it.
    pub previous: Option<String>,
}

/// The image the task definition is to run, and where it came from: decided by the workflow
/// once the stack has been read (it keeps what runs unless asked otherwise), before the plan is
/// judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployImage {
    /// As the revision names it: `repo@sha256:...` once pinned to a digest.
    pub image: String,
    pub origin: ImageOrigin,
}

impl DeployImage {
    /// The configured image, as it is written.
    pub fn configured(config: &Config) -> Self {
        DeployImage {
            image: config.container.image.clone(),
            origin: ImageOrigin {
                source: ImageSource::Configuration,
                configured: config.container.image.clone(),
                requested: config.container.image.clone(),
            },
        }
    }

    /// What the state caches about it: the override, or nothing for the configured image.
    pub fn image_override(&self) -> Option<ImageOverride> {
        (self.origin.source == ImageSource::Override).then(|| ImageOverride {
            image: self.image.clone(),
            configured: self.origin.configured.clone(),
        })
    }
}

/// Where a run is in replacing a resource without downtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Stage {
    /// No replacement: converge to the configuration.
    #[default]
    Converge,
    /// The replacement is made and what uses the old one starts using it too: only additions
    /// (a security group opens the new port and keeps the old one).
    Expand,
    /// The service runs in the replacement: move the rest over, remove what only the old one
    /// needed.
    Finish,
}

/// Everything a run shares between its steps. Read-only for the resources: what a run changes
/// is recorded by the engine, through the state's one owner.
pub struct Ctx {
    pub config: Config,
    pub names: Names,
    pub owner: OwnerTags,
    pub aws: AwsClients,
    pub printer: Printer,
    /// The image the task definition runs: the configured one until the workflow decides.
    pub image: DeployImage,
    /// The state as it was when the run started.
    pub recorded: State,
    /// Tags of the load balancer, target group and listener, read in one call.
    pub elb_tags: ElbTagBatch,
    /// Where the run is in a replacement; set by the workflow between its passes.
    pub stage: Stage,
    /// `destroy --force-delete-images`: a repository this tool took over is deleted with its
    /// images too (by default it is kept while it holds any).
    pub force_delete_images: bool,
    memo: Memo,
}

impl Ctx {
    pub fn new(config: Config, aws: AwsClients, recorded: Option<State>, printer: Printer) -> Self {
        let recorded = recorded
            .unwrap_or_else(|| State::new(&config.project, &config.environment, &aws.region));
        let image = DeployImage::configured(&config);
        Self {
            image,
            names: Names::new(&config),
            owner: OwnerTags::new(&config),
            config,
            aws,
            printer,
            recorded,
            elb_tags: ElbTagBatch::default(),
            stage: Stage::default(),
            force_delete_images: false,
            memo: Memo::default(),
        }
    }

    /// How long to wait for a new IAM role (or a new listener) to be usable.
    pub fn iam_budget(&self) -> Budget {
        Budget {
            limit: Duration::from_secs(self.config.timeouts.iam_propagation.into()),
            setting: "timeouts.iam_propagation",
        }
    }

    /// How long to wait for ACM to issue a requested certificate.
    pub fn certificate_budget(&self) -> Budget {
        Budget {
            limit: Duration::from_secs(self.config.timeouts.certificate_validation.into()),
            setting: "timeouts.certificate_validation",
        }
    }

    /// The certificate the HTTPS listener serves: the given one, or the one requested.
    pub fn certificate_arn(&self, facts: &Facts) -> Option<String> {
        let https = self.config.https.as_ref()?;
        Some(match &https.certificate_arn {
            Some(_) => known(&facts.given_certificate_arn),
            None => known(&facts.requested_certificate_arn),
        })
    }

    /// How long to wait for Route 53 to apply a change everywhere.
    pub fn dns_budget(&self) -> Budget {
        Budget {
            limit: Duration::from_secs(self.config.timeouts.dns_propagation.into()),
            setting: "timeouts.dns_propagation",
        }
    }

    /// How long to wait for a deleted resource to let go of what it used.
    pub fn release_budget(&self) -> Budget {
        Budget {
            limit: Duration::from_secs(self.config.timeouts.resource_release.into()),
            setting: "timeouts.resource_release",
        }
    }

    /// What the state recorded for a step when the run started.
    pub fn recorded(&self, key: &str) -> Option<&ResourceRecord> {
        self.recorded.resources.get(key)
    }

    /// A read that several steps share, made once per run by whichever asks first.
    pub async fn read_once<T, F, Fut>(&self, key: &'static str, read: F) -> Result<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.memo.get_or_try_init(key, read).await
    }

    /// The stack's ECS service as [`describe_services`] lists it, asked once per run: the
    /// service's step, the task definition's (which compares with the revision the service
    /// runs) and `apply`'s check for an unfinished replacement share one `DescribeServices`.
    pub async fn services(&self) -> Result<Arc<Vec<Service>>> {
        self.read_once(SERVICE_READ, || {
            describe_services(&self.aws.ecs, &self.names.cluster, &self.names.service)
        })
        .await
    }

    /// The stack's ECS service when it is ACTIVE, from the shared read. Errors: the read's, or
    /// that the service does not exist and that `deployer apply` makes it.
    pub async fn active_service(&self) -> Result<Service> {
        let services = self.services().await?;
        active(&services).cloned().ok_or_else(|| {
            anyhow!(
                "ECS service {} does not exist; deploy it with `deployer apply --env {}`",
                self.names.service,
                self.config.environment
            )
        })
    }

    /// The listener of the stack's load balancer that `pick` takes (see [`listeners::forwarding`]
    /// and [`listeners::redirecting`]), from one `DescribeListeners` per run that both listener
    /// steps share; `None` before the load balancer exists, or when `pick` takes none. The
    /// listener's ARN joins the batch of tags read in one call ([`ElbTagBatch`]).
    pub async fn listener(
        &self,
        facts: &Facts,
        pick: for<'a> fn(&Config, &'a [Listener]) -> Option<&'a Listener>,
    ) -> Result<Option<Listener>> {
        // No load balancer yet, so no listener either: nothing to ask.
        let Some(load_balancer_arn) = &facts.load_balancer_arn else {
            return Ok(None);
        };
        let all = self
            .read_once(LISTENERS_READ, || {
                listeners::describe(&self.aws.elb, load_balancer_arn)
            })
            .await?;
        let found = pick(&self.config, &all);
        if let Some(arn) = found.and_then(|l| l.listener_arn()) {
            self.elb_tags.remember(arn);
        }
        Ok(found.cloned())
    }

    /// Forgets the shared reads: once the stack has been read, a later read (of a resource a
    /// lost create answer left behind) must ask AWS again.
    pub fn forget_shared_reads(&self) {
        self.memo
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A value computed once, of whatever type its reader gave it.
type Cell = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

/// Values computed once per run, by key.
#[derive(Default)]
struct Memo {
    cells: Mutex<HashMap<&'static str, Cell>>,
}

impl Memo {
    async fn get_or_try_init<T, F, Fut>(&self, key: &'static str, init: F) -> Result<Arc<T>>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        let value = cell
            .get_or_try_init(|| async {
                let value: Arc<dyn Any + Send + Sync> = Arc::new(init().await?);
                Ok::<_, anyhow::Error>(value)
            })
            .await?
            .clone();
        value
            .downcast::<T>()
            .map_err(|_| anyhow!("internal error: the shared read {key} holds another type"))
    }
}
