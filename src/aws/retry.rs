//! Waiting out AWS's known slow spots: bounded retries with exponential backoff and full jitter,
//! within a time budget from the configuration.
//!
//! The SDK already retries throttling and 5xx errors. What it cannot know is that some errors
//! mean "not yet" in a specific context: a new IAM role that ECS cannot assume for a minute or
//! two, a security group whose network interfaces are still detaching, a cluster that still lists
//! a service being deleted. Those are retried here, with a progress line saying what is awaited,
//! and a clear message when the budget runs out.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};

use super::errors::{brief, describe, is_code};
use crate::exit::{Exit, ExitError};
use crate::printer::Printer;

/// The first pause; each next one doubles, up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(500);
const MAX_DELAY: Duration = Duration::from_secs(15);

/// How one attempt went.
pub enum Attempt<T> {
    Done(T),
    /// A known transient condition: try again. The text says what is awaited, for progress lines
    /// and for the message when the budget runs out.
    Wait(String),
}

/// What the budget is for, to name the setting that changes it.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub limit: Duration,
    /// The configuration key, e.g. `timeouts.iam_propagation`.
    pub setting: &'static str,
}

/// Runs `attempt` until it is done, fails, or the budget is spent. Between attempts it sleeps
/// for an exponentially growing, fully jittered delay, so many clients do not retry in step.
pub async fn until_done<T, F, Fut>(
    what: &str,
    budget: Budget,
    printer: &Printer,
    mut attempt: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>>>,
{
    let started = Instant::now();
    let mut ceiling = FIRST_DELAY;
    let mut waits = 0u32;
    loop {
        let reason = match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Wait(reason) => reason,
        };
        waits += 1;
        let elapsed = started.elapsed();
        if elapsed >= budget.limit {
            return Err(ExitError::new(
                Exit::TimedOut,
                anyhow::anyhow!(
                    "gave up {what} after {}s and {waits} attempts: {reason}. AWS may need more \
                     time; raise {} (now {}s) in the configuration, or run again later",
                    elapsed.as_secs(),
                    budget.setting,
                    budget.limit.as_secs()
                ),
            )
            .into());
        }
        let delay = jitter(ceiling).min(budget.limit - elapsed);
        tracing::info!("{what}: {reason}; retrying in {delay:?}");
        if waits == 1 || waits % 5 == 0 {
            printer.info(&format!("   waiting: {what}: {reason}"));
        }
        tokio::time::sleep(delay).await;
        ceiling = (ceiling * 2).min(MAX_DELAY);
    }
}

/// Sends a call until AWS's answer is not one that `not_yet` recognises as "not yet" (a new role
/// not usable, a new security group not visible), within `budget`. The last answer, success or
/// any other error, is returned as it is, for the caller to read its codes.
pub async fn send_when_ready<T, E, R, F, Fut>(
    what: &str,
    budget: Budget,
    printer: &Printer,
    not_yet: fn(&SdkError<E, R>) -> bool,
    mut call: F,
) -> Result<std::result::Result<T, SdkError<E, R>>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    until_done(what, budget, printer, || {
        let answer = call();
        async move {
            Ok(match answer.await {
                Err(e) if not_yet(&e) => Attempt::Wait(brief(&e)),
                answer => Attempt::Done(answer),
            })
        }
    })
    .await
}

/// The error codes a delete call branches on.
#[derive(Debug, Clone, Copy)]
pub struct DeleteCodes {
    /// Already gone: done.
    pub gone: &'static [&'static str],
    /// Still used by something that is going away: wait and try again.
    pub in_use: &'static [&'static str],
}

/// Deletes something AWS refuses to delete while a resource that was just deleted still lets go
/// of it (network interfaces detaching, a listener still holding a target group, a cluster still
/// listing a draining service), retrying within `budget`.
///
/// `while_in_use` turns AWS's "in use" answer (as `CODE: message`) into the reason shown while
/// waiting, or into an error when what holds it will not go away by itself.
pub async fn delete_when_released<T, E, R, F, Fut, W, WFut>(
    what: &str,
    budget: Budget,
    printer: &Printer,
    codes: DeleteCodes,
    mut call: F,
    while_in_use: W,
) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
    W: Fn(String) -> WFut,
    WFut: Future<Output = Result<String>>,
{
    until_done(what, budget, printer, || {
        let answer = call();
        let while_in_use = &while_in_use;
        async move {
            match answer.await {
                Ok(_) => Ok(Attempt::Done(())),
                Err(e) if is_code(&e, codes.gone) => Ok(Attempt::Done(())),
                Err(e) if is_code(&e, codes.in_use) => {
                    Ok(Attempt::Wait(while_in_use(brief(&e)).await?))
                }
                Err(e) => Err(describe(e, what)),
            }
        }
    })
    .await
}

/// For [`delete_when_released`]: AWS's own words say what is awaited.
pub async fn as_aws_says(reason: String) -> Result<String> {
    Ok(reason)
}

/// A random duration between half the ceiling and the ceiling ("equal jitter"): spread out, but
/// never so short that it hammers the API.
fn jitter(ceiling: Duration) -> Duration {
    let half = ceiling / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn retries_until_done_with_growing_delays() {
        let calls = Cell::new(0);
        let started = Instant::now();
        let budget = Budget {
            limit: Duration::from_secs(60),
            setting: "timeouts.x",
        };
        let value = until_done("testing", budget, &Printer::new(true), || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                Ok(if n < 4 {
                    Attempt::Wait("not yet".into())
                } else {
                    Attempt::Done(n)
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 4);
        // Three waits of at least 0.25 + 0.5 + 1 s, at most 0.5 + 1 + 2 s.
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1750), "{waited:?}");
        assert!(waited <= Duration::from_millis(3500), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_budget_with_a_timed_out_error() {
        let budget = Budget {
            limit: Duration::from_secs(10),
            setting: "timeouts.resource_release",
        };
        let err = until_done("deleting sg-1", budget, &Printer::new(true), || async {
            Ok(Attempt::<()>::Wait("DependencyViolation".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(crate::exit::exit_for(&err), Exit::TimedOut);
        let message = err.to_string();
        assert!(
            message.contains("gave up deleting sg-1 after 10s"),
            "{message}"
        );
        assert!(message.contains("timeouts.resource_release"), "{message}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_real_error_stops_at_once() {
        let budget = Budget {
            limit: Duration::from_secs(10),
            setting: "timeouts.x",
        };
        let err = until_done("x", budget, &Printer::new(true), || async {
            Err::<Attempt<()>, _>(anyhow::anyhow!("denied"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "denied");
    }
}
