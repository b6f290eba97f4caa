//! The commands behind `cargo xtask …`.

use crate::tools::{self, command, run};
use crate::workspace::{app_package, bundle, step};
use anyhow::Result;
use std::path::Path;

/// `cargo xtask dev`: install what is missing, then `dx serve` the demo on 127.0.0.1:8080.
pub fn dev(root: &Path, extra: &[String]) -> Result<()> {
    tools::ensure_build_tools(root)?;
    let app = app_package(root)?;
    eprintln!("xtask: serving {app} on http://127.0.0.1:8080 (Ctrl-C to stop)");
    run(command("dx")
        .args([
            "serve",
            "--package",
            &app,
            "--web",
            "--addr",
            "127.0.0.1",
            "--port",
            "8080",
        ])
        .args(["--open", "false", "--interactive", "false"])
        .args(extra))
}

/// `cargo xtask test`: the whole suite, in the order that fails fastest.
pub fn test(root: &Path) -> Result<()> {
    tools::ensure_build_tools(root)?;
    tools::ensure_browser()?;
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
