//! Stage two: [`RawConfig`] → [`Config`], checking every value and collecting every
//! problem with its key path.
//!
//! This module owns the rules (ranges, formats, cross-references, defaults) and the
//! loading of secrets named by the file. It never stops at the first error: each check
//! records its issue and validation goes on, skipping only checks that depend on a value
//! already found wrong, so one run shows the operator everything to fix. It never logs;
//! warnings go into the [`Config`].
//!
//! The pump side (lines, pumps, grades) is in [`forecourt`], Mercado Pago and the order
//! endpoint in [`mercadopago`]; this file holds the shared helpers and the rest.

mod access;
mod chain;
mod forecourt;
mod mercadopago;
mod protocol;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pump_protocols::PositionId;

pub(crate) use mercadopago::order_url;
use mercadopago::{mercadopago, order_endpoint, order_urls};

use super::raw::{Lenient, RawConfig, RawDatabase, RawListen, RawLogging, RawStation};
use super::{
    Attendant, Config, ConfigIssue, Console, Database, Listen, LogFormat, Logging, Loyalty, Station,
};

/// Where relative paths start and how environment variables are read.
pub(crate) struct Context<'a> {
    /// Directory of the configuration file.
    pub(crate) base_dir: &'a Path,
    /// Environment lookup.
    pub(crate) env: &'a dyn Fn(&str) -> Option<OsString>,
}

/// Longest station, grade and POS name Mercado Pago accepts.
const MAX_NAME: usize = 45;
/// Longest POS external id Mercado Pago accepts.
const MAX_EXTERNAL_ID: usize = 40;

/// Errors and warnings found so far.
#[derive(Default)]
pub(crate) struct Report {
    errors: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
    /// Paths of keys dropped for not fitting their type; not reported again as missing.
    dropped: BTreeSet<String>,
}

impl Report {
    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigIssue::new(path, message));
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigIssue::new(path, message));
    }

    /// The parsed part after recording its structural errors; `None` when it could not
    /// be parsed at all.
    pub(crate) fn parsed<T>(&mut self, part: Lenient<T>, path: &str) -> Option<T> {
        let (value, issues) = part.into_parts(path);
        self.structural(issues);
        value
    }

    fn structural(&mut self, issues: Vec<ConfigIssue>) {
        for issue in issues {
            self.dropped.insert(issue.path.clone());
            self.errors.push(issue);
        }
    }

    /// True when the key at `path` was reported as mistyped and dropped.
    pub(crate) fn was_dropped(&self, path: &str) -> bool {
        self.dropped.contains(path)
    }

    /// `value`, or `None` after recording that it is missing (unless it was dropped as
    /// mistyped, which is reported already).
    pub(crate) fn required<T>(&mut self, value: Option<T>, path: &str) -> Option<T> {
        if value.is_none() && !self.dropped.contains(path) {
            self.error(path, "missing (required)");
        }
        value
    }

    /// An integer in `range`, `default` when absent.
    pub(crate) fn int(
        &mut self,
        value: Option<i64>,
        default: i64,
        range: RangeInclusive<i64>,
        path: &str,
    ) -> Option<i64> {
        let v = value.unwrap_or(default);
        if range.contains(&v) {
            Some(v)
        } else {
            self.error(
                path,
                format!("{v} is out of range {}..={}", range.start(), range.end()),
            );
            None
        }
    }

    /// A duration in milliseconds in `range`, `default` when absent.
    pub(crate) fn millis(
        &mut self,
        value: Option<i64>,
        default: i64,
        range: RangeInclusive<i64>,
        path: &str,
    ) -> Option<Duration> {
        self.int(value, default, range, path)
            .and_then(|v| u64::try_from(v).ok())
            .map(Duration::from_millis)
    }

    /// A duration in seconds in `range`, `default` when absent.
    pub(crate) fn secs(
        &mut self,
        value: Option<i64>,
        default: i64,
        range: RangeInclusive<i64>,
        path: &str,
    ) -> Option<Duration> {
        self.int(value, default, range, path)
            .and_then(|v| u64::try_from(v).ok())
            .map(Duration::from_secs)
    }

    /// A non-blank text of at most `max` characters.
    pub(crate) fn text(&mut self, value: &str, max: usize, path: &str) -> Option<String> {
        let trimmed = value.trim();
        let len = trimmed.chars().count();
        if trimmed.is_empty() {
            self.error(path, "must not be empty");
            None
        } else if len > max {
            self.error(
                path,
                format!("{trimmed:?} is {len} characters long; at most {max} are allowed"),
            );
            None
        } else {
            Some(trimmed.to_owned())
        }
    }

    /// One of `choices` (configuration spelling → value), `default` when absent.
    pub(crate) fn choice<T: Copy>(
        &mut self,
        value: Option<&str>,
        default: T,
        choices: &[(&str, T)],
        what: &str,
        path: &str,
    ) -> Option<T> {
        let Some(value) = value else {
            return Some(default);
        };
        if let Some((_, v)) = choices.iter().find(|(name, _)| *name == value) {
            return Some(*v);
        }
        let names: Vec<_> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
        self.error(
            path,
            format!(
                "unknown {what} {value:?} (expected one of: {})",
                names.join(", ")
            ),
        );
        None
    }
}

/// `prefix.rel`, `prefix[i]`, or whichever is non-empty.
pub(crate) fn join_path(prefix: &str, rel: &str) -> String {
    match (prefix.is_empty(), rel.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => rel.to_owned(),
        (false, false) if rel.starts_with('[') => format!("{prefix}{rel}"),
        (false, false) => format!("{prefix}.{rel}"),
    }
}

/// Validates `raw` into a [`Config`], or returns every issue found (starting with the
/// structural ones the parser already found).
pub(crate) fn validate(
    raw: RawConfig,
    structural: Vec<ConfigIssue>,
    ctx: &Context<'_>,
) -> Result<Config, Vec<ConfigIssue>> {
    let mut r = Report::default();
    r.structural(structural);

    let station = match raw.station {
        Some(part) => r.parsed(part, "station").and_then(|s| station(&mut r, s)),
        None => {
            r.error(
                "station",
                "missing section [station] (store_id, name, time_zone)",
            );
            None
        }
    };
    let mercadopago = match raw.mercadopago {
        Some(part) => r
            .parsed(part, "mercadopago")
            .and_then(|m| mercadopago(&mut r, m, ctx)),
        None => {
            r.error(
                "mercadopago",
                "missing section [mercadopago] (notification_url and the credentials)",
            );
            None
        }
    };
    let order_endpoint = section(&mut r, raw.order_endpoint, "order_endpoint")
        .and_then(|o| order_endpoint(&mut r, o));
    let listen = section(&mut r, raw.listen, "listen").and_then(|l| listen(&mut r, l));
    let database = section(&mut r, raw.database, "database").and_then(|d| database(&mut r, d, ctx));
    let logging = section(&mut r, raw.logging, "logging").and_then(|l| logging(&mut r, l));

    let grades = forecourt::grades(&mut r, raw.grades);
    let lines = forecourt::lines(&mut r, raw.lines, &grades, ctx.base_dir);

    if let Some(station) = &station {
        positions_names(&mut r, station, lines.positions.keys().copied());
        if let (Some(mp), Some(endpoint)) = (&mercadopago, &order_endpoint) {
            if let Some(base) = &mp.public_base_url {
                order_urls(&mut r, base, endpoint, station, lines.positions.keys());
            }
        }
    }

    let loyalty = raw
        .loyalty
        .and_then(|part| r.parsed(part, "loyalty"))
        .and_then(|l| loyalty(&mut r, l));
    let attendants = attendants(&mut r, raw.attendants);
    let admin = section(&mut r, raw.admin, "admin").and_then(|a| access::admin(&mut r, a, ctx));
    let shifts = section(&mut r, raw.shifts, "shifts").and_then(|s| access::shifts(&mut r, s));
    if let (Some(admin), Some(listen)) = (&admin, &listen) {
        access::listener_warnings(&mut r, admin, listen);
    }
    let console = section(&mut r, raw.console, "console").and_then(|c| {
        let default = i64::try_from(super::admin::DEFAULT_UNPAID_ALERT_AFTER_SECS).ok()?;
        let secs = r.int(
            c.unpaid_alert_after_secs,
            default,
            10..=24 * 3600,
            "console.unpaid_alert_after_secs",
        )?;
        Some(Console {
            unpaid_alert_after: Duration::from_secs(u64::try_from(secs).ok()?),
        })
    });

    let chain = raw
        .chain
        .and_then(|part| r.parsed(part, "chain"))
        .and_then(|c| {
            let store_id = station.as_ref().map(|s| s.store_id.as_str());
            chain::chain(&mut r, c, store_id, ctx)
        });

    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    match (
        station,
        mercadopago,
        order_endpoint,
        listen,
        database,
        logging,
    ) {
        (
            Some(station),
            Some(mercadopago),
            Some(order_endpoint),
            Some(listen),
            Some(database),
            Some(logging),
        ) => Ok(Config {
            admin: admin.unwrap_or_default(),
            console: console.unwrap_or_default(),
            shifts: shifts.unwrap_or_default(),
            chain,
            station,
            mercadopago,
            order_endpoint,
            listen,
            database,
            logging,
            lines: lines.lines,
            grades: grades.into_sorted(),
            loyalty,
            attendants,
            positions: lines.positions,
            warnings: r.warnings,
        }),
        // Every path that yields `None` records an error first; keep a message rather than
        // panic should a future change break that.
        _ => Err(vec![ConfigIssue::new(
            "",
            "configuration incomplete (a section failed without a reported error)",
        )]),
    }
}

/// An optional section: its parsed value, or an empty one (all defaults) when absent.
fn section<T: Default>(r: &mut Report, part: Option<Lenient<T>>, path: &str) -> Option<T> {
    match part {
        Some(part) => r.parsed(part, path),
        None => Some(T::default()),
    }
}

fn station(r: &mut Report, s: RawStation) -> Option<Station> {
    let store_id = r.required(s.store_id, "station.store_id").and_then(|id| {
        if !id.is_empty() && id.len() <= 5 && id.bytes().all(|b| b.is_ascii_digit()) {
            Some(id)
        } else {
            r.error(
                "station.store_id",
                format!("must be 1 to 5 digits (the APIES), got {id:?}"),
            );
            None
        }
    });
    let name = r
        .required(s.name, "station.name")
        .and_then(|n| r.text(&n, MAX_NAME, "station.name"));
    let time_zone_name = r.required(s.time_zone, "station.time_zone");
    let time_zone =
        time_zone_name
            .as_deref()
            .and_then(|name| match jiff::tz::TimeZone::get(name) {
                Ok(tz) => Some(tz),
                Err(_) => {
                    r.error(
                        "station.time_zone",
                        format!(
                            "unknown time zone {name:?} (use an IANA name such as \
                         \"America/Argentina/Buenos_Aires\")"
                        ),
                    );
                    None
                }
            });
    let currency = s.currency.unwrap_or_else(|| "ARS".to_owned());
    let currency = if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Some(currency)
    } else {
        r.error(
            "station.currency",
            format!(
                "must be an ISO 4217 code of 3 uppercase letters, e.g. \"ARS\"; got {currency:?}"
            ),
        );
        None
    };
    let prefix = match (s.pos_external_id_prefix, &store_id) {
        (Some(prefix), _) => {
            if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Some(prefix)
            } else {
                r.error(
                    "station.pos_external_id_prefix",
                    format!(
                        "must be letters and digits only (Mercado Pago refuses spaces and other \
                         characters in a POS external id), got {prefix:?}"
                    ),
                );
                None
            }
        }
        (None, Some(store_id)) => Some(format!("ST{store_id}")),
        (None, None) => None,
    };
    let template = s
        .pos_name_template
        .unwrap_or_else(|| "Surtidor {position}".to_owned());
    let template = if pos_name(&template, PositionId(1)).contains(['{', '}']) {
        r.error(
            "station.pos_name_template",
            format!("{template:?}: the only placeholder is {{position}}"),
        );
        None
    } else {
        Some(template)
    };
    Some(Station {
        store_id: store_id?,
        name: name?,
        time_zone: time_zone?,
        time_zone_name: time_zone_name?,
        currency: currency?,
        pos_external_id_prefix: prefix?,
        pos_name_template: template?,
    })
}

/// Checks the POS external id and name of every configured position; each problem is
/// reported once, at the setting that causes it, with the first position it breaks.
fn positions_names(
    r: &mut Report,
    station: &Station,
    positions: impl Iterator<Item = PositionId> + Clone,
) {
    let too_long_id = positions.clone().find_map(|p| {
        let id = pos_external_id(&station.pos_external_id_prefix, p);
        (id.len() > MAX_EXTERNAL_ID).then_some((p, id))
    });
    if let Some((p, id)) = too_long_id {
        r.error(
            "station.pos_external_id_prefix",
            format!(
                "POS external id {id:?} of position {p} is {} characters long; at most \
                 {MAX_EXTERNAL_ID} are allowed",
                id.len()
            ),
        );
    }
    let too_long_name = positions.clone().find_map(|p| {
        let name = pos_name(&station.pos_name_template, p);
        let len = name.trim().chars().count();
        (len == 0 || len > MAX_NAME).then_some((p, name, len))
    });
    if let Some((p, name, len)) = too_long_name {
        r.error(
            "station.pos_name_template",
            format!(
                "POS name {name:?} of position {p} is {len} characters long; 1 to {MAX_NAME} \
                 are allowed"
            ),
        );
    }
}

/// `prefix` + `P` + the position zero-padded to 2.
pub(crate) fn pos_external_id(prefix: &str, position: PositionId) -> String {
    format!("{prefix}P{:02}", position.0)
}

/// The template with `{position}` replaced.
pub(crate) fn pos_name(template: &str, position: PositionId) -> String {
    template.replace("{position}", &position.to_string())
}

fn listen(r: &mut Report, l: RawListen) -> Option<Listen> {
    let mut addr = |value: Option<String>, default: &str, path: &str| {
        let value = value.unwrap_or_else(|| default.to_owned());
        match value.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                r.error(
                    path,
                    format!("{value:?} is not a socket address such as \"127.0.0.1:8080\""),
                );
                None
            }
        }
    };
    let public = addr(l.public, "127.0.0.1:8080", "listen.public");
    let admin = addr(l.admin, "127.0.0.1:8081", "listen.admin");
    let (public, admin) = (public?, admin?);
    // Port 0 asks the OS for a free port, so two such listeners never clash.
    if public == admin && public.port() != 0 {
        r.error(
            "listen.admin",
            format!("{admin} is also listen.public; the two listeners need different addresses"),
        );
        return None;
    }
    let public_trusted_proxies = access::trusted_proxies(r, l.public_trusted_proxies);
    let mut cap = |value: Option<i64>, default: i64, path: &str| {
        r.int(value, default, 1..=MAX_CONNECTIONS, path)
            .and_then(|v| usize::try_from(v).ok())
    };
    let public_max_connections = cap(
        l.public_max_connections,
        DEFAULT_PUBLIC_MAX_CONNECTIONS,
        "listen.public_max_connections",
    );
    let admin_max_connections = cap(
        l.admin_max_connections,
        DEFAULT_ADMIN_MAX_CONNECTIONS,
        "listen.admin_max_connections",
    );
    let write_timeout = r.millis(
        l.write_timeout_ms,
        DEFAULT_WRITE_TIMEOUT_MS,
        100..=600_000,
        "listen.write_timeout_ms",
    );
    Some(Listen {
        public,
        admin,
        public_trusted_proxies: public_trusted_proxies?,
        public_max_connections: public_max_connections?,
        admin_max_connections: admin_max_connections?,
        write_timeout: write_timeout?,
    })
}

/// Public connections served at once by default: far above what Mercado Pago and a
/// station make, far below what fits in the box's memory (about 16 KiB each).
const DEFAULT_PUBLIC_MAX_CONNECTIONS: i64 = 256;

/// Admin connections by default: a few consoles, the POS and the CLI.
const DEFAULT_ADMIN_MAX_CONNECTIONS: i64 = 64;

/// Beyond this, a cap no longer bounds anything on a station box.
const MAX_CONNECTIONS: i64 = 16_384;

/// A phone on a poor link still takes a 1 KiB answer well within ten seconds.
const DEFAULT_WRITE_TIMEOUT_MS: i64 = 10_000;

/// Finished notifications are kept a month: long enough to answer a dispute about a
/// delivery, short enough that the inbox stays small.
const DEFAULT_PRUNE_AFTER_DAYS: i64 = 30;

/// Ten years: beyond that, pruning is effectively off.
const MAX_PRUNE_AFTER_DAYS: i64 = 3650;

fn database(r: &mut Report, d: RawDatabase, ctx: &Context<'_>) -> Option<Database> {
    let path = d
        .path
        .unwrap_or_else(|| "/var/lib/forecourtd/journal.db".to_owned());
    if path.trim().is_empty() {
        r.error("database.path", "must not be empty");
        return None;
    }
    let days = d.prune_after_days.unwrap_or(DEFAULT_PRUNE_AFTER_DAYS);
    if !(1..=MAX_PRUNE_AFTER_DAYS).contains(&days) {
        r.error(
            "database.prune_after_days",
            format!("must be 1 to {MAX_PRUNE_AFTER_DAYS} days, got {days}"),
        );
        return None;
    }
    let days = u64::try_from(days).unwrap_or(1);
    Some(Database {
        path: resolve(ctx.base_dir, &path),
        prune_after: std::time::Duration::from_secs(days * 24 * 60 * 60),
    })
}

fn logging(r: &mut Report, l: RawLogging) -> Option<Logging> {
    let format = r.choice(
        l.format.as_deref(),
        LogFormat::Human,
        &[("human", LogFormat::Human), ("json", LogFormat::Json)],
        "format",
        "logging.format",
    );
    let level = l.level.unwrap_or_else(|| "info".to_owned());
    let level = match tracing_subscriber::EnvFilter::try_new(&level) {
        Ok(_) => Some(level),
        Err(e) => {
            r.error(
                "logging.level",
                format!("{level:?} is not a valid filter (e.g. \"info,forecourtd=debug\"): {e}"),
            );
            None
        }
    };
    Some(Logging {
        format: format?,
        level: level?,
    })
}

fn loyalty(r: &mut Report, l: super::raw::RawLoyalty) -> Option<Loyalty> {
    let program = r
        .required(l.program, "loyalty.program")
        .and_then(|p| r.text(&p, 40, "loyalty.program"));
    let mut exact = |value: Option<String>, default: &str, len: usize, path: &str| {
        let value = value.unwrap_or_else(|| default.to_owned());
        if value.chars().count() == len {
            Some(value)
        } else {
            r.error(
                path,
                format!("must be exactly {len} character(s), e.g. {default:?}; got {value:?}"),
            );
            None
        }
    };
    let affinity_plan = exact(l.affinity_plan, "7", 1, "loyalty.affinity_plan");
    let period = exact(l.period, "0000", 4, "loyalty.period");
    let shift = exact(l.shift, "1", 1, "loyalty.shift");
    Some(Loyalty {
        program: program?,
        affinity_plan: affinity_plan?,
        period: period?,
        shift: shift?,
    })
}

fn attendants(r: &mut Report, raw: Vec<Lenient<super::raw::RawAttendant>>) -> Vec<Attendant> {
    let mut out = Vec::new();
    let mut seen = Seen::new();
    for (i, part) in raw.into_iter().enumerate() {
        let prefix = format!("attendants[{i}]");
        let Some(a) = r.parsed(part, &prefix) else {
            continue;
        };
        let id = r
            .required(a.id, &format!("{prefix}.id"))
            .and_then(|id| r.text(&id, 40, &format!("{prefix}.id")));
        if let Some(id) = &id {
            if let Some(first) = seen.insert(id.clone(), &prefix) {
                r.error(
                    format!("{prefix}.id"),
                    format!("id {id:?} is already used by {first}"),
                );
            }
        }
        let name = r
            .required(a.name, &format!("{prefix}.name"))
            .and_then(|n| r.text(&n, MAX_NAME, &format!("{prefix}.name")));
        let document_type = r.text(
            a.document_type.as_deref().unwrap_or("DNI"),
            10,
            &format!("{prefix}.document_type"),
        );
        let document_number = match a.document_number {
            Some(n) if !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()) => {
                Some(Some(n))
            }
            Some(n) => {
                r.error(
                    format!("{prefix}.document_number"),
                    format!("must be 1 to 20 digits, got {n:?}"),
                );
                None
            }
            None => Some(None),
        };
        if let (Some(id), Some(name), Some(document_type), Some(document_number)) =
            (id, name, document_type, document_number)
        {
            out.push(Attendant {
                id,
                name,
                document_type,
                document_number,
            });
        }
    }
    out
}

/// `path` as is when absolute, else relative to the configuration file's directory.
pub(crate) fn resolve(base_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base_dir.join(p)
    }
}

/// Keys already used in a scope, to name the first user of a duplicate.
pub(crate) struct Seen<K> {
    entries: Vec<(K, String)>,
}

impl<K: PartialEq> Seen<K> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Records `key` at `path`; returns the path that already had it, if any.
    pub(crate) fn insert(&mut self, key: K, path: &str) -> Option<&str> {
        match self.entries.iter().position(|(k, _)| *k == key) {
            Some(i) => self.entries.get(i).map(|(_, p)| p.as_str()),
            None => {
                self.entries.push((key, path.to_owned()));
                None
            }
        }
    }
}

/// Grade keys whose section failed to parse, so references to them are not reported
/// a second time as unknown.
pub(crate) type BrokenKeys = BTreeSet<String>;
