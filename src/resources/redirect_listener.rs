//! With `[https]` and `https.redirect_http` (the default), the plain HTTP listener on
//! `load_balancer.port`, which answers every request with a 301 redirect to the same URL over
//! HTTPS on 443 (see "Redirect actions" in the ELB User Guide).
//!
//! Without a redirect, a listener left on the port it would use (after HTTPS is switched off, or
//! the redirect turned off) is this step's, and is removed.

use anyhow::Result;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ProtocolEnum, RedirectActionConfig, RedirectActionStatusCodeEnum,
};

use crate::aws::listeners;
use crate::aws::tags::{owner_tags, tag_elb};
use crate::aws::{AwsResultExt, Created};
use crate::config::HTTPS_PORT;
use crate::contract::{compare, known, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct RedirectListener;

/// What errors call it.
const REDIRECT_LISTENER: &str = "redirect listener";

#[derive(Debug, Clone)]
pub struct Live {
    pub arn: String,
    pub port: i32,
    pub protocol: String,
    /// The default action as `PROTOCOL:PORT STATUS` when it is a redirect (`HTTPS:443
    /// HTTP_301`), else `None`.
    pub redirect: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub load_balancer_arn: String,
    pub port: i32,
}

/// What the redirect is, in the form [`Live::redirect`] shows it.
fn wanted_redirect() -> String {
    format!("HTTPS:{HTTPS_PORT} HTTP_301")
}

/// A 301 to `https://#{host}:443/#{path}?#{query}`: the same URL over HTTPS.
fn redirect() -> Result<Action> {
    Ok(Action::builder()
        .r#type(ActionTypeEnum::Redirect)
        .redirect_config(
            RedirectActionConfig::builder()
                .protocol("HTTPS")
                .port(HTTPS_PORT.to_string())
                .host("#{host}")
                .path("/#{path}")
                .query("#{query}")
                .status_code(RedirectActionStatusCodeEnum::Http301)
                .build(),
        )
        .build())
}

fn live_from(l: &aws_sdk_elasticloadbalancingv2::types::Listener) -> Live {
    Live {
        arn: l.listener_arn().unwrap_or_default().to_owned(),
        port: l.port().unwrap_or_default(),
        protocol: l
            .protocol()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        redirect: l
            .default_actions()
            .iter()
            .filter(|a| a.r#type() == Some(&ActionTypeEnum::Redirect))
            .find_map(|a| a.redirect_config())
            .map(|r| {
                format!(
                    "{}:{} {}",
                    r.protocol().unwrap_or("#{protocol}"),
                    r.port().unwrap_or("#{port}"),
                    r.status_code().map(|s| s.as_str()).unwrap_or_default()
                )
            }),
    }
}

impl Resource for RedirectListener {
    const STEP: StepId = StepId::new("redirect_listener", "HTTP redirect listener");
    const DEPENDS_ON: &'static [&'static str] = &["load_balancer", "listener"];
    const READ_DEPENDS_ON: &'static [&'static str] = &["load_balancer"];
    type Live = Live;
    type Desired = Desired;

    fn wanted(ctx: &Ctx) -> bool {
        ctx.config.redirect_port().is_some()
    }

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            load_balancer_arn: known(&facts.load_balancer_arn),
            port: ctx.config.load_balancer.port.into(),
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        let found = ctx.listener(facts, listeners::redirecting).await?;
        Ok(found.as_ref().map(live_from))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        compare(&mut changes, "port", &live.port, &desired.port);
        compare(&mut changes, "protocol", &live.protocol.as_str(), &"HTTP");
        compare(
            &mut changes,
            "default_action.redirect",
            &live.redirect.as_deref(),
            &Some(wanted_redirect().as_str()),
        );
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let request = ctx
            .aws
            .elb
            .create_listener()
            .load_balancer_arn(&desired.load_balancer_arn)
            .protocol(ProtocolEnum::Http)
            .port(desired.port)
            .default_actions(redirect()?)
            .set_tags(Some(owner_tags(&ctx.owner)?));
        Ok(
            match listeners::create(request, "redirect listener").await? {
                Created::New(arn) => Created::New(Live {
                    arn,
                    port: desired.port,
                    protocol: "HTTP".to_owned(),
                    redirect: Some(wanted_redirect()),
                }),
                Created::AlreadyExists => Created::AlreadyExists,
            },
        )
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        ctx.aws
            .elb
            .modify_listener()
            .listener_arn(&live.arn)
            .protocol(ProtocolEnum::Http)
            .port(desired.port)
            .default_actions(redirect()?)
            .send()
            .await
            .or_context("updating the redirect listener")?;
        Ok(Live {
            arn: live.arn.clone(),
            port: desired.port,
            protocol: "HTTP".to_owned(),
            redirect: Some(wanted_redirect()),
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        listeners::delete(&ctx.aws.elb, &live.arn, REDIRECT_LISTENER).await
    }

    async fn tags(ctx: &Ctx, live: &Live) -> Result<Vec<(String, String)>> {
        ctx.elb_tags.tags(&ctx.aws.elb, &live.arn).await
    }

    async fn tag(ctx: &Ctx, live: &Live) -> Result<()> {
        tag_elb(&ctx.aws.elb, &ctx.owner, &live.arn).await
    }

    fn record(live: &Live) -> ResourceRecord {
        ResourceRecord::new(live.arn.clone(), Some(live.arn.clone()))
    }

    fn publish(_: &Live, _: &mut Facts) {}

    async fn retire(ctx: &Ctx, record: &ResourceRecord) -> Result<()> {
        listeners::delete(&ctx.aws.elb, &record.id, REDIRECT_LISTENER).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(redirect: Option<&str>) -> Live {
        Live {
            arn: "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/a/1/2".into(),
            port: 80,
            protocol: "HTTP".into(),
            redirect: redirect.map(str::to_owned),
        }
    }

    fn desired() -> Desired {
        Desired {
            load_balancer_arn: "lb".into(),
            port: 80,
        }
    }

    #[test]
    fn a_redirect_to_https_is_no_change() {
        assert_eq!(
            RedirectListener::diff(&live(Some("HTTPS:443 HTTP_301")), &desired()),
            Vec::<Change>::new()
        );
    }

    #[test]
    fn a_forward_changed_by_hand_or_a_302_is_a_change_of_the_action() {
        assert_eq!(
            RedirectListener::diff(&live(None), &desired()),
            [Change::new(
                "default_action.redirect",
                "(none)",
                "HTTPS:443 HTTP_301"
            )]
        );
        assert_eq!(
            RedirectListener::diff(&live(Some("HTTPS:443 HTTP_302")), &desired()),
            [Change::new(
                "default_action.redirect",
                "HTTPS:443 HTTP_302",
                "HTTPS:443 HTTP_301"
            )]
        );
    }
}
