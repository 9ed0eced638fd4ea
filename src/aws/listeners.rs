//! The listeners of the stack's load balancer, read with one `DescribeListeners` call that both
//! listener steps share, and which of them each step takes.
//!
//! With `[https]` the stack has two listeners: the one that forwards to the target group (443,
//! HTTPS) and the one that redirects plain HTTP to it (`load_balancer.port`). Both steps pick from
//! the same answer, by rules that never give one listener to both, so that switching HTTPS on or
//! off turns the existing listener into the other one instead of adding a second listener on a
//! port that is taken.

use anyhow::{Context as _, Result};
use aws_sdk_elasticloadbalancingv2::types::Listener;

use super::errors::{AwsResultExt, Created};
use crate::config::{Config, HTTPS_PORT};

/// The key of the shared read.
pub const LISTENERS_READ: &str = "listeners";

/// The listeners of `load_balancer_arn`; empty when it (or they) no longer exist.
pub async fn describe(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    load_balancer_arn: &str,
) -> Result<Vec<Listener>> {
    let answer = elb
        .describe_listeners()
        .load_balancer_arn(load_balancer_arn)
        .send()
        .await
        .or_absent(
            &["LoadBalancerNotFound", "ListenerNotFound"],
            "reading the listeners of the load balancer",
        )?;
    Ok(answer.map(|a| a.listeners().to_vec()).unwrap_or_default())
}

/// Sends `request` and returns the new listener's ARN; [`Created::AlreadyExists`] when ELB says
/// a listener on that port exists (`DuplicateListener`: a lost answer of an earlier attempt).
/// `what` names it in errors.
pub async fn create(
    request: aws_sdk_elasticloadbalancingv2::operation::create_listener::builders::CreateListenerFluentBuilder,
    what: &str,
) -> Result<Created<String>> {
    let created = request
        .send()
        .await
        .or_exists(&["DuplicateListener"], format!("creating the {what}"))?;
    let Created::New(created) = created else {
        return Ok(Created::AlreadyExists);
    };
    let listener = created
        .listeners()
        .first()
        .context("CreateListener returned no listener")?;
    Ok(Created::New(
        listener.listener_arn().unwrap_or_default().to_owned(),
    ))
}

/// Deletes listener `arn` (`what` names it in errors); one already gone is done.
pub async fn delete(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    arn: &str,
    what: &str,
) -> Result<()> {
    elb.delete_listener()
        .listener_arn(arn)
        .send()
        .await
        .or_absent(&["ListenerNotFound"], format!("deleting the {what}"))?;
    Ok(())
}

/// The listener that forwards to the app: the one on its port; otherwise the one with the lowest
/// port that is not the redirect's, so that a changed port (or HTTPS switched on) updates it
/// instead of adding a second one.
pub fn forwarding<'a>(config: &Config, listeners: &'a [Listener]) -> Option<&'a Listener> {
    let port = i32::from(config.forward_port());
    let redirect = config.redirect_port().map(i32::from);
    listeners
        .iter()
        .find(|l| l.port() == Some(port))
        .or_else(|| {
            listeners
                .iter()
                .filter(|l| l.port() != redirect || redirect.is_none())
                .min_by_key(|l| l.port())
        })
}

/// The listener that redirects HTTP to HTTPS: with a redirect configured, the one on its port;
/// without one, a listener left on a port this stack would use for it (443 or
/// `load_balancer.port`), which is then removed. Never the forwarding listener.
pub fn redirecting<'a>(config: &Config, listeners: &'a [Listener]) -> Option<&'a Listener> {
    let forward = forwarding(config, listeners).and_then(|l| l.listener_arn());
    let others = || {
        listeners
            .iter()
            .filter(move |l| l.listener_arn() != forward || forward.is_none())
    };
    match config.redirect_port() {
        Some(port) => others().find(|l| l.port() == Some(i32::from(port))),
        None => {
            let ports = [i32::from(HTTPS_PORT), i32::from(config.load_balancer.port)];
            others()
                .filter(|l| l.port().is_some_and(|p| ports.contains(&p)))
                .min_by_key(|l| l.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(https: &str) -> Config {
        let text = format!(
            "project = \"app\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n\
             [container]\nimage = \"nginx:1.27\"\n{https}"
        );
        Config::from_toml_str(&text, Path::new("dev.toml")).unwrap()
    }

    fn https(redirect: bool) -> Config {
        config(&format!(
            "[https]\ncertificate_arn = \"arn:aws:acm:eu-central-1:123456789012:certificate/x\"\n\
             redirect_http = {redirect}\n"
        ))
    }

    fn listener(arn: &str, port: i32) -> Listener {
        Listener::builder().listener_arn(arn).port(port).build()
    }

    fn picked(config: &Config, listeners: &[Listener]) -> (Option<String>, Option<String>) {
        let arn = |l: Option<&Listener>| l.and_then(|l| l.listener_arn()).map(str::to_owned);
        (
            arn(forwarding(config, listeners)),
            arn(redirecting(config, listeners)),
        )
    }

    fn pair(forward: Option<&str>, redirect: Option<&str>) -> (Option<String>, Option<String>) {
        (forward.map(str::to_owned), redirect.map(str::to_owned))
    }

    #[test]
    fn plain_http_takes_its_port_and_a_left_over_443_is_the_one_to_remove() {
        let plain = config("");
        assert_eq!(picked(&plain, &[listener("a", 80)]), pair(Some("a"), None));
        assert_eq!(
            picked(&plain, &[listener("a", 443), listener("b", 80)]),
            pair(Some("b"), Some("a"))
        );
        // HTTPS switched off: the redirect on 80 becomes the forward, 443 goes.
        assert_eq!(
            picked(&plain, &[listener("https", 443), listener("redirect", 80)]),
            pair(Some("redirect"), Some("https"))
        );
        // A changed port updates the one listener.
        assert_eq!(
            picked(&plain, &[listener("a", 8080)]),
            pair(Some("a"), None)
        );
    }

    #[test]
    fn https_switched_on_adds_443_and_turns_80_into_the_redirect() {
        let on = https(true);
        assert_eq!(picked(&on, &[listener("a", 80)]), pair(None, Some("a")));
        assert_eq!(
            picked(&on, &[listener("a", 80), listener("b", 443)]),
            pair(Some("b"), Some("a"))
        );
    }

    #[test]
    fn https_without_redirect_moves_the_one_listener_to_443() {
        let off = https(false);
        assert_eq!(picked(&off, &[listener("a", 80)]), pair(Some("a"), None));
        assert_eq!(
            picked(&off, &[listener("a", 80), listener("b", 443)]),
            pair(Some("b"), Some("a"))
        );
    }
}
