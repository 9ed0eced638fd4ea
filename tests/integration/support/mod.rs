//! Shared harness of the integration tests: one [`TestEnv`] per test wires
//! a private moto server (`moto.rs`), a recording / fault-injecting proxy in
//! front of it (`proxy.rs`) and a temporary working directory, and runs the
//! real `deployer` binary against them.
//!
//! ```ignore
//! let env = TestEnv::start();
//! env.write_config("staging", r#"name = "web""#);
//! env.deployer().args(["deploy", "--env", "staging"]).assert().success();
//! assert!(env.proxy.mutating_calls().is_empty());
//! ```
//!
//! Tests are plain `#[test]` functions. The binary talks to moto through
//! the proxy, so its calls are recorded and can be faulted; the tests' own
//! assertions use [`TestEnv::sdk_config`], which goes to moto directly and
//! therefore never shows up in (or gets faulted by) the proxy.
//!
//! Why no shared moto server: tests run in parallel threads and moto is one
//! global state, so sharing would let tests see each other's resources, and
//! `/moto-api/reset` would wipe a neighbour's state mid-test. It would not
//! even be faster: a start takes ~0.6 s here and a reset ~0.9 s.

// This module is compiled into the single integration-test binary, and not
// every test uses every helper or re-export; unused ones must not fail
// `-D warnings`.
#![allow(dead_code, unused_imports)]

pub mod moto;
pub mod proxy;

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use moto::{MotoBuilder, MotoServer};
pub use proxy::{ApiCall, AwsProxy, Fault};

/// The region every test runs in (moto accepts any).
pub const REGION: &str = "eu-central-1";

/// Upper bound for one run of the binary, so a hung deploy fails its test
/// instead of stalling the whole CI run. Override per command with
/// `.timeout(..)`.
pub const DEPLOYER_TIMEOUT: Duration = Duration::from_secs(180);

/// Everything one test needs. Dropping it stops the proxy and moto and
/// deletes the directory.
pub struct TestEnv {
    /// `None` for [`TestEnv::offline`].
    pub moto: Option<MotoServer>,
    pub proxy: AwsProxy,
    /// The binary's working directory (where `envs/<name>.toml` live).
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// A fresh moto (default settings), a proxy in front of it, an empty
    /// temporary directory.
    ///
    /// The emulator runs no containers; `MOTO_ECS_SERVICE_RUNNING=2` makes it report the two
    /// tasks of the shipped configuration as running, so a deployment completes as it would in
    /// AWS once the tasks are up.
    pub fn start() -> TestEnv {
        TestEnv::with_moto(
            MotoServer::builder()
                .env("MOTO_ECS_SERVICE_RUNNING", "2")
                .start(),
        )
    }

    /// Like [`TestEnv::start`] with a moto configured by the caller, e.g.
    /// `TestEnv::with_moto(MotoServer::builder().env("MOTO_ECS_SERVICE_RUNNING", "1").start())`.
    pub fn with_moto(moto: MotoServer) -> TestEnv {
        let proxy = AwsProxy::start(&moto.url);
        TestEnv {
            moto: Some(moto),
            proxy,
            dir: test_dir(),
        }
    }

    /// The proxy and the directory without an emulator behind them, for runs that must make
    /// no AWS call (bad input): the proxy still records any call, which then fails, and the
    /// test does not pay for starting moto. Port 9 (discard) is not served on 127.0.0.1.
    pub fn offline() -> TestEnv {
        TestEnv {
            moto: None,
            proxy: AwsProxy::start("http://127.0.0.1:9"),
            dir: test_dir(),
        }
    }

    /// The `deployer` binary, run in [`TestEnv::dir`] against the proxy with
    /// fixed fake credentials and nothing from the developer's AWS setup.
    pub fn deployer(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::from_std(self.deployer_process());
        cmd.timeout(DEPLOYER_TIMEOUT);
        cmd
    }

    /// The same as [`TestEnv::deployer`] as a plain `std::process::Command`, for tests that
    /// start the binary in the background (to signal or kill it).
    pub fn deployer_process(&self) -> std::process::Command {
        // `env!` rather than `Command::cargo_bin`: cargo sets this path at
        // compile time for integration tests, so there is no run-time lookup
        // that can fail (and no deprecation churn in assert_cmd).
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"));
        cmd.current_dir(self.dir.path());
        // Hermetic: any AWS_* variable of the developer (a profile, a
        // service-specific AWS_ENDPOINT_URL_ECS that would bypass the proxy,
        // AWS_MAX_ATTEMPTS, ...) or DEPLOYER_* default would change what the
        // binary does. Tests can still set their own after this.
        for (key, _) in std::env::vars_os() {
            if let Some(key) = key.to_str() {
                if key.starts_with("AWS_") || key.starts_with("DEPLOYER_") {
                    cmd.env_remove(key);
                }
            }
        }
        // ~/.aws/config could set a region, retries or endpoints too.
        // An empty file rather than a missing one: the SDK warns about a missing one.
        let empty = self.dir.path().join(".aws-config-empty");
        if !empty.exists() {
            std::fs::write(&empty, "")
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", empty.display()));
        }
        cmd.env("AWS_CONFIG_FILE", &empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
            .env("AWS_ENDPOINT_URL", self.proxy.url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Writes `envs/<name>.toml` in the working directory; returns its path.
    pub fn write_config(&self, name: &str, toml: &str) -> PathBuf {
        let envs = self.dir.path().join("envs");
        std::fs::create_dir_all(&envs)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", envs.display()));
        let path = envs.join(format!("{name}.toml"));
        std::fs::write(&path, toml)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// SDK config pointing at moto directly, for the test's own setup and
    /// assertions: these calls are neither recorded nor faulted.
    /// `aws_sdk_ec2::Client::new(&env.sdk_config())`, then run calls with
    /// [`block_on`].
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let moto = self
            .moto
            .as_ref()
            .unwrap_or_else(|| panic!("TestEnv::offline has no emulator to configure"));
        sdk_config_for(&moto.url)
    }

    /// SDK config pointing at the proxy: calls are recorded and faulted
    /// like the binary's (used by the harness's own tests).
    pub fn proxied_sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.proxy.url())
    }
}

fn test_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("deployer-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create the test's temp dir: {e}"))
}

/// An SDK config for `endpoint_url` with the tests' fake credentials and
/// region, built without reading the environment or ~/.aws, so nothing of
/// the developer's setup leaks in. No runtime is needed to build it.
pub fn sdk_config_for(endpoint_url: &str) -> aws_config::SdkConfig {
    // aws-config does not re-export the credential types; every SDK crate
    // does.
    use aws_sdk_ec2::config::{Credentials, SharedCredentialsProvider};
    let credentials = Credentials::new("testing", "testing", None, None, "deployer-tests");
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .endpoint_url(endpoint_url)
        .build()
}

/// One multi-threaded runtime for all tests' SDK calls. SDK clients keep
/// pooled connections bound to the runtime they were first used on, so a
/// runtime per call (or per test) would break clients shared across calls.
/// It is never shut down: it lives as long as the test binary.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-sdk")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the tests' tokio runtime: {e}"))
    })
}

/// Runs a future (typically SDK calls) to completion from a plain `#[test]`.
/// Must not be called from inside an async context (tokio panics then).
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}
