//! Puts the commit the binary is built from into `deployer --version` (as the environment
//! variable `DEPLOYER_BUILD_COMMIT` of the compiler), falling back gracefully where the source has
//! no git history: see `build/commit.rs`.

#[path = "build/commit.rs"]
mod commit;

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let from_env = std::env::var("DEPLOYER_BUILD_COMMIT").ok();
    let found = commit::commit(&dir, from_env).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DEPLOYER_BUILD_COMMIT={found}");
    println!("cargo:rerun-if-env-changed=DEPLOYER_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build/commit.rs");
    // Only files that exist: cargo runs a build script every time for one that does not.
    let vcs_info = dir.join(".cargo_vcs_info.json");
    for file in commit::git_files(&dir).into_iter().chain([vcs_info]) {
        if file.exists() {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
}
