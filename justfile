# Optional shortcuts for people who have `just`; every recipe is a `cargo xtask` command,
# which is what the README documents and CI runs.

# Serve the app on http://127.0.0.1:8080 (installs missing tools first).
dev:
    cargo xtask dev

# The whole suite: fmt, clippy, tests, release build, browser tests.
test:
    cargo xtask test

# Release bundle of the app (server binary + public/).
bundle:
    cargo xtask bundle

# Install the pinned tools only.
install-tools:
    cargo xtask install-tools
