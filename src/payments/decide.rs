//! What a payment read from the Mercado Pago API means for a sale: a pure function.
//!
//! Nothing here trusts a notification; it only ever sees the payment as the API returned
//! it and the sale as the journal holds it. The rules (docs/architecture.md "Payments",
//! docs/mercadopago.md §8 and §16):
//!
//! - approved, our collector, our currency, the sale's exact amount, sale still payable →
//!   the sale is paid and the position released;
//! - rejected / cancelled → recorded; the sale stays payable (the app retries, seed 000
//!   case 9);
//! - in_process / pending / authorized → wait for the next change;
//! - an approved payment that cannot pay the sale (amount or currency mismatch, unknown
//!   reference, another collector, a sale already paid by another payment or settled
//!   another way) → recorded and flagged for the attendant, and refunded automatically
//!   when the station allows it and the money is clearly not owed (a second payment, or a
//!   payment after the sale was settled by other means);
//! - refunded / charged_back / in_mediation → recorded and flagged.

use rust_decimal::Decimal;

use crate::journal::SaleRecord;
use crate::mercadopago::types::{Payment, PaymentStatus};
use crate::sale::{SaleId, SaleStatus};

/// Station facts a payment is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPolicy {
    /// The seller's Mercado Pago user id.
    pub collector_id: u64,
    /// The station's currency.
    pub currency: String,
    /// Refund a payment the station is clearly not owed (duplicate, after cash).
    pub refund_unowed: bool,
}

/// Why a payment needs a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// No sale carries the payment's `external_reference`.
    UnknownReference,
    /// Paid to another seller.
    WrongCollector,
    /// The amount differs from the sale's.
    AmountMismatch {
        /// What the sale costs.
        expected: Decimal,
        /// What was paid.
        paid: Decimal,
    },
    /// Paid in another currency.
    CurrencyMismatch,
    /// The sale was already paid by another payment.
    Duplicate,
    /// The sale was settled by other means (cash) or voided before this payment.
    AfterSettlement,
    /// The payment was refunded.
    Refunded,
    /// The buyer charged it back.
    ChargedBack,
    /// The buyer opened a dispute.
    InMediation,
}

impl Flag {
    /// A short reason for the journal and the attendant.
    pub fn reason(&self) -> String {
        match self {
            Flag::UnknownReference => "no sale has this external_reference".to_owned(),
            Flag::WrongCollector => "paid to another collector".to_owned(),
            Flag::AmountMismatch { expected, paid } => {
                format!("amount mismatch: sale {expected}, paid {paid}")
            }
            Flag::CurrencyMismatch => "currency mismatch".to_owned(),
            Flag::Duplicate => "second approved payment for a paid sale".to_owned(),
            Flag::AfterSettlement => "approved after the sale was settled another way".to_owned(),
            Flag::Refunded => "refunded".to_owned(),
            Flag::ChargedBack => "charged back".to_owned(),
            Flag::InMediation => "in mediation (dispute)".to_owned(),
        }
    }
}

/// What to do with a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Mark the sale paid and release the position.
    Pay(SaleId),
    /// Already applied (the same payment paid this sale): nothing to do.
    AlreadyApplied(SaleId),
    /// Rejected or cancelled: record it; the sale stays payable.
    Declined(Option<SaleId>),
    /// Not final yet: record it and wait.
    Wait(Option<SaleId>),
    /// Record and flag for the attendant; refund the whole payment when `refund` is set.
    Flag {
        /// The sale concerned, if any.
        sale: Option<SaleId>,
        /// Why.
        flag: Flag,
        /// Refund it automatically.
        refund: bool,
    },
}

/// Decides what `payment` means for `sale` (the journal's sale with the payment's
/// `external_reference`, if any).
pub fn decide(payment: &Payment, sale: Option<&SaleRecord>, policy: &PaymentPolicy) -> Decision {
    let sale_id = sale.map(|s| s.sale.id);
    let flag = |flag: Flag, refund: bool| Decision::Flag {
        sale: sale_id,
        flag,
        refund,
    };
    match &payment.status {
        PaymentStatus::Rejected | PaymentStatus::Cancelled => return Decision::Declined(sale_id),
        PaymentStatus::InProcess | PaymentStatus::Pending | PaymentStatus::Authorized => {
            return Decision::Wait(sale_id)
        }
        PaymentStatus::Refunded => return flag(Flag::Refunded, false),
        PaymentStatus::ChargedBack => return flag(Flag::ChargedBack, false),
        PaymentStatus::InMediation => return flag(Flag::InMediation, false),
        PaymentStatus::Other(_) => return Decision::Wait(sale_id),
        PaymentStatus::Approved => {}
    }
    if let Some(collector) = payment.collector_id {
        if u64::try_from(collector).ok() != Some(policy.collector_id) {
            return flag(Flag::WrongCollector, false);
        }
    }
    let Some(record) = sale else {
        return flag(Flag::UnknownReference, false);
    };
    let paid_by_this = record.payment_id.as_deref() == Some(payment.id.to_string().as_str());
    match record.sale.status {
        SaleStatus::Paid if paid_by_this => Decision::AlreadyApplied(record.sale.id),
        SaleStatus::Paid => flag(Flag::Duplicate, policy.refund_unowed),
        SaleStatus::SettledOther | SaleStatus::Voided => {
            flag(Flag::AfterSettlement, policy.refund_unowed)
        }
        SaleStatus::Ready => {
            let currency_ok = payment
                .currency_id
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(&policy.currency));
            if !currency_ok {
                return flag(Flag::CurrencyMismatch, false);
            }
            let expected = record.sale.amount.value();
            if payment.transaction_amount != expected {
                return flag(
                    Flag::AmountMismatch {
                        expected,
                        paid: payment.transaction_amount,
                    },
                    false,
                );
            }
            Decision::Pay(record.sale.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sale::Sale;
    use pump_protocols::{GradeId, Money, NozzleId, PositionId, UnitPrice, Volume};

    fn payment(status: &str, amount: &str, collector: i64) -> Payment {
        serde_json::from_value(serde_json::json!({
            "id": 9001,
            "status": status,
            "status_detail": "x",
            "transaction_amount": amount.parse::<serde_json::Number>().expect("number"),
            "currency_id": "ARS",
            "external_reference": "ST29P01T000001",
            "collector_id": collector,
        }))
        .expect("payment JSON")
    }

    fn record(status: SaleStatus, payment_id: Option<&str>) -> SaleRecord {
        SaleRecord {
            sale: Sale {
                id: 1,
                external_reference: "ST29P01T000001".into(),
                transaction_id: "00029-P01-000001".into(),
                invoice_number: 1,
                position: PositionId(1),
                nozzle: NozzleId(1),
                grade: Some(GradeId(1)),
                volume: Volume::new(Decimal::new(345, 2)),
                amount: Money::new(Decimal::new(500000, 2)),
                unit_price: UnitPrice::new(Decimal::new(145000, 2)),
                attendant: None,
                completed_at: jiff::Timestamp::UNIX_EPOCH,
                status,
                preference_id: None,
                shift: None,
                price_set: None,
            },
            dispatch: None,
            served_count: 1,
            first_served_at: None,
            payment_id: payment_id.map(str::to_owned),
            paid_at: None,
            settled_note: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    fn policy(refund: bool) -> PaymentPolicy {
        PaymentPolicy {
            collector_id: 446566691,
            currency: "ARS".into(),
            refund_unowed: refund,
        }
    }

    #[test]
    fn approved_exact_amount_pays_and_only_once() {
        let p = payment("approved", "5000.00", 446566691);
        let ready = record(SaleStatus::Ready, None);
        assert_eq!(decide(&p, Some(&ready), &policy(false)), Decision::Pay(1));
        // 5000 and 5000.00 are the same amount.
        let p2 = payment("approved", "5000", 446566691);
        assert_eq!(decide(&p2, Some(&ready), &policy(false)), Decision::Pay(1));
        let paid = record(SaleStatus::Paid, Some("9001"));
        assert_eq!(
            decide(&p, Some(&paid), &policy(false)),
            Decision::AlreadyApplied(1)
        );
    }

    #[test]
    fn declined_and_pending_leave_the_sale_payable() {
        let ready = record(SaleStatus::Ready, None);
        for status in ["rejected", "cancelled"] {
            let p = payment(status, "5000.00", 446566691);
            assert_eq!(
                decide(&p, Some(&ready), &policy(true)),
                Decision::Declined(Some(1))
            );
        }
        for status in ["in_process", "pending", "authorized"] {
            let p = payment(status, "5000.00", 446566691);
            assert_eq!(
                decide(&p, Some(&ready), &policy(true)),
                Decision::Wait(Some(1))
            );
        }
    }

    #[test]
    fn mismatches_are_flagged_and_never_pay() {
        let ready = record(SaleStatus::Ready, None);
        let short = payment("approved", "4999.99", 446566691);
        assert!(matches!(
            decide(&short, Some(&ready), &policy(true)),
            Decision::Flag {
                flag: Flag::AmountMismatch { .. },
                refund: false,
                ..
            }
        ));
        let other = payment("approved", "5000.00", 1);
        assert!(matches!(
            decide(&other, Some(&ready), &policy(true)),
            Decision::Flag {
                flag: Flag::WrongCollector,
                ..
            }
        ));
        let unknown = payment("approved", "5000.00", 446566691);
        assert!(matches!(
            decide(&unknown, None, &policy(true)),
            Decision::Flag {
                flag: Flag::UnknownReference,
                sale: None,
                refund: false
            }
        ));
    }

    #[test]
    fn unowed_money_is_refunded_only_when_allowed() {
        let p = payment("approved", "5000.00", 446566691);
        let paid_by_other = record(SaleStatus::Paid, Some("1234"));
        assert_eq!(
            decide(&p, Some(&paid_by_other), &policy(true)),
            Decision::Flag {
                sale: Some(1),
                flag: Flag::Duplicate,
                refund: true
            }
        );
        assert_eq!(
            decide(&p, Some(&paid_by_other), &policy(false)),
            Decision::Flag {
                sale: Some(1),
                flag: Flag::Duplicate,
                refund: false
            }
        );
        let cash = record(SaleStatus::SettledOther, None);
        assert_eq!(
            decide(&p, Some(&cash), &policy(true)),
            Decision::Flag {
                sale: Some(1),
                flag: Flag::AfterSettlement,
                refund: true
            }
        );
    }

    #[test]
    fn refunds_and_chargebacks_are_flagged() {
        let paid = record(SaleStatus::Paid, Some("9001"));
        for (status, expected) in [
            ("refunded", Flag::Refunded),
            ("charged_back", Flag::ChargedBack),
            ("in_mediation", Flag::InMediation),
        ] {
            let p = payment(status, "5000.00", 446566691);
            assert_eq!(
                decide(&p, Some(&paid), &policy(true)),
                Decision::Flag {
                    sale: Some(1),
                    flag: expected,
                    refund: false
                }
            );
        }
    }
}
