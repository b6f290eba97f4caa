//! The bundle's server as a process the test controls: started on a given port with a given data
//! folder (so a restart finds the same database and the same issuer URL), and killed with
//! `SIGKILL` — no graceful shutdown, no flush, as in a crash or an OOM kill.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process. Killed (SIGKILL) on drop if still running.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    /// e.g. `http://127.0.0.1:41234`
    pub base_url: String,
    /// The port it listens on (reuse it for a restart: the issuer URL must not change).
    pub port: u16,
}

impl ServerProcess {
    /// The release bundle's folder, from `APP_BUNDLE_DIR`.
    pub fn bundle_dir() -> PathBuf {
        PathBuf::from(std::env::var_os("APP_BUNDLE_DIR").expect(
            "APP_BUNDLE_DIR is not set: these tests run the release bundle's server; run them \
             with `cargo xtask test` or APP_BUNDLE_DIR=$(cargo xtask bundle)",
        ))
    }

    /// Starts the bundle's server on `port` with its SQLite database in `data_dir`, and waits
    /// until `/api/health` answers.
    pub async fn start(data_dir: &Path, port: u16) -> Self {
        let (child, _) = spawn_server(
            data_dir,
            port,
            &[
                // Lets a test pose as many clients (see `http::CLIENT_ADDRESS_HEADER`); requests
                // without the header are limited by their real peer address as usual.
                ("AUTH_TRUSTED_IP_HEADER", crate::http::CLIENT_ADDRESS_HEADER),
                ("RUST_LOG", "warn"),
            ],
        );
        let server = Self {
            child: Some(child),
            base_url: format!("http://127.0.0.1:{port}"),
            port,
        };
        wait_until_ok(&server.url("/api/health")).await;
        server
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The process id (while running).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`: `Child::kill` sends SIGKILL on Unix. Waits until the process is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let status = child.wait().expect("reap the killed server");
            assert!(!status.success(), "the server exited by itself: {status}");
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The bundle's server binary, started as deployed on `127.0.0.1:port` with its SQLite database
/// in `data_dir` and `vars` on top (`{port}` in a value becomes the port); also returns the
/// binary's path. The one way the tests start the server.
pub(crate) fn spawn_server(data_dir: &Path, port: u16, vars: &[(&str, &str)]) -> (Child, PathBuf) {
    let bundle = ServerProcess::bundle_dir();
    let binary = bundle.join("server");
    assert!(binary.is_file(), "no server binary at {}", binary.display());
    let mut command = Command::new(&binary);
    // `cargo test` sets CARGO_MANIFEST_DIR & co.; a Dioxus server that sees them believes it
    // runs unbundled and links assets by their source paths. Run it as deployed.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CARGO") {
            command.env_remove(key);
        }
    }
    let child = command
        .current_dir(&bundle)
        .env("IP", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url(data_dir))
        .env("AUTH_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .envs(
            vars.iter()
                .map(|(k, v)| (*k, v.replace("{port}", &port.to_string()))),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
    (child, binary)
}

/// The `DATABASE_URL` of a server whose data lives in `data_dir`.
pub(crate) fn database_url(data_dir: &Path) -> String {
    format!("sqlite://{}/app.db?mode=rwc", data_dir.display())
}

/// Waits until `url` answers 2xx (30 s at most).
pub(crate) async fn wait_until_ok(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(url).await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not answer {url} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A data folder that outlives server restarts; removed on drop.
#[derive(Debug)]
pub struct DataDir(pub PathBuf);

impl DataDir {
    /// A new empty folder under the system temp dir.
    pub fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the data dir");
        Self(dir)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
