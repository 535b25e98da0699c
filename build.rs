//! What `rds-rotator --version` names beside the version: the commit it was built from and the target it was built
//! for, as `RDS_ROTATOR_COMMIT` and `RDS_ROTATOR_TARGET` at compile time (src/cli/mod.rs reads them).
//!
//! The commit is git's `HEAD` when this crate is its own git checkout; otherwise (a source tarball, a vendored copy
//! inside another repository) the `RDS_ROTATOR_COMMIT` environment variable when set, else `unknown`. Nothing here
//! depends on the time or the build machine, so two builds of one commit embed the same text (make release checks
//! it). The script reruns only when HEAD moves or the variable changes, not on every build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RDS_ROTATOR_COMMIT");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let commit = match git_commit(&manifest_dir) {
        Some(commit) => commit,
        None => std::env::var("RDS_ROTATOR_COMMIT")
            .ok()
            .map(|commit| commit.trim().chars().take(7).collect::<String>())
            .filter(|commit| !commit.is_empty() && commit.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "unknown".to_owned()),
    };
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=RDS_ROTATOR_COMMIT={commit}");
    println!("cargo:rustc-env=RDS_ROTATOR_TARGET={target}");
}

/// The first 7 hex digits of HEAD, when `dir` is the top of a git work tree; and the files that change when HEAD
/// moves, for cargo to watch.
fn git_commit(dir: &Path) -> Option<String> {
    let toplevel = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&toplevel).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let full = git(dir, &["rev-parse", "--verify", "HEAD"])?;
    if full.len() < 7 || !full.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    // HEAD names a branch (its ref moves on a commit) or a commit (HEAD itself changes). A branch's ref is a loose
    // file, or a line of packed-refs until a commit writes it loose again: watch its directory then.
    watch(dir, "HEAD");
    watch(dir, "packed-refs");
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        let loose = git(dir, &["rev-parse", "--git-path", &branch]).map(|p| dir.join(p))?;
        if loose.exists() {
            println!("cargo:rerun-if-changed={}", loose.display());
        } else if let Some(parent) = loose.parent().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", parent.display());
        }
    }
    Some(full[..7].to_owned())
}

fn watch(dir: &Path, name: &str) {
    if let Some(path) = git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p))
        && path.exists()
    {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
