//! Unit tests of the app's own settings (`validate_app`): what loads, what is refused before
//! any AWS call, and where the message points.

use std::path::Path;

use super::tests::{error_of, with, MINIMAL};
use super::*;

fn load(extra: &str) -> Config {
    match Config::from_toml_str(&with(extra), Path::new("envs/test.toml")) {
        Ok(config) => config,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn nothing_set_keeps_todays_task_and_service() {
    let config = Config::from_toml_str(MINIMAL, Path::new("t")).unwrap();
    assert_eq!(config.task.cpu_architecture, CpuArchitecture::X86_64);
    assert!(config.container.command.is_empty() && config.container.entry_point.is_empty());
    assert_eq!(config.container.health_check, None);
    assert_eq!(config.container.stop_timeout_seconds, None);
    assert!(!config.container.read_only_root_filesystem);
    assert_eq!(config.task_role, None);
}

#[test]
fn every_setting_loads_and_round_trips_through_validate() {
    let config = load(
        "command = [\"gunicorn\", \"app:app\"]\nentry_point = [\"/bin/sh\", \"-c\"]\n\
         stop_timeout_seconds = 90\nread_only_root_filesystem = true\n\
         [container.health_check]\ncommand = [\"CMD-SHELL\", \"curl -f localhost || exit 1\"]\n\
         retries = 5\n\
         [task]\ncpu_architecture = \"ARM64\"\n\
         [task_role]\nmanaged_policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\"]\n\
         [[task_role.statements]]\nactions = [\"sqs:SendMessage\"]\n\
         resources = [\"arn:aws:sqs:eu-central-1:123456789012:jobs\"]\n\
         conditions = { StringEquals = { \"aws:RequestedRegion\" = \"eu-central-1\" } }\n",
    );
    assert_eq!(config.container.command, ["gunicorn", "app:app"]);
    assert_eq!(config.container.entry_point, ["/bin/sh", "-c"]);
    assert_eq!(config.container.stop_timeout_seconds, Some(90));
    assert!(config.container.read_only_root_filesystem);
    assert_eq!(
        config.container.health_check,
        Some(ContainerHealthCheck {
            command: vec!["CMD-SHELL".into(), "curl -f localhost || exit 1".into()],
            interval_seconds: 30,
            timeout_seconds: 5,
            retries: 5,
            start_period_seconds: 0,
        })
    );
    assert_eq!(config.task.cpu_architecture, CpuArchitecture::Arm64);
    let role = config.task_role.clone().unwrap();
    assert_eq!(role.statements[0].effect, "Allow");
    assert_eq!(
        role.statements[0].conditions["StringEquals"]["aws:RequestedRegion"],
        ["eu-central-1"]
    );
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn an_empty_task_role_section_still_asks_for_a_role() {
    let config = load("[task_role]\n");
    assert_eq!(config.task_role, Some(TaskRoleConfig::default()));
}

#[test]
fn bad_values_are_refused_with_their_position() {
    let cases: &[(&str, &str)] = &[
        (
            "[task]\ncpu_architecture = \"arm64\"\n",
            "envs/test.toml:9:20: task.cpu_architecture: \"arm64\" is not a Fargate CPU architecture; allowed \"X86_64\" or \"ARM64\" (did you mean \"ARM64\"?)",
        ),
        (
            "command = []\n",
            "envs/test.toml:8:11: container.command: an empty list; leave the key out to keep the image's own",
        ),
        (
            "stop_timeout_seconds = 300\n",
            "envs/test.toml:8:24: container.stop_timeout_seconds: 300 is out of range; allowed 1-120",
        ),
        (
            "[container.health_check]\ncommand = [\"curl -f localhost\"]\n",
            "envs/test.toml:9:11: container.health_check.command: starts with \"curl -f localhost\"; ECS needs \"CMD\" (arguments run directly) or \"CMD-SHELL\" (one string run by the shell) first, like [\"CMD-SHELL\", \"curl -f localhost\"]",
        ),
        (
            "[container.health_check]\ncommand = [\"CMD-SHELL\", \"true\"]\ntimeout_seconds = 61\n",
            "envs/test.toml:10:19: container.health_check.timeout_seconds: 61 is out of range; allowed 2-60",
        ),
        (
            "[container.health_check]\ninterval_seconds = 10\n",
            "envs/test.toml:8:1: container.health_check: missing `command`, like [\"CMD-SHELL\", \"curl -f http://localhost:5000/ || exit 1\"]",
        ),
        (
            "[task_role]\nmanaged_policies = [\"AmazonS3ReadOnlyAccess\"]\n",
            "envs/test.toml:9:21: task_role.managed_policies[0]: \"AmazonS3ReadOnlyAccess\" is not a managed policy ARN: it is not an IAM ARN; expected arn:aws:iam::aws:policy/NAME or arn:aws:iam::ACCOUNT:policy/NAME",
        ),
        (
            "[[task_role.statements]]\nactions = [\"s3:GetObject\", \"GetObject\"]\nresources = [\"*\"]\n",
            "envs/test.toml:9:28: task_role.statements[0].actions[1]: \"GetObject\" is not an IAM action: it has no \"service:\" prefix; expected service:Action, like \"s3:GetObject\" or \"sqs:*\"",
        ),
        (
            "[[task_role.statements]]\nactions = [\"s3:GetObject\"]\nresources = [\"my-bucket/*\"]\n",
            "envs/test.toml:10:14: task_role.statements[0].resources[0]: \"my-bucket/*\" is not a resource ARN: it does not start with \"arn:\"; expected arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (parts may be empty or wildcards), or \"*\"",
        ),
        (
            "[[task_role.statements]]\neffect = \"allow\"\nactions = [\"s3:GetObject\"]\nresources = [\"*\"]\n",
            "envs/test.toml:9:10: task_role.statements[0].effect: \"allow\" is not an effect; allowed \"Allow\" or \"Deny\" (did you mean \"Allow\"?)",
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(&error_of(&with(extra)), expected, "{extra}");
    }
}

#[test]
fn a_policy_in_another_partition_is_refused() {
    let message = error_of(&with(
        "[task_role]\nmanaged_policies = [\"arn:aws-cn:iam::aws:policy/ReadOnlyAccess\"]\n",
    ));
    assert!(
        message.contains("it is in partition aws-cn, but the stack's region is in aws"),
        "{message}"
    );
}

#[test]
fn statements_over_the_inline_policy_size_are_refused() {
    let actions: Vec<String> = (0..600)
        .map(|i| format!("\"s3:GetObjectVersion{i}\""))
        .collect();
    let message = error_of(&with(&format!(
        "[[task_role.statements]]\nactions = [{}]\nresources = [\"*\"]\n",
        actions.join(", ")
    )));
    assert!(
        message.contains("IAM allows at most 10240 in a role's inline policies"),
        "{message}"
    );
}

#[test]
fn action_and_resource_shapes() {
    for ok in [
        "*",
        "s3:GetObject",
        "sqs:*",
        "dynamodb:Get*",
        "execute-api:Invoke",
    ] {
        assert_eq!(check_action(ok), Ok(()), "{ok}");
    }
    for bad in ["s3", "s3:", ":Get", "S3:GetObject", "s3:Get Object"] {
        assert!(check_action(bad).is_err(), "{bad}");
    }
    for ok in [
        "*",
        "arn:aws:s3:::bucket/*",
        "arn:aws:sqs:eu-central-1:123456789012:jobs",
        "arn:aws:dynamodb:*:*:table/t",
    ] {
        assert_eq!(check_resource(ok), Ok(()), "{ok}");
    }
    for bad in ["bucket", "arn:aws:s3", "arn::s3:::b", "arn:aws:s3:::"] {
        assert!(check_resource(bad).is_err(), "{bad}");
    }
}

#[test]
fn container_name_defaults_to_app_and_takes_what_ecs_allows() {
    let config = Config::from_toml_str(MINIMAL, Path::new("t")).unwrap();
    assert_eq!(config.container.name, "app");
    let longest = "a".repeat(255);
    for name in ["web", "my-app_2", "A", longest.as_str()] {
        let config = load(&format!("name = \"{name}\"\n"));
        assert_eq!(config.container.name, name);
        assert_eq!(config.validate(), Ok(()));
    }
}

#[test]
fn container_names_ecs_refuses_are_refused_with_their_position() {
    let allowed = "ECS allows up to 255 letters, digits, hyphens and underscores";
    let cases = [
        ("", "\"\" is empty".to_string()),
        ("my.app", "\"my.app\" contains '.'".to_string()),
        ("my app", "\"my app\" contains ' '".to_string()),
        ("appé", "\"appé\" contains 'é'".to_string()),
        (
            &*"a".repeat(256),
            format!("{:?} has 256 characters", "a".repeat(256)),
        ),
    ];
    for (name, why) in cases {
        assert_eq!(
            error_of(&with(&format!("name = \"{name}\"\n"))),
            format!("envs/test.toml:8:8: container.name: {why}; {allowed}"),
            "{name}"
        );
    }
}

#[test]
fn a_container_name_built_in_code_is_checked_by_validate_too() {
    let mut config = Config::from_toml_str(MINIMAL, Path::new("t")).unwrap();
    config.container.name = "no dots.".into();
    assert!(config.validate().is_err());
    config.container.name = "web".into();
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn capacity_providers_load_sorted_and_bad_ones_are_refused_with_their_position() {
    let config = load(
        "[service]\ncapacity_providers = [{ provider = \"FARGATE_SPOT\", weight = 3 }, \
         { provider = \"FARGATE\", weight = 1, base = 1 }]\n",
    );
    assert_eq!(
        config.service.capacity_providers,
        [
            CapacityProviderItem {
                provider: "FARGATE".into(),
                weight: 1,
                base: 1
            },
            CapacityProviderItem {
                provider: "FARGATE_SPOT".into(),
                weight: 3,
                base: 0
            },
        ]
    );
    for (strategy, message) in [
        ("[]", "an empty list; leave the key out for the Fargate launch type"),
        (
            "[{ provider = \"fargate-spot\", weight = 1 }]",
            "\"fargate-spot\" is not a Fargate capacity provider; allowed \"FARGATE\" or \"FARGATE_SPOT\" (did you mean \"FARGATE_SPOT\"?)",
        ),
        (
            "[{ provider = \"FARGATE\", weight = 1 }, { provider = \"FARGATE\", weight = 2 }]",
            "\"FARGATE\" is listed twice",
        ),
        ("[{ provider = \"FARGATE\" }]", "missing `weight` (0-1000)"),
        ("[{ provider = \"FARGATE\", weight = 1001 }]", "1001 is out of range"),
        ("[{ provider = \"FARGATE\", weight = 0 }]", "every weight is 0"),
        (
            "[{ provider = \"FARGATE\", weight = 1, base = 1 }, { provider = \"FARGATE_SPOT\", weight = 1, base = 2 }]",
            "a second `base`",
        ),
    ] {
        let error = error_of(&with(&format!("[service]\ncapacity_providers = {strategy}\n")));
        assert!(
            error.contains("service.capacity_providers") && error.contains(message),
            "{strategy}: {error}"
        );
        // Where: the line of the key, after MINIMAL's lines and `[service]`.
        assert!(error.contains("envs/test.toml:9:"), "{strategy}: {error}");
    }
}

#[test]
fn an_invalid_condition_operator_passes_validate_then_fails_at_aws() {
    // Reported case: `conditions = { Foo = { "aws:x" = "y" } }` was valid for `validate`, and
    // `apply` then created the role and failed at PutRolePolicy.
    let error = error_of(&with(
        "[task_role]\n[[task_role.statements]]\nactions = [\"sqs:SendMessage\"]\n\
         resources = [\"*\"]\nconditions = { Foo = { \"aws:x\" = \"y\" } }\n",
    ));
    assert!(
        error.contains("task_role.statements[0].conditions.Foo")
            && error.contains("is not one of IAM's condition operators"),
        "{error}"
    );
    for operator in [
        "StringEquals",
        "StringLikeIfExists",
        "ForAllValues:StringEquals",
        "ForAnyValue:ArnLike",
        "Null",
        "Bool",
    ] {
        let config = with(&format!(
            "[task_role]\n[[task_role.statements]]\nactions = [\"sqs:SendMessage\"]\n\
             resources = [\"*\"]\nconditions = {{ \"{operator}\" = {{ \"aws:x\" = \"y\" }} }}\n"
        ));
        assert!(
            Config::from_toml_str(&config, Path::new("envs/test.toml")).is_ok(),
            "{operator}"
        );
    }
}

#[test]
fn release_command_and_ecs_exec_load_and_round_trip_through_validate() {
    let config = load(
        "[service]\nenable_exec = true\n[release]\ncommand = [\"flask\", \"db\", \"upgrade\"]\n",
    );
    assert!(config.service.enable_exec);
    assert!(config.wants_task_role());
    assert_eq!(
        config.release,
        Some(ReleaseConfig {
            command: vec!["flask".into(), "db".into(), "upgrade".into()]
        })
    );
    assert_eq!(config.validate(), Ok(()));
    let plain = Config::from_toml_str(MINIMAL, Path::new("t")).unwrap();
    assert!(!plain.service.enable_exec && !plain.wants_task_role());
    assert_eq!(plain.release, None);
}

#[test]
fn a_release_section_without_a_command_is_refused_with_its_position() {
    for (text, message) in [
        ("[release]\n", "release.command: missing"),
        (
            "[release]\ncommand = []\n",
            "release.command: an empty command",
        ),
        (
            "[release]\ncommand = [\"\"]\n",
            "release.command: an empty command",
        ),
        ("[release]\ncmd = [\"x\"]\n", "cmd"),
    ] {
        let error = error_of(&with(text));
        assert!(error.contains(message), "{text}: {error}");
    }
}
