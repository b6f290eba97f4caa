//! PostgreSQL for the tests. The identity provider's tests run every scenario on SQLite and on
//! PostgreSQL; they connect to `TEST_DATABASE_URL` (default [`DEFAULT_URL`]) as a user that may
//! create databases.
//!
//! [`ensure_test_database`] uses that server when it answers a `select 1`. When nothing answers,
//! it starts a throwaway cluster of its own: Debian's `postgresql` package (installed once per
//! machine with apt-get when no PostgreSQL 13+ is found), `initdb` into the per-user cache with
//! trust authentication, a free loopback port, a `test` database. The returned guard stops it
//! (`pg_ctl stop -m fast`) and deletes it when the test command ends, failed steps included.
//! The server is a child of xtask in its process group, so Ctrl-C stops it too; a cluster left
//! behind by a killed run is removed by the next one.

use crate::tools::{self, apt_install, command, output_of};
use anyhow::{Context, Result, bail};
use std::{
    fs,
    io::Read,
    net::{TcpListener, TcpStream, ToSocketAddrs},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Where the tests look for PostgreSQL when `TEST_DATABASE_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The tests drop their databases `WITH (FORCE)`, new in PostgreSQL 13.
const MIN_MAJOR: u32 = 13;
/// How long a server may take to answer before it counts as absent.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The system user Debian's package creates; PostgreSQL refuses to run as root.
const SERVER_USER: &str = "postgres";

/// The PostgreSQL the tests use; a cluster started here stops when this is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    _cluster: Option<Cluster>,
}

/// `cargo xtask test`'s PostgreSQL: `TEST_DATABASE_URL` (or [`DEFAULT_URL`]) when a server
/// answers there, else a throwaway cluster. Every child process started through
/// [`tools::command`] from now on gets `TEST_DATABASE_URL` pointing at it. Keep the result alive
/// until the tests are done.
pub fn ensure_test_database() -> Result<TestDatabase> {
    let wanted = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let db = for_url(&wanted)?;
    tools::set_child_env("TEST_DATABASE_URL", &db.url);
    Ok(db)
}

/// `url` when a server answers there, else a throwaway cluster's.
pub fn for_url(url: &str) -> Result<TestDatabase> {
    let why = match probe(url) {
        Ok(()) => {
            eprintln!("xtask: the PostgreSQL tests use {}", redacted(url));
            return Ok(TestDatabase {
                url: url.to_owned(),
                _cluster: None,
            });
        }
        Err(why) => why,
    };
    eprintln!(
        "xtask: no PostgreSQL answers at {} ({why}); starting a throwaway one for the tests",
        redacted(url)
    );
    let bin = server_binaries(url)?;
    let cluster = Cluster::start(&bin)?;
    Ok(TestDatabase {
        url: cluster.url.clone(),
        _cluster: Some(cluster),
    })
}

/// `Ok` when `url` answers `select 1` (with psql when there is one, else a TCP connect), within
/// [`PROBE_TIMEOUT`]; else why not.
fn probe(url: &str) -> Result<(), String> {
    let (host, port) = host_port(url)?;
    let addrs: Vec<_> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if !addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, PROBE_TIMEOUT).is_ok())
    {
        return Err(format!("nothing listens on {host}:{port}"));
    }
    let Some(psql) = psql() else {
        // Something listens: without psql that is as far as we can check.
        return Ok(());
    };
    let out = Command::new(psql)
        .args(["-X", "-q", "-A", "-t", "-w", "-c", "select 1", url])
        .env("PGCONNECT_TIMEOUT", PROBE_TIMEOUT.as_secs().to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run psql: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "`select 1` failed: {}",
        err.lines().next().unwrap_or("no message").trim()
    ))
}

/// psql on PATH, or in a Debian server directory.
fn psql() -> Option<PathBuf> {
    output_of("sh", &["-c", "command -v psql"])
        .map(|p| PathBuf::from(p.trim()))
        .or_else(|| {
            candidate_dirs()
                .into_iter()
                .map(|d| d.join("psql"))
                .find(|p| p.is_file())
        })
}

/// Host and port of a `postgres://` / `postgresql://` URL (default port 5432).
fn host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| "not a postgres:// URL".to_owned())?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| "unclosed [ in the host".to_owned())?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port `{p}`"))?,
        None => 5432,
    };
    let host = if host.is_empty() { "localhost" } else { host };
    Ok((host.to_owned(), port))
}

/// `url` without its password, for messages.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{}", &rest[end..])
        }
        _ => url.to_owned(),
    }
}

/// The directory of `initdb`, `postgres` and `pg_ctl` (PostgreSQL 13 or newer): Debian's newest
/// `/usr/lib/postgresql/<version>/bin`, else the one `initdb` on PATH lives in; installs
/// Debian's `postgresql` package when there is neither.
fn server_binaries(url: &str) -> Result<PathBuf> {
    let (found, too_old) = usable_dir();
    if let Some(dir) = found {
        return Ok(dir);
    }
    let why = if too_old.is_empty() {
        format!(
            "nothing answers at {} and xtask starts its own PostgreSQL for the tests",
            redacted(url)
        )
    } else {
        format!("the tests need PostgreSQL {MIN_MAJOR} or newer; found {too_old}")
    };
    apt_install(
        &["postgresql"],
        &why,
        Some(
            "set TEST_DATABASE_URL to a PostgreSQL 13+ database whose user may create databases \
             (e.g. postgres://postgres@127.0.0.1:5432/test)",
        ),
    )?;
    match usable_dir() {
        (Some(dir), _) => Ok(dir),
        (None, too_old) => bail!(
            "installed Debian's postgresql package, but found no PostgreSQL {MIN_MAJOR}+ server \
             binaries (initdb, postgres, pg_ctl) in /usr/lib/postgresql/*/bin (found: {too_old})"
        ),
    }
}

/// The first [`candidate_dirs`] entry of version [`MIN_MAJOR`] or newer, and the older ones seen.
fn usable_dir() -> (Option<PathBuf>, String) {
    let mut too_old = Vec::new();
    for dir in candidate_dirs() {
        match major_version(&dir) {
            Some(v) if v >= MIN_MAJOR => return (Some(dir), String::new()),
            Some(v) => too_old.push(format!("{v} in {}", dir.display())),
            None => {}
        }
    }
    (None, too_old.join(", "))
}

/// Directories holding `initdb`, `postgres` and `pg_ctl`: Debian's, newest version first, then
/// the one of `initdb` on PATH.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
    let mut dirs: Vec<PathBuf> = versions.into_iter().map(|(_, d)| d).collect();
    if let Some(initdb) = output_of("sh", &["-c", "command -v initdb"])
        && let Ok(real) = fs::canonicalize(initdb.trim())
        && let Some(dir) = real.parent()
    {
        dirs.push(dir.to_path_buf());
    }
    dirs.dedup();
    dirs.retain(|d| {
        ["initdb", "postgres", "pg_ctl"]
            .iter()
            .all(|b| d.join(b).is_file())
    });
    dirs
}

/// The major version of the server in `bin` (`postgres (PostgreSQL) 15.20 (Debian …)` → 15).
fn major_version(bin: &Path) -> Option<u32> {
    let out = output_of(&bin.join("postgres").to_string_lossy(), &["--version"])?;
    out.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A throwaway cluster: initdb'd into `dir`, its server a child of this process. Stopped
/// (`pg_ctl stop -m fast`) and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    pub url: String,
    dir: PathBuf,
    bin: PathBuf,
    /// `Some` when running as root: the server runs as this unprivileged user.
    user: Option<User>,
    server: Child,
    /// Set once fully started: only then does drop delete `dir` and say so (a failed start
    /// keeps the initdb'd data for the next attempt).
    started: bool,
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// initdb, start on a free loopback port, create the `test` database.
    pub fn start(bin: &Path) -> Result<Self> {
        let user = if tools::is_root() {
            Some(server_user()?)
        } else {
            None
        };
        let base = base_dir(user.as_ref())?;
        remove_stale(&base, bin, user.as_ref());
        // `run-<pid>-<n>`: the pid tells a later run whether this one still lives.
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = base.join(format!("run-{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        let data = dir.join("data");
        let sock = dir.join("sock");
        fs::create_dir_all(&sock).with_context(|| format!("creating {}", sock.display()))?;
        if let Some(u) = &user {
            for d in [&dir, &sock] {
                std::os::unix::fs::chown(d, Some(u.uid), Some(u.gid))
                    .with_context(|| format!("giving {} to {}", d.display(), u.name))?;
            }
        }

        let began = Instant::now();
        let out = as_user(user.as_ref(), &bin.join("initdb"), &dir)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .context("running initdb")?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&dir);
            bail!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let initdb_time = began.elapsed();

        let began = Instant::now();
        // A port found free may be taken before the server binds it: try another.
        let mut last_err = None;
        for _ in 0..3 {
            match Self::spawn(bin, &dir, &sock, user.clone()) {
                Ok(cluster) => {
                    eprintln!(
                        "xtask: PostgreSQL {} for the tests at {} (initdb {:.1} s, start {:.1} s; \
                         data in {}, stopped and deleted at the end)",
                        major_version(bin).unwrap_or_default(),
                        cluster.url,
                        initdb_time.as_secs_f64(),
                        began.elapsed().as_secs_f64(),
                        dir.display()
                    );
                    return Ok(cluster);
                }
                Err(e) => {
                    let port_taken = format!("{e:#}").contains("Address already in use");
                    last_err = Some(e);
                    if !port_taken {
                        break;
                    }
                }
            }
        }
        let _ = fs::remove_dir_all(&dir);
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("PostgreSQL did not start")))
    }

    fn spawn(bin: &Path, dir: &Path, sock: &Path, user: Option<User>) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log_path = dir.join("postgres.log");
        let log = fs::File::create(&log_path)?;
        // A unix socket path is limited to ~107 bytes; a deep cache dir gets TCP only.
        let sockets = if sock.as_os_str().len() + 20 < 100 {
            sock.to_string_lossy().into_owned()
        } else {
            String::new()
        };
        let server = as_user(user.as_ref(), &bin.join("postgres"), dir)
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", &format!("unix_socket_directories={sockets}")])
            // Throwaway data: no durability needed, and it is much faster without.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        let mut cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/test"),
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            user,
            server,
            started: false,
        };
        // From here on, dropping `cluster` stops the server.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log_text = || {
                let mut text = String::new();
                let _ = fs::File::open(&log_path).and_then(|mut f| f.read_to_string(&mut text));
                text
            };
            if let Some(status) = cluster.server.try_wait()? {
                bail!("postgres exited ({status}) while starting:\n{}", log_text());
            }
            let ready = command(&client(bin, "pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "PostgreSQL did not accept connections within 60 s; its log:\n{}",
                    log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = command(&client(bin, "createdb"))
            .args(["-w", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", "postgres", "test"])
            .stdin(Stdio::null())
            .output()
            .context("running createdb")?;
        if !out.status.success() {
            bail!(
                "createdb test failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cluster.started = true;
        Ok(cluster)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let stopped = as_user(self.user.as_ref(), &self.bin.join("pg_ctl"), &self.dir)
            .arg("stop")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "-t", "30"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
        if self.started {
            let _ = fs::remove_dir_all(&self.dir);
            eprintln!("xtask: stopped the tests' PostgreSQL ({})", self.url);
        }
    }
}

/// `program` run as `user` (when root) with `dir` as working directory: PostgreSQL refuses to
/// run as root. `setpriv` execs, so the child is the program itself.
fn as_user(user: Option<&User>, program: &Path, dir: &Path) -> Command {
    let mut cmd = match user {
        Some(u) => {
            let mut c = command("setpriv");
            c.arg(format!("--reuid={}", u.uid))
                .arg(format!("--regid={}", u.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            c
        }
        None => command(&program.to_string_lossy()),
    };
    cmd.current_dir(dir);
    cmd
}

/// A client program from the server's directory, else from PATH.
fn client(bin: &Path, name: &str) -> String {
    let path = bin.join(name);
    if path.is_file() {
        path.to_string_lossy().into_owned()
    } else {
        name.to_owned()
    }
}

fn server_user() -> Result<User> {
    let id = |flag: &str| -> Result<u32> {
        output_of("id", &[flag, SERVER_USER])
            .and_then(|s| s.trim().parse().ok())
            .with_context(|| {
                format!(
                    "running as root, and PostgreSQL refuses to run as root: xtask runs it as the \
                     `{SERVER_USER}` system user (Debian's postgresql package creates it), and \
                     there is none. Create it, run as another user, or set TEST_DATABASE_URL to \
                     an existing PostgreSQL"
                )
            })
    };
    if output_of("sh", &["-c", "command -v setpriv"]).is_none() {
        bail!(
            "running as root: xtask starts PostgreSQL as `{SERVER_USER}` with setpriv \
             (util-linux), which is missing; install util-linux or set TEST_DATABASE_URL"
        );
    }
    Ok(User {
        name: SERVER_USER.to_owned(),
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

/// Where the clusters live: `~/.cache/dioxus-auth-starter/postgres`. As root, when the server
/// user cannot reach it (`/root` is usually private), a root-owned folder in the temp dir.
fn base_dir(user: Option<&User>) -> Result<PathBuf> {
    let cache = tools::tool_cache_dir().join("postgres");
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let Some(u) = user else {
        return Ok(cache);
    };
    let reachable = as_user(Some(u), Path::new("test"), Path::new("/"))
        .arg("-x")
        .arg(&cache)
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        return Ok(cache);
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let tmp = std::env::temp_dir().join("dioxus-auth-starter-postgres");
    if !tmp.exists() {
        fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    }
    let meta = fs::symlink_metadata(&tmp)?;
    if !meta.is_dir() || meta.uid() != 0 {
        bail!(
            "{} is not a directory owned by root; remove it and run again",
            tmp.display()
        );
    }
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
    Ok(tmp)
}

/// Stops and deletes the clusters of xtask runs that no longer exist (killed before cleaning up).
fn remove_stale(base: &Path, bin: &Path, user: Option<&User>) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("run-"))
            .and_then(|p| p.split('-').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || process_alive(pid) {
            continue;
        }
        let dir = entry.path();
        if dir.join("data/postmaster.pid").exists() {
            let _ = as_user(user, &bin.join("pg_ctl"), &dir)
                .arg("stop")
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "-w", "-t", "10"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

fn process_alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_urls() {
        let hp = |u| host_port(u).unwrap();
        assert_eq!(hp(DEFAULT_URL), ("127.0.0.1".into(), 5432));
        assert_eq!(
            hp("postgres://u:p@db.internal/x"),
            ("db.internal".into(), 5432)
        );
        assert_eq!(
            hp("postgresql://u@[::1]:6543/x?sslmode=disable"),
            ("::1".into(), 6543)
        );
        assert_eq!(hp("postgres://localhost:1"), ("localhost".into(), 1));
        assert_eq!(hp("postgres:///test"), ("localhost".into(), 5432));
        assert!(host_port("mysql://x").is_err());
        assert!(host_port("postgres://h:port/x").is_err());
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redacted("postgres://app:s3cret@db/app?x=1"),
            "postgres://app:***@db/app?x=1"
        );
        assert_eq!(redacted(DEFAULT_URL), DEFAULT_URL);
    }

    #[test]
    fn a_closed_port_is_detected_fast() {
        let began = Instant::now();
        assert!(probe("postgres://postgres@127.0.0.1:1/test").is_err());
        assert!(began.elapsed() < PROBE_TIMEOUT);
    }

    /// A throwaway cluster answers at its URL (the `test` database exists), then stops and
    /// leaves nothing behind. `cargo test -p xtask -- --ignored starts_and_goes`.
    #[test]
    #[ignore = "starts PostgreSQL (installs it if missing)"]
    fn a_throwaway_cluster_starts_and_goes() {
        let db = for_url("postgres://postgres@127.0.0.1:1/test").unwrap();
        assert!(probe(&db.url).is_ok());
        let url = db.url.clone();
        let dir = db._cluster.as_ref().unwrap().dir.clone();
        assert!(dir.join("data/postmaster.pid").exists());
        drop(db);
        assert!(probe(&url).is_err(), "still answering after drop");
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    /// The proof that `cargo xtask test` needs no PostgreSQL of its own: with nothing on
    /// 127.0.0.1:1, a throwaway cluster serves the identity provider's PostgreSQL tests and is
    /// gone afterwards. Slow (builds and runs those tests):
    /// `cargo test -p xtask -- --ignored --nocapture`.
    #[test]
    #[ignore = "starts PostgreSQL and runs the auth-idp tests"]
    fn a_throwaway_cluster_serves_the_postgres_tests() {
        let closed = "postgres://postgres@127.0.0.1:1/test";
        let db = for_url(closed).unwrap();
        assert_ne!(db.url, closed);
        assert!(probe(&db.url).is_ok());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let status = command("cargo")
            .current_dir(root)
            .args(["test", "-p", "auth-idp", "postgres"])
            .env("TEST_DATABASE_URL", &db.url)
            .status()
            .unwrap();
        assert!(status.success(), "cargo test -p auth-idp postgres failed");
        let url = db.url.clone();
        let dir = db._cluster.as_ref().unwrap().dir.clone();
        drop(db);
        assert!(probe(&url).is_err(), "still answering after drop");
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}
