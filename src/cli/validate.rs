//! `deployer validate`: check the configuration and report every problem at once. Every other
//! command runs the same checks first; this one stops there.

use anyhow::Result;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::printer::Printer;

pub fn run(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let config = global.load_config()?;
    printer.info(&format!(
        "{} is valid: {}-{} in {}.",
        global.config_path().display(),
        config.project,
        config.environment,
        global.region(&config)
    ));
    Ok(Exit::Success)
}
