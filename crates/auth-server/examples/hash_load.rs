//! Memory and latency of a burst of sign-ins, without the release bundle or `wrk`: 64 concurrent
//! password verifications (the production argon2id cost), repeated for a few rounds, through
//! [`Passwords`] on a server-like tokio runtime. Prints the process's resident memory (VmRSS)
//! before and after, and the p99 latency of small "requests" (32 closed-loop tasks on the same
//! runtime, each a yield plus a SHA-256 of 2 KiB) alone and during the burst.
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
use auth_server::idp::PasswordParams;
use auth_server::idp::password::Passwords;
use rand_core::OsRng;
use sha2::{Digest as _, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const SIGN_INS: usize = 64;
const ROUNDS: usize = 3;
const PROBES: usize = 32;
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
    let start = rss_mib();
    let hasher = Hasher::new(stock, permits).await;
    let hash = hasher.hash().await;
    let ready = rss_mib();

    let alone = probe(Duration::from_secs(2), async {}).await;

    let began = Instant::now();
    let during = probe(Duration::ZERO, async {
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
    })
    .await;
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
    println!(
        "probe p50 / p99: alone {:.0} / {:.0} µs, during the sign-ins {:.0} / {:.0} µs; \
         p99 ratio {:.2}×",
        alone.0,
        alone.1,
        during.0,
        during.1,
        during.1 / alone.1
    );
}

/// Runs `PROBES` closed-loop request-like tasks while `load` runs (at least `min`), and returns
/// their p50 and p99 latency in µs.
async fn probe(min: Duration, load: impl std::future::Future<Output = ()>) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..PROBES {
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            let body = vec![i as u8; 2048];
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                tokio::task::yield_now().await;
                std::hint::black_box(Sha256::digest(&body));
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
            }
            latencies
        }));
    }
    let (_, ()) = tokio::join!(tokio::time::sleep(min), load);
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("probe"));
    }
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    (at(0.50), at(0.99))
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
