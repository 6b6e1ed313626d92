//! Shift reports: sales by attendant, grade and payment method, and each nozzle's
//! totalizer movement reconciled with the sales journaled on it.
//!
//! Pure: a journaled [`Shift`] and its sales in, a [`ShiftReport`] out (JSON for the API,
//! CSV for a spreadsheet). Voided sales are left out of the money tallies (nothing is
//! owed) but their fuel still left the nozzle, so they count in the reconciliation. A
//! nozzle whose totalizers moved by more than its journaled sales (beyond
//! [`TOLERANCE_LITRES`]) is flagged: fuel was dispensed outside the controller or a sale
//! was lost. A nozzle that could not be read at open or close is flagged as not compared.

use std::collections::BTreeMap;

use pump_protocols::{GradeId, NozzleId, PositionId};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::journal::{NozzleTotals, SaleRecord, Shift};
use crate::sale::SaleStatus;

/// Volume difference between totalizers and sales that is not flagged (rounding of the
/// pump's display against its totalizer).
pub const TOLERANCE_LITRES: Decimal = Decimal::from_parts(2, 0, 0, false, 2);

/// How a sale was paid, as the report groups it.
pub fn payment_method(record: &SaleRecord) -> &'static str {
    match record.sale.status {
        SaleStatus::Paid => "mercadopago_qr",
        SaleStatus::Ready => "unpaid",
        SaleStatus::Voided => "voided",
        SaleStatus::SettledOther => {
            let note = record
                .settled_note
                .as_deref()
                .unwrap_or_default()
                .to_lowercase();
            if note.contains("cash") || note.contains("efectivo") {
                "cash"
            } else if note.contains("card") || note.contains("tarjeta") {
                "card"
            } else {
                "other"
            }
        }
    }
}

/// Count, volume and amount of a group of sales.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Sales.
    pub count: u32,
    /// Volume.
    pub volume: Decimal,
    /// Amount.
    pub amount: Decimal,
}

impl Tally {
    fn add(&mut self, record: &SaleRecord) {
        self.count += 1;
        self.volume += record.sale.volume.value();
        self.amount += record.sale.amount.value();
    }

    fn to_json(&self, key: &str) -> Value {
        json!({
            "key": key,
            "sales": self.count,
            "volume": self.volume.normalize().to_string(),
            "amount": self.amount.to_string(),
        })
    }
}

/// One nozzle's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NozzleLine {
    /// The position.
    pub position: PositionId,
    /// The nozzle.
    pub nozzle: NozzleId,
    /// Its grade.
    pub grade: Option<GradeId>,
    /// Volume totalizer at open.
    pub open_volume: Option<Decimal>,
    /// Volume totalizer at close.
    pub close_volume: Option<Decimal>,
    /// Close − open.
    pub totalizer_volume: Option<Decimal>,
    /// Sum of the volumes journaled on the nozzle during the shift.
    pub sales_volume: Decimal,
    /// Sales journaled on the nozzle.
    pub sales: u32,
    /// Totalizer movement − sales.
    pub difference: Option<Decimal>,
    /// `None` when it reconciles; else `unrecorded_dispense`, `sales_exceed_totals` or
    /// `not_compared`.
    pub flag: Option<&'static str>,
    /// Why it was not compared.
    pub note: Option<String>,
}

/// A shift's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShiftReport {
    /// The shift.
    pub shift: Shift,
    /// Every sale that is owed or paid.
    pub total: Tally,
    /// By attendant id (`-` for none).
    pub by_attendant: BTreeMap<String, Tally>,
    /// By grade name.
    pub by_grade: BTreeMap<String, Tally>,
    /// By payment method.
    pub by_method: BTreeMap<&'static str, Tally>,
    /// One line per nozzle read at open.
    pub nozzles: Vec<NozzleLine>,
}

fn reading(list: &[NozzleTotals], position: PositionId, nozzle: NozzleId) -> Option<&NozzleTotals> {
    list.iter()
        .find(|r| r.position == position && r.nozzle == nozzle)
}

impl ShiftReport {
    /// The report of `shift` with its `sales`; `grade_name` names a grade.
    pub fn new(shift: Shift, sales: &[SaleRecord], grade_name: impl Fn(GradeId) -> String) -> Self {
        let mut total = Tally::default();
        let mut by_attendant: BTreeMap<String, Tally> = BTreeMap::new();
        let mut by_grade: BTreeMap<String, Tally> = BTreeMap::new();
        let mut by_method: BTreeMap<&'static str, Tally> = BTreeMap::new();
        let mut dispensed: BTreeMap<(PositionId, NozzleId), (Decimal, u32)> = BTreeMap::new();
        for record in sales {
            let sale = &record.sale;
            let entry = dispensed.entry((sale.position, sale.nozzle)).or_default();
            entry.0 += sale.volume.value();
            entry.1 += 1;
            by_method
                .entry(payment_method(record))
                .or_default()
                .add(record);
            if sale.status == SaleStatus::Voided {
                continue;
            }
            total.add(record);
            by_attendant
                .entry(sale.attendant.clone().unwrap_or_else(|| "-".to_owned()))
                .or_default()
                .add(record);
            let grade = sale.grade.map_or_else(|| "-".to_owned(), &grade_name);
            by_grade.entry(grade).or_default().add(record);
        }
        let close = shift.close_totals.clone().unwrap_or_default();
        let nozzles = shift
            .open_totals
            .iter()
            .map(|open| {
                let (sales_volume, count) = dispensed
                    .get(&(open.position, open.nozzle))
                    .copied()
                    .unwrap_or_default();
                let closed = reading(&close, open.position, open.nozzle);
                let open_volume = open.volume.map(|v| v.value());
                let close_volume = closed.and_then(|c| c.volume).map(|v| v.value());
                let totalizer_volume = match (open_volume, close_volume) {
                    (Some(o), Some(c)) => Some(c - o),
                    _ => None,
                };
                let difference = totalizer_volume.map(|t| t - sales_volume);
                let note = match (&open.error, closed.and_then(|c| c.error.clone())) {
                    _ if shift.close_totals.is_none() => Some("the shift is open".to_owned()),
                    (Some(e), _) => Some(format!("at open: {e}")),
                    (None, Some(e)) => Some(format!("at close: {e}")),
                    (None, None) if closed.is_none() => Some("not read at close".to_owned()),
                    (None, None) => None,
                };
                let flag = match difference {
                    Some(d) if d > TOLERANCE_LITRES => Some("unrecorded_dispense"),
                    Some(d) if d < -TOLERANCE_LITRES => Some("sales_exceed_totals"),
                    Some(_) => None,
                    None if shift.close_totals.is_some() => Some("not_compared"),
                    None => None,
                };
                NozzleLine {
                    position: open.position,
                    nozzle: open.nozzle,
                    grade: open.grade,
                    open_volume,
                    close_volume,
                    totalizer_volume,
                    sales_volume,
                    sales: count,
                    difference,
                    flag,
                    note,
                }
            })
            .collect();
        Self {
            shift,
            total,
            by_attendant,
            by_grade,
            by_method,
            nozzles,
        }
    }

    /// True when any nozzle is flagged.
    pub fn flagged(&self) -> bool {
        self.nozzles.iter().any(|n| n.flag.is_some())
    }

    /// The API's JSON.
    pub fn to_json(&self) -> Value {
        let s = &self.shift;
        let dec = |d: Option<Decimal>| d.map(|d| d.normalize().to_string());
        json!({
            "shift": shift_json(s),
            "total": self.total.to_json("total"),
            "by_attendant": self.by_attendant.iter().map(|(k, t)| t.to_json(k)).collect::<Vec<_>>(),
            "by_grade": self.by_grade.iter().map(|(k, t)| t.to_json(k)).collect::<Vec<_>>(),
            "by_method": self.by_method.iter().map(|(k, t)| t.to_json(k)).collect::<Vec<_>>(),
            "nozzles": self.nozzles.iter().map(|n| json!({
                "position": n.position.0,
                "nozzle": n.nozzle.0,
                "grade": n.grade.map(|g| g.0),
                "open_volume": dec(n.open_volume),
                "close_volume": dec(n.close_volume),
                "totalizer_volume": dec(n.totalizer_volume),
                "sales_volume": n.sales_volume.normalize().to_string(),
                "sales": n.sales,
                "difference": dec(n.difference),
                "flag": n.flag,
                "note": n.note,
            })).collect::<Vec<_>>(),
            "flagged": self.flagged(),
            "tolerance_litres": TOLERANCE_LITRES.to_string(),
        })
    }

    /// One table, one header: a row per tally (`section` attendant, grade, method or
    /// total) and per nozzle (`section` nozzle).
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "section,key,position,nozzle,sales,volume,amount,open_volume,close_volume,\
             totalizer_volume,difference,flag\n",
        );
        let tally = |out: &mut String, section: &str, key: &str, t: &Tally| {
            out.push_str(&format!(
                "{section},{},,,{},{},{},,,,,\n",
                csv_field(key),
                t.count,
                t.volume.normalize(),
                t.amount
            ));
        };
        tally(&mut out, "total", "total", &self.total);
        for (k, t) in &self.by_attendant {
            tally(&mut out, "attendant", k, t);
        }
        for (k, t) in &self.by_grade {
            tally(&mut out, "grade", k, t);
        }
        for (k, t) in &self.by_method {
            tally(&mut out, "method", k, t);
        }
        let dec = |d: Option<Decimal>| d.map(|d| d.normalize().to_string()).unwrap_or_default();
        for n in &self.nozzles {
            out.push_str(&format!(
                "nozzle,{},{},{},{},{},,{},{},{},{},{}\n",
                n.grade.map(|g| g.0.to_string()).unwrap_or_default(),
                n.position.0,
                n.nozzle.0,
                n.sales,
                n.sales_volume.normalize(),
                dec(n.open_volume),
                dec(n.close_volume),
                dec(n.totalizer_volume),
                dec(n.difference),
                n.flag.unwrap_or_default(),
            ));
        }
        out
    }
}

/// A shift as the API shows it (without its totals).
pub fn shift_json(s: &Shift) -> Value {
    json!({
        "id": s.id,
        "code": s.code,
        "opened_at": s.opened_at.to_string(),
        "opened_by": s.opened_by,
        "closed_at": s.closed_at.map(|t| t.to_string()),
        "closed_by": s.closed_by,
        "open_totals": s.open_totals.iter().map(NozzleTotals::to_json).collect::<Vec<_>>(),
        "close_totals": s.close_totals.as_ref().map(|l| l.iter().map(NozzleTotals::to_json).collect::<Vec<_>>()),
    })
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_separators_are_quoted() {
        assert_eq!(csv_field("7"), "7");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn tolerance_is_two_centilitres() {
        assert_eq!(TOLERANCE_LITRES.to_string(), "0.02");
    }
}
