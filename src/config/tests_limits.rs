//! Unit tests of the limits checked before any AWS call and of the wording of the messages
//! that name them: each test is named after the input it keeps refused. Apart from `tests.rs`
//! only to keep both files a readable length.

use std::path::Path;

use super::tests::{error_of, manifest_dir, with, MINIMAL};
use super::*;

#[test]
fn desired_count_above_the_ecs_quota_is_refused_not_capped() {
    let message = error_of(&with("[service]\ndesired_count = 4294967295\n"));
    assert_eq!(
        message,
        "envs/test.toml:9:17: service.desired_count: 4294967295 is out of range; allowed 0-5000 \
         (ECS runs at most 5000 tasks per service)"
    );
    let at_quota =
        Config::from_toml_str(&with("[service]\ndesired_count = 5000\n"), Path::new("t"));
    assert_eq!(at_quota.unwrap().service.desired_count, 5000);
    let built = Config {
        service: ServiceConfig {
            desired_count: 5001,
            ..ServiceConfig::default()
        },
        ..Config::from_toml_str(MINIMAL, Path::new("t")).unwrap()
    };
    assert!(built.validate().is_err(), "Config::validate applies it too");
}

#[test]
fn environment_value_over_the_task_definition_size_is_refused() {
    let big = "A".repeat(70 * 1024);
    let message = error_of(&with(&format!(
        "[container.environment]\nSMALL = \"x\"\nCA_BUNDLE = \"{big}\"\n"
    )));
    assert!(
        message.starts_with("envs/test.toml:10:13: container.environment.CA_BUNDLE: \"AAAA"),
        "{message}"
    );
    assert!(message.contains("(71680 bytes)"), "{message}");
    assert!(message.contains("65536 bytes (64 KiB)"), "{message}");
    assert!(
        message.len() < 600,
        "the value is not echoed whole: {message}"
    );
}

#[test]
fn many_environment_variables_over_the_task_definition_size_are_refused() {
    // No single value is large; together they are.
    let vars: String = (0..700)
        .map(|i| format!("VAR_{i:04} = \"{}\"\n", "v".repeat(100)))
        .collect();
    let message = error_of(&with(&format!("[container.environment]\n{vars}")));
    assert!(
        message.contains("makes the task definition too large"),
        "{message}"
    );
    // Just under the budget loads.
    let vars: String = (0..400)
        .map(|i| format!("VAR_{i:04} = \"{}\"\n", "v".repeat(100)))
        .collect();
    Config::from_toml_str(
        &with(&format!("[container.environment]\n{vars}")),
        Path::new("t"),
    )
    .unwrap();
}

#[test]
fn escaped_characters_count_as_json_counts_them() {
    use super::limits::task_definition_entry_bytes;
    let plain = task_definition_entry_bytes("A", "xx");
    assert_eq!(task_definition_entry_bytes("A", "\"\n"), plain + 2);
    assert_eq!(task_definition_entry_bytes("A", "\u{1}x"), plain + 5);
}

#[test]
fn image_longer_than_ecs_accepts_is_refused() {
    let image = format!("registry.example.com/{}/app:1", "a".repeat(240));
    let message = error_of(&with("").replace("nginx:1.27", &image));
    assert!(
        message.contains("it has 267 characters, and ECS accepts at most 255"),
        "{message}"
    );
    assert!(check_image_reference(&format!("{}:1", "a".repeat(253))).is_ok());
}

#[test]
fn configuration_file_over_one_mib_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    let padding = format!("# {}\n", "x".repeat(98)).repeat(11 * 1024);
    std::fs::write(&path, format!("{MINIMAL}{padding}")).unwrap();
    let message = Config::load(&path).unwrap_err().to_string();
    let size = std::fs::metadata(&path).unwrap().len();
    assert_eq!(
        message,
        format!(
            "{}: the file has {size} bytes, and a configuration may have at most 1048576 bytes \
             (1 MiB); is it the right file?",
            path.display()
        )
    );
    // Exactly at the limit is still read.
    let exact = format!("{MINIMAL}#");
    let fill = MAX_CONFIG_BYTES as usize - exact.len() - 1;
    std::fs::write(&path, format!("{exact}{}\n", "x".repeat(fill))).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), MAX_CONFIG_BYTES);
    Config::load(&path).unwrap();
}

#[test]
fn endless_configuration_file_is_refused_without_reading_it_all() {
    let path = Path::new("/dev/zero");
    if !path.exists() {
        return;
    }
    let message = Config::load(path).unwrap_err().to_string();
    assert!(
        message.starts_with("/dev/zero: the file has more than 1048576 bytes"),
        "{message}"
    );
}

#[test]
fn corpus_limits_are_named() {
    for (file, expected) in [
        ("desired-count-above-quota.toml", "allowed 0-5000"),
        (
            "environment-too-large.toml",
            "container.environment.CA_BUNDLE",
        ),
        ("image-too-long.toml", "ECS accepts at most 255"),
    ] {
        let path = manifest_dir().join("tests/fixtures/bad-configs").join(file);
        let message = Config::load(&path).unwrap_err().to_string();
        assert!(message.contains(expected), "{file}: {message}");
    }
}

#[test]
fn every_missing_required_key_is_reported_with_the_other_problems() {
    let message = error_of("environment = \"dev\"\n[container]\nport = 0\n");
    assert_eq!(
        message,
        "envs/test.toml: 4 problems:
  envs/test.toml:1:1: project: missing required key at the top level (before the first [table]); lowercase letters, digits and single hyphens, starting with a letter, like \"simhill\"
  envs/test.toml:1:1: region: missing required key at the top level (before the first [table]); an AWS region, like \"eu-central-1\"
  envs/test.toml:2:1: container.image: missing required key in [container]; an image reference, like \"nginx:1.27\"
  envs/test.toml:3:8: container.port: 0 is not a valid port; ports 1-65535"
    );
    // A missing [container] is one problem, not one more for its image.
    let message =
        error_of("project = \"simhill\"\nenvironment = \"dev\"\nregion = \"eu-central-1\"\n");
    assert_eq!(
        message,
        "envs/test.toml:1:1: container: missing required table [container]; it must set at least \
         `image`, like image = \"nginx:1.27\""
    );
}

#[test]
fn image_written_as_a_url_says_to_leave_out_the_scheme() {
    let message = error_of(&MINIMAL.replace("nginx:1.27", "http://registry.example.com/app:1"));
    assert!(
        message.contains(
            "an image reference has no scheme; leave out \"http://\" (did you mean \
             \"registry.example.com/app:1\"?)"
        ),
        "{message}"
    );
    let message = error_of(&MINIMAL.replace("nginx:1.27", "http:/registry.example.com/app:1"));
    assert!(message.contains("leave out \"http:/\""), "{message}");
    // A registry's port is not a scheme.
    assert!(check_image_reference("localhost:5000/app:1").is_ok());
}

#[test]
fn password_in_an_image_or_endpoint_url_is_never_echoed() {
    for image in [
        "https://user:hunter2@ghcr.io/org/app:1",
        "user:hunter2@ghcr.io/org/app:1",
    ] {
        let message = error_of(&MINIMAL.replace("nginx:1.27", image));
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("container.image: \""), "{message}");
        assert!(message.contains("***@ghcr.io/org/app:1"), "{message}");
    }
    let message = error_of(&MINIMAL.replace(
        "[container]",
        "endpoint_url = \"http://user:hunter2@127.0.0.1:5000\"\n[container]",
    ));
    assert_eq!(
        message,
        "envs/test.toml:6:16: endpoint_url: \"http://***@127.0.0.1:5000\" must not contain a user \
         name or password; AWS credentials come from the standard chain (environment variables, \
         --profile, SSO) (did you mean \"http://127.0.0.1:5000\"?)"
    );
    let message = error_of(&MINIMAL.replace(
        "[container]",
        "endpoint_url = \"user:hunter2@127.0.0.1:5000\"\n[container]",
    ));
    assert!(!message.contains("hunter2"), "{message}");
    // A digest is not a user name.
    let digest = format!("nginx@sha256:{}", "a".repeat(64));
    assert_eq!(redact_credentials(&digest), digest);
}

#[test]
fn environment_too_long_is_reported_at_environment() {
    let long = "a-very-long-environment-name";
    let message = error_of(&MINIMAL.replace("\"dev\"", &format!("\"{long}\"")));
    assert!(
        message.starts_with(&format!(
            "envs/test.toml:3:15: environment: \"{long}\" is too long: with project \"simhill\""
        )),
        "{message}"
    );
    let long = "a-very-long-project-name-x";
    let message = error_of(&MINIMAL.replace("\"simhill\"", &format!("\"{long}\"")));
    assert!(
        message.starts_with(&format!(
            "envs/test.toml:2:11: project: \"{long}\" is too long: with environment \"dev\""
        )),
        "{message}"
    );
}

#[test]
fn corpus_endpoint_url_with_password_keeps_it_out_of_the_message() {
    let path = manifest_dir().join("tests/fixtures/bad-configs/endpoint-url-with-password.toml");
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("s3cr3t-pa55"));
    let message = Config::load(&path).unwrap_err().to_string();
    assert!(!message.contains("s3cr3t"), "{message}");
    assert!(!message.contains("admin"), "{message}");
}
