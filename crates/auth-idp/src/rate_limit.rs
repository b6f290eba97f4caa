//! In-memory rate limits for sign-in failures and sign-ups, keyed on values an attacker does not
//! choose freely, in tables whose size is bounded.
//!
//! **What is limited** ([`Limits`], settings in [`RateLimitConfig`]):
//! - a failed sign-in counts against its (account, client address) pair (default 10 per 15 min),
//!   the account from every address (default 100 per hour: ASVS 4.0.3 2.2.1) and the client
//!   address on every account (default 20 per 15 min: password spraying). A stranger's guesses use
//!   up *their* pair and address, not the owner's pair: the owner, from their own address, is
//!   refused only after the per-account ceiling, which is ten times higher than the pair's budget.
//!   A success gives back its address and account attempts and clears its pair.
//! - a sign-up counts against its client address (default 20 per hour) and against one global
//!   budget (default 1000 per hour), so a flood of sign-ups, from one address or from many, cannot
//!   take every hashing thread from sign-in.
//! - a mailed secret (password reset, verification resend, sign-in code) counts against its
//!   (kind, address) pair ([`MAIL_PER_EMAIL`] per [`MAIL_WINDOW`]) and its client address (the
//!   sign-in `address_max_failures` per `window`), whether the account exists or not: nobody can
//!   flood a mailbox or learn from the limit whether an address is known.
//!
//! Client addresses are grouped (IPv6 by /64, see [`crate::client_ip`]) before they are a key,
//! and every key is a 16-byte digest (SHA-256, truncated) of what it names: a 16 KiB email costs
//! what a short one does.
//!
//! **Counting.** Each key holds a ring of [`SLOTS`] counters, each one `window / (SLOTS - 1)`
//! long; together they always cover at least the last `window`, so a key is never admitted more
//! than its budget within any window (it may be refused up to one slot longer than an exact log
//! would). Check and count happen in one step under the table's shard lock, so a burst of
//! concurrent attempts cannot all pass a check made before any of them was counted; an attempt
//! that turns out not to count (a success, a failure on the server's side) is given back.
//!
//! **Bounded tables.** Each table is a [`quick_cache::sync::Cache`] with a fixed number of
//! entries ([`TABLE_ENTRIES`], about 80 bytes each): sharded locks, O(1) insertion and eviction,
//! no scan of the table, no background thread. It was chosen over `moka` (also bounded and O(1),
//! but with background maintenance and a much larger dependency tree), `governor` (GCRA, but its
//! keyed store grows until the caller scans it with `retain_recent`, and it cannot give back an
//! attempt) and the `lru` crate already in the workspace (one global lock, and plain LRU order
//! lets a flood of one-off keys push out the counters that matter). quick_cache evicts with
//! S3-FIFO: a new key starts in a small probation queue and is evicted from there first unless it
//! is seen again, so a flood of distinct keys (random emails, rotating addresses) churns through
//! the probation queue while the keys under attack, hit again and again, stay counted. Memory
//! stays bounded whatever the flood; what a flood large enough to push out a hot key buys is that
//! key's count, which is why the per-address and global limits sit in front of it.
//!
//! **Where the counts live.** On SQLite (one instance) in this process. On PostgreSQL in the
//! shared database ([`shared`]: one row per key, checked and counted under its row lock), so the
//! instances of a cluster enforce one budget between them, not one each; while that database
//! cannot be reached, each instance counts in its own table.

use crate::client_ip::group;
use crate::config::RateLimitConfig;
use crate::store::{Backend, Store};
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;

mod shared;

/// Counters per key: the ring covers `SLOTS - 1` whole slots of `window / (SLOTS - 1)` plus the
/// current, partial one.
pub(crate) const SLOTS: usize = 16;

/// Entries per table (each ~80 bytes with the table's own overhead: a few MiB per table at most).
pub(crate) const TABLE_ENTRIES: usize = 1 << 16;

/// Mails of one kind to one address within [`MAIL_WINDOW`].
pub(crate) const MAIL_PER_EMAIL: u32 = 5;

/// Provider sign-ins one client address may start per [`MAIL_WINDOW`] (a person needs a few;
/// a script filling the flow table needs many).
pub(crate) const OAUTH_STARTS_PER_ADDRESS: u32 = 60;

/// The window of the per-email mail budget.
pub(crate) const MAIL_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A limit's key: a digest of what it names, fixed-size whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 16]);

impl Key {
    /// The digest of `parts`, each length-prefixed (so `("ab", "c")` and `("a", "bc")` differ).
    fn of(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Self(key)
    }

    fn address(ip: IpAddr) -> Self {
        match group(ip) {
            IpAddr::V4(v4) => Self::of(&[&v4.octets()]),
            IpAddr::V6(v6) => Self::of(&[&v6.octets()]),
        }
    }
}

/// The counters of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    /// The slot the newest count went to (slots are numbered from the Unix epoch).
    newest: u64,
    /// Counts per slot, slot `n` at `n % SLOTS`.
    counts: [u16; SLOTS],
}

impl Window {
    fn empty(slot: u64) -> Self {
        Self {
            newest: slot,
            counts: [0; SLOTS],
        }
    }

    /// Moves the ring forward to `slot`, forgetting the slots that fell out of it.
    fn advance(&mut self, slot: u64) {
        if slot <= self.newest {
            return;
        }
        let gap = (slot - self.newest).min(SLOTS as u64);
        for n in self.newest + 1..=self.newest + gap {
            self.counts[(n % SLOTS as u64) as usize] = 0;
        }
        self.newest = slot;
    }

    fn total(&self) -> u32 {
        self.counts.iter().map(|&c| u32::from(c)).sum()
    }

    /// The oldest slot that still holds a count.
    fn oldest(&self) -> Option<u64> {
        (self.newest.saturating_sub(SLOTS as u64 - 1)..=self.newest)
            .find(|n| self.counts[(n % SLOTS as u64) as usize] > 0)
    }

    /// The check-and-count step, wherever the window is kept: counts one attempt at `now_ms`
    /// and returns its slot, or (counting nothing) how long until the budget admits one.
    fn acquire(&mut self, now_ms: u64, max: u32, slot_ms: u64) -> Result<u64, Duration> {
        self.advance(now_ms / slot_ms);
        if self.total() >= max {
            // Admitted again once the oldest counted slot has left the ring.
            let free_at = self
                .oldest()
                .map_or(now_ms, |o| (o + SLOTS as u64) * slot_ms);
            return Err(Duration::from_millis(free_at.saturating_sub(now_ms).max(1)));
        }
        let at = (self.newest % SLOTS as u64) as usize;
        self.counts[at] = self.counts[at].saturating_add(1);
        Ok(self.newest)
    }

    /// Gives back a count made in `slot`, if that slot is still in the ring.
    fn give_back(&mut self, slot: u64) {
        if slot + (SLOTS as u64) > self.newest {
            let at = (slot % SLOTS as u64) as usize;
            self.counts[at] = self.counts[at].saturating_sub(1);
        }
    }
}

/// A counted attempt, to give back with [`Limiter::refund`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    key: Key,
    slot: u64,
    /// Counted in the shared database (not in this instance's table).
    shared: bool,
}

/// One budget: at most `max` counts per key within `window`, in a bounded table in memory or,
/// for a cluster, in the shared database ([`shared`]).
pub(crate) struct Limiter {
    /// Names the limit in the shared table's keys.
    name: &'static str,
    max: u32,
    slot_ms: u64,
    /// This instance's counters: the only ones on SQLite, the fallback while the shared
    /// database cannot be reached (then each instance counts on its own for a while, which is
    /// still a limit, instead of refusing everyone or nobody).
    table: Cache<Key, Window>,
    shared: Option<Store>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .field("max", &self.max)
            .field("slot_ms", &self.slot_ms)
            .field("keys", &self.table.len())
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch: slots must mean the same on every instance.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Limiter {
    /// At most `max` counts per key within `window`; the table holds at most `entries` keys.
    /// With `shared`, the counts live in that database instead (see [`shared`]).
    fn new(
        name: &'static str,
        max: u32,
        window: Duration,
        entries: usize,
        shared: Option<Store>,
    ) -> Self {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Self {
            name,
            max: max.clamp(1, u32::from(u16::MAX)),
            slot_ms: window_ms.div_ceil(SLOTS as u64 - 1).max(1),
            table: Cache::new(entries.max(64)),
            shared,
        }
    }

    /// Counts one attempt for `key`, unless its budget is used up: then `Err(retry_after)` and
    /// nothing is counted.
    pub(crate) async fn try_acquire(&self, key: Key) -> Result<Ticket, Duration> {
        if let Some(store) = &self.shared {
            let (max, slot_ms) = (self.max, self.slot_ms);
            match store
                .update_window(self, key, |window| {
                    let outcome = window.acquire(now_ms(), max, slot_ms);
                    let changed = outcome.is_ok();
                    (outcome, changed)
                })
                .await
            {
                Ok(outcome) => {
                    return outcome.map(|slot| Ticket {
                        key,
                        slot,
                        shared: true,
                    });
                }
                Err(e) => shared::unavailable(self.name, &e),
            }
        }
        self.acquire_here(key)
    }

    /// [`try_acquire`](Self::try_acquire) in this instance's table.
    fn acquire_here(&self, key: Key) -> Result<Ticket, Duration> {
        let now = now_ms();
        let (max, slot_ms) = (self.max, self.slot_ms);
        let outcome = self.table.entry(&key, None, |_, window| {
            EntryAction::Retain(window.acquire(now, max, slot_ms))
        });
        let slot = match outcome {
            EntryResult::Retained(result) => result?,
            EntryResult::Vacant(guard) => {
                let mut window = Window::empty(now / slot_ms);
                let slot = window.acquire(now, max, slot_ms)?;
                // Err only when the placeholder was removed meanwhile (a `reset`): nothing to keep.
                let _ = guard.insert(window);
                slot
            }
            // Not produced by a callback that always retains, without a timeout.
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => {
                now / slot_ms
            }
        };
        Ok(Ticket {
            key,
            slot,
            shared: false,
        })
    }

    /// Gives back an attempt counted by [`try_acquire`](Self::try_acquire) (if its slot is still
    /// in the ring).
    pub(crate) async fn refund(&self, ticket: Ticket) {
        if ticket.shared
            && let Some(store) = &self.shared
        {
            let given_back = store
                .update_window(self, ticket.key, |window| {
                    window.give_back(ticket.slot);
                    ((), true)
                })
                .await;
            if let Err(e) = given_back {
                shared::unavailable(self.name, &e);
            }
            return;
        }
        let outcome = self
            .table
            .entry(&ticket.key, Some(Duration::ZERO), |_, window| {
                window.give_back(ticket.slot);
                EntryAction::Retain(())
            });
        // A vacant key (evicted meanwhile) gets no entry: the guard is dropped unused.
        drop(outcome);
    }

    /// Forgets a key's counts.
    pub(crate) async fn reset(&self, key: Key) {
        if let Some(store) = &self.shared
            && let Err(e) = store.delete_window(self, key).await
        {
            shared::unavailable(self.name, &e);
        }
        self.table.remove(&key);
    }

    /// How many keys the table holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.len()
    }
}

/// Which limit refused an attempt, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    /// `pair`, `account`, `address` or `global` (the security event's `limit` field).
    pub(crate) limit: &'static str,
    /// Until the limit admits the next attempt.
    pub(crate) retry_after: Duration,
}

impl Refused {
    /// Whole seconds for `Retry-After` (rounded up, at least 1).
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }
}

/// Every limit of the provider.
#[derive(Debug)]
pub(crate) struct Limits {
    pair: Limiter,
    account: Limiter,
    address: Limiter,
    sign_up_address: Limiter,
    sign_up_global: Limiter,
    mail_email: Limiter,
    mail_address: Limiter,
    /// Provider sign-ins started per client address (each writes a flow row).
    oauth_address: Limiter,
}

/// The attempts one sign-in counted. Dropped as is, they stay counted (a failed sign-in); see
/// [`succeeded`](Self::succeeded) and [`refund`](Self::refund).
#[derive(Debug)]
#[must_use = "a sign-in attempt is counted as a failure unless it is settled"]
pub(crate) struct SignInAttempt<'a> {
    limits: &'a Limits,
    pair: Ticket,
    account: Ticket,
    address: Option<Ticket>,
}

impl SignInAttempt<'_> {
    /// The credentials were right: the address and account attempts are given back and the
    /// pair's failures forgotten. (The account's other failures are not: an owner who signs in
    /// now and then must not reset a stranger's budget against the account.)
    pub(crate) async fn succeeded(self) {
        let limits = self.limits;
        if let Some(address) = self.address {
            limits.address.refund(address).await;
        }
        limits.account.refund(self.account).await;
        limits.pair.reset(self.pair.key).await;
    }

    /// The attempt failed on the server's side (database down): nothing is counted.
    pub(crate) async fn refund(self) {
        let limits = self.limits;
        if let Some(address) = self.address {
            limits.address.refund(address).await;
        }
        limits.account.refund(self.account).await;
        limits.pair.refund(self.pair).await;
    }
}

/// The attempts one sign-up counted; [`refund`](Self::refund) gives them back.
#[derive(Debug)]
#[must_use = "a sign-up attempt stays counted unless it is refunded"]
pub(crate) struct SignUpAttempt<'a> {
    limits: &'a Limits,
    address: Option<Ticket>,
    global: Ticket,
}

impl SignUpAttempt<'_> {
    /// The sign-up failed on the server's side (database down, hashing queue full): nothing is
    /// counted.
    pub(crate) async fn refund(self) {
        if let Some(address) = self.address {
            self.limits.sign_up_address.refund(address).await;
        }
        self.limits.sign_up_global.refund(self.global).await;
    }
}

impl Limits {
    /// The limits of `config`, counted in `store` when it is PostgreSQL (shared by every
    /// instance on it), in this process otherwise.
    pub(crate) fn new(config: &RateLimitConfig, store: &Store) -> Self {
        let shared = (store.backend == Backend::Postgres).then(|| store.clone());
        Self::with_entries(config, TABLE_ENTRIES, shared)
    }

    fn with_entries(config: &RateLimitConfig, entries: usize, shared: Option<Store>) -> Self {
        let limiter =
            |name, max, window, entries| Limiter::new(name, max, window, entries, shared.clone());
        Self {
            pair: limiter("pair", config.max_failures, config.window, entries),
            account: limiter(
                "account",
                config.account_max_failures,
                config.account_window,
                entries,
            ),
            address: limiter(
                "address",
                config.address_max_failures,
                config.window,
                entries,
            ),
            sign_up_address: limiter(
                "sign_up_address",
                config.sign_up_per_address,
                config.sign_up_window,
                entries,
            ),
            sign_up_global: limiter(
                "sign_up_global",
                config.sign_up_global,
                config.sign_up_window,
                64,
            ),
            mail_email: limiter("mail_email", MAIL_PER_EMAIL, MAIL_WINDOW, entries),
            mail_address: limiter(
                "mail_address",
                config.address_max_failures,
                config.window,
                entries,
            ),
            oauth_address: limiter(
                "oauth_address",
                OAUTH_STARTS_PER_ADDRESS,
                MAIL_WINDOW,
                entries,
            ),
        }
    }

    /// Counts a sign-in attempt for the normalised `account` from `address` under every limit,
    /// or refuses it (counting nothing) when one is used up. Without an address the pair is the
    /// account alone and there is no per-address limit (one shared "unknown" bucket would let a
    /// single attacker lock everyone out).
    pub(crate) async fn sign_in(
        &self,
        account: &str,
        address: Option<IpAddr>,
    ) -> Result<SignInAttempt<'_>, Refused> {
        let pair_key = match address.map(group) {
            Some(IpAddr::V4(v4)) => Key::of(&[account.as_bytes(), &v4.octets()]),
            Some(IpAddr::V6(v6)) => Key::of(&[account.as_bytes(), &v6.octets()]),
            None => Key::of(&[account.as_bytes()]),
        };
        let account_key = Key::of(&[b"account", account.as_bytes()]);
        let address = match address {
            Some(ip) => Some(
                self.address
                    .try_acquire(Key::address(ip))
                    .await
                    .map_err(|wait| refused("address", wait))?,
            ),
            None => None,
        };
        let account = match self.account.try_acquire(account_key).await {
            Ok(ticket) => ticket,
            Err(wait) => {
                self.give_back(&self.address, address).await;
                return Err(refused("account", wait));
            }
        };
        let pair = match self.pair.try_acquire(pair_key).await {
            Ok(ticket) => ticket,
            Err(wait) => {
                self.give_back(&self.address, address).await;
                self.account.refund(account).await;
                return Err(refused("pair", wait));
            }
        };
        Ok(SignInAttempt {
            limits: self,
            pair,
            account,
            address,
        })
    }

    /// Counts a sign-up from `address` under the per-address and the global budget, or refuses
    /// it (counting nothing).
    pub(crate) async fn sign_up(
        &self,
        address: Option<IpAddr>,
    ) -> Result<SignUpAttempt<'_>, Refused> {
        let address = match address {
            Some(ip) => Some(
                self.sign_up_address
                    .try_acquire(Key::address(ip))
                    .await
                    .map_err(|wait| refused("address", wait))?,
            ),
            None => None,
        };
        match self
            .sign_up_global
            .try_acquire(Key::of(&[b"sign-up"]))
            .await
        {
            Ok(global) => Ok(SignUpAttempt {
                limits: self,
                address,
                global,
            }),
            Err(wait) => {
                self.give_back(&self.sign_up_address, address).await;
                Err(refused("global", wait))
            }
        }
    }
}

impl Limits {
    /// Counts a provider sign-in started from `address`, or refuses it. Without an address
    /// nothing is counted (as for sign-in).
    pub(crate) async fn oauth_start(&self, address: Option<IpAddr>) -> Result<(), Refused> {
        if let Some(ip) = address {
            self.oauth_address
                .try_acquire(Key::address(ip))
                .await
                .map_err(|wait| refused("address", wait))?;
        }
        Ok(())
    }

    /// Counts a mail of `kind` (`password_reset`, `verify_email`, `sign_in_code`) asked for
    /// `email` (normalised) from `address`, or refuses it (counting nothing). Counted whether the
    /// account exists or not, so the answer never tells.
    pub(crate) async fn mail(
        &self,
        kind: &str,
        email: &str,
        address: Option<IpAddr>,
    ) -> Result<(), Refused> {
        let address = match address {
            Some(ip) => Some(
                self.mail_address
                    .try_acquire(Key::address(ip))
                    .await
                    .map_err(|wait| refused("address", wait))?,
            ),
            None => None,
        };
        match self
            .mail_email
            .try_acquire(Key::of(&[b"mail", kind.as_bytes(), email.as_bytes()]))
            .await
        {
            Ok(_) => Ok(()),
            Err(wait) => {
                self.give_back(&self.mail_address, address).await;
                Err(refused("email", wait))
            }
        }
    }
}

impl Limits {
    /// Gives back an attempt of `limiter`'s, if one was counted.
    async fn give_back(&self, limiter: &Limiter, ticket: Option<Ticket>) {
        if let Some(ticket) = ticket {
            limiter.refund(ticket).await;
        }
    }
}

fn refused(limit: &'static str, retry_after: Duration) -> Refused {
    Refused { limit, retry_after }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    fn key(s: &str) -> Key {
        Key::of(&[s.as_bytes()])
    }

    #[tokio::test]
    async fn blocks_after_max_and_recovers() {
        let l = Limiter::new("test", 3, Duration::from_millis(300), 1024, None);
        for _ in 0..3 {
            assert!(l.try_acquire(key("a")).await.is_ok());
        }
        let retry = l.try_acquire(key("a")).await.unwrap_err();
        assert!(
            retry <= Duration::from_millis(300 + 20) && retry > Duration::ZERO,
            "{retry:?}"
        );
        assert!(l.try_acquire(key("b")).await.is_ok(), "keys are separate");
        std::thread::sleep(retry + Duration::from_millis(5));
        assert!(l.try_acquire(key("a")).await.is_ok(), "window slides");
        l.reset(key("a")).await;
        for _ in 0..3 {
            assert!(l.try_acquire(key("a")).await.is_ok(), "reset forgets");
        }
        assert!(l.try_acquire(key("a")).await.is_err());
    }

    /// Never more than the budget within any window, however the attempts are spread.
    #[tokio::test]
    async fn never_admits_more_than_the_budget_within_a_window() {
        let window = Duration::from_millis(150);
        let l = Limiter::new("test", 4, window, 1024, None);
        let start = Instant::now();
        let mut admitted: Vec<Instant> = Vec::new();
        while start.elapsed() < Duration::from_millis(600) {
            if l.try_acquire(key("k")).await.is_ok() {
                admitted.push(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(3));
        }
        assert!(admitted.len() >= 8, "it recovers: {}", admitted.len());
        for (i, t) in admitted.iter().enumerate() {
            let within = admitted[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < window)
                .count();
            assert!(within <= 4, "{within} admitted within one window");
        }
    }

    #[tokio::test]
    async fn refunds_give_attempts_back() {
        let l = Limiter::new("test", 2, Duration::from_secs(60), 1024, None);
        for _ in 0..5 {
            let t = l.try_acquire(key("ip")).await.unwrap();
            l.refund(t).await;
        }
        l.try_acquire(key("ip")).await.unwrap();
        l.try_acquire(key("ip")).await.unwrap();
        assert!(l.try_acquire(key("ip")).await.is_err());
    }

    #[test]
    fn concurrent_attempts_never_exceed_the_budget() {
        let l = Arc::new(Limiter::new(
            "test",
            10,
            Duration::from_secs(60),
            1024,
            None,
        ));
        let admitted: usize = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| l.acquire_here(key("victim")).is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(admitted, 10);
    }

    /// Keys are fixed-size digests: a 16 KiB email is as small as a short one, and parts are
    /// length-prefixed.
    #[test]
    fn keys_are_fixed_size_digests() {
        let long = "a".repeat(16 * 1024);
        assert_eq!(std::mem::size_of_val(&key(&long)), 16);
        assert_ne!(key(&long), key("a"));
        assert_ne!(Key::of(&[b"ab", b"c"]), Key::of(&[b"a", b"bc"]));
    }

    /// A flood of distinct keys keeps the table at its bound, and the key under attack (hit
    /// again and again during the flood) keeps its count.
    #[tokio::test]
    async fn a_flood_of_distinct_keys_stays_bounded_and_keeps_hot_keys() {
        let l = Limiter::new("test", 5, Duration::from_secs(600), 1024, None);
        for _ in 0..4 {
            l.try_acquire(key("victim")).await.unwrap();
        }
        for i in 0..50_000 {
            let _ = l.try_acquire(key(&format!("flood-{i}"))).await;
            if i % 1000 == 0 {
                // The attacker keeps probing the victim: refused, and the probe keeps it hot.
                let _ = l.try_acquire(key("victim")).await;
            }
            assert!(l.len() <= 1024 + 64, "{} keys", l.len());
        }
        assert!(
            l.try_acquire(key("victim")).await.is_err(),
            "the hot key's count survived the flood"
        );
    }

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            max_failures: 3,
            window: Duration::from_secs(60),
            account_max_failures: 7,
            account_window: Duration::from_secs(3600),
            address_max_failures: 5,
            sign_up_per_address: 2,
            sign_up_global: 3,
            sign_up_window: Duration::from_secs(60),
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    /// A stranger's failures use up their own (account, address) pair: the owner, from another
    /// address, still gets in, until the per-account ceiling.
    #[tokio::test]
    async fn a_stranger_cannot_lock_the_owner_out() {
        let limits = Limits::with_entries(&config(), TABLE_ENTRIES, None);
        for _ in 0..3 {
            drop(
                limits
                    .sign_in("owner@x.test", ip("192.0.2.66"))
                    .await
                    .unwrap(),
            );
        }
        let refused = limits
            .sign_in("owner@x.test", ip("192.0.2.66"))
            .await
            .unwrap_err();
        assert_eq!(refused.limit, "pair");
        limits
            .sign_in("owner@x.test", ip("198.51.100.1"))
            .await
            .unwrap()
            .succeeded()
            .await;
        // Strangers from more addresses reach the account ceiling (7 failures in all).
        for i in 0..4 {
            drop(
                limits
                    .sign_in("owner@x.test", ip(&format!("203.0.113.{i}")))
                    .await
                    .unwrap(),
            );
        }
        let refused = limits
            .sign_in("owner@x.test", ip("198.51.100.1"))
            .await
            .unwrap_err();
        assert_eq!(refused.limit, "account");
        assert!(refused.retry_after <= Duration::from_secs(3600 + 240));
    }

    /// Spraying: one address, many accounts: the per-address budget; a success is not counted.
    #[tokio::test]
    async fn the_address_budget_stops_spraying() {
        let limits = Limits::with_entries(&config(), TABLE_ENTRIES, None);
        limits
            .sign_in("me@x.test", ip("192.0.2.1"))
            .await
            .unwrap()
            .succeeded()
            .await;
        for i in 0..5 {
            drop(
                limits
                    .sign_in(&format!("u{i}@x.test"), ip("192.0.2.1"))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(
            limits
                .sign_in("v@x.test", ip("192.0.2.1"))
                .await
                .unwrap_err()
                .limit,
            "address"
        );
        // Refused attempts counted nothing anywhere: another address still has the account.
        drop(limits.sign_in("v@x.test", ip("192.0.2.2")).await.unwrap());
        // A refund gives everything back.
        for _ in 0..10 {
            limits
                .sign_in("w@x.test", ip("192.0.2.3"))
                .await
                .unwrap()
                .refund()
                .await;
        }
    }

    /// IPv6 addresses of one /64 share their budgets; another /64 does not.
    #[tokio::test]
    async fn ipv6_is_grouped_by_64() {
        let limits = Limits::with_entries(&config(), TABLE_ENTRIES, None);
        for i in 0..5 {
            drop(
                limits
                    .sign_in(&format!("u{i}@x.test"), ip(&format!("2001:db8:1:2::{i:x}")))
                    .await
                    .unwrap(),
            );
        }
        let rotated = limits
            .sign_in("z@x.test", ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
            .await;
        assert_eq!(rotated.unwrap_err().limit, "address");
        drop(
            limits
                .sign_in("z@x.test", ip("2001:db8:1:3::1"))
                .await
                .unwrap(),
        );
        // The pair is keyed by the /64 too.
        for _ in 0..3 {
            drop(
                limits
                    .sign_in("p@x.test", ip("2001:db8:9:9::1"))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(
            limits
                .sign_in("p@x.test", ip("2001:db8:9:9::2"))
                .await
                .unwrap_err()
                .limit,
            "pair"
        );
    }

    #[tokio::test]
    async fn sign_ups_per_address_and_global() {
        let limits = Limits::with_entries(&config(), TABLE_ENTRIES, None);
        for _ in 0..2 {
            drop(limits.sign_up(ip("192.0.2.1")).await.unwrap());
        }
        assert_eq!(
            limits.sign_up(ip("192.0.2.1")).await.unwrap_err().limit,
            "address"
        );
        limits
            .sign_up(ip("192.0.2.2"))
            .await
            .unwrap()
            .refund()
            .await;
        drop(limits.sign_up(ip("192.0.2.2")).await.unwrap());
        let refused = limits.sign_up(ip("192.0.2.3")).await.unwrap_err();
        assert_eq!(refused.limit, "global");
        assert!(refused.retry_after_secs() >= 1 && refused.retry_after_secs() <= 64);
        // Without an address only the global budget applies, and it is used up.
        assert_eq!(limits.sign_up(None).await.unwrap_err().limit, "global");
    }

    #[tokio::test]
    async fn mails_per_email_and_address() {
        let limits = Limits::with_entries(&config(), TABLE_ENTRIES, None);
        let address = config().address_max_failures;
        for _ in 0..MAIL_PER_EMAIL {
            limits
                .mail("password_reset", "a@x.test", None)
                .await
                .unwrap();
        }
        assert_eq!(
            limits
                .mail("password_reset", "a@x.test", None)
                .await
                .unwrap_err()
                .limit,
            "email"
        );
        // Another kind, another address: their own budgets.
        limits.mail("sign_in_code", "a@x.test", None).await.unwrap();
        limits
            .mail("password_reset", "b@x.test", None)
            .await
            .unwrap();
        // One client address on many emails: its own budget, given back when the email refuses.
        for n in 0..address {
            limits
                .mail("verify_email", &format!("{n}@y.test"), ip("192.0.2.9"))
                .await
                .unwrap();
        }
        assert_eq!(
            limits
                .mail("verify_email", "new@y.test", ip("192.0.2.9"))
                .await
                .unwrap_err()
                .limit,
            "address"
        );
    }
}
