//! The plan's text and JSON forms, as snapshots with the emulator's random IDs filtered out.

use crate::lifecycle::{apply, dev_env};
use crate::stack::PREFIX;
use crate::support::{block_on, TestEnv};

fn stdout(env: &TestEnv, args: &[&str], code: i32) -> String {
    let output = env.deployer().args(args).assert().code(code);
    String::from_utf8(output.get_output().stdout.clone()).unwrap()
}

/// Replaces the IDs that differ between runs.
fn filtered(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"arn:aws:[^\s\x22]+", "[ARN]");
    settings.add_filter(r"\bsg-[0-9a-f]+", "sg-[ID]");
    settings.add_filter(r"\bvpc-[0-9a-f]+", "vpc-[ID]");
    settings.add_filter(r"\bsubnet-[0-9a-f]+", "subnet-[ID]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn plan_of_a_new_stack_creates_everything() {
    let env = dev_env();
    filtered(
        "plan-new-text",
        &stdout(&env, &["plan", "--detailed-exitcode"], 2),
    );
    filtered("plan-new-json", &stdout(&env, &["plan", "--json"], 0));
    assert_eq!(env.proxy.mutating_calls(), [], "plan changes nothing");
}

#[test]
fn plan_shows_field_level_differences_and_destroy_plan() {
    let env = dev_env();
    apply(&env);
    let ecs = aws_sdk_ecs::Client::new(&env.sdk_config());
    block_on(
        ecs.update_service()
            .cluster(format!("{PREFIX}-cluster"))
            .service(format!("{PREFIX}-service"))
            .desired_count(5)
            .send(),
    )
    .unwrap();
    env.proxy.clear();
    filtered(
        "plan-drift-text",
        &stdout(&env, &["plan", "--detailed-exitcode"], 2),
    );
    filtered("plan-drift-json", &stdout(&env, &["plan", "--json"], 0));
    filtered(
        "plan-destroy-text",
        &stdout(&env, &["plan", "--destroy"], 0),
    );
    assert_eq!(env.proxy.mutating_calls(), [], "plan changes nothing");
}
