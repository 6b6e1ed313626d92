//! Validation of `[mercadopago]` and `[order_endpoint]`: URLs, credentials and the
//! notification policy.
//!
//! This module owns the rules that tie the two together (the POS url built from both) and
//! the loading of the access token and webhook secrets. It never prints a secret: errors
//! name the file or variable a secret comes from, never its content.

use pump_protocols::PositionId;

use super::{resolve, Context, Report};
use crate::config::raw::{RawMercadoPago, RawOrderEndpoint};
use crate::config::secret::{self, Secret};
use crate::config::{MercadoPago, MpMode, OrderEndpoint, Station};

/// A POS `url` must be shorter than this (docs/mercadopago.md §5).
const MAX_POS_URL: usize = 300;
/// The path the notification handler is mounted on; the order endpoint must differ.
const NOTIFICATIONS_PATH: &str = "/mp/notifications";
/// Fewest characters of an order endpoint token, so it cannot be guessed.
const MIN_TOKEN_LEN: usize = 16;

/// Checks that the POS url of every position stays under Mercado Pago's length limit.
pub(super) fn order_urls<'a>(
    r: &mut Report,
    base: &str,
    endpoint: &OrderEndpoint,
    station: &Station,
    positions: impl Iterator<Item = &'a PositionId>,
) {
    let mut urls = positions.map(|p| order_url(base, endpoint, &station.store_id, *p));
    if let Some(url) = urls.find(|u| u.len() >= MAX_POS_URL) {
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

/// The POS `url` of a position (see
/// [`Config::order_url`](crate::config::Config::order_url)).
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

/// Validates `[mercadopago]`, reading the access token and webhook secrets it names.
pub(super) fn mercadopago(
    r: &mut Report,
    m: RawMercadoPago,
    ctx: &Context<'_>,
) -> Option<MercadoPago> {
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
        // A source given with the wrong type is reported already; it is not "no token".
        (None, None)
            if r.was_dropped("mercadopago.access_token_file")
                || r.was_dropped("mercadopago.access_token_env") =>
        {
            Err(())
        }
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

    let pos_store_id = match &m.pos_store_id {
        Some(id) if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) => {
            r.error(
                "mercadopago.pos_store_id",
                "must be Mercado Pago's numeric store id",
            );
            None
        }
        other => Some(other.clone()),
    };
    let pos_external_store_id = match &m.pos_external_store_id {
        Some(id)
            if id.is_empty() || id.len() > 60 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            r.error(
                "mercadopago.pos_external_store_id",
                "must be letters and digits only (at most 60)",
            );
            None
        }
        other => Some(other.clone()),
    };

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
        pos_store_id: pos_store_id?,
        pos_external_store_id: pos_external_store_id?,
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

/// Reads a secret file named in the configuration: `credential:NAME` is the systemd
/// credential NAME (`$CREDENTIALS_DIRECTORY/NAME`, from `LoadCredential=`); any other
/// value is a path, relative to the config directory.
pub(super) fn file_secret(
    r: &mut Report,
    file: &str,
    ctx: &Context<'_>,
    path: &str,
) -> Option<Secret> {
    if file.trim().is_empty() {
        r.error(path, "must not be empty");
        return None;
    }
    let resolved = match file.strip_prefix(secret::CREDENTIAL_PREFIX) {
        Some(name) => match secret::credential_path(name, ctx.env) {
            Ok(p) => p,
            Err(why) => {
                r.error(path, why);
                return None;
            }
        },
        None => resolve(ctx.base_dir, file),
    };
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

/// Validates `[order_endpoint]`.
pub(super) fn order_endpoint(r: &mut Report, o: RawOrderEndpoint) -> Option<OrderEndpoint> {
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
