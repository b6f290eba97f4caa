//! Browser-test helpers: start the built app server and a headless Chromium on free loopback
//! ports, and stop both when the test ends (pass or fail).
//!
//! The tests need the release bundle built by `cargo xtask bundle`; `cargo xtask test` builds it
//! and passes its folder in `APP_BUNDLE_DIR`.

pub mod cluster;
pub mod github;
pub mod http;
pub mod oidc;
pub mod process;
pub mod smtp;
pub mod ui;

use fantoccini::{Client, ClientBuilder, wd::WebDriverCompatibleCommand};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The app server binary, running on a free loopback port. Killed on drop.
#[derive(Debug)]
pub struct AppServer {
    child: Child,
    /// e.g. `http://127.0.0.1:41234`
    pub base_url: String,
    binary: PathBuf,
    database_url: String,
    _data_dir: process::DataDir,
}

impl AppServer {
    /// Starts the bundle's server with a fresh data folder and waits until it answers.
    pub async fn start() -> Self {
        Self::start_with_env(&[]).await
    }

    /// [`start`](Self::start) with extra environment variables (e.g. `AUTH_PROVIDER=jwks`).
    /// `{port}` in a value is replaced by the server's port.
    pub async fn start_with_env(vars: &[(&str, &str)]) -> Self {
        let port = process::free_port();
        let data_dir = process::DataDir::new("app-data");
        let database_url = process::database_url(&data_dir.0);
        let (child, binary) = process::spawn_server(&data_dir.0, port, vars);
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            binary,
            database_url,
            _data_dir: data_dir,
        };
        process::wait_until_ok(&server.base_url).await;
        server
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Runs one of the server binary's admin commands (`grant-role <email> admin`, …) against
    /// this server's database, as an operator would; panics when it fails.
    pub fn admin(&self, args: &[&str]) {
        let output = Command::new(&self.binary)
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .output()
            .unwrap_or_else(|e| panic!("could not run {} {args:?}: {e}", self.binary.display()));
        assert!(
            output.status.success(),
            "`server {args:?}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The server's data folder (its SQLite database is `app.db` in it).
    pub fn data_dir(&self) -> &Path {
        &self._data_dir.0
    }

    /// Whether the server process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless Chromium driven through chromedriver on a free loopback port. Both stop on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: process::DataDir,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium session that records console messages.
    pub async fn start() -> Self {
        let port = process::free_port();
        let driver =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "could not start chromedriver (set CHROMEDRIVER, or run `cargo xtask test`)",
                );
        let profile = process::DataDir::new("chromium-profile");
        let mut browser = Self {
            driver,
            client: None,
            _profile: profile,
        };
        let driver_url = format!("http://127.0.0.1:{port}");
        wait_for_tcp(port).await;
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": browser_binary(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", browser._profile.0.display()),
                ]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .expect("could not open a Chromium session through chromedriver");
        browser.client = Some(client);
        browser
    }

    /// The WebDriver client.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("browser session is open")
    }

    /// Every console message Chromium logged since the last call (level and text).
    pub async fn console(&self) -> Vec<(String, String)> {
        let logs = self
            .client()
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the browser log");
        logs.as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                (
                    entry["level"].as_str().unwrap_or_default().to_owned(),
                    entry["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Fails the test if the console logged a hydration error, a panic or any other error since
    /// the last read.
    pub async fn assert_clean_console(&self) {
        let console = self.console().await;
        let bad = problems(&console);
        assert!(bad.is_empty(), "console shows problems: {bad:#?}");
    }

    /// Waits until `css` matches an element whose text contains `needle`; returns that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(el) = self.client().find(fantoccini::Locator::Css(css)).await {
                last = el.text().await.unwrap_or_default();
                if last.contains(needle) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for `{css}` to contain {needle:?}; last text: {last:?}");
    }
}

/// The browser chromedriver starts: `CHROME`, else `CHROMIUM` (older name), else Debian's
/// `/usr/bin/chromium`.
fn browser_binary() -> String {
    std::env::var("CHROME")
        .or_else(|_| std::env::var("CHROMIUM"))
        .unwrap_or_else(|_| "/usr/bin/chromium".into())
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session ends Chromium; chromedriver is killed either way.
        if let Some(client) = self.client.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            let _ = tokio::task::block_in_place(|| handle.block_on(client.close()));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's log endpoint (`POST /session/{id}/se/log`), which W3C WebDriver lacks.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (::http::Method, Option<String>) {
        (
            ::http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_owned()),
        )
    }
}

/// Console messages that mean the page is broken: errors, panics, hydration mismatches.
pub fn problems(console: &[(String, String)]) -> Vec<String> {
    console
        .iter()
        .filter(|(level, message)| {
            let m = message.to_lowercase();
            level == "SEVERE"
                || m.contains("panicked")
                || m.contains("hydrat") && (m.contains("error") || m.contains("mismatch"))
        })
        // The browser asks for /favicon.ico on its own; a 404 for it is not the app's fault.
        .filter(|(_, message)| !message.contains("favicon.ico"))
        .map(|(level, message)| format!("{level}: {message}"))
        .collect()
}

async fn wait_for_tcp(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "nothing listens on port {port} after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
