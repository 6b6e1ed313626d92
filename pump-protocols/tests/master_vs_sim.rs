//! The DART master and the DART pump simulator talking to each other in memory, end to
//! end (docs/protocols/dart.md §3.4, §4, §5.5, §5.9, §6, §7).
//!
//! [`Line`] is the serial line between a [`DartMaster`] and a [`DartSimulator`], driven
//! only through the [`LineMaster`] and [`LineSimulator`] traits with a fake clock: one base
//! `Instant`, moved by hand to the earliest deadline of either side or of a byte in
//! flight. Bytes take their time on the wire (9600 8O1) and arrive in pieces of at most
//! [`CHUNK`] bytes, as a USB adapter hands them over. The harness can drop, garble or
//! split the next frame in either direction and put noise on the line between frames;
//! the simulator's own fault switches ([`SimAction`]) spoil its answers. Every test
//! checks what the master reported against what the simulated pump did, never against
//! figures worked out by the same code.

mod support;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use pump_protocols::dart::sim::{DartPumpView, NozzleTotals};
use pump_protocols::dart::{
    decode_master, ControlKind, DartMaster, DartMasterSettings, DartSimulator, DartStatus, Dcc,
    DuplicateRule, Frame, MasterTransaction, SimPumpSetup, SimSettings, TxWrap,
};
use pump_protocols::{
    Authorization, BusAddress, CommandFailure, CompletedTransaction, CompletionReason, Decimals,
    GradeId, LineMaster, LineSimulator, Money, NozzleId, Preset, PumpCommand, PumpEvent,
    PumpEventKind as E, PumpSetup, PumpStatus, SimAction, UnitPrice, Volume,
};
use support::bus::{last_events, Bus};
use support::dart::{channels, DartLine, Tamper, Which};

/// Greece-like head (§5.8): volume and amount 2 decimals, price 3 (1.645 €/L).
const P50: BusAddress = BusAddress(0x50);
/// Volume 3 decimals and amount 0 as in Colombia, price 3 decimals as the Saudi heads.
const P51: BusAddress = BusAddress(0x51);
/// Colombia (§5.8): volume 3 decimals, amount and price 0 (8 123 COP/L).
const P52: BusAddress = BusAddress(0x52);

const N1: NozzleId = NozzleId(1);
const N2: NozzleId = NozzleId(2);
const N3: NozzleId = NozzleId(3);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One pump of the line as both sides are configured: decimals, and per logical nozzle
/// its grade and raw unit price.
struct PumpDef {
    address: BusAddress,
    decimals: Decimals,
    nozzles: &'static [(u8, u16, u64)],
}

const PUMPS: [PumpDef; 3] = [
    PumpDef {
        address: P50,
        decimals: Decimals {
            volume: 2,
            amount: 2,
            price: 3,
        },
        nozzles: &[(1, 95, 1_645), (2, 98, 1_759)],
    },
    PumpDef {
        address: P51,
        decimals: Decimals {
            volume: 3,
            amount: 0,
            price: 3,
        },
        nozzles: &[(1, 93, 812_345), (2, 97, 987_650)],
    },
    PumpDef {
        address: P52,
        decimals: Decimals {
            volume: 3,
            amount: 0,
            price: 0,
        },
        nozzles: &[(1, 1, 8_123), (2, 2, 9_350), (3, 3, 10_450)],
    },
];

fn def(pump: BusAddress) -> &'static PumpDef {
    PUMPS
        .iter()
        .find(|d| d.address == pump)
        .expect("one of the line's pumps")
}

fn decimals(pump: BusAddress) -> Decimals {
    def(pump).decimals
}

fn grade(pump: BusAddress, nozzle: NozzleId) -> GradeId {
    let (_, grade, _) = def(pump)
        .nozzles
        .iter()
        .find(|(n, _, _)| *n == nozzle.0)
        .expect("a configured nozzle");
    GradeId(*grade)
}

/// The prices the station programs: the configured ones.
fn prices(pump: BusAddress) -> Vec<(NozzleId, UnitPrice)> {
    let d = def(pump);
    d.nozzles
        .iter()
        .map(|&(n, _, raw)| (NozzleId(n), UnitPrice::from_raw(raw, d.decimals.price)))
        .collect()
}

fn master_setup() -> Vec<PumpSetup> {
    PUMPS
        .iter()
        .map(|d| PumpSetup {
            address: d.address,
            decimals: d.decimals,
            nozzles: d
                .nozzles
                .iter()
                .map(|&(n, g, _)| (NozzleId(n), GradeId(g)))
                .collect(),
        })
        .collect()
}

fn sim_setup() -> Vec<SimPumpSetup> {
    PUMPS
        .iter()
        .map(|d| SimPumpSetup::new(d.address, d.decimals, prices(d.address)))
        .collect()
}

fn volume(pump: BusAddress, raw: u64) -> Volume {
    Volume::from_raw(raw, decimals(pump).volume)
}

fn money(pump: BusAddress, raw: u64) -> Money {
    Money::from_raw(raw, decimals(pump).amount)
}

fn raw_volume(pump: BusAddress, v: Volume) -> u64 {
    v.to_raw(decimals(pump).volume, 8).expect("a pump volume")
}

fn preset_amount(pump: BusAddress, raw: u64) -> Option<Preset> {
    Some(Preset::Amount(money(pump, raw)))
}

fn preset_volume(pump: BusAddress, raw: u64) -> Option<Preset> {
    Some(Preset::Volume(volume(pump, raw)))
}

fn authorize(preset: Option<Preset>) -> PumpCommand {
    PumpCommand::Authorize(Authorization {
        preset,
        nozzles: vec![],
    })
}

// ---------------------------------------------------------------------------------------
// Reading the events

fn of(events: &[PumpEvent], pump: BusAddress) -> impl Iterator<Item = &E> {
    events
        .iter()
        .filter(move |e| e.pump == pump)
        .map(|e| &e.kind)
}

fn statuses(events: &[PumpEvent], pump: BusAddress) -> Vec<PumpStatus> {
    of(events, pump)
        .filter_map(|k| match k {
            E::StatusChanged(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn last_status(events: &[PumpEvent], pump: BusAddress) -> Option<PumpStatus> {
    statuses(events, pump).last().copied()
}

fn completions(events: &[PumpEvent], pump: BusAddress) -> Vec<CompletedTransaction> {
    of(events, pump)
        .filter_map(|k| match k {
            E::TransactionCompleted(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn fillings(events: &[PumpEvent], pump: BusAddress) -> Vec<(Volume, Money)> {
    of(events, pump)
        .filter_map(|k| match k {
            E::Filling {
                volume: Some(volume),
                amount,
            } => Some((*volume, *amount)),
            _ => None,
        })
        .collect()
}

fn failures(events: &[PumpEvent], pump: BusAddress) -> Vec<(PumpCommand, CommandFailure)> {
    of(events, pump)
        .filter_map(|k| match k {
            E::CommandFailed { command, failure } => Some((command.clone(), failure.clone())),
            _ => None,
        })
        .collect()
}

/// How each AUTHORIZE submitted to `pump` ended, in event order: `Ok(None)` accepted,
/// `Ok(Some(NotApplied))` accepted earlier and then found not applied, `Err(failure)`
/// never accepted.
fn authorize_outcomes(
    events: &[PumpEvent],
    pump: BusAddress,
) -> Vec<Result<Option<CommandFailure>, CommandFailure>> {
    of(events, pump)
        .filter_map(|k| match k {
            E::CommandAccepted {
                command: PumpCommand::Authorize(_),
            } => Some(Ok(None)),
            E::CommandFailed {
                command: PumpCommand::Authorize(_),
                failure: CommandFailure::NotApplied,
            } => Some(Ok(Some(CommandFailure::NotApplied))),
            E::CommandFailed {
                command: PumpCommand::Authorize(_),
                failure,
            } => Some(Err(failure.clone())),
            _ => None,
        })
        .collect()
}

/// Every AUTHORIZE submitted ends in exactly one `CommandAccepted` or `CommandFailed`;
/// `NotApplied` only ever follows an acceptance it has not already followed.
#[track_caller]
fn check_authorize_outcomes(events: &[PumpEvent], pump: BusAddress, submitted: usize) {
    let outcomes = authorize_outcomes(events, pump);
    let ended = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(None) | Err(_)))
        .count();
    assert_eq!(ended, submitted, "{pump}: {outcomes:?}");
    let mut open = 0usize;
    for outcome in &outcomes {
        match outcome {
            Ok(None) => open += 1,
            Ok(Some(_)) => {
                assert!(
                    open > 0,
                    "{pump}: NotApplied with no acceptance: {outcomes:?}"
                );
                open -= 1;
            }
            Err(_) => {}
        }
    }
}

/// Run condition: the master last reported `status` for `pump`.
fn reports(
    pump: BusAddress,
    status: PumpStatus,
) -> impl FnMut(&[PumpEvent], &DartSimulator) -> bool {
    move |events, _| last_status(events, pump) == Some(status)
}

/// Run condition: the simulated pump is in `status`.
fn pump_is(
    pump: BusAddress,
    status: DartStatus,
) -> impl FnMut(&[PumpEvent], &DartSimulator) -> bool {
    move |_, sim| sim.pump(pump).is_some_and(|v| v.status == status)
}

/// Run condition: the master reported at least `n` completions for `pump`.
fn completed(pump: BusAddress, n: usize) -> impl FnMut(&[PumpEvent], &DartSimulator) -> bool {
    move |events, _| completions(events, pump).len() >= n
}

// ---------------------------------------------------------------------------------------
// The line

/// The master and the line of simulated pumps of these tests.
type Line = DartLine;

impl Line {
    fn new(master: DartMasterSettings, sim: SimSettings) -> Self {
        let start = Instant::now();
        Bus::wire(
            DartMaster::new(master, master_setup()).expect("valid master setup"),
            DartSimulator::new(sim_setup(), sim).expect("valid simulator setup"),
            start,
            channels(start, master),
            Line::report,
        )
    }

    /// The default master against pumps with the default settings but `rule`.
    fn standard(rule: DuplicateRule) -> Self {
        Self::new(
            DartMasterSettings::default(),
            SimSettings {
                duplicate_rule: rule,
                ..SimSettings::default()
            },
        )
    }

    fn view(&self, pump: BusAddress) -> DartPumpView {
        self.sim.pump(pump).expect("a simulated pump")
    }

    /// Noise on the line now, between frames (after whatever is going out).
    fn inject(&mut self, to_pumps: bool, bytes: &[u8]) {
        let channel = if to_pumps {
            &mut self.to_pumps
        } else {
            &mut self.to_master
        };
        channel.transmit(bytes, self.now, &[], Duration::ZERO);
    }

    fn tamper(&mut self, to_pumps: bool, which: Which, tamper: Tamper) {
        let channel = if to_pumps {
            &mut self.to_pumps
        } else {
            &mut self.to_master
        };
        channel.tampers.push_back((which, tamper));
    }

    /// What the line looks like, for failure messages.
    fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "master stats: {:?}", self.master.stats());
        for d in &PUMPS {
            let v = self.view(d.address);
            let _ = writeln!(
                out,
                "pump {}: master says {:?} (online {:?}, queued {:?}); sim {:?} nozzle {:?} \
                 {} / {} tx_out {} awaiting {:?} queued {}",
                d.address,
                self.master.status(d.address),
                self.master.is_online(d.address),
                self.master.queued(d.address),
                v.status,
                v.nozzle_out,
                v.volume,
                v.amount,
                v.tx_out,
                v.awaiting_ack,
                v.queued,
            );
        }
        let _ = writeln!(out, "last events:");
        out.push_str(&last_events(&self.events, self.start, 40));
        out
    }

    /// Power-up to ready: every pump reports NOT PROGRAMMED, takes its prices (→ FILLING
    /// COMPLETED), and is reset (→ RESET, idle).
    fn program_all(&mut self) {
        self.run_until(secs(5), |events, _| {
            PUMPS
                .iter()
                .all(|d| last_status(events, d.address) == Some(PumpStatus::NotProgrammed))
        });
        for d in &PUMPS {
            self.submit(d.address, PumpCommand::SetPrices(prices(d.address)));
        }
        self.run_until(secs(5), |events, _| {
            PUMPS
                .iter()
                .all(|d| last_status(events, d.address) == Some(PumpStatus::Completed))
        });
        for d in &PUMPS {
            self.submit(d.address, PumpCommand::Reset);
        }
        self.run_until(secs(5), |events, _| {
            PUMPS
                .iter()
                .all(|d| last_status(events, d.address) == Some(PumpStatus::Idle))
        });
    }

    /// The daemon dies and starts again: a new master with no memory of the old one, and
    /// whatever was on the wire lost with the old process.
    fn restart_master(&mut self) {
        let settings = *self.master.settings();
        self.master = DartMaster::new(settings, master_setup()).expect("valid master setup");
        self.to_pumps.in_flight.clear();
        self.to_master.in_flight.clear();
    }

    /// The USB adapter is unplugged for `gap` and plugged back: the same master is told
    /// the link was lost.
    fn reconnect(&mut self, gap: Duration) {
        self.to_pumps.set_cut(true);
        self.to_master.set_cut(true);
        let now = self.now;
        self.master.link_lost(now);
        self.run_for(gap);
        self.to_pumps.set_cut(false);
        self.to_master.set_cut(false);
    }

    /// Runs until the master reports every pump idle in events after `mark`.
    #[track_caller]
    fn until_all_idle_since(&mut self, mark: usize, max: Duration) {
        self.run_until(max, |events, _| {
            PUMPS.iter().all(|d| {
                last_status(&events[mark.min(events.len())..], d.address) == Some(PumpStatus::Idle)
            })
        });
    }

    /// Takes every fault switch and pending tampering off the line.
    fn clear_faults(&mut self) {
        for d in &PUMPS {
            for action in [
                SimAction::DropAnswers(0),
                SimAction::CorruptAnswers(0),
                SimAction::AnswerLate(0),
            ] {
                self.act(d.address, action);
            }
        }
        self.to_pumps.tampers.clear();
        self.to_master.tampers.clear();
    }

    /// TX#s of the data blocks written to (`to_pumps`) or by `pump`, resends included.
    fn data_txs(&self, to_pumps: bool, pump: BusAddress) -> Vec<u8> {
        let channel = if to_pumps {
            &self.to_pumps
        } else {
            &self.to_master
        };
        channel
            .frames
            .iter()
            .filter_map(|(_, f)| match f {
                Frame::Data { address, tx, .. } if *address == pump => Some(*tx),
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Checks against the simulator

/// The completion the master must have reported: the simulated pump's own figures.
fn expected(
    line: &Line,
    pump: BusAddress,
    nozzle: NozzleId,
    reason: CompletionReason,
) -> CompletedTransaction {
    let v = line.view(pump);
    let prices = v.prices.expect("a programmed pump");
    CompletedTransaction {
        nozzle,
        grade: Some(grade(pump, nozzle)),
        volume: v.volume,
        amount: v.amount,
        unit_price: UnitPrice::from_raw(prices[usize::from(nozzle.0) - 1].into(), v.decimals.price),
        reason,
    }
}

/// §5.8/§5.9 on a completion's figures: amount = volume × price rounded half-up, except an
/// amount preset, which stops at the first volume reaching it and shows the preset.
#[track_caller]
fn check_amount_rule(pump: BusAddress, c: &CompletedTransaction, preset: Option<Preset>) {
    let d = decimals(pump);
    let charged = c.unit_price.amount_for(c.volume, d.amount);
    match preset {
        Some(Preset::Amount(target)) => {
            assert_eq!(c.amount, target, "an amount preset shows the preset");
            assert!(charged >= target, "stopped before the preset: {c:?}");
            let before = volume(pump, raw_volume(pump, c.volume) - 1);
            assert!(
                c.unit_price.amount_for(before, d.amount) < target,
                "ran past the first volume reaching the preset: {c:?}"
            );
        }
        Some(Preset::Volume(target)) => {
            assert_eq!(c.volume, target, "a volume preset stops at the preset");
            assert_eq!(c.amount, charged);
        }
        None => assert_eq!(c.amount, charged),
    }
}

/// Running figures only grow, and each is volume × price (the last may show an amount
/// preset instead).
#[track_caller]
fn check_running_figures(pump: BusAddress, running: &[(Volume, Money)], price: UnitPrice) {
    let d = decimals(pump);
    for pair in running.windows(2) {
        assert!(pair[0].0 < pair[1].0, "running volume went back: {pair:?}");
    }
    let n = running.len();
    for (i, (v, a)) in running.iter().enumerate() {
        if i + 1 < n {
            assert_eq!(*a, price.amount_for(*v, d.amount), "running amount at {v}");
        }
    }
}

/// The one completion of `pump` since `mark`, checked against the simulator and the rules.
#[track_caller]
fn the_completion(
    line: &Line,
    mark: usize,
    pump: BusAddress,
    nozzle: NozzleId,
    reason: CompletionReason,
    preset: Option<Preset>,
) -> CompletedTransaction {
    let all = completions(&line.events[mark..], pump);
    assert_eq!(all.len(), 1, "exactly one completion\n{}", line.report());
    let not_applied: Vec<_> = failures(&line.events[mark..], pump)
        .into_iter()
        .filter(|(_, failure)| *failure == CommandFailure::NotApplied)
        .collect();
    assert!(
        not_applied.is_empty(),
        "commands the pump applied reported not applied: {not_applied:?}\n{}",
        line.report()
    );
    let c = all[0];
    assert_eq!(c, expected(line, pump, nozzle, reason), "{}", line.report());
    check_amount_rule(pump, &c, preset);
    c
}

// ---------------------------------------------------------------------------------------
// Conversations

/// Makes each named conversation `fn name(rule: DuplicateRule)` two tests, `name::strict`
/// and `name::tx0_restarts`: the master must hold a conversation with pumps of either
/// duplicate rule (§3.4).
macro_rules! with_both_rules {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::DuplicateRule;

                #[test]
                fn strict() {
                    super::$name(DuplicateRule::Strict);
                }

                #[test]
                fn tx0_restarts() {
                    super::$name(DuplicateRule::Tx0Restarts);
                }
            }
        )*
    };
}

with_both_rules!(
    power_up_prices_calling_and_an_amount_preset_dispatch_completes_once,
    volume_preset_on_a_three_decimal_price_zero_decimal_amount_pump,
    no_preset_then_hang_up_mid_filling,
    stop_mid_filling_completes_with_what_was_dispensed,
    suspend_and_resume_keep_one_dispatch,
    answers_dropped_and_corrupted_during_filling,
    regression_lost_acks_of_the_end_of_sale_request_lose_the_sale,
    silent_pump_goes_offline_and_its_sale_is_reported_once_on_return,
    link_lost_then_recovered_mid_filling,
    power_reset_mid_dispatch_reports_the_figures_once_with_an_alarm,
    power_reset_at_any_moment_of_a_dispatch_is_one_completion,
    regression_power_reset_with_f_to_0_wrap_loses_no_sale,
    a_sale_reported_before_a_silence_is_offered_again_by_the_next_session,
    garbage_between_frames_costs_nothing,
    frames_split_garbled_and_lost_in_both_directions,
    two_commands_for_one_pump_and_commands_for_two_pumps_at_once,
    tx_numbers_wrap_past_sixteen_blocks_with_either_setting,
    a_long_run_of_dispatches_on_two_pumps_sums_to_the_totals,
    regression_strict_pump_offline_after_two_master_restarts,
    regression_strict_pump_offline_after_two_reconnects,
    every_authorize_ends_accepted_or_failed_exactly_once,
);

fn power_up_prices_calling_and_an_amount_preset_dispatch_completes_once(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| last_status(events, d.address) == Some(PumpStatus::NotProgrammed))
    });
    for d in &PUMPS {
        assert_eq!(line.view(d.address).status, DartStatus::NotProgrammed);
        assert_eq!(line.view(d.address).prices, None);
        assert_eq!(line.master.is_online(d.address), Some(true));
    }

    for d in &PUMPS {
        line.submit(d.address, PumpCommand::SetPrices(prices(d.address)));
    }
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| last_status(events, d.address) == Some(PumpStatus::Completed))
    });
    for d in &PUMPS {
        let raw: Vec<u32> = d.nozzles.iter().map(|&(_, _, p)| p as u32).collect();
        assert_eq!(line.view(d.address).prices, Some(raw));
        // Prices arriving is no sale (§5.5 NOT PROGRAMMED → FILLING COMPLETED).
        assert!(completions(&line.events, d.address).is_empty());
    }
    for d in &PUMPS {
        line.submit(d.address, PumpCommand::Reset);
    }
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| last_status(events, d.address) == Some(PumpStatus::Idle))
    });

    // A customer lifts nozzle 2 before anyone authorized: calling.
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N2));
    line.run_until(secs(1), reports(P50, PumpStatus::Calling));
    let up: Vec<&E> = of(&line.events[mark..], P50).collect();
    assert!(
        up.contains(&&E::NozzleUp {
            nozzle: N2,
            grade: Some(GradeId(98)),
            unit_price: Some(UnitPrice::from_raw(1_759, 3)),
        }),
        "{up:?}"
    );

    // 10.00 at 1.759: 5.68 L cost 9.99, 5.69 L cost 10.01; the pump stops at 5.69 and shows 10.00.
    let preset = preset_amount(P50, 1_000);
    line.submit(P50, authorize(preset));
    line.run_until(secs(2), reports(P50, PumpStatus::Filling));
    line.run_until(secs(30), completed(P50, 1));
    assert_eq!(line.view(P50).status, DartStatus::MaxReached);
    let c = the_completion(
        &line,
        mark,
        P50,
        N2,
        CompletionReason::PresetReached,
        preset,
    );
    assert_eq!((c.volume, c.amount), (volume(P50, 569), money(P50, 1_000)));
    let running = fillings(&line.events[mark..], P50);
    assert!(
        running.len() >= 10,
        "running figures while filling: {running:?}"
    );
    check_running_figures(P50, &running, c.unit_price);
    assert_eq!(
        statuses(&line.events, P50),
        [
            PumpStatus::NotProgrammed,
            PumpStatus::Completed,
            PumpStatus::Idle,
            PumpStatus::Calling,
            PumpStatus::Authorized,
            PumpStatus::Filling,
            PumpStatus::Completed,
        ]
    );

    // Hanging up after the preset is the same sale (6 → 5), not another one.
    line.act(P50, SimAction::HangNozzle);
    line.run_for(secs(2));
    assert_eq!(line.view(P50).status, DartStatus::FillingCompleted);
    assert_eq!(completions(&line.events[mark..], P50).len(), 1);
    assert!(of(&line.events[mark..], P50).any(|k| *k == E::NozzleDown { nozzle: N2 }));

    // The electronic totals of nozzle 2 are that one dispatch.
    let mark_totals = line.events.len();
    line.submit(P50, PumpCommand::ReadTotals(N2));
    line.run_until(secs(2), |events, _| {
        of(&events[mark_totals..], P50).any(|k| matches!(k, E::Totals(_)))
    });
    let totals: Vec<&E> = of(&line.events[mark_totals..], P50)
        .filter(|k| matches!(k, E::Totals(_)))
        .collect();
    let E::Totals(t) = totals[0] else {
        unreachable!()
    };
    assert_eq!(t.nozzle, N2);
    assert_eq!(t.grade, Some(GradeId(98)));
    assert_eq!(t.volume, Some(c.volume));
    assert_eq!(t.amount, Some(c.amount));
    assert_eq!(t.fillings, Some(1));
    assert_eq!(totals.len(), 1, "one ReadTotals, one Totals");
    let sim_totals = line.view(P50).totals;
    assert_eq!(
        sim_totals,
        vec![
            (N1, NozzleTotals::default()),
            (
                N2,
                NozzleTotals {
                    volume: 569,
                    amount: 1_000,
                    fillings: 1
                }
            ),
        ]
    );
    assert_eq!(
        line.master.stats().timeouts,
        0,
        "a clean line misses nothing"
    );
    assert_eq!(line.master.stats().bad_blocks, 0);
}

fn volume_preset_on_a_three_decimal_price_zero_decimal_amount_pump(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    // Authorized before the nozzle is out (§5.3: AUTHORIZE may come first).
    let preset = preset_volume(P51, 2_500);
    line.submit(P51, authorize(preset));
    line.run_until(secs(2), reports(P51, PumpStatus::Authorized));
    line.act(P51, SimAction::LiftNozzle(N1));
    line.run_until(secs(2), reports(P51, PumpStatus::Filling));
    line.run_until(secs(30), completed(P51, 1));
    let c = the_completion(
        &line,
        mark,
        P51,
        N1,
        CompletionReason::PresetReached,
        preset,
    );
    // 2.500 L × 812.345 = 2030.8625 → 2031.
    assert_eq!(
        (c.volume, c.amount),
        (volume(P51, 2_500), money(P51, 2_031))
    );
    assert_eq!(c.unit_price, UnitPrice::from_raw(812_345, 3));
    check_running_figures(P51, &fillings(&line.events[mark..], P51), c.unit_price);
    // The others were left alone.
    assert!(completions(&line.events, P50).is_empty());
    assert!(completions(&line.events, P52).is_empty());
}

fn no_preset_then_hang_up_mid_filling(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P52, SimAction::LiftNozzle(N3));
    line.run_until(secs(1), reports(P52, PumpStatus::Calling));
    line.submit(P52, authorize(None));
    line.run_until(secs(2), reports(P52, PumpStatus::Filling));
    line.run_until(secs(20), |_, sim| {
        sim.pump(P52).is_some_and(|v| v.volume_raw >= 1_234)
    });
    line.act(P52, SimAction::HangNozzle);
    line.run_until(secs(3), completed(P52, 1));
    let c = the_completion(&line, mark, P52, N3, CompletionReason::Normal, None);
    assert!(raw_volume(P52, c.volume) >= 1_234);
    assert_eq!(c.unit_price, UnitPrice::from_raw(10_450, 0));
    assert_eq!(line.view(P52).status, DartStatus::FillingCompleted);
    assert_eq!(last_status(&line.events, P52), Some(PumpStatus::Completed));
    line.run_for(secs(2));
    assert_eq!(completions(&line.events[mark..], P52).len(), 1);
}

fn stop_mid_filling_completes_with_what_was_dispensed(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N1));
    let preset = preset_amount(P50, 5_000);
    line.submit(P50, authorize(preset));
    line.run_until(secs(2), reports(P50, PumpStatus::Filling));
    line.run_for(secs(3));
    line.submit(P50, PumpCommand::Stop);
    line.run_until(secs(2), completed(P50, 1));
    let c = the_completion(&line, mark, P50, N1, CompletionReason::Normal, None);
    assert!(c.amount < money(P50, 5_000) && !c.volume.is_zero(), "{c:?}");
    assert_eq!(line.view(P50).status, DartStatus::FillingCompleted);
    // The nozzle going back later is no second sale.
    line.act(P50, SimAction::HangNozzle);
    line.run_for(secs(2));
    assert_eq!(completions(&line.events[mark..], P50).len(), 1);
}

fn suspend_and_resume_keep_one_dispatch(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P52, SimAction::LiftNozzle(N1));
    // 20 000 at 8 123: 2.462 L cost 19 999, 2.463 L 20 007; the pump shows 20 000.
    let preset = preset_amount(P52, 20_000);
    line.submit(P52, authorize(preset));
    line.run_until(secs(2), reports(P52, PumpStatus::Filling));
    line.run_for(secs(1));
    line.submit(P52, PumpCommand::Suspend);
    line.run_until(secs(2), reports(P52, PumpStatus::Suspended));
    let held = line.view(P52).volume_raw;
    assert!(held > 0 && held < 2_463);
    line.run_for(secs(3));
    assert_eq!(
        line.view(P52).volume_raw,
        held,
        "no fuel flows while suspended"
    );
    assert!(completions(&line.events, P52).is_empty());
    line.submit(P52, PumpCommand::Resume);
    line.run_until(secs(2), reports(P52, PumpStatus::Filling));
    line.run_until(secs(20), completed(P52, 1));
    let c = the_completion(
        &line,
        mark,
        P52,
        N1,
        CompletionReason::PresetReached,
        preset,
    );
    assert_eq!(
        (c.volume, c.amount),
        (volume(P52, 2_463), money(P52, 20_000))
    );
    let seen = statuses(&line.events[mark..], P52);
    assert_eq!(
        seen,
        [
            PumpStatus::Calling,
            PumpStatus::Authorized,
            PumpStatus::Filling,
            PumpStatus::Suspended,
            PumpStatus::Filling,
            PumpStatus::Completed
        ]
    );
}

fn answers_dropped_and_corrupted_during_filling(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N1));
    let preset = preset_volume(P50, 600);
    line.submit(P50, authorize(preset));
    line.run_until(secs(2), reports(P50, PumpStatus::Filling));
    line.run_for(ms(700));
    line.act(P50, SimAction::DropAnswers(3));
    line.run_for(secs(2));
    line.act(P50, SimAction::CorruptAnswers(3));
    line.run_for(secs(2));
    // Both again, back to back, as the preset is reached.
    line.run_until(secs(20), pump_is(P50, DartStatus::MaxReached));
    line.act(P50, SimAction::DropAnswers(2));
    line.run_for(ms(150));
    line.act(P50, SimAction::CorruptAnswers(2));
    line.run_until(secs(10), completed(P50, 1));
    line.run_for(secs(3));
    let c = the_completion(
        &line,
        mark,
        P50,
        N1,
        CompletionReason::PresetReached,
        preset,
    );
    assert_eq!((c.volume, c.amount), (volume(P50, 600), money(P50, 987)));
    let stats = line.master.stats();
    // 3 + 2 answers dropped, each an exchange without an answer.
    assert!(stats.timeouts >= 5, "answers were dropped: {stats:?}");
    assert!(
        stats.bad_blocks >= 1,
        "a corrupted data block was NAKed: {stats:?}"
    );
    // The neutral counters the daemon's metrics read agree with the master's own.
    let counters = line.master.counters();
    assert_eq!(counters.timeouts, stats.timeouts, "{counters:?}");
    assert_eq!(counters.crc_errors, stats.bad_blocks, "{counters:?}");
    assert!(counters.answers > 0, "{counters:?}");
    assert!(
        counters.polls > counters.answers,
        "misses are polls without answers"
    );
    assert!(
        counters.cycles > 0 && counters.last_cycle.is_some(),
        "{counters:?}"
    );
    assert_eq!(line.master.is_online(P50), Some(true), "never offline");
    assert!(!statuses(&line.events[mark..], P50).contains(&PumpStatus::Offline));
    assert!(failures(&line.events, P50).is_empty());
}

/// Regression, "lost ACKs of the end-of-sale request lose the sale": when every ACK of
/// the master's RETURN FILLING INFORMATION after a sale was lost (`retries + 1` answers
/// dropped, fewer than `offline_after_misses`, so the pump stays online), the master gave
/// the completion up and never reported the sale, although the pump had the figures
/// queued. Found by `a_preset_dispatch_survives_any_fault_schedule`.
fn regression_lost_acks_of_the_end_of_sale_request_lose_the_sale(rule: DuplicateRule) {
    let settings = DartMasterSettings::default();
    assert!(settings.retries + 1 < settings.offline_after_misses);
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N1));
    let preset = preset_volume(P50, 150);
    line.submit(P50, authorize(preset));
    line.run_until(secs(2), reports(P50, PumpStatus::Filling));
    // The master has just read DC1 6 and queued its end-of-sale request: every answer to
    // that request is lost.
    line.run_until(secs(10), reports(P50, PumpStatus::Completed));
    assert!(completions(&line.events, P50).is_empty());
    line.act(P50, SimAction::DropAnswers(settings.retries + 1));
    line.run_until(secs(10), completed(P50, 1));
    line.run_for(secs(3));
    the_completion(
        &line,
        mark,
        P50,
        N1,
        CompletionReason::PresetReached,
        preset,
    );
    // The first request did fail for good, and the pump never went offline.
    assert_eq!(
        failures(&line.events[mark..], P50),
        [(PumpCommand::ReturnFillingInfo, CommandFailure::NoAnswer)]
    );
    assert_eq!(line.master.is_online(P50), Some(true));
    assert!(!statuses(&line.events[mark..], P50).contains(&PumpStatus::Offline));
}

fn silent_pump_goes_offline_and_its_sale_is_reported_once_on_return(rule: DuplicateRule) {
    let settings = DartMasterSettings::default();
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N2));
    line.submit(P50, authorize(None));
    line.run_until(secs(2), reports(P50, PumpStatus::Filling));
    line.run_for(secs(1));
    let timeouts = line.master.stats().timeouts;
    line.act(P50, SimAction::Silent(true));
    let took = line.run_until(secs(3), reports(P50, PumpStatus::Offline));
    assert_eq!(
        line.master.stats().timeouts - timeouts,
        u64::from(settings.offline_after_misses),
        "offline after exactly the configured misses"
    );
    assert!(took < secs(1), "misses come one per turn: {took:?}");
    // A command for an offline pump fails at once.
    line.submit(P50, PumpCommand::Stop);
    line.run_for(ms(10));
    assert_eq!(
        failures(&line.events[mark..], P50),
        [(PumpCommand::Stop, CommandFailure::PumpOffline)]
    );
    // The sale ends while nobody hears the pump.
    line.run_for(secs(2));
    line.act(P50, SimAction::HangNozzle);
    line.run_for(secs(3));
    assert!(completions(&line.events, P50).is_empty());
    // The others kept going.
    assert_eq!(line.master.is_online(P51), Some(true));
    assert_eq!(line.master.is_online(P52), Some(true));

    let back = line.events.len();
    let back_at = line.now;
    line.act(P50, SimAction::Silent(false));
    line.run_until(secs(3), completed(P50, 1));
    line.run_for(secs(3));
    the_completion(&line, mark, P50, N2, CompletionReason::Normal, None);
    assert_eq!(statuses(&line.events[back..], P50), [PumpStatus::Completed]);
    // A fresh session (§6.6): the first block after the return is TX# 0 with RETURN
    // STATUS + RETURN FILLING INFORMATION.
    let first = line
        .to_pumps
        .frames
        .iter()
        .find_map(|(at, f)| match f {
            Frame::Data {
                address,
                tx,
                payload,
                ..
            } if *address == P50 && *at >= back_at => Some((*tx, payload.clone())),
            _ => None,
        })
        .expect("a session block");
    assert_eq!(first.0, 0);
    assert_eq!(
        decode_master(&first.1).expect("a master block"),
        [
            MasterTransaction::Command(Dcc::ReturnStatus),
            MasterTransaction::Command(Dcc::ReturnFillingInfo),
        ]
    );
}

fn link_lost_then_recovered_mid_filling(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P52, SimAction::LiftNozzle(N2));
    line.submit(P52, authorize(None));
    line.run_until(secs(2), reports(P52, PumpStatus::Filling));
    line.run_for(secs(1));
    line.submit(P51, PumpCommand::ReadTotals(N1));
    line.to_pumps.set_cut(true);
    line.to_master.set_cut(true);
    let now = line.now;
    line.master.link_lost(now);
    line.run_for(ms(1));
    for d in &PUMPS {
        assert_eq!(
            last_status(&line.events, d.address),
            Some(PumpStatus::Offline)
        );
    }
    assert_eq!(
        failures(&line.events[mark..], P51),
        [(PumpCommand::ReadTotals(N1), CommandFailure::PumpOffline)]
    );
    line.run_for(secs(2));
    line.to_pumps.set_cut(false);
    line.to_master.set_cut(false);
    line.run_until(secs(3), |events, _| {
        last_status(events, P52) == Some(PumpStatus::Filling)
            && last_status(events, P50) == Some(PumpStatus::Idle)
            && last_status(events, P51) == Some(PumpStatus::Idle)
    });
    line.act(P52, SimAction::HangNozzle);
    line.run_until(secs(3), completed(P52, 1));
    line.run_for(secs(2));
    the_completion(&line, mark, P52, N2, CompletionReason::Normal, None);
}

fn power_reset_mid_dispatch_reports_the_figures_once_with_an_alarm(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N1));
    let preset = preset_amount(P50, 3_000);
    line.submit(P50, authorize(preset));
    line.run_until(secs(2), reports(P50, PumpStatus::Filling));
    line.run_for(ms(2_600));
    line.act(P50, SimAction::PowerReset);
    line.run_until(secs(3), completed(P50, 1));
    line.run_for(secs(3));
    let c = the_completion(&line, mark, P50, N1, CompletionReason::Normal, None);
    assert!(!c.volume.is_zero() && c.amount < money(P50, 3_000), "{c:?}");
    assert!(of(&line.events[mark..], P50).any(|k| matches!(
        k,
        E::Alarm {
            code: 0x01,
            description: "CPU reset"
        }
    )));
    let view = line.view(P50);
    assert_eq!(view.status, DartStatus::FillingCompleted);
    assert_eq!(view.alarm, Some(0x01));
    assert_eq!(view.totals[0].1.volume, raw_volume(P50, c.volume));
    // The station settles the sale: RESET clears the alarm and the next dispatch runs.
    line.act(P50, SimAction::HangNozzle);
    line.submit(P50, PumpCommand::Reset);
    line.run_until(secs(2), reports(P50, PumpStatus::Idle));
    assert_eq!(line.view(P50).alarm, None);
}

/// After the restarts or reconnects, a dispatch on every pump completes once.
fn every_pump_dispatches(line: &mut Line) {
    let mark = line.events.len();
    for d in &PUMPS {
        line.act(d.address, SimAction::LiftNozzle(N1));
        line.submit(d.address, authorize(None));
    }
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| last_status(&events[mark..], d.address) == Some(PumpStatus::Filling))
    });
    line.run_for(secs(2));
    for d in &PUMPS {
        line.act(d.address, SimAction::HangNozzle);
    }
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| !completions(&events[mark..], d.address).is_empty())
    });
    line.run_for(secs(1));
    for d in &PUMPS {
        the_completion(line, mark, d.address, N1, CompletionReason::Normal, None);
    }
}

/// Regression: every master session starts at TX# 0, so after two restarts of the daemon
/// with no other block in between a strict pump (§3.4) took the session's RETURN STATUS
/// for a retransmission, ACKed it and never answered; the position stayed offline while
/// the pump answered every poll. The master now asks again with a new TX#.
fn regression_strict_pump_offline_after_two_master_restarts(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let sent = line.to_pumps.frames.len();
    for _ in 0..4 {
        let mark = line.events.len();
        line.restart_master();
        line.until_all_idle_since(mark, secs(5));
    }
    // Only a strict pump takes a session's TX# 0 for a retransmission (the second
    // restart's at least; a later one may learn the status from a block the pump was
    // still offering): each is asked again with TX# 1.
    let session = encode_session_block();
    for d in &PUMPS {
        let again = line.to_pumps.frames[sent..]
            .iter()
            .filter(|(_, f)| {
                matches!(f, Frame::Data { address, tx: 1, payload }
                    if *address == d.address && *payload == session)
            })
            .count();
        match rule {
            DuplicateRule::Strict => assert!(again >= 1, "{}", d.address),
            DuplicateRule::Tx0Restarts => assert_eq!(again, 0, "{}", d.address),
        }
    }
    every_pump_dispatches(&mut line);
}

/// The master's session block: CD1 RETURN STATUS + CD1 RETURN FILLING INFORMATION.
fn encode_session_block() -> Vec<u8> {
    pump_protocols::dart::encode_master(&[
        MasterTransaction::Command(Dcc::ReturnStatus),
        MasterTransaction::Command(Dcc::ReturnFillingInfo),
    ])
    .expect("valid transactions")
}

/// The same regression through reconnects of one master (`link_lost`), and through a mix
/// of reconnects and restarts.
fn regression_strict_pump_offline_after_two_reconnects(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    for _ in 0..3 {
        let mark = line.events.len();
        line.reconnect(secs(1));
        line.until_all_idle_since(mark, secs(5));
    }
    every_pump_dispatches(&mut line);
    let mark = line.events.len();
    for d in &PUMPS {
        line.submit(d.address, PumpCommand::Reset);
    }
    line.until_all_idle_since(mark, secs(3));
    for restart in [false, true, true, false, false] {
        let mark = line.events.len();
        if restart {
            line.restart_master();
        } else {
            line.reconnect(ms(300));
        }
        line.until_all_idle_since(mark, secs(5));
    }
    every_pump_dispatches(&mut line);
}

/// Each way an AUTHORIZE can end: accepted and applied (0x50), accepted by a pump that
/// cannot apply it (0x51, not programmed: §5.3 AUTHORIZE only in RESET), refused because
/// the pump is offline (0x52), and never acknowledged (0x50 with every answer lost).
fn every_authorize_ends_accepted_or_failed_exactly_once(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| last_status(events, d.address) == Some(PumpStatus::NotProgrammed))
    });
    line.submit(P50, PumpCommand::SetPrices(prices(P50)));
    line.submit(P50, PumpCommand::Reset);
    line.run_until(secs(3), reports(P50, PumpStatus::Idle));
    line.act(P52, SimAction::Silent(true));
    line.run_until(secs(3), reports(P52, PumpStatus::Offline));
    let mark = line.events.len();
    for d in &PUMPS {
        line.submit(d.address, authorize(None));
    }
    line.run_until(secs(3), |events, _| {
        authorize_outcomes(&events[mark..], P51).len() == 2
            && last_status(&events[mark..], P50) == Some(PumpStatus::Authorized)
    });
    line.run_for(secs(2));
    assert_eq!(
        authorize_outcomes(&line.events[mark..], P50),
        [Ok(None)],
        "{}",
        line.report()
    );
    assert_eq!(
        authorize_outcomes(&line.events[mark..], P51),
        [Ok(None), Ok(Some(CommandFailure::NotApplied))]
    );
    assert_eq!(line.view(P51).status, DartStatus::NotProgrammed);
    assert_eq!(
        authorize_outcomes(&line.events[mark..], P52),
        [Err(CommandFailure::PumpOffline)]
    );
    // Every answer of 0x50 lost: the pump is never heard to take the second AUTHORIZE.
    line.submit(P50, PumpCommand::Stop);
    line.run_until(secs(3), reports(P50, PumpStatus::Completed));
    line.submit(P50, PumpCommand::Reset);
    line.run_until(secs(3), reports(P50, PumpStatus::Idle));
    let lost = line.events.len();
    line.act(P50, SimAction::DropAnswers(4));
    line.submit(P50, authorize(None));
    line.run_until(secs(3), |events, _| {
        !authorize_outcomes(&events[lost..], P50).is_empty()
    });
    line.run_for(secs(2));
    assert_eq!(
        authorize_outcomes(&line.events[lost..], P50),
        [Err(CommandFailure::NoAnswer)]
    );
    for (pump, submitted) in [(P50, 2), (P51, 1), (P52, 1)] {
        check_authorize_outcomes(&line.events[mark..], pump, submitted);
    }
}

/// Power-cycles pump 0x52 `count` times, at `step` intervals into its filling, each on a
/// fresh line from `line`: every run ends with exactly one completion, short of the preset.
fn power_reset_sweep(line: impl Fn() -> Line, count: u64, step: u64) {
    for offset in 0..count {
        let mut line = line();
        line.program_all();
        let mark = line.events.len();
        line.act(P52, SimAction::LiftNozzle(N2));
        line.submit(P52, authorize(preset_volume(P52, 9_000)));
        line.run_until(secs(2), reports(P52, PumpStatus::Filling));
        line.run_for(ms(offset * step));
        line.act(P52, SimAction::PowerReset);
        line.run_until(secs(5), completed(P52, 1));
        line.run_for(secs(2));
        let c = the_completion(&line, mark, P52, N2, CompletionReason::Normal, None);
        assert!(raw_volume(P52, c.volume) < 9_000, "offset {offset}: {c:?}");
    }
}

/// With the default F→1 wrap a pump restarts at a TX# (0) that the master has not just
/// accepted, so a CPU reset at any moment of a dispatch ends it with one completion.
fn power_reset_at_any_moment_of_a_dispatch_is_one_completion(rule: DuplicateRule) {
    power_reset_sweep(|| Line::standard(rule), 24, 331);
}

/// Regression: a pump that wraps its TX# F→0 and restarts at 0 after a CPU reset sent a
/// first block (DC1 5, the completion) with the TX# the master had just accepted; it was
/// taken for a retransmission and the sale was never reported. Only a block repeating TX#
/// *and* content is a retransmission now.
fn regression_power_reset_with_f_to_0_wrap_loses_no_sale(rule: DuplicateRule) {
    power_reset_sweep(
        || {
            Line::new(
                DartMasterSettings {
                    tx_wrap: TxWrap::FTo0,
                    ..DartMasterSettings::default()
                },
                SimSettings {
                    tx_wrap: TxWrap::FTo0,
                    duplicate_rule: rule,
                    ..SimSettings::default()
                },
            )
        },
        60,
        137,
    );
}

/// The other side of "exactly once": a pump found in FILLING COMPLETED by a new session
/// offers its last sale again (§6.6, the master's end-of-sale rule), figures unchanged;
/// telling it from a new one is the daemon's job (it saw no dispatch in between).
fn a_sale_reported_before_a_silence_is_offered_again_by_the_next_session(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P51, SimAction::LiftNozzle(N1));
    line.submit(P51, authorize(preset_volume(P51, 700)));
    line.run_until(secs(10), completed(P51, 1));
    line.act(P51, SimAction::Silent(true));
    line.run_until(secs(3), reports(P51, PumpStatus::Offline));
    line.act(P51, SimAction::Silent(false));
    line.run_until(secs(3), completed(P51, 2));
    line.run_for(secs(2));
    let both = completions(&line.events[mark..], P51);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], both[1]);
    assert_eq!(
        both[1],
        expected(&line, P51, N1, CompletionReason::PresetReached)
    );
    // Nothing was dispatched in between: the pump only went away and came back.
    let first = mark
        + line.events[mark..]
            .iter()
            .position(|e| e.pump == P51 && matches!(e.kind, E::TransactionCompleted(_)))
            .expect("the first completion");
    assert_eq!(
        statuses(&line.events[first..], P51),
        [PumpStatus::Offline, PumpStatus::Completed]
    );
}

fn garbage_between_frames_costs_nothing(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P50, SimAction::LiftNozzle(N2));
    line.act(P52, SimAction::LiftNozzle(N1));
    let preset50 = preset_volume(P50, 300);
    let preset52 = preset_amount(P52, 9_000);
    line.submit(P50, authorize(preset50));
    line.submit(P52, authorize(preset52));
    // §1 turnaround bytes, a frame for an address nobody configured, and a lone SF.
    let turnaround = [0xBC, 0xFE, 0xFC, 0xB8, 0xDC, 0xFF, 0xDE, 0xF8];
    let foreign = Frame::eot(BusAddress(0x5A)).encode().expect("an EOT");
    for round in 0..40u64 {
        line.run_for(ms(97 + round % 7));
        line.inject(
            false,
            &turnaround[..1 + (round as usize % turnaround.len())],
        );
        if round % 5 == 0 {
            line.inject(false, &foreign);
        }
        line.inject(true, &[0xFA]);
        line.inject(true, &turnaround[..2]);
    }
    line.run_until(secs(20), |events, _| {
        completions(events, P50).len() == 1 && completions(events, P52).len() == 1
    });
    line.run_for(secs(2));
    the_completion(
        &line,
        mark,
        P50,
        N2,
        CompletionReason::PresetReached,
        preset50,
    );
    the_completion(
        &line,
        mark,
        P52,
        N1,
        CompletionReason::PresetReached,
        preset52,
    );
    let stats = line.master.stats();
    assert!(stats.noise_bytes > 0 && stats.stray_frames > 0, "{stats:?}");
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert_eq!(stats.bad_blocks, 0, "{stats:?}");
}

fn frames_split_garbled_and_lost_in_both_directions(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    line.act(P51, SimAction::LiftNozzle(N2));
    let preset = preset_amount(P51, 3_000);
    line.submit(P51, authorize(preset));
    line.run_until(secs(2), reports(P51, PumpStatus::Filling));
    // A pump block arriving in three pieces with pauses, one with a bad byte, a lost ACK
    // (the pump resends, the master must not apply twice), a garbled POLL, a lost POLL.
    line.tamper(
        false,
        Which::Data,
        Tamper::Split {
            cuts: vec![1, 5],
            pause: ms(30),
        },
    );
    line.tamper(
        false,
        Which::Data,
        Tamper::GarbleBody {
            pick: 3,
            mask: 0x40,
        },
    );
    line.tamper(true, Which::Control(ControlKind::Ack), Tamper::Drop);
    line.tamper(
        true,
        Which::Control(ControlKind::Poll),
        Tamper::Garble {
            index: 1,
            mask: 0x0F,
        },
    );
    line.tamper(true, Which::Control(ControlKind::Poll), Tamper::Drop);
    line.run_until(secs(20), completed(P51, 1));
    line.run_for(secs(2));
    assert!(line.to_pumps.tampers.is_empty() && line.to_master.tampers.is_empty());
    let c = the_completion(
        &line,
        mark,
        P51,
        N2,
        CompletionReason::PresetReached,
        preset,
    );
    check_running_figures(P51, &fillings(&line.events[mark..], P51), c.unit_price);
    let stats = line.master.stats();
    assert!(
        stats.duplicates >= 1,
        "the lost ACK made a resend: {stats:?}"
    );
    assert!(stats.bad_blocks >= 1, "{stats:?}");
    assert!(stats.timeouts >= 2, "{stats:?}");
}

fn two_commands_for_one_pump_and_commands_for_two_pumps_at_once(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    // New prices, then the authorization: the filling must run at the new price.
    let new_prices = vec![
        (N1, UnitPrice::from_raw(799_999, 3)),
        (N2, UnitPrice::from_raw(1_000, 3)),
    ];
    line.submit(P51, PumpCommand::SetPrices(new_prices));
    let preset51 = preset_volume(P51, 1_500);
    line.submit(P51, authorize(preset51));
    let preset52 = preset_volume(P52, 1_000);
    line.submit(P52, authorize(preset52));
    line.run_until(secs(2), |events, _| {
        last_status(events, P51) == Some(PumpStatus::Authorized)
            && last_status(events, P52) == Some(PumpStatus::Authorized)
    });
    assert_eq!(line.view(P51).prices, Some(vec![799_999, 1_000]));
    line.act(P51, SimAction::LiftNozzle(N1));
    line.act(P52, SimAction::LiftNozzle(N2));
    line.run_until(secs(20), |events, _| {
        completions(events, P51).len() == 1 && completions(events, P52).len() == 1
    });
    let c51 = the_completion(
        &line,
        mark,
        P51,
        N1,
        CompletionReason::PresetReached,
        preset51,
    );
    assert_eq!(c51.unit_price, UnitPrice::from_raw(799_999, 3));
    // 1.500 × 799.999 = 1199.9985 → 1200.
    assert_eq!(c51.amount, money(P51, 1_200));
    the_completion(
        &line,
        mark,
        P52,
        N2,
        CompletionReason::PresetReached,
        preset52,
    );
    // On the wire: CD5 in one block, the authorization in the next.
    let blocks: Vec<Vec<MasterTransaction>> = line
        .to_pumps
        .frames
        .iter()
        .filter_map(|(_, f)| match f {
            Frame::Data {
                address, payload, ..
            } if *address == P51 => Some(decode_master(payload).expect("a master block")),
            _ => None,
        })
        .collect();
    let cd5 = blocks
        .iter()
        .rposition(|b| matches!(b[0], MasterTransaction::PriceUpdate(_)))
        .expect("a price block");
    assert!(blocks[cd5 + 1].contains(&MasterTransaction::Command(Dcc::Authorize)));
}

/// 56 ReadTotals to P50 with these wraps: every one answered once, in order, and the TX#s
/// of both sides' blocks follow their wrap past 0xF.
fn wrap_round(rule: DuplicateRule, master_wrap: TxWrap, sim_wrap: TxWrap) {
    let mut line = Line::new(
        DartMasterSettings {
            tx_wrap: master_wrap,
            ..DartMasterSettings::default()
        },
        SimSettings {
            tx_wrap: sim_wrap,
            duplicate_rule: rule,
            ..SimSettings::default()
        },
    );
    line.program_all();
    let mark = line.events.len();
    // One at a time, so the pump answers each in a block of its own: both sides then
    // write more than 16 blocks.
    let commands = 40;
    for i in 0..commands {
        line.submit(
            P50,
            PumpCommand::ReadTotals(if i % 2 == 0 { N1 } else { N2 }),
        );
        line.run_until(secs(2), |events, _| {
            of(&events[mark..], P50)
                .filter(|k| matches!(k, E::Totals(_)))
                .count()
                == i + 1
        });
    }
    // And a burst filling the queue, answered in fewer blocks.
    for i in 0..16 {
        line.submit(
            P50,
            PumpCommand::ReadTotals(if i % 2 == 0 { N1 } else { N2 }),
        );
    }
    let commands = commands + 16;
    line.run_until(secs(5), |events, _| {
        of(&events[mark..], P50)
            .filter(|k| matches!(k, E::Totals(_)))
            .count()
            == commands
    });
    let totals: Vec<NozzleId> = of(&line.events[mark..], P50)
        .filter_map(|k| match k {
            E::Totals(t) => Some(t.nozzle),
            _ => None,
        })
        .collect();
    let asked: Vec<NozzleId> = (0..commands)
        .map(|i| if i % 2 == 0 { N1 } else { N2 })
        .collect();
    assert_eq!(totals, asked, "every command applied once, in order");
    for (to_pumps, wrap) in [(true, master_wrap), (false, sim_wrap)] {
        let txs = line.data_txs(to_pumps, P50);
        assert!(txs.len() > 2 * 16, "{txs:?}");
        assert_eq!(txs[0], 0, "a session starts at TX# 0");
        for pair in txs.windows(2) {
            assert_eq!(
                pair[1],
                wrap.next(pair[0]),
                "TX# after {:X}: {txs:X?}",
                pair[0]
            );
        }
        let after_f = if wrap == TxWrap::FTo1 { 1 } else { 0 };
        assert!(txs.windows(2).any(|p| p == [0x0F, after_f]));
    }
    assert_eq!(line.master.stats().duplicates, 0);
    assert!(failures(&line.events, P50).is_empty());
}

fn tx_numbers_wrap_past_sixteen_blocks_with_either_setting(rule: DuplicateRule) {
    wrap_round(rule, TxWrap::FTo1, TxWrap::FTo1);
    wrap_round(rule, TxWrap::FTo0, TxWrap::FTo0);
    // Receivers accept either (§3.4).
    wrap_round(rule, TxWrap::FTo1, TxWrap::FTo0);
    wrap_round(rule, TxWrap::FTo0, TxWrap::FTo1);
}

fn a_long_run_of_dispatches_on_two_pumps_sums_to_the_totals(rule: DuplicateRule) {
    let mut line = Line::standard(rule);
    line.program_all();
    let mark = line.events.len();
    // (pump, nozzle, preset, hang up early after this many raw volume units)
    let plan: [(BusAddress, NozzleId, Option<Preset>, Option<u32>); 8] = [
        (P50, N1, preset_amount(P50, 2_000), None),
        (P52, N2, preset_volume(P52, 3_333), None),
        (P50, N2, None, Some(777)),
        (P52, N1, preset_amount(P52, 12_345), None),
        (P50, N1, preset_volume(P50, 250), None),
        (P52, N3, None, Some(1_001)),
        (P50, N2, preset_amount(P50, 1_234), Some(300)),
        (P52, N2, preset_amount(P52, 7_777), None),
    ];
    // Two dispatches run at once, one per pump.
    for pair in plan.chunks(2) {
        for &(pump, nozzle, preset, _) in pair {
            line.act(pump, SimAction::LiftNozzle(nozzle));
            line.submit(pump, authorize(preset));
        }
        let before: Vec<usize> = pair
            .iter()
            .map(|(p, ..)| completions(&line.events, *p).len())
            .collect();
        line.run_until(secs(60), |events, sim| {
            let mut done = true;
            for (i, &(pump, _, _, hang_at)) in pair.iter().enumerate() {
                let v = sim.pump(pump).expect("a pump");
                let early = hang_at.is_some_and(|at| v.volume_raw >= at);
                done &= completions(events, pump).len() > before[i] || early;
            }
            done
        });
        for &(pump, _, _, hang_at) in pair {
            let v = line.view(pump);
            if hang_at.is_some() && v.nozzle_out.is_some() && v.status == DartStatus::Filling {
                line.act(pump, SimAction::HangNozzle);
            }
        }
        line.run_until(secs(60), |events, _| {
            pair.iter()
                .enumerate()
                .all(|(i, (p, ..))| completions(events, *p).len() > before[i])
        });
        for &(pump, nozzle, preset, hang_at) in pair {
            let c = *completions(&line.events, pump)
                .last()
                .expect("a completion");
            let reason = if hang_at.is_some() {
                CompletionReason::Normal
            } else {
                CompletionReason::PresetReached
            };
            assert_eq!(c, expected(&line, pump, nozzle, reason));
            check_amount_rule(pump, &c, if hang_at.is_some() { None } else { preset });
            if line.view(pump).nozzle_out.is_some() {
                line.act(pump, SimAction::HangNozzle);
            }
        }
        line.run_for(ms(500));
    }
    line.run_for(secs(2));
    for pump in [P50, P52] {
        let done = completions(&line.events[mark..], pump);
        assert_eq!(done.len(), 4, "{pump}: {done:?}");
        for (nozzle, sim_totals) in line.view(pump).totals {
            let mine: Vec<&CompletedTransaction> =
                done.iter().filter(|c| c.nozzle == nozzle).collect();
            let sum = NozzleTotals {
                volume: mine.iter().map(|c| raw_volume(pump, c.volume)).sum(),
                amount: mine
                    .iter()
                    .map(|c| c.amount.to_raw(decimals(pump).amount, 10).expect("fits"))
                    .sum(),
                fillings: mine.len() as u64,
            };
            assert_eq!(sum, sim_totals, "{pump} nozzle {nozzle}");
            // And the master reads the same totals from the pump.
            let at = line.events.len();
            line.submit(pump, PumpCommand::ReadTotals(nozzle));
            line.run_until(secs(2), |events, _| {
                of(&events[at..], pump).any(|k| matches!(k, E::Totals(_)))
            });
            let read = of(&line.events[at..], pump)
                .find_map(|k| match k {
                    E::Totals(t) => Some(*t),
                    _ => None,
                })
                .expect("totals");
            let exact = (
                Some(volume(pump, sum.volume)),
                Some(money(pump, sum.amount)),
                Some(sum.fillings),
            );
            assert_eq!((read.volume, read.amount, read.fillings), exact);
            assert_eq!(read.grade, Some(grade(pump, nozzle)));
            // The neutral view of the simulator holds the same ground truth.
            let neutral = LineSimulator::view(&line.sim)
                .into_iter()
                .find(|v| v.address == pump)
                .expect("a simulated pump")
                .totals;
            let theirs = neutral
                .iter()
                .find(|t| t.nozzle == nozzle)
                .map(|t| (t.volume, t.amount, t.fillings));
            assert_eq!(theirs, Some(exact));
        }
    }
    assert!(completions(&line.events, P51).is_empty());
    assert_eq!(line.master.stats().timeouts, 0);
}

// ---------------------------------------------------------------------------------------
// Random fault schedules

/// A fault the schedule puts on the line.
#[derive(Debug, Clone)]
enum Fault {
    Drop(u32),
    Corrupt(u32),
    Late(u32),
    /// The master's next frame is lost.
    LoseMasterFrame,
    /// One bit pattern in the body of the next data block, either way.
    GarbleData {
        to_pumps: bool,
        pick: usize,
        mask: u8,
    },
    /// The pumps' next frame arrives in pieces.
    SplitAnswer {
        cuts: Vec<usize>,
        pause_ms: u64,
    },
    /// Noise between frames, either way (no byte that could start a DART frame).
    Noise {
        to_pumps: bool,
        bytes: Vec<u8>,
    },
}

fn noise_byte() -> impl Strategy<Value = u8> {
    any::<u8>().prop_map(|b| {
        if (0x50..=0x6F).contains(&b) {
            b ^ 0x80
        } else {
            b
        }
    })
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (1u32..=4).prop_map(Fault::Drop),
        (1u32..=4).prop_map(Fault::Corrupt),
        (1u32..=3).prop_map(Fault::Late),
        Just(Fault::LoseMasterFrame),
        (any::<bool>(), any::<usize>(), 1u8..=255).prop_map(|(to_pumps, pick, mask)| {
            Fault::GarbleData {
                to_pumps,
                pick,
                mask,
            }
        }),
        (proptest::collection::vec(1usize..40, 1..4), 0u64..=30)
            .prop_map(|(cuts, pause_ms)| Fault::SplitAnswer { cuts, pause_ms }),
        (
            any::<bool>(),
            proptest::collection::vec(noise_byte(), 1..12)
        )
            .prop_map(|(to_pumps, bytes)| Fault::Noise { to_pumps, bytes }),
    ]
}

fn apply(line: &mut Line, pump: BusAddress, fault: &Fault) {
    match fault.clone() {
        Fault::Drop(n) => line.act(pump, SimAction::DropAnswers(n)),
        Fault::Corrupt(n) => line.act(pump, SimAction::CorruptAnswers(n)),
        Fault::Late(n) => line.act(pump, SimAction::AnswerLate(n)),
        Fault::LoseMasterFrame => line.tamper(true, Which::Any, Tamper::Drop),
        Fault::GarbleData {
            to_pumps,
            pick,
            mask,
        } => line.tamper(to_pumps, Which::Data, Tamper::GarbleBody { pick, mask }),
        Fault::SplitAnswer { cuts, pause_ms } => line.tamper(
            false,
            Which::Any,
            Tamper::Split {
                cuts,
                pause: ms(pause_ms),
            },
        ),
        Fault::Noise { to_pumps, bytes } => line.inject(to_pumps, &bytes),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(0x5EED_DA27),
        ..ProptestConfig::default()
    })]

    /// Whatever the faults during a preset dispatch, it ends with exactly one completion
    /// whose figures are the simulated pump's and its preset's.
    #[test]
    fn a_preset_dispatch_survives_any_fault_schedule(
        rule in prop_oneof![Just(DuplicateRule::Strict), Just(DuplicateRule::Tx0Restarts)],
        which in 0usize..3,
        by_amount in any::<bool>(),
        size in 20u64..=100,
        mut schedule in proptest::collection::vec((0u64..6_000, fault()), 0..12),
    ) {
        let pump = PUMPS[which].address;
        let nozzle = N1;
        let preset = match (pump, by_amount) {
            (P50, true) => preset_amount(P50, size * 10),
            (P50, false) => preset_volume(P50, size * 5),
            (P51, true) => preset_amount(P51, size * 40),
            (P51, false) => preset_volume(P51, size * 50),
            (_, true) => preset_amount(P52, size * 400),
            (_, false) => preset_volume(P52, size * 50),
        };
        let mut line = Line::standard(rule);
        line.program_all();
        let mark = line.events.len();
        line.act(pump, SimAction::LiftNozzle(nozzle));
        line.submit(pump, authorize(preset));
        line.run_until(secs(2), reports(pump, PumpStatus::Filling));
        schedule.sort_by_key(|(at, _)| *at);
        let start = line.now;
        for (at, fault) in &schedule {
            let due = start + ms(*at);
            if due > line.now {
                line.run_for(due - line.now);
            }
            if !completions(&line.events[mark..], pump).is_empty() {
                break;
            }
            apply(&mut line, pump, fault);
        }
        line.run_until(secs(60), completed(pump, 1));
        // The sale is reported; the line heals and nothing more may come of it.
        line.clear_faults();
        line.run_for(secs(3));
        let c = the_completion(&line, mark, pump, nozzle, CompletionReason::PresetReached, preset);
        prop_assert_eq!(line.view(pump).status, DartStatus::MaxReached);
        check_authorize_outcomes(&line.events[mark..], pump, 1);
        check_amount_rule(pump, &c, preset);
    }
}
