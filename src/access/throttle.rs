//! Sign-in throttling: too many failures for one user or from one source, and sign-ins
//! for that key are refused for a while.
//!
//! Owns the failure counts (in memory, bounded; a restart forgets them, which costs an
//! attacker a restart of the daemon they cannot cause). Time is passed in, never read.
//! Keys are opaque text: the caller throttles `user:<name>` and `source:<ip>` apart, so
//! one guesser cannot lock every attendant out from many addresses without tripping the
//! per-source limit first, and a shared counter terminal is not locked out by one user.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many keys are remembered; past that the oldest windows are forgotten first.
const CAPACITY: usize = 4096;

/// Limits of one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimit {
    /// Failures allowed within `window`.
    pub failures: u32,
    /// The window, counted from the first failure; also how long a key stays refused.
    pub window: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
}

/// Failure counts by key.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Throttle {
    /// `Err(wait)` while `key` has used up `limit` at `now`.
    pub fn check(&self, key: &str, limit: ThrottleLimit, now: Instant) -> Result<(), Duration> {
        let Ok(mut entries) = self.entries.lock() else {
            return Ok(());
        };
        match entries.get(key).copied() {
            Some(e) if now.saturating_duration_since(e.since) >= limit.window => {
                entries.remove(key);
                Ok(())
            }
            Some(e) if e.failures >= limit.failures => Err(limit
                .window
                .saturating_sub(now.saturating_duration_since(e.since))),
            _ => Ok(()),
        }
    }

    /// Counts a failure for `key` at `now`.
    pub fn failure(&self, key: &str, limit: ThrottleLimit, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY && !entries.contains_key(key) {
            entries.retain(|_, e| now.saturating_duration_since(e.since) < limit.window);
            if entries.len() >= CAPACITY {
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.since)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            since: now,
        });
        if now.saturating_duration_since(entry.since) >= limit.window {
            *entry = Entry {
                failures: 0,
                since: now,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
    }

    /// Forgets `key`'s failures (after a successful sign-in).
    pub fn success(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: ThrottleLimit = ThrottleLimit {
        failures: 3,
        window: Duration::from_secs(300),
    };

    #[test]
    fn refuses_after_the_limit_until_the_window_passes() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..3 {
            assert!(t.check("user:7", LIMIT, start).is_ok(), "attempt {i}");
            t.failure("user:7", LIMIT, start);
        }
        let wait = t.check("user:7", LIMIT, start + Duration::from_secs(100));
        assert_eq!(wait, Err(Duration::from_secs(200)));
        assert!(
            t.check("user:8", LIMIT, start).is_ok(),
            "other keys are free"
        );
        assert!(t.check("user:7", LIMIT, start + LIMIT.window).is_ok());
    }

    #[test]
    fn success_forgets_failures() {
        let t = Throttle::default();
        let now = Instant::now();
        t.failure("user:7", LIMIT, now);
        t.failure("user:7", LIMIT, now);
        t.success("user:7");
        t.failure("user:7", LIMIT, now);
        t.failure("user:7", LIMIT, now);
        assert!(t.check("user:7", LIMIT, now).is_ok());
    }
}
