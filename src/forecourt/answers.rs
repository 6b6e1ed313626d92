//! The order endpoint's answers, ready before anyone asks.
//!
//! A phone polls the order endpoint while the customer looks at the app, and a busy
//! station is scanned many times a minute, so the answer of every position is rendered
//! when its state changes, not per request: each published [`Snapshot`](super::Snapshot)
//! carries a [`PreparedAnswer`] per position, and a request only picks it.
//!
//! Rendering (the JSON, the order body's settings) belongs to the HTTP layer; this module
//! only fixes the shape through [`AnswerRenderer`], so the actor never depends on HTTP.
//! The one part of an answer that moves with the clock alone, a pump turning silent
//! past its stale limit, is decided at request time from `last_heard`, exactly as before.
//! Lines report who answered four times a second; that instant goes into a [`HeardCell`]
//! shared by every snapshot (one atomic store), so hearing a pump again is not a change
//! that needs a new snapshot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pump_protocols::PositionId;

use super::dispatch::{OrderState, PositionState};
use crate::sale::SaleId;

/// When a position's pump last answered, shared between the actor and every snapshot.
#[derive(Debug)]
pub struct HeardCell {
    origin: Instant,
    /// Nanoseconds after `origin`, plus one; zero while never heard.
    at: AtomicU64,
}

impl HeardCell {
    /// A cell that has heard nothing; instants before `origin` count as `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            at: AtomicU64::new(0),
        }
    }

    /// Records an answer at `at`.
    pub fn set(&self, at: Option<Instant>) {
        let value = at.map_or(0, |at| {
            let nanos = at.saturating_duration_since(self.origin).as_nanos();
            u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
        });
        self.at.store(value, Ordering::Relaxed);
    }

    /// The last answer, if any.
    pub fn get(&self) -> Option<Instant> {
        match self.at.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.origin + Duration::from_nanos(n - 1)),
        }
    }
}

/// One rendered answer: status and JSON body, as they go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderAnswer {
    /// HTTP status code (200 or 400).
    pub status: u16,
    /// The JSON body.
    pub body: Bytes,
    /// The sale offered, on a 200.
    pub sale: Option<SaleId>,
    /// What kind of answer it is (`order` or the error type), for the metrics.
    pub label: &'static str,
}

/// Renders answers; implemented by the order endpoint.
pub trait AnswerRenderer: Send + Sync {
    /// The answer for a position in `state` (never [`OrderState::Timeout`] by silence:
    /// that one is [`AnswerRenderer::silent`]).
    fn render(&self, state: OrderState<'_>) -> OrderAnswer;

    /// The answer for a position whose pump has been silent past its stale limit.
    fn silent(&self) -> OrderAnswer {
        self.render(OrderState::Timeout)
    }

    /// Changes whenever something answers are built from, besides the position itself,
    /// changed (the attendants' loyalty identities): every answer is rendered again.
    fn generation(&self) -> u64 {
        0
    }
}

/// What the order endpoint answers for one position.
#[derive(Debug, Clone)]
pub struct PreparedAnswer {
    /// The answer while the pump is heard.
    pub live: Arc<OrderAnswer>,
    /// The answer once the pump is silent.
    pub silent: Arc<OrderAnswer>,
    /// When the pump last answered (the answer is `silent` until it does).
    pub heard: Arc<HeardCell>,
    /// How long the pump may be silent before `silent` applies.
    pub stale_limit: Duration,
}

impl PreparedAnswer {
    /// The answer at `now`.
    pub fn at(&self, now: Instant) -> &Arc<OrderAnswer> {
        let silent = match self.heard.get() {
            Some(at) => now.saturating_duration_since(at) > self.stale_limit,
            None => true,
        };
        if silent {
            &self.silent
        } else {
            &self.live
        }
    }
}

/// What an answer was rendered from: equal keys give equal answers, because a sale's
/// figures never change once it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKey {
    Timeout,
    InProcess,
    Unavailable,
    Payable(SaleId),
}

fn key(state: OrderState<'_>) -> AnswerKey {
    match state {
        OrderState::Timeout => AnswerKey::Timeout,
        OrderState::InProcess => AnswerKey::InProcess,
        OrderState::Unavailable => AnswerKey::Unavailable,
        OrderState::Payable(sale) => AnswerKey::Payable(sale.id),
    }
}

/// Keeps the rendered answers and renders again only what changed.
pub struct Answers {
    renderer: Arc<dyn AnswerRenderer>,
    silent: Arc<OrderAnswer>,
    rendered: BTreeMap<PositionId, (AnswerKey, Arc<OrderAnswer>)>,
    heard: BTreeMap<PositionId, Arc<HeardCell>>,
    origin: Instant,
    generation: u64,
}

impl Answers {
    /// Answers rendered by `renderer`; instants are kept relative to `origin`.
    pub fn new(renderer: Arc<dyn AnswerRenderer>, origin: Instant) -> Self {
        let silent = Arc::new(renderer.silent());
        Self {
            renderer,
            silent,
            rendered: BTreeMap::new(),
            heard: BTreeMap::new(),
            origin,
            generation: 0,
        }
    }

    /// True when the renderer's inputs changed since the answers were rendered.
    pub fn stale(&self) -> bool {
        self.renderer.generation() != self.generation
    }

    /// The cell of `position`, created on first use.
    pub fn heard(&mut self, position: PositionId) -> &Arc<HeardCell> {
        let origin = self.origin;
        self.heard
            .entry(position)
            .or_insert_with(|| Arc::new(HeardCell::new(origin)))
    }

    /// The prepared answers of every position.
    pub fn prepare(
        &mut self,
        positions: &BTreeMap<PositionId, PositionState>,
    ) -> BTreeMap<PositionId, PreparedAnswer> {
        let generation = self.renderer.generation();
        if generation != self.generation {
            self.rendered.clear();
            self.generation = generation;
        }
        positions
            .iter()
            .map(|(position, state)| {
                let order_state = state.order_state_when_heard();
                let wanted = key(order_state);
                let live = match self.rendered.get(position) {
                    Some((k, answer)) if *k == wanted => answer.clone(),
                    _ => {
                        let answer = Arc::new(self.renderer.render(order_state));
                        self.rendered.insert(*position, (wanted, answer.clone()));
                        answer
                    }
                };
                let heard = self.heard(*position).clone();
                heard.set(state.last_heard);
                let prepared = PreparedAnswer {
                    live,
                    silent: self.silent.clone(),
                    heard,
                    stale_limit: state.setup.stale_limit,
                };
                (*position, prepared)
            })
            .collect()
    }
}

/// True when `current` differs from `published` in more than when pumps were last heard
/// (which [`HeardCell`]s carry). A pump heard for the first time is a change.
pub fn changed(
    published: &BTreeMap<PositionId, PositionState>,
    current: &mut BTreeMap<PositionId, PositionState>,
) -> bool {
    if published.len() != current.len() {
        return true;
    }
    current
        .iter_mut()
        .zip(published)
        .any(|((position, now), (was_position, was))| {
            if position != was_position || now.last_heard.is_some() != was.last_heard.is_some() {
                return true;
            }
            // Compared as if heard at the same instant, without cloning the state.
            let heard = std::mem::replace(&mut now.last_heard, was.last_heard);
            let differs = *now != *was;
            now.last_heard = heard;
            differs
        })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use pump_protocols::PumpStatus;

    use super::*;
    use crate::forecourt::dispatch::tests::{sale, setup};

    /// Renders the decision's name and counts how often it was asked.
    #[derive(Default)]
    struct Names {
        calls: AtomicUsize,
        generation: std::sync::atomic::AtomicU64,
    }

    impl AnswerRenderer for Names {
        fn generation(&self) -> u64 {
            self.generation.load(Ordering::Relaxed)
        }

        fn render(&self, state: OrderState<'_>) -> OrderAnswer {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let (status, name, sale) = match state {
                OrderState::Timeout => (400, "timeout".to_owned(), None),
                OrderState::InProcess => (400, "in_process".to_owned(), None),
                OrderState::Unavailable => (400, "unavailable".to_owned(), None),
                OrderState::Payable(s) => (200, format!("sale {}", s.id), Some(s.id)),
            };
            OrderAnswer {
                status,
                body: Bytes::from(name),
                sale,
                label: if sale.is_some() { "order" } else { "error" },
            }
        }
    }

    fn positions(state: PositionState) -> BTreeMap<PositionId, PositionState> {
        [(state.setup.position, state)].into_iter().collect()
    }

    #[test]
    fn answers_follow_the_state_and_are_rendered_once_per_change() {
        let origin = Instant::now();
        let renderer = Arc::new(Names::default());
        let mut answers = Answers::new(renderer.clone(), origin);
        let mut state = PositionState::new(setup());
        state.pump_status = PumpStatus::Idle;
        state.last_heard = Some(origin);
        let position = state.setup.position;
        let prepared = answers.prepare(&positions(state.clone()));
        let answer = &prepared[&position];
        assert_eq!(answer.at(origin).body, "unavailable");
        assert_eq!(answer.at(origin + Duration::from_secs(4)).body, "timeout");
        let calls = renderer.calls.load(Ordering::Relaxed);
        answers.prepare(&positions(state.clone()));
        assert_eq!(
            renderer.calls.load(Ordering::Relaxed),
            calls,
            "nothing changed"
        );
        state.payable.push(sale(41));
        let prepared = answers.prepare(&positions(state.clone()));
        assert_eq!(prepared[&position].at(origin).body, "sale 41");
        assert_eq!(prepared[&position].at(origin).sale, Some(41));
        assert_eq!(renderer.calls.load(Ordering::Relaxed), calls + 1);
    }

    /// Regression: an answer kept as bytes named the attendant's loyalty identity as it was
    /// when the sale was rendered, even after a manager corrected it.
    #[test]
    fn a_new_renderer_generation_renders_every_answer_again() {
        let origin = Instant::now();
        let renderer = Arc::new(Names::default());
        let mut answers = Answers::new(renderer.clone(), origin);
        let mut state = PositionState::new(setup());
        state.last_heard = Some(origin);
        state.payable.push(sale(41));
        answers.prepare(&positions(state.clone()));
        let calls = renderer.calls.load(Ordering::Relaxed);
        assert!(!answers.stale());
        renderer.generation.fetch_add(1, Ordering::Relaxed);
        assert!(answers.stale(), "the actor publishes again");
        answers.prepare(&positions(state.clone()));
        assert_eq!(renderer.calls.load(Ordering::Relaxed), calls + 1);
        assert!(!answers.stale());
    }

    #[test]
    fn hearing_a_pump_again_keeps_it_live_without_a_new_snapshot() {
        let origin = Instant::now();
        let mut answers = Answers::new(Arc::new(Names::default()), origin);
        let mut state = PositionState::new(setup());
        state.pump_status = PumpStatus::Idle;
        let position = state.setup.position;
        let prepared = answers.prepare(&positions(state.clone()));
        assert_eq!(
            prepared[&position].at(origin).body,
            "timeout",
            "never heard"
        );
        let later = origin + Duration::from_secs(10);
        answers.heard(position).set(Some(later));
        assert_eq!(prepared[&position].at(later).body, "unavailable");
        assert_eq!(
            prepared[&position].at(later + Duration::from_secs(4)).body,
            "timeout"
        );
    }

    #[test]
    fn only_a_change_beyond_last_heard_is_a_change() {
        let origin = Instant::now();
        let mut state = PositionState::new(setup());
        state.last_heard = Some(origin);
        let published = positions(state.clone());
        let mut current = positions(state.clone());
        current
            .values_mut()
            .for_each(|s| s.last_heard = Some(origin + Duration::from_secs(1)));
        assert!(!changed(&published, &mut current));
        assert_eq!(
            current.values().next().and_then(|s| s.last_heard),
            Some(origin + Duration::from_secs(1)),
            "the comparison leaves the state as it was"
        );
        current
            .values_mut()
            .for_each(|s| s.pump_status = PumpStatus::Calling);
        assert!(changed(&published, &mut current));
        let mut never_heard = positions(PositionState::new(setup()));
        assert!(changed(&published, &mut never_heard));
    }
}
