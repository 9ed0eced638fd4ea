//! The integration tests: the real `deployer` binary against a local AWS emulator (moto server),
//! through a proxy that records (and can fault) every AWS call. One test binary, so the AWS SDK
//! is linked once.

mod support;

mod app_settings;
mod architecture;
mod autoscaling;

mod bad_input;
mod calls;
mod day2;
mod drift;
mod edge;
mod faults;
mod first_deploy;
mod fresh_account;
mod hardening;
mod harness;
mod iam_policy;
mod import;
mod interruptions;
mod lifecycle;
mod locking;
mod network;
mod plan;
mod plan_values;
mod rollout;
mod s3_state;
mod secrets;
mod stack;
mod trust;
mod version;
mod what_runs;
