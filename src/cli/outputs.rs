//! `deployer outputs`: the stack's outputs from the state. It is called from scripts and must
//! answer at once: with the local backend it makes no network call and needs no credentials; with
//! the S3 backend it makes one `GetObject` and nothing else.

use anyhow::{anyhow, Result};
use clap::Args;

use super::GlobalArgs;
use crate::exit::{Exit, ExitError};
use crate::ops::outputs::OUTPUT_NAMES;
use crate::printer::Printer;

#[derive(Debug, Args)]
pub struct OutputsArgs {
    /// Print only this output's bare value (for `$(deployer outputs alb_dns_name)`).
    #[arg(value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(OUTPUT_NAMES))]
    name: Option<String>,

    /// Print JSON: an object of all outputs, or the one value as a JSON string.
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, args: &OutputsArgs, printer: &Printer) -> Result<Exit> {
    let (config, location, outputs) =
        crate::ops::outputs::recorded(&global.target(), printer).await?;
    if outputs.is_empty() {
        return Err(anyhow!(
            "no outputs recorded for {}-{} in {}: run `deployer apply --env {}` first",
            config.project,
            config.environment,
            location,
            config.environment
        ));
    }
    match &args.name {
        Some(name) => {
            let value = outputs.get(name).ok_or_else(|| {
                ExitError::new(
                    Exit::Error,
                    anyhow!(
                        "output {name} is not recorded in {}; run `deployer apply` to refresh \
                         the outputs",
                        location
                    ),
                )
            })?;
            if args.json {
                printer.data(&serde_json::to_string(value)?);
            } else {
                printer.data(value);
            }
        }
        None if args.json => printer.data(&serde_json::to_string_pretty(&outputs)?),
        None => {
            for name in OUTPUT_NAMES {
                if let Some(value) = outputs.get(name) {
                    printer.data(&format!("{name} = {value}"));
                }
            }
        }
    }
    Ok(Exit::Success)
}
