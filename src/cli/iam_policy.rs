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
    let (size, max) = (policy.size(), crate::iam_policy::MANAGED_POLICY_MAX_CHARS);
    if size > max {
        // Still a valid policy: only where it may be attached is narrower.
        printer.warn(&format!(
            "this policy has {size} characters (whitespace not counted), more than the {max} \
             of a customer managed policy: attach it as an inline policy of the role \
             (up to 10,240 characters), or split its statements into two managed policies"
        ));
    }
    Ok(Exit::Success)
}
