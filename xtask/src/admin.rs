//! `cargo xtask admin <command>`: the server binary's admin commands (`grant-role`,
//! `revoke-role`, `rotate-keys`, `help`: `auth_idp::run_cli`, dispatched by the app's `main`
//! before it serves) in development, against the database `cargo xtask dev` serves from.
//!
//! Same database: both read `.env` and the environment for `DATABASE_URL`, and both run the
//! server binary in the workspace root (dx starts the dev server in the directory it runs in), so
//! the default `sqlite://data/app.db` is `<root>/data/app.db` for both.
//!
//! Same build: the binary is built as `dx serve` builds the server (profile `server-dev`, host
//! target, feature `server` only), so after `cargo xtask dev` only the workspace's own crates
//! compile again.

use crate::tools::command;
use crate::workspace::app_package;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The provider's default, as in `auth_idp::IdpConfig`.
const DEFAULT_DATABASE_URL: &str = "sqlite://data/app.db?mode=rwc";

pub fn admin(root: &Path, args: &[String]) -> Result<()> {
    crate::dotenv::load(root)?;
    let app = app_package(root)?;
    let args = if args.is_empty() {
        vec!["help".to_owned()]
    } else {
        args.to_vec()
    };
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty());
    let shown = url.as_deref().unwrap_or(DEFAULT_DATABASE_URL);
    if args[0] != "help" {
        eprintln!("xtask: database: {}", describe_database(root, shown));
    }
    let host = host_target()?;
    let status = command("cargo")
        .current_dir(root)
        .args(["run", "-p", &app, "--bin", &app])
        // What dx passes for the server of `dx serve` (dioxus-cli 0.7.10), so the build is shared.
        .args(["--profile", "server-dev", "--target", &host])
        .args(["--config", "profile.server-dev.strip=false"])
        .args(["--no-default-features", "--features", "server", "--"])
        .args(&args)
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!(
            "`{app} {}` failed ({status}); its message is above",
            args.join(" ")
        );
    }
    Ok(())
}

/// Where a `DATABASE_URL` points, without its password: the SQLite file (a relative path is
/// relative to `root`, where the dev server runs), or the PostgreSQL host and database.
fn describe_database(root: &Path, url: &str) -> String {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return format!("{url} (in memory: a new, empty database)");
        }
        let file: PathBuf = root.join(path);
        let state = if file.is_file() {
            "the one `cargo xtask dev` uses"
        } else {
            "does not exist yet: `cargo xtask dev` creates it at its first start"
        };
        return format!("SQLite file {} ({state})", file.display());
    }
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host_and_db = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    let host_and_db = host_and_db.split('?').next().unwrap_or_default();
    format!("PostgreSQL {host_and_db}")
}

/// The host's target triple (`rustc -vV`), which dx passes to cargo with `--target`.
fn host_target() -> Result<String> {
    let out = command("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("rustc -vV printed no `host:` line")
}

#[cfg(test)]
mod tests {
    use super::describe_database;
    use std::path::Path;

    #[test]
    fn database_urls_are_shown_without_secrets() {
        let root = Path::new("/nonexistent/ws");
        let default = describe_database(root, "sqlite://data/app.db?mode=rwc");
        assert!(
            default.starts_with("SQLite file /nonexistent/ws/data/app.db ("),
            "{default}"
        );
        let absolute = describe_database(root, "sqlite:///var/lib/app/app.db?mode=rwc");
        assert!(
            absolute.starts_with("SQLite file /var/lib/app/app.db ("),
            "{absolute}"
        );
        let pg = describe_database(
            root,
            "postgres://app:s3cret@db.internal:5432/app?sslmode=require",
        );
        assert_eq!(pg, "PostgreSQL db.internal:5432/app");
    }
}
