//! A pump going offline and coming back, as business events in the journal
//! (`pump_offline`, `pump_online`; docs/chain.md).
//!
//! Owns the rule that turns a pump's status transitions into those events and the memory
//! of what was last recorded per position. The debounce is the protocol masters' own
//! offline rule (a pump is offline after `offline_after_misses` consecutive misses, or when
//! its line's port vanishes), so there is one event per transition, never one per missed
//! poll. A pump that has not answered since the start has no transition to report (the
//! masters start it offline): it counts as offline once its master has had the time for
//! `offline_after_misses` polls of it (`PositionSetup::never_heard_offline_after`), and is
//! then recorded once like a pump that went silent. What was last recorded is loaded from
//! the journal at start: a restart neither repeats an offline event nor invents an online
//! one for a pump never reported offline.
//!
//! Each event is one `events` row, written with its outbox row in one transaction
//! (`Journal::append_event`). Never here: deciding what a position may do while offline.

use std::collections::HashMap;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use pump_protocols::{PositionId, PumpStatus};
use serde_json::json;

use super::dispatch::PositionState;
use crate::journal::events::kind;
use crate::journal::{Journal, JournalError, NewEvent};

/// A transition worth recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChange {
    /// The pump stopped answering.
    Offline,
    /// The pump answers again after it was recorded offline.
    Online,
}

impl LinkChange {
    /// The journal event kind of the change.
    pub fn kind(self) -> &'static str {
        match self {
            LinkChange::Offline => kind::PUMP_OFFLINE,
            LinkChange::Online => kind::PUMP_ONLINE,
        }
    }
}

/// The journal event of `change` of `state`'s pump at `wall`: where the pump is, when the
/// change happened, and when it last answered (`Offline`) or since when it was offline
/// (`Online`).
fn link_event(
    state: &PositionState,
    change: LinkChange,
    wall: Timestamp,
    last_heard: Option<Timestamp>,
    offline_since: Option<Timestamp>,
) -> NewEvent {
    let mut detail = json!({
        "line": state.setup.line,
        "address": state.setup.address.0,
    });
    let at = wall.to_string();
    let specific = match change {
        LinkChange::Offline => json!({
            "offline_at": at,
            "last_heard_at": last_heard.map(|t| t.to_string()),
        }),
        LinkChange::Online => json!({
            "online_at": at,
            "offline_since": offline_since.map(|t| t.to_string()),
            "offline_for_s": offline_since.map(|t| wall.duration_since(t).as_secs().max(0)),
        }),
    };
    if let (Some(detail), serde_json::Value::Object(specific)) = (detail.as_object_mut(), specific)
    {
        detail.extend(specific);
    }
    NewEvent {
        sale: None,
        position: Some(state.setup.position),
        kind: change.kind().to_owned(),
        detail,
    }
}

/// The rule: `recorded_offline` is what the journal last said about the pump; `was` and
/// `now` its status before and after an event. A pump that never answered since the start
/// is offline from the start, not a transition: [`never_heard_offline`] records it.
pub fn change(recorded_offline: bool, was: PumpStatus, now: PumpStatus) -> Option<LinkChange> {
    let offline = now == PumpStatus::Offline;
    if offline && was != PumpStatus::Offline && !recorded_offline {
        Some(LinkChange::Offline)
    } else if !offline && recorded_offline {
        Some(LinkChange::Online)
    } else {
        None
    }
}

/// The rule for a pump with no transition to report: true when `state`'s pump has not
/// answered since `started`, is not `recorded_offline`, and has been silent at `now` for
/// as long as its master takes to count it offline.
pub fn never_heard_offline(
    state: &PositionState,
    recorded_offline: bool,
    started: Instant,
    now: Instant,
) -> bool {
    !recorded_offline
        && state.last_heard.is_none()
        && state.pump_status == PumpStatus::Offline
        && now.saturating_duration_since(started) >= state.setup.never_heard_offline_after
}

/// What was last recorded per position: since when each pump recorded offline has been.
#[derive(Debug)]
pub struct Links {
    offline_since: HashMap<PositionId, Timestamp>,
    /// When the forecourt started: the silence of a pump never heard counts from here.
    started: Instant,
}

impl Links {
    /// The last recorded state of every position, from the journal, for a forecourt that
    /// starts at `started`.
    pub async fn load(journal: &Journal, started: Instant) -> Result<Links, JournalError> {
        let offline_since = journal
            .last_pump_links()
            .await?
            .into_iter()
            .filter(|e| e.kind == kind::PUMP_OFFLINE)
            .filter_map(|e| Some((e.position?, e.at)))
            .collect();
        Ok(Links {
            offline_since,
            started,
        })
    }

    /// Records every pump of `states` that counts as offline without ever having answered
    /// ([`never_heard_offline`]); `now`/`wall` as for [`observe`](Self::observe).
    pub async fn never_heard<'a>(
        &mut self,
        journal: &Journal,
        states: impl Iterator<Item = &'a PositionState>,
        (now, wall): (Instant, Timestamp),
    ) {
        for state in states {
            let recorded = self.offline_since.contains_key(&state.setup.position);
            if never_heard_offline(state, recorded, self.started, now) {
                self.record(journal, state, LinkChange::Offline, wall, None)
                    .await;
            }
        }
    }

    /// Records the transition of `state` from `was`, if it is one; `last_heard` is when
    /// the pump answered before this event, `now`/`wall` the same instant on the two
    /// clocks. A failed write is logged and forgotten: the next
    /// transition is then judged against what the journal holds, so an `online` never
    /// follows an `offline` that was not written.
    pub async fn observe(
        &mut self,
        journal: &Journal,
        state: &PositionState,
        was: PumpStatus,
        last_heard: Option<Instant>,
        (now, wall): (Instant, Timestamp),
    ) {
        let position = state.setup.position;
        let since = self.offline_since.get(&position).copied();
        let Some(change) = change(since.is_some(), was, state.pump_status) else {
            return;
        };
        let last_heard = last_heard.and_then(|at| {
            let ago = SignedDuration::try_from(now.saturating_duration_since(at)).ok()?;
            wall.checked_sub(ago).ok()
        });
        self.record(journal, state, change, wall, last_heard).await;
    }

    /// Writes the event of `change` and remembers it once written.
    async fn record(
        &mut self,
        journal: &Journal,
        state: &PositionState,
        change: LinkChange,
        wall: Timestamp,
        last_heard: Option<Timestamp>,
    ) {
        let position = state.setup.position;
        let since = self.offline_since.get(&position).copied();
        let event = link_event(state, change, wall, last_heard, since);
        let event_kind = change.kind();
        match journal.append_event(event).await {
            Ok(_) => {
                tracing::warn!(%position, line = %state.setup.line, event = event_kind,
                    "pump link recorded");
                match change {
                    LinkChange::Offline => self.offline_since.insert(position, wall),
                    LinkChange::Online => self.offline_since.remove(&position),
                };
            }
            Err(e) => tracing::error!(%position, event = event_kind, error = %e,
                "could not journal the pump's link change"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use PumpStatus::{Filling, Idle, Offline};

    #[test]
    fn one_event_per_transition_and_none_for_a_pump_never_seen() {
        assert_eq!(change(false, Idle, Offline), Some(LinkChange::Offline));
        assert_eq!(change(false, Filling, Offline), Some(LinkChange::Offline));
        assert_eq!(change(true, Offline, Idle), Some(LinkChange::Online));
        // Already recorded offline (a restart while it was): nothing again.
        assert_eq!(change(true, Idle, Offline), None);
        assert_eq!(change(true, Offline, Offline), None);
        // Offline from the start, or answering as before.
        assert_eq!(change(false, Offline, Offline), None);
        assert_eq!(change(false, Offline, Idle), None);
        assert_eq!(change(false, Idle, Filling), None);
    }

    #[test]
    fn a_pump_never_heard_counts_offline_once_its_master_had_the_time_for_its_misses() {
        let mut state = PositionState::new(crate::forecourt::dispatch::tests::setup());
        let after = state.setup.never_heard_offline_after;
        let started = Instant::now();
        let at = |d: Duration| started + d;
        assert!(!never_heard_offline(&state, false, started, at(after / 2)));
        assert!(never_heard_offline(&state, false, started, at(after)));
        // Recorded already (before a restart, or on an earlier tick): not again.
        assert!(!never_heard_offline(&state, true, started, at(after * 10)));
        // It answered once: going silent is the masters' transition, not this rule.
        state.last_heard = Some(at(Duration::from_millis(10)));
        assert!(!never_heard_offline(&state, false, started, at(after * 10)));
        state.last_heard = None;
        state.pump_status = Idle;
        assert!(!never_heard_offline(&state, false, started, at(after * 10)));
    }
}
