//! Unit tests of loading and validation, kept apart from the code because they
//! are as long as it is: exact messages for the bad-configuration corpus, the
//! AWS limits, and the syntax of each kind of value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::formats::{check_endpoint_url, check_matcher};
use super::schema::{SCHEMA, TABLE_KEYS};
use super::validate::region_error;
use super::*;

pub(super) fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(super) const MINIMAL: &str = r#"
project = "simhill"
environment = "dev"
region = "eu-central-1"

[container]
image = "nginx:1.27"
"#;

/// Loads `text` under the origin `envs/test.toml` and returns the error
/// text, failing the test if it loaded.
pub(super) fn error_of(text: &str) -> String {
    match Config::from_toml_str(text, Path::new("envs/test.toml")) {
        Ok(c) => panic!("expected an error, got {c:#?}"),
        Err(e) => e.to_string(),
    }
}

/// MINIMAL with `line` appended (so line numbers start at 8).
pub(super) fn with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn dev_toml_loads_with_exactly_the_documented_values() {
    let config = Config::load(&manifest_dir().join("envs/dev.toml")).unwrap();
    let expected = Config {
        project: "simhill".into(),
        environment: "dev".into(),
        region: "eu-central-1".into(),
        endpoint_url: None,
        container: ContainerConfig {
            image: "946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest".into(),
            name: "app".into(),
            port: 5000,
            environment: BTreeMap::from([
                ("FLASK_APP".to_string(), "hello".to_string()),
                ("FLASK_ENV".to_string(), "production".to_string()),
            ]),
            secrets: BTreeMap::new(),
            command: Vec::new(),
            entry_point: Vec::new(),
            health_check: None,
            stop_timeout_seconds: None,
            read_only_root_filesystem: false,
        },
        task: TaskConfig {
            cpu: 256,
            memory: 512,
            cpu_architecture: CpuArchitecture::X86_64,
        },
        service: ServiceConfig {
            desired_count: 2,
            min_healthy_percent: 100,
            max_percent: 200,
            health_check_grace_seconds: 60,
            circuit_breaker: true,
            capacity_providers: Vec::new(),
            enable_exec: false,
        },
        load_balancer: LoadBalancerConfig {
            port: 80,
            deregistration_delay_seconds: 30,
            allowed_cidrs: vec!["0.0.0.0/0".into()],
            internal: false,
            ip_address_type: IpAddressType::Ipv4,
        },
        health_check: HealthCheckConfig {
            path: "/".into(),
            interval_seconds: 30,
            timeout_seconds: 5,
            healthy_threshold: 2,
            unhealthy_threshold: 2,
            matcher: "200".into(),
        },
        logs: LogsConfig { retention_days: 30 },
        ecr: EcrConfig {
            scan_on_push: true,
            immutable_tags: false,
            keep_images: 30,
        },
        timeouts: TimeoutsConfig {
            iam_propagation: 240,
            resource_release: 1200,
            deployment: 900,
            certificate_validation: 1800,
            dns_propagation: 600,
        },
        task_role: None,
        state: StateConfig::Local,
        autoscaling: None,
        names: Default::default(),
        release: None,
        https: None,
        network: None,
    };
    assert_eq!(config, expected);
    assert_eq!(config.resource_name(suffix::ALB), "simhill-dev-alb");
}

#[test]
fn defaults_fill_in() {
    let config = Config::from_toml_str(MINIMAL, Path::new("m.toml")).unwrap();
    assert_eq!(config.endpoint_url, None);
    assert_eq!(config.container.port, 5000);
    assert!(config.container.environment.is_empty());
    assert!(config.container.secrets.is_empty());
    assert_eq!(config.task, TaskConfig::default());
    assert_eq!(config.task.cpu, 256);
    assert_eq!(config.task.memory, 512);
    assert_eq!(config.service, ServiceConfig::default());
    assert_eq!(config.service.desired_count, 2);
    assert_eq!(config.load_balancer, LoadBalancerConfig::default());
    assert_eq!(config.load_balancer.port, 80);
    assert_eq!(config.health_check, HealthCheckConfig::default());
    assert_eq!(config.health_check.matcher, "200");
    assert_eq!(config.logs.retention_days, 30);
    assert_eq!(config.ecr, EcrConfig::default());
    assert_eq!(config.timeouts, TimeoutsConfig::default());
    assert_eq!(config.timeouts.resource_release, 1200);

    // The public serde derive must fill in the same defaults as the loader.
    let direct: Config = toml::from_str(MINIMAL).unwrap();
    assert_eq!(direct, config);
    assert_eq!(direct.validate(), Ok(()));
}

#[test]
fn partial_tables_keep_other_defaults() {
    let config = Config::from_toml_str(
        &with("[task]\ncpu = 1024\nmemory = 2048\n[health_check]\npath = \"/health\"\n"),
        Path::new("m.toml"),
    )
    .unwrap();
    assert_eq!(
        config.task,
        TaskConfig {
            cpu: 1024,
            memory: 2048,
            cpu_architecture: CpuArchitecture::X86_64,
        }
    );
    assert_eq!(config.health_check.path, "/health");
    assert_eq!(config.health_check.interval_seconds, 30);
}

#[test]
fn serialization_round_trips() {
    let config = Config::load(&manifest_dir().join("envs/dev.toml")).unwrap();
    let text = toml::to_string(&config).unwrap();
    let again = Config::from_toml_str(&text, Path::new("roundtrip.toml")).unwrap();
    assert_eq!(again, config);
}

/// Each file in the corpus starts with `# expect: KEY[, KEY...]`, the keys
/// its error message must name.
#[test]
fn every_bad_config_fails_naming_its_key() {
    let dir = manifest_dir().join("tests/fixtures/bad-configs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus too small: {}", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect:"))
            .unwrap_or_else(|| panic!("{} lacks an `# expect:` line", file.display()));
        let message = match Config::load(&file) {
            Ok(_) => panic!("{} loaded but should not", file.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            message.starts_with(&file.display().to_string()),
            "{}: message does not start with the path:\n{message}",
            file.display()
        );
        for key in expect.split(',').map(str::trim) {
            assert!(
                message.contains(key),
                "{}: message does not mention {key:?}:\n{message}",
                file.display()
            );
        }
    }
}

#[test]
fn every_good_config_loads() {
    let dir = manifest_dir().join("tests/fixtures/good-configs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        if let Err(e) = Config::load(&file) {
            panic!("{}", e);
        }
    }
}

fn corpus_error(name: &str) -> String {
    let file = manifest_dir().join("tests/fixtures/bad-configs").join(name);
    let text = std::fs::read_to_string(file).unwrap();
    let origin = PathBuf::from("tests/fixtures/bad-configs").join(name);
    Config::from_toml_str(&text, &origin)
        .unwrap_err()
        .to_string()
}

#[test]
fn exact_message_region_typo() {
    assert_eq!(
        corpus_error("region-typo.toml"),
        "tests/fixtures/bad-configs/region-typo.toml:4:10: region: \"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?"
    );
}

#[test]
fn exact_message_cpu_memory() {
    assert_eq!(
        corpus_error("bad-cpu-memory.toml"),
        "tests/fixtures/bad-configs/bad-cpu-memory.toml:11:10: task.memory: 4096 is not valid with cpu 256; Fargate allows memory 512, 1024 or 2048 with cpu 256, or memory 4096 with cpu 512, 1024 or 2048"
    );
    assert_eq!(
        error_of(&with("[task]\ncpu = 256\nmemory = 300\n")),
        "envs/test.toml:10:10: task.memory: 300 is not valid with cpu 256; Fargate allows memory 512, 1024 or 2048 with cpu 256"
    );
    assert_eq!(
        error_of(&with("[task]\ncpu = 4096\nmemory = 4096\n")),
        "envs/test.toml:10:10: task.memory: 4096 is not valid with cpu 4096; Fargate allows memory 8192 to 30720 in steps of 1024 with cpu 4096, or memory 4096 with cpu 512, 1024 or 2048"
    );
}

#[test]
fn exact_message_unknown_nested_key() {
    assert_eq!(
        corpus_error("unknown-nested-key.toml"),
        "tests/fixtures/bad-configs/unknown-nested-key.toml:10:1: unknown key `intervall_seconds` in [health_check] (did you mean `interval_seconds`?); expected one of: path, interval_seconds, timeout_seconds, healthy_threshold, unhealthy_threshold, matcher"
    );
}

#[test]
fn exact_message_wrong_type() {
    assert_eq!(
        corpus_error("wrong-type.toml"),
        "tests/fixtures/bad-configs/wrong-type.toml:8:8: container.port: expected an integer, found string \"5000\""
    );
}

#[test]
fn exact_message_missing_keys() {
    assert_eq!(
        corpus_error("missing-required-key.toml"),
        "tests/fixtures/bad-configs/missing-required-key.toml:1:1: region: missing required key at the top level (before the first [table]); an AWS region, like \"eu-central-1\""
    );
    assert_eq!(
        error_of("project = \"simhill\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n[container]\nport = 80\n"),
        "envs/test.toml:4:1: container.image: missing required key in [container]; an image reference, like \"nginx:1.27\""
    );
}

#[test]
fn exact_message_malformed() {
    assert_eq!(
        corpus_error("malformed-toml.toml"),
        "tests/fixtures/bad-configs/malformed-toml.toml:2:11: invalid TOML: expected a value; strings need quotes, like \"simhill\"\n  2 | project = simhill           # strings need quotes\n    |           ^"
    );
}

#[test]
fn exact_message_project_too_long() {
    assert_eq!(
        corpus_error("project-too-long.toml"),
        "tests/fixtures/bad-configs/project-too-long.toml:2:11: project: \"simhill-customer-portal-frontend\" is too long: with environment \"dev\" the load balancer name \"simhill-customer-portal-frontend-dev-alb\" has 40 characters, and AWS allows at most 32; project and environment together may have at most 27 characters"
    );
}

#[test]
fn exact_message_several_problems_in_file_order() {
    let message = corpus_error("several-problems.toml");
    let path = "tests/fixtures/bad-configs/several-problems.toml";
    let expected = [
        format!("{path}: 6 problems:"),
        format!("  {path}:2:11: project: \"SimHill\" has uppercase letters; use lowercase letters, digits and single hyphens, starting with a letter (did you mean \"simhill\"?)"),
        format!("  {path}:4:10: region: \"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?"),
        format!("  {path}:8:8: container.port: 0 is not a valid port; ports 1-65535"),
        format!("  {path}:12:10: task.memory: 300 is not valid with cpu 256; Fargate allows memory 512, 1024 or 2048 with cpu 256"),
        format!("  {path}:15:19: health_check.timeout_seconds: 30 must be less than interval_seconds (10)"),
        format!("  {path}:19:18: logs.retention_days: 45 is not a CloudWatch Logs retention period; allowed 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653"),
    ]
    .join("\n");
    assert_eq!(message, expected);
}

#[test]
fn problems_carry_key_line_and_column() {
    let err = Config::from_toml_str(
        &with("[load_balancer]\nport = 70000\n"),
        Path::new("x.toml"),
    )
    .unwrap_err();
    let ConfigError::Invalid { problems, .. } = err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        problems,
        vec![Problem {
            key: "load_balancer.port".into(),
            line: Some(9),
            column: Some(8),
            message: "70000 is not a valid port; ports 1-65535".into(),
        }]
    );
}

#[test]
fn region_suggestions() {
    let msg = |r: &str| region_error(r).unwrap();
    assert_eq!(
        msg("eu-centra1-1"),
        "\"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?"
    );
    assert!(msg("EU-CENTRAL-1").ends_with("did you mean \"eu-central-1\"?"));
    assert!(msg("eu-central-1a").contains("availability zone"));
    assert!(msg("us-east-3").ends_with("did you mean \"us-east-1\" or \"us-east-2\"?"));
    assert!(msg("eu-cnetral-1").ends_with("did you mean \"eu-central-1\"?"));
    assert!(msg("frankfurt").contains("; AWS regions are: af-south-1, "));
    assert!(msg("eu-frankfurt-1").ends_with(
        "; AWS regions are: eu-central-1, eu-central-2, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-2, eu-west-3"
    ));
    for region in [
        "us-east-1",
        "eu-central-2",
        "ap-southeast-5",
        "mx-central-1",
        "cn-north-1",
        "us-gov-west-1",
    ] {
        assert_eq!(region_error(region), None, "{region}");
    }
}

#[test]
fn regions_are_sorted_and_unique() {
    assert!(AWS_REGIONS.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn fargate_combinations() {
    assert_eq!(fargate_memory_options(256), Some(vec![512, 1024, 2048]));
    assert_eq!(
        fargate_memory_options(512),
        Some(vec![1024, 2048, 3072, 4096])
    );
    assert_eq!(fargate_memory_options(4096).unwrap().len(), 23);
    assert_eq!(fargate_memory_options(8192).unwrap().last(), Some(&61440));
    assert_eq!(fargate_memory_options(16384).unwrap().first(), Some(&32768));
    assert_eq!(fargate_memory_options(16384).unwrap().last(), Some(&122880));
    assert_eq!(fargate_memory_options(300), None);
    let msg = error_of(&with("[task]\ncpu = 1\n"));
    assert_eq!(
        msg,
        "envs/test.toml:9:7: task.cpu: 1 is not a Fargate CPU value; allowed 256, 512, 1024, 2048, 4096, 8192 or 16384 (1024 = 1 vCPU); did you mean 1024?"
    );
    // A default memory that does not fit an explicit cpu points at cpu.
    let msg = error_of(&with("[task]\ncpu = 1024\n"));
    assert!(
        msg.starts_with("envs/test.toml:9:7: task.memory: 512 is not valid with cpu 1024"),
        "{msg}"
    );
}

#[test]
fn parse_errors_name_key_and_expectation() {
    assert_eq!(
        error_of(&format!("cpu = 256\n{MINIMAL}")),
        "envs/test.toml:1:1: unknown key `cpu` at the top level (`cpu` belongs in [task]); expected one of: project, environment, region, endpoint_url, container, task, service, load_balancer, health_check, logs, ecr, timeouts, task_role, state, autoscaling, release, https, network, names"
    );
    assert_eq!(
        error_of(&with("[task]\ncpu = 0.25\n")),
        "envs/test.toml:9:7: task.cpu: expected an integer, found float `0.25`"
    );
    assert_eq!(
        error_of(&with("[container.environment]\nPORT = 5000\n")),
        "envs/test.toml:9:8: container.environment.PORT: expected a string, found integer `5000`; put it in quotes: \"5000\""
    );
    assert_eq!(
        error_of(&with("[[task]]\ncpu = 256\n")),
        "envs/test.toml:8:1: task: expected a table [task], found an array of tables [[task]]"
    );
    assert_eq!(
        error_of("project = \"a\"\nenvironment = \"b\"\nregion = \"eu-central-1\"\ncontainer = \"nginx\"\n"),
        "envs/test.toml:4:13: container: expected a table [container], found string \"nginx\""
    );
    assert_eq!(
        error_of("project = \"a\"\nenvironment = \"b\"\nregion = \"eu-central-1\"\ncontainer = { imgae = \"x\" }\n"),
        "envs/test.toml:4:15: unknown key `imgae` in [container] (did you mean `image`?); expected one of: image, name, port, environment, secrets, command, entry_point, health_check, stop_timeout_seconds, read_only_root_filesystem"
    );
    assert_eq!(
        error_of(&with("[logs]\nretention = 30\n")),
        "envs/test.toml:9:1: unknown key `retention` in [logs] (did you mean `retention_days`?); expected one of: retention_days"
    );
    // Several unknown keys are listed together, in file order, not one per run.
    assert_eq!(
        error_of(&with("[logs]\nretention = 30\n\n[task]\ncpus = 256\n")),
        "envs/test.toml: 2 problems:\n  \
         envs/test.toml:9:1: logs.retention: unknown key `retention` in [logs] (did you mean \
         `retention_days`?); expected one of: retention_days\n  \
         envs/test.toml:12:1: task.cpus: unknown key `cpus` in [task] (did you mean `cpu`?); \
         expected one of: cpu, memory, cpu_architecture"
    );
    let dup = error_of(&with("[task]\ncpu = 256\ncpu = 512\n"));
    assert!(
        dup.starts_with("envs/test.toml:10:1: invalid TOML: duplicate key `cpu`"),
        "{dup}"
    );
}

#[test]
fn missing_file_lists_the_existing_ones() {
    let dir = std::env::temp_dir().join(format!("deployer-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dev.toml"), MINIMAL).unwrap();
    std::fs::write(dir.join("prod.toml"), MINIMAL).unwrap();
    let missing = dir.join("dve.toml");
    let message = Config::load(&missing).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    let d = dir.display();
    assert!(
        message.starts_with(&format!("cannot read {d}/dve.toml: ")),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "\n  hint: did you mean {d}/dev.toml? (.toml files in {d}: dev.toml, prod.toml)"
        )),
        "{message}"
    );
    let gone = Config::load(Path::new("/nonexistent-deployer-dir/x.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        gone.contains("hint: directory /nonexistent-deployer-dir does not exist here"),
        "{gone}"
    );
}

#[test]
fn schema_matches_the_structs() {
    // serde lists a table's fields when it meets an unknown one. MINIMAL
    // ends inside [container].
    for (table, fields) in SCHEMA {
        let text = match *table {
            "" => format!("zzz = 1\n{MINIMAL}"),
            "container" => with("zzz = 1\n"),
            _ => with(&format!("[{table}]\nzzz = 1\n")),
        };
        let message = error_of(&text);
        assert!(
            message.ends_with(&format!("expected one of: {}", fields.join(", "))),
            "{table}: {message}"
        );
    }
    for path in TABLE_KEYS {
        let fields = SCHEMA
            .iter()
            .find(|(t, _)| *t == path[..path.len() - 1].join("."));
        assert!(fields.is_some_and(|(_, f)| f.contains(&path[path.len() - 1])));
    }
}

#[test]
fn ranges_are_enforced() {
    let cases: &[(&str, &str)] = &[
        (
            "[service]\ndesired_count = -1\n",
            "service.desired_count: -1 is out of range; allowed 0-5000 (ECS runs at most 5000 tasks per service)",
        ),
        (
            "[service]\nmin_healthy_percent = 101\n",
            "service.min_healthy_percent: 101 is out of range; allowed 0-100",
        ),
        (
            "[service]\nmax_percent = 99\n",
            "service.max_percent: 99 is out of range; allowed 100-400",
        ),
        (
            "[service]\nhealth_check_grace_seconds = 2147483648\n",
            "allowed 0-2147483647",
        ),
        (
            "[load_balancer]\nderegistration_delay_seconds = 3601\n",
            "allowed 0-3600",
        ),
        (
            "[health_check]\ninterval_seconds = 4\n",
            "health_check.interval_seconds: 4 is out of range; allowed 5-300",
        ),
        ("[health_check]\ntimeout_seconds = 1\n", "allowed 2-120"),
        ("[health_check]\nhealthy_threshold = 11\n", "allowed 2-10"),
        ("[health_check]\nunhealthy_threshold = 1\n", "allowed 2-10"),
        (
            "[health_check]\ntimeout_seconds = 30\n",
            "health_check.timeout_seconds: 30 must be less than interval_seconds (30)",
        ),
        (
            "[health_check]\npath = \"health\"\n",
            "(did you mean \"/health\"?)",
        ),
        (
            "[health_check]\nmatcher = \"200-\"\n",
            "health_check.matcher",
        ),
        ("[logs]\nretention_days = 0\n", "logs.retention_days"),
        (
            "[ecr]\nkeep_images = 1001\n",
            "ecr.keep_images: 1001 is out of range; allowed 0-1000",
        ),
        ("[timeouts]\niam_propagation = 0\n", "allowed 1-3600"),
        ("[timeouts]\nresource_release = 7201\n", "allowed 1-7200"),
        ("[timeouts]\ndeployment = 86401\n", "allowed 1-86400"),
    ];
    for (extra, expected) in cases {
        let message = error_of(&with(extra));
        assert!(message.contains(expected), "{extra}: {message}");
    }
}

#[test]
fn names_and_derived_names() {
    let load = |p: &str, e: &str| {
        Config::from_toml_str(
            &format!("project = \"{p}\"\nenvironment = \"{e}\"\nregion = \"eu-central-1\"\n[container]\nimage = \"x\"\n"),
            Path::new("n.toml"),
        )
    };
    for ok in ["a", "simhill", "my-app2", "a1-b2-c3"] {
        assert!(load(ok, "dev").is_ok(), "{ok}");
    }
    for bad in [
        "", "1app", "-app", "app-", "my--app", "my_app", "My-App", "my app", "app!",
    ] {
        let message = load(bad, "dev").unwrap_err().to_string();
        assert!(message.contains("project: "), "{bad}: {message}");
    }
    // 27 characters together is the limit (the ALB name then has 32).
    assert!(load(&"a".repeat(23), "prod").is_ok());
    let message = load(&"a".repeat(24), "prod").unwrap_err().to_string();
    assert!(
        message.contains("has 33 characters, and AWS allows at most 32"),
        "{message}"
    );
    assert!(!message.contains("problems"), "one problem only: {message}");
    let message = load("internal", "dev").unwrap_err().to_string();
    assert!(message.contains("\"internal-\" prefix"), "{message}");
    let message = load("app", "Prod_1").unwrap_err().to_string();
    assert!(
        message.contains("environment: \"Prod_1\" has uppercase letters"),
        "{message}"
    );
    assert!(message.contains("(did you mean \"prod-1\"?)"), "{message}");
}

#[test]
fn resource_names_follow_the_rule() {
    let config = Config::from_toml_str(MINIMAL, Path::new("m.toml")).unwrap();
    assert_eq!(
        config.resource_name(suffix::TASK_EXECUTION_ROLE),
        "simhill-dev-ecs-task-execution-role"
    );
    let suffixes: Vec<&str> = RESOURCE_SUFFIXES.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(
        suffixes,
        [
            "alb",
            "tg",
            "ecs-task-execution-role",
            "task-role",
            "ecr",
            "alb-sg",
            "ecs-sg",
            "logs",
            "cluster",
            "service",
            "task"
        ]
    );
}

#[test]
fn image_references() {
    let good = [
        "nginx",
        "nginx:1.27",
        "library/nginx:latest",
        "946760796955.dkr.ecr.eu-central-1.amazonaws.com/flask-tp-app:latest",
        "localhost:5000/my_app:v1.0",
        "ghcr.io/org/sub/app__x.y-z:TAG_1",
        "registry.example.com:443/a/b",
        "[::1]:5000/app",
        "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ];
    for image in good {
        assert_eq!(check_image_reference(image), Ok(()), "{image}");
    }
    let bad = [
        "",
        "Flask-App:latest",
        "https://ghcr.io/app",
        "app:",
        "app:-x",
        "app:has space",
        "app@sha256:abc",
        "app@md5:0123456789abcdef0123456789abcdef",
        "my..app",
        "my-app-",
        "_app",
        "host:99999/app",
        "bad_host.com/app",
        "a//b",
        "app:tag:extra",
    ];
    for image in bad {
        assert!(check_image_reference(image).is_err(), "{image}");
    }
}

#[test]
fn endpoint_urls() {
    for ok in [
        "http://127.0.0.1:5000",
        "https://localhost",
        "http://moto:5000/",
        "http://[::1]:4566",
    ] {
        assert_eq!(check_endpoint_url(ok), Ok(()), "{ok}");
    }
    for bad in [
        "127.0.0.1:5000",
        "ftp://x",
        "http://",
        "http://:5000",
        "http://host:0",
        "http://a b",
        "http://u:p@host",
    ] {
        assert!(check_endpoint_url(bad).is_err(), "{bad}");
    }
    let message = error_of(&format!("endpoint_url = \"localhost:5000\"\n{MINIMAL}"));
    assert_eq!(
        message,
        "envs/test.toml:1:16: endpoint_url: \"localhost:5000\" does not start with http:// or https:// (did you mean \"http://localhost:5000\"?)"
    );
}

#[test]
fn matchers() {
    for ok in ["200", "200,302", "200-299", "404", "200,201,202"] {
        assert_eq!(check_matcher(ok), Ok(()), "{ok}");
    }
    for bad in ["", "20", "500", "200-", "299-200", "200, 302", "abc", "199"] {
        assert!(check_matcher(bad).is_err(), "{bad}");
    }
}

#[test]
fn validate_reports_problems_without_positions() {
    let mut config = Config::from_toml_str(MINIMAL, Path::new("m.toml")).unwrap();
    config.region = "eu-centra1-1".into();
    config.container.port = 0;
    let problems = config.validate().unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["region", "container.port"]);
    assert!(problems
        .iter()
        .all(|p| p.line.is_none() && p.column.is_none()));
}

#[test]
fn bom_is_ignored() {
    assert!(Config::from_toml_str(&format!("\u{feff}{MINIMAL}"), Path::new("b.toml")).is_ok());
}

#[test]
fn allowed_cidrs_take_ipv4_and_ipv6_in_canonical_form() {
    let config = Config::from_toml_str(
        &with(
            "[load_balancer]\nallowed_cidrs = [\"203.0.113.0/24\", \"2001:DB8:0::/32\", \"198.51.100.7/32\"]\ninternal = true\n",
        ),
        Path::new("envs/test.toml"),
    )
    .unwrap();
    assert_eq!(
        config.load_balancer.allowed_cidrs,
        ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]
    );
    assert!(config.load_balancer.internal);
    // An IPv6 client needs a load balancer with an IPv6 address.
    assert_eq!(
        config.load_balancer.ip_address_type,
        IpAddressType::Dualstack
    );
}

#[test]
fn ip_address_type_follows_allowed_cidrs_unless_set() {
    let load = |table: &str| {
        Config::from_toml_str(
            &with(&format!("[load_balancer]\n{table}\n")),
            Path::new("envs/test.toml"),
        )
    };
    let ipv4 = load("allowed_cidrs = [\"203.0.113.0/24\"]").unwrap();
    assert_eq!(ipv4.load_balancer.ip_address_type, IpAddressType::Ipv4);
    let chosen = load("ip_address_type = \"dualstack\"").unwrap();
    assert_eq!(
        chosen.load_balancer.ip_address_type,
        IpAddressType::Dualstack
    );
    let contradiction = load("allowed_cidrs = [\"::/0\"]\nip_address_type = \"ipv4\"")
        .unwrap_err()
        .to_string();
    assert!(
        contradiction.contains("envs/test.toml:")
            && contradiction.contains("load_balancer.ip_address_type")
            && contradiction.contains(
                "\"ipv4\" leaves the load balancer without an IPv6 address, so \
                 load_balancer.allowed_cidrs \"::/0\" could never connect; use \"dualstack\""
            ),
        "{contradiction}"
    );
    let unknown = load("ip_address_type = \"ipv6\"").unwrap_err().to_string();
    assert!(
        unknown.contains("\"ipv6\" is not an IP address type; use \"ipv4\" or \"dualstack\""),
        "{unknown}"
    );
}

#[test]
fn allowed_cidrs_refuse_what_ec2_would_refuse() {
    for (cidrs, expected) in [
        ("[]", "the list is empty, so no one could connect"),
        ("[\"203.0.113.7\"]", "\"203.0.113.7\" has no prefix length"),
        // The reported case: an IPv4 address was offered "/128" too.
        (
            "[\"203.0.113.7\"]",
            "(the single address is \"203.0.113.7/32\")",
        ),
        (
            "[\"203.0.113.0/33\"]",
            "has an invalid prefix length; allowed 0-32",
        ),
        (
            "[\"2001:db8::/129\"]",
            "has an invalid prefix length; allowed 0-128",
        ),
        ("[\"example.com/24\"]", "is not a valid address"),
        (
            "[\"10.0.0.1/8\"]",
            "has bits set after its /8 prefix; EC2 takes the network address: \"10.0.0.0/8\"",
        ),
        (
            "[\"10.0.0.0/8\", \"10.0.0.0/8\"]",
            "\"10.0.0.0/8\" is listed twice",
        ),
    ] {
        let message = error_of(&with(&format!(
            "[load_balancer]\nallowed_cidrs = {cidrs}\n"
        )));
        assert!(
            message.contains("load_balancer.allowed_cidrs") && message.contains(expected),
            "{cidrs}: {message}"
        );
    }
}

#[test]
fn https_with_a_domain_in_its_zone_loads_with_its_defaults() {
    let config = Config::from_toml_str(
        &with(
            "[https]\ndomain = \"app.example.com\"\nhosted_zone = \"example.com.\"\nsubject_alternative_names = [\"*.app.example.com\"]\n",
        ),
        Path::new("envs/test.toml"),
    )
    .unwrap();
    let https = config.https.clone().unwrap();
    assert_eq!(https.hosted_zone.as_deref(), Some("example.com"));
    assert_eq!(https.ssl_policy, DEFAULT_SSL_POLICY);
    assert!(https.redirect_http && https.requests_certificate());
    assert_eq!(config.listener_ports(), [443, 80]);
    assert_eq!(
        (config.forward_port(), config.redirect_port()),
        (443, Some(80))
    );
}

#[test]
fn https_refuses_what_acm_route53_or_elb_would_refuse() {
    let arn = "arn:aws:acm:eu-central-1:123456789012:certificate/abc";
    for (table, key, expected) in [
        ("", "https", "[https] needs a certificate"),
        ("domain = \"app.example.com\"", "https.hosted_zone", "missing: a domain needs"),
        (
            "domain = \"app.example.org\"\nhosted_zone = \"example.com\"",
            "https.domain",
            "is not in the hosted zone \"example.com\"",
        ),
        (
            "domain = \"App.example.com\"\nhosted_zone = \"example.com\"",
            "https.domain",
            "has an invalid label \"App\"",
        ),
        (
            "domain = \"app.example.com.\"\nhosted_zone = \"example.com\"",
            "https.domain",
            "ends with a dot; write it without the trailing dot, like \"app.example.com\"",
        ),
        (
            "certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/abc\"",
            "https.certificate_arn",
            "only uses a certificate of its own region",
        ),
        (
            "certificate_arn = \"arn:aws:iam::123456789012:server-certificate/x\"",
            "https.certificate_arn",
            "is not an ACM certificate ARN",
        ),
        (
            &format!("certificate_arn = \"{arn}\"\nsubject_alternative_names = [\"www.example.com\"]"),
            "https.subject_alternative_names",
            "only for a certificate deployer requests",
        ),
        (
            "domain = \"app.example.com\"\nhosted_zone = \"example.com\"\nsubject_alternative_names = [\"www.example.org\"]",
            "https.subject_alternative_names",
            "is not in the hosted zone",
        ),
        (
            &format!("certificate_arn = \"{arn}\"\nssl_policy = \"TLS13\""),
            "https.ssl_policy",
            "is not an Application Load Balancer security policy",
        ),
    ] {
        let message = error_of(&with(&format!("[https]\n{table}\n")));
        assert!(
            message.contains(key) && message.contains(expected),
            "{table}: {message}"
        );
    }
    let message = error_of(&with(&format!(
        "[load_balancer]\nport = 443\n[https]\ncertificate_arn = \"{arn}\"\n"
    )));
    assert!(
        message.contains("load_balancer.port") && message.contains("HTTPS listener's"),
        "{message}"
    );
}

#[test]
fn network_takes_a_vpc_and_subnets_and_defaults_the_load_balancer_to_them() {
    let config = Config::from_toml_str(
        &with("[network]\nvpc_id = \"vpc-0a1b2c3d\"\nsubnets = [\"subnet-0a1b2c3d\", \"subnet-4e5f6a7b\"]\n"),
        Path::new("envs/test.toml"),
    )
    .unwrap();
    let network = config.network.unwrap();
    assert_eq!(network.load_balancer_subnets, network.subnets);
    assert!(
        !network.assign_public_ip,
        "private by default outside the default VPC"
    );
}

#[test]
fn network_refuses_malformed_ids_and_too_few_subnets() {
    for (table, key, expected) in [
        (
            "subnets = [\"subnet-0a1b2c3d\"]",
            "network.vpc_id",
            "needs vpc_id",
        ),
        (
            "vpc_id = \"vpc-0a1b2c3d\"\nsubnets = [\"subnet-0a1b2c3d\"]",
            "network.subnets",
            "at least two Availability Zones",
        ),
        (
            "vpc_id = \"vpc-xyz\"\nsubnets = [\"subnet-0a1b2c3d\", \"subnet-4e5f6a7b\"]",
            "network.vpc_id",
            "is not a VPC ID",
        ),
        (
            "vpc_id = \"vpc-0a1b2c3d\"\nsubnets = [\"subnet-0a1b2c3d\", \"sn-1\"]",
            "network.subnets",
            "\"sn-1\" is not a subnet ID",
        ),
        (
            "vpc_id = \"vpc-0a1b2c3d\"\nsubnets = [\"subnet-0a1b2c3d\", \"subnet-0a1b2c3d\"]",
            "network.subnets",
            "is listed twice",
        ),
    ] {
        let message = error_of(&with(&format!("[network]\n{table}\n")));
        let shown = key.replace("network.vpc_id", "network");
        assert!(
            (message.contains(key) || message.contains(&shown)) && message.contains(expected),
            "{table}: {message}"
        );
    }
}

fn load(text: &str) -> Config {
    Config::from_toml_str(text, Path::new("envs/test.toml")).unwrap()
}

#[test]
fn state_table_defaults_to_the_local_backend_and_reads_s3() {
    assert_eq!(load(MINIMAL).state, StateConfig::Local);
    assert_eq!(
        load(&with("[state]\nbackend = \"local\"\n")).state,
        StateConfig::Local
    );
    let config = load(&with(
        "[state]\nbackend = \"s3\"\nbucket = \"acme-state\"\nkms_key_id = \"alias/state\"\n",
    ));
    let StateConfig::S3(s3) = &config.state else {
        panic!("{:?}", config.state);
    };
    assert_eq!(s3.prefix, "deployer/");
    assert_eq!(s3.state_key("simhill", "dev"), "deployer/simhill/dev.json");
    assert_eq!(s3.lock_key("simhill", "dev"), "deployer/simhill/dev.lock");
    assert_eq!(s3.kms_key_id.as_deref(), Some("alias/state"));
    assert_eq!(s3.region, None);
    // A validated configuration round-trips through its raw form.
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn state_table_problems_name_the_key_and_what_is_allowed() {
    let missing = error_of(&with("[state]\nbackend = \"s3\"\n"));
    assert!(
        missing.contains(
            "envs/test.toml:9:11: state.bucket: missing required key for backend = \"s3\""
        ),
        "{missing}"
    );
    let bad = error_of(&with(
        "[state]\nbackend = \"s3\"\nbucket = \"Acme_State\"\nprefix = \"team\"\nregion = \"eu-centra1-1\"\n",
    ));
    assert!(
        bad.contains("state.bucket: \"Acme_State\" is not an S3 bucket name"),
        "{bad}"
    );
    assert!(
        bad.contains("state.prefix: \"team\" does not end in \"/\""),
        "{bad}"
    );
    assert!(
        bad.contains("state.region: \"eu-centra1-1\" is not an AWS region"),
        "{bad}"
    );
    let backend = error_of(&with("[state]\nbackend = \"consul\"\n"));
    assert!(
        backend.contains(
            "state.backend: \"consul\" is not a state backend; allowed \"local\" or \"s3\""
        ),
        "{backend}"
    );
    let local = error_of(&with("[state]\nbucket = \"acme-state\"\n"));
    assert!(
        local.contains("state.bucket: `bucket` is for backend = \"s3\""),
        "{local}"
    );
}

#[test]
fn state_urls_of_the_command_line() {
    let s3 = |url| match parse_state_url(url, &StateConfig::Local) {
        Ok(StateConfig::S3(s3)) => (s3.bucket, s3.prefix),
        other => panic!("{url}: {other:?}"),
    };
    assert_eq!(
        s3("s3://acme-state"),
        ("acme-state".into(), "deployer/".into())
    );
    assert_eq!(s3("s3://acme-state/"), ("acme-state".into(), "".into()));
    assert_eq!(
        s3("s3://acme-state/team"),
        ("acme-state".into(), "team/".into())
    );
    assert_eq!(
        s3("s3://acme-state/a/b/"),
        ("acme-state".into(), "a/b/".into())
    );
    assert_eq!(
        parse_state_url("local", &StateConfig::Local),
        Ok(StateConfig::Local)
    );
    let bad = parse_state_url("gs://acme-state", &StateConfig::Local).unwrap_err();
    assert!(
        bad.contains("expected \"s3://BUCKET/PREFIX/\" or \"local\""),
        "{bad}"
    );
    let bad = parse_state_url("s3://a", &StateConfig::Local).unwrap_err();
    assert!(bad.contains("not an S3 bucket name"), "{bad}");
    // The configuration's region and key stay with a URL that moves the objects.
    let configured = StateConfig::S3(S3StateConfig {
        bucket: "old".into(),
        prefix: "x/".into(),
        region: Some("us-east-1".into()),
        kms_key_id: Some("alias/k".into()),
    });
    let Ok(StateConfig::S3(moved)) = parse_state_url("s3://new-bucket/y/", &configured) else {
        panic!();
    };
    assert_eq!(moved.region.as_deref(), Some("us-east-1"));
    assert_eq!(moved.kms_key_id.as_deref(), Some("alias/k"));
}

#[test]
fn bucket_names_follow_the_s3_rules() {
    for good in ["abc", "acme-deployer-state", "a.b.c", &"a".repeat(63)] {
        assert_eq!(bucket_name_error(good), None, "{good}");
    }
    for bad in [
        "ab",
        "Acme",
        "a_b",
        "-ab",
        "ab-",
        "a..b",
        "192.168.1.1",
        &"a".repeat(64),
    ] {
        assert!(bucket_name_error(bad).is_some(), "{bad}");
    }
}
