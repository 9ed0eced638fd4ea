//! The HTTP listener on the load balancer's port, forwarding everything to the target group.

use anyhow::{Context as _, Result};
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ProtocolEnum};

use crate::aws::tags::{owner_tags, tag_elb};
use crate::aws::{AwsResultExt, Created};
use crate::contract::{compare, known, Change, Ctx, Detail, Facts, Resource, StepId};
use crate::state::ResourceRecord;

pub struct Listener;

#[derive(Debug, Clone)]
pub struct Live {
    pub arn: String,
    pub port: i32,
    pub protocol: String,
    /// The target groups of the default action, when it is a plain forward.
    pub forward_to: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub load_balancer_arn: String,
    pub port: i32,
    pub target_group_arn: String,
}

fn forward(target_group_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

impl Resource for Listener {
    const STEP: StepId = StepId::new("listener", "listener");
    const DEPENDS_ON: &'static [&'static str] = &["load_balancer", "target_group"];
    const READ_DEPENDS_ON: &'static [&'static str] = &["load_balancer"];
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            load_balancer_arn: known(&facts.load_balancer_arn),
            port: ctx.config.load_balancer.port.into(),
            // While a target group is being replaced, traffic stays on it until the service
            // runs in its replacement.
            target_group_arn: known(
                &facts
                    .retiring_target_group_arn
                    .clone()
                    .or_else(|| facts.target_group_arn.clone()),
            ),
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        // No load balancer yet, so no listener either: nothing to ask.
        let Some(lb_arn) = &facts.load_balancer_arn else {
            return Ok(None);
        };
        let answer = ctx
            .aws
            .elb
            .describe_listeners()
            .load_balancer_arn(lb_arn)
            .send()
            .await
            .or_absent(
                &["LoadBalancerNotFound", "ListenerNotFound"],
                "reading the listeners of the load balancer",
            )?;
        let Some(answer) = answer else {
            return Ok(None);
        };
        // The stack has one listener. Prefer the one on the configured port; otherwise take the
        // lowest port, so a changed port updates that listener instead of adding a second one.
        let port = i32::from(ctx.config.load_balancer.port);
        let mut listeners: Vec<_> = answer.listeners().iter().collect();
        listeners.sort_by_key(|l| (l.port() != Some(port), l.port()));
        if let Some(arn) = listeners.first().and_then(|l| l.listener_arn()) {
            ctx.elb_tags.remember(arn);
        }
        Ok(listeners.first().map(|l| Live {
            arn: l.listener_arn().unwrap_or_default().to_owned(),
            port: l.port().unwrap_or_default(),
            protocol: l
                .protocol()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            forward_to: l
                .default_actions()
                .iter()
                .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
                .flat_map(|a| {
                    let direct = a.target_group_arn().map(str::to_owned);
                    let weighted = a
                        .forward_config()
                        .map(|f| f.target_groups())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|t| t.target_group_arn().map(str::to_owned));
                    direct.into_iter().chain(weighted)
                })
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        }))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        compare(&mut changes, "port", &live.port, &desired.port);
        compare(&mut changes, "protocol", &live.protocol.as_str(), &"HTTP");
        compare(
            &mut changes,
            "default_action.forward",
            &live.forward_to,
            &vec![desired.target_group_arn.clone()],
        );
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let created = ctx
            .aws
            .elb
            .create_listener()
            .load_balancer_arn(&desired.load_balancer_arn)
            .protocol(ProtocolEnum::Http)
            .port(desired.port)
            .default_actions(forward(&desired.target_group_arn))
            .set_tags(Some(owner_tags(&ctx.owner)?))
            .send()
            .await
            .or_exists(&["DuplicateListener"], "creating the listener")?;
        let Created::New(created) = created else {
            return Ok(Created::AlreadyExists);
        };
        let listener = created
            .listeners()
            .first()
            .context("CreateListener returned no listener")?;
        Ok(Created::New(Live {
            arn: listener.listener_arn().unwrap_or_default().to_owned(),
            port: desired.port,
            protocol: "HTTP".to_owned(),
            forward_to: vec![desired.target_group_arn.clone()],
        }))
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        ctx.aws
            .elb
            .modify_listener()
            .listener_arn(&live.arn)
            .protocol(ProtocolEnum::Http)
            .port(desired.port)
            .default_actions(forward(&desired.target_group_arn))
            .send()
            .await
            .or_context("updating the listener")?;
        Ok(Live {
            arn: live.arn.clone(),
            port: desired.port,
            protocol: "HTTP".to_owned(),
            forward_to: vec![desired.target_group_arn.clone()],
        })
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        ctx.aws
            .elb
            .delete_listener()
            .listener_arn(&live.arn)
            .send()
            .await
            .or_absent(&["ListenerNotFound"], "deleting the listener")?;
        Ok(())
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

    fn publish(live: &Live, facts: &mut Facts) {
        facts.listener_arn = Some(live.arn.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET_GROUP: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/app-dev/1";

    fn live() -> Live {
        Live {
            arn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/app-dev/1/2"
                .into(),
            port: 80,
            protocol: "HTTP".into(),
            forward_to: vec![TARGET_GROUP.into()],
        }
    }

    fn desired() -> Desired {
        Desired {
            load_balancer_arn:
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/app-dev/1"
                    .into(),
            port: 80,
            target_group_arn: TARGET_GROUP.into(),
        }
    }

    fn change(field: &str, old: &str, new: &str) -> Change {
        Change::new(field, old, new)
    }

    #[test]
    fn same_listener_is_no_change() {
        assert_eq!(Listener::diff(&live(), &desired()), Vec::<Change>::new());
    }

    #[test]
    fn port_change_shows_plain_numbers() {
        let found = Live {
            port: 8080,
            ..live()
        };
        assert_eq!(
            Listener::diff(&found, &desired()),
            [change("port", "8080", "80")]
        );
    }

    #[test]
    fn protocol_other_than_http_is_one_change() {
        let found = Live {
            protocol: "HTTPS".into(),
            ..live()
        };
        assert_eq!(
            Listener::diff(&found, &desired()),
            [change("protocol", "HTTPS", "HTTP")]
        );
    }

    #[test]
    fn forward_to_another_target_group_shows_both_arns() {
        let other = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/other/9";
        let found = Live {
            forward_to: vec![other.into()],
            ..live()
        };
        assert_eq!(
            Listener::diff(&found, &desired()),
            [change("default_action.forward", other, TARGET_GROUP)]
        );
    }

    #[test]
    fn default_action_that_is_not_a_forward_shows_as_none() {
        let found = Live {
            forward_to: Vec::new(),
            ..live()
        };
        assert_eq!(
            Listener::diff(&found, &desired()),
            [change("default_action.forward", "(none)", TARGET_GROUP)]
        );
    }

    #[test]
    fn weighted_forward_to_two_groups_lists_both() {
        let other = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/other/9";
        let found = Live {
            forward_to: vec![TARGET_GROUP.into(), other.into()],
            ..live()
        };
        assert_eq!(
            Listener::diff(&found, &desired()),
            [change(
                "default_action.forward",
                &format!("{TARGET_GROUP}, {other}"),
                TARGET_GROUP
            )]
        );
    }
}
