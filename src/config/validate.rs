//! Stage two: [`RawConfig`] → [`Config`], checking every value and collecting every
//! problem with its key path.
//!
//! This module owns the rules (ranges, formats, cross-references, defaults) and the
//! loading of secrets named by the file. It never stops at the first error: each check
//! records its issue and validation goes on, skipping only checks that depend on a value
//! already found wrong, so one run shows the operator everything to fix. It never logs;
//! warnings go into the [`Config`].
//!
//! The pump side (lines, pumps, grades) is in [`forecourt`].

mod forecourt;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pump_protocols::PositionId;

use super::raw::{
    Lenient, RawConfig, RawDatabase, RawListen, RawLogging, RawMercadoPago, RawOrderEndpoint,
    RawStation,
};
use super::secret::{self, Secret};
use super::{
    Attendant, Config, ConfigIssue, Database, Listen, LogFormat, Logging, Loyalty, MercadoPago,
    MpMode, OrderEndpoint, Station,
};

/// Where relative paths start and how environment variables are read.
pub struct Context<'a> {
    /// Directory of the configuration file.
    pub base_dir: &'a Path,
    /// Environment lookup.
    pub env: &'a dyn Fn(&str) -> Option<OsString>,
}

/// Longest station, grade and POS name Mercado Pago accepts.
const MAX_NAME: usize = 45;
/// Longest POS external id Mercado Pago accepts.
const MAX_EXTERNAL_ID: usize = 40;
/// A POS `url` must be shorter than this (mercadopago.md §5).
const MAX_POS_URL: usize = 300;
/// The path the notification handler is mounted on; the order endpoint must differ.
const NOTIFICATIONS_PATH: &str = "/mp/notifications";
/// Fewest characters of an order endpoint token, so it cannot be guessed.
const MIN_TOKEN_LEN: usize = 16;

/// Errors and warnings found so far.
#[derive(Default)]
pub(crate) struct Report {
    errors: Vec<ConfigIssue>,
    warnings: Vec<ConfigIssue>,
}

impl Report {
    pub(crate) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigIssue::new(path, message));
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigIssue::new(path, message));
    }

    /// The parsed part, or `None` after recording why it is broken.
    pub(crate) fn parsed<T>(&mut self, part: Lenient<T>, path: &str) -> Option<T> {
        match part.into_result(path) {
            Ok(value) => Some(value),
            Err(issue) => {
                self.errors.push(issue);
                None
            }
        }
    }

    /// `value`, or `None` after recording that it is missing.
    pub(crate) fn required<T>(&mut self, value: Option<T>, path: &str) -> Option<T> {
        if value.is_none() {
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
    fn secs(
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
    let mut r = Report {
        errors: structural,
        warnings: Vec::new(),
    };

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
    let lines = forecourt::lines(&mut r, raw.lines, &grades);

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
    let store_id = if !s.store_id.is_empty()
        && s.store_id.len() <= 5
        && s.store_id.bytes().all(|b| b.is_ascii_digit())
    {
        Some(s.store_id)
    } else {
        r.error(
            "station.store_id",
            format!("must be 1 to 5 digits (the APIES), got {:?}", s.store_id),
        );
        None
    };
    let name = r.text(&s.name, MAX_NAME, "station.name");
    let time_zone = match jiff::tz::TimeZone::get(&s.time_zone) {
        Ok(tz) => Some(tz),
        Err(_) => {
            r.error(
                "station.time_zone",
                format!(
                    "unknown time zone {:?} (use an IANA name such as \"America/Argentina/Buenos_Aires\")",
                    s.time_zone
                ),
            );
            None
        }
    };
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
        time_zone_name: s.time_zone,
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

fn order_urls<'a>(
    r: &mut Report,
    base: &str,
    endpoint: &OrderEndpoint,
    station: &Station,
    positions: impl Iterator<Item = &'a PositionId>,
) {
    let too_long = positions.map(|p| order_url(base, endpoint, &station.store_id, *p));
    if let Some(url) = too_long.into_iter().find(|u| u.len() >= MAX_POS_URL) {
        // The URL carries the token: report its length, not the URL.
        r.error(
            "mercadopago.public_base_url",
            format!(
                "a POS url would be {} characters long; Mercado Pago accepts fewer than \
                 {MAX_POS_URL}",
                url.len()
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

/// The POS `url` of a position (see [`Config::order_url`]).
pub(crate) fn order_url(
    base: &str,
    endpoint: &OrderEndpoint,
    store_id: &str,
    position: PositionId,
) -> String {
    let mut url = format!("{base}{}?apies={store_id}&pos={position}", endpoint.path);
    if let Some(token) = &endpoint.token {
        // Checked at load to hold only URL-unreserved characters: no escaping needed.
        url.push_str("&token=");
        url.push_str(token.expose());
    }
    url
}

/// An absolute `http://` or `https://` URL, or `None` after recording why not.
fn http_url(r: &mut Report, value: &str, path: &str) -> Option<String> {
    let ok = value.parse::<hyper::Uri>().is_ok_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.authority().is_some_and(|a| !a.host().is_empty())
    });
    if ok {
        Some(value.to_owned())
    } else {
        r.error(
            path,
            format!("must be an absolute http:// or https:// URL, got {value:?}"),
        );
        None
    }
}

/// A base URL: http(s), no query or fragment, no trailing slash.
fn base_url(r: &mut Report, value: &str, path: &str) -> Option<String> {
    let url = http_url(r, value, path)?;
    if url.contains(['?', '#']) {
        r.error(path, "a base URL cannot have a query (?) or fragment (#)");
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

fn mercadopago(r: &mut Report, m: RawMercadoPago, ctx: &Context<'_>) -> Option<MercadoPago> {
    const P: &str = "mercadopago";
    let mode = r.choice(
        m.mode.as_deref(),
        MpMode::Order,
        &[("order", MpMode::Order), ("preference", MpMode::Preference)],
        "mode",
        "mercadopago.mode",
    );
    let api_base_url = base_url(
        r,
        m.api_base_url
            .as_deref()
            .unwrap_or("https://api.mercadopago.com"),
        "mercadopago.api_base_url",
    );

    // The token: `Ok(None)` when none is configured, `Err` when one is but failed.
    let token: Result<Option<Secret>, ()> = match (&m.access_token_file, &m.access_token_env) {
        (Some(_), Some(_)) => {
            r.error(
                "mercadopago.access_token_file",
                "access_token_file and access_token_env are both set; use only one",
            );
            Err(())
        }
        (Some(file), None) => file_secret(r, file, ctx, "mercadopago.access_token_file")
            .map_or(Err(()), |s| Ok(Some(s))),
        (None, Some(var)) => match secret::read_env(var, ctx.env) {
            Ok(s) => Ok(Some(s)),
            Err(why) => {
                r.error("mercadopago.access_token_env", why);
                Err(())
            }
        },
        (None, None) => {
            r.warn(
                P,
                "no access_token_file or access_token_env: no Mercado Pago API call is \
                 possible (payments cannot be confirmed, preferences cannot be created)",
            );
            Ok(None)
        }
    };

    let collector_id = collector_id(r, m.collector_id, token.as_ref().ok().map(Option::as_ref));
    let sponsor_id = match m.sponsor_id {
        Some(id) => match u64::try_from(id) {
            Ok(id) if id > 0 => Some(Some(id)),
            _ => {
                r.error("mercadopago.sponsor_id", format!("{id} is not a user id"));
                None
            }
        },
        None => Some(None),
    };
    let notification_url = r
        .required(
            m.notification_url.as_deref(),
            "mercadopago.notification_url",
        )
        .and_then(|u| http_url(r, u, "mercadopago.notification_url"));
    let public_base_url = match &m.public_base_url {
        Some(u) => base_url(r, u, "mercadopago.public_base_url").map(Some),
        None => Some(None),
    };
    let webhook_secrets = webhook_secrets(r, &m, ctx);
    let accept_unsigned = m.accept_unsigned.unwrap_or(true);
    if !accept_unsigned && webhook_secrets.as_ref().is_some_and(Vec::is_empty) {
        r.error(
            "mercadopago.accept_unsigned",
            "accept_unsigned = false needs a webhook secret; without one every notification \
             would be refused",
        );
    }
    let signature_tolerance = r.secs(
        m.signature_tolerance_secs,
        900,
        1..=86_400,
        "mercadopago.signature_tolerance_secs",
    );
    let request_timeout = r.millis(
        m.request_timeout_ms,
        5_000,
        1..=120_000,
        "mercadopago.request_timeout_ms",
    );
    let order_answer_timeout = r.millis(
        m.order_answer_timeout_ms,
        2_500,
        1..=60_000,
        "mercadopago.order_answer_timeout_ms",
    );
    let reconcile_after = r.secs(
        m.reconcile_after_secs,
        120,
        1..=7 * 86_400,
        "mercadopago.reconcile_after_secs",
    );

    Some(MercadoPago {
        mode: mode?,
        api_base_url: api_base_url?,
        access_token: token.ok()?,
        collector_id: collector_id?,
        sponsor_id: sponsor_id?,
        notification_url: notification_url?,
        public_base_url: public_base_url?,
        webhook_secrets: webhook_secrets?,
        accept_unsigned,
        signature_tolerance: signature_tolerance?,
        request_timeout: request_timeout?,
        order_answer_timeout: order_answer_timeout?,
        reconcile_after: reconcile_after?,
        refund_duplicates: m.refund_duplicates.unwrap_or(false),
    })
}

/// The collector id: configured, or the user id the access token ends with (seed 003:
/// "the digits of the access token after the last hyphen"). `token` is `None` when the
/// token failed to load (already reported), `Some(None)` when none is configured.
fn collector_id(
    r: &mut Report,
    configured: Option<i64>,
    token: Option<Option<&Secret>>,
) -> Option<u64> {
    const PATH: &str = "mercadopago.collector_id";
    let from_token = token.flatten().and_then(|t| {
        let last = t
            .expose()
            .rsplit('-')
            .next()
            .filter(|_| t.expose().contains('-'))?;
        if last.bytes().all(|b| b.is_ascii_digit()) {
            last.parse::<u64>().ok().filter(|&id| id > 0)
        } else {
            None
        }
    });
    match configured {
        Some(id) => {
            let Some(id) = u64::try_from(id).ok().filter(|&id| id > 0) else {
                r.error(PATH, format!("{id} is not a user id"));
                return None;
            };
            match from_token {
                Some(derived) if derived != id => {
                    // The user id is public (it is in every order); the rest of the token
                    // is not and is never printed.
                    r.error(
                        PATH,
                        format!(
                            "collector_id {id} does not match the user id {derived} at the \
                             end of the access token"
                        ),
                    );
                    None
                }
                _ => Some(id),
            }
        }
        None => match (token, from_token) {
            (_, Some(derived)) => Some(derived),
            (Some(Some(_)), None) => {
                r.error(
                    PATH,
                    "not set, and the access token does not end in a numeric user id \
                     (…-<digits>); set collector_id",
                );
                None
            }
            (Some(None), None) => {
                r.error(PATH, "missing: required when no access token is configured");
                None
            }
            // The token failed to load and that is reported; a second error would mislead.
            (None, None) => None,
        },
    }
}

/// Reads a secret file named in the configuration (relative to the config directory).
fn file_secret(r: &mut Report, file: &str, ctx: &Context<'_>, path: &str) -> Option<Secret> {
    if file.trim().is_empty() {
        r.error(path, "must not be empty");
        return None;
    }
    let resolved = resolve(ctx.base_dir, file);
    match secret::read_file(&resolved) {
        Ok(s) => {
            if s.world_readable {
                r.warn(
                    path,
                    format!(
                        "{} is readable by every user; restrict it (chmod 600) or use \
                         systemd LoadCredential=",
                        resolved.display()
                    ),
                );
            }
            Some(s.secret)
        }
        Err(why) => {
            r.error(path, why);
            None
        }
    }
}

/// Webhook secrets from `webhook_secret_file`, `webhook_secret_env`,
/// `webhook_secret_files` and `webhook_secret_envs`, in that order; at most two.
fn webhook_secrets(r: &mut Report, m: &RawMercadoPago, ctx: &Context<'_>) -> Option<Vec<Secret>> {
    let mut files: Vec<(String, &str)> = Vec::new();
    let mut envs: Vec<(String, &str)> = Vec::new();
    if let Some(f) = &m.webhook_secret_file {
        files.push(("mercadopago.webhook_secret_file".into(), f));
    }
    if let Some(e) = &m.webhook_secret_env {
        envs.push(("mercadopago.webhook_secret_env".into(), e));
    }
    for (i, f) in m.webhook_secret_files.iter().flatten().enumerate() {
        files.push((format!("mercadopago.webhook_secret_files[{i}]"), f));
    }
    for (i, e) in m.webhook_secret_envs.iter().flatten().enumerate() {
        envs.push((format!("mercadopago.webhook_secret_envs[{i}]"), e));
    }
    let count = files.len() + envs.len();
    if count > 2 {
        r.error(
            "mercadopago",
            format!(
                "{count} webhook secrets are configured; at most two (the current and, during \
                 a rotation, the previous one) are allowed"
            ),
        );
        return None;
    }
    let mut ok = true;
    let mut secrets = Vec::new();
    for (path, file) in files {
        match file_secret(r, file, ctx, &path) {
            Some(s) => secrets.push(s),
            None => ok = false,
        }
    }
    for (path, var) in envs {
        match secret::read_env(var, ctx.env) {
            Ok(s) => secrets.push(s),
            Err(why) => {
                r.error(path, why);
                ok = false;
            }
        }
    }
    ok.then_some(secrets)
}

fn order_endpoint(r: &mut Report, o: RawOrderEndpoint) -> Option<OrderEndpoint> {
    let path = o.path.unwrap_or_else(|| "/pay-mp".to_owned());
    let path = if !path.starts_with('/')
        || path.contains(['?', '#'])
        || path.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        r.error(
            "order_endpoint.path",
            format!("must start with \"/\" and hold no query, fragment or spaces, got {path:?}"),
        );
        None
    } else if path == NOTIFICATIONS_PATH {
        r.error(
            "order_endpoint.path",
            format!("{NOTIFICATIONS_PATH} is where notifications are received"),
        );
        None
    } else {
        Some(path)
    };
    let token = match o.token {
        None => Some(None),
        Some(t)
            if t.len() >= MIN_TOKEN_LEN
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
        {
            Some(Some(Secret::new(t)))
        }
        // The token is a secret: describe the rule, never echo the value.
        Some(_) => {
            r.error(
                "order_endpoint.token",
                format!(
                    "must be at least {MIN_TOKEN_LEN} characters of letters, digits, '-', '.', \
                     '_' or '~' (e.g. from `openssl rand -hex 16`)"
                ),
            );
            None
        }
    };
    let names = o
        .allowed_methods
        .unwrap_or_else(|| vec!["GET".to_owned(), "HEAD".to_owned()]);
    let mut methods = Vec::new();
    let mut methods_ok = true;
    for (i, name) in names.iter().enumerate() {
        let path = format!("order_endpoint.allowed_methods[{i}]");
        let method = match name.as_str() {
            "GET" => hyper::Method::GET,
            "HEAD" => hyper::Method::HEAD,
            "POST" => hyper::Method::POST,
            other => {
                r.error(
                    path,
                    format!(
                        "unsupported method {other:?} (expected \"GET\", \"HEAD\" or \"POST\")"
                    ),
                );
                methods_ok = false;
                continue;
            }
        };
        if methods.contains(&method) {
            r.error(path, format!("{name} is listed twice"));
            methods_ok = false;
        } else {
            methods.push(method);
        }
    }
    if names.is_empty() {
        r.error(
            "order_endpoint.allowed_methods",
            "must list at least one method",
        );
        methods_ok = false;
    } else if methods_ok && !methods.contains(&hyper::Method::GET) {
        r.warn(
            "order_endpoint.allowed_methods",
            "GET is not allowed, but the Mercado Pago app calls the order URL with GET",
        );
    }
    Some(OrderEndpoint {
        path: path?,
        token: token?,
        allowed_methods: methods_ok.then_some(methods)?,
    })
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
    if !admin.ip().is_loopback() {
        r.warn(
            "listen.admin",
            format!(
                "{admin} is not a loopback address; the admin API must never be reachable \
                 from outside the station"
            ),
        );
    }
    Some(Listen { public, admin })
}

fn database(r: &mut Report, d: RawDatabase, ctx: &Context<'_>) -> Option<Database> {
    let path = d
        .path
        .unwrap_or_else(|| "/var/lib/forecourtd/journal.db".to_owned());
    if path.trim().is_empty() {
        r.error("database.path", "must not be empty");
        return None;
    }
    Some(Database {
        path: resolve(ctx.base_dir, &path),
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
fn resolve(base_dir: &Path, path: &str) -> PathBuf {
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
