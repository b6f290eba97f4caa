//! Memory and latency of a burst of sign-ins, without the release bundle or `wrk`, through
//! [`Passwords`] with the production argon2id cost on a server-like tokio runtime:
//!
//! 1. memory: 3 rounds of 64 concurrent password verifications; the process's resident memory
//!    (VmRSS) before and after, and the sign-in throughput;
//! 2. latency: a loopback HTTP server (`GET /ping`, a SHA-256 of 2 KiB) driven by 32 keep-alive
//!    connections from a client runtime on two threads of its own (as `wrk -t2 -c32`), for a few
//!    seconds alone and then while 64 verifications are kept in flight; p50 and p99 of each.
//!
//! ```sh
//! cargo run --release -p auth-server --example hash_load                # as shipped
//! cargo run --release -p auth-server --example hash_load -- --permits 2 # one permit per core here
//! cargo run --release -p auth-server --example hash_load -- --stock     # argon2 allocating per hash
//! ```
//!
//! `--stock` is the previous implementation (argon2's `verify_password`, which allocates its
//! working memory per hash) behind the same semaphore, for comparison in one build.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use auth_idp::PasswordParams;
use auth_idp::fuzzing::Passwords;
use axum::{Router, routing::get};
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const SIGN_INS: usize = 64;
const ROUNDS: usize = 3;
const CONNECTIONS: usize = 32;
const LOAD: Duration = Duration::from_secs(4);
const PASSWORD: &str = "correct horse battery";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stock = args.iter().any(|a| a == "--stock");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let permits = args
        .iter()
        .position(|a| a == "--permits")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or((cores / 2).max(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(stock, permits, cores));
}

async fn run(stock: bool, permits: usize, cores: usize) {
    let mode = if stock {
        "stock (allocate per hash)"
    } else {
        "pooled"
    };
    println!("{mode}, {permits} permit(s), {cores} core(s)");

    // 1. Memory.
    let start = rss_mib();
    let hasher = Hasher::new(stock, permits).await;
    let hash = hasher.hash().await;
    let ready = rss_mib();
    let began = Instant::now();
    for _ in 0..ROUNDS {
        let mut all = tokio::task::JoinSet::new();
        for _ in 0..SIGN_INS {
            let (hasher, hash) = (hasher.clone(), hash.clone());
            all.spawn(async move { hasher.verify(hash).await });
        }
        while let Some(ok) = all.join_next().await {
            assert!(ok.expect("task"), "verification failed");
        }
    }
    let took = began.elapsed();
    let after = rss_mib();
    let n = SIGN_INS * ROUNDS;
    println!(
        "VmRSS: {start:.1} MiB at start, {ready:.1} MiB with the hasher ready, {after:.1} MiB \
         after {ROUNDS} × {SIGN_INS} concurrent verifications"
    );
    println!(
        "sign-ins: {n} in {:.2} s ({:.1}/s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );

    // 2. Latency.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/ping", listener.local_addr().expect("address"));
    let app = Router::new().route(
        "/ping",
        get(|| async { format!("{:x}", Sha256::digest([7u8; 2048])) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });

    let alone = drive(url.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut sign_ins = tokio::task::JoinSet::new();
    for _ in 0..SIGN_INS {
        let (hasher, hash, stop) = (hasher.clone(), hash.clone(), Arc::clone(&stop));
        sign_ins.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                assert!(hasher.verify(hash.clone()).await);
            }
        });
    }
    let during = drive(url).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(done) = sign_ins.join_next().await {
        done.expect("sign-in task");
    }
    println!(
        "GET /ping p50 / p99: alone {:.0} / {:.0} µs ({:.0} req/s), during 64 concurrent \
         sign-ins {:.0} / {:.0} µs ({:.0} req/s); p99 ratio {:.2}×",
        alone.p50,
        alone.p99,
        alone.rps,
        during.p50,
        during.p99,
        during.rps,
        during.p99 / alone.p99
    );
    println!("VmRSS at the end: {:.1} MiB", rss_mib());
}

/// Latency percentiles (µs) and throughput of one load run.
#[derive(Debug, Clone, Copy)]
struct Load {
    p50: f64,
    p99: f64,
    rps: f64,
}

/// `CONNECTIONS` closed-loop clients on a runtime of two threads of their own for `LOAD`.
async fn drive(url: String) -> Load {
    let client = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("client runtime");
        rt.block_on(async move {
            let http = reqwest::Client::new();
            let deadline = Instant::now() + LOAD;
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..CONNECTIONS {
                let (http, url) = (http.clone(), url.clone());
                tasks.spawn(async move {
                    let mut latencies = Vec::with_capacity(64 * 1024);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        let body = http.get(&url).send().await.expect("GET").bytes().await;
                        body.expect("body");
                        latencies.push(t.elapsed().as_secs_f64() * 1e6);
                    }
                    latencies
                });
            }
            let mut all = Vec::new();
            while let Some(l) = tasks.join_next().await {
                all.extend(l.expect("client task"));
            }
            all
        })
    });
    let mut all = tokio::task::spawn_blocking(move || client.join().expect("client thread"))
        .await
        .expect("join");
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    Load {
        p50: at(0.50),
        p99: at(0.99),
        rps: all.len() as f64 / LOAD.as_secs_f64(),
    }
}

/// `Passwords` as shipped, or the previous allocating path behind the same semaphore.
#[derive(Clone)]
enum Hasher {
    Pooled(Passwords),
    Stock(Arc<Semaphore>),
}

impl Hasher {
    async fn new(stock: bool, permits: usize) -> Self {
        if stock {
            Self::Stock(Arc::new(Semaphore::new(permits)))
        } else {
            Self::Pooled(
                Passwords::new(PasswordParams::default(), permits)
                    .await
                    .expect("hasher"),
            )
        }
    }

    fn argon2() -> Argon2<'static> {
        let p = PasswordParams::default();
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None).expect("params");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    async fn hash(&self) -> String {
        match self {
            Self::Pooled(p) => p.hash(PASSWORD.to_owned()).await.expect("hash"),
            Self::Stock(_) => tokio::task::spawn_blocking(|| {
                let salt = SaltString::generate(&mut OsRng);
                Self::argon2()
                    .hash_password(PASSWORD.as_bytes(), &salt)
                    .expect("hash")
                    .to_string()
            })
            .await
            .expect("task"),
        }
    }

    async fn verify(&self, hash: String) -> bool {
        match self {
            Self::Pooled(p) => p
                .verify(PASSWORD.to_owned(), Some(hash))
                .await
                .expect("verify"),
            Self::Stock(permits) => {
                let _permit = permits.acquire().await.expect("semaphore");
                tokio::task::spawn_blocking(move || {
                    let parsed = PasswordHash::new(&hash).expect("PHC string");
                    Self::argon2()
                        .verify_password(PASSWORD.as_bytes(), &parsed)
                        .is_ok()
                })
                .await
                .expect("task")
            }
        }
    }
}

/// This process's resident set size in MiB, from /proc/self/status (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}
