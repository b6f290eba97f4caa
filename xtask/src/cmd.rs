//! The commands behind `cargo xtask …`.

use crate::tools::{self, command, run};
use crate::workspace::{app_package, bundle, step};
use anyhow::Result;
use std::path::Path;

/// `cargo xtask dev [--port N] [--addr IP] [dx serve args…]`: read `.env`, install what is
/// missing, then `dx serve` the app (default http://127.0.0.1:8080), its `AUTH_PUBLIC_URL` set to
/// that address unless the environment or `.env` sets one.
pub fn dev(root: &Path, extra: &[String]) -> Result<()> {
    crate::dotenv::load(root)?;
    let env = |name: &str| std::env::var(name).ok();
    let options = crate::dev::DevOptions::parse(extra, env)?;
    tools::ensure_build_tools(root)?;
    let app = app_package(root)?;
    let url = options.url();
    let mut serve = command("dx");
    // dx runs the server in this directory (the workspace root), so a relative `DATABASE_URL`
    // (default `sqlite://data/app.db`) is `data/app.db` here: `cargo xtask admin` opens it too.
    serve
        .current_dir(root)
        .args(["serve", "--package", &app, "--web"])
        .args(["--addr", &options.ip.to_string()])
        .args(["--port", &options.port.to_string()])
        .args(["--open", "false", "--interactive", "false"])
        .args(&options.rest);
    match crate::dev::public_url_setting(env) {
        None => {
            serve.env("AUTH_PUBLIC_URL", &url);
        }
        Some((name, value)) if value.trim_end_matches('/') != url => eprintln!(
            "xtask: warning: {name}={value} is not where this serves ({url}): the server refuses \
             browser form posts from other origins (403). Unset it for development."
        ),
        Some(_) => {}
    }
    eprintln!("xtask: serving {app} on {url} (Ctrl-C to stop)");
    run(&mut serve)
}

/// `cargo xtask test`: the whole suite, in the order that fails fastest.
pub fn test(root: &Path) -> Result<()> {
    tools::ensure_build_tools(root)?;
    tools::ensure_browser()?;
    // Every cargo below gets TEST_DATABASE_URL; a cluster started here stops when this drops,
    // at the end of `test`, failed steps included.
    let _postgres = crate::postgres::ensure_test_database()?;
    let app = app_package(root)?;

    step("cargo fmt --check");
    run(command("cargo").args(["fmt", "--all", "--check"]))?;

    step("cargo clippy (workspace, all targets)");
    run(command("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("cargo clippy (app server)");
    run(command("cargo").args([
        "clippy",
        "-p",
        &app,
        "--features",
        "server",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("unit, integration and doc tests");
    run(command("cargo").args(["test", "--workspace", "--exclude", "e2e"]))?;

    step("the library crates package and build on their own (cargo package)");
    forget_packaged_sources(&LIBRARY_CRATES)?;
    // Cargo also takes a registry crate's build for immutable: the verification would link the
    // previous run's `auth-types` from the shared target dir. Clean our crates' builds (in CI's
    // fresh clone they are rebuilt anyway: every file is new to cargo).
    let mut clean = command("cargo");
    clean.arg("clean");
    for name in LIBRARY_CRATES {
        clean.args(["-p", name]);
    }
    run(&mut clean)?;
    let mut package = command("cargo");
    package.args(["package", "--allow-dirty"]);
    for name in LIBRARY_CRATES {
        package.args(["-p", name]);
    }
    run(&mut package)?;

    crate::fuzz::smoke(root)?;

    crate::template::check(root)?;

    let bundle = bundle(root)?;

    step("browser and attack tests (headless Chromium and raw HTTP against the release bundle)");
    e2e(&bundle, "*", &["--test-threads", "1"])
}

/// Runs the e2e test binary `test` (`*`: all of them) against a release bundle.
fn e2e(bundle: &Path, test: &str, args: &[&str]) -> Result<()> {
    run(command("cargo")
        .args(["test", "-p", "e2e", "--test", test, "--"])
        .args(args)
        .env("APP_BUNDLE_DIR", bundle))
}

/// `cargo xtask screenshot`: the README's picture of the app, signed in, taken in headless
/// Chromium from the release bundle into `docs/screenshot.png`.
pub fn screenshot(root: &Path) -> Result<()> {
    tools::ensure_browser()?;
    let bundle = bundle(root)?;
    let png = root.join("docs/screenshot.png");
    step("screenshot (headless Chromium)");
    run(command("cargo")
        .args([
            "test",
            "-p",
            "e2e",
            "--test",
            "screenshot",
            "--",
            "--ignored",
        ])
        .env("APP_BUNDLE_DIR", &bundle)
        .env("SCREENSHOT_PATH", &png))?;
    eprintln!("xtask: wrote {}", png.display());
    Ok(())
}

/// The crates published from this workspace.
const LIBRARY_CRATES: [&str; 4] = ["auth-types", "auth-server", "auth-idp", "auth-ui"];

/// `cargo package` verifies each crate against the others through a temporary local registry, and
/// cargo unpacks that registry's crates once, under `$CARGO_HOME/registry/src/-<hash>/` (the hash
/// of the registry's path, the same every run): a later run whose crates changed but kept their
/// version built against the first run's sources (seen: `auth-server` failing on an `auth-types`
/// constant added since). Removes those unpacked copies; crates.io's (`index.…`) are left alone.
fn forget_packaged_sources(crates: &[&str]) -> Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let Some(sources) = cargo_home.map(|home| home.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for unpacked in std::fs::read_dir(registry.path())?.flatten() {
            let name = unpacked.file_name().to_string_lossy().into_owned();
            let ours = crates.iter().any(|krate| {
                name.strip_prefix(krate)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
            });
            if ours {
                std::fs::remove_dir_all(unpacked.path())?;
            }
        }
    }
    Ok(())
}
