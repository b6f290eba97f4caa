//! Small helpers shared by the test servers started as child processes (`smtp.rs`, `oidc.rs`),
//! which auth-idp's tests include with `#[path]`: so only std here.

use std::net::TcpListener;

/// A free loopback port (bound, then released for the child process to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A value unique enough to name a temporary file or folder (nanoseconds since the epoch).
pub fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
