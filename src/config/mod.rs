//! The daemon's configuration: one TOML file, read once at start.
//!
//! Two stages (validated in two stages): [`raw`] mirrors the file with serde
//! (`deny_unknown_fields`), `validate` checks every value and builds the typed
//! [`Config`], collecting *every* problem with its key path (for example
//! `lines[0].pumps[1].position: position 3 is already used by lines[0].pumps[0]`).
//! Downstream code relies on a `Config`'s invariants without checking again: positions are
//! unique, every nozzle maps to an existing grade, every price fits its pumps, every POS
//! external id is valid, secrets are loaded.
//!
//! This module owns the typed configuration and its lookups. It never opens a port, a
//! listener or the journal, and never logs: warnings are returned in
//! [`Config::warnings`] for the caller to print. Secrets (access token, webhook secrets)
//! are read from files or environment variables during [`Config::load`], never written
//! inline, and never appear in `Debug` output or messages (see [`Secret`]).
//!
//! [`EXAMPLE`] is `config.example.toml`, compiled in; it documents every option.

mod admin;
mod chain;
pub mod raw;
pub(crate) mod secret;
mod validate;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pump_protocols::{BusAddress, Decimals, GradeId, NozzleId, PositionId, PumpSetup, UnitPrice};

pub use admin::{Admin, AdminTls, Console, MetricsSetting, Shifts};
pub use chain::{valid_token, Chain, DEFAULT_BACKLOG_ALERT_AFTER};

/// The stream name used when `[chain].stream` (or `hq-sink --stream`) is not given.
pub const fn chain_default_stream() -> &'static str {
    chain::DEFAULT_STREAM
}
pub use secret::Secret;

/// `config.example.toml`, every option with its documentation. Valid as it stands.
pub const EXAMPLE: &str = include_str!("../../config.example.toml");

/// One problem found in the configuration, at a key path such as `lines[0].pumps[1].address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key path, array elements as `[i]`; empty for the file as a whole.
    pub path: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("TOML syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The TOML is well formed but some values are wrong; every issue found is listed.
    #[error("{}", Issues(.0))]
    Invalid(Vec<ConfigIssue>),
}

impl ConfigError {
    /// The validation issues, empty for a read or syntax error.
    pub fn issues(&self) -> &[ConfigIssue] {
        match self {
            ConfigError::Invalid(issues) => issues,
            _ => &[],
        }
    }
}

/// Displays issues one per line.
struct Issues<'a>(&'a [ConfigIssue]);

impl fmt::Display for Issues<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// `[station]`: who the station is to Mercado Pago and to the loyalty program.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Station {
    /// The APIES / store id as configured: 1 to 5 digits.
    pub store_id: String,
    /// Station name, at most 45 characters.
    pub name: String,
    /// Local time zone, used for loyalty `transaction_date` and shift boundaries.
    pub time_zone: jiff::tz::TimeZone,
    /// The IANA name the time zone was configured with.
    pub time_zone_name: String,
    /// ISO 4217 currency code (three uppercase letters), e.g. `ARS`.
    pub currency: String,
    /// Letters and digits prefixed to every POS external id.
    pub pos_external_id_prefix: String,
    /// POS name template; `{position}` is replaced by the position number.
    pub pos_name_template: String,
}

impl Station {
    /// The store id zero-padded to 5 characters, as loyalty's `store_id` wants it.
    pub fn store_id_padded(&self) -> String {
        format!("{:0>5}", self.store_id)
    }

    /// True when `candidate` (e.g. an `apies` query parameter) names this station: the
    /// same number, leading zeros ignored, so `29` and `00029` both match.
    pub fn is_store_id(&self, candidate: &str) -> bool {
        fn significant(s: &str) -> &str {
            s.trim_start_matches('0')
        }
        !candidate.is_empty()
            && candidate.bytes().all(|b| b.is_ascii_digit())
            && significant(candidate) == significant(&self.store_id)
    }
}

/// What the order endpoint answers with a payable sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpMode {
    /// The seed-003 order JSON with loyalty (model B).
    Order,
    /// A checkout preference created once per sale, answered as `{"preference_id"}` (model A).
    Preference,
}

impl MpMode {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MpMode::Order => "order",
            MpMode::Preference => "preference",
        }
    }
}

/// `[mercadopago]`: the API, the credentials and the notification policy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MercadoPago {
    /// Order or preference answers.
    pub mode: MpMode,
    /// API base URL without a trailing slash, e.g. `https://api.mercadopago.com`.
    pub api_base_url: String,
    /// The collector's access token; `None` means no API call is possible (a warning).
    pub access_token: Option<Secret>,
    /// The collector (seller) user id: configured, or the token's last segment.
    pub collector_id: u64,
    /// The integrator's (brand's) user id.
    pub sponsor_id: Option<u64>,
    /// Sent as `notification_url` in every order/preference.
    pub notification_url: String,
    /// Public base URL of this daemon (no trailing slash), for POS URLs; see
    /// [`Config::order_url`].
    pub public_base_url: Option<String>,
    /// Webhook signing secrets, the current one first; two during a rotation.
    pub webhook_secrets: Vec<Secret>,
    /// Accept unsigned webhooks and IPN deliveries as unverified hints.
    pub accept_unsigned: bool,
    /// How far a signature's `ts` may be from now.
    pub signature_tolerance: Duration,
    /// Timeout of one API request.
    pub request_timeout: Duration,
    /// Bound on API work (a preference creation) inside one order endpoint answer.
    pub order_answer_timeout: Duration,
    /// Age of an unpaid sale (since its completion) after which the reconciler searches
    /// its payments.
    pub reconcile_after: Duration,
    /// Refund a second approved payment for an already paid sale automatically.
    pub refund_duplicates: bool,
    /// Mercado Pago's numeric store id for `forecourtd pos sync`, if known.
    pub pos_store_id: Option<String>,
    /// The integrator's store id for `forecourtd pos sync`, if used.
    pub pos_external_store_id: Option<String>,
}

/// `[order_endpoint]`: the URL Mercado Pago calls when a QR code is scanned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OrderEndpoint {
    /// URL path, starting with `/`, e.g. `/pay-mp`.
    pub path: String,
    /// Token required as `&token=` (compare with [`Secret::matches`]); URL-safe characters.
    pub token: Option<Secret>,
    /// HTTP methods answered; others get 405.
    pub allowed_methods: Vec<hyper::Method>,
}

/// `[listen]`: the two HTTP listeners.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Listen {
    /// Order endpoint and notifications.
    pub public: SocketAddr,
    /// Attendant API, web page and metrics; never public.
    pub admin: SocketAddr,
    /// Reverse proxies in front of the public listener whose `X-Forwarded-For` names the
    /// real client (for per-source limits); empty: the peer address is the client.
    pub public_trusted_proxies: Vec<std::net::IpAddr>,
    /// Connections the public listener serves at once; more get a 503 and are closed.
    pub public_max_connections: usize,
    /// Connections the admin listener serves at once; more get a 503 and are closed.
    pub admin_max_connections: usize,
    /// Time an answer's write may make no progress before the connection is closed (a
    /// client that never reads).
    pub write_timeout: std::time::Duration,
}

/// `[database]`: the journal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Database {
    /// SQLite file; a relative configured path is already resolved against the config
    /// file's directory.
    pub path: PathBuf,
    /// Transient rows (finished notifications) older than this are pruned.
    pub prune_after: std::time::Duration,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// `[logging]`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Logging {
    /// Output format.
    pub format: LogFormat,
    /// `tracing_subscriber::EnvFilter` directives, already checked to parse.
    pub level: String,
}

/// A pump protocol spoken on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Wayne DART (docs/protocols/dart.md).
    Dart,
    /// Gilbarco two-wire current loop (docs/protocols/gilbarco.md).
    Gilbarco,
}

impl Protocol {
    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Dart => "dart",
            Protocol::Gilbarco => "gilbarco",
        }
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// Odd parity (DART's usual setting).
    Odd,
    /// Even parity.
    Even,
    /// No parity bit.
    None,
}

impl From<Parity> for tokio_serial::Parity {
    fn from(p: Parity) -> Self {
        match p {
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::None => tokio_serial::Parity::None,
        }
    }
}

/// Data bits per character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataBits {
    /// 7 bits.
    Seven,
    /// 8 bits.
    Eight,
}

impl From<DataBits> for tokio_serial::DataBits {
    fn from(d: DataBits) -> Self {
        match d {
            DataBits::Seven => tokio_serial::DataBits::Seven,
            DataBits::Eight => tokio_serial::DataBits::Eight,
        }
    }
}

/// Stop bits per character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopBits {
    /// One stop bit.
    One,
    /// Two stop bits.
    Two,
}

impl From<StopBits> for tokio_serial::StopBits {
    fn from(s: StopBits) -> Self {
        match s {
            StopBits::One => tokio_serial::StopBits::One,
            StopBits::Two => tokio_serial::StopBits::Two,
        }
    }
}

pub use pump_protocols::dart::{OnNak, TxWrap};
pub use pump_protocols::gilbarco::DigitMode;

/// One `[[lines]]`: a serial port, its protocol, timing and pumps.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Line {
    /// Unique, non-empty name (logs, metrics, admin API).
    pub name: String,
    /// Serial device, e.g. `/dev/serial/by-id/usb-FTDI_…-if00-port0`.
    pub device: PathBuf,
    /// Baud rate, one of the standard rates.
    pub baud: u32,
    /// Parity.
    pub parity: Parity,
    /// Data bits.
    pub data_bits: DataBits,
    /// Stop bits.
    pub stop_bits: StopBits,
    /// Protocol.
    pub protocol: Protocol,
    /// Silence after which the line's positions answer `timeout`; longer than
    /// `response_timeout`.
    pub stale_limit: Duration,
    /// Wait for one answer (≥ 25 ms, the DART pump deadline).
    pub response_timeout: Duration,
    /// Idle gap between polls.
    pub poll_interval: Duration,
    /// Consecutive missed polls before a pump is offline (≥ 1).
    pub offline_after_misses: u32,
    /// Ordinary turns between two extra turns of the busy pumps (0: none; ≤ 64).
    pub busy_turn_every: u32,
    /// Retransmissions of an unanswered or refused block.
    pub retries: u32,
    /// DART TX# wrap.
    pub tx_wrap: TxWrap,
    /// DART TX# after NAK.
    pub on_nak: OnNak,
    /// Gilbarco: the converter echoes every byte the controller sends (off by default).
    pub echo: bool,
    /// Gilbarco: field widths, 6-digit (default) or 8-digit mode.
    pub digits: DigitMode,
    /// Longest wait between attempts to reopen a failed port.
    pub reopen_backoff_max: Duration,
    /// Record every byte of the line from the start (`capture = { … }`), if configured.
    pub capture: Option<CaptureSettings>,
    /// The pumps on this line, in file order.
    pub pumps: Vec<Pump>,
}

impl Line {
    /// The setups its protocol master needs, one per pump.
    pub fn pump_setups(&self) -> Vec<PumpSetup> {
        self.pumps.iter().map(Pump::setup).collect()
    }
}

/// Where and how much of a line's traffic is recorded (docs/captures.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureSettings {
    /// The current capture file; rotated ones are `PATH.1` (newest) to `PATH.keep`.
    pub path: PathBuf,
    /// Size in bytes at which the current file is rotated (4 KiB to 1 GB; default 10 MB).
    pub max_bytes: u64,
    /// Rotated files kept besides the current one (0 to 100; default 4), so a line's
    /// captures never take more than `max_bytes × (keep + 1)`.
    pub keep: u32,
}

impl CaptureSettings {
    /// Default size at which a capture file is rotated: about a day of a busy DART line.
    pub const DEFAULT_MAX_BYTES: u64 = 10_000_000;
    /// Default number of rotated files kept.
    pub const DEFAULT_KEEP: u32 = 4;
}

/// One `[[lines.pumps]]`: a pump (fuelling position) on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pump {
    /// Position number, unique across all lines.
    pub position: PositionId,
    /// Bus address, unique on its line and valid for the line's protocol.
    pub address: BusAddress,
    /// Decimal positions of the pump's volume, amount and price fields.
    pub decimals: Decimals,
    /// Nozzle → grade, sorted by nozzle, at least one; every grade exists and its price
    /// fits this pump's price field.
    pub nozzles: Vec<(NozzleId, GradeId)>,
}

impl Pump {
    /// What the protocol core needs to know about this pump.
    pub fn setup(&self) -> PumpSetup {
        PumpSetup {
            address: self.address,
            decimals: self.decimals,
            nozzles: self.nozzles.clone(),
        }
    }
}

/// Unit of a grade, as loyalty's `products[].unit` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradeUnit {
    /// Fuel, sold by the litre.
    Litre,
    /// Counted items (shop products).
    Piece,
}

impl GradeUnit {
    /// `litre` or `piece`.
    pub fn as_str(self) -> &'static str {
        match self {
            GradeUnit::Litre => "litre",
            GradeUnit::Piece => "piece",
        }
    }
}

/// One `[grades.<key>]`: a product sold at the station.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grade {
    /// Numeric id used by pumps' nozzle maps and the journal.
    pub id: GradeId,
    /// The TOML key, e.g. `super`.
    pub key: String,
    /// Display name (≤ 45 characters), used in order item titles.
    pub name: String,
    /// Product code for loyalty (serviclub: 1 Super, 4 Infinia, …).
    pub code: String,
    /// Unit.
    pub unit: GradeUnit,
    /// Configured unit price (> 0), programmed into the pumps.
    pub price: UnitPrice,
}

/// `[loyalty]`: the program the order's `loyalty` object names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Loyalty {
    /// Program name, e.g. `serviclub`.
    pub program: String,
    /// One character, e.g. `7`.
    pub affinity_plan: String,
    /// Four characters, `0000` when not used.
    pub period: String,
    /// One character.
    pub shift: String,
}

/// One `[[attendants]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attendant {
    /// Unique id (login, admin API).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Document type for loyalty's `cashier_identification`, e.g. `DNI`.
    pub document_type: String,
    /// Document number (digits, ≤ 20); `None` when unknown (loyalty then sends `00000000`).
    pub document_number: Option<String>,
}

/// The validated configuration. Built only by [`Config::load`] and
/// [`Config::from_toml_str`]; read-only afterwards.
#[derive(Debug, Clone)]
pub struct Config {
    station: Station,
    mercadopago: MercadoPago,
    order_endpoint: OrderEndpoint,
    listen: Listen,
    database: Database,
    logging: Logging,
    lines: Vec<Line>,
    grades: Vec<Grade>,
    loyalty: Option<Loyalty>,
    attendants: Vec<Attendant>,
    admin: Admin,
    console: Console,
    shifts: Shifts,
    chain: Option<Chain>,
    /// Position → (line index, pump index).
    positions: BTreeMap<PositionId, (usize, usize)>,
    warnings: Vec<ConfigIssue>,
}

impl Config {
    /// Reads, parses and validates the file at `path`, reading secrets from files (relative
    /// paths resolved against the file's directory) and the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Config::from_toml_str(&text, base_dir)
    }

    /// Parses and validates `text`; relative paths in it are resolved against `base_dir`,
    /// environment variables come from the process environment.
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        Config::from_toml_str_with_env(text, base_dir, &|name| std::env::var_os(name))
    }

    /// As [`from_toml_str`](Self::from_toml_str) with environment variables looked up
    /// through `env` (tests, and a caller that filters the environment).
    pub fn from_toml_str_with_env(
        text: &str,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<OsString>,
    ) -> Result<Config, ConfigError> {
        let (raw, structural) = raw::parse(text).map_err(|e| ConfigError::Syntax {
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let context = validate::Context { base_dir, env };
        validate::validate(raw, structural, &context).map_err(ConfigError::Invalid)
    }

    /// `[station]`.
    pub fn station(&self) -> &Station {
        &self.station
    }

    /// `[mercadopago]`.
    pub fn mercadopago(&self) -> &MercadoPago {
        &self.mercadopago
    }

    /// `[order_endpoint]`.
    pub fn order_endpoint(&self) -> &OrderEndpoint {
        &self.order_endpoint
    }

    /// `[listen]`.
    pub fn listen(&self) -> &Listen {
        &self.listen
    }

    /// `[database]`.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// `[logging]`.
    pub fn logging(&self) -> &Logging {
        &self.logging
    }

    /// `[chain]`, when the uplink to headquarters is configured and enabled.
    pub fn chain(&self) -> Option<&Chain> {
        self.chain.as_ref()
    }

    /// `[loyalty]`, when configured.
    pub fn loyalty(&self) -> Option<&Loyalty> {
        self.loyalty.as_ref()
    }

    /// The serial lines, in file order (at least one).
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Every pump with its line, in file order.
    pub fn pumps(&self) -> impl Iterator<Item = (&Line, &Pump)> + '_ {
        self.lines
            .iter()
            .flat_map(|line| line.pumps.iter().map(move |pump| (line, pump)))
    }

    /// Every configured position, ascending.
    pub fn positions(&self) -> impl Iterator<Item = PositionId> + '_ {
        self.positions.keys().copied()
    }

    /// The line and pump of `position`, if configured.
    pub fn find_position(&self, position: PositionId) -> Option<(&Line, &Pump)> {
        let &(line, pump) = self.positions.get(&position)?;
        let line = self.lines.get(line)?;
        Some((line, line.pumps.get(pump)?))
    }

    /// The grades, by ascending id.
    pub fn grades(&self) -> &[Grade] {
        &self.grades
    }

    /// The grade with `id`.
    pub fn grade(&self, id: GradeId) -> Option<&Grade> {
        self.grades
            .binary_search_by_key(&id, |g| g.id)
            .ok()
            .and_then(|i| self.grades.get(i))
    }

    /// The grade with TOML key `key`.
    pub fn grade_by_key(&self, key: &str) -> Option<&Grade> {
        self.grades.iter().find(|g| g.key == key)
    }

    /// The attendants, in file order.
    pub fn attendants(&self) -> &[Attendant] {
        &self.attendants
    }

    /// `[admin]`.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// `[console]`.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// `[shifts]`.
    pub fn shifts(&self) -> &Shifts {
        &self.shifts
    }

    /// Where the CLI's token lives: configured, or `cli.token` next to the journal.
    pub fn cli_token_file(&self) -> PathBuf {
        self.admin.cli_token_file.clone().unwrap_or_else(|| {
            self.database
                .path
                .parent()
                .unwrap_or(Path::new("."))
                .join(crate::access::tokens::CLI_TOKEN_FILE)
        })
    }

    /// The attendant with `id`.
    pub fn attendant(&self, id: &str) -> Option<&Attendant> {
        self.attendants.iter().find(|a| a.id == id)
    }

    /// The POS external id of `position`: prefix + `P` + the position zero-padded to 2,
    /// e.g. `ST29P03`. Checked at load to be alphanumeric and ≤ 40 characters for every
    /// configured position.
    pub fn pos_external_id(&self, position: PositionId) -> String {
        validate::pos_external_id(&self.station.pos_external_id_prefix, position)
    }

    /// The POS name of `position` from the template, e.g. `Surtidor 3`. Checked at load to
    /// be at most 45 characters for every configured position.
    pub fn pos_name(&self, position: PositionId) -> String {
        validate::pos_name(&self.station.pos_name_template, position)
    }

    /// The URL Mercado Pago calls for `position` (the POS `url`):
    /// `public_base_url + path + ?apies=<store_id>&pos=<n>` and `&token=…` when a token is
    /// set. `None` without `public_base_url`. Carries the token: do not log it.
    pub fn order_url(&self, position: PositionId) -> Option<String> {
        let base = self.mercadopago.public_base_url.as_deref()?;
        Some(validate::order_url(
            base,
            &self.order_endpoint,
            &self.station.store_id,
            position,
        ))
    }

    /// Things that are allowed but probably not intended (e.g. no access token, admin
    /// listener not on loopback). The caller logs them.
    pub fn warnings(&self) -> &[ConfigIssue] {
        &self.warnings
    }

    /// One line describing the configuration, for `check-config` and the start-up log.
    pub fn summary(&self) -> String {
        let mp = &self.mercadopago;
        format!(
            "station {} {:?} ({}, {}): {} line(s), {} position(s), {} grade(s), {} attendant(s); \
             mercadopago {} mode, collector {}, {}; public {}, admin {}",
            self.station.store_id,
            self.station.name,
            self.station.time_zone_name,
            self.station.currency,
            self.lines.len(),
            self.positions.len(),
            self.grades.len(),
            self.attendants.len(),
            mp.mode.as_str(),
            mp.collector_id,
            if mp.access_token.is_some() {
                "access token loaded"
            } else {
                "no access token"
            },
            self.listen.public,
            self.listen.admin,
        )
    }
}
