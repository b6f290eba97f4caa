//! `cargo xtask soak [--seconds N]`: the release server under saturation for a minute on the
//! protected API route (`/api/me`, Bearer) and the signed-in SSR page (`/dashboard`, cookie) at
//! the same time. Passes when wrk saw zero errors (no non-2xx/3xx answer, no socket error) and
//! the server's RSS at the end is within 10 % of its RSS after the warm-up. Not part of CI.
//!
//! Reuses the load-run helpers of `bench.rs` (server start, sign-up, wrk). Builds the release
//! bundle first, unless `APP_BUNDLE_DIR` names one.

use crate::bench::{Errors, Server, curl_status_with, errors, requests, sign_up, wrk_for};
use crate::tools::ensure_debian_packages;
use crate::workspace::{bundle, step};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Seconds of soak after the warm-up.
const DEFAULT_SECONDS: u32 = 60;
/// Seconds of the same load before the baseline RSS is read.
const WARM_UP_SECONDS: u32 = 15;
/// Connections per route (two routes at once).
const CONNECTIONS: u32 = 16;
/// Largest accepted RSS drift between the end of the warm-up and the end of the soak.
const MAX_RSS_GROWTH: f64 = 0.10;

pub fn soak(root: &Path, args: &[String]) -> Result<()> {
    let seconds = match args {
        [] => DEFAULT_SECONDS,
        [flag, n] if flag == "--seconds" => n.parse().context("--seconds needs a number")?,
        other => bail!("unknown soak arguments {other:?} (expected --seconds N)"),
    };
    ensure_debian_packages(
        &[("wrk", "wrk"), ("curl", "curl")],
        "the soak drives the server with wrk",
    )?;
    // A bundle built already (as the browser tests take it), else a fresh one.
    let bundle_dir = match std::env::var_os("APP_BUNDLE_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => bundle(root)?,
    };
    step("soak (wrk on loopback)");
    let server = Server::start(&bundle_dir)?;
    let rss_idle = server.rss_mib()?;
    let token = sign_up(&server)?;
    let bearer = format!("Authorization: Bearer {token}");
    let cookie = format!("Cookie: __session={token}");
    let me = server.url("/api/me");
    let dashboard = server.url("/dashboard");
    // wrk counts a 303 to the sign-in page as a success: make sure the page really is signed in.
    assert_signed_in(&dashboard, &cookie)?;

    eprintln!("  warm-up: {WARM_UP_SECONDS} s");
    let warm = both(&me, &bearer, &dashboard, &cookie, WARM_UP_SECONDS)?;
    let rss_warm = server.rss_mib()?;
    eprintln!("  soak: {seconds} s (RSS after warm-up {rss_warm:.1} MiB)");
    let (samples, soaked) = std::thread::scope(|scope| {
        let load = scope.spawn(|| both(&me, &bearer, &dashboard, &cookie, seconds));
        let mut samples = Vec::new();
        while !load.is_finished() {
            std::thread::sleep(Duration::from_secs(5));
            if let Ok(rss) = server.rss_mib() {
                samples.push(rss);
            }
        }
        (samples, load.join())
    });
    let soaked = soaked.map_err(|_| anyhow::anyhow!("the load thread panicked"))??;
    let rss_end = server.rss_mib()?;
    assert_signed_in(&dashboard, &cookie)?;
    let rss_peak = samples.iter().copied().fold(rss_end, f64::max);
    let growth = (rss_end - rss_warm) / rss_warm;

    let mut t = String::new();
    writeln!(
        t,
        "| route ({seconds} s, {CONNECTIONS} connections each) | requests | req/s | p99 | non-2xx | socket errors |"
    )?;
    writeln!(t, "|---|---:|---:|---:|---:|---:|")?;
    for (name, (load, requests, errors)) in [
        ("GET /api/me (Bearer)", soaked.0),
        ("GET /dashboard (signed-in SSR)", soaked.1),
    ] {
        writeln!(
            t,
            "| {name} | {requests} | {:.0} | {:.1} ms | {} | {} |",
            load.rps,
            load.p99_us / 1000.0,
            errors.non_2xx,
            errors.socket
        )?;
    }
    writeln!(
        t,
        "\nserver RSS: {rss_idle:.1} MiB idle, {rss_warm:.1} MiB after the {WARM_UP_SECONDS} s warm-up, \
         {rss_end:.1} MiB at the end ({:+.1} %), peak {rss_peak:.1} MiB",
        growth * 100.0
    )?;
    println!("\n{t}");

    let errors: u64 = [warm.0, warm.1, soaked.0, soaked.1]
        .iter()
        .map(|(_, _, e)| e.non_2xx + e.socket)
        .sum();
    if errors > 0 {
        bail!("the soak saw {errors} errors (non-2xx or socket errors), expected none");
    }
    if growth.abs() > MAX_RSS_GROWTH {
        bail!(
            "RSS moved {:+.1} % between the warm-up and the end (limit ±{:.0} %)",
            growth * 100.0,
            MAX_RSS_GROWTH * 100.0
        );
    }
    eprintln!(
        "xtask: soak passed: zero errors, RSS {:+.1} %",
        growth * 100.0
    );
    Ok(())
}

type Route = (crate::bench::Load, u64, Errors);

/// Both routes at once for `seconds`, one wrk each.
fn both(
    me: &str,
    bearer: &str,
    dashboard: &str,
    cookie: &str,
    seconds: u32,
) -> Result<(Route, Route)> {
    std::thread::scope(|scope| {
        let a = scope.spawn(|| route(me, bearer, seconds));
        let b = scope.spawn(|| route(dashboard, cookie, seconds));
        let a = a
            .join()
            .map_err(|_| anyhow::anyhow!("wrk thread panicked"))??;
        let b = b
            .join()
            .map_err(|_| anyhow::anyhow!("wrk thread panicked"))??;
        Ok((a, b))
    })
}

fn route(url: &str, header: &str, seconds: u32) -> Result<Route> {
    let (load, text) = wrk_for(url, &[header], seconds, CONNECTIONS, 1)?;
    Ok((load, requests(&text), errors(&text)))
}

/// The page answers 200 (not a redirect to the sign-in page) with the session cookie.
fn assert_signed_in(url: &str, cookie: &str) -> Result<()> {
    let status = curl_status_with(url, &["-H", cookie])?;
    if status != 200 {
        bail!("{url} answered {status} with the session cookie, expected the signed-in page (200)");
    }
    Ok(())
}
