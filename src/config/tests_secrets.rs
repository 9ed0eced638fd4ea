//! Unit tests of the container's environment and secrets: which variable names are allowed or
//! look like secrets, and every form of secret reference ECS accepts (and the IAM resource that
//! covers it), apart from the other loading tests because they are as long as those.

use super::formats::{is_env_var_name, is_sensitive_name, SecretArn, SecretStore};
use super::tests::{error_of, with};
use super::*;

#[test]
fn env_var_names_and_secrets() {
    for ok in ["A", "_A", "FLASK_APP", "a1_b2"] {
        assert!(is_env_var_name(ok), "{ok}");
    }
    for bad in ["", "1A", "FLASK-APP", "A B", "É"] {
        assert!(!is_env_var_name(bad), "{bad}");
    }
    for bad in [
        "db-password",
        "arn:aws:ssm:eu-central-1:123456789012:parameter/",
        "arn:aws:ssm:eu-centra1-1:123456789012:parameter/x",
        "arn:aws:ssm:eu-central-1:1234:parameter/x",
        "arn:aws:s3:eu-central-1:123456789012:parameter/x",
        "arn:aws:secretsmanager:eu-central-1:123456789012:parameter/x",
    ] {
        assert!(SecretArn::parse(bad).is_err(), "{bad}");
    }
    let message = error_of(&with(
        "[container.environment]\nDB = \"x\"\n[container.secrets]\nDB = \"arn:aws:ssm:eu-central-1:123456789012:parameter/db\"\n",
    ));
    assert_eq!(
        message,
        "envs/test.toml:11:1: container.secrets.DB: \"DB\" is also set in [container.environment]; a variable is either plain or secret, not both"
    );
    let message = error_of(&with("[container.environment]\n\"MY VAR\" = \"x\"\n"));
    assert!(message.starts_with("envs/test.toml:9:1: container.environment.\"MY VAR\": \"MY VAR\" is not a valid environment variable name"), "{message}");
}

/// Every form of `valueFrom` ECS accepts, and the IAM resource that covers exactly that secret.
#[test]
fn secrets_policy_misses_valid_secret_references() {
    let cases = [
        // An SSM parameter is its ARN, hierarchy and all.
        (
            "arn:aws:ssm:eu-central-1:123456789012:parameter/prod/db",
            "arn:aws:ssm:eu-central-1:123456789012:parameter/prod/db",
        ),
        // A full Secrets Manager ARN is itself.
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf",
        ),
        // JSON key, version stage and version id are not part of the secret's ARN.
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf:username::",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf::AWSPREVIOUS:",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf:password::9a1b2c3d-0000-4000-8000-123456789abc",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-AbCdEf",
        ),
        // Without the random suffix (a partial ARN): the name and exactly six more characters.
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/db-??????",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/api-key:token::",
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:app/api-key-??????",
        ),
        // Another region of the partition, and another partition's own regions.
        (
            "arn:aws:ssm:us-east-1:123456789012:parameter/x",
            "arn:aws:ssm:us-east-1:123456789012:parameter/x",
        ),
        (
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf:password::",
            "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf",
        ),
    ];
    for (arn, resource) in cases {
        let parsed = SecretArn::parse(arn).unwrap_or_else(|e| panic!("{arn}: {e}"));
        assert_eq!(parsed.policy_resource(), resource, "{arn}");
    }
    let store = |arn| SecretArn::parse(arn).map(|s| s.store);
    assert_eq!(
        store("arn:aws:ssm:eu-central-1:123456789012:parameter/x"),
        Ok(SecretStore::Parameter)
    );
    assert_eq!(
        store("arn:aws:secretsmanager:eu-central-1:123456789012:secret:x:k::"),
        Ok(SecretStore::SecretsManager)
    );

    // What ECS would refuse, each with the part that is wrong.
    let refused = [
        (
            "arn:aws:s3:eu-central-1:123456789012:secret:x",
            "service \"s3\"",
        ),
        (
            "arn:aws:kms:eu-central-1:123456789012:key/x",
            "service \"kms\"",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:parameter/x",
            "\"secret:\"",
        ),
        (
            "arn:aws:ssm:eu-central-1:123456789012:secret:x",
            "\"parameter/\"",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:",
            "name is empty",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf:username",
            "2 ':'-separated parts",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf:username:",
            "3 ':'-separated parts",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db-AbCdEf:a:b:c:d",
            "5 ':'-separated parts",
        ),
        (
            "arn:aws:secretsmanager:eu-central-1:123456789012:secret:db password",
            "' '",
        ),
        (
            "arn:aws:ssm:eu-central-1:123456789012:parameter/db:3",
            "':'",
        ),
        (
            "arn:aws:ssm:eu-central-1:123456789012:parameter//db",
            "empty path segment",
        ),
        (
            "arn:aws-cn:ssm:eu-central-1:123456789012:parameter/x",
            "partition aws, not aws-cn",
        ),
        (
            "arn:aws:ssm:cn-north-1:123456789012:parameter/x",
            "partition aws-cn, not aws",
        ),
        (
            "arn:aws:ssm:eu-central-1:12345678901:parameter/x",
            "12-digit",
        ),
        (
            "arm:aws:ssm:eu-central-1:123456789012:parameter/x",
            "\"arn:\"",
        ),
        ("arn:aws:ssm:eu-central-1:123456789012", "six"),
    ];
    for (arn, why) in refused {
        match SecretArn::parse(arn) {
            Ok(parsed) => panic!("{arn} parsed as {parsed:?}"),
            Err(e) => assert!(e.contains(why), "{arn}: {e:?} should say {why:?}"),
        }
    }

    // A secret of another partition than the stack's is refused where it is written.
    let message = error_of(&with(
        "[container.secrets]\nDB = \"arn:aws-cn:ssm:cn-north-1:123456789012:parameter/db\"\n",
    ));
    assert!(
        message.starts_with("envs/test.toml:9:6: container.secrets.DB: \"arn:aws-cn:ssm:cn-north-1:123456789012:parameter/db\" is not a secret ECS can read: it is in partition aws-cn, but the stack's region eu-central-1 is in aws"),
        "{message}"
    );
}

/// Reported case: `DB_PASSWORD` in `[container.environment]` loaded without a word. It still
/// loads (a warning changes no exit code), with a warning at the key's name.
#[test]
fn secret_values_echoed_into_ci_logs() {
    for sensitive in [
        "DB_PASSWORD",
        "SECRET_KEY",
        "API_TOKEN",
        "db_passwd",
        "STRIPE_API_KEY",
        "GITHUB_TOKEN",
        "JWT_PRIVATE_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SmtpPassword",
    ] {
        assert!(is_sensitive_name(sensitive), "{sensitive}");
    }
    for plain in [
        "FLASK_APP",
        "LOG_LEVEL",
        "DB_HOST",
        "PORT",
        "KEYBOARD_LAYOUT",
    ] {
        assert!(!is_sensitive_name(plain), "{plain}");
    }

    let text = with("[container.environment]\nFLASK_APP = \"hello\"\nDB_PASSWORD = \"hunter2\"\n");
    let (config, warnings) =
        Config::from_toml_str_with_warnings(&text, Path::new("envs/test.toml")).unwrap();
    assert_eq!(config.container.environment["DB_PASSWORD"], "hunter2");
    let shown: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        ["envs/test.toml:10:1: container.environment.DB_PASSWORD: \"DB_PASSWORD\" looks like a secret, but its value is written here and in every task definition revision; move it to [container.secrets] as the ARN of an SSM parameter or Secrets Manager secret (plans show its value as \"(sensitive)\")"]
    );
    assert!(!shown[0].contains("hunter2"));
    // A secret reference is where such a variable belongs: no warning.
    let text = with(
        "[container.secrets]\nDB_PASSWORD = \"arn:aws:ssm:eu-central-1:123456789012:parameter/db\"\n",
    );
    let (_, warnings) =
        Config::from_toml_str_with_warnings(&text, Path::new("envs/test.toml")).unwrap();
    assert_eq!(warnings, []);
}
