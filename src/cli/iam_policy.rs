//! `deployer iam-policy`: the least-privilege IAM policy for this environment's stack, as JSON on
//! stdout. No AWS call, no credentials, no async runtime.

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::printer::Printer;

/// Prints the IAM policy that `apply`, `plan`, `status`, `rollback` and `destroy` need.
#[derive(Debug, Args)]
pub struct IamPolicyArgs {}

pub fn run(global: &GlobalArgs, _args: &IamPolicyArgs, printer: &Printer) -> Result<Exit> {
    let target = global.target();
    let mut config = target.load_config(printer)?;
    // The ARNs are those of the region the other commands would deploy to.
    config.region = target.region(&config).to_owned();
    let policy = crate::iam_policy::policy(&config);
    printer.data(&serde_json::to_string_pretty(&policy)?);
    Ok(Exit::Success)
}
