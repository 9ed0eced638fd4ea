//! `deployer import --from-terraform FILE`: takes over a stack that Terraform made. The
//! workflow is [`crate::ops::import`]; this adapts the arguments and prints what it found and
//! the plan `apply` would then run.

use std::path::PathBuf;

use anyhow::{anyhow, Result};
use clap::Args;

use super::report::{self, Summary};
use super::GlobalArgs;
use crate::exit::{Exit, ExitError};
use crate::ops::import::{self, ImportOptions};
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  terraform show -json > tf-state.json
  deployer import --from-terraform tf-state.json --env dev
  deployer import --from-terraform terraform.tfstate --env prod --project simhill

Then: terraform apply (the removed.tf written next to the state forgets the resources without
deleting them), and deployer apply --env dev (only tags the resources).
Exit 3, with the settings named, when apply would create, replace or delete a resource, register
a new task definition revision or start a deployment.")]
pub struct ImportArgs {
    /// The Terraform state to take over: `terraform show -json` output (format 1.x) or a
    /// terraform.tfstate file (version 4).
    #[arg(long, value_name = "FILE", required = true)]
    from_terraform: PathBuf,

    /// The project (default: the Project tag of the Terraform stack's ECS service).
    #[arg(long, value_name = "NAME")]
    project: Option<String>,

    /// Overwrite an existing envs/<ENV>.toml and state file.
    #[arg(long)]
    force: bool,

    /// Where to write removed.tf (default: next to the state read).
    #[arg(long, value_name = "PATH")]
    removed_tf: Option<PathBuf>,
}

pub async fn run(global: &GlobalArgs, args: &ImportArgs, printer: &Printer) -> Result<Exit> {
    let options = ImportOptions {
        target: global.target(),
        from: args.from_terraform.clone(),
        project: args.project.clone(),
        force: args.force,
        removed_tf: args.removed_tf.clone(),
    };
    let imported = import::import(&options, printer).await?;
    let takeover = &imported.takeover;
    printer.info(&format!(
        "Taking over {} resources of the Terraform state.",
        takeover.records.len()
    ));
    for address in &takeover.left_alone {
        printer.info(&format!("Left to Terraform: {address}"));
    }
    printer.info(&format!("Wrote {}", imported.config_path.display()));
    for line in report::plan_lines(&imported.plan) {
        printer.data(&line);
    }
    let summary = Summary::of_plan(&imported.plan);
    printer.data(&format!("Plan of the next apply: {}.", summary.line()));
    if !imported.refused.is_empty() {
        return Err(ExitError::new(
            Exit::InvalidInput,
            anyhow!(
                "not taken over: the next apply would not only tag the stack:\n  {}\n\
                 Nothing was recorded and no removed.tf written; {} shows the settings read \
                 from the state. Bring the state up to date (terraform apply -refresh-only) or \
                 the stack in line, then import again with --force",
                imported.refused.join("\n  "),
                imported.config_path.display()
            ),
        )
        .into());
    }
    printer.info(&format!(
        "Recorded the resources in {}",
        imported.state_location
    ));
    if let Some(removed) = &imported.removed_tf {
        printer.info(&format!(
            "Wrote {}: copy it into the Terraform configuration and run `terraform apply`, \
             which forgets these resources without deleting them; then `deployer apply`",
            removed.display()
        ));
    }
    Ok(Exit::Success)
}
