//! Bad input never reaches AWS: a clear message naming the file, the key or line and what is
//! allowed; exit code 3; no AWS call; the state file untouched. No emulator runs behind the
//! recording proxy: any call would be recorded and fail.

use std::path::Path;

use crate::lifecycle::DEV_TOML;
use crate::support::TestEnv;

const STATE: &str = r#"{
  "version": 1,
  "project": "simhill",
  "environment": "dev",
  "region": "eu-central-1",
  "updated_at": 1,
  "resources": {},
  "outputs": { "alb_dns_name": "x.elb.amazonaws.com" }
}
"#;

/// Runs `args` in an environment whose `envs/dev.toml` is `config` (or absent) and whose state
/// file exists; asserts the invalid-input contract and returns stderr.
fn rejected(config: Option<&str>, args: &[&str]) -> String {
    let env = TestEnv::offline();
    if let Some(config) = config {
        env.write_config("dev", config);
    }
    let state = env.dir.path().join(".deployer/dev.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    std::fs::write(&state, STATE).unwrap();
    let output = env.deployer().args(args).assert().code(3);
    assert_eq!(env.proxy.calls(), [], "no AWS call on bad input");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        STATE,
        "state untouched"
    );
    let out = output.get_output();
    assert!(out.stdout.is_empty(), "nothing on stdout");
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn malformed_toml_names_file_and_line() {
    let stderr = rejected(Some("project = \"simhill\n"), &["apply", "--yes"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn unknown_key_names_key_and_allowed_keys() {
    let config = DEV_TOML.replace("[health_check]", "[health_check]\nintervall = 10");
    let stderr = rejected(Some(&config), &["apply", "--yes"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn wrong_type_names_key_and_expected_type() {
    let config = DEV_TOML.replace("desired_count = 2", "desired_count = \"two\"");
    let stderr = rejected(Some(&config), &["apply", "--yes"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn missing_value_names_the_key() {
    let config = DEV_TOML.replace("region = \"eu-central-1\"", "");
    let stderr = rejected(Some(&config), &["destroy", "--yes"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn missing_file_names_the_path() {
    let stderr = rejected(None, &["plan"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn environment_in_file_must_match_env_flag() {
    let config = DEV_TOML.replace("environment = \"dev\"", "environment = \"prod\"");
    let stderr = rejected(Some(&config), &["apply", "--yes", "--env", "dev"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn config_flag_skips_the_environment_vs_env_check() {
    // `--config FILE --env staging` acted on the file's environment, not the one named.
    let config = DEV_TOML.replace("environment = \"dev\"", "environment = \"prod\"");
    let stderr = rejected(
        Some(&config),
        &[
            "apply",
            "--yes",
            "--config",
            "envs/dev.toml",
            "--env",
            "staging",
        ],
    );
    assert!(
        stderr
            .contains("envs/dev.toml: environment is \"prod\" but the run was given --env staging"),
        "{stderr}"
    );
    // Without --env, the file names the environment.
    let env = TestEnv::offline();
    env.write_config("dev", &config);
    env.deployer()
        .args(["validate", "--config", "envs/dev.toml"])
        .assert()
        .success();
}

#[test]
fn unknown_flag_is_invalid_input() {
    let stderr = rejected(Some(DEV_TOML), &["apply", "--yes", "--colour"]);
    assert!(stderr.contains("--colour"), "{stderr}");
}

/// Every file of the corpus of bad configurations is refused before any AWS call, with a
/// message that names its file. The messages themselves are snapshots.
#[test]
fn corpus_of_bad_configurations() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad-configs");
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus too small: {files:?}");
    let env = TestEnv::offline();
    for file in files {
        let stem = file.file_stem().unwrap().to_str().unwrap();
        let relative = format!("envs/{stem}.toml");
        env.write_config(stem, &std::fs::read_to_string(&file).unwrap());
        let output = env
            .deployer()
            .args(["apply", "--yes", "--config", &relative])
            .assert()
            .code(3);
        let stderr = String::from_utf8(output.get_output().stderr.clone()).unwrap();
        assert!(stderr.contains(&relative), "{stem}: {stderr}");
        insta::assert_snapshot!(format!("corpus-{stem}"), stderr);
    }
    assert_eq!(
        env.proxy.calls(),
        [],
        "no AWS call for any bad configuration"
    );
}

#[test]
fn region_other_than_the_stacks_is_refused() {
    let env = TestEnv::offline();
    env.write_config("dev", DEV_TOML);
    let state = STATE.replace(
        r#""resources": {}"#,
        r#""resources": { "cluster": { "id": "simhill-dev-cluster" } }"#,
    );
    let path = env.dir.path().join(".deployer/dev.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &state).unwrap();
    let output = env
        .deployer()
        .args(["apply", "--yes", "--region", "us-east-1"])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("records a stack in eu-central-1, but this run targets us-east-1"),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), state);
}

/// `validate` checks the configuration and stops there: no AWS call, whether it is valid or not.
#[test]
fn validate_makes_no_aws_call() {
    let env = TestEnv::offline();
    env.write_config("dev", DEV_TOML);
    let output = env.deployer().arg("validate").assert().success();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.contains("is valid: simhill-dev in eu-central-1"),
        "{stderr}"
    );
    env.write_config(
        "dev",
        &DEV_TOML.replace("desired_count = 2", "desired_count = \"two\""),
    );
    env.deployer().arg("validate").assert().code(3);
    assert_eq!(env.proxy.calls(), [], "validate calls AWS");
}

#[test]
fn region_flag_typo_is_refused_before_any_call() {
    for args in [
        &["plan", "--region", "eu-centra1-1"][..],
        &["apply", "--yes", "--region", "eu-centra1-1"],
        &["validate", "--region", "eu-centra1-1"],
    ] {
        let stderr = rejected(Some(DEV_TOML), args);
        assert_eq!(
            stderr,
            "error: --region: \"eu-centra1-1\" is not an AWS region; did you mean \"eu-central-1\"?\n",
            "{args:?}"
        );
    }
}

#[test]
fn region_flag_typo_is_reported_with_the_files_problems() {
    let config = DEV_TOML.replace("port = 5000", "port = 0");
    let stderr = rejected(Some(&config), &["validate", "--region", "eu-centra1-1"]);
    insta::assert_snapshot!(stderr);
}

#[test]
fn state_dir_naming_a_file_names_the_option() {
    for args in [&["apply", "--yes"][..], &["plan"], &["outputs"]] {
        let env = TestEnv::offline();
        env.write_config("dev", DEV_TOML);
        std::fs::write(env.dir.path().join("state-file"), "not a directory").unwrap();
        let mut full = args.to_vec();
        full.extend(["--state-dir", "state-file"]);
        let output = env.deployer().args(&full).assert().code(3);
        let stderr = String::from_utf8_lossy(&output.get_output().stderr);
        assert_eq!(
            stderr,
            "error: --state-dir: \"state-file\" is a file, not a directory; name a directory for \
             the state files (created if missing), or leave the option out to use \".deployer\" \
             (DEPLOYER_STATE_DIR sets it too)\n",
            "{args:?}"
        );
        assert_eq!(env.proxy.calls(), [], "no AWS call: {args:?}");
    }
    let env = TestEnv::offline();
    env.write_config("dev", DEV_TOML);
    std::fs::write(env.dir.path().join("state-file"), "not a directory").unwrap();
    let output = env
        .deployer()
        .args(["apply", "--yes", "--state-dir", "state-file/dev"])
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    assert!(
        stderr.starts_with(
            "error: --state-dir: \"state-file/dev\" cannot be a directory: \"state-file\" is a file;"
        ),
        "{stderr}"
    );
    assert_eq!(env.proxy.calls(), []);
}

#[test]
fn configuration_file_of_50_mb_is_refused_at_once() {
    let env = TestEnv::offline();
    let padding = format!("# {}\n", "x".repeat(98)).repeat(500_000);
    env.write_config("dev", &format!("{DEV_TOML}\n{padding}"));
    let started = std::time::Instant::now();
    let output = env.deployer().args(["validate"]).assert().code(3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.get_output().stderr);
    let size = DEV_TOML.len() + 1 + padding.len();
    assert_eq!(
        stderr,
        format!(
            "error: envs/dev.toml: the file has {size} bytes, and a configuration may have at \
             most 1048576 bytes (1 MiB); is it the right file?\n"
        )
    );
    assert_eq!(env.proxy.calls(), []);
}

#[test]
fn image_flag_with_a_password_is_refused_without_echoing_it() {
    let stderr = rejected(
        Some(DEV_TOML),
        &[
            "apply",
            "--yes",
            "--image",
            "https://ci:hunter2@ghcr.io/org/app:1",
        ],
    );
    assert_eq!(
        stderr,
        "error: --image \"https://***@ghcr.io/org/app:1\" is not a valid image: an image reference \
         has no scheme; leave out \"https://\" (did you mean \"ghcr.io/org/app:1\"?)\n"
    );
}

#[test]
fn a_state_location_that_is_not_one_is_refused_before_any_call() {
    for (flag, expected) in [
        (
            "ftp://acme-state",
            "--state: \"ftp://acme-state\" is not a state location; expected \"s3://BUCKET/PREFIX/\" or \"local\"",
        ),
        (
            "s3://Acme_State/deployer/",
            "--state: \"Acme_State\" is not an S3 bucket name",
        ),
    ] {
        let stderr = rejected(Some(DEV_TOML), &["apply", "--yes", "--state", flag]);
        assert!(stderr.contains(expected), "{flag}: {stderr}");
    }
    let config = format!("{DEV_TOML}\n[state]\nbackend = \"s3\"\nprefix = \"/team\"\n");
    let stderr = rejected(Some(&config), &["outputs"]);
    assert!(
        stderr.contains("state.bucket: missing required key for backend = \"s3\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("state.prefix: \"/team\" starts with \"/\""),
        "{stderr}"
    );
    let stderr = rejected(
        Some(DEV_TOML),
        &["state", "migrate", "--to", "s3://x", "--yes"],
    );
    assert!(
        stderr.contains("--to: \"x\" is not an S3 bucket name"),
        "{stderr}"
    );
}
