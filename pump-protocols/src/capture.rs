//! Field captures: the text format of a recorded serial line, its parser, and the offline
//! replay of a capture through a protocol master (docs/captures.md).
//!
//! The daemon writes captures (one line per chunk read from or written to a port); this
//! module reads them. The format and its parser live here, beside the protocol cores,
//! rather than in the daemon because a capture is protocol test data: the captures kept
//! under `pump-protocols/testdata/` are read by this crate's tests, and the replay below is
//! as sans-IO as the masters it drives (text in; records, events and state changes out; no
//! clock, no file). The one writer of the format, the daemon's recorder, formats each
//! record with [`format_record`] so writer and parser cannot drift apart.
//!
//! # Format
//!
//! ```text
//! # forecourtd capture 1
//! # line name=line1 protocol=dart baud=9600 data_bits=8 parity=odd stop_bits=1 …
//! # pump address=0x50 position=1 decimals=2,2,2 nozzles=1:1,2:2
//! # provenance: free text saying how the capture was made
//! 2026-12-03T13:20:00.123456Z > 50 20 FA
//! 2026-12-03T13:20:00.131002Z < 50 70 FA
//! 2026-12-03T13:20:01.002117Z ! 80 authorize amount=5000
//! ```
//!
//! - A record: an RFC 3339 UTC timestamp with exactly six fractional digits (µs), one
//!   space, `>` (the controller wrote these bytes to the line) or `<` (it read them from
//!   the line), one space, the bytes as two-digit uppercase hex separated by single spaces.
//!   A record is one write or one read as the port delivered it, not a protocol frame.
//! - A command record: the timestamp, `!`, the pump's bus address (decimal) and the
//!   neutral command the daemon handed the master then ([`format_command`]): `status`,
//!   `filling_info`, `reset`, `stop`, `suspend`, `resume`, `switch_off`, `totals N`,
//!   `prices N=PRICE …`, `authorize [amount=X|volume=X] [nozzles=N,…]`. The bytes alone
//!   cannot tell a replay when the daemon asked for what; with these the master is
//!   driven exactly as it was, so a capture from the line's opening replays byte for byte.
//! - A line starting with `#` is a comment. A comment of the form `# KIND k=v k=v…`, every
//!   word after the kind holding a `=`, is a header entry ([`Meta`]); any other comment is a
//!   free note. The first line must be `# forecourtd capture 1`.
//! - `# dropped chunks=N` in the middle of a file says the recorder fell behind and lost N
//!   records there (it never blocks the line to write).
//! - Blank lines are ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use std::str::FromStr;

use rust_decimal::Decimal;

use crate::model::{
    Authorization, LineMaster, Preset, PumpCommand, PumpEvent, PumpEventKind, PumpStatus,
};
use crate::units::{BusAddress, Money, NozzleId, UnitPrice, Volume};

/// The first line of every capture file.
pub const MAGIC: &str = "# forecourtd capture 1";

/// Which way a record's bytes went, seen from the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written by the controller to the pumps (`>`).
    Sent,
    /// Read by the controller from the pumps (`<`).
    Received,
}

impl Direction {
    /// The character of the format.
    pub fn symbol(self) -> char {
        match self {
            Direction::Sent => '>',
            Direction::Received => '<',
        }
    }
}

/// One chunk of bytes on the line, or a command the daemon gave the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Microseconds since the Unix epoch, UTC.
    pub at_micros: i64,
    /// What happened.
    pub kind: RecordKind,
}

/// What a [`Record`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// Bytes, as one read or write delivered them.
    Bytes {
        /// Which way.
        direction: Direction,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A command submitted to the master.
    Command {
        /// The pump.
        pump: BusAddress,
        /// The command.
        command: PumpCommand,
    },
}

impl Record {
    /// A record of bytes.
    pub fn bytes(at_micros: i64, direction: Direction, bytes: Vec<u8>) -> Self {
        Self {
            at_micros,
            kind: RecordKind::Bytes { direction, bytes },
        }
    }
}

/// A structured header (or mid-file) comment: `# KIND k=v …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// The word after `#`.
    pub kind: String,
    /// The `key=value` words, in file order.
    pub fields: Vec<(String, String)>,
}

impl Meta {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The fields as a map (later keys win).
    pub fn map(&self) -> BTreeMap<&str, &str> {
        self.fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// A parsed capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capture {
    /// Structured comments, in file order.
    pub meta: Vec<Meta>,
    /// Free comments (provenance and the like), without the leading `# `.
    pub notes: Vec<String>,
    /// The records, in file order.
    pub records: Vec<Record>,
}

impl Capture {
    /// The first structured comment of `kind`.
    pub fn meta(&self, kind: &str) -> Option<&Meta> {
        self.meta.iter().find(|m| m.kind == kind)
    }

    /// Every structured comment of `kind`.
    pub fn metas<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Meta> + 'a {
        self.meta.iter().filter(move |m| m.kind == kind)
    }

    /// Records lost by the recorder (the sum of `# dropped chunks=N`).
    pub fn dropped(&self) -> u64 {
        self.metas("dropped")
            .filter_map(|m| m.get("chunks").and_then(|n| n.parse::<u64>().ok()))
            .sum()
    }
}

/// Why a capture cannot be read; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The first line is not [`MAGIC`].
    #[error("line 1: not a forecourtd capture (expected {MAGIC:?})")]
    NotACapture,
    /// A record that does not follow the format.
    #[error("line {line}: {why}")]
    Malformed {
        /// The line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// Parses a whole capture file.
pub fn parse(text: &str) -> Result<Capture, CaptureError> {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some(MAGIC) {
        return Err(CaptureError::NotACapture);
    }
    let mut capture = Capture::default();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line.trim_end();
        if line.is_empty() || line == MAGIC {
            // A rotated file appended to another repeats the first line.
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            match parse_meta(comment) {
                Some(meta) => capture.meta.push(meta),
                None => capture.notes.push(comment.to_owned()),
            }
            continue;
        }
        let record =
            parse_record(line).map_err(|why| CaptureError::Malformed { line: number, why })?;
        capture.records.push(record);
    }
    Ok(capture)
}

fn parse_meta(comment: &str) -> Option<Meta> {
    let mut words = comment.split_whitespace();
    let kind = words.next()?;
    if kind.contains('=') || kind.ends_with(':') {
        return None;
    }
    let mut fields = Vec::new();
    for word in words {
        let (key, value) = word.split_once('=')?;
        fields.push((key.to_owned(), value.to_owned()));
    }
    if fields.is_empty() {
        return None;
    }
    Some(Meta {
        kind: kind.to_owned(),
        fields,
    })
}

/// Parses one record line.
pub fn parse_record(line: &str) -> Result<Record, String> {
    let mut parts = line.splitn(3, ' ');
    let stamp = parts.next().unwrap_or_default();
    let at_micros = parse_timestamp(stamp)?;
    let direction = match parts.next() {
        Some(">") => Direction::Sent,
        Some("<") => Direction::Received,
        Some("!") => {
            let (pump, command) = parse_command(parts.next().unwrap_or_default())?;
            return Ok(Record {
                at_micros,
                kind: RecordKind::Command { pump, command },
            });
        }
        other => return Err(format!("direction {other:?} is neither >, < nor !")),
    };
    let hex = parts.next().unwrap_or_default();
    let mut bytes = Vec::with_capacity(hex.len() / 3 + 1);
    for word in hex.split(' ') {
        let byte = (word.len() == 2)
            .then(|| u8::from_str_radix(word, 16).ok())
            .flatten()
            .ok_or_else(|| format!("{word:?} is not a two-digit hex byte"))?;
        bytes.push(byte);
    }
    Ok(Record::bytes(at_micros, direction, bytes))
}

/// One record as a line of the format (without the newline).
pub fn format_record(record: &Record) -> String {
    let mut out = format_timestamp(record.at_micros);
    match &record.kind {
        RecordKind::Bytes { direction, bytes } => {
            out.push(' ');
            out.push(direction.symbol());
            for byte in bytes {
                out.push_str(&format!(" {byte:02X}"));
            }
        }
        RecordKind::Command { pump, command } => {
            out.push_str(&format!(" ! {} {}", pump.0, format_command(command)));
        }
    }
    out
}

/// A neutral command in the words of a command record.
pub fn format_command(command: &PumpCommand) -> String {
    match command {
        PumpCommand::ReturnStatus => "status".into(),
        PumpCommand::ReturnFillingInfo => "filling_info".into(),
        PumpCommand::Reset => "reset".into(),
        PumpCommand::Stop => "stop".into(),
        PumpCommand::Suspend => "suspend".into(),
        PumpCommand::Resume => "resume".into(),
        PumpCommand::SwitchOff => "switch_off".into(),
        PumpCommand::ReadTotals(nozzle) => format!("totals {}", nozzle.0),
        PumpCommand::SetPrices(prices) => {
            let mut out = "prices".to_owned();
            for (nozzle, price) in prices {
                out.push_str(&format!(" {}={price}", nozzle.0));
            }
            out
        }
        PumpCommand::Authorize(a) => {
            let mut out = "authorize".to_owned();
            match a.preset {
                Some(Preset::Amount(m)) => out.push_str(&format!(" amount={m}")),
                Some(Preset::Volume(v)) => out.push_str(&format!(" volume={v}")),
                None => {}
            }
            if !a.nozzles.is_empty() {
                let nozzles: Vec<String> = a.nozzles.iter().map(|n| n.0.to_string()).collect();
                out.push_str(&format!(" nozzles={}", nozzles.join(",")));
            }
            out
        }
    }
}

/// The pump and command of a command record's text (after the `!`).
pub fn parse_command(text: &str) -> Result<(BusAddress, PumpCommand), String> {
    let mut words = text.split(' ');
    let pump = words
        .next()
        .and_then(|w| w.parse::<u8>().ok())
        .map(BusAddress)
        .ok_or_else(|| format!("{text:?}: a command record starts with the pump address"))?;
    let name = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let decimal = |value: &str| {
        Decimal::from_str(value).map_err(|_| format!("{value:?} is not a decimal number"))
    };
    let nozzle = |value: &str| {
        value
            .parse::<u8>()
            .map(NozzleId)
            .map_err(|_| format!("{value:?} is not a nozzle number"))
    };
    let command = match (name, rest.as_slice()) {
        ("status", []) => PumpCommand::ReturnStatus,
        ("filling_info", []) => PumpCommand::ReturnFillingInfo,
        ("reset", []) => PumpCommand::Reset,
        ("stop", []) => PumpCommand::Stop,
        ("suspend", []) => PumpCommand::Suspend,
        ("resume", []) => PumpCommand::Resume,
        ("switch_off", []) => PumpCommand::SwitchOff,
        ("totals", [n]) => PumpCommand::ReadTotals(nozzle(n)?),
        ("prices", pairs) => {
            let mut prices = Vec::new();
            for pair in pairs {
                let (n, p) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?} is not NOZZLE=PRICE"))?;
                prices.push((nozzle(n)?, UnitPrice::new(decimal(p)?)));
            }
            PumpCommand::SetPrices(prices)
        }
        ("authorize", words) => {
            let mut authorization = Authorization::default();
            for word in words {
                match word.split_once('=') {
                    Some(("amount", v)) => {
                        authorization.preset = Some(Preset::Amount(Money::new(decimal(v)?)))
                    }
                    Some(("volume", v)) => {
                        authorization.preset = Some(Preset::Volume(Volume::new(decimal(v)?)))
                    }
                    Some(("nozzles", list)) => {
                        for n in list.split(',') {
                            authorization.nozzles.push(nozzle(n)?);
                        }
                    }
                    _ => return Err(format!("{word:?} is not amount=, volume= or nozzles=")),
                }
            }
            PumpCommand::Authorize(authorization)
        }
        _ => return Err(format!("{text:?} is not a command")),
    };
    Ok((pump, command))
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for microseconds since the Unix epoch.
pub fn format_timestamp(micros: i64) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = of_day / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        of_day % 1_000_000
    )
}

/// Microseconds since the Unix epoch of a `YYYY-MM-DDTHH:MM:SS.ffffffZ` timestamp, the
/// only form the format allows (UTC, six fractional digits).
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a timestamp YYYY-MM-DDTHH:MM:SS.ffffffZ");
    let b = text.as_bytes();
    if b.len() != 27
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, String> {
        let digits = text.get(range).ok_or_else(bad)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse::<i64>().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second, micro) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..26)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    let days = days_from_civil(year, month, day);
    Ok(days * MICROS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micro)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, days since 1970-01-01).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// What the replay of a capture produced, in order; `at` is the time since the first
/// record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayItem {
    /// The capture shows the controller writing `captured`; `master` is what the replayed
    /// master wrote at that moment (`None`: it had nothing to send).
    Sent {
        /// Time since the first record.
        at: Duration,
        /// The bytes in the capture.
        captured: Vec<u8>,
        /// The bytes the master produced.
        master: Option<Vec<u8>>,
    },
    /// Bytes the pumps sent, fed to the master.
    Received {
        /// Time since the first record.
        at: Duration,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A command the daemon gave the master, submitted again.
    Command {
        /// Time since the first record.
        at: Duration,
        /// The pump.
        pump: BusAddress,
        /// The command.
        command: PumpCommand,
        /// Why the master refused it now, if it did.
        refused: Option<String>,
    },
    /// A pump's status changed (`from` is `None` for the first status heard).
    State {
        /// Time since the first record.
        at: Duration,
        /// The pump.
        pump: BusAddress,
        /// The status before.
        from: Option<PumpStatus>,
        /// The status now.
        to: PumpStatus,
    },
    /// Any other event of the master.
    Event {
        /// Time since the first record.
        at: Duration,
        /// The event.
        event: PumpEvent,
    },
}

impl ReplayItem {
    /// True for a sent record the master did not reproduce byte for byte.
    pub fn is_divergence(&self) -> bool {
        matches!(self, ReplayItem::Sent { captured, master, .. }
            if master.as_deref() != Some(captured.as_slice()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl fmt::Display for ReplayItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |at: &Duration| format!("+{}.{:06}", at.as_secs(), at.subsec_micros());
        match self {
            ReplayItem::Sent {
                at,
                captured,
                master,
            } => match master {
                Some(m) if m == captured => write!(f, "{} > {}", secs(at), hex(captured)),
                Some(m) => write!(
                    f,
                    "{} > {}   (the master sent {} instead)",
                    secs(at),
                    hex(captured),
                    hex(m)
                ),
                None => write!(
                    f,
                    "{} > {}   (the master had nothing to send)",
                    secs(at),
                    hex(captured)
                ),
            },
            ReplayItem::Received { at, bytes } => write!(f, "{} < {}", secs(at), hex(bytes)),
            ReplayItem::Command {
                at,
                pump,
                command,
                refused,
            } => {
                write!(f, "{} ! pump {pump}: {}", secs(at), format_command(command))?;
                match refused {
                    Some(why) => write!(f, "   (refused: {why})"),
                    None => Ok(()),
                }
            }
            ReplayItem::State { at, pump, from, to } => match from {
                Some(from) => write!(
                    f,
                    "{}   state pump {pump}: {} -> {}",
                    secs(at),
                    from.as_str(),
                    to.as_str()
                ),
                None => write!(f, "{}   state pump {pump}: {}", secs(at), to.as_str()),
            },
            ReplayItem::Event { at, event } => {
                write!(
                    f,
                    "{}   event pump {}: {:?}",
                    secs(at),
                    event.pump,
                    event.kind
                )
            }
        }
    }
}

/// Most timers handled at one instant before the replay gives up on a master that keeps
/// asking to be woken at a time already past (it would loop for ever).
const MAX_TIMEOUTS_PER_RECORD: usize = 10_000;

/// Feeds `records` to `master` as the line task would have: the received bytes as the
/// pumps' answers and the records' timestamps as the master's clock (`origin` standing for
/// the first record), its deadlines handled as the capture's time passes them, and at each
/// sent record what the master writes then, compared with the capture.
///
/// A capture that starts when the line opened replays exactly (every sent record matches);
/// one started in the middle of a session begins with a master that knows nothing yet, so
/// its first writes may differ until the conversation brings it to the pumps' state.
pub fn replay(master: &mut dyn LineMaster, records: &[Record], origin: Instant) -> Vec<ReplayItem> {
    let mut items = Vec::new();
    let Some(first) = records.first() else {
        return items;
    };
    let mut statuses: BTreeMap<BusAddress, PumpStatus> = BTreeMap::new();
    let mut last = Duration::ZERO;
    for record in records {
        // Timestamps are wall time; a clock stepped backwards must not move the master's
        // time backwards.
        let offset = u64::try_from(record.at_micros.saturating_sub(first.at_micros))
            .map(Duration::from_micros)
            .unwrap_or(Duration::ZERO)
            .max(last);
        last = offset;
        let now = origin + offset;
        for _ in 0..MAX_TIMEOUTS_PER_RECORD {
            match master.poll_timeout() {
                Some(deadline) if deadline <= now => {
                    master.handle_timeout(deadline);
                    drain(master, origin, &mut statuses, &mut items);
                }
                _ => break,
            }
        }
        match &record.kind {
            RecordKind::Bytes {
                direction: Direction::Sent,
                bytes,
            } => {
                let sent = master.poll_transmit(now);
                items.push(ReplayItem::Sent {
                    at: offset,
                    captured: bytes.clone(),
                    master: sent,
                });
            }
            RecordKind::Bytes {
                direction: Direction::Received,
                bytes,
            } => {
                items.push(ReplayItem::Received {
                    at: offset,
                    bytes: bytes.clone(),
                });
                master.handle_input(bytes, now);
            }
            RecordKind::Command { pump, command } => {
                items.push(ReplayItem::Command {
                    at: offset,
                    pump: *pump,
                    command: command.clone(),
                    refused: master
                        .submit(*pump, command.clone())
                        .err()
                        .map(|e| e.to_string()),
                });
            }
        }
        drain(master, origin, &mut statuses, &mut items);
    }
    items
}

fn drain(
    master: &mut dyn LineMaster,
    origin: Instant,
    statuses: &mut BTreeMap<BusAddress, PumpStatus>,
    items: &mut Vec<ReplayItem>,
) {
    while let Some(event) = master.poll_event() {
        let at = event.at.saturating_duration_since(origin);
        match event.kind {
            PumpEventKind::StatusChanged(to) => {
                let from = statuses.insert(event.pump, to);
                items.push(ReplayItem::State {
                    at,
                    pump: event.pump,
                    from,
                    to,
                });
            }
            _ => items.push(ReplayItem::Event { at, event }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_the_calendar() {
        for micros in [
            0,
            1,
            951_782_400_000_000,     // 2000-02-29
            1_796_304_000_123_456,   // 2026-12-03T13:20:00.123456
            4_107_542_399_999_999,   // 2100-02-28T23:59:59.999999
            -1,                      // 1969-12-31T23:59:59.999999
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ] {
            let text = format_timestamp(micros);
            assert_eq!(parse_timestamp(&text), Ok(micros), "{text}");
        }
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            parse_timestamp("2026-12-03T13:20:00.123456Z"),
            Ok(1_796_304_000_123_456)
        );
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for text in [
            "2026-12-03T13:20:00.12345Z",
            "2026-12-03T13:20:00.123456+00:00",
            "2026-02-30T13:20:00.123456Z",
            "2026-12-03T24:00:00.000000Z",
            "2026-12-03 13:20:00.123456Z",
            "２026-12-03T13:20:00.12345Z",
        ] {
            assert!(parse_timestamp(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_file_parses_into_header_notes_and_records() {
        let text = "# forecourtd capture 1\n\
            # line name=l1 protocol=gilbarco baud=5787\n\
            # pump address=1 position=3 decimals=2,2,2 nozzles=1:1\n\
            # provenance: made by hand for this test\n\
            2026-12-03T13:20:00.000000Z > 01\n\
            \n\
            2026-12-03T13:20:00.012000Z < 61\n\
            # dropped chunks=4\n";
        let capture = parse(text).expect("valid");
        assert_eq!(
            capture.meta("line").and_then(|m| m.get("protocol")),
            Some("gilbarco")
        );
        assert_eq!(
            capture.meta("pump").and_then(|m| m.get("position")),
            Some("3")
        );
        assert_eq!(
            capture.notes,
            vec!["provenance: made by hand for this test"]
        );
        assert_eq!(capture.dropped(), 4);
        assert_eq!(capture.records.len(), 2);
        assert_eq!(
            capture.records[1].kind,
            RecordKind::Bytes {
                direction: Direction::Received,
                bytes: vec![0x61]
            }
        );
        assert_eq!(
            capture.records[1].at_micros - capture.records[0].at_micros,
            12_000
        );
        for record in &capture.records {
            assert_eq!(parse_record(&format_record(record)).as_ref(), Ok(record));
        }
    }

    #[test]
    fn commands_round_trip_through_their_words() {
        let money = Money::new(Decimal::new(500_000, 2));
        for command in [
            PumpCommand::ReturnStatus,
            PumpCommand::ReturnFillingInfo,
            PumpCommand::Reset,
            PumpCommand::Stop,
            PumpCommand::Suspend,
            PumpCommand::Resume,
            PumpCommand::SwitchOff,
            PumpCommand::ReadTotals(NozzleId(2)),
            PumpCommand::SetPrices(vec![
                (NozzleId(1), UnitPrice::new(Decimal::new(145_000, 2))),
                (NozzleId(2), UnitPrice::new(Decimal::new(1_720, 0))),
            ]),
            PumpCommand::Authorize(Authorization::default()),
            PumpCommand::Authorize(Authorization {
                preset: Some(Preset::Amount(money)),
                nozzles: vec![NozzleId(1), NozzleId(3)],
            }),
            PumpCommand::Authorize(Authorization {
                preset: Some(Preset::Volume(Volume::new(Decimal::new(3, 0)))),
                nozzles: vec![],
            }),
        ] {
            let record = Record {
                at_micros: 7,
                kind: RecordKind::Command {
                    pump: BusAddress(0x50),
                    command,
                },
            };
            let line = format_record(&record);
            assert_eq!(parse_record(&line).as_ref(), Ok(&record), "{line}");
        }
        assert!(parse_command("80 authorize amount=x").is_err());
        assert!(parse_command("80 fly").is_err());
        assert!(parse_command("pump stop").is_err());
    }

    #[test]
    fn bad_files_name_their_line() {
        assert_eq!(parse("hello\n"), Err(CaptureError::NotACapture));
        for bad in [
            "2026-12-03T13:20:00.000000Z = 01",
            "2026-12-03T13:20:00.000000Z > 1",
            "2026-12-03T13:20:00.000000Z > 0G",
            "2026-12-03T13:20:00.000000Z >",
            "2026-12-03T13:20:00.000000Z > 01  02",
        ] {
            let text = format!("{MAGIC}\n{bad}\n");
            assert!(
                matches!(parse(&text), Err(CaptureError::Malformed { line: 2, .. })),
                "{bad}"
            );
        }
    }
}
