//! `.env` at the workspace root: the commands that run the app for a person (`cargo xtask dev`,
//! `cargo xtask admin`) read it, so they see the same settings as the server, which reads the same
//! file. `.env.example` lists every variable.
//!
//! Variables already set in the environment win over the file. The suite (`test`, `bench`,
//! `soak`, `fuzz`, `template-check`) does not read it: its results must not depend on one
//! machine's local settings (a `.env` with `AUTH_PROVIDER=jwks` would fail the browser tests).

use anyhow::{Context, Result, anyhow};
use std::path::Path;

/// Loads `<root>/.env`, if there is one, into this process's environment (every child process
/// inherits it). A line that does not parse is an error naming the line; nothing is loaded then.
pub fn load(root: &Path) -> Result<()> {
    let path = root.join(".env");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let entries = parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let (used, kept) = split_by_environment(&entries, |name| std::env::var_os(name).is_some());
    // `std::env::set_var` is `unsafe` in edition 2024 (and `unsafe_code` is forbidden here);
    // dotenvy sets the variables it reads, leaving those already set alone. The file parsed
    // above, so this cannot fail on its contents. No other thread runs yet.
    dotenvy::from_path(&path).with_context(|| format!("loading {}", path.display()))?;
    let mut note = format!("xtask: read .env: {}", list(&used));
    if !kept.is_empty() {
        note.push_str(&format!("; already set, kept: {}", list(&kept)));
    }
    eprintln!("{note}");
    Ok(())
}

/// The `(name, value)` settings of a `.env` text, in order; an error names the first line that
/// does not parse.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(entry) => entries.push(entry),
            // The line's number, never its content: it may hold a secret.
            Err(dotenvy::Error::LineParse(line, _)) => {
                let first = line.lines().next().unwrap_or_default();
                let at =
                    line_number(text, first).map_or_else(String::new, |n| format!("line {n} "));
                return Err(format!(
                    "{at}is not `NAME=value` (quote a value that holds spaces or `#`)"
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(entries)
}

/// The 1-based number of the first line of `text` that starts with `start` (dotenvy reports the
/// line's text, not its number).
fn line_number(text: &str, start: &str) -> Option<usize> {
    text.lines()
        .position(|line| !line.trim().is_empty() && line.starts_with(start))
        .map(|i| i + 1)
}

/// The names the file sets (first occurrence wins, as in dotenvy), split into those it provides
/// and those the environment already has.
fn split_by_environment(
    entries: &[(String, String)],
    is_set: impl Fn(&str) -> bool,
) -> (Vec<String>, Vec<String>) {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in entries {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let (kept, used): (Vec<&str>, Vec<&str>) = names.into_iter().partition(|n| is_set(n));
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
    (owned(used), owned(kept))
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "no settings".into()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_and_skips_comments() {
        let text = "# comment\n\nDATABASE_URL=sqlite://data/app.db?mode=rwc\nexport PORT=3000\nAUTH_ISSUER=\"https://x # y\" # note\n";
        let entries = parse(text).unwrap();
        assert_eq!(
            entries,
            [
                (
                    "DATABASE_URL".into(),
                    "sqlite://data/app.db?mode=rwc".into()
                ),
                ("PORT".into(), "3000".into()),
                ("AUTH_ISSUER".into(), "https://x # y".into()),
            ]
        );
    }

    #[test]
    fn a_malformed_line_is_named() {
        let err =
            parse("# settings\nPORT=3000\n\nAUTH_PUBLIC_URL s3cret\nIP=0.0.0.0\n").unwrap_err();
        assert!(err.starts_with("line 4 "), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let err = parse("PORT=1\nAUTH_ISSUER=\"unterminated\nIP=x\n").unwrap_err();
        assert!(err.starts_with("line 2 "), "{err}");
    }

    #[test]
    fn the_environment_wins() {
        let entries = parse("PORT=3000\nIP=0.0.0.0\nPORT=4000\n").unwrap();
        let (used, kept) = split_by_environment(&entries, |n| n == "PORT");
        assert_eq!(used, ["IP"]);
        assert_eq!(kept, ["PORT"]);
    }

    /// `.env.example` lists every variable the server reads (every `"SCREAMING_SNAKE"` string in
    /// the crates' and apps' sources, plus those Dioxus reads), and nothing else, all commented
    /// out: copied to `.env` as it is, it changes nothing.
    #[test]
    fn env_example_lists_every_variable_the_server_reads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let example = std::fs::read_to_string(root.join(".env.example")).unwrap();
        assert_eq!(parse(&example).unwrap(), [], "every line is commented out");
        let listed: Vec<&str> = example
            .lines()
            .filter_map(|l| l.strip_prefix('#')?.split_once('=').map(|(name, _)| name))
            .filter(|name| is_variable(name))
            .collect();
        // Read by the `dioxus` crate (and the release server's logger), not named in our sources.
        let mut read: Vec<String> = ["IP", "PORT", "RUST_LOG"].map(String::from).to_vec();
        for dir in ["crates", "apps"] {
            for file in rust_sources(&root.join(dir)) {
                let text = std::fs::read_to_string(&file).unwrap();
                for name in text.split('"').skip(1).step_by(2) {
                    // `CARGO_*` are cargo's compile-time variables (`env!("CARGO_PKG_VERSION")`).
                    if is_variable(name)
                        && name.contains('_')
                        && !name.starts_with("CARGO_")
                        && !read.iter().any(|r| r == name)
                    {
                        read.push(name.to_owned());
                    }
                }
            }
        }
        let missing: Vec<&String> = read
            .iter()
            .filter(|r| !listed.contains(&r.as_str()))
            .collect();
        let extra: Vec<&&str> = listed
            .iter()
            .filter(|l| !read.iter().any(|r| r == *l))
            .collect();
        assert!(missing.is_empty(), "add to .env.example: {missing:?}");
        assert!(
            extra.is_empty(),
            "no source reads these any more: {extra:?}"
        );
    }

    fn is_variable(name: &str) -> bool {
        name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    /// The `.rs` files under `dir`'s crates' `src/` folders (not their tests).
    fn rust_sources(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        let mut stack: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path().join("src"))
            .filter(|p| p.is_dir())
            .collect();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        files
    }
}
