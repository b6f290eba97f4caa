//! A small in-memory sliding-window limiter for failed sign-ins, keyed by (kind, key).
//!
//! State is per process: with several instances each enforces its own limit (documented in
//! `docs/identity-provider.md`). Memory is bounded: expired entries are pruned as the map grows.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a limit is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// A normalised email address.
    Account,
    /// A client address.
    Address,
}

const PRUNE_ABOVE: usize = 10_000;

/// Sliding-window failure counter.
#[derive(Debug)]
pub struct RateLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<(LimitKind, String), VecDeque<Instant>>>,
}

impl RateLimiter {
    /// At most `max_failures` failures per key within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1) as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(LimitKind, String), VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one attempt for the key, unless it has used up its budget: then `Err(retry_after)`
    /// and nothing is counted. Check and count happen under one lock, so a burst of concurrent
    /// attempts cannot all pass a check made before any of them failed; an attempt that turns
    /// out not to be a failure is given back with [`refund`](Self::refund).
    pub fn try_acquire(&self, kind: LimitKind, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let window = self.window;
        let mut map = self.lock();
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let log = map.entry((kind, key.to_owned())).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            log.pop_front();
        }
        if log.len() >= self.max_failures {
            let oldest = log.front().copied().unwrap_or(now);
            return Err((oldest + window).saturating_duration_since(now));
        }
        log.push_back(now);
        Ok(())
    }

    /// Gives back one attempt counted by [`try_acquire`](Self::try_acquire) (it succeeded, or
    /// failed for a reason that is not the caller's, such as the database being down).
    pub fn refund(&self, kind: LimitKind, key: &str) {
        let mut map = self.lock();
        if let Some(log) = map.get_mut(&(kind, key.to_owned())) {
            log.pop_back();
            if log.is_empty() {
                map.remove(&(kind, key.to_owned()));
            }
        }
    }

    /// Forgets a key's failures (after a successful sign-in).
    pub fn reset(&self, kind: LimitKind, key: &str) {
        self.lock().remove(&(kind, key.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_and_recovers() {
        let l = RateLimiter::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(l.try_acquire(LimitKind::Account, "a").is_ok());
        }
        let retry = l.try_acquire(LimitKind::Account, "a").unwrap_err();
        assert!(retry <= Duration::from_millis(200) && retry > Duration::ZERO);
        assert!(
            l.try_acquire(LimitKind::Address, "a").is_ok(),
            "kinds are separate"
        );
        assert!(
            l.try_acquire(LimitKind::Account, "b").is_ok(),
            "keys are separate"
        );
        std::thread::sleep(Duration::from_millis(220));
        assert!(
            l.try_acquire(LimitKind::Account, "a").is_ok(),
            "window slides"
        );
        l.reset(LimitKind::Account, "a");
        assert!(l.try_acquire(LimitKind::Account, "a").is_ok());
    }

    #[test]
    fn refunds_give_attempts_back() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        for _ in 0..5 {
            l.try_acquire(LimitKind::Address, "ip").unwrap();
            l.refund(LimitKind::Address, "ip");
        }
        l.try_acquire(LimitKind::Address, "ip").unwrap();
        l.try_acquire(LimitKind::Address, "ip").unwrap();
        assert!(l.try_acquire(LimitKind::Address, "ip").is_err());
    }

    #[test]
    fn concurrent_attempts_never_exceed_the_budget() {
        let l = std::sync::Arc::new(RateLimiter::new(10, Duration::from_secs(60)));
        let admitted: usize = (0..8)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| l.try_acquire(LimitKind::Account, "victim").is_ok())
                        .count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(admitted, 10);
    }
}
