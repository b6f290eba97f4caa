//! Project automation. Run `cargo xtask help` for the list of commands.
//!
//! Every command first makes sure the tools it needs are installed, at the versions this
//! repository pins, in user-level locations (cargo's bin dir, `~/.cache`), never inside the
//! checkout: a fresh clone reuses what the machine already has.

mod admin;
mod bench;
mod cluster;
mod cmd;
mod dev;
mod dotenv;
mod fuzz;
mod postgres;
mod soak;
mod template;
mod tools;
mod workspace;

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

const HELP: &str = "\
cargo xtask <command>

Commands:
  dev              install what is missing, then serve the app (dx serve) on http://127.0.0.1:8080;
                   `--port N`, `--addr IP` (defaults: PORT, IP) serve elsewhere, AUTH_PUBLIC_URL
                   follows unless set; other arguments go to dx serve
  admin            the server's admin commands on the dev database (DATABASE_URL, default
                   data/app.db): `admin grant-role <email> <role>`, `revoke-role <email> <role>`,
                   `rotate-keys`, `help`
  test             install what is missing, then run the whole suite: fmt, clippy, unit and
                   integration tests, a generated app, a release build, and the browser tests
  bundle           build the release bundle of the app (server binary + public/)
  cluster-test     three release instances on one PostgreSQL behind HAProxy (installed with apt
                   when missing): shared sessions and limits, rolling restart, key rotation and
                   SIGKILL under load; prints the measurements (docs/deploying.md). Arguments go
                   to the test binary (e.g. a test name)
  screenshot       take docs/screenshot.png (the README's picture) in headless Chromium
  template-check   generate a new app from this checkout (dx new and cargo generate), check
                   its names, build and test it, and sign up in its release bundle (part of `test`)
  bench            criterion benchmarks, then a wrk load run of the release app (docs/performance.md);
                   `--load-only` skips the criterion part
  fuzz             cargo-fuzz targets, 120 s each (--seconds N; --smoke: 25 s each), docs/security.md
  soak             60 s of saturation on /api/me and /dashboard: zero errors, RSS within 10 %
  install-tools    install the pinned tools only (dx, wasm-bindgen, esbuild, binaryen, maildev,
                   oidc-provider, wasm32 target, chromium, cargo-generate)
  help             this text

`dev` and `admin` read `.env` at the workspace root, like the server (variables already set win;
`.env.example` lists them all).
";

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nxtask: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("dev") => cmd::dev(&root, &args[1..]),
        Some("admin") => admin::admin(&root, &args[1..]),
        Some("test") => cmd::test(&root),
        Some("bundle") => workspace::bundle(&root).map(|dir| {
            eprintln!("xtask: release bundle in {}", dir.display());
        }),
        Some("cluster-test") => cluster::cluster_test(&root, &args[1..]),
        Some("bench") => bench::bench(&root, args[1..].iter().any(|a| a == "--load-only")),
        Some("screenshot") => cmd::screenshot(&root),
        Some("template-check") => {
            tools::ensure_build_tools(&root)?;
            template::check(&root)
        }
        Some("fuzz") => fuzz::fuzz(&root, &args[1..]),
        Some("soak") => soak::soak(&root, &args[1..]),
        Some("install-tools") => {
            tools::ensure_build_tools(&root)?;
            tools::ensure_browser()?;
            template::ensure_cargo_generate()
        }
        Some("help" | "--help" | "-h") | None => {
            eprint!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{HELP}"),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
