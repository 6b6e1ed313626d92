//! Browser sessions: server-side, in memory, with idle and absolute expiry.
//!
//! Owns the session table. The browser holds only a random 256-bit id in a cookie (built
//! by `http::guard`, the one place that decides cookies); the table is keyed by the id's
//! SHA-256, and each session carries its own CSRF token, which the page sends back in a
//! header on every state change. A restart signs everyone out (sessions are not
//! journaled: an attendant signs in again with a PIN, and no stolen file can revive a
//! session). Time is passed in, never read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::secrets::{digest, random_hex};
use super::Role;

/// Session lifetimes and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// A session unused this long ends.
    pub idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute: Duration,
    /// Most sessions kept; past that the least recently used ends.
    pub capacity: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
            capacity: 256,
        }
    }
}

/// What a live session says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The user's name.
    pub user: String,
    /// Their role at sign-in.
    pub role: Role,
    /// The session's CSRF token.
    pub csrf: String,
}

#[derive(Debug, Clone)]
struct Session {
    view: SessionView,
    created: Instant,
    last_seen: Instant,
}

/// A new session: the cookie value (shown once) and its CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Goes into the cookie; never stored.
    pub id: String,
    /// Goes to the page; sent back in `X-CSRF-Token`.
    pub csrf: String,
}

/// The session table.
#[derive(Debug, Default)]
pub struct Sessions {
    settings: SessionSettings,
    table: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// An empty table.
    pub fn new(settings: SessionSettings) -> Self {
        Self {
            settings,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The lifetimes in force.
    pub fn settings(&self) -> SessionSettings {
        self.settings
    }

    fn expired(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_seen) >= self.settings.idle
            || now.saturating_duration_since(s.created) >= self.settings.absolute
    }

    /// Starts a session for `user` at `now`.
    pub fn create(&self, user: &str, role: Role, now: Instant) -> NewSession {
        let new = NewSession {
            id: random_hex(),
            csrf: random_hex(),
        };
        if let Ok(mut table) = self.table.lock() {
            if table.len() >= self.settings.capacity {
                table.retain(|_, s| !self.expired(s, now));
            }
            if table.len() >= self.settings.capacity {
                if let Some(oldest) = table
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(k, _)| k.clone())
                {
                    table.remove(&oldest);
                }
            }
            table.insert(
                digest(&new.id),
                Session {
                    view: SessionView {
                        user: user.to_owned(),
                        role,
                        csrf: new.csrf.clone(),
                    },
                    created: now,
                    last_seen: now,
                },
            );
        }
        new
    }

    /// The live session with cookie value `id` at `now` (its idle clock restarts), or
    /// `None` (an expired one is removed).
    pub fn check(&self, id: &str, now: Instant) -> Option<SessionView> {
        let key = digest(id);
        let mut table = self.table.lock().ok()?;
        let session = table.get_mut(&key)?;
        if self.expired(session, now) {
            table.remove(&key);
            return None;
        }
        session.last_seen = now;
        Some(session.view.clone())
    }

    /// True while the session with cookie value `id` lives at `now`. Unlike [`Self::check`]
    /// it leaves the idle clock alone: an open event stream is not the user acting.
    pub fn alive(&self, id: &str, now: Instant) -> bool {
        let key = digest(id);
        self.table
            .lock()
            .ok()
            .and_then(|table| table.get(&key).map(|s| !self.expired(s, now)))
            .unwrap_or(false)
    }

    /// Ends the session with cookie value `id` (sign-out).
    pub fn end(&self, id: &str) {
        if let Ok(mut table) = self.table.lock() {
            table.remove(&digest(id));
        }
    }

    /// Ends every session of `user` (disabled, or their secret reset).
    pub fn end_user(&self, user: &str) {
        if let Ok(mut table) = self.table.lock() {
            table.retain(|_, s| s.view.user != user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(SessionSettings {
            idle: Duration::from_secs(60),
            absolute: Duration::from_secs(600),
            capacity: 2,
        })
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let s = sessions();
        let t0 = Instant::now();
        let new = s.create("7", Role::Attendant, t0);
        let mut t = t0;
        // Kept alive by use every 50 s, until the absolute limit.
        while t + Duration::from_secs(50) < t0 + Duration::from_secs(600) {
            t += Duration::from_secs(50);
            assert!(s.check(&new.id, t).is_some(), "alive at {:?}", t - t0);
        }
        assert!(s.check(&new.id, t0 + Duration::from_secs(600)).is_none());

        let idle = s.create("7", Role::Attendant, t0);
        assert!(s.check(&idle.id, t0 + Duration::from_secs(60)).is_none());
    }

    #[test]
    fn sign_out_and_user_end() {
        let s = sessions();
        let now = Instant::now();
        let a = s.create("7", Role::Attendant, now);
        let view = s.check(&a.id, now).expect("live");
        assert_eq!(view.csrf, a.csrf);
        s.end(&a.id);
        assert!(s.check(&a.id, now).is_none());
        let b = s.create("ana", Role::Manager, now);
        s.end_user("ana");
        assert!(s.check(&b.id, now).is_none());
        assert!(s.check("unknown", now).is_none());
    }

    #[test]
    fn bounded_by_capacity() {
        let s = sessions();
        let now = Instant::now();
        let a = s.create("1", Role::Attendant, now);
        let b = s.create("2", Role::Attendant, now + Duration::from_secs(1));
        let c = s.create("3", Role::Attendant, now + Duration::from_secs(2));
        let later = now + Duration::from_secs(3);
        assert!(s.check(&a.id, later).is_none(), "least recently used ends");
        assert!(s.check(&b.id, later).is_some());
        assert!(s.check(&c.id, later).is_some());
    }
}
