//! The listener that forwards everything to the target group: plain HTTP on
//! `load_balancer.port`, or with `[https]` HTTPS on 443 with the certificate and
//! `https.ssl_policy`. (The port-80 redirect to HTTPS is `redirect_listener`.)

use anyhow::Result;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Certificate, ProtocolEnum};

use crate::aws::listeners;
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
    /// The default certificate of an HTTPS listener.
    pub certificate_arn: Option<String>,
    pub ssl_policy: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Desired {
    pub load_balancer_arn: String,
    pub port: i32,
    pub target_group_arn: String,
    /// With `[https]`: the certificate and the TLS policy of an HTTPS listener.
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub certificate_arn: String,
    pub ssl_policy: String,
}

impl Desired {
    fn protocol(&self) -> ProtocolEnum {
        match self.tls {
            Some(_) => ProtocolEnum::Https,
            None => ProtocolEnum::Http,
        }
    }

    fn certificates(&self) -> Option<Vec<Certificate>> {
        self.tls.as_ref().map(|tls| {
            vec![Certificate::builder()
                .certificate_arn(&tls.certificate_arn)
                .build()]
        })
    }

    fn live(&self, arn: String) -> Live {
        Live {
            arn,
            port: self.port,
            protocol: self.protocol().as_str().to_owned(),
            forward_to: vec![self.target_group_arn.clone()],
            certificate_arn: self.tls.as_ref().map(|t| t.certificate_arn.clone()),
            ssl_policy: self.tls.as_ref().map(|t| t.ssl_policy.clone()),
        }
    }
}

fn forward(target_group_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

fn live_from(l: &aws_sdk_elasticloadbalancingv2::types::Listener) -> Live {
    Live {
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
        certificate_arn: l
            .certificates()
            .iter()
            .find_map(|c| c.certificate_arn().map(str::to_owned)),
        ssl_policy: l.ssl_policy().map(str::to_owned),
    }
}

impl Resource for Listener {
    const STEP: StepId = StepId::new("listener", "listener");
    const DEPENDS_ON: &'static [&'static str] = &[
        "load_balancer",
        "target_group",
        "given_certificate",
        "certificate",
    ];
    const READ_DEPENDS_ON: &'static [&'static str] = &["load_balancer"];
    type Live = Live;
    type Desired = Desired;

    fn desired(ctx: &Ctx, facts: &Facts) -> Desired {
        Desired {
            load_balancer_arn: known(&facts.load_balancer_arn),
            port: ctx.config.forward_port().into(),
            // While a target group is being replaced, traffic stays on it until the service
            // runs in its replacement.
            target_group_arn: known(
                &facts
                    .retiring_target_group_arn
                    .clone()
                    .or_else(|| facts.target_group_arn.clone()),
            ),
            tls: ctx.config.https.as_ref().map(|https| Tls {
                certificate_arn: ctx.certificate_arn(facts).unwrap_or_default(),
                ssl_policy: https.ssl_policy.clone(),
            }),
        }
    }

    async fn read(ctx: &Ctx, facts: &Facts, _: Detail) -> Result<Option<Live>> {
        let found = ctx.listener(facts, listeners::forwarding).await?;
        Ok(found.as_ref().map(live_from))
    }

    fn diff(live: &Live, desired: &Desired) -> Vec<Change> {
        let mut changes = Vec::new();
        compare(&mut changes, "port", &live.port, &desired.port);
        compare(
            &mut changes,
            "protocol",
            &live.protocol.as_str(),
            &desired.protocol().as_str(),
        );
        if let Some(tls) = &desired.tls {
            compare(
                &mut changes,
                "certificate_arn",
                &live.certificate_arn.as_deref(),
                &Some(tls.certificate_arn.as_str()),
            );
            compare(
                &mut changes,
                "ssl_policy",
                &live.ssl_policy.as_deref(),
                &Some(tls.ssl_policy.as_str()),
            );
        }
        compare(
            &mut changes,
            "default_action.forward",
            &live.forward_to,
            &vec![desired.target_group_arn.clone()],
        );
        changes
    }

    async fn create(ctx: &Ctx, desired: &Desired) -> Result<Created<Live>> {
        let request = ctx
            .aws
            .elb
            .create_listener()
            .load_balancer_arn(&desired.load_balancer_arn)
            .protocol(desired.protocol())
            .port(desired.port)
            .set_certificates(desired.certificates())
            .set_ssl_policy(desired.tls.as_ref().map(|t| t.ssl_policy.clone()))
            .default_actions(forward(&desired.target_group_arn))
            .set_tags(Some(owner_tags(&ctx.owner)?));
        Ok(match listeners::create(request, "listener").await? {
            Created::New(arn) => Created::New(desired.live(arn)),
            Created::AlreadyExists => Created::AlreadyExists,
        })
    }

    async fn update(ctx: &Ctx, live: &Live, desired: &Desired) -> Result<Live> {
        ctx.aws
            .elb
            .modify_listener()
            .listener_arn(&live.arn)
            .protocol(desired.protocol())
            .port(desired.port)
            .set_certificates(desired.certificates())
            .set_ssl_policy(desired.tls.as_ref().map(|t| t.ssl_policy.clone()))
            .default_actions(forward(&desired.target_group_arn))
            .send()
            .await
            .or_context("updating the listener")?;
        Ok(desired.live(live.arn.clone()))
    }

    async fn delete(ctx: &Ctx, live: &Live) -> Result<()> {
        listeners::delete(&ctx.aws.elb, &live.arn, "listener").await
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
            certificate_arn: None,
            ssl_policy: None,
        }
    }

    fn desired() -> Desired {
        Desired {
            load_balancer_arn:
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/app-dev/1"
                    .into(),
            port: 80,
            target_group_arn: TARGET_GROUP.into(),
            tls: None,
        }
    }

    const CERTIFICATE: &str = "arn:aws:acm:eu-central-1:123456789012:certificate/1";

    fn https() -> Desired {
        Desired {
            port: 443,
            tls: Some(Tls {
                certificate_arn: CERTIFICATE.into(),
                ssl_policy: "ELBSecurityPolicy-TLS13-1-2-2021-06".into(),
            }),
            ..desired()
        }
    }

    #[test]
    fn http_listener_when_https_is_wanted_changes_port_protocol_certificate_and_policy() {
        assert_eq!(
            Listener::diff(&live(), &https()),
            [
                change("port", "80", "443"),
                change("protocol", "HTTP", "HTTPS"),
                change("certificate_arn", "(none)", CERTIFICATE),
                change(
                    "ssl_policy",
                    "(none)",
                    "ELBSecurityPolicy-TLS13-1-2-2021-06"
                ),
            ]
        );
        let served = https().live(live().arn);
        assert_eq!(Listener::diff(&served, &https()), Vec::<Change>::new());
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
