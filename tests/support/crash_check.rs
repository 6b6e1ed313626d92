//! The crash-safety checker: the journal (read straight from the SQLite file, read-only)
//! against the ground truth of the simulated pumps (`crash_truth.rs`), the sandbox's
//! payments and refunds, and what the cars' people did (`crash_cars.rs`).
//!
//! Every violation is collected; none stops the check, so one report shows them all.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use forecourtd::mercadopago::types::{Payment, PaymentStatus, Refund};
use rusqlite::{Connection, OpenFlags};
use rust_decimal::Decimal;

use super::crash::{kept_note, Kill, Shared};
use super::crash_truth::Filling;

/// What went wrong, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A sale whose figures did not flow (in that dispatch).
    PhantomSale,
    /// A filling with no sale.
    LostSale,
    /// A sale in a filling's place with other figures.
    WrongFigures,
    /// An approved payment neither applied to its sale nor refunded or flagged.
    PaymentNotApplied,
    /// A payment applied more than once.
    AppliedTwice,
    /// A payment the station is not owed, kept: neither refunded nor flagged.
    UnownedKept,
    /// A payment refunded more than once.
    RefundedTwice,
    /// The payment that paid a sale was refunded.
    OwedPaymentRefunded,
    /// A refund left `requested`, or made at Mercado Pago and not in the journal.
    RefundAdrift,
    /// A sale closed without a matching approved payment, cash settlement or void.
    ReleasedUnpaid,
    /// A position refused work for a long time while the daemon was up.
    WedgedPosition,
    /// After the last restart a position could not authorize, fill and sell again.
    PositionUnusable,
    /// The order endpoint broke its contract.
    BadOrderAnswer,
    /// The daemon did not exit cleanly on SIGTERM at the end.
    UncleanShutdown,
    /// More than one Mercado Pago preference for one sale.
    DuplicatePreference,
}

/// One violation.
#[derive(Debug, Clone)]
pub struct Violation {
    /// Its kind.
    pub kind: Kind,
    /// What exactly.
    pub detail: String,
}

/// Result of a run.
#[derive(Debug, Default)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// The kills delivered.
    pub kills: Vec<Kill>,
    /// Fillings the pumps completed.
    pub fillings: usize,
    /// Sales in the journal.
    pub sales: usize,
    /// Sales by status.
    pub by_status: BTreeMap<String, usize>,
    /// Approved payments at Mercado Pago.
    pub payments: usize,
    /// Refunds at Mercado Pago.
    pub refunds: usize,
    /// Unowed payments left flagged without a refund.
    pub flagged: usize,
    /// Customers by how they paid.
    pub customers: BTreeMap<&'static str, u32>,
    /// Customers who gave up.
    pub gave_up: Vec<String>,
    /// Presets the pump cannot take that the daemon accepted.
    pub bad_presets_accepted: u32,
    /// Violations.
    pub violations: Vec<Violation>,
    /// Where the files of the run were kept.
    pub kept: Option<PathBuf>,
}

impl Report {
    fn violation(&mut self, kind: Kind, detail: String) {
        self.violations.push(Violation { kind, detail });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "crash-safety report (seed {}, replay with CRASH_SEED={})",
            self.seed, self.seed
        )?;
        let mut phases: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for kill in &self.kills {
            let slot = phases.entry(kill.phase.name()).or_default();
            slot.0 += 1;
            slot.1 += usize::from(kill.hit);
        }
        let long = self
            .kills
            .iter()
            .filter(|k| k.down >= Duration::from_secs(4))
            .count();
        writeln!(
            f,
            "  kills       {} ({long} with the daemon down past the notification retries)",
            self.kills.len()
        )?;
        for (phase, (n, hit)) in &phases {
            writeln!(f, "    {phase:<13} {n} ({hit} on cue)")?;
        }
        writeln!(f, "  fillings    {}", self.fillings)?;
        writeln!(f, "  sales       {} {:?}", self.sales, self.by_status)?;
        writeln!(f, "  payments    {} approved", self.payments)?;
        writeln!(
            f,
            "  refunds     {} (flagged, not refunded: {})",
            self.refunds, self.flagged
        )?;
        writeln!(f, "  customers   {:?}", self.customers)?;
        writeln!(
            f,
            "  bad presets {} accepted by the daemon",
            self.bad_presets_accepted
        )?;
        writeln!(f, "  gave up     {}", self.gave_up.len())?;
        for line in &self.gave_up {
            writeln!(f, "    {line}")?;
        }
        let mut kinds: BTreeMap<Kind, Vec<&Violation>> = BTreeMap::new();
        for v in &self.violations {
            kinds.entry(v.kind).or_default().push(v);
        }
        writeln!(f, "  violations  {}", self.violations.len())?;
        for (kind, list) in &kinds {
            writeln!(f, "    {kind:?}: {}", list.len())?;
            for v in list {
                writeln!(f, "      {}", v.detail)?;
            }
        }
        let note = kept_note(&self.kept);
        if !note.is_empty() {
            writeln!(f, "  {note}")?;
        }
        Ok(())
    }
}

/// A sale as the journal has it.
#[derive(Debug, Clone)]
struct Sale {
    id: i64,
    reference: String,
    position: u16,
    nozzle: u8,
    volume: Decimal,
    amount: Decimal,
    unit_price: Decimal,
    status: String,
    payment_id: Option<String>,
}

/// What the checker reads from the journal.
#[derive(Debug, Default)]
struct Journal {
    sales: Vec<Sale>,
    /// `payment_id` → flagged reason.
    flagged: BTreeMap<String, Option<String>>,
    /// (payment id, MP refund id, status).
    refunds: Vec<(String, Option<String>, String)>,
    /// Sale id → `sale_paid` events.
    paid_events: BTreeMap<i64, usize>,
}

fn read_journal(path: &Path) -> rusqlite::Result<Journal> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let decimal = |text: String| text.parse::<Decimal>().unwrap_or(Decimal::MIN);
    let mut journal = Journal::default();
    let mut stmt = conn.prepare(
        "SELECT id, external_reference, position, nozzle, volume, amount, unit_price, status, payment_id \
         FROM sales ORDER BY id",
    )?;
    journal.sales = stmt
        .query_map([], |r| {
            Ok(Sale {
                id: r.get(0)?,
                reference: r.get(1)?,
                position: r.get(2)?,
                nozzle: r.get(3)?,
                volume: decimal(r.get(4)?),
                amount: decimal(r.get(5)?),
                unit_price: decimal(r.get(6)?),
                status: r.get(7)?,
                payment_id: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare("SELECT payment_id, flagged_reason FROM payments")?;
    journal.flagged = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare("SELECT payment_id, mp_refund_id, status FROM refunds")?;
    journal.refunds = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare(
        "SELECT sale_id, count(*) FROM events WHERE kind = 'sale_paid' AND sale_id IS NOT NULL GROUP BY sale_id",
    )?;
    journal.paid_events = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?)))?
        .map(|row| row.map(|(id, n)| (id, usize::try_from(n).unwrap_or(0))))
        .collect::<rusqlite::Result<_>>()?;
    Ok(journal)
}

/// Waits (at most [`super::crash::Knobs::drain`]) until the money side is settled: every
/// approved payment applied, refunded or flagged, no refund adrift.
pub async fn drain(shared: &Shared, database: &Path) {
    let deadline = Instant::now() + shared.knobs.drain;
    while Instant::now() < deadline {
        if let Ok(journal) = read_journal(database) {
            let mut report = Report::default();
            let settled = shared
                .ledger
                .lock()
                .expect("ledger")
                .settle_attempts
                .clone();
            check_money(&mut report, &journal, &sandbox_truth(shared), &settled);
            if report.violations.is_empty() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

type SandboxTruth = Vec<(Payment, Vec<Refund>)>;

fn sandbox_truth(shared: &Shared) -> SandboxTruth {
    shared
        .sandbox
        .payments()
        .into_iter()
        .map(|p| {
            let refunds = shared.sandbox.refunds(p.id);
            (p, refunds)
        })
        .collect()
}

/// The whole check, after the daemon's final stop.
pub async fn check(
    shared: &Shared,
    database: &Path,
    kills: Vec<Kill>,
    usable: Vec<(u16, Option<String>)>,
    exit: std::process::ExitStatus,
) -> Report {
    let mut report = Report {
        kills,
        ..Report::default()
    };
    let journal = match read_journal(database) {
        Ok(journal) => journal,
        Err(e) => panic!("the journal cannot be read: {e}"),
    };
    let fillings = shared.truth.fillings();
    let sandbox = sandbox_truth(shared);
    let settle_attempts = {
        let ledger = shared.ledger.lock().expect("ledger");
        report.customers = ledger.customers.clone();
        report.gave_up = ledger.gave_up.clone();
        report.bad_presets_accepted = ledger.bad_presets_accepted;
        for wedge in &ledger.wedges {
            report.violation(Kind::WedgedPosition, wedge.clone());
        }
        for bad in &ledger.bad_answers {
            report.violation(Kind::BadOrderAnswer, bad.clone());
        }
        ledger.settle_attempts.clone()
    };
    for (position, failure) in usable {
        if let Some(why) = failure {
            report.violation(
                Kind::PositionUnusable,
                format!("position {position}: {why}"),
            );
        }
    }
    if !exit.success() {
        report.violation(Kind::UncleanShutdown, format!("exit status {exit}"));
    }
    report.fillings = fillings.len();
    report.sales = journal.sales.len();
    for sale in &journal.sales {
        *report.by_status.entry(sale.status.clone()).or_default() += 1;
    }
    report.payments = sandbox.iter().filter(|(p, _)| ever_approved(p)).count();
    report.refunds = sandbox.iter().map(|(_, r)| r.len()).sum();
    for position in 1..=u16::from(shared.knobs.pumps) {
        check_position(&mut report, position, &fillings, &journal.sales);
    }
    check_money(&mut report, &journal, &sandbox, &settle_attempts);
    let mut preferences: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for preference in shared.sandbox.preferences() {
        if let Some(reference) = preference.external_reference {
            preferences
                .entry(reference.to_uppercase())
                .or_default()
                .push(preference.id);
        }
    }
    for (reference, ids) in preferences.into_iter().filter(|(_, ids)| ids.len() > 1) {
        report.violation(
            Kind::DuplicatePreference,
            format!("sale {reference}: preferences {ids:?}"),
        );
    }
    report
}

fn ever_approved(payment: &Payment) -> bool {
    matches!(
        payment.status,
        PaymentStatus::Approved | PaymentStatus::Refunded
    )
}

type Figures = (u8, Decimal, Decimal, Decimal);

fn filling_figures(f: &Filling) -> Figures {
    (f.nozzle, f.volume, f.amount, f.unit_price)
}

fn sale_figures(s: &Sale) -> Figures {
    (s.nozzle, s.volume, s.amount, s.unit_price)
}

/// Fillings and sales of one position, both in time order, aligned by their figures
/// (longest common subsequence): what is left over is lost, phantom or wrong.
fn check_position(report: &mut Report, position: u16, fillings: &[Filling], sales: &[Sale]) {
    let fillings: Vec<&Filling> = fillings
        .iter()
        .filter(|f| f.position == position && !(f.volume.is_zero() && f.amount.is_zero()))
        .collect();
    let sales: Vec<&Sale> = sales.iter().filter(|s| s.position == position).collect();
    for f in fillings.iter().filter(|f| f.merged) {
        report.violation(
            Kind::LostSale,
            format!(
                "position {position}: filling #{} merged two fillings (simulator observation)",
                f.seq
            ),
        );
    }
    let (n, m) = (fillings.len(), sales.len());
    let mut table = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[i][j] = if filling_figures(fillings[i]) == sale_figures(sales[j]) {
                table[i + 1][j + 1] + 1
            } else {
                table[i + 1][j].max(table[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let (mut lost, mut extra): (Vec<&Filling>, Vec<&Sale>) = (Vec::new(), Vec::new());
    let flush = |report: &mut Report, lost: &mut Vec<&Filling>, extra: &mut Vec<&Sale>| {
        let paired = lost.len().min(extra.len());
        for (f, s) in lost.iter().zip(extra.iter()).take(paired) {
            report.violation(
                Kind::WrongFigures,
                format!(
                    "position {position}: filling #{} {} but sale {} ({}) {}",
                    f.seq,
                    show_filling(f),
                    s.id,
                    s.status,
                    show_sale(s)
                ),
            );
        }
        for f in lost.iter().skip(paired) {
            report.violation(
                Kind::LostSale,
                format!(
                    "position {position}: filling #{} {}",
                    f.seq,
                    show_filling(f)
                ),
            );
        }
        for s in extra.iter().skip(paired) {
            let repeats = fillings
                .iter()
                .find(|f| filling_figures(f) == sale_figures(s))
                .map(|f| format!(" (repeats the figures of filling #{})", f.seq))
                .unwrap_or_default();
            report.violation(
                Kind::PhantomSale,
                format!(
                    "position {position}: sale {} {} ({}) {}{repeats}",
                    s.id,
                    s.reference,
                    s.status,
                    show_sale(s)
                ),
            );
        }
        lost.clear();
        extra.clear();
    };
    while i < n || j < m {
        if i < n && j < m && filling_figures(fillings[i]) == sale_figures(sales[j]) {
            flush(report, &mut lost, &mut extra);
            i += 1;
            j += 1;
        } else if j < m && (i == n || table[i][j + 1] >= table[i + 1][j]) {
            extra.push(sales[j]);
            j += 1;
        } else {
            lost.push(fillings[i]);
            i += 1;
        }
    }
    flush(report, &mut lost, &mut extra);
}

fn show_filling(f: &Filling) -> String {
    format!(
        "nozzle {} {} l ${} at {}",
        f.nozzle, f.volume, f.amount, f.unit_price
    )
}

fn show_sale(s: &Sale) -> String {
    format!(
        "nozzle {} {} l ${} at {}",
        s.nozzle, s.volume, s.amount, s.unit_price
    )
}

/// Payments, refunds and closed sales against Mercado Pago's truth and the attendants'
/// cash settlements.
fn check_money(
    report: &mut Report,
    journal: &Journal,
    sandbox: &SandboxTruth,
    settle_attempts: &BTreeSet<i64>,
) {
    let by_reference: BTreeMap<String, &Sale> = journal
        .sales
        .iter()
        .map(|s| (s.reference.to_uppercase(), s))
        .collect();
    let payments: BTreeMap<String, &Payment> =
        sandbox.iter().map(|(p, _)| (p.id.to_string(), p)).collect();
    for (payment, refunds) in sandbox {
        let id = payment.id.to_string();
        let sale = payment
            .external_reference
            .as_ref()
            .and_then(|r| by_reference.get(&r.to_uppercase()).copied());
        let refunded: Decimal = refunds.iter().map(|r| r.amount).sum();
        if !ever_approved(payment) {
            continue;
        }
        let Some(sale) = sale else {
            report.violation(
                Kind::PaymentNotApplied,
                format!(
                    "payment {id}: no sale has reference {:?}",
                    payment.external_reference
                ),
            );
            continue;
        };
        let applied = sale.status == "paid" && sale.payment_id.as_deref() == Some(id.as_str());
        if applied {
            if !refunds.is_empty() {
                report.violation(
                    Kind::OwedPaymentRefunded,
                    format!(
                        "payment {id} paid sale {} and was refunded {refunded}",
                        sale.id
                    ),
                );
            }
            continue;
        }
        if sale.status == "ready" {
            report.violation(
                Kind::PaymentNotApplied,
                format!(
                    "payment {id} ${} approved, sale {} {} still ready",
                    payment.transaction_amount, sale.id, sale.reference
                ),
            );
            continue;
        }
        if refunds.len() > 1 {
            report.violation(
                Kind::RefundedTwice,
                format!("payment {id}: {} refunds", refunds.len()),
            );
        }
        if refunded == payment.transaction_amount {
            continue;
        }
        if refunds.is_empty() && journal.flagged.get(&id).is_some_and(Option::is_some) {
            report.flagged += 1;
            continue;
        }
        report.violation(
            Kind::UnownedKept,
            format!(
                "payment {id} ${} (refunded {refunded}) for sale {} which is {}",
                payment.transaction_amount, sale.id, sale.status
            ),
        );
    }
    let mut used: BTreeMap<&str, i64> = BTreeMap::new();
    for sale in &journal.sales {
        match sale.status.as_str() {
            "paid" => {
                let payment = sale.payment_id.as_deref().and_then(|id| payments.get(id));
                let good = payment.is_some_and(|p| {
                    ever_approved(p)
                        && p.transaction_amount == sale.amount
                        && p.external_reference.as_deref().map(str::to_uppercase)
                            == Some(sale.reference.to_uppercase())
                });
                if !good {
                    report.violation(Kind::ReleasedUnpaid, format!("sale {} paid by {:?}, which is not an approved payment of its amount and reference", sale.id, sale.payment_id));
                }
                if let Some(id) = sale.payment_id.as_deref() {
                    if let Some(other) = used.insert(id, sale.id) {
                        report.violation(
                            Kind::AppliedTwice,
                            format!("payment {id} paid sales {other} and {}", sale.id),
                        );
                    }
                }
                let events = journal.paid_events.get(&sale.id).copied().unwrap_or(0);
                if events != 1 {
                    report.violation(
                        Kind::AppliedTwice,
                        format!("sale {} has {events} sale_paid events", sale.id),
                    );
                }
            }
            "settled_other" if !settle_attempts.contains(&sale.id) => {
                report.violation(
                    Kind::ReleasedUnpaid,
                    format!(
                        "sale {} settled another way, but no attendant settled it",
                        sale.id
                    ),
                );
            }
            _ => {}
        }
    }
    let journaled: BTreeSet<&str> = journal
        .refunds
        .iter()
        .filter_map(|(_, mp, _)| mp.as_deref())
        .collect();
    for (payment, status) in journal.refunds.iter().map(|(p, _, s)| (p, s)) {
        if status == "requested" {
            report.violation(
                Kind::RefundAdrift,
                format!("refund of payment {payment} left requested"),
            );
        }
    }
    for (_, refunds) in sandbox {
        for refund in refunds {
            if !journaled.contains(refund.id.to_string().as_str()) {
                report.violation(
                    Kind::RefundAdrift,
                    format!(
                        "refund {} of payment {} is not in the journal",
                        refund.id, refund.payment_id
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filling(seq: usize, volume: i64, amount: i64) -> Filling {
        Filling {
            seq,
            position: 1,
            nozzle: 1,
            volume: Decimal::new(volume, 2),
            amount: Decimal::new(amount, 2),
            unit_price: Decimal::new(145_000, 2),
            merged: false,
        }
    }

    fn sale(id: i64, volume: i64, amount: i64) -> Sale {
        Sale {
            id,
            reference: format!("ST29P01T{id:06}"),
            position: 1,
            nozzle: 1,
            volume: Decimal::new(volume, 2),
            amount: Decimal::new(amount, 2),
            unit_price: Decimal::new(145_000, 2),
            status: "ready".to_owned(),
            payment_id: None,
        }
    }

    fn kinds(fillings: &[Filling], sales: &[Sale]) -> Vec<Kind> {
        let mut report = Report::default();
        check_position(&mut report, 1, fillings, sales);
        report.violations.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn one_sale_per_filling_is_clean() {
        let fillings = [filling(0, 200, 290_000), filling(1, 200, 290_000)];
        let sales = [sale(1, 200, 290_000), sale(2, 200, 290_000)];
        assert_eq!(kinds(&fillings, &sales), vec![]);
    }

    #[test]
    fn the_previous_figures_booked_again_are_a_phantom() {
        let fillings = [filling(0, 200, 290_000), filling(1, 100, 145_000)];
        let sales = [
            sale(1, 200, 290_000),
            sale(2, 200, 290_000),
            sale(3, 100, 145_000),
        ];
        assert_eq!(kinds(&fillings, &sales), vec![Kind::PhantomSale]);
    }

    #[test]
    fn a_filling_without_a_sale_is_lost_and_other_figures_are_wrong() {
        let fillings = [
            filling(0, 200, 290_000),
            filling(1, 100, 145_000),
            filling(2, 300, 435_000),
        ];
        let sales = [sale(1, 200, 290_000), sale(2, 301, 435_000)];
        assert_eq!(
            kinds(&fillings, &sales),
            vec![Kind::WrongFigures, Kind::LostSale]
        );
    }

    #[test]
    fn nothing_dispensed_needs_no_sale() {
        let fillings = [filling(0, 0, 0), filling(1, 100, 145_000)];
        assert_eq!(kinds(&fillings, &[sale(1, 100, 145_000)]), vec![]);
    }

    fn payment(id: i64, reference: &str, amount: &str, status: &str) -> Payment {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "status": status,
            "transaction_amount": amount.parse::<serde_json::Number>().expect("number"),
            "external_reference": reference,
        }))
        .expect("payment JSON")
    }

    fn money(sales: Vec<Sale>, sandbox: SandboxTruth) -> Vec<Kind> {
        let mut report = Report::default();
        let journal = Journal {
            paid_events: sales
                .iter()
                .filter(|s| s.status == "paid")
                .map(|s| (s.id, 1))
                .collect(),
            sales,
            ..Journal::default()
        };
        check_money(&mut report, &journal, &sandbox, &BTreeSet::new());
        report.violations.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn money_taken_for_a_sale_left_payable_is_not_applied() {
        let kinds = money(
            vec![sale(1, 200, 290_000)],
            vec![(payment(7, "ST29P01T000001", "2900.00", "approved"), vec![])],
        );
        assert_eq!(kinds, vec![Kind::PaymentNotApplied]);
    }

    #[test]
    fn a_sale_released_on_a_rejected_payment_or_no_settlement_is_unpaid() {
        let mut paid = sale(1, 200, 290_000);
        paid.status = "paid".to_owned();
        paid.payment_id = Some("7".to_owned());
        let mut cash = sale(2, 100, 145_000);
        cash.status = "settled_other".to_owned();
        let kinds = money(
            vec![paid, cash],
            vec![(payment(7, "ST29P01T000001", "2900.00", "rejected"), vec![])],
        );
        assert_eq!(kinds, vec![Kind::ReleasedUnpaid, Kind::ReleasedUnpaid]);
    }

    #[test]
    fn a_second_payment_kept_without_refund_or_flag_is_reported() {
        let mut paid = sale(1, 200, 290_000);
        paid.status = "paid".to_owned();
        paid.payment_id = Some("7".to_owned());
        let kinds = money(
            vec![paid],
            vec![
                (payment(7, "ST29P01T000001", "2900.00", "approved"), vec![]),
                (payment(8, "ST29P01T000001", "2900.00", "approved"), vec![]),
            ],
        );
        assert_eq!(kinds, vec![Kind::UnownedKept]);
    }
}
