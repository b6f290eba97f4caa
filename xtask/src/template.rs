//! `cargo xtask template-check`: generate a new app from this repository exactly as a user would
//! (`dx new my-app --template …`, which is cargo-generate with `cargo-generate.toml`), then check
//! that nothing is still named "demo", and build and test the generated workspace.
//!
//! Also checks the `.liquid` twins (see `cargo-generate.toml`): each, rendered with this
//! repository's own values, must equal its plain file outside the lines that hold a placeholder,
//! so a dependency added to `apps/demo/Cargo.toml` cannot be forgotten in the template.

use crate::tools::{command, run};
use crate::workspace::{step, target_dir};
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The project name the check generates; also what must replace every "demo".
const NAME: &str = "my-app";

/// Twins whose rendering is a different document, not the plain file with other names.
const FREE_TWINS: [&str; 1] = ["README.md.liquid"];

/// The whole check: twins, generation, names, then `cargo test` in the generated workspace.
pub fn check(root: &Path) -> Result<()> {
    if !root.join("cargo-generate.toml").is_file() {
        eprintln!(
            "xtask: no cargo-generate.toml: a generated app, not the template; nothing to check"
        );
        return Ok(());
    }
    step("template: .liquid twins match their plain files");
    check_twins(root)?;
    step(&format!(
        "template: dx new {NAME} --template <this checkout>"
    ));
    let app = generate(root)?;
    step("template: no \"demo\" left in the generated app's names");
    check_names(&app)?;
    step("template: the generated app's tests (cargo test, server and wasm builds)");
    test_generated(&app, &target_dir(root))
}

/// Files tracked by git, plus new ones not ignored: what a commit of this checkout would hold.
fn checkout_files(root: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .context("running git ls-files (the template check needs a git checkout)")?;
    ensure!(out.status.success(), "git ls-files failed");
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        // Deleted but not yet committed files are still listed.
        .filter(|p| root.join(p).is_file())
        .collect())
}

fn check_twins(root: &Path) -> Result<()> {
    let twins: Vec<PathBuf> = checkout_files(root)?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "liquid"))
        .collect();
    ensure!(
        !twins.is_empty(),
        "no .liquid files found: is this the template?"
    );
    for twin in twins {
        let name = twin.file_name().unwrap_or_default().to_string_lossy();
        if FREE_TWINS.contains(&name.as_ref()) {
            continue;
        }
        let plain = twin.with_extension("");
        let liquid = std::fs::read_to_string(root.join(&twin))?;
        let original = std::fs::read_to_string(root.join(&plain))
            .with_context(|| format!("{} has no plain twin {}", twin.display(), plain.display()))?;
        twin_drift(&liquid, &original)
            .map_err(|e| anyhow::anyhow!("{} vs {}: {e}", twin.display(), plain.display()))?;
    }
    Ok(())
}

/// `Err` describing the first difference between a twin and its plain file, ignoring lines of the
/// twin that hold a `{{placeholder}}`.
fn twin_drift(liquid: &str, plain: &str) -> Result<(), String> {
    let (twin, orig): (Vec<_>, Vec<_>) = (liquid.lines().collect(), plain.lines().collect());
    if twin.len() != orig.len() {
        return Err(format!(
            "{} lines vs {} lines: change both files together",
            twin.len(),
            orig.len()
        ));
    }
    for (i, (t, o)) in twin.iter().zip(&orig).enumerate() {
        if t.contains("{%") {
            return Err(format!(
                "line {}: Liquid tags are not supported here",
                i + 1
            ));
        }
        if !t.contains("{{") && t != o {
            return Err(format!(
                "line {} differs:\n  twin:  {t}\n  plain: {o}",
                i + 1
            ));
        }
    }
    Ok(())
}

/// Copies the checkout into a staging folder and runs `dx new` from it; returns the new app.
fn generate(root: &Path) -> Result<PathBuf> {
    // Outside any Cargo workspace: `dx new` (and cargo-generate) add a project generated inside
    // one to its `members`. A fixed path keeps cargo's fingerprints stable from run to run.
    let base = std::env::temp_dir().join("dioxus-auth-starter-template-check");
    let staging = base.join("template");
    let app = base.join(NAME);
    for dir in [&staging, &app] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    // Only what git would ship: a local `target/`, `data/` or `node_modules/` must not end up in
    // the template (cargo-generate copies a local path wholesale before applying `ignore`).
    for file in checkout_files(root)? {
        let to = staging.join(&file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(root.join(&file), &to)
            .with_context(|| format!("copying {}", file.display()))?;
    }
    run(command("dx")
        .arg("new")
        .arg(&app)
        .arg("--template")
        .arg(&staging)
        .args(["--yes", "--vcs", "none"]))?;
    ensure!(
        app.join("Cargo.toml").is_file(),
        "dx new finished but {} has no Cargo.toml",
        app.display()
    );
    Ok(app)
}

/// Every place a user would otherwise rename by hand carries the project's name.
fn check_names(app: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let crate_dir = app.join("apps").join(NAME);
    if !crate_dir.join("Cargo.toml").is_file() {
        problems.push(format!("no app crate at apps/{NAME}"));
    }
    for (file, needle) in [
        (crate_dir.join("Cargo.toml"), format!("name = \"{NAME}\"")),
        (crate_dir.join("src/brand.rs"), format!("\"{NAME}\"")),
        (app.join("Dioxus.toml"), format!("title = \"{NAME}\"")),
        (app.join("README.md"), format!("# {NAME}")),
    ] {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.contains(&needle) {
            problems.push(format!("{} does not contain `{needle}`", file.display()));
        }
    }
    for path in walk(app)? {
        let rel = path.strip_prefix(app).unwrap_or(&path);
        let shown = rel.display().to_string();
        if shown.contains("demo") {
            problems.push(format!("path still named demo: {shown}"));
        }
        if matches!(
            rel.file_name().and_then(|n| n.to_str()),
            Some("cargo-generate.toml" | "template.rhai" | "CHANGELOG.md")
        ) || shown.ends_with(".liquid")
        {
            problems.push(format!("template-only file left behind: {shown}"));
        }
        let code = rel
            .extension()
            .is_some_and(|e| e == "rs" || e == "toml" || e == "md");
        // This checker itself talks about "demo" and placeholders; it is inert in a generated
        // app (no cargo-generate.toml).
        if !code || rel == Path::new("xtask/src/template.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            if line.contains("{{project-name}}") || line.contains("{{crate_name}}") {
                problems.push(format!("{shown}:{}: unrendered placeholder", n + 1));
            }
            let is_code = !shown.ends_with(".md");
            if is_code && (line.contains("\"demo\"") || line.contains("apps/demo")) {
                problems.push(format!("{shown}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "the generated app still needs renaming by hand:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    Ok(files)
}

/// Builds and tests the generated workspace with this run's target dir (dependencies are shared;
/// only the workspace's own crates build again).
fn test_generated(app: &Path, target: &Path) -> Result<()> {
    let in_app = |args: &[&str]| -> Result<()> {
        let mut cmd = command("cargo");
        cmd.current_dir(app)
            .env("CARGO_TARGET_DIR", target)
            .args(args);
        run(&mut cmd)
    };
    in_app(&["test", "--workspace", "--exclude", "e2e"])?;
    in_app(&[
        "clippy",
        "-p",
        NAME,
        "--features",
        "server",
        "--",
        "-D",
        "warnings",
    ])?;
    in_app(&[
        "check",
        "-p",
        NAME,
        "--features",
        "web",
        "--target",
        "wasm32-unknown-unknown",
    ])
}

#[cfg(test)]
mod tests {
    use super::twin_drift;

    #[test]
    fn twins_may_differ_only_on_placeholder_lines() {
        let plain = "[package]\nname = \"demo\"\nversion = \"1\"\n";
        assert!(
            twin_drift(
                "[package]\nname = \"{{project-name}}\"\nversion = \"1\"\n",
                plain
            )
            .is_ok()
        );
        let drifted = twin_drift(
            "[package]\nname = \"{{project-name}}\"\nversion = \"2\"\n",
            plain,
        );
        assert!(drifted.unwrap_err().contains("line 3"));
        assert!(twin_drift("[package]\nname = \"{{project-name}}\"\n", plain).is_err());
        assert!(twin_drift("{% if x %}\nname\nversion = \"1\"\n", plain).is_err());
    }
}
