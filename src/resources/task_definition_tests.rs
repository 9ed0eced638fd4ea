//! Unit tests of the task definition's comparison: what AWS reports back compares equal to
//! what was registered, and each configured field is its own change. Apart from
//! `task_definition.rs` only to keep both files a readable length.

use super::*;
use crate::names::ImageSource;

const CONTAINER_NAME: &str = "app";

const DB_PASSWORD: &str = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db-password";
const API_KEY: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/api-key-AbCdEf";

fn spec() -> Spec {
    Spec {
        family: "app-dev".into(),
        cpu: "256".into(),
        memory: "512".into(),
        execution_role_arn: "arn:aws:iam::123456789012:role/app-dev-execution".into(),
        container_name: CONTAINER_NAME.into(),
        image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev:v1".into(),
        container_port: 5000,
        environment: BTreeMap::from([("LOG_LEVEL".into(), "info".into())]),
        secrets: BTreeMap::from([("DB_PASSWORD".into(), DB_PASSWORD.into())]),
        log_group: "/ecs/app-dev".into(),
        log_region: "eu-west-1".into(),
        task_role_arn: String::new(),
        cpu_architecture: "X86_64".into(),
        command: Argv::default(),
        entry_point: Argv::default(),
        health_check: None,
        stop_timeout: None,
        read_only_root_filesystem: false,
    }
}

/// `spec()` with every setting of the app's own set.
fn app_spec() -> Spec {
    Spec {
        task_role_arn: "arn:aws:iam::123456789012:role/app-dev-task-role".into(),
        cpu_architecture: "ARM64".into(),
        command: Argv(vec!["gunicorn".into(), "app:app".into()]),
        entry_point: Argv(vec!["/bin/sh".into(), "-c".into()]),
        health_check: Some(HealthCheckSpec {
            command: Argv(vec![
                "CMD-SHELL".into(),
                "curl -f localhost || exit 1".into(),
            ]),
            interval: 30,
            timeout: 5,
            retries: 3,
            start_period: 0,
        }),
        stop_timeout: Some(90),
        read_only_root_filesystem: true,
        ..spec()
    }
}

fn live(spec: Spec) -> Live {
    Live::new(
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:7".into(),
        spec,
        Vec::new(),
    )
}

/// `spec` as the configured image wants it.
fn diff(live: &Live, spec: &Spec) -> Vec<Change> {
    let origin = ImageOrigin {
        source: ImageSource::Configuration,
        configured: spec.image.clone(),
        requested: spec.image.clone(),
    };
    TaskDefinition::diff(
        live,
        &Desired {
            spec: spec.clone(),
            origin,
        },
    )
}

/// `spec` registered as one container named `container`, as `DescribeTaskDefinition`
/// reports it: with the revision's metadata and the defaults AWS fills in.
fn reported(spec: &Spec, container: &str) -> aws_sdk_ecs::types::TaskDefinition {
    let mut definition = ContainerDefinition::builder()
        .name(container)
        .image(&spec.image)
        .cpu(0)
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(spec.container_port)
                .host_port(spec.container_port)
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-stream-prefix", LOG_STREAM_PREFIX)
                .options("awslogs-region", &spec.log_region)
                .options("awslogs-group", &spec.log_group)
                .build()
                .unwrap(),
        );
    for (name, value) in spec.environment.iter().rev() {
        definition =
            definition.environment(KeyValuePair::builder().name(name).value(value).build());
    }
    for (name, arn) in &spec.secrets {
        definition = definition.secrets(
            Secret::builder()
                .name(name)
                .value_from(arn)
                .build()
                .unwrap(),
        );
    }
    aws_sdk_ecs::types::TaskDefinition::builder()
        .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:7")
        .family(&spec.family)
        .revision(7)
        .status(TaskDefinitionStatus::Active)
        .cpu(&spec.cpu)
        .memory(&spec.memory)
        .execution_role_arn(&spec.execution_role_arn)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .compatibilities(Compatibility::Ec2)
        .compatibilities(Compatibility::Fargate)
        .container_definitions(definition.build())
        .build()
}

fn change(field: &str, old: &str, new: &str) -> Change {
    Change::new(field, old, new)
}

/// The diff of a live revision whose spec `edit` changed against the configured `spec()`.
fn diff_with(edit: impl FnOnce(&mut Spec)) -> Vec<Change> {
    let mut found = spec();
    edit(&mut found);
    diff(&live(found), &spec())
}

#[test]
fn same_definition_is_no_change() {
    assert_eq!(diff_with(|_| {}), Vec::<Change>::new());
}

#[test]
fn revision_with_aws_defaults_filled_in_is_no_change() {
    let found = spec_of(&reported(&spec(), CONTAINER_NAME), CONTAINER_NAME);
    assert_eq!(found, Some(spec()));
    assert_eq!(diff(&live(found.unwrap()), &spec()), Vec::<Change>::new());
}

#[test]
fn a_renamed_container_is_a_change_of_its_name_alone() {
    // Registered before `container.name` changed: its one container has the old name.
    let before = spec_of(&reported(&spec(), "app"), "web").unwrap();
    assert_eq!(before.container_name, "app");
    let wanted = Spec {
        container_name: "web".into(),
        ..spec()
    };
    assert_eq!(
        diff(&live(before), &wanted),
        [change("container_name", "app", "web")]
    );
}

#[test]
fn revision_without_our_container_differs_in_every_field() {
    // Registered by hand with two containers, neither of them named as configured.
    let web = reported(&spec(), "web");
    let sidecar = ContainerDefinition::builder()
        .name("sidecar")
        .image("busybox")
        .build();
    let hand_made = aws_sdk_ecs::types::TaskDefinition::builder()
        .family(&spec().family)
        .set_container_definitions(Some(vec![web.container_definitions()[0].clone(), sidecar]))
        .build();
    assert_eq!(spec_of(&hand_made, CONTAINER_NAME), None);
    // With one of them named as configured, that one is read.
    let found = spec_of(&hand_made, "web").map(|s| s.container_name);
    assert_eq!(found.as_deref(), Some("web"));
    // What the read reports for it: the family, and nothing of our container.
    let found = Spec::bare(&spec().family);
    let wanted = spec();
    assert_eq!(
        diff(&live(found), &wanted),
        [
            change("cpu", "(none)", "256"),
            change("memory", "(none)", "512"),
            change("execution_role_arn", "(none)", &wanted.execution_role_arn),
            change("container_name", "(none)", CONTAINER_NAME),
            change("image", "(none)", &wanted.image),
            change("container_port", "0", "5000"),
            change("environment", "(none)", "LOG_LEVEL=info"),
            change("secrets", "(none)", "DB_PASSWORD"),
            change("log_group", "(none)", "/ecs/app-dev"),
            change("log_region", "(none)", "eu-west-1"),
        ]
    );
}

#[test]
fn cpu_change_shows_plain_units() {
    assert_eq!(
        diff_with(|s| s.cpu = "512".into()),
        [change("cpu", "512", "256")]
    );
}

#[test]
fn memory_change_shows_plain_mebibytes() {
    assert_eq!(
        diff_with(|s| s.memory = "1024".into()),
        [change("memory", "1024", "512")]
    );
}

#[test]
fn execution_role_change_shows_both_arns() {
    let other = "arn:aws:iam::123456789012:role/other";
    assert_eq!(
        diff_with(|s| s.execution_role_arn = other.into()),
        [change(
            "execution_role_arn",
            other,
            &spec().execution_role_arn
        )]
    );
}

#[test]
fn image_change_shows_both_images() {
    let older = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev:v0";
    assert_eq!(
        diff_with(|s| s.image = older.into()),
        [change("image", older, &spec().image)]
    );
}

/// A re-pushed tag: the same tag, another digest, is a new revision; both sides show the tag
/// they were deployed as next to their digests, and the revision's tags record where the
/// image came from.
#[test]
fn a_pinned_image_change_shows_tag_and_digest() {
    let repo = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev";
    let origin = |source| ImageOrigin {
        source,
        configured: "nginx:1.27".into(),
        requested: format!("{repo}:latest"),
    };
    let tags: Vec<(String, String)> = origin(ImageSource::Override)
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let running = Live::new(
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:7".into(),
        Spec {
            image: format!("{repo}@sha256:aa"),
            ..spec()
        },
        tags,
    );
    assert_eq!(
        running.revision().origin,
        Some(origin(ImageSource::Override))
    );
    let desired = Desired {
        spec: Spec {
            image: format!("{repo}@sha256:bb"),
            ..spec()
        },
        origin: origin(ImageSource::Override),
    };
    assert_eq!(
        TaskDefinition::diff(&running, &desired),
        [change(
            "image",
            &format!("{repo}:latest@sha256:aa"),
            &format!("{repo}:latest@sha256:bb")
        )]
    );
    // The same image with another origin is the same revision.
    let same = Desired {
        spec: running.spec.clone(),
        origin: origin(ImageSource::Configuration),
    };
    assert_eq!(TaskDefinition::diff(&running, &same), []);
}

#[test]
fn container_port_change_shows_plain_numbers() {
    assert_eq!(
        diff_with(|s| s.container_port = 8080),
        [change("container_port", "8080", "5000")]
    );
}

#[test]
fn environment_change_shows_name_value_pairs() {
    assert_eq!(
        diff_with(|s| {
            s.environment.insert("LOG_LEVEL".into(), "debug".into());
            s.environment.insert("A".into(), "1".into());
        }),
        [change(
            "environment",
            "A=1, LOG_LEVEL=debug",
            "LOG_LEVEL=info"
        )]
    );
}

/// Reported case: the value of `DB_PASSWORD` in `[container.environment]` was printed by
/// every plan. A variable whose name looks like a secret shows whether it changed, never its
/// value, on either side.
#[test]
fn secret_values_echoed_into_ci_logs() {
    let env = |password: &str, token: &str| {
        BTreeMap::from([
            ("API_TOKEN".to_owned(), token.to_owned()),
            ("DB_PASSWORD".to_owned(), password.to_owned()),
            ("LOG_LEVEL".to_owned(), "info".to_owned()),
        ])
    };
    let diff = |old: BTreeMap<String, String>, new: BTreeMap<String, String>| {
        let found = Spec {
            environment: old,
            ..spec()
        };
        let wanted = Spec {
            environment: new,
            ..spec()
        };
        diff(&live(found), &wanted)
    };
    // One value changed: shown as changed, neither value shown.
    let changes = diff(env("old-hunter2", "tok-1"), env("hunter2", "tok-1"));
    assert_eq!(
        changes,
        [change(
            "environment",
            "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive), LOG_LEVEL=info",
            "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive, changed), LOG_LEVEL=info"
        )]
    );
    // Added, and removed.
    let mut without = env("", "tok-1");
    without.remove("DB_PASSWORD");
    assert_eq!(
        diff(without.clone(), env("hunter2", "tok-1")),
        [change(
            "environment",
            "API_TOKEN=(sensitive), LOG_LEVEL=info",
            "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive), LOG_LEVEL=info"
        )]
    );
    assert_eq!(
        diff(env("hunter2", "tok-1"), without),
        [change(
            "environment",
            "API_TOKEN=(sensitive), DB_PASSWORD=(sensitive), LOG_LEVEL=info",
            "API_TOKEN=(sensitive), LOG_LEVEL=info"
        )]
    );
    // Unchanged: no change at all.
    assert_eq!(
        diff(env("hunter2", "tok-1"), env("hunter2", "tok-1")),
        Vec::<Change>::new()
    );
    for c in diff(env("old-hunter2", "tok-1"), env("hunter2", "tok-2")) {
        for shown in [&c.old, &c.new] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("tok-"),
                "{c:?}"
            );
        }
    }
}

#[test]
fn new_secret_shows_names_not_arns() {
    let mut wanted = spec();
    wanted.secrets.insert("API_KEY".into(), API_KEY.into());
    let changes = diff(&live(spec()), &wanted);
    assert_eq!(
        changes,
        [change("secrets", "DB_PASSWORD", "API_KEY, DB_PASSWORD")]
    );
}

#[test]
fn secret_with_another_arn_is_one_change_without_arns() {
    let changes = diff_with(|s| {
        s.secrets.insert("DB_PASSWORD".into(), API_KEY.into());
    });
    assert_eq!(
        changes,
        [change("secrets", "(other ARNs)", "(configured ARNs)")]
    );
}

#[test]
fn renamed_secret_with_another_arn_is_one_change_without_arns() {
    let changes = diff_with(|s| {
        s.secrets = BTreeMap::from([("API_KEY".into(), API_KEY.into())]);
    });
    assert_eq!(changes, [change("secrets", "API_KEY", "DB_PASSWORD")]);
    assert!(changes
        .iter()
        .all(|c| !c.old.contains("arn:") && !c.new.contains("arn:")));
}

#[test]
fn log_group_change_shows_plain_names() {
    assert_eq!(
        diff_with(|s| s.log_group = "/ecs/other".into()),
        [change("log_group", "/ecs/other", "/ecs/app-dev")]
    );
}

#[test]
fn log_region_change_shows_plain_regions() {
    assert_eq!(
        diff_with(|s| s.log_region = "us-east-1".into()),
        [change("log_region", "us-east-1", "eu-west-1")]
    );
}

/// A revision registered from `app_spec()`, read back as ECS reports it: the health check
/// without the values that were ECS's defaults (ECS may leave them out), no
/// `runtimePlatform.operatingSystemFamily` distinction, `readonlyRootFilesystem` present.
fn reported_app(spec: &Spec, health_defaults_left_out: bool) -> aws_sdk_ecs::types::TaskDefinition {
    let check = spec.health_check.as_ref().unwrap();
    let mut health = HealthCheck::builder().set_command(Some(check.command.0.clone()));
    if !health_defaults_left_out {
        health = health
            .interval(check.interval)
            .timeout(check.timeout)
            .retries(check.retries)
            .start_period(check.start_period);
    }
    let container = ContainerDefinition::builder()
        .name(CONTAINER_NAME)
        .image(&spec.image)
        .cpu(0)
        .essential(true)
        .port_mappings(
            PortMapping::builder()
                .container_port(spec.container_port)
                .host_port(spec.container_port)
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .set_environment(Some(
            spec.environment
                .iter()
                .map(|(n, v)| KeyValuePair::builder().name(n).value(v).build())
                .collect(),
        ))
        .set_secrets(Some(
            spec.secrets
                .iter()
                .map(|(n, a)| Secret::builder().name(n).value_from(a).build().unwrap())
                .collect(),
        ))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", &spec.log_group)
                .options("awslogs-region", &spec.log_region)
                .options("awslogs-stream-prefix", LOG_STREAM_PREFIX)
                .build()
                .unwrap(),
        )
        .set_command(Some(spec.command.0.clone()))
        .set_entry_point(Some(spec.entry_point.0.clone()))
        .health_check(health.build().unwrap())
        .set_stop_timeout(spec.stop_timeout)
        .readonly_root_filesystem(spec.read_only_root_filesystem)
        .build();
    aws_sdk_ecs::types::TaskDefinition::builder()
        .task_definition_arn("arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:8")
        .family(&spec.family)
        .status(TaskDefinitionStatus::Active)
        .cpu(&spec.cpu)
        .memory(&spec.memory)
        .execution_role_arn(&spec.execution_role_arn)
        .task_role_arn(&spec.task_role_arn)
        .runtime_platform(
            RuntimePlatform::builder()
                .cpu_architecture(CpuArchitecture::Arm64)
                .operating_system_family(OsFamily::Linux)
                .build(),
        )
        .container_definitions(container)
        .build()
}

#[test]
fn every_app_setting_reads_back_as_written() {
    for defaults_left_out in [false, true] {
        let found = spec_of(
            &reported_app(&app_spec(), defaults_left_out),
            CONTAINER_NAME,
        );
        assert_eq!(
            found,
            Some(app_spec()),
            "defaults left out: {defaults_left_out}"
        );
    }
}

#[test]
fn a_revision_that_names_no_architecture_and_no_read_only_flag_is_todays() {
    let found = spec_of(&reported(&spec(), CONTAINER_NAME), CONTAINER_NAME).unwrap();
    assert_eq!(found.cpu_architecture, "X86_64");
    assert!(!found.read_only_root_filesystem);
    assert_eq!(diff(&live(found), &spec()), []);
}

#[test]
fn each_app_setting_is_its_own_change() {
    let changes = diff(&live(spec()), &app_spec());
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "task_role_arn",
            "cpu_architecture",
            "command",
            "entry_point",
            "container_health_check",
            "stop_timeout_seconds",
            "read_only_root_filesystem",
        ]
    );
    assert_eq!(
        changes[1],
        Change::new("cpu_architecture", "X86_64", "ARM64")
    );
    assert_eq!(
        changes[2],
        Change::new("command", "(none)", r#"["gunicorn","app:app"]"#)
    );
    assert_eq!(
        changes[4].new,
        r#"["CMD-SHELL","curl -f localhost || exit 1"] every 30 s, timeout 5 s, 3 retries, start period 0 s"#
    );
    // And back: removing them is a change too, to "(none)".
    let back = diff(&live(app_spec()), &spec());
    assert_eq!(back[0].new, "(none)");
    assert_eq!(back.len(), 7);
}
