//! `deployer logs`: the stack's log lines with their time and task, optionally followed. The
//! workflow is [`crate::ops::logs`]; this adapts the arguments and prints.

use anyhow::{anyhow, Result};
use clap::Args;

use super::GlobalArgs;
use crate::exit::{Exit, ExitError};
use crate::interrupt::Interrupt;
use crate::ops::logs::{self, now_ms, parse_since, LogsOptions};
use crate::printer::Printer;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  deployer logs --env prod --since 2h --filter ERROR
  deployer logs --follow                          new lines as they come, until Ctrl-C
  deployer logs --task 0f1e2d3c4b5a --since 2026-11-29T16:00:00Z
  deployer logs --since 1d --json | jq -r .message

Each line is TIME TASK MESSAGE (time in UTC); with --json, one object per line:
{\"time\": \"...\", \"task\": \"...\", \"message\": \"...\"}.

Exit codes: 0 (also when Ctrl-C ends --follow), 1 error, 3 invalid input.")]
pub struct LogsArgs {
    /// Keep printing new lines as they are written, until Ctrl-C.
    #[arg(long, short = 'f')]
    follow: bool,

    /// From when: a duration back from now (90s, 10m, 2h, 7d) or a time (RFC 3339, or a date).
    #[arg(long, value_name = "WHEN", default_value = "10m")]
    since: String,

    /// Only the lines of this task (its ID or ARN, as `status` and `run` show them).
    #[arg(long, value_name = "ID")]
    task: Option<String>,

    /// Only lines matching this CloudWatch Logs filter pattern (e.g. ERROR, "exact phrase").
    #[arg(long, value_name = "PATTERN")]
    filter: Option<String>,

    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(global: &GlobalArgs, args: &LogsArgs, printer: &Printer) -> Result<Exit> {
    let since_ms = parse_since(&args.since, now_ms())
        .map_err(|why| ExitError::new(Exit::InvalidInput, anyhow!(why)))?;
    let options = LogsOptions {
        since_ms,
        task: args.task.clone(),
        pattern: args.filter.clone(),
        follow: args.follow,
    };
    // Ctrl-C ends following; it changes nothing, so it is a normal end.
    let interrupt = Interrupt::listen();
    logs::logs(&global.target(), printer, &options, &interrupt, |line| {
        if args.json {
            printer.data(&serde_json::to_string(line).unwrap_or_default());
        } else {
            printer.data(&format!("{} {} {}", line.time, line.task, line.message));
        }
    })
    .await?;
    Ok(Exit::Success)
}
