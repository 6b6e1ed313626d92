//! The header of a capture file: the line's protocol, character format, master settings
//! and pumps, written from the configuration and read back by `forecourtd replay`, so a
//! capture carries everything needed to rebuild the master that heard it.
//!
//! It owns the mapping between a configured [`Line`] and the `# line …` and `# pump …`
//! comments of docs/captures.md; the comment syntax itself is `pump_protocols::capture`'s.

use std::path::PathBuf;
use std::time::Duration;

use pump_protocols::capture::{Capture, Meta, MAGIC};
use pump_protocols::{BusAddress, Decimals, GradeId, NozzleId, PositionId};

use crate::config::{DataBits, DigitMode, Line, OnNak, Parity, Protocol, Pump, StopBits, TxWrap};

/// The header lines (each ending in a newline) of a capture of `line`.
pub fn header(line: &Line) -> String {
    let mut out = format!("{MAGIC}\n");
    out.push_str(&format!(
        "# line name={} protocol={} baud={} data_bits={} parity={} stop_bits={} \
         response_timeout_ms={} poll_interval_ms={} offline_after_misses={} retries={} \
         tx_wrap={} on_nak={} echo={} digits={} busy_turn_every={}\n",
        line.name.replace(char::is_whitespace, "_"),
        line.protocol.as_str(),
        line.baud,
        match line.data_bits {
            DataBits::Seven => 7,
            DataBits::Eight => 8,
        },
        match line.parity {
            Parity::Odd => "odd",
            Parity::Even => "even",
            Parity::None => "none",
        },
        match line.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        },
        line.response_timeout.as_millis(),
        line.poll_interval.as_millis(),
        line.offline_after_misses,
        line.retries,
        match line.tx_wrap {
            TxWrap::FTo1 => "f_to_1",
            TxWrap::FTo0 => "f_to_0",
        },
        match line.on_nak {
            OnNak::ResetTo0 => "reset_to_0",
            OnNak::SameTx => "same_tx",
        },
        line.echo,
        match line.digits {
            DigitMode::Six => 6,
            DigitMode::Eight => 8,
        },
        line.busy_turn_every,
    ));
    for pump in &line.pumps {
        let nozzles: Vec<String> = pump
            .nozzles
            .iter()
            .map(|(n, g)| format!("{}:{}", n.0, g.0))
            .collect();
        out.push_str(&format!(
            "# pump address={} position={} decimals={},{},{} nozzles={}\n",
            pump.address.0,
            pump.position.0,
            pump.decimals.volume,
            pump.decimals.amount,
            pump.decimals.price,
            nozzles.join(",")
        ));
    }
    out
}

/// Why a capture's header cannot give a line.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// No `# line …` comment.
    #[error("the capture has no \"# line …\" header")]
    NoLine,
    /// No `# pump …` comment.
    #[error("the capture names no pump (\"# pump …\" header)")]
    NoPumps,
    /// A field is missing or unreadable.
    #[error("header field {field}: {why}")]
    Field {
        /// The field.
        field: String,
        /// What is wrong.
        why: String,
    },
}

fn field<'a>(meta: &'a Meta, key: &str) -> Result<&'a str, HeaderError> {
    meta.get(key).ok_or_else(|| HeaderError::Field {
        field: format!("{}.{key}", meta.kind),
        why: "missing".into(),
    })
}

fn number<T: std::str::FromStr>(meta: &Meta, key: &str) -> Result<T, HeaderError> {
    let text = field(meta, key)?;
    parse_number(text).ok_or_else(|| HeaderError::Field {
        field: format!("{}.{key}", meta.kind),
        why: format!("{text:?} is not a number"),
    })
}

/// Decimal, or hexadecimal with `0x` (DART addresses read best so).
fn parse_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|v| v.to_string().parse().ok()),
        None => text.parse().ok(),
    }
}

fn choice<T: Copy>(meta: &Meta, key: &str, options: &[(&str, T)]) -> Result<T, HeaderError> {
    let text = field(meta, key)?;
    options
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| HeaderError::Field {
            field: format!("{}.{key}", meta.kind),
            why: format!("{text:?} is not one of the expected values"),
        })
}

/// The line a capture was recorded on, rebuilt from its header; `protocol` overrides the
/// one the header names. Settings the header lacks (a capture from another recorder) take
/// the protocol's defaults.
pub fn line_from(capture: &Capture, protocol: Option<Protocol>) -> Result<Line, HeaderError> {
    let meta = capture.meta("line").ok_or(HeaderError::NoLine)?;
    let protocol = match protocol {
        Some(p) => p,
        None => choice(
            meta,
            "protocol",
            &[("dart", Protocol::Dart), ("gilbarco", Protocol::Gilbarco)],
        )?,
    };
    let gilbarco = protocol == Protocol::Gilbarco;
    let or = |key: &str, default: &str| meta.get(key).unwrap_or(default).to_owned();
    let defaults = Meta {
        kind: "line".into(),
        fields: vec![
            (
                "baud".into(),
                or("baud", if gilbarco { "5787" } else { "9600" }),
            ),
            ("data_bits".into(), or("data_bits", "8")),
            (
                "parity".into(),
                or("parity", if gilbarco { "even" } else { "odd" }),
            ),
            ("stop_bits".into(), or("stop_bits", "1")),
            (
                "response_timeout_ms".into(),
                or("response_timeout_ms", if gilbarco { "70" } else { "50" }),
            ),
            ("poll_interval_ms".into(), or("poll_interval_ms", "30")),
            (
                "offline_after_misses".into(),
                or("offline_after_misses", "5"),
            ),
            ("retries".into(), or("retries", "3")),
            ("tx_wrap".into(), or("tx_wrap", "f_to_1")),
            ("on_nak".into(), or("on_nak", "reset_to_0")),
            ("echo".into(), or("echo", "false")),
            ("digits".into(), or("digits", "6")),
            // Captures made before the setting existed were heard by a master without
            // extra turns: replayed the same way.
            ("busy_turn_every".into(), or("busy_turn_every", "0")),
        ],
    };
    let meta = &defaults;
    let mut pumps = Vec::new();
    for pump in capture.metas("pump") {
        pumps.push(pump_from(pump)?);
    }
    if pumps.is_empty() {
        return Err(HeaderError::NoPumps);
    }
    let line_meta = capture.meta("line").ok_or(HeaderError::NoLine)?;
    Ok(Line {
        name: line_meta.get("name").unwrap_or("replay").to_owned(),
        device: PathBuf::from("capture"),
        baud: number(meta, "baud")?,
        parity: choice(
            meta,
            "parity",
            &[
                ("odd", Parity::Odd),
                ("even", Parity::Even),
                ("none", Parity::None),
            ],
        )?,
        data_bits: choice(
            meta,
            "data_bits",
            &[("7", DataBits::Seven), ("8", DataBits::Eight)],
        )?,
        stop_bits: choice(
            meta,
            "stop_bits",
            &[("1", StopBits::One), ("2", StopBits::Two)],
        )?,
        protocol,
        stale_limit: Duration::from_secs(3),
        response_timeout: Duration::from_millis(number(meta, "response_timeout_ms")?),
        poll_interval: Duration::from_millis(number(meta, "poll_interval_ms")?),
        offline_after_misses: number(meta, "offline_after_misses")?,
        busy_turn_every: number(meta, "busy_turn_every")?,
        retries: number(meta, "retries")?,
        tx_wrap: choice(
            meta,
            "tx_wrap",
            &[("f_to_1", TxWrap::FTo1), ("f_to_0", TxWrap::FTo0)],
        )?,
        on_nak: choice(
            meta,
            "on_nak",
            &[("reset_to_0", OnNak::ResetTo0), ("same_tx", OnNak::SameTx)],
        )?,
        echo: choice(meta, "echo", &[("true", true), ("false", false)])?,
        digits: choice(
            meta,
            "digits",
            &[("6", DigitMode::Six), ("8", DigitMode::Eight)],
        )?,
        reopen_backoff_max: Duration::from_secs(10),
        capture: None,
        pumps,
    })
}

fn pump_from(meta: &Meta) -> Result<Pump, HeaderError> {
    let bad = |key: &str, why: &str| HeaderError::Field {
        field: format!("pump.{key}"),
        why: why.to_owned(),
    };
    let decimals: Vec<u8> = field(meta, "decimals")?
        .split(',')
        .map(|d| d.parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("decimals", "expected VOLUME,AMOUNT,PRICE"))?;
    let [volume, amount, price] = decimals[..] else {
        return Err(bad("decimals", "expected VOLUME,AMOUNT,PRICE"));
    };
    let mut nozzles = Vec::new();
    for pair in field(meta, "nozzles")?.split(',') {
        let (nozzle, grade) = pair
            .split_once(':')
            .and_then(|(n, g)| Some((n.parse().ok()?, g.parse().ok()?)))
            .ok_or_else(|| bad("nozzles", "expected NOZZLE:GRADE,…"))?;
        nozzles.push((NozzleId(nozzle), GradeId(grade)));
    }
    Ok(Pump {
        position: PositionId(number(meta, "position")?),
        address: BusAddress(number(meta, "address")?),
        decimals: Decimals {
            volume,
            amount,
            price,
        },
        nozzles,
    })
}
