//! `deployer --version` names the version and the commit the binary was built from, and the
//! commit is found without git history too (a crates.io package or a source tarball), from the
//! `.cargo_vcs_info.json` that `cargo package` writes.

use std::path::Path;
use std::process::Command;

#[path = "../../build/commit.rs"]
#[allow(dead_code)]
mod commit;

#[test]
fn version_names_the_package_version_and_the_commit() {
    let output = assert_cmd::Command::cargo_bin("deployer")
        .unwrap()
        .arg("--version")
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The commit of this checkout, as git says (the tests run from one).
    let head = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .unwrap();
    assert!(head.status.success(), "{head:?}");
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!(
            "deployer {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            head.trim()
        )
    );
}

#[test]
fn a_packaged_source_without_git_takes_the_commit_from_cargo_vcs_info() {
    let dir = tempfile::tempdir().unwrap();
    // What `cargo package` writes beside Cargo.toml.
    std::fs::write(
        dir.path().join(".cargo_vcs_info.json"),
        "{\n  \"git\": {\n    \"sha1\": \"5935a2d1c2e3f405162738495a6b7c8d9e0f1a2b\"\n  },\n  \
         \"path_in_vcs\": \"\"\n}\n",
    )
    .unwrap();
    assert_eq!(
        commit::commit(dir.path(), None).as_deref(),
        Some("5935a2d1c2e3")
    );
    // A packager's own value wins.
    assert_eq!(
        commit::commit(dir.path(), Some("abcdef0123456789".into())).as_deref(),
        Some("abcdef012345")
    );
    // No git, no package metadata: nothing to name (--version then says "unknown").
    let bare = tempfile::tempdir().unwrap();
    assert_eq!(commit::commit(bare.path(), None), None);
    assert_eq!(
        commit::commit(bare.path(), Some("not a commit".into())),
        None
    );
    assert_eq!(
        commit::sha1_of_vcs_info("{\"git\": {\"sha1\": \"xyz\"}}"),
        None
    );
}
