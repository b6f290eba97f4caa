//! The crate boundaries the architecture promises, checked on the resolved dependency graph
//! (`cargo tree`): an app that only verifies tokens of an external issuer compiles no database
//! driver, no password hashing and no signing-key generation.

use std::process::Command;

/// Normal (non-dev, non-build) dependencies of `package` with `features`, one crate name a line.
fn normal_dependencies(package: &str, features: &str) -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO"))
        .current_dir(root)
        .args(["tree", "-p", package, "-e", "normal", "--prefix", "none"])
        .args(["--features", features, "--format", "{p}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn auth_server_has_no_database_hashing_or_key_generation() {
    for features in ["", "dioxus"] {
        let deps = normal_dependencies("auth-server", features);
        assert!(
            deps.iter().any(|d| d == "jsonwebtoken"),
            "the graph was read: {deps:?}"
        );
        for banned in ["sqlx", "sqlx-core", "argon2", "p256", "auth-idp"] {
            assert!(
                !deps.iter().any(|d| d == banned),
                "auth-server (features `{features}`) depends on {banned}"
            );
        }
    }
}

#[test]
fn auth_types_stays_free_of_server_crates() {
    let deps = normal_dependencies("auth-types", "");
    assert!(
        deps.iter().any(|d| d == "serde"),
        "the graph was read: {deps:?}"
    );
    for banned in ["tokio", "axum", "auth-server", "jsonwebtoken", "sqlx"] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "auth-types depends on {banned}"
        );
    }
}
