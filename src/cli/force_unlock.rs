//! `deployer force-unlock`: remove an environment's lock whose run is gone (a crashed CI runner,
//! another machine). A lock file left by a dead process on this machine is taken over by itself;
//! a lock on S3 never is.

use anyhow::Result;

use super::GlobalArgs;
use crate::exit::Exit;
use crate::lock::Unlocked;
use crate::printer::Printer;

pub async fn run(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let (environment, unlocked) =
        crate::ops::state::force_unlock(&global.target(), printer).await?;
    match unlocked {
        Unlocked::Holder(holder) => printer.info(&format!(
            "Removed the lock of {environment} held by {holder}."
        )),
        Unlocked::Unreadable => printer.info(&format!(
            "Removed the lock of {environment}, which did not say by whom it was held."
        )),
        Unlocked::NotLocked => printer.info(&format!("{environment} was not locked.")),
    }
    Ok(Exit::Success)
}
