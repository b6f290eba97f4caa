//! A real SMTP test server for the mail tests: maildev (npm, installed by
//! `cargo xtask install-tools`) on two free loopback ports, SMTP and its web/REST API, killed when
//! the [`Smtp`] value is dropped. Tests send to [`Smtp::url`] and read what arrived with
//! [`Smtp::wait_for_mail`].
//!
//! Shared by the browser tests (`e2e::smtp`) and auth-idp's tests (`#[path]` include): it uses
//! only std, tokio and serde_json.
#![allow(dead_code)] // each including test binary uses a part

// Also included on its own (`#[path]`) by auth-idp's tests, so it brings its own copy.
#[allow(clippy::duplicate_mod)]
#[path = "ports.rs"]
mod ports;
use ports::{free_port, unique};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mail maildev received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The first `To` address (the envelope's when the header has none).
    pub to: String,
    /// The `From` header as maildev shows it (`Name <address>` or the address).
    pub from: String,
    pub subject: String,
    /// The `text/plain` part ("" when there is none).
    pub text: String,
    /// The `text/html` part ("" when there is none).
    pub html: String,
}

/// maildev, running; killed on drop.
#[derive(Debug)]
pub struct Smtp {
    child: Child,
    smtp_port: u16,
    web_port: u16,
    dir: PathBuf,
}

impl Smtp {
    /// Starts maildev on two free loopback ports and waits until both answer. Panics when
    /// maildev is not installed (never skips: the mail tests need a real server).
    pub async fn start() -> Self {
        Self::start_on(None).await
    }

    /// [`start`](Self::start) with SMTP on `smtp_port` (e.g. a port a mailer already failed to
    /// reach).
    pub async fn start_on_port(smtp_port: u16) -> Self {
        Self::start_on(Some(smtp_port)).await
    }

    async fn start_on(smtp_port: Option<u16>) -> Self {
        let binary = maildev_binary();
        let mut last_log = String::new();
        // A free port can be taken between our probe and maildev's bind: try new ports then.
        for _ in 0..3 {
            let dir = std::env::temp_dir().join(format!(
                "maildev-test-{}-{}",
                std::process::id(),
                unique()
            ));
            std::fs::create_dir_all(&dir).expect("creating maildev's mail folder");
            let (smtp_port, web_port) = (smtp_port.unwrap_or_else(free_port), free_port());
            let log = std::fs::File::create(dir.join("maildev.log")).expect("maildev log file");
            let child = Command::new(&binary)
                .args(["--smtp", &smtp_port.to_string()])
                .args(["--web", &web_port.to_string()])
                .args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1"])
                .arg("--mail-directory")
                .arg(dir.join("mails"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("maildev log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
            let mut smtp = Self {
                child,
                smtp_port,
                web_port,
                dir,
            };
            if smtp.wait_until_up(Duration::from_secs(30)).await {
                return smtp;
            }
            last_log = std::fs::read_to_string(smtp.dir.join("maildev.log")).unwrap_or_default();
        }
        panic!("maildev did not start (3 tries); its last output:\n{last_log}");
    }

    /// Whether maildev answers on both ports before `timeout` (false: it exited or hung).
    async fn wait_until_up(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if TcpStream::connect(("127.0.0.1", self.smtp_port)).is_ok()
                && http_get(self.web_port, "/healthz").is_ok_and(|(status, _)| status == 200)
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// `smtp://127.0.0.1:PORT`: the value of `AUTH_SMTP_URL` (plain SMTP, loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    /// The SMTP port.
    pub fn port(&self) -> u16 {
        self.smtp_port
    }

    /// maildev's web page and REST API (`/email`), e.g. to look at a mail by hand.
    pub fn web_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port)
    }

    /// Every mail received for `to` (case-insensitive), oldest first.
    pub fn mails_for(&self, to: &str) -> Vec<Mail> {
        let (status, body) = http_get(self.web_port, "/email")
            .unwrap_or_else(|e| panic!("maildev's REST API did not answer: {e}"));
        assert_eq!(status, 200, "maildev GET /email: {body}");
        let all: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("maildev GET /email is not JSON ({e}): {body}"));
        let mut found: Vec<(String, Mail)> = all
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| recipients(m).iter().any(|r| r.eq_ignore_ascii_case(to)))
            .map(|m| {
                let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
                let mail = Mail {
                    to: recipients(m).into_iter().next().unwrap_or_default(),
                    from: s(&m["headers"]["from"]),
                    subject: s(&m["subject"]),
                    text: s(&m["text"]),
                    html: s(&m["html"]),
                };
                (s(&m["time"]), mail)
            })
            .collect();
        // maildev lists in arrival order; its ISO-8601 times make that explicit.
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.into_iter().map(|(_, mail)| mail).collect()
    }

    /// How many mails were received for `to`.
    pub fn count_for(&self, to: &str) -> usize {
        self.mails_for(to).len()
    }

    /// The newest mail for `to`, once at least one has arrived; panics after `timeout`.
    pub async fn wait_for_mail(&self, to: &str, timeout: Duration) -> Mail {
        let mut mails = self.wait_for_mails(to, 1, timeout).await;
        mails.pop().expect("at least one mail")
    }

    /// Every mail for `to` (oldest first), once at least `count` have arrived; panics after
    /// `timeout`.
    pub async fn wait_for_mails(&self, to: &str, count: usize, timeout: Duration) -> Vec<Mail> {
        let deadline = Instant::now() + timeout;
        loop {
            let mails = self.mails_for(to);
            if mails.len() >= count {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "{} mail(s) for {to} after {timeout:?}, expected {count}",
                mails.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The addresses a maildev mail went to: its envelope's and its `To` header's.
fn recipients(mail: &serde_json::Value) -> Vec<String> {
    ["to", "envelope"]
        .iter()
        .flat_map(|key| {
            let list = if *key == "to" {
                &mail["to"]
            } else {
                &mail["envelope"]["to"]
            };
            list.as_array().cloned().unwrap_or_default()
        })
        .filter_map(|r| r["address"].as_str().map(str::to_owned))
        .collect()
}

/// maildev: `MAILDEV` when set, else `maildev` on PATH (`cargo xtask test` puts it there), else
/// the copy `cargo xtask install-tools` keeps under `~/.cache/dioxus-auth-starter/maildev-*`.
fn maildev_binary() -> PathBuf {
    const HOW: &str = "run `cargo xtask install-tools` (installs maildev, the SMTP test server), \
                       or set MAILDEV to its executable";
    if let Some(path) = std::env::var_os("MAILDEV").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "MAILDEV={} is not a file: {HOW}",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("maildev"))
        .find(|p| p.is_file());
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("dioxus-auth-starter"));
    let cached = || {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(cache.as_ref()?)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("maildev-"))
            })
            .map(|p| p.join("node_modules/.bin/maildev"))
            .filter(|p| p.is_file())
            .collect();
        dirs.sort();
        dirs.pop()
    };
    on_path
        .or_else(cached)
        .unwrap_or_else(|| panic!("maildev is not installed: {HOW}"))
}

/// A plain HTTP/1.0 GET on loopback (maildev answers with a length or closes): status and body.
fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
    Ok((status, body.to_owned()))
}
