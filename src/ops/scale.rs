//! `scale`: sets the service's desired count now, with one `UpdateService` that changes nothing
//! else. A new count is not a deployment: ECS starts or stops tasks of the revision the service
//! runs, and no deployment is started, so there is nothing to follow; `status` shows the tasks
//! coming and going.
//!
//! With `[autoscaling]` the count must lie within its `min` and `max` (Application Auto Scaling
//! would move it back into the range at once), and it stays until a scaling policy moves it:
//! `apply` never sets it. Without `[autoscaling]` the next `apply` sets `service.desired_count`
//! again.

use anyhow::{anyhow, Result};

use super::{Session, Target};
use crate::aws::AwsResultExt;
use crate::config::MAX_DESIRED_COUNT;
use crate::exit::{Exit, ExitError};
use crate::printer::Printer;

/// A new count, checked, for a service that exists, under the environment's lock.
pub struct PreparedScale {
    pub session: Session,
    /// The count asked for.
    pub count: i32,
    /// The service's desired count now.
    pub current: i32,
    /// `[autoscaling]`'s `(min, max)`, when it is configured.
    pub range: Option<(u32, u32)>,
}

/// What the configuration allows for `count`: an error with [`Exit::InvalidInput`] naming the
/// range, or `Ok`. Pure, so that a refused count makes no AWS call.
pub fn check_count(count: u32, range: Option<(u32, u32)>) -> Result<()> {
    let refused = match range {
        Some((min, max)) if !(min..=max).contains(&count) => Some(format!(
            "{count} is outside the [autoscaling] range {min}-{max} of the configuration; \
             Application Auto Scaling would move the count back into it. Scale within \
             {min}-{max}, or change min and max and run `deployer apply`"
        )),
        _ if count > MAX_DESIRED_COUNT => Some(format!(
            "{count} is more than ECS runs in one service; allowed 0-{MAX_DESIRED_COUNT}"
        )),
        _ => None,
    };
    match refused {
        Some(message) => Err(ExitError::new(
            Exit::InvalidInput,
            anyhow!("nothing was changed: {message}"),
        )
        .into()),
        None => Ok(()),
    }
}

/// Checks `count` against the configuration, then finds the service. Changes nothing.
pub async fn prepare(target: &Target, printer: &Printer, count: u32) -> Result<PreparedScale> {
    let session = target.open(printer, Some("scale")).await?;
    let ctx = &session.ctx;
    let range = ctx.config.autoscaling.as_ref().map(|a| (a.min, a.max));
    check_count(count, range)?;
    let service = &ctx.active_service().await?;
    let current = service.desired_count();
    Ok(PreparedScale {
        // Checked against MAX_DESIRED_COUNT above.
        count: i32::try_from(count).unwrap_or(i32::MAX),
        current,
        range,
        session,
    })
}

impl PreparedScale {
    /// Sets the desired count; returns it as ECS reports it.
    pub async fn execute(self) -> Result<i32> {
        let ctx = &self.session.ctx;
        let updated = ctx
            .aws
            .ecs
            .update_service()
            .cluster(&ctx.names.cluster)
            .service(&ctx.names.service)
            .desired_count(self.count)
            .send()
            .await
            .or_context(format!(
                "setting the desired count of ECS service {}",
                ctx.names.service
            ))?;
        Ok(updated
            .service()
            .map_or(self.count, |service| service.desired_count()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::exit_for;

    #[test]
    fn a_count_within_the_range_or_without_one_is_allowed() {
        assert!(check_count(4, Some((2, 6))).is_ok());
        assert!(check_count(2, Some((2, 6))).is_ok());
        assert!(check_count(6, Some((2, 6))).is_ok());
        assert!(check_count(0, None).is_ok());
    }

    #[test]
    fn a_count_outside_the_range_is_bad_input_naming_the_range() {
        let error = check_count(7, Some((2, 6))).unwrap_err();
        assert_eq!(exit_for(&error), Exit::InvalidInput);
        assert!(format!("{error:#}").contains("range 2-6"), "{error:#}");
        let error = check_count(1, Some((2, 6))).unwrap_err();
        assert_eq!(exit_for(&error), Exit::InvalidInput);
        let error = check_count(MAX_DESIRED_COUNT + 1, None).unwrap_err();
        assert_eq!(exit_for(&error), Exit::InvalidInput);
    }
}
