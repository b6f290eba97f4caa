//! Installs the pinned tools, once per machine, at user level.
//!
//! Each `ensure_*` checks the installed version first and only installs on a mismatch, saying
//! what it installs and why. Nothing is written inside the checkout.

use anyhow::{Context, Result, bail};
use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

/// dioxus-cli, pinned to the `dioxus` version in Cargo.toml (`=0.7.10`).
pub const DX_VERSION: &str = "0.7.10";
/// The esbuild that dx 0.7 drives for JS bundling.
pub const ESBUILD_VERSION: &str = "0.27.3";
/// The binaryen release dx 0.7.10 pins for `wasm-opt`.
pub const BINARYEN_VERSION: &str = "129.0.0";
/// The SMTP test server the mail tests send to (and read back through its REST API). 2.x: the
/// 3.0 line needs Node.js 22 for some of its dependencies; Debian 13 ships Node.js 20.
pub const MAILDEV_VERSION: &str = "2.2.1";
/// The certified OpenID provider the social sign-in tests sign in at (npm `oidc-provider`, run by
/// `tests/e2e/oidc/provider.mjs`). 9.x asks for Node.js 22 but runs on Debian 13's Node.js 20
/// (it only warns).
pub const OIDC_PROVIDER_VERSION: &str = "9.13.3";
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Installs (if missing) everything needed to build and serve the app, and puts the tool
/// directories on this process's PATH so every child process sees them.
pub fn ensure_build_tools(root: &Path) -> Result<()> {
    prepend_to_path(&cargo_bin_dir())?;
    ensure_wasm_target()?;
    ensure_esbuild()?;
    ensure_wasm_opt()?;
    ensure_wasm_bindgen(root)?;
    ensure_dx()?;
    ensure_maildev()?;
    ensure_oidc_provider()?;
    Ok(())
}

/// Chromium and ChromeDriver for the browser tests. `CHROME` (or `CHROMIUM`) and `CHROMEDRIVER`
/// both naming executables: those are used and nothing is installed (any OS). Otherwise the
/// missing ones come from Debian's packages (apt-get, as root).
pub fn ensure_browser() -> Result<()> {
    let browser = executable_from_env(&["CHROME", "CHROMIUM"])?;
    let driver = executable_from_env(&["CHROMEDRIVER"])?;
    let mut wanted = Vec::new();
    if browser.is_none() {
        wanted.push(("chromium", "chromium"));
    }
    if driver.is_none() {
        wanted.push(("chromedriver", "chromium-driver"));
    }
    ensure_debian_packages_or(
        &wanted,
        "the browser tests need them",
        Some(
            "set CHROME to a Chrome or Chromium binary and CHROMEDRIVER to its matching \
             chromedriver",
        ),
    )
}

/// The first of `vars` that is set: `Some(path)` when it names an executable (a path, or a
/// name found on PATH), an error when it names nothing runnable, `None` when none is set.
fn executable_from_env(vars: &[&str]) -> Result<Option<PathBuf>> {
    let Some((var, value)) = vars
        .iter()
        .find_map(|v| env::var_os(v).filter(|x| !x.is_empty()).map(|x| (*v, x)))
    else {
        return Ok(None);
    };
    let path = PathBuf::from(&value);
    let resolved = if path.components().count() == 1 {
        output_of(
            "sh",
            &["-c", "command -v \"$1\"", "sh", &value.to_string_lossy()],
        )
        .map(|p| PathBuf::from(p.trim()))
    } else {
        Some(path)
    };
    match resolved {
        Some(p) if is_executable(&p) => Ok(Some(p)),
        _ => bail!(
            "{var} is set to `{}`, which is not an executable file: point it at one, or unset it",
            value.to_string_lossy()
        ),
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Makes sure each `(binary, Debian package)` is on PATH: installs the missing packages with
/// apt-get when running as root, otherwise stops with the command to run.
pub fn ensure_debian_packages(tools: &[(&str, &str)], why: &str) -> Result<()> {
    ensure_debian_packages_or(tools, why, None)
}

/// [`ensure_debian_packages`], where `instead` says what to set to use existing tools rather
/// than Debian's (shown when they cannot be installed).
fn ensure_debian_packages_or(
    tools: &[(&str, &str)],
    why: &str,
    instead: Option<&str>,
) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(bin, _)| {
            command("sh")
                .args(["-c", &format!("command -v {bin}")])
                .output()
                .map_or(true, |o| !o.status.success())
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing, why, instead)
}

/// Installs Debian `packages` with apt-get, saying why. Stops with what to do instead when this
/// is not a Debian-like system (no apt-get) or not root; `instead` names the variables that
/// point xtask at existing tools.
pub fn apt_install(packages: &[&str], why: &str, instead: Option<&str>) -> Result<()> {
    let list = packages.join(" ");
    let or_instead = instead.map_or(String::new(), |i| format!("\nOr {i}."));
    if output_of("sh", &["-c", "command -v apt-get"]).is_none() {
        bail!(
            "missing {list} ({why}). xtask installs these Debian packages with apt-get, and this \
             system has no apt-get: install the equivalent with its package manager and run this \
             command again.{or_instead}"
        );
    }
    if !is_root() {
        bail!(
            "missing Debian packages {list} ({why}). xtask installs them only as root; install \
             them with:\n    sudo apt-get install -y {list}\nthen run this command again.\
             {or_instead}"
        );
    }
    eprintln!("xtask: installing {list} with apt-get ({why})");
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

/// Whether this process runs as root (uid 0).
pub fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

fn ensure_wasm_target() -> Result<()> {
    let installed = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("xtask: adding the {WASM_TARGET} target (the app's client is compiled to wasm)");
    run(Command::new("rustup").args(["target", "add", WASM_TARGET]))
}

fn ensure_dx() -> Result<()> {
    let found = version_of("dx", &["--version"]);
    // `dx --version` prints e.g. "dioxus 0.7.10 (abc1234)".
    if found
        .as_deref()
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(DX_VERSION))
    {
        return Ok(());
    }
    match found {
        Some(v) => eprintln!(
            "xtask: found `{v}` but this workspace pins dioxus {DX_VERSION}; installing dioxus-cli {DX_VERSION}"
        ),
        None => eprintln!(
            "xtask: installing dioxus-cli {DX_VERSION} (`dx`, builds and serves the app; about 15 minutes, once per machine)"
        ),
    }
    // `no-downloads`: dx must not fetch tools from the internet; we install them ourselves.
    run(Command::new("cargo").args([
        "install",
        "dioxus-cli",
        "--version",
        &format!("={DX_VERSION}"),
        "--locked",
        "--features",
        "no-downloads",
        "--force",
    ]))
}

fn ensure_wasm_bindgen(root: &Path) -> Result<()> {
    let wanted = locked_version(root, "wasm-bindgen")?;
    let found = version_of("wasm-bindgen", &["--version"]);
    // `wasm-bindgen --version` prints e.g. "wasm-bindgen 0.2.100".
    if found
        .as_deref()
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(wanted.as_str()))
    {
        return Ok(());
    }
    match found {
        Some(v) => eprintln!(
            "xtask: found `{v}` but Cargo.lock has wasm-bindgen {wanted}; installing wasm-bindgen-cli {wanted}"
        ),
        None => eprintln!(
            "xtask: installing wasm-bindgen-cli {wanted} (must equal the wasm-bindgen in Cargo.lock)"
        ),
    }
    // Not `--locked`: its lock file pins a crate version the registry no longer has.
    run(Command::new("cargo").args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &format!("={wanted}"),
        "--force",
    ]))
}

/// esbuild from npm: dx bundles the JS glue with it.
fn ensure_esbuild() -> Result<()> {
    ensure_npm_tool(
        "esbuild",
        ESBUILD_VERSION,
        "esbuild",
        "dx bundles JS with it",
        |v| v == ESBUILD_VERSION,
    )
}

/// binaryen's `wasm-opt` from npm: dx runs it on every release web build (with `no-downloads` it
/// must be on PATH). The npm package runs binaryen compiled to wasm under Node.
fn ensure_wasm_opt() -> Result<()> {
    // `wasm-opt --version` prints e.g. "wasm-opt version 129 (version_129)".
    ensure_npm_tool(
        "binaryen",
        BINARYEN_VERSION,
        "wasm-opt",
        "dx optimises release wasm with it",
        |v| v.split_whitespace().nth(2) == BINARYEN_VERSION.split('.').next(),
    )
}

/// maildev from npm: a real SMTP server for the mail tests (auth-idp's and the browser tests),
/// on PATH for every child process; the tests find it there (or at `MAILDEV`).
fn ensure_maildev() -> Result<()> {
    ensure_npm_tool(
        "maildev",
        MAILDEV_VERSION,
        "maildev",
        "the mail tests send to this SMTP test server",
        |v| v == MAILDEV_VERSION,
    )
}

/// oidc-provider from npm: a real OpenID provider for the social sign-in tests (auth-idp's and the
/// browser tests). A library, not a program: every child process gets its folder in
/// `OIDC_PROVIDER_DIR`, where `provider.mjs` imports it from.
fn ensure_oidc_provider() -> Result<()> {
    let dir = tool_cache_dir().join(format!("oidc-provider-{OIDC_PROVIDER_VERSION}"));
    let manifest = dir.join("node_modules/oidc-provider/package.json");
    let found = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| package_version(&text));
    if found.as_deref() != Some(OIDC_PROVIDER_VERSION) {
        if version_of("npm", &["--version"]).is_none() {
            bail!(
                "oidc-provider is installed with npm: install Node.js and npm (e.g. `apt-get install -y nodejs npm`) and run again"
            );
        }
        eprintln!(
            "xtask: installing oidc-provider {OIDC_PROVIDER_VERSION} with npm into {} (the social \
             sign-in tests sign in at this OpenID provider)",
            dir.display()
        );
        std::fs::create_dir_all(&dir)?;
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("oidc-provider@{OIDC_PROVIDER_VERSION}")))?;
    }
    let dir = dir
        .to_str()
        .context("the tool cache path is not UTF-8, so it cannot be passed in OIDC_PROVIDER_DIR")?;
    set_child_env("OIDC_PROVIDER_DIR", dir);
    Ok(())
}

/// The top-level `"version"` of an npm package.json, read as its first `"version"` key (xtask
/// has no JSON parser; packages put it near the top, and a misread only costs a reinstall).
fn package_version(package_json: &str) -> Option<String> {
    let after_key = &package_json[package_json.find("\"version\"")? + "\"version\"".len()..];
    let value = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value = value.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_owned())
}

/// Installs `package@version` with npm into its own folder under the tool cache and puts its
/// `node_modules/.bin` on the PATH of every child process.
fn ensure_npm_tool(
    package: &str,
    version: &str,
    bin: &str,
    why: &str,
    version_ok: impl Fn(&str) -> bool,
) -> Result<()> {
    let dir = tool_cache_dir().join(format!("{package}-{version}"));
    let bin_dir = dir.join("node_modules").join(".bin");
    let found = version_of(&bin_dir.join(bin).to_string_lossy(), &["--version"]);
    if !found.as_deref().is_some_and(&version_ok) {
        if version_of("npm", &["--version"]).is_none() {
            bail!(
                "{package} is installed with npm: install Node.js and npm (e.g. `apt-get install -y nodejs npm`) and run again"
            );
        }
        eprintln!(
            "xtask: installing {package} {version} with npm into {} ({why})",
            dir.display()
        );
        std::fs::create_dir_all(&dir)?;
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(format!("{package}@{version}")))?;
    }
    prepend_to_path(&bin_dir)
}

/// The version of `package` resolved in Cargo.lock.
pub fn locked_version(root: &Path, package: &str) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Lock {
        package: Vec<Pkg>,
    }
    #[derive(serde::Deserialize)]
    struct Pkg {
        name: String,
        version: String,
    }
    let text = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let lock: Lock = toml::from_str(&text).context("parsing Cargo.lock")?;
    lock.package
        .into_iter()
        .find(|p| p.name == package)
        .map(|p| p.version)
        .with_context(|| format!("{package} is not in Cargo.lock"))
}

/// `~/.cache/dioxus-auth-starter` (or `$XDG_CACHE_HOME/...`): user-level, outside the checkout.
pub fn tool_cache_dir() -> PathBuf {
    env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".cache"))
        .join("dioxus-auth-starter")
}

fn cargo_bin_dir() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home_dir().join(".cargo"))
        .join("bin")
}

fn home_dir() -> PathBuf {
    env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Child processes get this PATH: `std::env::set_var` is `unsafe` in edition 2024, so instead of
/// changing our own environment we hand the value to every child we start (see [`command`]).
static PATH_OVERRIDE: std::sync::Mutex<Option<OsString>> = std::sync::Mutex::new(None);

/// Variables every child process gets besides PATH (e.g. `TEST_DATABASE_URL`), same reason.
static CHILD_ENV: std::sync::Mutex<Vec<(OsString, OsString)>> = std::sync::Mutex::new(Vec::new());

/// Gives `key=value` to every child started from now on through [`command`] or [`run`].
pub fn set_child_env(key: &str, value: &str) {
    let mut vars = CHILD_ENV.lock().unwrap_or_else(|e| e.into_inner());
    vars.retain(|(k, _)| k != key);
    vars.push((key.into(), value.into()));
}

fn child_env(cmd: &mut Command) {
    cmd.env("PATH", current_path());
    for (k, v) in CHILD_ENV.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        cmd.env(k, v);
    }
}

fn current_path() -> OsString {
    PATH_OVERRIDE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .or_else(|| env::var_os("PATH"))
        .unwrap_or_default()
}

fn prepend_to_path(dir: &Path) -> Result<()> {
    let current = current_path();
    if env::split_paths(&current).any(|p| p == dir) {
        return Ok(());
    }
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(env::split_paths(&current));
    *PATH_OVERRIDE.lock().unwrap_or_else(|e| e.into_inner()) = Some(env::join_paths(paths)?);
    Ok(())
}

/// A `Command` for `program` that sees the tool directories on its PATH (and the variables of
/// [`set_child_env`]).
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    child_env(&mut cmd);
    cmd
}

/// Runs a command to completion, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    child_env(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

pub fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = command(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn version_of(program: &str, args: &[&str]) -> Option<String> {
    output_of(program, args).map(|s| s.trim().to_owned())
}
