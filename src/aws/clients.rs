//! One set of SDK clients per run, built from the standard AWS configuration chain.
//!
//! Credentials and region come from the usual places (environment, shared profiles, SSO, web
//! identity for CI). The region of the stack is part of its configuration, so it wins over the
//! environment; `--region` wins over both. A custom endpoint (a local emulator) comes from the
//! standard `AWS_ENDPOINT_URL` variables or from `endpoint_url` in the configuration.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

/// How to reach AWS, from the command line and the configuration file.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub profile: Option<String>,
    pub region: String,
    /// Set only when the configuration names one: setting it on the loader would override the
    /// per-service `AWS_ENDPOINT_URL_<SERVICE>` variables.
    pub endpoint_url: Option<String>,
}

/// The clients of every service the deployer calls.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub acm: aws_sdk_acm::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub iam: aws_sdk_iam::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// Route 53 is global; the SDK sends its calls to its one endpoint whatever the region.
    pub route53: aws_sdk_route53::Client,
    pub region: String,
    /// What the clients were built from, for a client of another region.
    sdk: aws_config::SdkConfig,
}

/// Attempts per call, including the first. AWS throttles bursts of control-plane calls, and a
/// deploy that fails halfway because of one throttled call is worse than one that waits a little.
const MAX_ATTEMPTS: u32 = 8;

impl AwsClients {
    /// Loads the AWS configuration and builds the clients. Makes no network call by itself:
    /// credentials are resolved lazily by the first request.
    pub async fn connect(options: &ConnectOptions) -> Self {
        // Standard retry mode: exponential backoff with jitter, for throttling and 5xx. Adaptive
        // mode would add client-side rate limiting that sleeps for seconds at a time.
        let retry = RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(10));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(120))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(options.region.clone()))
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        Self {
            acm: aws_sdk_acm::Client::new(&sdk),
            ec2: aws_sdk_ec2::Client::new(&sdk),
            ecr: aws_sdk_ecr::Client::new(&sdk),
            ecs: aws_sdk_ecs::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            route53: aws_sdk_route53::Client::new(&sdk),
            region: options.region.clone(),
            sdk,
        }
    }

    /// An ECR client for `region`, because an image may be pushed to another region's registry
    /// than the stack's. Built from the same configuration as the others: the same credentials,
    /// retries, timeouts and endpoint (an emulator serves every region on one).
    pub fn ecr_in(&self, region: &str) -> aws_sdk_ecr::Client {
        if region == self.region {
            return self.ecr.clone();
        }
        let config = aws_sdk_ecr::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }
}
