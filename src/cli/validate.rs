//! `deployer validate`: check the configuration and report every problem at once. Every other
//! command runs the same checks first; this one stops there.

use anyhow::Result;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::printer::Printer;

pub fn run(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let target = global.target();
    let config = target.load_config(printer)?;
    printer.info(&format!(
        "{} is valid: {}-{} in {}.",
        target.config_path().display(),
        config.project,
        config.environment,
        target.region(&config)
    ));
    Ok(Exit::Success)
}
