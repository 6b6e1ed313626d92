//! Validation of the pump side: `[grades]`, `[[lines]]` and `[[lines.pumps]]`.
//!
//! This module owns the cross-references between them: unique line names, bus addresses
//! unique per line and valid for the protocol, positions unique across all lines, nozzles
//! mapped to existing grades, and every grade price programmable into every pump that
//! sells it. It never reads files or the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pump_protocols::{BusAddress, Decimals, GradeId, NozzleId, PositionId, UnitPrice};
use rust_decimal::Decimal;

use super::protocol::{parse_digits, parse_protocol, Limits, STANDARD_BAUDS};
use super::{resolve, BrokenKeys, Report, Seen, MAX_NAME};
use crate::config::raw::{Lenient, RawCapture, RawGrade, RawLine, RawPrice, RawPump};
use crate::config::{
    CaptureSettings, DataBits, Grade, GradeUnit, Line, OnNak, Parity, Protocol, Pump, StopBits,
    TxWrap,
};

/// The validated grades, by key, and the keys whose section did not parse.
pub(crate) struct Grades {
    by_key: BTreeMap<String, Grade>,
    broken: BrokenKeys,
}

impl Grades {
    /// The grades by ascending id.
    pub(crate) fn into_sorted(self) -> Vec<Grade> {
        let mut grades: Vec<Grade> = self.by_key.into_values().collect();
        grades.sort_by_key(|g| g.id);
        grades
    }
}

/// The validated lines, and each valid position's (line, pump) index in the file.
pub(crate) struct Lines {
    pub(crate) lines: Vec<Line>,
    pub(crate) positions: BTreeMap<PositionId, (usize, usize)>,
}

/// A grade whose fields are checked, waiting for its id.
struct Pending {
    key: String,
    explicit_id: Option<GradeId>,
    name: Option<String>,
    code: Option<String>,
    unit: Option<GradeUnit>,
    price: Option<UnitPrice>,
}

/// Validates `[grades]`. Explicit ids are kept; the others get the lowest free ids in key
/// order.
pub(crate) fn grades(r: &mut Report, raw: BTreeMap<String, Lenient<RawGrade>>) -> Grades {
    let mut broken = BrokenKeys::new();
    let mut pending = Vec::new();
    let mut ids = Seen::new();
    for (key, part) in raw {
        let prefix = format!("grades.{key}");
        let Some(g) = r.parsed(part, &prefix) else {
            broken.insert(key);
            continue;
        };
        let explicit_id = g.id.and_then(|id| {
            let path = format!("{prefix}.id");
            let id = r.int(Some(id), id, 1..=i64::from(u16::MAX), &path)?;
            let id = GradeId(u16::try_from(id).ok()?);
            if let Some(first) = ids.insert(id, &prefix) {
                r.error(path, format!("id {id} is already used by {first}"));
            }
            Some(id)
        });
        let name = r
            .required(g.name, &format!("{prefix}.name"))
            .and_then(|n| r.text(&n, MAX_NAME, &format!("{prefix}.name")));
        let code = r
            .required(g.code, &format!("{prefix}.code"))
            .and_then(|c| r.text(&c, 20, &format!("{prefix}.code")));
        let unit = r.choice(
            g.unit.as_deref(),
            GradeUnit::Litre,
            &[("litre", GradeUnit::Litre), ("piece", GradeUnit::Piece)],
            "unit",
            &format!("{prefix}.unit"),
        );
        let price = r
            .required(g.price, &format!("{prefix}.price"))
            .and_then(|p| price(r, p, &format!("{prefix}.price")));
        // An id that failed its check leaves the grade without one; its error is reported.
        if g.id.is_some() && explicit_id.is_none() {
            broken.insert(key);
            continue;
        }
        pending.push(Pending {
            key,
            explicit_id,
            name,
            code,
            unit,
            price,
        });
    }

    let mut by_key = BTreeMap::new();
    let mut next = 1u16;
    for p in pending {
        let id = match p.explicit_id {
            Some(id) => id,
            None => {
                let free = (next..=u16::MAX).find(|&n| ids.insert(GradeId(n), &p.key).is_none());
                let Some(free) = free else {
                    r.error(format!("grades.{}", p.key), "no free grade id left");
                    continue;
                };
                next = free;
                GradeId(free)
            }
        };
        match (p.name, p.code, p.unit, p.price) {
            (Some(name), Some(code), Some(unit), Some(price)) => {
                by_key.insert(
                    p.key.clone(),
                    Grade {
                        id,
                        key: p.key,
                        name,
                        code,
                        unit,
                        price,
                    },
                );
            }
            // Its errors are reported; references to it must not be reported again.
            _ => {
                broken.insert(p.key);
            }
        }
    }
    Grades { by_key, broken }
}

/// A price written as a decimal string or an integer, > 0. Floats are refused: `800.1` as
/// a binary float is not 800.1.
fn price(r: &mut Report, raw: RawPrice, path: &str) -> Option<UnitPrice> {
    let value = match raw {
        RawPrice::Text(text) => match Decimal::from_str_exact(text.trim()) {
            Ok(d) => d,
            Err(_) => {
                r.error(
                    path,
                    format!("{text:?} is not a decimal number such as \"1234.56\""),
                );
                return None;
            }
        },
        RawPrice::Integer(i) => Decimal::from(i),
        RawPrice::Float(f) => {
            r.error(
                path,
                format!(
                    "{f} is a floating-point number; write prices as strings, e.g. \"1234.56\""
                ),
            );
            return None;
        }
    };
    if value <= Decimal::ZERO {
        r.error(path, format!("{value} must be greater than 0"));
        return None;
    }
    Some(UnitPrice::new(value))
}

/// Validates `[[lines]]` and their pumps against `grades`.
pub(crate) fn lines(
    r: &mut Report,
    raw: Vec<Lenient<RawLine>>,
    grades: &Grades,
    base_dir: &Path,
) -> Lines {
    if raw.is_empty() {
        r.error(
            "lines",
            "no [[lines]] configured; at least one serial line with a pump is needed",
        );
    }
    let mut out = Lines {
        lines: Vec::new(),
        positions: BTreeMap::new(),
    };
    let mut names = Seen::new();
    let mut positions = Seen::new();
    for (i, part) in raw.into_iter().enumerate() {
        let prefix = format!("lines[{i}]");
        let Some(l) = r.parsed(part, &prefix) else {
            continue;
        };
        if let Some(line) = line(
            r,
            l,
            &prefix,
            i,
            grades,
            base_dir,
            &mut names,
            &mut positions,
            &mut out,
        ) {
            out.lines.push(line);
        }
    }
    out
}

#[allow(clippy::too_many_arguments)] // One call site; the arguments are the shared checks.
fn line(
    r: &mut Report,
    l: RawLine,
    prefix: &str,
    index: usize,
    grades: &Grades,
    base_dir: &Path,
    names: &mut Seen<String>,
    positions: &mut Seen<PositionId>,
    out: &mut Lines,
) -> Option<Line> {
    let p = |key: &str| format!("{prefix}.{key}");
    let name = r
        .required(l.name, &p("name"))
        .and_then(|n| r.text(&n, 40, &p("name")));
    if let Some(name) = &name {
        if let Some(first) = names.insert(name.clone(), prefix) {
            r.error(
                p("name"),
                format!("name {name:?} is already used by {first}"),
            );
        }
    }
    let device = r.required(l.device, &p("device")).and_then(|d| {
        if d.trim().is_empty() {
            r.error(p("device"), "must not be empty");
            None
        } else {
            Some(PathBuf::from(d))
        }
    });
    let protocol = parse_protocol(r, l.protocol.as_deref(), &p("protocol"));
    let digits = parse_digits(r, protocol, l.digits, &p("digits"));
    let limits = Limits::of(protocol, digits.unwrap_or_default());
    let baud = l.baud.unwrap_or(limits.default_baud);
    let baud = if limits.baud_ok(baud) {
        u32::try_from(baud).ok()
    } else {
        let message = if limits.name == "gilbarco" {
            format!("{baud} is neither 5787 nor a standard rate ({STANDARD_BAUDS:?})")
        } else {
            format!("{baud} is not a standard rate (expected one of {STANDARD_BAUDS:?})")
        };
        r.error(p("baud"), message);
        None
    };
    let parity = r.choice(
        l.parity.as_deref(),
        limits.default_parity,
        &[
            ("odd", Parity::Odd),
            ("even", Parity::Even),
            ("none", Parity::None),
        ],
        "parity",
        &p("parity"),
    );
    let data_bits = match l.data_bits.unwrap_or(8) {
        7 => Some(DataBits::Seven),
        8 => Some(DataBits::Eight),
        other => {
            r.error(p("data_bits"), format!("{other} is not 7 or 8"));
            None
        }
    };
    let stop_bits = match l.stop_bits.unwrap_or(1) {
        1 => Some(StopBits::One),
        2 => Some(StopBits::Two),
        other => {
            r.error(p("stop_bits"), format!("{other} is not 1 or 2"));
            None
        }
    };
    // DART pumps must answer within 25 ms (docs/protocols/dart.md §4.1), Gilbarco pumps
    // within 68 (gilbarco.md §6); waiting less than 25 would declare healthy pumps silent.
    let response_timeout = r.millis(
        l.response_timeout_ms,
        limits.default_response_ms,
        25..=10_000,
        &p("response_timeout_ms"),
    );
    let stale_limit = r.millis(l.stale_limit_ms, 3_000, 1..=600_000, &p("stale_limit_ms"));
    if let (Some(stale), Some(response)) = (stale_limit, response_timeout) {
        if stale <= response {
            r.error(
                p("stale_limit_ms"),
                format!(
                    "{} ms must be longer than response_timeout_ms ({} ms)",
                    stale.as_millis(),
                    response.as_millis()
                ),
            );
        }
    }
    let poll_interval = r.millis(l.poll_interval_ms, 30, 0..=60_000, &p("poll_interval_ms"));
    let offline_after_misses = r
        .int(
            l.offline_after_misses,
            5,
            1..=1_000,
            &p("offline_after_misses"),
        )
        .and_then(|v| u32::try_from(v).ok());
    let retries = r
        .int(l.retries, 3, 0..=10, &p("retries"))
        .and_then(|v| u32::try_from(v).ok());
    // Above one extra turn per 64 ordinary ones the extra turns no longer shorten a
    // hang-up's wait on any line (DART has at most 32 pumps, Gilbarco 16).
    let busy_turn_every = r
        .int(l.busy_turn_every, 4, 0..=64, &p("busy_turn_every"))
        .and_then(|v| u32::try_from(v).ok());
    let tx_wrap = r.choice(
        l.tx_wrap.as_deref(),
        TxWrap::FTo1,
        &[("f_to_1", TxWrap::FTo1), ("f_to_0", TxWrap::FTo0)],
        "tx_wrap",
        &p("tx_wrap"),
    );
    let on_nak = r.choice(
        l.on_nak.as_deref(),
        OnNak::ResetTo0,
        &[("reset_to_0", OnNak::ResetTo0), ("same_tx", OnNak::SameTx)],
        "on_nak",
        &p("on_nak"),
    );
    let echo = l.echo.unwrap_or(false);
    if l.echo.is_some() && protocol == Some(Protocol::Dart) {
        r.error(p("echo"), "echo applies to gilbarco lines only");
    }
    let reopen_backoff_max = r.millis(
        l.reopen_backoff_max_ms,
        10_000,
        100..=3_600_000,
        &p("reopen_backoff_max_ms"),
    );
    let capture = match l.capture {
        None => Some(None),
        Some(c) => capture(r, c, base_dir, &p("capture")).map(Some),
    };

    if l.pumps.is_empty() {
        r.error(
            p("pumps"),
            "no [[lines.pumps]]: a line needs at least one pump",
        );
    }
    let mut pumps = Vec::new();
    let mut pumps_ok = true;
    let mut addresses = Seen::new();
    for (j, part) in l.pumps.into_iter().enumerate() {
        let pump_prefix = format!("{prefix}.pumps[{j}]");
        let pump = r
            .parsed(part, &pump_prefix)
            .and_then(|raw| pump(r, raw, &pump_prefix, &limits, grades, &mut addresses));
        // The position is indexed even when the pump has other errors, so a duplicate of
        // it is still reported.
        match pump {
            Some((position, pump)) => {
                if register_position(r, position, &pump_prefix, positions) {
                    out.positions.insert(position, (index, j));
                }
                if let Some(pump) = pump {
                    pumps.push(pump);
                } else {
                    pumps_ok = false;
                }
            }
            None => pumps_ok = false,
        }
    }

    Some(Line {
        name: name?,
        device: device?,
        baud: baud?,
        parity: parity?,
        data_bits: data_bits?,
        stop_bits: stop_bits?,
        protocol: protocol?,
        stale_limit: stale_limit?,
        response_timeout: response_timeout?,
        poll_interval: poll_interval?,
        offline_after_misses: offline_after_misses?,
        busy_turn_every: busy_turn_every?,
        retries: retries?,
        tx_wrap: tx_wrap?,
        on_nak: on_nak?,
        echo,
        digits: digits?,
        reopen_backoff_max: reopen_backoff_max?,
        capture: capture?,
        pumps: pumps_ok.then_some(pumps)?,
    })
}

/// `capture = { path, max_bytes, keep }` of a line.
fn capture(
    r: &mut Report,
    c: RawCapture,
    base_dir: &Path,
    prefix: &str,
) -> Option<CaptureSettings> {
    let p = |key: &str| format!("{prefix}.{key}");
    let path = r.required(c.path, &p("path")).and_then(|path| {
        if path.trim().is_empty() {
            r.error(p("path"), "must not be empty");
            None
        } else {
            Some(resolve(base_dir, &path))
        }
    });
    let max_bytes = r
        .int(
            c.max_bytes,
            CaptureSettings::DEFAULT_MAX_BYTES as i64,
            4096..=1_000_000_000,
            &p("max_bytes"),
        )
        .and_then(|v| u64::try_from(v).ok());
    let keep = r
        .int(
            c.keep,
            i64::from(CaptureSettings::DEFAULT_KEEP),
            0..=100,
            &p("keep"),
        )
        .and_then(|v| u32::try_from(v).ok());
    Some(CaptureSettings {
        path: path?,
        max_bytes: max_bytes?,
        keep: keep?,
    })
}

/// Records `position`; false (with the error) when another pump has it.
fn register_position(
    r: &mut Report,
    position: PositionId,
    pump_prefix: &str,
    positions: &mut Seen<PositionId>,
) -> bool {
    match positions.insert(position, pump_prefix) {
        Some(first) => {
            let first = first.to_owned();
            r.error(
                format!("{pump_prefix}.position"),
                format!("position {position} is already used by {first}"),
            );
            false
        }
        None => true,
    }
}

/// Checks one pump. Returns its position when that is valid, with the pump when all of
/// it is.
fn pump(
    r: &mut Report,
    raw: RawPump,
    prefix: &str,
    limits: &Limits,
    grades: &Grades,
    addresses: &mut Seen<BusAddress>,
) -> Option<(PositionId, Option<Pump>)> {
    let p = |key: &str| format!("{prefix}.{key}");
    let address = r.required(raw.address, &p("address")).and_then(|a| {
        if !limits.addresses.contains(&a) {
            let shown = if limits.hex_addresses && (0..=0xFF).contains(&a) {
                format!("0x{a:02X}")
            } else {
                a.to_string()
            };
            r.error(
                p("address"),
                format!(
                    "address {shown} is out of range for {} ({})",
                    limits.name,
                    limits.address_range()
                ),
            );
            return None;
        }
        let address = BusAddress(u8::try_from(a).ok()?);
        if let Some(first) = addresses.insert(address, prefix) {
            let first = first.to_owned();
            r.error(
                p("address"),
                format!("address {address} is already used by {first}"),
            );
            return None;
        }
        Some(address)
    });
    let position = r
        .required(raw.position, &p("position"))
        .and_then(|v| r.int(Some(v), v, 1..=99, &p("position")))
        .and_then(|v| u16::try_from(v).ok())
        .map(PositionId);

    let decimals = decimals(r, raw.decimals, prefix, limits);
    let nozzles = nozzles(r, raw.nozzles, prefix, grades, decimals, limits);

    let pump = match (address, position, decimals, nozzles) {
        (Some(address), Some(position), Some(decimals), Some(nozzles)) => Some(Pump {
            position,
            address,
            decimals,
            nozzles,
        }),
        _ => None,
    };
    position.map(|position| (position, pump))
}

fn decimals(
    r: &mut Report,
    raw: Option<crate::config::raw::RawDecimals>,
    prefix: &str,
    limits: &Limits,
) -> Option<Decimals> {
    let Some(d) = raw else {
        return Some(Decimals::default());
    };
    let default = Decimals::default();
    let mut one = |value: Option<i64>, default: u8, max: i64, key: &str| {
        r.int(
            value,
            i64::from(default),
            0..=max,
            &format!("{prefix}.decimals.{key}"),
        )
        .and_then(|v| u8::try_from(v).ok())
    };
    let figures = limits.max_figure_decimals;
    let volume = one(d.volume, default.volume, figures, "volume");
    let amount = one(d.amount, default.amount, figures, "amount");
    let price = one(d.price, default.price, limits.max_price_decimals, "price");
    Some(Decimals {
        volume: volume?,
        amount: amount?,
        price: price?,
    })
}

/// Nozzle → grade, sorted by nozzle. Each grade's price must fit this pump's price field
/// exactly: the pump is programmed with it, and a rounded price would charge another
/// amount than the one configured.
fn nozzles(
    r: &mut Report,
    raw: BTreeMap<String, String>,
    prefix: &str,
    grades: &Grades,
    decimals: Option<Decimals>,
    limits: &Limits,
) -> Option<Vec<(NozzleId, GradeId)>> {
    let (max_nozzle, price_digits) = (limits.max_nozzle, limits.price_digits);
    if raw.is_empty() {
        r.error(
            format!("{prefix}.nozzles"),
            "at least one nozzle is needed, e.g. nozzles = { \"1\" = \"super\" }",
        );
        return None;
    }
    let mut ok = true;
    let mut out: Vec<(NozzleId, GradeId)> = Vec::new();
    let mut seen = Seen::new();
    for (number, grade_key) in raw {
        let path = format!("{prefix}.nozzles.{number}");
        let nozzle = match i64::from_str(number.trim()) {
            Ok(n) if (1..=max_nozzle).contains(&n) => u8::try_from(n).ok().map(NozzleId),
            _ => None,
        };
        let Some(nozzle) = nozzle else {
            r.error(
                &path,
                format!("nozzle {number:?} must be a number from 1 to {max_nozzle}"),
            );
            ok = false;
            continue;
        };
        if let Some(first) = seen.insert(nozzle, &path) {
            let first = first.to_owned();
            r.error(
                &path,
                format!("nozzle {nozzle} is already mapped by {first}"),
            );
            ok = false;
            continue;
        }
        let Some(grade) = grades.by_key.get(&grade_key) else {
            if !grades.broken.contains(&grade_key) {
                let known: Vec<_> = grades
                    .by_key
                    .keys()
                    .chain(grades.broken.iter())
                    .map(String::as_str)
                    .collect();
                r.error(
                    &path,
                    format!(
                        "unknown grade {grade_key:?} (configured: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            ok = false;
            continue;
        };
        if let Some(d) = decimals {
            if let Err(e) = grade.price.to_raw(d.price, price_digits) {
                r.error(
                    &path,
                    format!(
                        "price {} of grade {grade_key:?} cannot be programmed into this pump \
                         ({} price decimals, {price_digits} digits): {e}",
                        grade.price, d.price
                    ),
                );
                ok = false;
                continue;
            }
        }
        out.push((nozzle, grade.id));
    }
    out.sort_by_key(|(n, _)| *n);
    ok.then_some(out)
}
