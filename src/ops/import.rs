//! `import --from-terraform`: takes over a running stack that Terraform made, without
//! changing anything in AWS. It writes the configuration that describes the stack as it is and
//! a state that records its resources, then plans `apply` against the live account (reads
//! only) and accepts the takeover only when that plan creates, replaces and deletes nothing and
//! starts no deployment. Then it writes `removed.tf`, so that Terraform forgets the resources
//! without deleting them.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _, Result};

use super::takeover::{take_over, Takeover};
use super::{Session, Target};
use crate::aws::vpc::{default_network, DefaultNetwork};
use crate::config::{parse_state_url, Config, NetworkConfig};
use crate::contract::Change;
use crate::engine::{Action, Operation, Plan};
use crate::exit::{Exit, ExitError};
use crate::printer::Printer;
use crate::state::State;
use crate::terraform;

/// What to import, and where to.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub target: Target,
    /// `terraform show -json` output or a `terraform.tfstate`.
    pub from: PathBuf,
    /// The project, when the service has no `Project` tag (or another one is wanted).
    pub project: Option<String>,
    /// Overwrite an existing configuration file and state.
    pub force: bool,
    /// Where `removed.tf` goes (default: next to the state read).
    pub removed_tf: Option<PathBuf>,
}

/// What an import did.
pub struct Imported {
    pub config_path: PathBuf,
    /// Where the state was written: a file path or an `s3://` URL.
    pub state_location: String,
    /// Written only when the plan passed.
    pub removed_tf: Option<PathBuf>,
    pub takeover: Takeover,
    pub plan: Plan,
    /// Why the plan does more than tag and change settings in place, one reason a line;
    /// empty when the takeover is accepted.
    pub refused: Vec<String>,
}

fn invalid(error: impl Into<anyhow::Error>) -> anyhow::Error {
    ExitError::new(Exit::InvalidInput, error).into()
}

/// The configuration as written to `envs/<env>.toml`.
pub fn config_text(config: &Config, from: &Path) -> Result<String> {
    let body = toml::to_string(config).context("writing the configuration as TOML")?;
    Ok(format!(
        "# Taken over from the Terraform state {} by `deployer import`: every value is the\n\
         # running stack's. See envs/dev.toml in the deployer repository for each key's meaning.\n\n\
         {body}",
        from.display()
    ))
}

/// Whether a stack runs where one without `[network]` runs: the default VPC, its default
/// subnets (all of them, for the tasks and the load balancer alike) and public IPs. Pure.
pub fn runs_as_default(network: &NetworkConfig, default: &DefaultNetwork) -> bool {
    let sorted = |subnets: &[String]| {
        let mut subnets = subnets.to_vec();
        subnets.sort();
        subnets
    };
    network.vpc_id == default.vpc_id
        && sorted(&network.subnets) == default.subnet_ids
        && sorted(&network.load_balancer_subnets) == default.subnet_ids
        && network.assign_public_ip
}

/// Why a step's planned outcome is not a takeover that leaves the running stack as it is;
/// `None` when it is.
///
/// Only tags are accepted, and what deployer does to every stack of its own without touching
/// what serves traffic: the task role's trust narrowed to this account, the ECR lifecycle
/// policy. Any other change means the Terraform state is not what runs (a desired count an
/// autoscaler or a person changed, a rule added by hand): the configuration written from the
/// state would undo it. A service starts a deployment when its task definition, network
/// configuration or load balancers change.
pub fn refusal(step: &str, action: &Action) -> Option<String> {
    const HOUSEKEEPING: &[&str] = &["tags", "trust_policy", "lifecycle_policy"];
    const DEPLOYING: &[&str] = &[
        "task_definition",
        "subnets",
        "security_groups",
        "assign_public_ip",
        "load_balancers",
        "launch_type",
        "capacity_provider_strategy",
    ];
    // Another deployer environment's resource: taking it over would make the two fight over
    // its tags, and destroying either would delete the other's stack.
    if let Action::Update(changes) | Action::Replace(changes) = action {
        let ours = format!("ManagedBy={}", crate::names::MANAGED_BY);
        if let Some(tags) = changes
            .iter()
            .find(|c| c.field == "tags" && c.old.contains(&ours))
        {
            return Some(format!(
                "{step}: already managed by deployer ({}); import takes over only what no \
                 deployer stack manages",
                tags.old
            ));
        }
    }
    // The changes `keep` picks, as `step.field (old -> new)`, joined; `None` when there are none.
    let named = |changes: &[Change], keep: &dyn Fn(&Change) -> bool| {
        let fields: Vec<String> = changes
            .iter()
            .filter(|c| keep(c))
            .map(|c| format!("{step}.{} ({} -> {})", c.field, c.old, c.new))
            .collect();
        (!fields.is_empty()).then(|| fields.join(", "))
    };
    let differs = |changes: &[Change]| {
        named(changes, &|c| !HOUSEKEEPING.contains(&c.field.as_str())).map(|fields| {
            format!(
                "{fields}: the running stack differs from the Terraform state, and apply would \
                 change it back"
            )
        })
    };
    match action {
        Action::Create => Some(format!("{step}: would be created")),
        Action::Delete | Action::Retire => Some(format!("{step}: would be deleted")),
        Action::Replace(changes) => Some(named(changes, &|c| c.forces_replacement).map_or_else(
            || format!("{step}: would be replaced"),
            |fields| format!("{step}: would be replaced for {fields}"),
        )),
        Action::Update(changes) if step == "task_definition" => {
            named(changes, &|c| c.field != "tags")
                .map(|fields| format!("{fields}: would register a new revision and deploy it"))
        }
        Action::Update(changes) if step == "service" => {
            named(changes, &|c| DEPLOYING.contains(&c.field.as_str()))
                .map(|fields| format!("{fields}: would start a deployment"))
                .or_else(|| differs(changes))
        }
        Action::Update(changes) => differs(changes),
        _ => None,
    }
}

/// Runs the import (see the module documentation). Holds the environment's lock, as `apply`
/// does, from before anything is written until the plan is judged, and reads the state once.
/// Refuses, with the state it wrote taken back (the state there was before, with `--force`, is
/// put back; the configuration stays, to be read), when the plan does more than tag.
pub async fn import(options: &ImportOptions, printer: &Printer) -> Result<Imported> {
    let resources = terraform::load(&options.from).map_err(invalid)?;
    let mut takeover = take_over(&resources, options.project.as_deref(), &options.target.env)
        .map_err(|message| invalid(anyhow!("{}: {message}", options.from.display())))?;
    if let Err(problems) = takeover.config.validate() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(invalid(anyhow!(
            "{}: the stack has settings deployer cannot manage:\n  {}",
            options.from.display(),
            lines.join("\n  ")
        )));
    }
    let target = &options.target;
    let config_path = target.config_path();
    if !options.force && config_path.exists() {
        return Err(invalid(anyhow!(
            "{} already exists; move it aside, or pass --force to overwrite it",
            config_path.display()
        )));
    }
    // The state goes where the written configuration (with `--state`, if given) keeps it.
    let mut placed = takeover.config.clone();
    if let Some(url) = &target.state {
        placed.state = parse_state_url(url, &placed.state)
            .map_err(|why| invalid(anyhow!("--state: {why}")))?;
        // Written into the configuration, so that the next commands find the state without
        // being told again.
        takeover.config.state = placed.state.clone();
    }
    // The lock first: while another run holds it, nothing is written, not even the
    // configuration.
    let mut session = target.open_with(placed, printer, Some("import")).await?;
    if session.found_state && !options.force {
        return Err(invalid(anyhow!(
            "{} already exists; move it aside, or pass --force to overwrite it",
            session.store.location()
        )));
    }
    let previous = session.found_state.then(|| session.store.snapshot());
    // Without `[network]` a stack runs in the default VPC's default subnets, with public IPs:
    // the table is written only for a stack that runs anywhere else.
    if let Some(found) = &takeover.config.network {
        let default = default_network(&session.ctx.aws.ec2).await?;
        if default.is_some_and(|default| runs_as_default(found, &default)) {
            takeover.config.network = None;
        }
    }
    session.ctx.config.network = takeover.config.network.clone();

    let text = config_text(&takeover.config, &options.from)?;
    if let Some(dir) = config_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&config_path, text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let mut state = State::new(
        &takeover.config.project,
        &takeover.config.environment,
        &takeover.config.region,
    );
    for (key, record) in &takeover.records {
        state.resources.insert((*key).to_owned(), record.clone());
    }
    // The revision that runs needs no record: AWS keeps it (the service names it).
    session.store.replace(state.clone())?;
    session.ctx.recorded = state;
    // Not taken over: nothing records the resources as this stack's.
    let take_back = |session: &Session| match &previous {
        Some(previous) => session.store.replace(previous.clone()),
        None => session.store.remove(),
    };

    let planned = super::plan::read(
        &session,
        &super::plan::Scope::whole(),
        Operation::Apply,
        false,
    )
    .await;
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => {
            take_back(&session)?;
            return Err(e);
        }
    };
    let refused: Vec<String> = plan
        .outcomes()
        .iter()
        .filter_map(|(step, outcome)| refusal(step.key(), &outcome.action))
        .chain(
            plan.retiring
                .iter()
                .map(|(step, id)| format!("{}: {id} would be deleted", step.key())),
        )
        .collect();
    let removed_tf = if refused.is_empty() {
        let path = options.removed_tf.clone().unwrap_or_else(|| {
            options
                .from
                .parent()
                .unwrap_or(Path::new("."))
                .join("removed.tf")
        });
        let addresses: Vec<&str> = takeover.removed.iter().map(String::as_str).collect();
        std::fs::write(&path, terraform::removed_blocks(&addresses))
            .with_context(|| format!("writing {}", path.display()))?;
        Some(path)
    } else {
        take_back(&session)?;
        None
    };
    Ok(Imported {
        config_path,
        state_location: session.store.location(),
        removed_tf,
        takeover,
        plan,
        refused,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Change;

    #[test]
    fn only_the_default_vpcs_default_subnets_with_public_ips_need_no_network_table() {
        let default = DefaultNetwork {
            vpc_id: "vpc-0a1b2c3d".into(),
            subnet_ids: vec!["subnet-0000000a".into(), "subnet-0000000b".into()],
            described: Vec::new(),
        };
        let network = NetworkConfig {
            vpc_id: "vpc-0a1b2c3d".into(),
            subnets: vec!["subnet-0000000b".into(), "subnet-0000000a".into()],
            load_balancer_subnets: vec!["subnet-0000000a".into(), "subnet-0000000b".into()],
            assign_public_ip: true,
        };
        assert!(runs_as_default(&network, &default), "in any order");
        let other_vpc = NetworkConfig {
            vpc_id: "vpc-1a1b2c3d".into(),
            ..network.clone()
        };
        assert!(!runs_as_default(&other_vpc, &default));
        let fewer = NetworkConfig {
            subnets: vec!["subnet-0000000a".into()],
            ..network.clone()
        };
        assert!(
            !runs_as_default(&fewer, &default),
            "not every default subnet"
        );
        let private = NetworkConfig {
            assign_public_ip: false,
            ..network.clone()
        };
        assert!(!runs_as_default(&private, &default));
    }

    #[test]
    fn tags_and_settings_in_place_are_accepted() {
        let tags = Action::Update(vec![Change::new("tags", "ManagedBy=terraform", "x")]);
        assert_eq!(refusal("service", &tags), None);
        assert_eq!(refusal("task_definition", &tags), None);
        let trust = Action::Update(vec![Change::new("trust_policy", "{}", "{}")]);
        assert_eq!(refusal("task_role", &trust), None);
        assert_eq!(refusal("cluster", &Action::NoChange), None);
    }

    #[test]
    fn a_new_revision_a_deployment_or_a_new_resource_is_refused_by_name() {
        let port = Action::Update(vec![Change::new("container_port", "8080", "5000")]);
        let why = refusal("task_definition", &port).unwrap_or_default();
        assert!(
            why.contains("task_definition.container_port (8080 -> 5000)"),
            "{why}"
        );
        let groups = Action::Update(vec![Change::new("security_groups", "sg-1", "sg-2")]);
        let why = refusal("service", &groups).unwrap_or_default();
        assert!(why.contains("service.security_groups"), "{why}");
        assert!(why.contains("deployment"), "{why}");
        let why = refusal("log_group", &Action::Create).unwrap_or_default();
        assert_eq!(why, "log_group: would be created");
        assert!(refusal("target_group", &Action::Delete).is_some());
    }

    #[test]
    fn import_accepted_a_stale_state_whose_apply_shrinks_or_opens_the_stack() {
        // The state said 2 tasks while 6 ran, and an ALB rule the stack has was missing.
        let count = Action::Update(vec![Change::new("desired_count", "6", "2")]);
        let why = refusal("service", &count).unwrap_or_default();
        assert!(
            why.contains("service.desired_count (6 -> 2)") && why.contains("differs"),
            "{why}"
        );
        let rule = Action::Update(vec![Change::new(
            "ingress",
            "(none)",
            "tcp 80 from 0.0.0.0/0",
        )]);
        assert!(refusal("alb_security_group", &rule).is_some());
        let retention = Action::Update(vec![Change::new("retention_days", "7", "30")]);
        assert!(refusal("log_group", &retention).is_some());
    }

    #[test]
    fn import_took_over_a_stack_another_deployer_environment_owns() {
        let owned = Action::Update(vec![Change::new(
            "tags",
            "Environment=prod, ManagedBy=deployer, Project=shop",
            "Environment=qa, ManagedBy=deployer, Project=shop",
        )]);
        let why = refusal("load_balancer", &owned).unwrap_or_default();
        assert!(
            why.contains("load_balancer: already managed by deployer (Environment=prod"),
            "{why}"
        );
    }
}
