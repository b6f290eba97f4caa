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

    /// `Err(retry_after)` when the key has used up its failures.
    pub fn check(&self, kind: LimitKind, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.lock();
        let Some(log) = map.get_mut(&(kind, key.to_owned())) else {
            return Ok(());
        };
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            log.pop_front();
        }
        if log.len() >= self.max_failures {
            let oldest = log.front().copied().unwrap_or(now);
            return Err((oldest + self.window).saturating_duration_since(now));
        }
        Ok(())
    }

    /// Records one failure.
    pub fn record_failure(&self, kind: LimitKind, key: &str) {
        let now = Instant::now();
        let window = self.window;
        let mut map = self.lock();
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let log = map.entry((kind, key.to_owned())).or_default();
        log.push_back(now);
        while log.len() > self.max_failures {
            log.pop_front();
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
            assert!(l.check(LimitKind::Account, "a").is_ok());
            l.record_failure(LimitKind::Account, "a");
        }
        let retry = l.check(LimitKind::Account, "a").unwrap_err();
        assert!(retry <= Duration::from_millis(200) && retry > Duration::ZERO);
        assert!(
            l.check(LimitKind::Address, "a").is_ok(),
            "kinds are separate"
        );
        assert!(
            l.check(LimitKind::Account, "b").is_ok(),
            "keys are separate"
        );
        std::thread::sleep(Duration::from_millis(220));
        assert!(l.check(LimitKind::Account, "a").is_ok(), "window slides");
        l.record_failure(LimitKind::Account, "a");
        l.reset(LimitKind::Account, "a");
        assert!(l.check(LimitKind::Account, "a").is_ok());
    }
}
