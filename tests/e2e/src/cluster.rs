//! Several release instances of the app on one PostgreSQL database behind HAProxy, for the
//! scale-out tests (`tests/cluster.rs`, run by `cargo xtask cluster-test`): a throw-away
//! database ([`Database`]), the instances (each a [`ServerProcess`] on a port of its own, which a
//! restart reuses), and HAProxy in front ([`Haproxy`], configured by [`HAPROXY_CONFIG`], which
//! docs/deploying.md quotes). [`Cluster`] ties them together and stops everything on drop: the
//! proxy and the instances are killed, the database is dropped.
//!
//! Every instance has the proxy's URL as `AUTH_PUBLIC_URL`, so they share one issuer (the `iss`
//! of every token) and one allowed origin. Needs `haproxy` (`HAPROXY`, else on PATH or in
//! `/usr/sbin`), the release bundle (`APP_BUNDLE_DIR`) and a PostgreSQL whose user may create
//! databases (`TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

use crate::process::{Captured, DataDir, ServerProcess, free_port};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// HAProxy's configuration for N instances, as docs/deploying.md shows it. `{bind}` is the
/// address clients connect to, `{stats_bind}` the (private) statistics page's, `{servers}` one
/// `server <name> <address>` line per instance.
///
/// Why each setting:
/// - `/api/ready` is checked every second (every 200 ms while a server changes state); one failed
///   check of two takes it out, two good ones put it back. Live traffic takes it out sooner:
///   `observe layer4` marks a server down at its first refused or failed connection.
/// - `retry-on conn-failure empty-response response-timeout` with `option redispatch 1`: a request
///   that could not be delivered (the instance is shutting down and refuses connections, or
///   closed an idle kept-alive connection just as the request went out) is sent again to another
///   instance. An instance never closes a connection with a request it has read unanswered: a
///   graceful shutdown finishes it first.
/// - `X-Real-IP` is *set* (never appended) to the client's address: the instances trust that one
///   header for the rate limits (`AUTH_TRUSTED_IP_HEADER=x-real-ip`).
pub const HAPROXY_CONFIG: &str = "\
global
    log stdout format raw local0 info
    maxconn 4096

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout check 2s
    retries 3
    retry-on conn-failure empty-response response-timeout
    option redispatch 1

frontend app
    bind {bind}
    http-request set-header X-Real-IP %[src]
    default_backend app

backend app
    balance roundrobin
    option httpchk
    http-check send meth GET uri /api/ready ver HTTP/1.1 hdr Host app
    http-check expect status 200
    default-server check inter 1s fastinter 200ms downinter 200ms rise 2 fall 2 observe layer4 error-limit 1 on-error mark-down
{servers}

frontend stats
    bind {stats_bind}
    stats enable
    stats uri /stats
";

/// [`HAPROXY_CONFIG`] with its placeholders filled in; `servers` are (name, `host:port`) pairs.
pub fn haproxy_config(bind: &str, stats_bind: &str, servers: &[(String, String)]) -> String {
    let servers = servers
        .iter()
        .map(|(name, address)| format!("    server {name} {address}"))
        .collect::<Vec<_>>()
        .join("\n");
    HAPROXY_CONFIG
        .replace("{bind}", bind)
        .replace("{stats_bind}", stats_bind)
        .replace("{servers}", &servers)
}

// ---- the database ---------------------------------------------------------------------------

/// A PostgreSQL database of its own (`cluster_<pid>_<n>`) on `TEST_DATABASE_URL`'s server,
/// dropped (`WITH (FORCE)`) on drop.
#[derive(Debug)]
pub struct Database {
    /// Its URL, for `DATABASE_URL`.
    pub url: String,
    admin_url: String,
    name: String,
}

impl Database {
    /// Creates a fresh, empty database.
    pub async fn create() -> Self {
        use sqlx::Connection as _;
        static CREATED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
        let n = CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("cluster_{}_{n}", std::process::id());
        let mut url = url::Url::parse(&admin_url)
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is not a URL ({e})"));
        url.set_path(&format!("/{name}"));
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot connect to PostgreSQL at TEST_DATABASE_URL ({e}); \
                     `cargo xtask cluster-test` starts one when none answers"
                )
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        Self {
            url: url.into(),
            admin_url,
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection as _;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("cluster: could not drop database {}", self.name);
        }
    }
}

// ---- HAProxy --------------------------------------------------------------------------------

/// HAProxy in the foreground (`haproxy -f <cfg> -db`), its log (one line per request, from
/// `option httplog`) collected; killed on drop.
#[derive(Debug)]
pub struct Haproxy {
    child: Child,
    /// e.g. `http://127.0.0.1:41234`: where clients connect.
    pub url: String,
    stats_url: String,
    /// Its standard output: the request log and server state changes.
    pub log: Lines,
    stderr: Lines,
    _dir: DataDir,
}

/// A child's output, collected line by line (by a thread) while it runs.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn collect(pipe: Option<impl Read + Send + 'static>) -> Self {
        let lines = Self::default();
        if let Some(pipe) = pipe {
            let sink = lines.0.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        lines
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many lines so far.
    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `haproxy` binary: `HAPROXY`, else `haproxy` on PATH, else Debian's `/usr/sbin/haproxy`.
pub fn haproxy_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HAPROXY").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("haproxy"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy"))
}

impl Haproxy {
    /// Starts HAProxy on `port` in front of `servers` ((name, port) on 127.0.0.1) and waits
    /// until it reports every one of them up.
    pub async fn start(port: u16, servers: &[(String, u16)]) -> Self {
        let dir = DataDir::new("haproxy");
        let stats_port = free_port();
        let config = haproxy_config(
            &format!("127.0.0.1:{port}"),
            &format!("127.0.0.1:{stats_port}"),
            &servers
                .iter()
                .map(|(name, port)| (name.clone(), format!("127.0.0.1:{port}")))
                .collect::<Vec<_>>(),
        );
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, config).expect("write haproxy.cfg");
        let binary = haproxy_binary();
        let mut child = Command::new(&binary)
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not start {} ({e}): install Debian's haproxy package, or run \
                     `cargo xtask cluster-test`",
                    binary.display()
                )
            });
        let log = Lines::collect(child.stdout.take());
        let stderr = Lines::collect(child.stderr.take());
        let mut proxy = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            stats_url: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            log,
            stderr,
            _dir: dir,
        };
        for (name, _) in servers {
            proxy
                .wait_for(name, ServerState::is_up, Duration::from_secs(30))
                .await;
        }
        proxy
    }

    /// Every server's state as the statistics page shows it (`UP`, `DOWN`, `UP 1/2`, …).
    pub async fn states(&mut self) -> BTreeMap<String, String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "haproxy exited ({status}): {}",
                self.stderr.lines().join("\n")
            );
        }
        let Ok(response) = reqwest::get(&self.stats_url).await else {
            return BTreeMap::new();
        };
        let csv = response.text().await.unwrap_or_default();
        parse_stats(&csv)
    }

    /// Waits until the state of server `name` satisfies `wanted` (at most `within`); how long it
    /// took. Panics with the states seen when it does not.
    pub async fn wait_for(
        &mut self,
        name: &str,
        wanted: fn(&ServerState) -> bool,
        within: Duration,
    ) -> Duration {
        let began = Instant::now();
        loop {
            let states = self.states().await;
            if states
                .get(name)
                .is_some_and(|s| wanted(&ServerState(s.clone())))
            {
                return began.elapsed();
            }
            assert!(
                began.elapsed() < within,
                "haproxy: server {name} did not reach the wanted state within {within:?}: \
                 {states:?}\n{}",
                self.stderr.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many log lines there are so far: pass it to [`Haproxy::requests_since`] later.
    pub fn log_mark(&self) -> usize {
        self.log.len()
    }

    /// The requests of frontend `app` logged after `mark`, once the last ones had a moment to
    /// reach the log (a line is written when its request ends, and read by a thread).
    pub async fn requests_since(&self, mark: usize) -> Vec<ProxyLogEntry> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.log
            .lines()
            .iter()
            .skip(mark)
            .filter_map(|line| ProxyLogEntry::parse(line))
            .collect()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server's state on HAProxy's statistics page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState(pub String);

impl ServerState {
    /// Taking traffic and not about to stop (`UP`; `UP 1/2` is going down).
    pub fn is_up(&self) -> bool {
        self.0 == "UP"
    }

    /// Out of the rotation (`DOWN`, or `DOWN 1/2` on its way back up, or `MAINT`).
    pub fn is_down(&self) -> bool {
        self.0.starts_with("DOWN") || self.0.starts_with("MAINT")
    }
}

/// `svname → status` of the servers (not the FRONTEND/BACKEND rows) in HAProxy's CSV statistics.
fn parse_stats(csv: &str) -> BTreeMap<String, String> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return BTreeMap::new();
    };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(sv), Some(status)) = (col("svname"), col("status")) else {
        return BTreeMap::new();
    };
    lines
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > sv.max(status))
        .filter(|f| !matches!(f[sv], "FRONTEND" | "BACKEND"))
        .map(|f| (f[sv].to_owned(), f[status].to_owned()))
        .collect()
}

/// One request in HAProxy's `option httplog` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyLogEntry {
    /// The server that answered (`<NOSRV>` when none did).
    pub server: String,
    /// The status sent to the client (`-1` when none was).
    pub status: i32,
    /// The session state at disconnection (`----` for a normal end; `SH--`, `sC--`, … otherwise).
    pub termination: String,
    /// Attempts beyond the first (connection and layer-7 retries).
    pub retries: u32,
    /// Whether a retry went to another server than the first.
    pub redispatched: bool,
}

impl ProxyLogEntry {
    /// Parses one log line of frontend `app`:
    /// `ip:port [date] app app/app1 0/0/0/1/1 200 123 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`.
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(2) != Some(&"app") {
            return None;
        }
        let (_, server) = fields.get(3)?.split_once('/')?;
        let status = fields.get(5)?.parse().ok()?;
        let termination = (*fields.get(9)?).to_owned();
        let retries_field = fields.get(10)?.rsplit('/').next()?;
        let redispatched = retries_field.starts_with('+');
        let retries = retries_field.trim_start_matches('+').parse().ok()?;
        Some(Self {
            server: server.to_owned(),
            status,
            termination,
            retries,
            redispatched,
        })
    }
}

/// What HAProxy logged about a run of requests, for the summaries.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProxyTally {
    /// Requests logged.
    pub requests: usize,
    /// Requests per answering server.
    pub per_server: BTreeMap<String, usize>,
    /// Requests HAProxy sent more than once.
    pub retried: usize,
    /// Attempts beyond the first, summed.
    pub retries: u32,
    /// Retried requests that went to another server.
    pub redispatched: usize,
    /// Requests that did not end normally (termination state other than `----`), by state.
    pub abnormal: BTreeMap<String, usize>,
}

impl ProxyTally {
    /// Counts `entries`.
    pub fn of(entries: &[ProxyLogEntry]) -> Self {
        let mut tally = Self {
            requests: entries.len(),
            ..Self::default()
        };
        for e in entries {
            *tally.per_server.entry(e.server.clone()).or_default() += 1;
            if e.retries > 0 {
                tally.retried += 1;
                tally.retries += e.retries;
            }
            if e.redispatched {
                tally.redispatched += 1;
            }
            if e.termination != "----" {
                *tally.abnormal.entry(e.termination.clone()).or_default() += 1;
            }
        }
        tally
    }
}

impl std::fmt::Display for ProxyTally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_server = self
            .per_server
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "haproxy logged {} requests ({per_server}); {} retried ({} retries, {} redispatched); \
             abnormal ends: {:?}",
            self.requests, self.retried, self.retries, self.redispatched, self.abnormal
        )
    }
}

// ---- the instances --------------------------------------------------------------------------

/// One instance: the release server on a port of its own, restartable on the same port.
#[derive(Debug)]
pub struct Instance {
    /// Its name in HAProxy (`app1`, `app2`, …).
    pub name: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// e.g. `http://127.0.0.1:41234`: for requests that bypass the proxy.
    pub base_url: String,
    server: Option<ServerProcess>,
    /// The current process's output.
    pub output: Captured,
    data_dir: DataDir,
}

impl Instance {
    /// An absolute URL on this instance (bypassing the proxy).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// How long each stage of a restart took.
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// SIGTERM → the process exited (its graceful shutdown).
    pub drain: Duration,
    /// Its exit status.
    pub exit: ExitStatus,
    /// Started again → `/api/health` answers.
    pub start: Duration,
    /// `/api/health` answers → HAProxy reports it up.
    pub back_in_rotation: Duration,
    /// SIGTERM → up in HAProxy again.
    pub total: Duration,
}

/// N instances on one database behind HAProxy. Drop stops them all and drops the database.
#[derive(Debug)]
pub struct Cluster {
    /// The proxy in front (its `url` is every instance's `AUTH_PUBLIC_URL`).
    pub proxy: Haproxy,
    instances: Vec<Instance>,
    vars: Vec<(String, String)>,
    /// The shared database (declared last: dropped after the processes that use it).
    pub db: Database,
}

impl Cluster {
    /// Creates a database, starts `n` instances on it (at once: the first start's migrations and
    /// first signing key are decided among them) with `vars` on top of the cluster's own
    /// (`DATABASE_URL`, `AUTH_PUBLIC_URL`), then HAProxy in front.
    pub async fn start(n: usize, vars: &[(&str, &str)]) -> Self {
        let db = Database::create().await;
        let proxy_port = free_port();
        let public_url = format!("http://127.0.0.1:{proxy_port}");
        let mut all: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), db.url.clone()),
            ("AUTH_PUBLIC_URL".into(), public_url),
        ];
        all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let starts = (1..=n).map(|i| {
            let all = all.clone();
            async move {
                let port = free_port();
                let data_dir = DataDir::new(&format!("cluster-app{i}"));
                let (server, output) = start_server(&data_dir, port, &all).await;
                Instance {
                    name: format!("app{i}"),
                    port,
                    base_url: server.base_url.clone(),
                    server: Some(server),
                    output,
                    data_dir,
                }
            }
        });
        let instances = futures::future::join_all(starts).await;
        let servers: Vec<(String, u16)> =
            instances.iter().map(|i| (i.name.clone(), i.port)).collect();
        let proxy = Haproxy::start(proxy_port, &servers).await;
        Self {
            proxy,
            instances,
            vars: all,
            db,
        }
    }

    /// The instances, in HAProxy's order.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// Instance `i` (0-based).
    pub fn instance(&self, i: usize) -> &Instance {
        &self.instances[i]
    }

    /// The URL clients use (the proxy's), also every instance's `AUTH_PUBLIC_URL` and issuer.
    pub fn public_url(&self) -> &str {
        &self.proxy.url
    }

    /// SIGTERM to instance `i`, then waits (at most `within`) until it has exited; how long its
    /// graceful shutdown took and its exit status. Panics if it does not exit in time.
    pub async fn terminate(&mut self, i: usize, within: Duration) -> (Duration, ExitStatus) {
        let instance = &mut self.instances[i];
        let server = instance.server.as_mut().expect("the instance is running");
        let began = Instant::now();
        server.terminate();
        let status = server.wait_exit(within).await.unwrap_or_else(|| {
            panic!(
                "{} still runs {within:?} after SIGTERM; its log:\n{}",
                instance.name,
                instance.output.stdout.lines().join("\n")
            )
        });
        instance.server = None;
        (began.elapsed(), status)
    }

    /// SIGKILL to instance `i` (waits until it is gone).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut server) = self.instances[i].server.take() {
            server.kill9();
        }
    }

    /// Starts instance `i` again on its port; returns once `/api/health` answers, with how long
    /// that took.
    pub async fn start_again(&mut self, i: usize) -> Duration {
        let began = Instant::now();
        let instance = &mut self.instances[i];
        assert!(instance.server.is_none(), "{} still runs", instance.name);
        let (server, output) = start_server(&instance.data_dir, instance.port, &self.vars).await;
        instance.server = Some(server);
        instance.output = output;
        began.elapsed()
    }

    /// A rolling-restart step for instance `i`: SIGTERM, wait for the exit, start it again on
    /// the same port, wait until HAProxy has it back in the rotation.
    pub async fn restart(&mut self, i: usize) -> Restart {
        let began = Instant::now();
        let (drain, exit) = self.terminate(i, Duration::from_secs(30)).await;
        let start = self.start_again(i).await;
        let name = self.instances[i].name.clone();
        let back_in_rotation = self
            .proxy
            .wait_for(&name, ServerState::is_up, Duration::from_secs(30))
            .await;
        Restart {
            drain,
            exit,
            start,
            back_in_rotation,
            total: began.elapsed(),
        }
    }

    /// Runs one of the server binary's admin commands (`rotate-keys`, …) against the cluster's
    /// database with the instances' settings, as an operator would; its standard error (where the
    /// commands report). Panics when it fails.
    pub fn admin(&self, args: &[&str]) -> String {
        let binary = ServerProcess::bundle_dir().join("server");
        let workdir = DataDir::new("cluster-admin");
        let output = Command::new(&binary)
            .args(args)
            .current_dir(&workdir.0)
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap_or_else(|e| panic!("could not run {} {args:?}: {e}", binary.display()));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "`server {args:?}` failed: {stderr}"
        );
        stderr
    }
}

async fn start_server(
    data_dir: &DataDir,
    port: u16,
    vars: &[(String, String)],
) -> (ServerProcess, Captured) {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start_captured(&data_dir.0, port, &vars).await
}

// ---- measurements ---------------------------------------------------------------------------

/// The `p`-th percentile (0–100, nearest rank) of `samples`; zero when there are none.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// Milliseconds with one decimal, for the summaries.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_csv_gives_each_servers_status() {
        let csv = "# pxname,svname,qcur,status,weight\n\
                   app,FRONTEND,,OPEN,\n\
                   app,app1,0,UP,1\n\
                   app,app2,0,DOWN 1/2,1\n\
                   app,BACKEND,0,UP,2\n";
        let states = parse_stats(csv);
        assert_eq!(states.len(), 2);
        assert!(ServerState(states["app1"].clone()).is_up());
        assert!(ServerState(states["app2"].clone()).is_down());
    }

    #[test]
    fn httplog_lines_give_server_status_and_retries() {
        let line = "127.0.0.1:51234 [06/Dec/2026:16:40:00.123] app app/app2 0/0/0/1/1 200 123 - - \
                    ---- 5/5/0/1/+1 0/0 \"GET /api/me HTTP/1.1\"";
        let entry = ProxyLogEntry::parse(line).unwrap();
        assert_eq!(entry.server, "app2");
        assert_eq!(entry.status, 200);
        assert_eq!(entry.termination, "----");
        assert_eq!((entry.retries, entry.redispatched), (1, true));
        assert!(ProxyLogEntry::parse("[WARNING] Server app/app1 is DOWN").is_none());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut samples, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&mut samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&mut [], 99.0), Duration::ZERO);
    }
}
