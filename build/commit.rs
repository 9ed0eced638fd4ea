//! Which commit the binary is built from, for `deployer --version`: from git when the source is
//! a checkout, from `.cargo_vcs_info.json` when it is a package made by `cargo package` (a
//! crates.io download or a source tarball has no `.git`), and from `DEPLOYER_BUILD_COMMIT` when a
//! packager sets it. Shared by `build.rs` and the tests, so it uses only the standard library.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How many hex digits of the commit `--version` shows (as `git rev-parse --short=12`).
pub const SHORT: usize = 12;

/// The commit of the source in `dir` (shortened), or `None` when nothing tells.
pub fn commit(dir: &Path, from_env: Option<String>) -> Option<String> {
    let found = from_env
        .filter(|c| is_commit(c))
        .or_else(|| {
            // Only when git tracks this package: a tarball unpacked inside some other checkout
            // is not that checkout's commit.
            git(dir, &["ls-files", "--error-unmatch", "Cargo.toml"])?;
            git(dir, &["rev-parse", "HEAD"]).filter(|c| is_commit(c))
        })
        .or_else(|| {
            let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
            sha1_of_vcs_info(&text)
        })?;
    Some(found.chars().take(SHORT).collect())
}

/// The files whose change means another commit: the checkout's HEAD and the branch it points to.
/// Empty outside a git checkout.
pub fn git_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for name in ["HEAD", "packed-refs"] {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", name]) {
            files.push(dir.join(path));
        }
    }
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", &branch]) {
            files.push(dir.join(path));
        }
    }
    files
}

/// `git.sha1` of the `.cargo_vcs_info.json` that `cargo package` writes:
/// `{"git": {"sha1": "<40 hex digits>"}, "path_in_vcs": ""}`.
pub fn sha1_of_vcs_info(text: &str) -> Option<String> {
    let after = &text[text.find("\"sha1\"")? + "\"sha1\"".len()..];
    let value = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let sha = &value[..value.find('"')?];
    is_commit(sha).then(|| sha.to_owned())
}

fn is_commit(text: &str) -> bool {
    (7..=64).contains(&text.len()) && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// What `git args` prints in `dir`, trimmed; `None` when git is missing or fails (no checkout).
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}
