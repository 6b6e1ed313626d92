//! A pump going offline and coming back, as business events in the journal
//! (`pump_offline`, `pump_online`; docs/chain.md).
//!
//! Owns the rule that turns a pump's status transitions into those events and the memory
//! of what was last recorded per position. The debounce is the protocol masters' own
//! offline rule (a pump is offline after `offline_after_misses` consecutive misses, or when
//! its line's port vanishes), so there is one event per transition, never one per missed
//! poll. What was last recorded is loaded from the journal at start: a restart neither
//! repeats an offline event nor invents an online one for a pump never reported offline.
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
/// is offline from the start, not a transition: it is recorded once it answers and then
/// goes silent.
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

/// What was last recorded per position: since when each pump recorded offline has been.
#[derive(Debug, Default)]
pub struct Links {
    offline_since: HashMap<PositionId, Timestamp>,
}

impl Links {
    /// The last recorded state of every position, from the journal.
    pub async fn load(journal: &Journal) -> Result<Links, JournalError> {
        let offline_since = journal
            .last_pump_links()
            .await?
            .into_iter()
            .filter(|e| e.kind == kind::PUMP_OFFLINE)
            .filter_map(|e| Some((e.position?, e.at)))
            .collect();
        Ok(Links { offline_since })
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
}
