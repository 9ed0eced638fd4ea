//! The harness itself: an offline environment ([`TestEnv::offline`]) must catch any AWS call, or
//! "made no AWS call" could not fail in the tests that use it.

use crate::lifecycle::offline_dev_env;
use crate::support::{block_on, TestEnv, NO_BACKEND};

#[test]
fn offline_proxy_records_and_refuses_every_call() {
    let env = TestEnv::offline();
    let ecs = aws_sdk_ecs::Client::new(&env.proxied_sdk_config());
    let error = block_on(ecs.list_clusters().send()).unwrap_err();
    let error = aws_sdk_ecs::error::DisplayErrorContext(&error).to_string();
    assert!(error.contains(NO_BACKEND), "{error}");
    let calls = env.proxy.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].service, "ecs");
    assert_eq!(calls[0].operation, "ListClusters");
    assert_eq!(calls[0].fault.as_deref(), Some(NO_BACKEND));
}

#[test]
fn a_command_that_calls_aws_fails_offline_and_its_calls_are_seen() {
    let env = offline_dev_env();
    let output = env.deployer().arg("plan").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "plan cannot succeed offline: {stderr}"
    );
    assert_ne!(env.proxy.calls(), [], "{stderr}");
    assert!(
        env.proxy
            .calls()
            .iter()
            .all(|call| call.fault.as_deref() == Some(NO_BACKEND)),
        "{:?}",
        env.proxy.calls()
    );
}
