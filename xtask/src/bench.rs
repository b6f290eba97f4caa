//! `cargo xtask bench`: criterion micro-benchmarks, then a load run of the release app on
//! loopback driven by `wrk`, printed as a Markdown table (see docs/performance.md).
//!
//! The load run talks to the server with `curl` and `wrk` only (no HTTP client in the xtask), so
//! what is measured is the deployed binary, as a user runs it.

use crate::tools::{command, ensure_debian_packages, output_of, run};
use crate::workspace::{bundle, step};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds per load scenario; long enough for a stable p99, short enough for a 10-minute run.
const SECONDS: u32 = 8;
/// Concurrent connections per scenario.
const CONNECTIONS: u32 = 32;
const PASSWORD: &str = "correct horse battery";

/// Runs the micro-benchmarks (unless `load_only`) and the load run; prints the load table.
pub fn bench(root: &Path, load_only: bool) -> Result<()> {
    ensure_debian_packages(
        &[("wrk", "wrk"), ("brotli", "brotli"), ("curl", "curl")],
        "the load run drives the server with wrk and measures the wasm with brotli",
    )?;
    if !load_only {
        criterion()?;
    }
    let bundle_dir = bundle(root)?;
    step("load run (wrk on loopback)");
    let server = Server::start_with(
        &bundle_dir,
        &[
            ("AUTH_TRUSTED_IP_HEADER", CLIENT_HEADER),
            // The 64-connection sign-in scenario measures hashing, not 503s: room for all of them
            // in the hashing queue (the default, 16 per hashing thread, would refuse most).
            ("AUTH_MAX_QUEUED_HASHES", "64"),
        ],
    )?;
    let table = load_table(&server, &bundle_dir)?;
    drop(server);
    println!("\n{table}");
    Ok(())
}

fn criterion() -> Result<()> {
    step("criterion micro-benchmarks (auth-server: verify; auth-idp: idp)");
    for (package, bench) in [("auth-server", "verify"), ("auth-idp", "idp")] {
        run(command("cargo").args([
            "bench",
            "-p",
            package,
            "--bench",
            bench,
            "--",
            "--warm-up-time",
            "1",
            "--measurement-time",
            "3",
        ]))?;
    }
    Ok(())
}

/// The release server on a free port with a fresh SQLite file; killed on drop.
pub(crate) struct Server {
    child: Child,
    base: String,
    data: PathBuf,
}

impl Server {
    pub(crate) fn start(bundle_dir: &Path) -> Result<Self> {
        Self::start_with(bundle_dir, &[])
    }

    /// [`start`](Self::start) with extra environment variables for the server.
    pub(crate) fn start_with(bundle_dir: &Path, env: &[(&str, &str)]) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let data = std::env::temp_dir().join(format!("app-bench-{}", std::process::id()));
        std::fs::create_dir_all(&data)?;
        let child = Command::new(bundle_dir.join("server"))
            .current_dir(bundle_dir)
            .env("IP", "127.0.0.1")
            .env("PORT", port.to_string())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/app.db?mode=rwc", data.display()),
            )
            .env("AUTH_PUBLIC_URL", &base)
            // One token for the whole run: the Bearer scenario must not expire half-way.
            .env("AUTH_SESSION_TOKEN_TTL_SECS", "3600")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the release server")?;
        let server = Self { child, base, data };
        let deadline = Instant::now() + Duration::from_secs(30);
        while curl_status(&server.url("/api/health")).ok() != Some(200) {
            if Instant::now() > deadline {
                bail!("the release server did not answer /api/health within 30 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(server)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// CPU time the server has used so far (user + system), from /proc, in seconds.
    pub(crate) fn cpu_secs(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses and may hold spaces): utime and
        // stime are the 12th and 13th, in clock ticks.
        let after_name = stat.rsplit_once(')').context("malformed /proc stat")?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| -> Result<f64> {
            Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
        };
        let hz = output_of("getconf", &["CLK_TCK"])
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(100.0);
        Ok((ticks(11)? + ticks(12)?) / hz)
    }

    /// Resident set size in MiB, from /proc.
    pub(crate) fn rss_mib(&self) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmRSS missing from /proc")?;
        Ok(kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// One wrk result.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) rps: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

fn load_table(server: &Server, bundle_dir: &Path) -> Result<String> {
    let rss_idle = server.rss_mib()?;
    let token = sign_up(server)?;
    let bearer = format!("Authorization: Bearer {token}");
    let cookie = format!("Cookie: __session={token}");

    let health = wrk(&server.url("/api/health"), &[])?;
    let me_bearer = wrk(&server.url("/api/me"), &[&bearer])?;
    let me_cookie = wrk(&server.url("/api/me"), &[&cookie])?;
    let me_out = wrk(&server.url("/api/me"), &[])?;
    let (page_out, cpu_out) = with_cpu(server, || wrk(&server.url("/"), &[]))?;
    let (page_in, cpu_in) = with_cpu(server, || wrk(&server.url("/"), &[&cookie]))?;
    let dashboard = wrk(&server.url("/dashboard"), &[&cookie])?;
    let one_out = one_connection(&server.url("/"), &[])?;
    let one_in = one_connection(&server.url("/"), &[&cookie])?;
    let (under_sign_ins, sign_ins) = me_under_sign_ins(server, &bearer)?;
    let flood = sign_in_under_sign_up_flood(server)?;
    let rss_end = server.rss_mib()?;
    // When wrk stops, the server still finishes the sign-ins it has admitted (up to 64, one hash
    // each, ~2 s at most with one hashing core), each running hash holding 19 MiB of argon2
    // memory; what stays after that is what the server keeps.
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = server.rss_mib()?;

    let mut t = String::new();
    writeln!(t, "| scenario | req/s | p50 | p99 | ratio |")?;
    writeln!(t, "|---|---:|---:|---:|---:|")?;
    let mut row = |name: &str, l: Load, base: Option<Load>| {
        let ratio = base.map_or(String::new(), |b| format!("{:.2}", l.rps / b.rps));
        writeln!(
            t,
            "| {name} | {:.0} | {:.0} µs | {:.0} µs | {ratio} |",
            l.rps, l.p50_us, l.p99_us
        )
    };
    row("GET /api/health (no auth)", health, None)?;
    row("GET /api/me signed in (Bearer)", me_bearer, Some(health))?;
    row("GET /api/me signed in (cookie)", me_cookie, Some(health))?;
    row("GET /api/me signed out (401)", me_out, Some(health))?;
    row("GET / SSR signed out", page_out, None)?;
    row("GET / SSR signed in", page_in, Some(page_out))?;
    row("GET /dashboard SSR signed in", dashboard, Some(page_out))?;
    row(
        "GET /api/me (Bearer) during 64 concurrent sign-ins",
        under_sign_ins,
        Some(me_bearer),
    )?;
    row(
        &format!("POST /auth/sign-in, {SIGN_IN_CONNECTIONS} connections, quiet"),
        flood.quiet,
        None,
    )?;
    row(
        &format!(
            "POST /auth/sign-in, {SIGN_IN_CONNECTIONS} connections, one address flooding sign-up"
        ),
        flood.flooded,
        Some(flood.quiet),
    )?;
    writeln!(
        t,
        "\np99 overhead of auth (Bearer vs health): {:.0} µs; p99 under sign-ins / alone: {:.2}×",
        me_bearer.p99_us - health.p99_us,
        under_sign_ins.p99_us / me_bearer.p99_us
    )?;
    writeln!(
        t,
        "SSR server CPU per page (CPU time / pages served under wrk): signed out {:.0} µs, signed \
         in {:.0} µs: {:.2}× (goal ≤ 1.15×); signed-in throughput {:.2}× signed-out (goal ≥ 0.85×)",
        cpu_out * 1e6,
        cpu_in * 1e6,
        cpu_in / cpu_out,
        page_in.rps / page_out.rps
    )?;
    writeln!(
        t,
        "SSR on one kept-alive connection, p50: signed out {:.2} ms, signed in {:.2} ms (goal ≤ 2 ms)",
        one_out.p50_us / 1000.0,
        one_in.p50_us / 1000.0
    )?;
    writeln!(
        t,
        "sign-ins during that scenario: {} succeeded ({:.1}/s), {} refused or failed",
        sign_ins.ok,
        sign_ins.ok as f64 / f64::from(sign_ins.seconds),
        sign_ins.failed
    )?;
    writeln!(
        t,
        "sign-in p99 during a sign-up flood / quiet: {:.2}× (goal ≤ 2×); the flood ({FLOOD_CONNECTIONS} \
         connections, one address): {} sign-ups, {} created, {} refused ({:.0}/s); sign-ins: {} \
         quiet and {} flooded, {} and {} refused or failed",
        flood.flooded.p99_us / flood.quiet.p99_us,
        flood.flood_requests,
        flood.flood_requests.saturating_sub(flood.flood_refused),
        flood.flood_refused,
        flood.flood_requests as f64 / f64::from(SECONDS),
        flood.quiet_sign_ins.ok,
        flood.flooded_sign_ins.ok,
        flood.quiet_sign_ins.failed,
        flood.flooded_sign_ins.failed,
    )?;
    writeln!(
        t,
        "server RSS: {rss_idle:.1} MiB idle, {rss_end:.1} MiB as the load stops, {rss_after:.1} MiB 3 s after"
    )?;
    writeln!(t, "{}", wasm_sizes(bundle_dir)?)?;
    Ok(t)
}

/// Runs `load` and returns its result with the server's CPU time per request during it.
fn with_cpu(server: &Server, load: impl FnOnce() -> Result<Load>) -> Result<(Load, f64)> {
    let before = server.cpu_secs()?;
    let result = load()?;
    let used = server.cpu_secs()? - before;
    Ok((result, used / (result.rps * f64::from(SECONDS)).max(1.0)))
}

/// One client, one kept-alive connection, one request at a time: the latency a browser sees on
/// a reused connection (a fixed delay, such as Nagle's against a delayed ACK, shows here).
fn one_connection(url: &str, headers: &[&str]) -> Result<Load> {
    wrk_for(url, headers, 4, 1, 1).map(|(load, _)| load)
}

/// Signs a user up and returns the session JWT from the `__session` cookie.
pub(crate) fn sign_up(server: &Server) -> Result<String> {
    sign_up_as(server, "bench@example.com", &[])
}

/// Signs `email` up, sending `headers` (`Name: value`), and returns the session JWT.
fn sign_up_as(server: &Server, email: &str, headers: &[&str]) -> Result<String> {
    let body = format!(r#"{{"email":"{email}","password":"{PASSWORD}","name":"Bench"}}"#);
    let mut curl = command("curl");
    for header in headers {
        curl.args(["-H", header]);
    }
    let out = curl
        .args(["-s", "-D", "-", "-o", "/dev/null", "-X", "POST"])
        .args(["-H", "content-type: application/json", "--data", &body])
        .arg(server.url("/auth/sign-up"))
        .output()?;
    let headers = String::from_utf8_lossy(&out.stdout);
    headers
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, v)| v.trim().strip_prefix("__session="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .with_context(|| format!("sign-up set no __session cookie:\n{headers}"))
}

/// `/api/me` with a Bearer token while 64 connections sign in for real: 64 accounts, and every
/// attempt from its own client address (the server trusts [`CLIENT_HEADER`] in the bench), so the
/// per-account and per-address sign-in limits admit them all. (With one account from one address
/// the limiter turns all but ten into instant 429s, and the scenario measures a 429 flood.)
/// Also returns how many sign-ins succeeded and failed while it ran.
fn me_under_sign_ins(server: &Server, bearer: &str) -> Result<(Load, SignIns)> {
    for i in 0..SIGNERS {
        sign_up_as(
            server,
            &format!("signer{i}@example.com"),
            &[&format!("{CLIENT_HEADER}: 10.1.0.{i}")],
        )?;
    }
    let script = std::env::temp_dir().join(format!("sign-in-{}.lua", std::process::id()));
    std::fs::write(&script, sign_in_script("10.2"))?;
    let seconds = SECONDS + 2;
    let sign_ins = command("wrk")
        .args(["-t1", "-c64", &format!("-d{seconds}s"), "-s"])
        .arg(&script)
        .arg(server.url("/auth/sign-in"))
        .stdout(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    let load = wrk(&server.url("/api/me"), &[bearer]);
    let out = sign_ins.wait_with_output()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let errors = errors(&text);
    let sign_ins = SignIns {
        ok: requests(&text).saturating_sub(errors.non_2xx),
        failed: errors.non_2xx + errors.socket,
        seconds,
    };
    Ok((load?, sign_ins))
}

/// Sign-in latency, quiet and while one client address floods `POST /auth/sign-up` (a new email
/// each time, [`FLOOD_CONNECTIONS`] connections), in one run. The sign-ins are real (the
/// [`SIGNERS`] accounts, each attempt from its own client address), [`SIGN_IN_CONNECTIONS`] at a
/// time; the flood's address is limited after its first sign-ups (429), which is what keeps the
/// hashing threads for sign-in.
fn sign_in_under_sign_up_flood(server: &Server) -> Result<SignUpFlood> {
    let pid = std::process::id();
    let sign_in = std::env::temp_dir().join(format!("sign-in-quiet-{pid}.lua"));
    std::fs::write(&sign_in, sign_in_script("10.3"))?;
    let flood = std::env::temp_dir().join(format!("sign-up-flood-{pid}.lua"));
    std::fs::write(
        &flood,
        format!(
            "local n = 0\n\
             request = function()\n\
             n = n + 1\n\
             local body = '{{\"email\":\"flood' .. n .. '@example.com\",\"password\":\"{PASSWORD}\",\"name\":\"Flood\"}}'\n\
             return wrk.format(\"POST\", nil, {{[\"Content-Type\"] = \"application/json\", [\"{CLIENT_HEADER}\"] = \"10.9.9.9\"}}, body)\n\
             end\n"
        ),
    )?;
    let url = server.url("/auth/sign-in");
    let (quiet, quiet_text) = wrk_script(&url, &sign_in, SECONDS, SIGN_IN_CONNECTIONS, 1)?;
    let flooding = command("wrk")
        .args([
            "-t1",
            &format!("-c{FLOOD_CONNECTIONS}"),
            &format!("-d{}s", SECONDS + 2),
            "-s",
        ])
        .arg(&flood)
        .arg(server.url("/auth/sign-up"))
        .stdout(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    let flooded = wrk_script(&url, &sign_in, SECONDS, SIGN_IN_CONNECTIONS, 1);
    let out = flooding.wait_with_output()?;
    let _ = std::fs::remove_file(&sign_in);
    let _ = std::fs::remove_file(&flood);
    let (flooded, flooded_text) = flooded?;
    let flood_text = String::from_utf8_lossy(&out.stdout);
    let flood_errors = errors(&flood_text);
    let sign_ins = |text: &str| {
        let e = errors(text);
        SignIns {
            ok: requests(text).saturating_sub(e.non_2xx),
            failed: e.non_2xx + e.socket,
            seconds: SECONDS,
        }
    };
    Ok(SignUpFlood {
        quiet,
        flooded,
        quiet_sign_ins: sign_ins(&quiet_text),
        flooded_sign_ins: sign_ins(&flooded_text),
        flood_requests: requests(&flood_text),
        flood_refused: flood_errors.non_2xx + flood_errors.socket,
    })
}

/// The results of [`sign_in_under_sign_up_flood`].
#[derive(Debug, Clone, Copy)]
struct SignUpFlood {
    quiet: Load,
    flooded: Load,
    quiet_sign_ins: SignIns,
    flooded_sign_ins: SignIns,
    flood_requests: u64,
    flood_refused: u64,
}

/// A wrk script signing the [`SIGNERS`] accounts in, each attempt from its own client address
/// under `prefix` (`10.3` → `10.3.x.y`).
fn sign_in_script(prefix: &str) -> String {
    format!(
        "local n = 0\n\
         request = function()\n\
         n = n + 1\n\
         local client = \"{prefix}.\" .. (math.floor(n / 256) % 256) .. \".\" .. (n % 256)\n\
         local body = '{{\"email\":\"signer' .. (n % {SIGNERS}) .. '@example.com\",\"password\":\"{PASSWORD}\"}}'\n\
         return wrk.format(\"POST\", nil, {{[\"Content-Type\"] = \"application/json\", [\"{CLIENT_HEADER}\"] = client}}, body)\n\
         end\n"
    )
}

/// [`wrk_for`] with a request script instead of headers.
fn wrk_script(
    url: &str,
    script: &Path,
    seconds: u32,
    connections: u32,
    threads: u32,
) -> Result<(Load, String)> {
    let script = script.to_string_lossy();
    wrk_with(url, &[], &["-s", &script], seconds, connections, threads)
}

/// Sign-in connections in the quiet / flooded sign-in scenario.
const SIGN_IN_CONNECTIONS: u32 = 4;
/// Connections flooding sign-up from one address.
const FLOOD_CONNECTIONS: u32 = 32;

/// Accounts signing in concurrently in the sign-in scenario.
const SIGNERS: u32 = 64;
/// The client-address header the bench server trusts (`AUTH_TRUSTED_IP_HEADER`).
const CLIENT_HEADER: &str = "X-Bench-Client";

/// What the sign-in connections achieved during the sign-in scenario.
#[derive(Debug, Clone, Copy)]
struct SignIns {
    ok: u64,
    failed: u64,
    seconds: u32,
}

/// wrk's error counts for one run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Errors {
    pub(crate) non_2xx: u64,
    pub(crate) socket: u64,
}

/// `123456 requests in 60.00s, …`.
pub(crate) fn requests(text: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let l = l.trim();
            l.split_once(" requests in ")
                .and_then(|(n, _)| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// wrk's error lines: `Non-2xx or 3xx responses: N` and
/// `Socket errors: connect N, read N, write N, timeout N`.
pub(crate) fn errors(text: &str) -> Errors {
    let mut e = Errors::default();
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            e.non_2xx += n.trim().parse::<u64>().unwrap_or(1);
        }
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            e.socket += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        }
    }
    e
}

/// Runs wrk against `url` and parses requests/s and the p50/p99 latencies.
fn wrk(url: &str, headers: &[&str]) -> Result<Load> {
    wrk_for(url, headers, SECONDS, CONNECTIONS, 2).map(|(load, _)| load)
}

/// [`wrk`] for `seconds` with `connections` over `threads`; also returns wrk's full output (its
/// error lines: `Non-2xx or 3xx responses`, `Socket errors`).
pub(crate) fn wrk_for(
    url: &str,
    headers: &[&str],
    seconds: u32,
    connections: u32,
    threads: u32,
) -> Result<(Load, String)> {
    wrk_with(url, headers, &[], seconds, connections, threads)
}

/// [`wrk_for`] with extra wrk arguments (`-s script.lua`).
fn wrk_with(
    url: &str,
    headers: &[&str],
    extra: &[&str],
    seconds: u32,
    connections: u32,
    threads: u32,
) -> Result<(Load, String)> {
    let mut cmd = command("wrk");
    cmd.args([
        &format!("-t{threads}"),
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.args(extra);
    let out = cmd.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed on {url}:\n{text}");
    }
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let rps = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?;
    let p50_us = field("50%")
        .and_then(duration_us)
        .context("no p50 in wrk output")?;
    let p99_us = field("99%")
        .and_then(duration_us)
        .context("no p99 in wrk output")?;
    eprintln!("  {url}: {rps:.0} req/s, p50 {p50_us:.0} µs, p99 {p99_us:.0} µs");
    Ok((
        Load {
            rps,
            p50_us,
            p99_us,
        },
        text.into_owned(),
    ))
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.01s`.
fn duration_us(s: &str) -> Option<f64> {
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(n),
        "ms" => Some(n * 1e3),
        "s" => Some(n * 1e6),
        _ => None,
    }
}

/// Raw, gzip and brotli sizes of the release wasm.
fn wasm_sizes(bundle_dir: &Path) -> Result<String> {
    let wasm = find_wasm(&bundle_dir.join("public"))?;
    let raw = std::fs::metadata(&wasm)?.len();
    let compressed = |program: &str, args: &[&str]| -> Result<u64> {
        let out = command(program).args(args).arg(&wasm).output()?;
        if !out.status.success() {
            bail!("{program} failed on {}", wasm.display());
        }
        Ok(out.stdout.len() as u64)
    };
    let gzip = compressed("gzip", &["-9", "-c"])?;
    let brotli = compressed("brotli", &["-c", "-q", "11"])?;
    Ok(format!(
        "release wasm ({}): {:.0} KB raw, {:.0} KB gzip, {:.0} KB brotli",
        wasm.file_name().unwrap_or_default().to_string_lossy(),
        raw as f64 / 1000.0,
        gzip as f64 / 1000.0,
        brotli as f64 / 1000.0
    ))
}

fn find_wasm(dir: &Path) -> Result<PathBuf> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            if let Ok(found) = find_wasm(&path) {
                return Ok(found);
            }
        } else if path.extension().is_some_and(|e| e == "wasm") {
            return Ok(path);
        }
    }
    bail!("no .wasm file under {}", dir.display())
}

/// `curl`'s HTTP status for a GET, with extra curl arguments (headers).
pub(crate) fn curl_status_with(url: &str, extra: &[&str]) -> Result<u16> {
    let out = command("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
        ])
        .args(extra)
        .arg(url)
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// `curl`'s HTTP status for a GET.
pub(crate) fn curl_status(url: &str) -> Result<u16> {
    curl_status_with(url, &[])
}

#[cfg(test)]
mod tests {
    use super::{duration_us, errors, requests};

    #[test]
    fn parses_wrk_durations() {
        assert_eq!(duration_us("812.00us"), Some(812.0));
        assert_eq!(duration_us("1.50ms"), Some(1500.0));
        assert_eq!(duration_us("2.00s"), Some(2_000_000.0));
        assert_eq!(duration_us("12m"), None);
    }

    #[test]
    fn parses_wrk_errors() {
        let text = "  1000 requests in 10.00s, 1.00MB read\n  Socket errors: connect 0, read 2, write 1, timeout 3\n  Non-2xx or 3xx responses: 7\n";
        let e = errors(text);
        assert_eq!((e.non_2xx, e.socket), (7, 6));
        assert_eq!(requests(text), 1000);
        let clean = errors("  5 requests in 1.00s, 1KB read\n");
        assert_eq!((clean.non_2xx, clean.socket), (0, 0));
    }
}
