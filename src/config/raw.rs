//! The configuration file as written: serde types that mirror the TOML layout.
//!
//! This module owns the shape of the file (section and key names, `deny_unknown_fields`)
//! and the parse from text into [`RawConfig`]. It never judges values: numbers are kept as
//! TOML integers, choices as strings, prices as written, so that
//! `validate` can report every problem with its key path instead of
//! serde stopping at the first one.
//!
//! To report several structural errors (unknown keys, wrong types) in one pass, each
//! section and each element of an array of tables is wrapped in [`Lenient`]: a broken
//! element keeps its error and lets its siblings parse.

use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use serde_path_to_error::Segment;

use super::ConfigIssue;

/// A part of the file, parsed as far as possible.
///
/// Each key that does not fit (unknown, or of the wrong type) is reported and dropped, and
/// the part is parsed again without it, so one typo does not hide the other problems of
/// its section. `value` is `None` only when the part cannot be parsed even then (e.g. a
/// required key is missing, or the part is not a table).
#[derive(Debug)]
pub struct Lenient<T> {
    /// The part without its broken keys.
    pub value: Option<T>,
    /// (key path relative to the part, message) of each broken key.
    pub errors: Vec<(String, String)>,
}

impl<T> Lenient<T> {
    /// The value and the errors as issues whose paths start at `prefix`.
    pub fn into_parts(self, prefix: &str) -> (Option<T>, Vec<ConfigIssue>) {
        let issues = self
            .errors
            .into_iter()
            .map(|(path, message)| {
                ConfigIssue::new(super::validate::join_path(prefix, &path), message)
            })
            .collect();
        (self.value, issues)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(lenient(toml::Value::deserialize(deserializer)?))
    }
}

/// Deserializes `value`, dropping and recording each key serde refuses until the rest
/// parses or nothing more can be dropped.
fn lenient<T: DeserializeOwned>(mut value: toml::Value) -> Lenient<T> {
    let mut errors = Vec::new();
    // Each round drops one key, so this ends after at most as many rounds as there are
    // keys in `value`.
    loop {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => {
                return Lenient {
                    value: Some(parsed),
                    errors,
                }
            }
            Err(e) => {
                let path = e.path().to_string();
                errors.push((
                    if path == "." { String::new() } else { path },
                    one_line(e.inner().message()),
                ));
                if !remove_key(&mut value, e.path()) {
                    return Lenient {
                        value: None,
                        errors,
                    };
                }
            }
        }
    }
}

/// Removes the innermost table key on `path` from `value`; false when there is none.
fn remove_key(value: &mut toml::Value, path: &serde_path_to_error::Path) -> bool {
    let segments: Vec<&Segment> = path.iter().collect();
    for (depth, segment) in segments.iter().enumerate().rev() {
        let Segment::Map { key } = segment else {
            continue;
        };
        let parent = segments.get(..depth).and_then(|above| walk(value, above));
        if let Some(toml::Value::Table(table)) = parent {
            return table.remove(key).is_some();
        }
    }
    false
}

/// The value at `segments` below `value`.
fn walk<'v>(mut value: &'v mut toml::Value, segments: &[&Segment]) -> Option<&'v mut toml::Value> {
    for segment in segments {
        value = match (segment, value) {
            (Segment::Map { key }, toml::Value::Table(t)) => t.get_mut(key)?,
            (Segment::Seq { index }, toml::Value::Array(a)) => a.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(value)
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawConfig {
    /// `[station]`.
    pub station: Option<Lenient<RawStation>>,
    /// `[mercadopago]`.
    pub mercadopago: Option<Lenient<RawMercadoPago>>,
    /// `[order_endpoint]`.
    pub order_endpoint: Option<Lenient<RawOrderEndpoint>>,
    /// `[listen]`.
    pub listen: Option<Lenient<RawListen>>,
    /// `[database]`.
    pub database: Option<Lenient<RawDatabase>>,
    /// `[logging]`.
    pub logging: Option<Lenient<RawLogging>>,
    /// `[[lines]]`.
    #[serde(default)]
    pub lines: Vec<Lenient<RawLine>>,
    /// `[grades.<key>]`, in key order.
    #[serde(default)]
    pub grades: BTreeMap<String, Lenient<RawGrade>>,
    /// `[loyalty]`.
    pub loyalty: Option<Lenient<RawLoyalty>>,
    /// `[[attendants]]`.
    #[serde(default)]
    pub attendants: Vec<Lenient<RawAttendant>>,
    /// `[admin]`.
    pub admin: Option<Lenient<RawAdmin>>,
    /// `[console]`.
    pub console: Option<Lenient<RawConsole>>,
    /// `[shifts]`.
    pub shifts: Option<Lenient<RawShifts>>,
    /// `[chain]`.
    pub chain: Option<Lenient<RawChain>>,
}

/// `[console]`: what the web console warns about.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawConsole {
    /// Seconds a completed sale may wait for payment before it is an alert.
    pub unpaid_alert_after_secs: Option<i64>,
}

/// `[shifts]`: who opens and closes a shift.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawShifts {
    /// `attendant` or `manager`.
    pub open_close: Option<String>,
}

/// `[chain]`: the uplink to headquarters' NATS JetStream.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChain {
    /// Publish the outbox (default true when the section is present).
    pub enabled: Option<bool>,
    /// `nats://host:port` or `tls://host:port`.
    pub nats_url: Option<String>,
    /// The station's name in subjects; default `station.store_id`.
    pub store: Option<String>,
    /// JetStream stream name.
    pub stream: Option<String>,
    /// NATS credentials file (JWT and NKey seed).
    pub credentials_file: Option<String>,
    /// PEM file of the CA that signs the server's certificate.
    pub tls_ca_file: Option<String>,
    /// Refuse a connection without TLS.
    pub tls_required: Option<bool>,
    /// Headquarters' public NKey for central price plans.
    pub hq_public_key: Option<String>,
    /// Groups of stations this one belongs to (central price plans).
    pub groups: Option<Vec<String>>,
    // Uplink monitoring and the simpler NATS authentications.
    /// Seconds the oldest unsent event may wait before the console raises an alert.
    pub backlog_alert_after_secs: Option<i64>,
    /// File holding the NKey seed (`SU…`) of a server-side NKey user.
    pub nkey_seed_file: Option<String>,
    /// NATS user name (with `password_file`).
    pub user: Option<String>,
    /// File holding the NATS user's password.
    pub password_file: Option<String>,
}

/// `[admin]`: access to the admin listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawAdmin {
    /// Host names the admin listener may be reached by.
    pub allowed_hosts: Option<Vec<String>>,
    /// PEM certificate chain for TLS.
    pub tls_cert_file: Option<String>,
    /// PEM private key for TLS.
    pub tls_key_file: Option<String>,
    /// Idle expiry of a browser session, minutes.
    pub session_idle_minutes: Option<i64>,
    /// Absolute expiry of a browser session, hours.
    pub session_max_hours: Option<i64>,
    /// `loopback` or `identity`.
    pub metrics: Option<String>,
    /// Where the CLI's token is written.
    pub cli_token_file: Option<String>,
}

/// `[station]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawStation {
    /// APIES / store id, digits.
    pub store_id: Option<String>,
    /// Station name.
    pub name: Option<String>,
    /// IANA time zone name.
    pub time_zone: Option<String>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Prefix of every POS external id.
    pub pos_external_id_prefix: Option<String>,
    /// Template of every POS name.
    pub pos_name_template: Option<String>,
}

/// `[mercadopago]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawMercadoPago {
    /// `order` or `preference`.
    pub mode: Option<String>,
    /// API base URL.
    pub api_base_url: Option<String>,
    /// File holding the access token.
    pub access_token_file: Option<String>,
    /// Environment variable holding the access token.
    pub access_token_env: Option<String>,
    /// Collector (seller) user id.
    pub collector_id: Option<i64>,
    /// Sponsor (integrator) user id.
    pub sponsor_id: Option<i64>,
    /// Where Mercado Pago sends notifications.
    pub notification_url: Option<String>,
    /// Public base URL of the order endpoint.
    pub public_base_url: Option<String>,
    /// One webhook secret file.
    pub webhook_secret_file: Option<String>,
    /// One webhook secret variable.
    pub webhook_secret_env: Option<String>,
    /// Webhook secret files (rotation).
    pub webhook_secret_files: Option<Vec<String>>,
    /// Webhook secret variables (rotation).
    pub webhook_secret_envs: Option<Vec<String>>,
    /// Accept unsigned notifications as hints.
    pub accept_unsigned: Option<bool>,
    /// Allowed age of a signature timestamp.
    pub signature_tolerance_secs: Option<i64>,
    /// Timeout of one API request.
    pub request_timeout_ms: Option<i64>,
    /// Bound on API work inside an order endpoint answer.
    pub order_answer_timeout_ms: Option<i64>,
    /// Age after which an unpaid sale is reconciled by search.
    pub reconcile_after_secs: Option<i64>,
    /// Refund duplicate approvals automatically.
    pub refund_duplicates: Option<bool>,
    /// Mercado Pago's numeric id of the store the POS belong to.
    pub pos_store_id: Option<String>,
    /// The integrator's id of that store.
    pub pos_external_store_id: Option<String>,
}

/// `[order_endpoint]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawOrderEndpoint {
    /// URL path.
    pub path: Option<String>,
    /// URL token.
    pub token: Option<String>,
    /// HTTP methods answered.
    pub allowed_methods: Option<Vec<String>>,
}

/// `[listen]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawListen {
    /// Public listener address.
    pub public: Option<String>,
    /// Admin listener address.
    pub admin: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` the public listener believes.
    pub public_trusted_proxies: Option<Vec<String>>,
    /// Connections the public listener serves at once.
    pub public_max_connections: Option<i64>,
    /// Connections the admin listener serves at once.
    pub admin_max_connections: Option<i64>,
    /// Time an answer's write may stall before the connection is closed.
    pub write_timeout_ms: Option<i64>,
}

/// `[database]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawDatabase {
    /// Journal file.
    pub path: Option<String>,
    /// Days after which transient rows (finished notifications) are pruned.
    pub prune_after_days: Option<i64>,
}

/// `[logging]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawLogging {
    /// `human` or `json`.
    pub format: Option<String>,
    /// EnvFilter directives.
    pub level: Option<String>,
}

/// One `[[lines]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawLine {
    /// Line name.
    pub name: Option<String>,
    /// Serial device path.
    pub device: Option<String>,
    /// Baud rate.
    pub baud: Option<i64>,
    /// `odd`, `even` or `none`.
    pub parity: Option<String>,
    /// 7 or 8.
    pub data_bits: Option<i64>,
    /// 1 or 2.
    pub stop_bits: Option<i64>,
    /// Protocol name.
    pub protocol: Option<String>,
    /// Silence after which the line's positions answer `timeout`.
    pub stale_limit_ms: Option<i64>,
    /// Wait for a pump's answer.
    pub response_timeout_ms: Option<i64>,
    /// Gap between polls.
    pub poll_interval_ms: Option<i64>,
    /// Missed polls before a pump is offline.
    pub offline_after_misses: Option<i64>,
    /// Ordinary turns between two extra turns of the busy pumps (0: none).
    pub busy_turn_every: Option<i64>,
    /// Retransmissions of a block.
    pub retries: Option<i64>,
    /// `f_to_1` or `f_to_0`.
    pub tx_wrap: Option<String>,
    /// `reset_to_0` or `same_tx`.
    pub on_nak: Option<String>,
    /// Gilbarco: the converter echoes what the controller sends.
    pub echo: Option<bool>,
    /// Gilbarco: 6- or 8-digit mode.
    pub digits: Option<i64>,
    /// Longest wait between attempts to reopen the port.
    pub reopen_backoff_max_ms: Option<i64>,
    /// `capture = { path, max_bytes, keep }`: record the line's bytes from the start.
    pub capture: Option<RawCapture>,
    /// `[[lines.pumps]]`.
    #[serde(default)]
    pub pumps: Vec<Lenient<RawPump>>,
}

/// `capture = { path, max_bytes, keep }` of a `[[lines]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawCapture {
    /// The capture file (rotated files get `.1`, `.2`, … after it).
    pub path: Option<String>,
    /// Size at which the file is rotated.
    pub max_bytes: Option<i64>,
    /// Rotated files kept besides the current one.
    pub keep: Option<i64>,
}

/// One `[[lines.pumps]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawPump {
    /// Bus address.
    pub address: Option<i64>,
    /// Fuelling position number.
    pub position: Option<i64>,
    /// Decimal positions of the pump's fields.
    pub decimals: Option<RawDecimals>,
    /// Nozzle number (as a key) → grade key.
    #[serde(default)]
    pub nozzles: BTreeMap<String, String>,
}

/// `decimals = { volume, amount, price }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawDecimals {
    /// Volume decimals.
    pub volume: Option<i64>,
    /// Amount decimals.
    pub amount: Option<i64>,
    /// Price decimals.
    pub price: Option<i64>,
}

/// One `[grades.<key>]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawGrade {
    /// Explicit grade id.
    pub id: Option<i64>,
    /// Display name.
    pub name: Option<String>,
    /// Product code (loyalty).
    pub code: Option<String>,
    /// `litre` or `piece`.
    pub unit: Option<String>,
    /// Unit price as written.
    pub price: Option<RawPrice>,
}

/// A price as written in the file. Floats are kept only to be refused with a helpful
/// message: a binary float cannot hold most decimal prices exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum RawPrice {
    /// `price = "1234.56"`.
    Text(String),
    /// `price = 1234`.
    Integer(i64),
    /// `price = 1234.56` (refused).
    Float(f64),
}

impl<'de> Deserialize<'de> for RawPrice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;

        impl Visitor<'_> for PriceVisitor {
            type Value = RawPrice;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal string such as \"1234.56\" or an integer")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPrice, E> {
                Ok(RawPrice::Text(v.to_owned()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPrice, E> {
                Ok(RawPrice::Integer(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPrice, E> {
                i64::try_from(v)
                    .map(RawPrice::Integer)
                    .map_err(|_| E::custom(format!("price {v} is too large")))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawPrice, E> {
                Ok(RawPrice::Float(v))
            }
        }

        deserializer.deserialize_any(PriceVisitor)
    }
}

/// `[loyalty]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawLoyalty {
    /// Program name.
    pub program: Option<String>,
    /// Affinity plan, one character.
    pub affinity_plan: Option<String>,
    /// Period, four characters.
    pub period: Option<String>,
    /// Shift, one character.
    pub shift: Option<String>,
}

/// One `[[attendants]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawAttendant {
    /// Attendant id.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Document type, e.g. DNI.
    pub document_type: Option<String>,
    /// Document number, digits.
    pub document_number: Option<String>,
}

/// Where a TOML syntax error is, 1-based, with the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The parser's message on one line.
    pub message: String,
}

/// Parses `text` into a [`RawConfig`] plus the structural issues found on the way.
///
/// A syntax error stops everything (nothing after it can be trusted). Keys that do not
/// fit are reported and dropped, at the top level here and inside each section by
/// [`Lenient`], so the rest is still parsed and validated.
pub fn parse(text: &str) -> Result<(RawConfig, Vec<ConfigIssue>), SyntaxError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|span| line_column(text, span.start))
            .unwrap_or((1, 1));
        SyntaxError {
            line,
            column,
            message: one_line(e.message()),
        }
    })?;
    let (raw, issues) = lenient::<RawConfig>(toml::Value::Table(table)).into_parts("");
    Ok((raw.unwrap_or_default(), issues))
}

/// 1-based line and character column of byte offset `at` in `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// serde and toml messages may span lines (the report prints one issue per line) and
/// name Rust types where the reader knows TOML ones.
fn one_line(message: &str) -> String {
    let mut text = message.trim().replace('\n', "; ");
    for (rust, toml) in [
        ("expected i64", "expected an integer"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
    ] {
        text = text.replace(rust, toml);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "a = 1\nbé = [\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        // "é" is two bytes but one column.
        assert_eq!(line_column(text, 10), (2, 4));
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse("[station]\nname = \"x\"\nstore_id = \n").err();
        let err = err.map(|e| (e.line, e.column));
        assert_eq!(err, Some((3, 12)));
    }

    #[test]
    fn unknown_top_level_keys_are_all_reported() {
        let (raw, issues) = parse("foo = 1\nbar = 2\n[logging]\nlevel = \"debug\"\n")
            .unwrap_or_else(|e| panic!("parse failed: {e:?}"));
        let paths: Vec<_> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["bar", "foo"]);
        assert!(raw.logging.is_some_and(|l| l.value.is_some()));
    }

    #[test]
    fn broken_keys_are_dropped_and_the_rest_parses() {
        let text = "[[lines]]\nname = \"a\"\nbaud = \"fast\"\n[[lines.pumps]]\naddress = 80\n\
                    foo = 1\ndecimals = { volume = 2, amont = 2 }\n[[lines.pumps]]\naddress = 81\n";
        let (raw, issues) = parse(text).unwrap_or_else(|e| panic!("parse failed: {e:?}"));
        assert!(issues.is_empty());
        let Some(line) = raw.lines.into_iter().next() else {
            panic!("no line");
        };
        let (line, errors) = line.into_parts("lines[0]");
        let errors: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            ["lines[0].baud: invalid type: string \"fast\", expected an integer"]
        );
        let line = line.unwrap_or_else(|| panic!("line dropped"));
        assert_eq!(line.name.as_deref(), Some("a"));
        assert_eq!(line.baud, None);
        let mut pumps = line.pumps.into_iter();
        let (first, errors) = pumps
            .next()
            .map(|p| p.into_parts("p"))
            .unwrap_or_else(|| panic!("no pump"));
        let paths: Vec<_> = errors.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["p.decimals.amont", "p.foo"]);
        assert!(errors[1].message.starts_with("unknown field `foo`"));
        assert_eq!(first.and_then(|p| p.address), Some(80));
        assert!(pumps
            .next()
            .is_some_and(|p| p.value.is_some() && p.errors.is_empty()));
    }

    #[test]
    fn a_part_that_is_not_a_table_is_reported_whole() {
        let (raw, issues) =
            parse("station = 3\n").unwrap_or_else(|e| panic!("parse failed: {e:?}"));
        assert!(issues.is_empty());
        let (station, errors) = raw
            .station
            .map(|s| s.into_parts("station"))
            .unwrap_or_else(|| panic!("no station"));
        assert!(station.is_none());
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["station: invalid type: integer `3`, expected a table"]
        );
    }

    #[test]
    fn prices_keep_their_written_form() {
        let text = "[grades.a]\nprice = \"800.50\"\n[grades.b]\nprice = 800\n\
                    [grades.c]\nprice = 800.5\n";
        let (raw, _) = parse(text).unwrap_or_else(|e| panic!("parse failed: {e:?}"));
        let prices: Vec<_> = raw
            .grades
            .into_values()
            .map(|g| g.value.and_then(|g| g.price))
            .collect();
        assert_eq!(
            prices,
            [
                Some(RawPrice::Text("800.50".into())),
                Some(RawPrice::Integer(800)),
                Some(RawPrice::Float(800.5)),
            ]
        );
    }
}
