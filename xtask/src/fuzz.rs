//! `cargo xtask fuzz [--seconds N] [--smoke] [TARGET…]`: runs each cargo-fuzz target in `fuzz/`
//! for a fixed time and prints the executions.
//!
//! The pinned stable toolchain has no nightly, and libFuzzer builds need `-Z` flags: the build
//! runs with `RUSTC_BOOTSTRAP=1`, with AddressSanitizer (its runtime ships with the stable
//! standard library). Everything the fuzzer writes — its target directory, the growing corpus
//! and crash artifacts — lives under the user cache (`~/.cache/dioxus-auth-starter/fuzz-target`
//! and `…/fuzz/`), never in the checkout; the committed seeds in `fuzz/seeds/<target>/` are read only.

use crate::tools::{command, run};
use crate::workspace::step;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// cargo-fuzz, installed once per machine at user level.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The targets in `fuzz/fuzz_targets/`, in run order.
pub const TARGETS: &[&str] = &["token", "sign_in_up"];
/// Seconds per target of `cargo xtask fuzz`.
const DEFAULT_SECONDS: u64 = 120;
/// Seconds per target of `--smoke` (CI): the whole smoke run stays under 60 s of fuzzing.
const SMOKE_SECONDS: u64 = 25;

/// One target's run.
#[derive(Debug)]
pub struct FuzzRun {
    pub target: String,
    pub seconds: u64,
    pub executions: u64,
    pub corpus: usize,
}

/// Parses the arguments, fuzzes, prints the table.
pub fn fuzz(root: &Path, args: &[String]) -> Result<()> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--smoke" => seconds = SMOKE_SECONDS,
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--seconds needs a whole number of seconds")?;
            }
            t if TARGETS.contains(&t) => targets.push(t.to_owned()),
            other => bail!(
                "unknown fuzz argument `{other}` (expected --seconds N, --smoke, or one of {})",
                TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    let runs = run_targets(root, &targets, seconds)?;
    println!("\n{}", table(&runs));
    Ok(())
}

/// `cargo xtask fuzz --smoke`, for `cargo xtask test`: every target, 25 s each.
#[allow(dead_code)] // called by `cargo xtask test` once it runs the smoke pass
pub fn smoke(root: &Path) -> Result<()> {
    let targets: Vec<String> = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    let runs = run_targets(root, &targets, SMOKE_SECONDS)?;
    eprintln!("{}", table(&runs));
    Ok(())
}

fn run_targets(root: &Path, targets: &[String], seconds: u64) -> Result<Vec<FuzzRun>> {
    ensure_cargo_fuzz()?;
    let cache = cache_dir();
    // Its own target directory: sanitizer builds of every dependency, never mixed with the
    // workspace's.
    let target_dir = cache.join("fuzz-target");
    let work = cache.join("fuzz");
    step(&format!(
        "cargo fuzz build ({}; RUSTC_BOOTSTRAP=1, AddressSanitizer)",
        targets.join(", ")
    ));
    let mut build = cargo_fuzz(root, &target_dir);
    build.arg("build");
    run(&mut build)?;

    let mut runs = Vec::new();
    for target in targets {
        step(&format!("fuzzing `{target}` for {seconds} s"));
        let corpus = work.join("corpus").join(target);
        let artifacts = work.join("artifacts").join(target);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let seeds = root.join("fuzz").join("seeds").join(target);
        let mut cmd = cargo_fuzz(root, &target_dir);
        cmd.args(["run", target])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-max_len=12288")
            .arg("-print_final_stats=1")
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped());
        let out = cmd
            .output()
            .with_context(|| format!("running cargo fuzz on {target}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "fuzz target `{target}` failed ({}):\n{}\n\ncrash inputs are in {}; reproduce with \
                 `RUSTC_BOOTSTRAP=1 cargo fuzz run {target} <file>` and turn each into a \
                 regression test",
                out.status,
                tail.join("\n"),
                artifacts.display()
            );
        }
        let executions = executions(&log).with_context(|| {
            format!("no execution count in libFuzzer's output for {target}:\n{log}")
        })?;
        let corpus_files = std::fs::read_dir(&corpus).map_or(0, |d| d.count());
        eprintln!("  {target}: {executions} executions in {seconds} s, corpus {corpus_files}");
        runs.push(FuzzRun {
            target: target.clone(),
            seconds,
            executions,
            corpus: corpus_files,
        });
    }
    Ok(runs)
}

/// `cargo fuzz …` with the nightly-flag escape hatch and the fuzz target directory.
fn cargo_fuzz(root: &Path, target_dir: &Path) -> std::process::Command {
    let mut cmd = command("cargo");
    cmd.current_dir(root)
        .arg("fuzz")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_DIR", target_dir);
    cmd
}

/// `Done 123456 runs in 25 second(s)` (or the `stat::number_of_executed_units` final stat).
fn executions(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("stat::number_of_executed_units:")
            .map(str::trim)
            .or_else(|| {
                l.strip_prefix("Done ")
                    .and_then(|r| r.split_whitespace().next())
            })
            .and_then(|n| n.parse().ok())
    })
}

fn table(runs: &[FuzzRun]) -> String {
    let mut t = String::from(
        "| target | seconds | executions | exec/s | corpus |\n|---|---:|---:|---:|---:|\n",
    );
    for r in runs {
        t.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} |\n",
            r.target,
            r.seconds,
            r.executions,
            r.executions as f64 / r.seconds.max(1) as f64,
            r.corpus
        ));
    }
    t
}

/// Installs cargo-fuzz at the pinned version when missing or different (user level, once).
fn ensure_cargo_fuzz() -> Result<()> {
    let found = command("cargo")
        .args(["fuzz", "--version"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    // `cargo fuzz --version` prints e.g. "cargo-fuzz 0.13.2".
    if found
        .as_deref()
        .is_some_and(|v| v.split_whitespace().nth(1) == Some(CARGO_FUZZ_VERSION))
    {
        return Ok(());
    }
    match found {
        Some(v) => eprintln!(
            "xtask: found `{v}`; installing cargo-fuzz {CARGO_FUZZ_VERSION} (pinned for `cargo xtask fuzz`)"
        ),
        None => eprintln!(
            "xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION} (runs the fuzz targets; once per machine)"
        ),
    }
    run(command("cargo").args([
        "install",
        "cargo-fuzz",
        "--version",
        &format!("={CARGO_FUZZ_VERSION}"),
        "--locked",
        "--force",
    ]))
}

/// `~/.cache/dioxus-auth-starter` (or under `$XDG_CACHE_HOME`): outside the checkout.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"))
        .join("dioxus-auth-starter")
}

#[cfg(test)]
mod tests {
    use super::executions;

    #[test]
    fn parses_libfuzzer_executions() {
        assert_eq!(
            executions("#1024\tpulse  cov: 10\nDone 123456 runs in 25 second(s)\n"),
            Some(123_456)
        );
        assert_eq!(
            executions("stat::number_of_executed_units: 99\nstat::average_exec_per_sec:   3\n"),
            Some(99)
        );
        assert_eq!(executions("nothing"), None);
    }
}
