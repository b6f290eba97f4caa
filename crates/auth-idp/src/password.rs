//! Password hashing with argon2id on a few dedicated threads that run below the priority of the
//! threads serving requests, behind a semaphore that bounds how many memory-hard hashes run at
//! once.
//!
//! **Priority.** A hash is ~30 ms of pure CPU. On tokio's blocking pool it competes with the
//! request workers as an equal, so a burst of sign-ins doubles or triples the p99 of every other
//! route on a small machine. The hashing threads therefore lower their own scheduling priority
//! (Linux: nice [`HASHING_NICENESS`], a per-thread attribute): when the cores are idle a hash runs
//! at full speed, when requests are waiting the scheduler runs them first and the hash takes a
//! bit longer. Sign-ins still progress under saturation (a nice-10 thread keeps about a tenth of a
//! contended core), they are not starved as they would be with `SCHED_IDLE`.
//!
//! **Memory.** Each running hash needs `m` KiB of working memory (19 MiB by default). Allocating
//! it per hash and freeing it afterwards makes glibc raise its dynamic mmap threshold, after which
//! every freed block stays resident in some heap arena (hundreds of MiB after a burst of
//! sign-ins). So the memory is reused: a pool holds at most one buffer per permit; a hash takes a
//! buffer while it holds a permit and gives it back when done, for the next sign-in that is
//! already waiting. When none is waiting the buffer is freed, and it is reserved large enough that
//! glibc maps it on its own and unmaps it on free (see [`new_buffer`]): resident memory is at most
//! `permits × m` during a burst of sign-ins and back to the baseline after it. (Threads owning a
//! buffer each would keep `permits × m` resident forever.)
//!
//! Queueing is the semaphore's (fair, FIFO): a sign-in that is cancelled while it waits for a
//! permit (the client went away) never starts its hash, and there is one thread per permit, so a
//! job handed to the threads never waits behind another.
//!
//! **Bounded queue.** At most `max_queued` hashes wait for a permit
//! ([`with_max_queued`](Passwords::with_max_queued), `AUTH_MAX_QUEUED_HASHES`); one more is
//! refused at once with [`IdpError::Busy`] (503 with `Retry-After`), before it takes a buffer or
//! a place in the queue, so a flood of sign-ups or sign-ins costs a bounded wait, never an
//! unbounded one. The bound is on the same `demand` count that sizes the buffer pool.

use super::config::PasswordParams;
use super::error::IdpError;
use argon2::password_hash::{
    self, Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher,
    PasswordVerifier as _, Salt, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::OsRng;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use tokio::sync::{Semaphore, oneshot};

/// Shortest accepted password (characters).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password (characters of its NFKC form; see `password_policy.rs`).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The nice value of the hashing threads (Linux; 0 is the default, 19 the lowest priority).
pub const HASHING_NICENESS: i32 = 10;

/// Hashes and verifies passwords.
#[derive(Debug, Clone)]
pub struct Passwords {
    params: Params,
    permits: Arc<Semaphore>,
    /// Hands jobs to the hashing threads (one per permit); they exit when the last clone is gone.
    threads: Arc<HashingThreads>,
    /// Working memory for argon2, one buffer per permit at most, kept only while sign-ins wait.
    buffers: Arc<Mutex<Buffers>>,
    /// Hashes requested and not finished yet (waiting for a permit or running).
    demand: Arc<AtomicUsize>,
    /// How many hashes run at once.
    concurrent: usize,
    /// The most hashes that may be requested at once: `concurrent` + the queue's bound.
    max_demand: usize,
    /// A hash of a random password: unknown emails are verified against it so that they take as
    /// long as a wrong password.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// Prepares the hasher (computes the dummy hash once). `max_concurrent` hashes may run at
    /// once; each holds `p.memory_kib` KiB while it runs.
    pub async fn new(p: PasswordParams, max_concurrent: usize) -> Result<Self, IdpError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| IdpError::Startup(format!("invalid argon2 parameters: {e}")))?;
        let max_concurrent = max_concurrent.max(1);
        let mut this = Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            threads: Arc::new(HashingThreads::start(max_concurrent)?),
            buffers: Arc::new(Mutex::new(Buffers::default())),
            demand: Arc::new(AtomicUsize::new(0)),
            concurrent: max_concurrent,
            max_demand: usize::MAX,
            dummy_hash: Arc::from(""),
        };
        let mut random = [0u8; 24];
        rand_core::RngCore::fill_bytes(&mut OsRng, &mut random);
        let dummy = this.hash(super::session::b64(&random)).await?;
        this.dummy_hash = Arc::from(dummy);
        Ok(this)
    }

    /// Bounds how many hashes may wait for a running one (unbounded unless set); past it a hash
    /// is refused at once with [`IdpError::Busy`].
    pub fn with_max_queued(mut self, max_queued: usize) -> Self {
        self.max_demand = self.concurrent.saturating_add(max_queued);
        self
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`).
    pub async fn hash(&self, password: String) -> Result<String, IdpError> {
        let params = self.params.clone();
        self.with_hasher(move |hasher| {
            let salt = SaltString::generate(&mut OsRng);
            hasher
                .hash_password_customized(
                    password.as_bytes(),
                    Some(Algorithm::Argon2id.ident()),
                    Some(Version::V0x13.into()),
                    params,
                    &salt,
                )
                .map(|h| h.to_string())
                .map_err(|e| IdpError::Internal(format!("password hashing failed: {e}")))
        })
        .await?
    }

    /// Verifies a password against a stored hash; with `None` (unknown account) verifies against
    /// the dummy hash and returns `false`, taking the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, IdpError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self
            .with_hasher(move |hasher| {
                let Ok(parsed) = PasswordHash::new(&hash) else {
                    return false;
                };
                // The crate's verifier: algorithm, version and parameters come from the stored
                // hash itself (so old hashes still verify), and the outputs are compared in
                // constant time.
                hasher.verify_password(password.as_bytes(), &parsed).is_ok()
            })
            .await?;
        Ok(known && ok)
    }

    /// Runs `f` on a hashing thread with a permit and a pooled buffer.
    async fn with_hasher<T: Send + 'static>(
        &self,
        f: impl FnOnce(&PooledHasher<'_>) -> T + Send + 'static,
    ) -> Result<T, IdpError> {
        // Counted until the buffer is back (moved into the blocking task below), so that a
        // finished hash never still looks like a waiting one to another hash's `give_back`.
        let requested = Demand::admit(&self.demand, self.max_demand).ok_or(IdpError::Busy)?;
        let demand = Arc::clone(&self.demand);
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| IdpError::Internal("hasher closed".into()))?;
        let buffers = Arc::clone(&self.buffers);
        let blocks = self.params.block_count();
        let (done, result) = oneshot::channel();
        self.threads.run(Box::new(move || {
            // The permit lives until the buffer is back in the pool, even when the caller stops
            // waiting, so there are never more buffers than permits.
            let _permit = permit;
            let lock = || buffers.lock().unwrap_or_else(PoisonError::into_inner);
            let mut memory = lock().take().unwrap_or_else(|| new_buffer(blocks));
            // A panic still returns the buffer and the count below (argon2 overwrites every block
            // it reads, so a half-written buffer is as good as a fresh one).
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(&PooledHasher {
                    memory: RefCell::new(&mut memory),
                })
            }));
            // Read the demand and stop counting this request under the pool's lock: two hashes
            // finishing together then see each other's end, and the last one frees every buffer.
            let mut pool = lock();
            let demand = demand.load(Ordering::Acquire);
            drop(requested);
            pool.give_back(memory, demand);
            drop(pool);
            // The caller may have stopped waiting; the hash is done either way. After a panic
            // the sender is dropped unsent: the caller's error.
            if let Ok(result) = result {
                let _ = done.send(result);
            }
        }))?;
        result
            .await
            .map_err(|_| IdpError::Internal("hashing thread failed".into()))
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// One low-priority thread per permit, fed from a shared queue. With at most one job per permit
/// in flight, a job never waits for a thread.
#[derive(Debug)]
struct HashingThreads {
    jobs: mpsc::Sender<Job>,
}

impl HashingThreads {
    fn start(count: usize) -> Result<Self, IdpError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("auth-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job, not while it runs.
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = next else { break };
                        job();
                    }
                })
                .map_err(|e| IdpError::Startup(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    fn run(&self, job: Job) -> Result<(), IdpError> {
        self.jobs
            .send(job)
            .map_err(|_| IdpError::Internal("the hashing threads are gone".into()))
    }
}

/// Lowers the calling thread's scheduling priority to [`HASHING_NICENESS`]. Best effort: where it
/// cannot (another OS, a seccomp profile), hashes run at normal priority, as they would anyway.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICENESS)
    {
        tracing::debug!(error = %e, "could not lower the hashing thread's priority");
    }
}

/// glibc serves an allocation above 32 MiB (the ceiling of its dynamic mmap threshold) with its
/// own `mmap` and returns it with `munmap` on free, without moving the threshold; smaller blocks,
/// once one such block has been freed, come from a heap arena and stay resident. A buffer's
/// capacity is therefore at least that large. Only the first `blocks` blocks are ever written, so
/// the reservation beyond them is address space, not resident memory.
const RESERVE_BYTES: usize = 32 * 1024 * 1024 + 64 * 1024;

/// A zeroed argon2 working buffer of `blocks` blocks (see [`RESERVE_BYTES`]).
fn new_buffer(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(RESERVE_BYTES.div_ceil(Block::SIZE)));
    memory.resize(blocks, Block::default());
    memory
}

/// The pool: free buffers, and how many are out with a running hash.
#[derive(Debug, Default)]
struct Buffers {
    free: Vec<Vec<Block>>,
    out: usize,
}

impl Buffers {
    fn take(&mut self) -> Option<Vec<Block>> {
        self.out += 1;
        self.free.pop()
    }

    /// Returns a buffer; `demand` counts the requested hashes, the returning one included. Only
    /// as many free buffers are kept as there are requests that have none yet: the last hash of a
    /// burst frees them all.
    fn give_back(&mut self, memory: Vec<Block>, demand: usize) {
        self.out -= 1;
        let waiting = demand.saturating_sub(1 + self.out);
        self.free.push(memory);
        self.free.truncate(waiting);
    }
}

/// Counts one requested hash for as long as it lives (cancellation included).
struct Demand(Arc<AtomicUsize>);

impl Demand {
    /// Counts one more requested hash, unless `max` are requested already.
    fn admit(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Self(Arc::clone(count)))
    }
}

impl Drop for Demand {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// argon2 as a [`PasswordHasher`] that works in caller-provided memory, so that the crate's own
/// [`PasswordVerifier`](argon2::password_hash::PasswordVerifier) (parameters from the stored hash,
/// constant-time comparison) runs on it. Hashes whose parameters need more memory than the buffer
/// holds (a stored hash from a costlier configuration) get a fresh allocation, as argon2 does.
struct PooledHasher<'m> {
    memory: RefCell<&'m mut Vec<Block>>,
}

impl PasswordHasher for PooledHasher<'_> {
    type Params = Params;

    /// argon2's own `hash_password_customized`, with `hash_password_into_with_memory` in place of
    /// `hash_password_into`.
    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        alg_id: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = alg_id
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let salt = salt.into();
        let mut salt_buf = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt.decode_b64(&mut salt_buf)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let mut memory = self.memory.borrow_mut();
        let output = Output::init_with(output_len, |out| {
            let hashed = if memory.len() >= params.block_count() {
                argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut ***memory)
            } else {
                argon2.hash_password_into(password, salt_bytes, out)
            };
            Ok(hashed?)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
}

/// Checks the length and email rules: 8..=128 characters and not the email itself.
pub fn password_acceptable(password: &str, normalised_email: &str) -> bool {
    let chars = password.chars().count();
    (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars)
        && password.trim().to_lowercase() != normalised_email
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(password_acceptable("correct horse", "a@b.co"));
        assert!(!password_acceptable("short", "a@b.co"));
        assert!(!password_acceptable(
            &"x".repeat(MAX_PASSWORD_CHARS + 1),
            "a@b.co"
        ));
        assert!(password_acceptable(
            &"é".repeat(MAX_PASSWORD_CHARS),
            "a@b.co"
        ));
        assert!(!password_acceptable("Ada@Example.com", "ada@example.com"));
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let p = PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let pw = Passwords::new(p, 2).await.unwrap();
        let h = pw.hash("hunter22hunter".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(
            pw.verify("hunter22hunter".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!pw.verify("wrong-password".into(), Some(h)).await.unwrap());
        assert!(!pw.verify("anything-at-all".into(), None).await.unwrap());
        assert!(!pw.verify("x".into(), Some("garbage".into())).await.unwrap());
    }

    const SMALL: PasswordParams = PasswordParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    /// The pooled path writes exactly what argon2's own hasher writes for the same salt.
    #[test]
    fn pooled_hash_equals_argon2s() {
        let params = Params::new(1024, 2, 1, None).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let stock = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"hunter22hunter", &salt)
            .unwrap()
            .to_string();
        let mut memory = vec![Block::default(); params.block_count()];
        let pooled = PooledHasher {
            memory: RefCell::new(&mut memory),
        }
        .hash_password_customized(
            b"hunter22hunter",
            Some(Algorithm::Argon2id.ident()),
            Some(Version::V0x13.into()),
            params,
            &salt,
        )
        .unwrap()
        .to_string();
        assert_eq!(pooled, stock);
    }

    /// Hashes stored under other parameters (cheaper, costlier than the buffer, another variant
    /// or version, a longer output) still verify, and only with the right password.
    #[tokio::test]
    async fn other_params_still_verify() {
        let pw = Passwords::new(SMALL, 1).await.unwrap();
        let cases = [
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(512, 1, 1, None),
            ),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(4096, 2, 2, None),
            ),
            (
                Algorithm::Argon2i,
                Version::V0x10,
                Params::new(256, 3, 1, None),
            ),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(1024, 1, 1, Some(64)),
            ),
        ];
        for (algorithm, version, params) in cases {
            let old = Argon2::new(algorithm, version, params.unwrap())
                .hash_password(b"old password here", &SaltString::generate(&mut OsRng))
                .unwrap()
                .to_string();
            assert!(
                pw.verify("old password here".into(), Some(old.clone()))
                    .await
                    .unwrap(),
                "{old}"
            );
            assert!(
                !pw.verify("old password herf".into(), Some(old))
                    .await
                    .unwrap()
            );
        }
        // Nothing waits any more: no buffer is kept.
        assert!(pw.buffers.lock().unwrap().free.is_empty());
    }

    /// Free buffers are kept for waiting hashes only, never more than are waiting.
    #[test]
    fn pool_keeps_buffers_for_waiters_only() {
        let mut pool = Buffers::default();
        assert!(pool.take().is_none());
        assert!(pool.take().is_none());
        // Two running, three more waiting: a returned buffer is kept.
        pool.give_back(new_buffer(8), 5);
        assert_eq!((pool.free.len(), pool.out), (1, 1));
        assert!(pool.take().is_some());
        // Two running, nobody waiting: freed.
        pool.give_back(new_buffer(8), 2);
        assert_eq!((pool.free.len(), pool.out), (0, 1));
        // The last one of the burst.
        pool.give_back(new_buffer(8), 1);
        assert_eq!((pool.free.len(), pool.out), (0, 0));
    }

    /// A buffer from the pool is sized for the configured cost and reserved past glibc's mmap
    /// ceiling.
    #[test]
    fn buffers_are_reserved_for_mmap() {
        let memory = new_buffer(1024);
        assert_eq!(memory.len(), 1024);
        assert!(memory.capacity() * Block::SIZE > 32 * 1024 * 1024);
        let big = new_buffer(40 * 1024);
        assert_eq!(big.len(), 40 * 1024);
    }

    /// Many hashes and verifications at once share a few buffers without mixing them up, and
    /// there are never more buffers than permits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_use_keeps_results_apart() {
        let pw = Passwords::new(SMALL, 3).await.unwrap();
        let mut all = tokio::task::JoinSet::new();
        for i in 0..24 {
            let pw = pw.clone();
            all.spawn(async move {
                let mine = format!("password number {i}");
                let hash = pw.hash(mine.clone()).await.unwrap();
                assert!(pw.verify(mine, Some(hash.clone())).await.unwrap());
                let other = format!("password number {}", i + 1);
                assert!(!pw.verify(other, Some(hash.clone())).await.unwrap());
                hash
            });
        }
        let mut hashes = Vec::new();
        while let Some(hash) = all.join_next().await {
            hashes.push(hash.unwrap());
        }
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), 24);
        let pool = pw.buffers.lock().unwrap();
        assert!(pool.free.is_empty());
        assert_eq!(pool.out, 0);
        assert_eq!(pw.demand.load(Ordering::Acquire), 0);
    }

    /// Hashes run on the named hashing threads, below normal priority, and a hash that panics
    /// is an error for its caller only: the single thread keeps serving the next one.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_on_low_priority_threads_that_survive_a_panic() {
        let pw = Passwords::new(SMALL, 1).await.unwrap();
        let (name, niceness) = pw
            .with_hasher(|_| {
                let tid = rustix::thread::gettid();
                let name = std::thread::current().name().map(str::to_owned);
                (
                    name,
                    rustix::process::getpriority_process(Some(tid)).unwrap(),
                )
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("auth-hash-0"));
        assert!(niceness >= HASHING_NICENESS, "niceness {niceness}");
        let caller = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert!(
            caller < HASHING_NICENESS,
            "the caller's own priority is untouched"
        );

        let failed = pw.with_hasher(|_| -> bool { panic!("boom") }).await;
        assert!(matches!(failed, Err(IdpError::Internal(_))), "{failed:?}");
        let hash = pw.hash("still hashing after a panic".into()).await.unwrap();
        assert!(
            pw.verify("still hashing after a panic".into(), Some(hash))
                .await
                .unwrap()
        );
        let pool = pw.buffers.lock().unwrap();
        assert_eq!(
            (pool.free.len(), pool.out),
            (0, 0),
            "the panic returned its buffer"
        );
        assert_eq!(pw.demand.load(Ordering::Acquire), 0);
    }

    /// Past the queue's bound a hash is refused at once (no wait), and the queue admits again
    /// once it drains.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let pw = Passwords::new(SMALL, 1).await.unwrap().with_max_queued(2);
        // Hold the only permit so that the next hashes wait.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pw = pw.clone();
            tokio::spawn(async move { pw.with_hasher(move |_| hold.recv().ok()).await })
        };
        while pw.demand.load(Ordering::Acquire) < 1 {
            tokio::task::yield_now().await;
        }
        let waiting: Vec<_> = (0..2)
            .map(|i| {
                let pw = pw.clone();
                tokio::spawn(async move { pw.hash(format!("queued password {i}")).await })
            })
            .collect();
        while pw.demand.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        // At once: a wait would only end when the blocker is released below.
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            pw.verify("one too many".into(), None),
        )
        .await
        .expect("refused at once, not queued");
        assert!(matches!(refused, Err(IdpError::Busy)), "{refused:?}");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for w in waiting {
            assert!(w.await.unwrap().unwrap().starts_with("$argon2id$"));
        }
        assert_eq!(pw.demand.load(Ordering::Acquire), 0);
        assert!(!pw.verify("admitted again".into(), None).await.unwrap());
    }
}
