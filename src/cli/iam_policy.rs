//! `deployer iam-policy`: the least-privilege IAM policy for this environment's stack, as JSON on
//! stdout. No AWS call, no credentials, no async runtime.

use anyhow::Result;
use clap::Args;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::iam_policy::MANAGED_POLICY_MAX_CHARS;
use crate::printer::Printer;

/// Prints the IAM policy that `apply`, `plan`, `status`, `rollback` and `destroy` need.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer iam-policy --env prod > policy.json
  deployer iam-policy --env prod --split | jq -c '.[]'   # one managed policy per line")]
pub struct IamPolicyArgs {
    /// Print a JSON array of policy documents that each fit in a customer managed policy (6,144
    /// characters, whitespace not counted), instead of one document.
    #[arg(long)]
    pub split: bool,
}

pub fn run(global: &GlobalArgs, args: &IamPolicyArgs, printer: &Printer) -> Result<Exit> {
    let target = global.target();
    let mut config = target.load_config(printer)?;
    // The ARNs are those of the region the other commands would deploy to.
    config.region = target.region(&config).to_owned();
    let policy = crate::iam_policy::policy(&config);
    if args.split {
        let parts = policy.split(MANAGED_POLICY_MAX_CHARS);
        printer.data(&serde_json::to_string_pretty(&parts)?);
        return Ok(Exit::Success);
    }
    printer.data(&serde_json::to_string_pretty(&policy)?);
    let size = policy.size();
    if size > MANAGED_POLICY_MAX_CHARS {
        // Still a valid policy: only where it may be attached is narrower.
        printer.warn(&format!(
            "this policy has {size} characters (whitespace not counted), more than the \
             {MANAGED_POLICY_MAX_CHARS} of a customer managed policy: attach it as an inline \
             policy of the role (up to 10,240 characters), or print it with --split as \
             documents that each fit in a managed policy"
        ));
    }
    Ok(Exit::Success)
}
