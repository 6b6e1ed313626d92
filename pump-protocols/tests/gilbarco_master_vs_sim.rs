//! The Gilbarco master and the Gilbarco pump simulator talking in memory, end to end,
//! with a fake clock (docs/protocols/gilbarco.md §2–§7).
//!
//! Every test checks what the master reported against what the simulated pump did (its
//! own sale figures and totals), never against figures worked out by the same code.

mod gilbarco_support;

use std::time::Duration;

use gilbarco_support::line::{completed, completions, last_status, of, reports, Line};
use pump_protocols::gilbarco::{
    check_command, DigitMode, EndClears, GilbarcoMasterSettings, PumpState, SimPumpSetup,
    SimSettings,
};
use pump_protocols::{
    Authorization, BusAddress, CommandFailure, CompletedTransaction, CompletionReason, Decimals,
    GradeId, LineMaster, Money, NozzleId, Preset, PumpCommand, PumpEventKind as E, PumpSetup,
    PumpStatus, SimAction, Totals, UnitPrice, Volume,
};

/// Volume 3 decimals, money and price 2 (10.70 a litre, as the SK dump).
const P1: BusAddress = BusAddress(1);
/// Pump 16 (nibble 0), volume and money 2 decimals, price 3.
const P16: BusAddress = BusAddress(16);
const N1: NozzleId = NozzleId(1);
const N2: NozzleId = NozzleId(2);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

struct Def {
    address: BusAddress,
    decimals: Decimals,
    nozzles: &'static [(u8, u16, u64)],
}

const PUMPS: [Def; 2] = [
    Def {
        address: P1,
        decimals: Decimals {
            volume: 3,
            amount: 2,
            price: 2,
        },
        nozzles: &[(1, 95, 1_070), (2, 98, 1_250), (3, 60, 990)],
    },
    Def {
        address: P16,
        decimals: Decimals {
            volume: 2,
            amount: 2,
            price: 3,
        },
        nozzles: &[(1, 95, 1_645)],
    },
];

fn def(pump: BusAddress) -> &'static Def {
    PUMPS
        .iter()
        .find(|d| d.address == pump)
        .expect("a pump of the loop")
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
        .map(|d| {
            let prices = d
                .nozzles
                .iter()
                .map(|&(n, _, p)| (NozzleId(n), UnitPrice::from_raw(p, d.decimals.price)))
                .collect();
            SimPumpSetup::new(d.address, d.decimals, prices)
        })
        .collect()
}

fn line_with(master: GilbarcoMasterSettings, sim: SimSettings) -> Line {
    let mut line = Line::new(master, master_setup(), sim, sim_setup());
    line.run_until(secs(3), |events, _| {
        PUMPS
            .iter()
            .all(|d| last_status(events, d.address) == Some(PumpStatus::Idle))
    });
    line
}

fn standard() -> Line {
    line_with(GilbarcoMasterSettings::default(), SimSettings::default())
}

fn authorize(preset: Option<Preset>, nozzles: Vec<NozzleId>) -> PumpCommand {
    PumpCommand::Authorize(Authorization { preset, nozzles })
}

/// The sale the simulated pump shows, as the master must report it.
fn sim_sale(line: &Line, pump: BusAddress, reason: CompletionReason) -> CompletedTransaction {
    let d = def(pump).decimals;
    let (grade, ppu, volume, money) = line.view(pump).sale;
    let nozzle = NozzleId(grade + 1);
    let configured = def(pump)
        .nozzles
        .iter()
        .find(|(n, _, _)| *n == nozzle.0)
        .map(|&(_, g, _)| GradeId(g));
    CompletedTransaction {
        nozzle,
        grade: configured,
        volume: Volume::from_raw(volume, d.volume),
        amount: Money::from_raw(money, d.amount),
        unit_price: UnitPrice::from_raw(ppu, d.price),
        reason,
    }
}

/// A line on which `pump` delivers from nozzle 1, authorized without a preset.
fn filling(pump: BusAddress) -> Line {
    let mut line = standard();
    line.act(pump, SimAction::LiftNozzle(N1));
    line.submit(pump, authorize(None, vec![]));
    line.run_until(secs(2), reports(pump, PumpStatus::Filling));
    line
}

/// The master reported exactly one sale for `pump`: the one the simulated pump shows.
#[track_caller]
fn assert_one_sale(line: &Line, pump: BusAddress, reason: CompletionReason) {
    assert_eq!(
        completions(&line.events, pump),
        vec![sim_sale(line, pump, reason)],
        "{}",
        line.report()
    );
}

/// The pump's money is its volume at its price, half up (independent of the simulator's
/// integer arithmetic).
fn check_money_rule(pump: BusAddress, c: &CompletedTransaction) {
    let want = c.unit_price.amount_for(c.volume, def(pump).decimals.amount);
    assert_eq!(c.amount, want, "{c:?}");
}

fn totals_of(line: &Line, pump: BusAddress, nozzle: NozzleId) -> (u64, u64) {
    let (_, _, volume, money) = line
        .view(pump)
        .grades
        .into_iter()
        .find(|g| g.0 == nozzle)
        .expect("a configured nozzle");
    (volume, money)
}

fn read_totals(line: &mut Line, pump: BusAddress, nozzle: NozzleId) -> Totals {
    let before = line.events.len();
    line.submit(pump, PumpCommand::ReadTotals(nozzle));
    line.run_until(secs(3), |events, _| {
        events[before..]
            .iter()
            .any(|e| e.pump == pump && matches!(e.kind, E::Totals(_)))
    });
    line.events[before..]
        .iter()
        .find_map(|e| match e.kind {
            E::Totals(t) if e.pump == pump => Some(t),
            _ => None,
        })
        .expect("a totals event")
}

#[test]
fn whole_dispatch_without_preset_completes_once_with_the_pumps_figures() {
    let mut line = standard();
    line.act(P1, SimAction::LiftNozzle(N2));
    line.run_until(secs(2), reports(P1, PumpStatus::Calling));
    line.submit(P1, authorize(None, vec![]));
    line.run_until(secs(2), reports(P1, PumpStatus::Filling));
    line.run_for(secs(20));
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(3), completed(P1, 1));
    line.run_until(secs(2), reports(P1, PumpStatus::Idle));
    line.run_for(secs(5));

    let done = completions(&line.events, P1);
    assert_eq!(done, vec![sim_sale(&line, P1, CompletionReason::Normal)]);
    let sale = done[0];
    assert_eq!(sale.nozzle, N2);
    assert_eq!(sale.grade, Some(GradeId(98)));
    // 40 L a minute for a little over 20 s.
    assert!(sale.volume > Volume::from_raw(13_000, 3), "{sale:?}");
    check_money_rule(P1, &sale);
    let statuses: Vec<_> = of(&line.events, P1)
        .filter_map(|k| match k {
            E::StatusChanged(s) => Some(*s),
            _ => None,
        })
        .collect();
    // Authorized with the nozzle out, the pump delivers at once: 8 is never seen.
    assert_eq!(
        statuses,
        [
            PumpStatus::Idle,
            PumpStatus::Calling,
            PumpStatus::Filling,
            PumpStatus::Completed,
            PumpStatus::Idle
        ]
    );
    // Running figures move up and never pass the final ones.
    let running: Vec<Money> = of(&line.events, P1)
        .filter_map(|k| match k {
            E::Filling { amount, .. } => Some(*amount),
            _ => None,
        })
        .collect();
    assert!(running.len() >= 10, "{running:?}");
    assert!(running.windows(2).all(|w| w[0] < w[1]));
    assert!(running.iter().all(|m| *m <= sale.amount));
    // The loop has no live volume, and with two grades at different prices and no grade
    // limit the price in use is unknown until the sale is read: the volume is unknown,
    // never a made-up zero (it used to be reported as 0).
    let volumes: Vec<Option<Volume>> = of(&line.events, P1)
        .filter_map(|k| match k {
            E::Filling { volume, .. } => Some(*volume),
            _ => None,
        })
        .collect();
    assert!(volumes.iter().all(Option::is_none), "{volumes:?}");
    assert!(of(&line.events, P1).any(|k| matches!(k, E::NozzleUp { .. })));
    assert!(of(&line.events, P1).any(|k| matches!(k, E::NozzleDown { .. })));
    assert!(completions(&line.events, P16).is_empty());
}

#[test]
fn money_preset_from_idle_stops_exactly_on_the_preset() {
    let mut line = standard();
    let preset = Money::from_raw(2_500, 2);
    line.submit(P1, authorize(Some(Preset::Amount(preset)), vec![]));
    line.run_until(secs(2), reports(P1, PumpStatus::Authorized));
    line.act(P1, SimAction::LiftNozzle(N1));
    line.run_until(secs(60), completed(P1, 1));
    let done = completions(&line.events, P1);
    assert_eq!(
        done,
        vec![sim_sale(&line, P1, CompletionReason::PresetReached)]
    );
    assert_eq!(done[0].amount, preset);
    // The pump stops at the first volume whose money reaches the preset.
    let price = done[0].unit_price;
    assert!(price.amount_for(done[0].volume, 2) >= preset);
    let one_less = Volume::from_raw(done[0].volume.to_raw(3, 8).expect("fits") - 1, 3);
    assert!(price.amount_for(one_less, 2) < preset);
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(2), reports(P1, PumpStatus::Idle));
    assert_eq!(completions(&line.events, P1).len(), 1);
}

/// Regression: once its sale was read, a pump whose customer still held the nozzle went
/// from end of sale to call and was reported `Calling`, a dispatch in progress, so the
/// finished sale could not be paid until the nozzle was hung up. It stays `Completed`.
#[test]
fn regression_a_sale_read_while_the_nozzle_is_still_in_hand_stays_completed() {
    let mut line = standard();
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(1_000, 2))), vec![]),
    );
    line.run_until(secs(2), reports(P1, PumpStatus::Authorized));
    line.act(P1, SimAction::LiftNozzle(N1));
    line.run_until(secs(60), completed(P1, 1));
    // The sale is read (the pump goes back to call) and polled for a while, nozzle in hand.
    line.run_for(secs(3));
    assert_eq!(line.view(P1).state, PumpState::Call);
    let statuses: Vec<PumpStatus> = of(&line.events, P1)
        .filter_map(|k| match k {
            E::StatusChanged(s) => Some(*s),
            _ => None,
        })
        .collect();
    let end = statuses
        .iter()
        .position(|s| *s == PumpStatus::Completed)
        .expect("completed");
    assert_eq!(statuses[end..], [PumpStatus::Completed], "{statuses:?}");
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(2), reports(P1, PumpStatus::Idle));
    assert_eq!(completions(&line.events, P1).len(), 1);
}

#[test]
fn volume_preset_limited_to_one_grade_on_a_calling_pump() {
    let mut line = standard();
    line.act(P1, SimAction::LiftNozzle(N2));
    line.run_until(secs(2), reports(P1, PumpStatus::Calling));
    let litres = Volume::from_raw(5_000, 3);
    line.submit(P1, authorize(Some(Preset::Volume(litres)), vec![N2]));
    line.run_until(secs(30), completed(P1, 1));
    let done = completions(&line.events, P1);
    assert_eq!(
        done,
        vec![sim_sale(&line, P1, CompletionReason::PresetReached)]
    );
    assert_eq!(done[0].volume, litres);
    assert_eq!(done[0].nozzle, N2);
    check_money_rule(P1, &done[0]);
    // The loop does not say which nozzle is out: lifted before the grade was chosen, it
    // is reported as nozzle 0.
    assert!(of(&line.events, P1).any(|k| matches!(
        k,
        E::NozzleUp {
            nozzle: NozzleId(0),
            grade: None,
            ..
        }
    )));
}

#[test]
fn prices_reach_both_levels_and_the_next_sale_uses_them() {
    let mut line = standard();
    let new = UnitPrice::from_raw(1_199, 2);
    line.submit(P1, PumpCommand::SetPrices(vec![(N1, new)]));
    line.run_until(secs(3), |_, sim| {
        sim.pump(P1)
            .is_some_and(|v| v.grades.iter().any(|g| g.0 == N1 && g.1 == [1_199, 1_199]))
    });
    // The loop's only acknowledgement: the last price block taken reports the command
    // accepted, once (the daemon confirms the pump's prices by it).
    line.run_for(secs(1));
    let accepted = of(&line.events, P1)
        .filter(|k| {
            matches!(
                k,
                E::CommandAccepted {
                    command: PumpCommand::SetPrices(_)
                }
            )
        })
        .count();
    assert_eq!(accepted, 1);
    line.act(P1, SimAction::LiftNozzle(N1));
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(1_000, 2))), vec![]),
    );
    line.run_until(secs(60), completed(P1, 1));
    assert_eq!(completions(&line.events, P1)[0].unit_price, new);
    assert!(of(&line.events, P1).all(|k| !matches!(k, E::CommandFailed { .. })));
}

#[test]
fn stop_mid_filling_then_hang_up_completes_with_what_was_dispensed() {
    let mut line = filling(P16);
    line.run_for(secs(6));
    line.submit(P16, PumpCommand::Stop);
    line.run_until(secs(2), reports(P16, PumpStatus::Stopped));
    let stopped_at = line.view(P16).sale;
    line.run_for(secs(5));
    assert_eq!(
        line.view(P16).sale,
        stopped_at,
        "no fuel flows while stopped"
    );
    line.act(P16, SimAction::HangNozzle);
    line.run_until(secs(3), completed(P16, 1));
    let done = completions(&line.events, P16);
    assert_eq!(done, vec![sim_sale(&line, P16, CompletionReason::Normal)]);
    assert_eq!(done[0].volume, Volume::from_raw(stopped_at.2, 2));
}

#[test]
fn stop_then_authorize_continues_the_same_sale() {
    let mut line = filling(P16);
    line.run_for(secs(3));
    line.submit(P16, PumpCommand::Stop);
    line.run_until(secs(2), reports(P16, PumpStatus::Stopped));
    let at_stop = line.view(P16).sale.2;
    line.submit(P16, authorize(None, vec![]));
    line.run_until(secs(2), reports(P16, PumpStatus::Filling));
    line.run_for(secs(3));
    line.act(P16, SimAction::HangNozzle);
    line.run_until(secs(3), completed(P16, 1));
    let done = completions(&line.events, P16);
    assert_eq!(done.len(), 1);
    assert!(done[0].volume > Volume::from_raw(at_stop, 2));
}

#[test]
fn lost_and_corrupted_answers_cost_retries_not_sales() {
    let mut line = standard();
    line.act(P1, SimAction::LiftNozzle(N1));
    // The preset block is garbled on its way: the pump answers the check with a data
    // error and the master sends it again.
    line.to_pumps.garble_blocks = 1;
    let preset = Money::from_raw(15_000, 2);
    line.submit(P1, authorize(Some(Preset::Amount(preset)), vec![]));
    line.run_until(secs(3), reports(P1, PumpStatus::Filling));
    assert_eq!(line.master.stats().data_errors, 1);
    line.act(P1, SimAction::DropAnswers(2));
    line.run_for(secs(2));
    line.act(P1, SimAction::CorruptAnswers(2));
    line.run_for(secs(2));
    // Spoil the answers around the end of the sale and its read as well.
    line.run_until(secs(60), |_, sim| {
        sim.pump(P1).is_some_and(|v| v.state == PumpState::Peot)
    });
    line.act(P1, SimAction::CorruptAnswers(2));
    line.run_until(secs(5), completed(P1, 1));
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(3), reports(P1, PumpStatus::Idle));
    line.run_for(secs(3));
    let done = completions(&line.events, P1);
    assert_eq!(
        done,
        vec![sim_sale(&line, P1, CompletionReason::PresetReached)]
    );
    assert_eq!(done[0].amount, preset);
    let stats = line.master.stats();
    assert!(stats.timeouts >= 2 && stats.bad_answers >= 2, "{stats:?}");
    // The neutral counters the daemon's metrics read agree with the master's own.
    let counters = line.master.counters();
    assert_eq!(counters.timeouts, stats.timeouts, "{counters:?}");
    assert_eq!(counters.crc_errors, stats.bad_answers, "{counters:?}");
    assert!(
        counters.retries >= 1,
        "the garbled preset was sent again: {counters:?}"
    );
    assert!(
        counters.answers > 0 && counters.polls > counters.answers,
        "{counters:?}"
    );
    assert!(
        counters.cycles > 0 && counters.last_cycle.is_some(),
        "{counters:?}"
    );
    assert_eq!(
        line.master.is_online(P1),
        Some(true),
        "a few misses are not offline"
    );
    assert!(of(&line.events, P1).all(|k| !matches!(k, E::CommandFailed { .. })));
}

#[test]
fn late_answers_are_never_taken_for_the_next_exchange() {
    let mut line = filling(P1);
    line.act(P1, SimAction::AnswerLate(3));
    line.run_for(secs(4));
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(5), completed(P1, 1));
    line.run_for(secs(3));
    assert_one_sale(&line, P1, CompletionReason::Normal);
}

#[test]
fn silent_pump_goes_offline_and_its_sale_is_read_once_on_return() {
    let mut line = filling(P1);
    line.act(P1, SimAction::Silent(true));
    line.run_until(secs(3), reports(P1, PumpStatus::Offline));
    // A command for an offline pump fails at once.
    line.submit(P1, PumpCommand::Stop);
    line.run_for(secs(1));
    assert!(of(&line.events, P1).any(|k| matches!(
        k,
        E::CommandFailed {
            command: PumpCommand::Stop,
            failure: CommandFailure::PumpOffline
        }
    )));
    line.run_for(secs(10));
    line.act(P1, SimAction::HangNozzle);
    line.run_for(secs(5));
    assert!(completions(&line.events, P1).is_empty());
    // The other pump is served all along.
    assert_eq!(line.master.is_online(P16), Some(true));
    line.act(P1, SimAction::Silent(false));
    line.run_until(secs(5), completed(P1, 1));
    line.run_until(secs(3), reports(P1, PumpStatus::Idle));
    line.run_for(secs(5));
    assert_one_sale(&line, P1, CompletionReason::Normal);
}

#[test]
fn master_restart_mid_dispatch_reports_the_sale_once() {
    let mut line = filling(P1);
    line.run_for(secs(5));
    line.restart_master(master_setup());
    let restarted_at = line.events.len();
    line.run_until(secs(3), reports(P1, PumpStatus::Filling));
    line.run_for(secs(5));
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(5), completed(P1, 1));
    line.run_until(secs(3), reports(P1, PumpStatus::Idle));
    line.run_for(secs(5));
    assert_one_sale(&line, P1, CompletionReason::Normal);
    // The new master saw the dispatch running: no completion before the hang-up.
    assert!(line.events[restarted_at..]
        .iter()
        .any(|e| e.pump == P1 && matches!(e.kind, E::Filling { .. })));
    // And nothing is left hanging: the next dispatch works.
    line.act(P1, SimAction::LiftNozzle(N1));
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(500, 2))), vec![]),
    );
    line.run_until(secs(30), completed(P1, 2));
}

#[test]
fn restart_after_a_read_sale_reports_nothing_new() {
    let mut line = standard();
    line.act(P1, SimAction::LiftNozzle(N1));
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(800, 2))), vec![]),
    );
    line.run_until(secs(30), completed(P1, 1));
    line.act(P1, SimAction::HangNozzle);
    line.run_until(secs(3), reports(P1, PumpStatus::Idle));
    line.restart_master(master_setup());
    line.run_for(secs(5));
    assert_eq!(completions(&line.events, P1).len(), 1);
    assert_eq!(last_status(&line.events, P1), Some(PumpStatus::Idle));
}

#[test]
fn a_re_offered_old_sale_is_told_apart_by_the_totals() {
    // A pump that shows its finished sale until the next lift offers it again to a new
    // master. The master reports it with its figures; the totals, unchanged since the
    // first report, are the evidence that it is the old one.
    let sim = SimSettings {
        end_clears: EndClears::OnNextLift,
        ..SimSettings::default()
    };
    let mut line = line_with(GilbarcoMasterSettings::default(), sim);
    line.act(P1, SimAction::LiftNozzle(N1));
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(1_200, 2))), vec![]),
    );
    line.run_until(secs(30), completed(P1, 1));
    line.act(P1, SimAction::HangNozzle);
    line.run_for(secs(2));
    let first = completions(&line.events, P1)[0];
    let after_sale = read_totals(&mut line, P1, N1);
    let (volume, money) = totals_of(&line, P1, N1);
    assert_eq!(after_sale.volume, Some(Volume::from_raw(volume, 3)));
    assert_eq!(after_sale.amount, Some(Money::from_raw(money, 2)));
    assert_eq!(
        after_sale.volume,
        Some(first.volume),
        "the first sale on a fresh pump"
    );
    assert_eq!(after_sale.amount, Some(first.amount));
    assert_eq!(after_sale.grade, Some(GradeId(95)));

    line.restart_master(master_setup());
    line.run_until(secs(5), completed(P1, 2));
    let again = completions(&line.events, P1)[1];
    assert_eq!(again.volume, first.volume);
    assert_eq!(again.amount, first.amount);
    let now = read_totals(&mut line, P1, N1);
    assert_eq!(
        now, after_sale,
        "no fuel since: the offered sale is the old one"
    );

    // A real new sale moves the totals by exactly its figures.
    line.act(P1, SimAction::LiftNozzle(N1));
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(300, 2))), vec![]),
    );
    line.run_until(secs(30), completed(P1, 3));
    let new = completions(&line.events, P1)[2];
    let moved = read_totals(&mut line, P1, N1);
    let sum = |a: Option<Money>, b: Money| a.map(|a| Money::new(a.value() + b.value()));
    assert_eq!(moved.amount, sum(after_sale.amount, new.amount));
    assert_ne!(moved, after_sale);
}

#[test]
fn totals_sum_the_sales_of_each_nozzle() {
    let mut line = standard();
    for (nozzle, cents) in [(N1, 700), (N2, 450), (N1, 1_000)] {
        let n = completions(&line.events, P1).len();
        line.act(P1, SimAction::LiftNozzle(nozzle));
        line.submit(
            P1,
            authorize(Some(Preset::Amount(Money::from_raw(cents, 2))), vec![]),
        );
        line.run_until(secs(60), completed(P1, n + 1));
        line.act(P1, SimAction::HangNozzle);
        line.run_until(secs(3), reports(P1, PumpStatus::Idle));
    }
    let done = completions(&line.events, P1);
    for nozzle in [N1, N2, NozzleId(3)] {
        let totals = read_totals(&mut line, P1, nozzle);
        let (volume, amount) =
            done.iter()
                .filter(|c| c.nozzle == nozzle)
                .fold((0u64, 0u64), |(v, a), c| {
                    (
                        v + c.volume.to_raw(3, 8).expect("fits"),
                        a + c.amount.to_raw(2, 8).expect("fits"),
                    )
                });
        assert_eq!(totals.volume, Some(Volume::from_raw(volume, 3)), "{nozzle}");
        assert_eq!(totals.amount, Some(Money::from_raw(amount, 2)), "{nozzle}");
    }
}

#[test]
fn echoing_converter_feet_and_eight_digit_mode() {
    let cases = [
        (
            GilbarcoMasterSettings {
                echo: true,
                ..GilbarcoMasterSettings::default()
            },
            SimSettings {
                echo: true,
                ..SimSettings::default()
            },
        ),
        // An echo the master was not told about is skipped all the same.
        (
            GilbarcoMasterSettings::default(),
            SimSettings {
                echo: true,
                end_state: PumpState::Feot,
                ..SimSettings::default()
            },
        ),
        (
            GilbarcoMasterSettings {
                digits: DigitMode::Eight,
                ..GilbarcoMasterSettings::default()
            },
            SimSettings {
                digits: DigitMode::Eight,
                end_clears: EndClears::OnNextLift,
                ..SimSettings::default()
            },
        ),
    ];
    for (master, sim) in cases {
        let mut line = line_with(master, sim.clone());
        line.submit(
            P1,
            PumpCommand::SetPrices(vec![(N1, UnitPrice::from_raw(1_111, 2))]),
        );
        line.act(P1, SimAction::LiftNozzle(N1));
        let preset = Money::from_raw(2_000, 2);
        line.submit(P1, authorize(Some(Preset::Amount(preset)), vec![N1]));
        line.run_until(secs(60), completed(P1, 1));
        line.act(P1, SimAction::HangNozzle);
        line.run_for(secs(3));
        let done = completions(&line.events, P1);
        assert_eq!(
            done,
            vec![sim_sale(&line, P1, CompletionReason::PresetReached)],
            "{sim:?}"
        );
        assert_eq!(done[0].amount, preset);
        assert_eq!(done[0].unit_price, UnitPrice::from_raw(1_111, 2));
        let totals = read_totals(&mut line, P1, N1);
        assert_eq!(totals.amount, Some(preset), "{sim:?}");
        assert!(of(&line.events, P1).all(|k| !matches!(k, E::CommandFailed { .. })));
    }
}

#[test]
fn a_preset_the_pump_cannot_take_is_refused_never_rounded() {
    let setup = &master_setup()[0];
    let money =
        |raw, decimals| authorize(Some(Preset::Amount(Money::from_raw(raw, decimals))), vec![]);
    assert!(check_command(setup, &money(99_999, 2)).is_ok());
    assert!(
        check_command(setup, &money(100_000, 2)).is_err(),
        "five money words"
    );
    assert!(
        check_command(setup, &money(1_005, 3)).is_err(),
        "too precise"
    );
    assert!(check_command(setup, &money(0, 2)).is_err(), "zero");
    let litres = |raw| authorize(Some(Preset::Volume(Volume::from_raw(raw, 3))), vec![N1]);
    assert!(check_command(setup, &litres(99_999)).is_ok());
    assert!(check_command(setup, &litres(100_000)).is_err());
    assert!(
        check_command(setup, &authorize(None, vec![N1])).is_err(),
        "grade without preset"
    );
    assert!(check_command(setup, &authorize(None, vec![N1, N2])).is_err());
    assert!(check_command(setup, &authorize(None, vec![NozzleId(4)])).is_err());
    for command in [
        PumpCommand::Suspend,
        PumpCommand::Resume,
        PumpCommand::SwitchOff,
    ] {
        assert!(check_command(setup, &command).is_err(), "{command:?}");
    }
    let price =
        |raw, decimals| PumpCommand::SetPrices(vec![(N1, UnitPrice::from_raw(raw, decimals))]);
    assert!(check_command(setup, &price(9_999, 2)).is_ok());
    assert!(
        check_command(setup, &price(10_000, 2)).is_err(),
        "four price words"
    );
    assert!(
        check_command(setup, &price(1_0705, 3)).is_err(),
        "too precise"
    );
    assert!(check_command(setup, &PumpCommand::ReadTotals(NozzleId(4))).is_err());
    // The master refuses the same at submit, and sends nothing.
    let mut line = standard();
    let sent = line.to_pumps.written.len();
    assert!(line.master.submit(P1, money(100_000, 2)).is_err());
    line.run_for(secs(1));
    assert!(line.to_pumps.written[sent..]
        .iter()
        .all(|(_, b)| b.len() == 1 && b[0] & 0xF0 == 0));
}

#[test]
fn a_sale_whose_read_keeps_failing_is_given_up_then_read_on_request() {
    let mut line = standard();
    line.act(P1, SimAction::LiftNozzle(N1));
    line.submit(
        P1,
        authorize(Some(Preset::Amount(Money::from_raw(600, 2))), vec![]),
    );
    // The read follows the poll that showed the end of sale: its four attempts are lost.
    line.run_until(secs(30), reports(P1, PumpStatus::Completed));
    line.act(P1, SimAction::DropAnswers(4));
    line.run_until(secs(5), |events, _| {
        of(events, P1).any(|k| {
            matches!(
                k,
                E::CommandFailed {
                    command: PumpCommand::ReturnFillingInfo,
                    failure: CommandFailure::NoAnswer
                }
            )
        })
    });
    line.run_for(secs(3));
    assert!(completions(&line.events, P1).is_empty());
    assert_eq!(line.master.is_online(P1), Some(true));
    // The pump took the first lost read and left its end of sale; its last transaction
    // is still there for the asking, and the master knows it was never reported.
    assert_eq!(line.view(P1).state, PumpState::Call);
    line.submit(P1, PumpCommand::ReturnFillingInfo);
    line.run_until(secs(3), completed(P1, 1));
    assert_one_sale(&line, P1, CompletionReason::PresetReached);
    // Asked again, there is nothing unreported left: no second completion.
    line.submit(P1, PumpCommand::ReturnFillingInfo);
    line.run_for(secs(3));
    assert_eq!(completions(&line.events, P1).len(), 1);
}
