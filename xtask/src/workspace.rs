//! What the commands share about this checkout: which crate is the app, where cargo's target
//! directory is, the release bundle built from them, and the banner printed before each step.
//!
//! Imports only `tools`, never a command module, so `cmd`, `bench`, `soak`, `fuzz` and
//! `template` can all use it without a module cycle.

use crate::tools::{self, command, run};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The app crate that `dev`, `bundle` and the browser tests build: the one package under
/// `apps/`, whose package name is its folder name (`apps/<name>`). Found, not hard-coded, so a
/// project generated from the template needs no edit here.
pub fn app_package(root: &Path) -> Result<String> {
    let apps = root.join("apps");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&apps).with_context(|| format!("reading {}", apps.display()))? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").is_file() {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no app crate in {} (expected apps/<name>/Cargo.toml)",
            apps.display()
        ),
        many => bail!(
            "several app crates in {}: {}; xtask builds exactly one",
            apps.display(),
            many.join(", ")
        ),
    }
}

/// `cargo xtask bundle`: the release bundle (server binary + `public/`), as deployed.
pub fn bundle(root: &Path) -> Result<PathBuf> {
    tools::ensure_build_tools(root)?;
    let app = app_package(root)?;
    step(&format!("release bundle of {app} (dx bundle --release)"));
    // Two `dx bundle`s in one target dir (several checkouts sharing CI's cache) delete each
    // other's wasm-opt files and output folder: take turns.
    let lock_path = target_dir(root).join("dx").join(".bundle.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap_or(root))?;
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    run(command("dx").args(["bundle", "--package", &app, "--web", "--release"]))?;
    let dir = target_dir(root).join("dx").join(&app).join("release/web");
    let server = dir.join("server");
    if !server.is_file() {
        bail!(
            "dx bundle finished but the server binary is not at {}",
            server.display()
        );
    }
    dir.canonicalize().context("resolving the bundle directory")
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when set (CI keeps one per machine), else
/// `target/` in the workspace.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// Prints the banner that starts each stage of a command, so a long log is easy to follow.
pub fn step(name: &str) {
    eprintln!("\n==> {name}");
}
