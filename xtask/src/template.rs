//! `cargo xtask template-check`: generate a new app from this repository exactly as a user would,
//! both ways the README gives (`dx new … --template …` and `cargo generate …`, the same
//! cargo-generate version and `cargo-generate.toml`), check that the two agree and that nothing in
//! the new app still names the template's app, then build and test the generated workspace and
//! sign up, reach a protected page and sign out in its release bundle.
//!
//! The template's app name is read from this checkout (the one crate under `apps/`), never
//! written here: this file is part of every generated app too (inert there: no
//! `cargo-generate.toml`), and must not name it either.
//!
//! Also checks the `.liquid` twins (see `cargo-generate.toml`): each, rendered with this
//! repository's own values, must equal its plain file outside the lines that hold a placeholder,
//! so a dependency added to the app's `Cargo.toml` cannot be forgotten in the template.

use crate::tools::{self, command, run};
use crate::workspace::{app_package, step, target_dir};
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The project name the check generates; also what must replace every mention of the template's
/// app. Two words, so the kebab-case (`acme-portal`) and crate (`acme_portal`) forms differ.
const NAME: &str = "acme-portal";

/// The cargo-generate that `dx new` embeds (dioxus-cli 0.7.10 depends on `=0.23.3`): both ways
/// of creating an app run the same generator.
pub const CARGO_GENERATE_VERSION: &str = "0.23.3";

/// The browser journey run against the generated app's release bundle: sign up, the protected
/// page, sign out (`tests/e2e/tests/auth_flow.rs`).
const JOURNEY: (&str, &str) = ("auth_flow", "sign_up_token_and_sign_out_without_reload");

/// cargo-generate's placeholders (split, so that this file, part of every generated app, holds
/// none).
const PLACEHOLDERS: [&str; 2] = [
    concat!("{", "{project-name}}"),
    concat!("{", "{crate_name}}"),
];

/// Twins whose rendering is a different document, not the plain file with other names.
const FREE_TWINS: [&str; 1] = ["README.md.liquid"];

/// Files of the template that must not reach a generated app.
const TEMPLATE_ONLY: [&str; 5] = [
    "cargo-generate.toml",
    "template.rhai",
    "CHANGELOG.md",
    ".env",
    "template-pending-renames.txt",
];

/// Third-party data copied byte for byte (each pinned by its SHA-256 in the README beside it), in
/// which the template's app name may occur as data, not as a name (the common-password list holds
/// it as a password): the names check skips their lines, not their paths.
const VERBATIM_DATA: [&str; 1] = ["crates/auth-idp/wordlists/common-passwords.txt"];

/// Mentions of the template's app in a generated app that wait for a rename at their source, one
/// `<path>: <line>` a line (template-only: cargo-generate ignores it). Any other mention fails the
/// check. Empty since issue 19: a stopgap for a rename that cannot be made in the same change.
const PENDING: &str = "xtask/template-pending-renames.txt";

/// The whole check: twins, generation (both ways), names, then the generated workspace's tests,
/// its release bundle and one browser journey.
pub fn check(root: &Path) -> Result<()> {
    if !root.join("cargo-generate.toml").is_file() {
        eprintln!(
            "xtask: no cargo-generate.toml: a generated app, not the template; nothing to check"
        );
        return Ok(());
    }
    let started = Instant::now();
    let template_app = app_package(root)?;
    step("template: .liquid twins match their plain files");
    check_twins(root)?;
    let pending_text = std::fs::read_to_string(root.join(PENDING)).unwrap_or_default();
    let pending = pending_entries(&pending_text);
    // The same check as on the generated app below, in seconds rather than minutes, and its
    // errors point at this checkout's files and lines.
    step(&format!(
        "template: nothing this checkout ships names `{template_app}`"
    ));
    check_shipped_names(root, &template_app, &pending)?;

    let base = work_dir(root);
    std::fs::create_dir_all(&base)?;
    // Two checks of this checkout at once would delete each other's generated apps.
    let lock = std::fs::File::create(base.join(".lock"))?;
    lock.lock().context("locking the template check's folder")?;
    let staging = stage(root, &base)?;

    step(&format!(
        "template: dx new {NAME} --template <this checkout>"
    ));
    let app = generate_with_dx(&staging, &base.join("dx"))?;
    step(&format!(
        "template: cargo generate --path <this checkout> --name {NAME}"
    ));
    ensure_cargo_generate()?;
    let other = generate_with_cargo_generate(&staging, &base.join("cargo-generate"))?;
    step("template: both ways give the same app");
    same_tree(&app, &other)?;

    step(&format!(
        "template: nothing in the generated app names `{template_app}`"
    ));
    check_names(&app, &template_app, &pending)?;
    let generated = started.elapsed();

    step("template: the generated app's tests (cargo test, clippy on the server build)");
    let target = target_dir(root);
    let changed = changed_outside_app(&staging, &app)?;
    test_generated(&app, &target, &changed)?;
    check_lock(&app, &template_app)?;
    let tested = started.elapsed();

    step("template: the generated app's release bundle (dx bundle --release)");
    let bundle = bundle_generated(&app, &target)?;
    let bundled = started.elapsed();

    step(&format!(
        "template: sign up, protected page, sign out in the generated app ({}::{})",
        JOURNEY.0, JOURNEY.1
    ));
    journey(&app, &target, &bundle)?;
    let secs = |d: std::time::Duration| d.as_secs();
    eprintln!(
        "xtask: template check passed in {} s (generate and names {} s, tests {} s, bundle {} s, \
         journey {} s)",
        secs(started.elapsed()),
        secs(generated),
        secs(tested - generated),
        secs(bundled - tested),
        secs(started.elapsed() - bundled),
    );
    Ok(())
}

/// The folder the check generates into: one per checkout (several checkouts may share a machine
/// and its temp dir), the same from run to run (cargo's fingerprints stay valid). Outside any
/// Cargo workspace: `dx new` and cargo-generate add a project generated inside one to its
/// `members`.
fn work_dir(root: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    root.hash(&mut hasher);
    std::env::temp_dir().join(format!(
        "dioxus-auth-starter-template-check-{:08x}",
        hasher.finish() as u32
    ))
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

/// Copies what git would ship into `<base>/template`: a local `target/`, `data/`,
/// `node_modules/` or `.env` must not end up in the template (cargo-generate copies a local path
/// wholesale before applying `ignore`).
fn stage(root: &Path, base: &Path) -> Result<PathBuf> {
    let staging = base.join("template");
    remove_dir(&staging)?;
    for file in checkout_files(root)? {
        let to = staging.join(&file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(root.join(&file), &to)
            .with_context(|| format!("copying {}", file.display()))?;
    }
    Ok(staging)
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// `dx new <dir>/acme-portal --template <staging>`; returns the new app.
fn generate_with_dx(staging: &Path, dir: &Path) -> Result<PathBuf> {
    let app = dir.join(NAME);
    remove_dir(dir)?;
    std::fs::create_dir_all(dir)?;
    run(command("dx")
        .arg("new")
        .arg(&app)
        .arg("--template")
        .arg(staging)
        .args(["--yes", "--vcs", "none"]))?;
    ensure!(
        app.join("Cargo.toml").is_file(),
        "dx new finished but {} has no Cargo.toml",
        app.display()
    );
    Ok(app)
}

/// `cargo generate --path <staging> --name acme-portal` into `<dir>`; returns the new app.
fn generate_with_cargo_generate(staging: &Path, dir: &Path) -> Result<PathBuf> {
    let app = dir.join(NAME);
    remove_dir(dir)?;
    std::fs::create_dir_all(dir)?;
    run(command("cargo")
        .arg("generate")
        .arg("--path")
        .arg(staging)
        .args(["--name", NAME, "--vcs", "none", "--silent", "--destination"])
        .arg(dir))?;
    ensure!(
        app.join("Cargo.toml").is_file(),
        "cargo generate finished but {} has no Cargo.toml",
        app.display()
    );
    Ok(app)
}

/// Installs cargo-generate (`cargo generate`, the README's other way to create an app) at
/// [`CARGO_GENERATE_VERSION`], once per machine.
pub fn ensure_cargo_generate() -> Result<()> {
    let found = command("cargo-generate")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    // `cargo-generate --version` prints e.g. "cargo generate 0.23.3".
    if found
        .as_deref()
        .is_some_and(|v| v.split_whitespace().last() == Some(CARGO_GENERATE_VERSION))
    {
        return Ok(());
    }
    match found {
        Some(v) => eprintln!(
            "xtask: found `{v}` but the template check pins cargo-generate \
             {CARGO_GENERATE_VERSION} (the version dx new embeds); installing it"
        ),
        None => eprintln!(
            "xtask: installing cargo-generate {CARGO_GENERATE_VERSION} (the template check \
             creates an app with `cargo generate` too, as the README offers; a few minutes, once \
             per machine; needs OpenSSL headers, e.g. libssl-dev)"
        ),
    }
    run(command("cargo").args([
        "install",
        "cargo-generate",
        "--version",
        &format!("={CARGO_GENERATE_VERSION}"),
        "--locked",
        "--force",
    ]))
}

/// The two generated apps must be the same files with the same bytes: then building one proves
/// both. `dx new` also runs `cargo fmt` on the new app, so a template that is not rustfmt-clean
/// (work in progress; `cargo xtask test` checks formatting first) differs in `.rs` files only:
/// then `b` is formatted too and compared again, with a warning.
fn same_tree(a: &Path, b: &Path) -> Result<()> {
    let mut differences = tree_differences(a, b)?;
    let only_rust = differences
        .iter()
        .all(|(file, both)| *both && file.extension().is_some_and(|e| e == "rs"));
    if !differences.is_empty() && only_rust {
        eprintln!(
            "xtask: warning: the apps differ in {} .rs files: the template is not rustfmt-clean \
             (`cargo fmt --all --check`) and dx new formats; formatting the other one too",
            differences.len()
        );
        run(command("cargo").current_dir(b).args(["fmt", "--all"]))?;
        differences = tree_differences(a, b)?;
    }
    if !differences.is_empty() {
        let shown: Vec<String> = differences
            .iter()
            .map(|(file, both)| {
                let how = if *both { "differs" } else { "in one only" };
                format!("{how}: {}", file.display())
            })
            .collect();
        bail!(
            "dx new ({}) and cargo generate ({}) made different apps:\n  {}",
            a.display(),
            b.display(),
            shown.join("\n  ")
        );
    }
    Ok(())
}

/// The files that differ between two trees: `(path, true)` when both have it with other bytes,
/// `(path, false)` when only one has it.
fn tree_differences(a: &Path, b: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let list = |dir: &Path| -> Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = walk(dir)?
            .into_iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(&p).to_path_buf())
            .collect();
        files.sort();
        Ok(files)
    };
    let (files_a, files_b) = (list(a)?, list(b)?);
    let mut differences = Vec::new();
    for file in &files_a {
        if !files_b.contains(file) {
            differences.push((file.clone(), false));
        } else if std::fs::read(a.join(file))? != std::fs::read(b.join(file))? {
            differences.push((file.clone(), true));
        }
    }
    for file in files_b.iter().filter(|f| !files_a.contains(f)) {
        differences.push((file.clone(), false));
    }
    Ok(differences)
}

/// The entries of [`PENDING`]'s text: its lines, trimmed, without blanks and `#` comments.
fn pending_entries(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A line of this checkout that a generated app would hold and that names the template's app.
#[derive(Debug)]
struct Shipped {
    /// `<path in the generated app>: <line, trimmed>`, as in [`PENDING`].
    entry: String,
    /// `<path in this checkout>:<line number>`: where to rename it.
    source: String,
}

/// The lines that name `template_app` in what generation would copy from this checkout, read
/// in place: every file of a commit (see [`checkout_files`]) but cargo-generate's `ignore`, the
/// template-only files and `Cargo.lock` ([`check_lock`] covers it), with each `.liquid` twin
/// read instead of its plain file and `apps/<template_app>/` shown as `apps/acme-portal/`
/// ([`VERBATIM_DATA`]'s lines aside). Second: the paths, as generated, that still name it.
fn shipped_mentions(root: &Path, template_app: &str) -> Result<(Vec<Shipped>, Vec<String>)> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        template: Template,
    }
    #[derive(serde::Deserialize)]
    struct Template {
        #[serde(default)]
        ignore: Vec<String>,
    }
    let manifest = std::fs::read_to_string(root.join("cargo-generate.toml"))
        .context("reading cargo-generate.toml")?;
    let ignore = toml::from_str::<Manifest>(&manifest)
        .context("parsing cargo-generate.toml")?
        .template
        .ignore;
    let files = checkout_files(root)?;
    let app_dir = Path::new("apps").join(template_app);
    let (mut found, mut bad_paths) = (Vec::new(), Vec::new());
    for file in &files {
        let ignored = ignore
            .iter()
            .any(|i| file == Path::new(i) || file.starts_with(i));
        let file_name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let has_twin = files.contains(&PathBuf::from(format!("{}.liquid", file.display())));
        if ignored
            || TEMPLATE_ONLY.contains(&file_name)
            || has_twin
            || file == Path::new("Cargo.lock")
        {
            continue;
        }
        // Where the file lands in the generated app.
        let plain = if file.extension().is_some_and(|e| e == "liquid") {
            file.with_extension("")
        } else {
            file.clone()
        };
        let shipped = match plain.strip_prefix(&app_dir) {
            Ok(rest) => Path::new("apps").join(NAME).join(rest),
            Err(_) => plain,
        };
        let shown = shipped.display().to_string();
        if mentions(&shown, template_app) {
            bad_paths.push(shown.clone());
        }
        if VERBATIM_DATA.iter().any(|d| shipped == Path::new(d)) {
            continue;
        }
        let Some(text) = text_of(&root.join(file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if mentions(line, template_app) {
                found.push(Shipped {
                    entry: format!("{shown}: {}", line.trim()),
                    source: format!("{}:{}", file.display(), n + 1),
                });
            }
        }
    }
    Ok((found, bad_paths))
}

/// [`check_names`] before generating, on this checkout: fails, naming each source line, when
/// anything generation would copy names `template_app` outside the `pending` lines.
fn check_shipped_names(root: &Path, template_app: &str, pending: &[&str]) -> Result<()> {
    let (found, bad_paths) = shipped_mentions(root, template_app)?;
    let mut problems: Vec<String> = bad_paths
        .iter()
        .map(|p| format!("path names `{template_app}`: {p}"))
        .collect();
    problems.extend(
        found
            .iter()
            .filter(|m| !pending.contains(&m.entry.as_str()))
            .map(|m| {
                format!(
                    "{}: {}",
                    m.source,
                    m.entry.split_once(": ").map_or("", |(_, l)| l)
                )
            }),
    );
    if !problems.is_empty() {
        bail!(
            "a generated app would name `{template_app}` ({} places): rename at the source (a \
             route, id or value with a neutral name; prose says \"the app\", paths \
             `apps/<app>/…`):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// Nothing in the generated app names the template's app (`template_app`): no path, no line of
/// any text file (code, Markdown, CSS, TOML …), in any case, except the `pending` lines
/// (`<path>: <line>`, see [`PENDING`]) and the lines of [`VERBATIM_DATA`]; every file a user
/// would otherwise edit carries the new name; no placeholder is left unrendered; no template-only
/// file is left. `Cargo.lock` is checked after the first build instead ([`check_lock`]): cargo
/// rewrites it then.
fn check_names(app: &Path, template_app: &str, pending: &[&str]) -> Result<()> {
    let mut problems = Vec::new();
    let mut tolerated: Vec<String> = Vec::new();
    let crate_dir = app.join("apps").join(NAME);
    if !crate_dir.join("Cargo.toml").is_file() {
        problems.push(format!("no app crate at apps/{NAME}"));
    }
    for (file, needle) in [
        (crate_dir.join("Cargo.toml"), format!("name = \"{NAME}\"")),
        (crate_dir.join("src/brand.rs"), format!("\"{NAME}\"")),
        (app.join("Dioxus.toml"), format!("title = \"{NAME}\"")),
        (app.join("README.md"), format!("# {NAME}")),
        (app.join(".env.example"), "DATABASE_URL=".to_owned()),
    ] {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.contains(&needle) {
            problems.push(format!("{} does not contain `{needle}`", file.display()));
        }
    }
    let mut files = walk(app)?;
    files.sort();
    for path in files {
        let rel = path.strip_prefix(app).unwrap_or(&path);
        let shown = rel.display().to_string();
        if mentions(&shown, template_app) {
            problems.push(format!("path names `{template_app}`: {shown}"));
        }
        let file_name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if TEMPLATE_ONLY.contains(&file_name) || shown.ends_with(".liquid") {
            problems.push(format!("template-only file left behind: {shown}"));
        }
        let Some(text) = text_of(&path) else {
            continue;
        };
        if rel == Path::new("Cargo.lock") || VERBATIM_DATA.iter().any(|d| rel == Path::new(d)) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if PLACEHOLDERS.iter().any(|p| line.contains(p)) {
                problems.push(format!("{shown}:{}: unrendered placeholder", n + 1));
            }
            if mentions(line, template_app) {
                let entry = format!("{shown}: {}", line.trim());
                if pending.contains(&entry.as_str()) {
                    tolerated.push(entry);
                } else {
                    problems.push(format!("{shown}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    if !tolerated.is_empty() {
        // Per file: the lines themselves are in the list.
        let mut per_file: Vec<(&str, usize)> = Vec::new();
        for entry in &tolerated {
            let file = entry.split_once(": ").map_or(entry.as_str(), |(f, _)| f);
            match per_file.iter_mut().find(|(f, _)| *f == file) {
                Some((_, n)) => *n += 1,
                None => per_file.push((file, 1)),
            }
        }
        let per_file: Vec<String> = per_file.iter().map(|(f, n)| format!("{f} ({n})")).collect();
        eprintln!(
            "xtask: warning: {} lines still name `{template_app}`, waiting for a rename at their \
             source ({PENDING}): {}",
            tolerated.len(),
            per_file.join(", ")
        );
    }
    let stale: Vec<&str> = pending
        .iter()
        .copied()
        .filter(|p| !tolerated.iter().any(|t| t == p))
        .collect();
    if !stale.is_empty() {
        eprintln!(
            "xtask: warning: no longer found (fixed or changed), delete from {PENDING}:\n  {}",
            stale.join("\n  ")
        );
    }
    if !problems.is_empty() {
        bail!(
            "the generated app still names `{template_app}` ({} places): rename at the source \
             (cargo-generate's hooks cannot rewrite file contents):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// After the generated workspace's first build: cargo has rewritten the copied `Cargo.lock`,
/// whose entry for the app crate had the template's name.
fn check_lock(app: &Path, template_app: &str) -> Result<()> {
    let lock = std::fs::read_to_string(app.join("Cargo.lock")).context("reading Cargo.lock")?;
    let stale = format!("name = \"{template_app}\"");
    ensure!(
        !lock.lines().any(|l| l.trim() == stale),
        "the generated app's Cargo.lock still has `{stale}` after a build"
    );
    Ok(())
}

/// The contents of a text file: valid UTF-8 without NUL bytes (images and the like are skipped).
fn text_of(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// Whether `text` contains `word` as a word or path part, in any case: not preceded or followed
/// by a letter or digit (`apps/x`, `x_bg`, `--x-fg`, `"x"`, `X app` count; `xylophone` does not).
fn mentions(text: &str, word: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let word = word.to_ascii_lowercase();
    let bytes = text.as_bytes();
    text.match_indices(&word).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + word.len()).copied();
        !before.is_some_and(|b| b.is_ascii_alphanumeric())
            && !after.is_some_and(|b| b.is_ascii_alphanumeric())
    })
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

/// A `cargo` command in the generated workspace, with this run's target dir (dependencies are
/// shared; only the workspace's own crates build again).
fn cargo_in(app: &Path, target: &Path) -> Command {
    let mut cmd = command("cargo");
    cmd.current_dir(app).env("CARGO_TARGET_DIR", target);
    cmd
}

/// The files of the generated app, outside its app crate, that are not the template's own file
/// byte for byte (the rendered `Dioxus.toml` and `README.md`, and `Cargo.lock`, aside).
fn changed_outside_app(template: &Path, app: &Path) -> Result<Vec<PathBuf>> {
    let app_crate = Path::new("apps").join(NAME);
    let mut changed = Vec::new();
    for path in walk(app)? {
        let rel = path.strip_prefix(app).unwrap_or(&path);
        if rel.starts_with(&app_crate)
            || ["Dioxus.toml", "README.md", "Cargo.lock"]
                .contains(&rel.to_str().unwrap_or_default())
        {
            continue;
        }
        if std::fs::read(template.join(rel)).ok() != Some(std::fs::read(&path)?) {
            changed.push(rel.to_path_buf());
        }
    }
    Ok(changed)
}

/// The generated workspace's tests, and clippy on its server build (its wasm build is proven by
/// the release bundle). When nothing outside the app crate differs from the template (`changed`
/// is empty), the other crates are the template's own, whose tests `cargo xtask test` runs on
/// the checkout itself: only the app crate's and xtask's run here (xtask's tests read the
/// generated tree).
fn test_generated(app: &Path, target: &Path, changed: &[PathBuf]) -> Result<()> {
    if changed.is_empty() {
        run(cargo_in(app, target).args(["test", "-p", NAME, "-p", "xtask"]))?;
    } else {
        eprintln!(
            "xtask: {} files outside the app crate differ from the template (e.g. {}): testing \
             the whole generated workspace",
            changed.len(),
            changed[0].display()
        );
        run(cargo_in(app, target).args(["test", "--workspace", "--exclude", "e2e"]))?;
    }
    run(cargo_in(app, target).args([
        "clippy",
        "-p",
        NAME,
        "--features",
        "server",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The generated app's release bundle, as `cargo xtask bundle` builds it there (same lock, same
/// layout); returns its folder.
fn bundle_generated(app: &Path, target: &Path) -> Result<PathBuf> {
    // Two `dx bundle`s in one target dir delete each other's files: the lock `workspace::bundle`
    // takes.
    let lock_path = target.join("dx").join(".bundle.lock");
    std::fs::create_dir_all(lock_path.parent().unwrap_or(target))?;
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    run(command("dx")
        .current_dir(app)
        .env("CARGO_TARGET_DIR", target)
        .args(["bundle", "--package", NAME, "--web", "--release"]))?;
    let dir = target.join("dx").join(NAME).join("release/web");
    ensure!(
        dir.join("server").is_file(),
        "dx bundle finished but the server binary is not at {}",
        dir.join("server").display()
    );
    dir.canonicalize().context("resolving the bundle directory")
}

/// [`JOURNEY`] against the generated app's bundle, with the generated workspace's own e2e crate.
fn journey(app: &Path, target: &Path, bundle: &Path) -> Result<()> {
    tools::ensure_browser()?;
    let (test_file, name) = JOURNEY;
    let e2e = |extra: &[&str]| {
        let mut cmd = cargo_in(app, target);
        cmd.args([
            "test", "-p", "e2e", "--test", test_file, "--", name, "--exact",
        ])
        .args(extra)
        .env("APP_BUNDLE_DIR", bundle);
        cmd
    };
    // A filter that matches nothing passes: make sure the test still exists.
    let listed = e2e(&["--list"]).output().context("listing the e2e tests")?;
    let list = String::from_utf8_lossy(&listed.stdout);
    ensure!(
        listed.status.success() && list.lines().any(|l| l == format!("{name}: test")),
        "the journey test {name} is not in tests/e2e/tests/{test_file}.rs any more: update \
         JOURNEY in xtask/src/template.rs\n{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    run(&mut e2e(&[]))
}

#[cfg(test)]
mod tests {
    use super::{mentions, twin_drift};
    use std::path::Path;

    /// The first names check of `cargo xtask template-check`, cheap enough for every
    /// `cargo test`: nothing this checkout would copy into a generated app names its app crate.
    /// Skipped in a generated app, which is no template.
    #[test]
    fn nothing_a_generated_app_gets_names_the_app_crate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits in the workspace");
        if !root.join("cargo-generate.toml").is_file() || !root.join(".git").exists() {
            eprintln!("not the template's git checkout: nothing to check");
            return;
        }
        let app = crate::workspace::app_package(root).unwrap();
        let pending = std::fs::read_to_string(root.join(super::PENDING)).unwrap_or_default();
        if let Err(e) = super::check_shipped_names(root, &app, &super::pending_entries(&pending)) {
            panic!("{e:#}");
        }
    }

    #[test]
    fn twins_may_differ_only_on_placeholder_lines() {
        let [name, _] = super::PLACEHOLDERS;
        let plain = "[package]\nname = \"sample\"\nversion = \"1\"\n";
        assert!(
            twin_drift(
                &format!("[package]\nname = \"{name}\"\nversion = \"1\"\n"),
                plain
            )
            .is_ok()
        );
        let drifted = twin_drift(
            &format!("[package]\nname = \"{name}\"\nversion = \"2\"\n"),
            plain,
        );
        assert!(drifted.unwrap_err().contains("line 3"));
        assert!(twin_drift(&format!("[package]\nname = \"{name}\"\n"), plain).is_err());
        assert!(twin_drift("{% if x %}\nname\nversion = \"1\"\n", plain).is_err());
    }

    #[test]
    fn a_name_counts_as_a_word_or_path_part_in_any_case() {
        for hit in [
            "apps/sample/src",
            "The Sample app",
            "color: var(--sample-fg);",
            "sample_bg-1234.wasm",
            "name = \"sample\"",
            "SAMPLE",
            "/api-sample",
        ] {
            assert!(mentions(hit, "sample"), "{hit}");
        }
        for miss in ["samples", "resample", "examples/sampled", "a_sampler"] {
            assert!(!mentions(miss, "sample"), "{miss}");
        }
    }
}
