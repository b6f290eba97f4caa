//! `cargo xtask cluster-test`: three release instances of the app on one PostgreSQL database
//! behind HAProxy (`tests/e2e/tests/cluster.rs`). It takes minutes and starts real processes, so
//! it is not part of `cargo xtask test`; docs/deploying.md records its numbers.
//!
//! Makes sure HAProxy is there (`HAPROXY`, else Debian's `haproxy` package, installed with apt-get
//! once per machine), finds PostgreSQL or starts a throwaway one (as `cargo xtask test` does),
//! builds the release bundle, then runs the ignored cluster tests one at a time.

use crate::tools::{apt_install, command, output_of, run, set_child_env};
use crate::workspace::{bundle, step};
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// Where Debian's package puts the binary (not on a normal user's PATH).
const DEBIAN_HAPROXY: &str = "/usr/sbin/haproxy";

/// Runs the cluster tests; extra `args` go to the test binary (e.g. a test name filter).
pub fn cluster_test(root: &Path, args: &[String]) -> Result<()> {
    let haproxy = ensure_haproxy()?;
    set_child_env("HAPROXY", &haproxy.to_string_lossy());
    // Every cargo below gets TEST_DATABASE_URL; a cluster started here stops when this drops.
    let _postgres = crate::postgres::ensure_test_database()?;
    let bundle = bundle(root)?;
    step("cluster test: three release instances on one PostgreSQL behind HAProxy");
    run(command("cargo")
        .args(["test", "-p", "e2e", "--test", "cluster", "--"])
        .args(["--ignored", "--nocapture", "--test-threads", "1"])
        .args(args)
        .env("APP_BUNDLE_DIR", &bundle))
}

/// The `haproxy` to use: `HAPROXY` when set, else one on PATH or Debian's, else Debian's package
/// is installed (as root; otherwise this says how).
fn ensure_haproxy() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("HAPROXY").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!(
                "HAPROXY is set to `{}`, which is not a file: point it at a haproxy binary \
                 (2.2 or newer), or unset it",
                path.display()
            );
        }
        return Ok(path);
    }
    let found = || {
        output_of("sh", &["-c", "command -v haproxy"])
            .map(|p| PathBuf::from(p.trim()))
            .or_else(|| Some(PathBuf::from(DEBIAN_HAPROXY)).filter(|p| p.is_file()))
    };
    if let Some(path) = found() {
        return Ok(path);
    }
    apt_install(
        &["haproxy"],
        "the cluster test puts HAProxy in front of the instances",
        Some("set HAPROXY to a haproxy binary (2.2 or newer)"),
    )?;
    found().ok_or_else(|| {
        anyhow::anyhow!("installed Debian's haproxy package, but found no haproxy binary")
    })
}
