//! `deployer force-unlock`: remove an environment's lock whose run is gone (a crashed CI runner,
//! another machine). A lock left by a dead process on this machine is taken over by itself.

use anyhow::Result;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::lock::{Lock, Unlocked};
use crate::printer::Printer;

pub fn run(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let config = global.target().load_config(printer)?;
    match Lock::force_unlock(&global.state_dir, &config.environment)? {
        Unlocked::Holder(holder) => printer.info(&format!(
            "Removed the lock of {} held by {holder}.",
            config.environment
        )),
        Unlocked::Unreadable => printer.info(&format!(
            "Removed the lock of {}, whose file did not say by whom it was held.",
            config.environment
        )),
        Unlocked::NotLocked => printer.info(&format!("{} was not locked.", config.environment)),
    }
    Ok(Exit::Success)
}
