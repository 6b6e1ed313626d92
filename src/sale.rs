//! A sale: one completed dispatch and what became of it.
//!
//! This is the record the journal persists and the order endpoint serves. It owns no I/O.

use jiff::Timestamp;
use pump_protocols::{GradeId, Money, NozzleId, PositionId, UnitPrice, Volume};

/// Journal row id of a sale.
pub type SaleId = i64;

/// Where a sale is in its lifecycle (docs/sale-lifecycle.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaleStatus {
    /// Dispatch finished; waiting for payment. The order endpoint serves it.
    Ready,
    /// Paid through Mercado Pago and confirmed with the API.
    Paid,
    /// Settled by another means (cash, card at the counter).
    SettledOther,
    /// Cancelled by staff; nothing is owed.
    Voided,
}

impl SaleStatus {
    /// Stable lowercase name used in the journal and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Ready => "ready",
            SaleStatus::Paid => "paid",
            SaleStatus::SettledOther => "settled_other",
            SaleStatus::Voided => "voided",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ready" => SaleStatus::Ready,
            "paid" => SaleStatus::Paid,
            "settled_other" => SaleStatus::SettledOther,
            "voided" => SaleStatus::Voided,
            _ => return None,
        })
    }

    /// True while the sale can still be paid.
    pub fn is_payable(self) -> bool {
        self == SaleStatus::Ready
    }
}

/// A completed dispatch as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// Journal id.
    pub id: SaleId,
    /// Reference given to Mercado Pago: unique, uppercase alphanumeric, stable.
    pub external_reference: String,
    /// Loyalty transaction id (≤ 40 chars, unique across integrators).
    pub transaction_id: String,
    /// Invoice number from the station's counter.
    pub invoice_number: u64,
    /// The fuelling position.
    pub position: PositionId,
    /// The nozzle used.
    pub nozzle: NozzleId,
    /// The grade dispensed, if the nozzle is mapped.
    pub grade: Option<GradeId>,
    /// Volume dispensed.
    pub volume: Volume,
    /// Amount charged (the pump's figure).
    pub amount: Money,
    /// Unit price the pump used.
    pub unit_price: UnitPrice,
    /// Attendant id who authorized the dispatch, if any.
    pub attendant: Option<String>,
    /// When the dispatch completed.
    pub completed_at: Timestamp,
    /// Lifecycle state.
    pub status: SaleStatus,
    /// Mercado Pago preference id, once created (preference mode).
    pub preference_id: Option<String>,
    /// The shift open when the sale was journaled: its id and its loyalty code (the
    /// order's `loyalty.shift`).
    pub shift: Option<ShiftTag>,
    /// The price set the pump had confirmed when it dispensed the sale.
    pub price_set: Option<i64>,
}

/// A sale's shift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftTag {
    /// Journal id of the shift.
    pub id: i64,
    /// Its one-character loyalty code.
    pub code: String,
}
