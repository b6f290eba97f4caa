//! The bundle's server as a process the test controls: started on a given port with a given data
//! folder (so a restart finds the same database and the same issuer URL), and killed with
//! `SIGKILL` — no graceful shutdown, no flush, as in a crash or an OOM kill — or stopped with
//! `SIGTERM`, as systemd or Kubernetes stop it, its output captured.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
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
        let (child, _) = spawn_server(data_dir, port, &Self::DEFAULT_VARS);
        Self::started(child, port).await
    }

    /// The variables [`start`](Self::start) sets.
    const DEFAULT_VARS: [(&str, &str); 2] = [
        // Lets a test pose as many clients (see `http::CLIENT_ADDRESS_HEADER`); requests
        // without the header are limited by their real peer address as usual.
        ("AUTH_TRUSTED_IP_HEADER", crate::http::CLIENT_ADDRESS_HEADER),
        ("RUST_LOG", "warn"),
    ];

    /// [`start`](Self::start) with `vars` on top of its variables (`{port}` in a value becomes the
    /// port), the server's standard output and error captured line by line, and `data_dir` as its
    /// working directory (where it looks for a `.env`).
    pub async fn start_captured(
        data_dir: &Path,
        port: u16,
        vars: &[(&str, &str)],
    ) -> (Self, Captured) {
        let mut all = Self::DEFAULT_VARS.to_vec();
        all.extend_from_slice(vars);
        let (mut child, _) = spawn(data_dir, port, &all, Some(data_dir));
        let captured = Captured::from_child(&mut child);
        (Self::started(child, port).await, captured)
    }

    async fn started(child: Child, port: u16) -> Self {
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

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// `kill -TERM`: asks the server to shut down gracefully (returns at once).
    pub fn terminate(&self) {
        let pid = self.pid().expect("the server is running");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run `kill`");
        assert!(status.success(), "`kill -TERM {pid}` failed: {status}");
    }

    /// Waits up to `within` for the process to exit by itself; its exit status, or `None` if it
    /// is still running then.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("poll the server process") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
    spawn(data_dir, port, vars, None)
}

/// Runs the server with `vars` (see [`spawn_server`]) in `data_dir` (its working directory, where
/// it looks for a `.env`) and expects it to exit by itself within `within` — a setting that must
/// stop the start; its exit status and standard error.
pub fn run_until_exit(
    data_dir: &Path,
    port: u16,
    vars: &[(&str, &str)],
    within: Duration,
) -> (ExitStatus, String) {
    let (mut child, _) = spawn(data_dir, port, vars, Some(data_dir));
    let captured = Captured::from_child(&mut child);
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the server process") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server still runs after {within:?}; its output: {:?}",
                captured.stderr.lines()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The reader threads see the end of the pipes right after the exit.
    std::thread::sleep(Duration::from_millis(100));
    (status, captured.stderr.lines().join("\n"))
}

/// What a server printed, line by line, collected while it runs.
#[derive(Debug, Clone, Default)]
pub struct Output(Arc<Mutex<Vec<String>>>);

impl Output {
    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn collect(&self, pipe: impl Read + Send + 'static) {
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
    }
}

/// A server's standard output (its logs) and standard error (start-up errors).
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// Standard output.
    pub stdout: Output,
    /// Standard error.
    pub stderr: Output,
}

impl Captured {
    fn from_child(child: &mut Child) -> Self {
        let captured = Self::default();
        if let Some(pipe) = child.stdout.take() {
            captured.stdout.collect(pipe);
        }
        if let Some(pipe) = child.stderr.take() {
            captured.stderr.collect(pipe);
        }
        captured
    }
}

/// [`spawn_server`]; with `captured_in`, the output is piped and the working directory is that
/// folder instead of the bundle's (the server finds its `public/` next to its binary).
fn spawn(
    data_dir: &Path,
    port: u16,
    vars: &[(&str, &str)],
    captured_in: Option<&Path>,
) -> (Child, PathBuf) {
    let capture = captured_in.is_some();
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
        .current_dir(captured_in.unwrap_or(&bundle))
        .env("IP", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url(data_dir))
        .env("AUTH_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .envs(
            vars.iter()
                .map(|(k, v)| (*k, v.replace("{port}", &port.to_string()))),
        )
        .stdout(if capture {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if capture {
            Stdio::piped()
        } else {
            Stdio::inherit()
        })
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
