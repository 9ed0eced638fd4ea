//! `deployer force-unlock`: remove an environment's lock whose run is gone (a crashed CI runner,
//! another machine). A lock left by a dead process on this machine is taken over by itself.

use anyhow::Result;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::lock::Lock;
use crate::printer::Printer;

pub fn run(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let config = global.target().load_config(printer)?;
    match Lock::force_unlock(&global.state_dir, &config.environment)? {
        Some(holder) => printer.info(&format!(
            "Removed the lock of {} held by {holder}.",
            config.environment
        )),
        None => printer.info(&format!("{} was not locked.", config.environment)),
    }
    Ok(Exit::Success)
}
