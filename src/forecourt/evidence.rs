//! Is a reported completion fuel that flowed in this dispatch? The pure judgement.
//!
//! A DART pump offers its last transaction again at every new session, so after a
//! restart or a reconnect "a dispatch is open" proves nothing: the figures may be the
//! previous customer's. This module weighs the evidence the actor gathered, in order of
//! strength, and answers book, not dispensed, or ambiguous. It never guesses: where the
//! evidence does not settle it, the answer is [`Verdict::Ambiguous`] and the attendant
//! decides (docs/sale-lifecycle.md, "Evidence before a sale").
//!
//! Evidence, strongest first:
//! 1. the stage the authorization reached in the journal: one never handed to the line
//!    cannot have been dispensed;
//! 2. the pump's electronic totals of the nozzle, read before the authorization was sent
//!    and again after the completion: their difference is what flowed;
//! 3. the last journaled sale of the position: a pump that reports exactly the figures
//!    already booked is most likely re-offering them.
//!
//! Flow the daemon saw itself (the pump reported AUTHORIZED or FILLING in this session)
//! never reaches this module: it is a sale by sight.

use pump_protocols::{CompletedTransaction, Money, NozzleId, UnitPrice, Volume};

use crate::journal::{DispatchStage, TotalsReading};

/// The figures of a booked sale, to compare a report with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookedFigures {
    /// The nozzle.
    pub nozzle: NozzleId,
    /// Volume.
    pub volume: Volume,
    /// Amount.
    pub amount: Money,
    /// Unit price.
    pub unit_price: UnitPrice,
}

/// What the evidence says about a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fuel flowed in this dispatch: book it.
    Book,
    /// Nothing flowed in this dispatch: close it without a sale.
    NotDispensed(String),
    /// The evidence does not settle it: record what was seen for the attendant.
    Ambiguous(String),
}

/// Everything known when a completion must be judged.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// What the pump reported.
    pub completion: &'a CompletedTransaction,
    /// How far the dispatch's authorization got.
    pub stage: DispatchStage,
    /// The nozzle's totals before the authorization was sent, if read.
    pub before: Option<&'a TotalsReading>,
    /// The nozzle's totals after the completion, if read.
    pub after: Option<&'a TotalsReading>,
    /// The last sale booked for the position.
    pub last_sale: Option<&'a BookedFigures>,
}

/// How the totals moved relative to the reported figures.
enum TotalsSay {
    /// Both readings are complete enough to compare, and they moved by exactly the report.
    Flowed,
    /// They did not move at all.
    Unchanged,
    /// They moved by something else.
    Differ(String),
    /// Nothing to compare.
    Unknown,
}

fn totals_say(e: &Evidence<'_>) -> TotalsSay {
    let (Some(before), Some(after)) = (e.before, e.after) else {
        return TotalsSay::Unknown;
    };
    let volume = match (before.volume, after.volume) {
        (Some(b), Some(a)) => Some(a.value() - b.value()),
        _ => None,
    };
    let amount = match (before.amount, after.amount) {
        (Some(b), Some(a)) => Some(a.value() - b.value()),
        _ => None,
    };
    let pairs: Vec<_> = [
        volume.map(|d| (d, e.completion.volume.value())),
        amount.map(|d| (d, e.completion.amount.value())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if pairs.is_empty() {
        return TotalsSay::Unknown;
    }
    if pairs.iter().all(|(moved, _)| moved.is_zero()) {
        TotalsSay::Unchanged
    } else if pairs.iter().all(|(moved, reported)| moved == reported) {
        TotalsSay::Flowed
    } else {
        TotalsSay::Differ(format!(
            "the totals moved by volume {} / amount {} while the pump reports {} / {}",
            volume.map_or("?".to_owned(), |d| d.to_string()),
            amount.map_or("?".to_owned(), |d| d.to_string()),
            e.completion.volume,
            e.completion.amount,
        ))
    }
}

fn same_as(c: &CompletedTransaction, booked: &BookedFigures) -> bool {
    c.nozzle == booked.nozzle
        && c.volume == booked.volume
        && c.amount == booked.amount
        && c.unit_price == booked.unit_price
}

/// Weighs the evidence of a completion that the daemon did not see flow.
pub fn judge(e: &Evidence<'_>) -> Verdict {
    if e.stage == DispatchStage::Requested {
        return Verdict::NotDispensed(
            "the authorization never reached the pump (the daemon stopped before sending it); \
             authorize again"
                .to_owned(),
        );
    }
    match totals_say(e) {
        TotalsSay::Flowed => Verdict::Book,
        TotalsSay::Unchanged => Verdict::NotDispensed(
            "the pump's totals did not move since the authorization: the reported figures are \
             an earlier sale's; authorize again"
                .to_owned(),
        ),
        TotalsSay::Differ(what) => Verdict::Ambiguous(what),
        TotalsSay::Unknown => match e.last_sale {
            Some(last) if same_as(e.completion, last) => Verdict::Ambiguous(
                "no totals to compare, and the pump reports exactly the figures of the last \
                 sale of this position"
                    .to_owned(),
            ),
            Some(_) if e.stage == DispatchStage::Acknowledged => Verdict::Book,
            Some(_) => Verdict::Ambiguous(
                "no totals to compare, and the pump never acknowledged the authorization"
                    .to_owned(),
            ),
            None => Verdict::Ambiguous(
                "no totals to compare and no earlier sale of this position".to_owned(),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pump_protocols::CompletionReason;
    use rust_decimal::Decimal;

    fn completion(volume: i64, amount: i64) -> CompletedTransaction {
        CompletedTransaction {
            nozzle: NozzleId(1),
            grade: None,
            volume: Volume::new(Decimal::new(volume, 2)),
            amount: Money::new(Decimal::new(amount, 2)),
            unit_price: UnitPrice::new(Decimal::new(80000, 2)),
            reason: CompletionReason::Normal,
        }
    }

    fn totals(volume: i64, amount: i64) -> TotalsReading {
        TotalsReading {
            nozzle: NozzleId(1),
            volume: Some(Volume::new(Decimal::new(volume, 2))),
            amount: Some(Money::new(Decimal::new(amount, 2))),
        }
    }

    fn evidence<'a>(
        completion: &'a CompletedTransaction,
        stage: DispatchStage,
        before: Option<&'a TotalsReading>,
        after: Option<&'a TotalsReading>,
        last_sale: Option<&'a BookedFigures>,
    ) -> Evidence<'a> {
        Evidence {
            completion,
            stage,
            before,
            after,
            last_sale,
        }
    }

    #[test]
    fn an_authorization_never_sent_cannot_have_been_dispensed() {
        let c = completion(1000, 800000);
        let (b, a) = (totals(0, 0), totals(1000, 800000));
        let v = judge(&evidence(
            &c,
            DispatchStage::Requested,
            Some(&b),
            Some(&a),
            None,
        ));
        assert!(matches!(v, Verdict::NotDispensed(_)), "{v:?}");
    }

    #[test]
    fn totals_that_moved_by_the_report_book_the_sale() {
        let c = completion(1000, 800000);
        let (b, a) = (totals(5000, 100000), totals(6000, 900000));
        for stage in [DispatchStage::Sent, DispatchStage::Acknowledged] {
            assert_eq!(
                judge(&evidence(&c, stage, Some(&b), Some(&a), None)),
                Verdict::Book
            );
        }
    }

    #[test]
    fn phantom_sale_after_restart_unchanged_totals_are_not_a_sale() {
        // The previous customer's figures re-offered by a new session: same as the last
        // booked sale, totals unchanged since the authorization.
        let c = completion(1000, 800000);
        let last = BookedFigures {
            nozzle: c.nozzle,
            volume: c.volume,
            amount: c.amount,
            unit_price: c.unit_price,
        };
        let t = totals(6000, 900000);
        let v = judge(&evidence(
            &c,
            DispatchStage::Sent,
            Some(&t),
            Some(&t),
            Some(&last),
        ));
        assert!(matches!(v, Verdict::NotDispensed(_)), "{v:?}");
    }

    #[test]
    fn totals_that_moved_by_something_else_are_ambiguous() {
        let c = completion(1000, 800000);
        let (b, a) = (totals(5000, 100000), totals(5500, 500000));
        let v = judge(&evidence(
            &c,
            DispatchStage::Acknowledged,
            Some(&b),
            Some(&a),
            None,
        ));
        assert!(matches!(v, Verdict::Ambiguous(_)), "{v:?}");
    }

    #[test]
    fn volume_totals_alone_are_enough_evidence() {
        let c = completion(1000, 800000);
        let b = TotalsReading {
            amount: None,
            ..totals(5000, 0)
        };
        let a = TotalsReading {
            amount: None,
            ..totals(6000, 0)
        };
        assert_eq!(
            judge(&evidence(&c, DispatchStage::Sent, Some(&b), Some(&a), None)),
            Verdict::Book
        );
    }

    #[test]
    fn without_totals_the_last_sale_decides_only_what_it_can() {
        let c = completion(1000, 800000);
        let same = BookedFigures {
            nozzle: c.nozzle,
            volume: c.volume,
            amount: c.amount,
            unit_price: c.unit_price,
        };
        let other = BookedFigures {
            volume: Volume::new(Decimal::new(2000, 2)),
            ..same
        };
        let ack = DispatchStage::Acknowledged;
        assert!(matches!(
            judge(&evidence(&c, ack, None, None, Some(&same))),
            Verdict::Ambiguous(_)
        ));
        assert_eq!(
            judge(&evidence(&c, ack, None, None, Some(&other))),
            Verdict::Book
        );
        assert!(matches!(
            judge(&evidence(&c, DispatchStage::Sent, None, None, Some(&other))),
            Verdict::Ambiguous(_)
        ));
        assert!(matches!(
            judge(&evidence(&c, ack, None, None, None)),
            Verdict::Ambiguous(_)
        ));
    }
}
