//! Validation of `[chain]`.
//!
//! Owns the rules of the uplink settings: a server URL with a NATS scheme, store and
//! stream names that are single subject tokens, files resolved against the config's
//! directory, headquarters' price plan key a public NKey.

use super::mercadopago::file_secret;
use super::{resolve, Context, Report};
use crate::config::chain::{valid_token, Chain, DEFAULT_STREAM};
use crate::config::raw::RawChain;
use crate::secret::Secret;

/// `[chain]`; `None` when disabled or invalid (errors recorded).
pub(super) fn chain(
    r: &mut Report,
    c: RawChain,
    store_id: Option<&str>,
    ctx: &Context<'_>,
) -> Option<Chain> {
    if c.enabled == Some(false) {
        return None;
    }
    let (nkey_seed, user_password) = auth(r, &c, ctx)?;
    let url = r.required(c.nats_url, "chain.nats_url")?;
    let url = url.trim().to_owned();
    let scheme_ok = ["nats://", "tls://"].iter().any(|s| url.starts_with(s));
    if !scheme_ok || url.len() <= "nats://".len() {
        r.error(
            "chain.nats_url",
            format!("{url:?} is not a nats://host:port or tls://host:port URL"),
        );
        return None;
    }
    let store = c.store.or_else(|| store_id.map(str::to_owned))?;
    if !valid_token(&store) {
        r.error(
            "chain.store",
            format!("{store:?} must be 1 to 32 letters, digits, '-' or '_'"),
        );
        return None;
    }
    let stream = c.stream.unwrap_or_else(|| DEFAULT_STREAM.to_owned());
    if !valid_token(&stream) {
        r.error(
            "chain.stream",
            format!("{stream:?} must be 1 to 32 letters, digits, '-' or '_'"),
        );
        return None;
    }
    let (hq_public_key, groups) = price_plans(r, c.hq_public_key, c.groups.unwrap_or_default())?;
    let backlog_alert_after = r.secs(
        c.backlog_alert_after_secs,
        i64::try_from(crate::config::DEFAULT_BACKLOG_ALERT_AFTER.as_secs()).unwrap_or(900),
        60..=7 * 24 * 3600,
        "chain.backlog_alert_after_secs",
    )?;
    Some(Chain {
        backlog_alert_after,
        nkey_seed,
        user_password,
        tls_required: c.tls_required.unwrap_or(false) || url.starts_with("tls://"),
        nats_url: url,
        store,
        stream,
        credentials_file: c.credentials_file.map(|f| resolve(ctx.base_dir, &f)),
        tls_ca_file: c.tls_ca_file.map(|f| resolve(ctx.base_dir, &f)),
        hq_public_key,
        groups,
    })
}

/// `hq_public_key` (a public NKey) and `groups` (subject tokens) of central price plans.
fn price_plans(
    r: &mut Report,
    key: Option<String>,
    groups: Vec<String>,
) -> Option<(Option<String>, Vec<String>)> {
    let key = key.map(|k| k.trim().to_owned());
    if let Some(k) = &key {
        if let Err(e) = nkeys::KeyPair::from_public_key(k) {
            r.error(
                "chain.hq_public_key",
                format!("{k:?} is not a public NKey: {e}"),
            );
            return None;
        }
    }
    if let Some(bad) = groups.iter().find(|g| !valid_token(g)) {
        r.error(
            "chain.groups",
            format!("{bad:?} must be 1 to 32 letters, digits, '-' or '_'"),
        );
        return None;
    }
    Some((key, groups))
}

/// NKey seed and user/password, read now like every secret; at most one way of
/// authenticating (credentials file, NKey seed, user and password).
#[allow(clippy::type_complexity)]
fn auth(
    r: &mut Report,
    c: &RawChain,
    ctx: &Context<'_>,
) -> Option<(Option<Secret>, Option<(String, Secret)>)> {
    let ways = [
        c.credentials_file.is_some(),
        c.nkey_seed_file.is_some(),
        c.user.is_some() || c.password_file.is_some(),
    ];
    if ways.iter().filter(|w| **w).count() > 1 {
        r.error(
            "chain",
            "credentials_file, nkey_seed_file and user/password_file are different ways \
             of authenticating; set only one",
        );
        return None;
    }
    let nkey_seed = match &c.nkey_seed_file {
        Some(file) => {
            let seed = file_secret(r, file, ctx, "chain.nkey_seed_file")?;
            if !seed.expose().starts_with("SU") {
                r.error(
                    "chain.nkey_seed_file",
                    "does not hold a user NKey seed (it starts with SU)",
                );
                return None;
            }
            Some(seed)
        }
        None => None,
    };
    let user_password = match (&c.user, &c.password_file) {
        (Some(user), Some(file)) => {
            let user = r.text(user, 128, "chain.user")?;
            Some((user, file_secret(r, file, ctx, "chain.password_file")?))
        }
        (Some(_), None) => {
            r.error("chain.password_file", "missing: required with chain.user");
            return None;
        }
        (None, Some(_)) => {
            r.error("chain.user", "missing: required with chain.password_file");
            return None;
        }
        (None, None) => None,
    };
    Some((nkey_seed, user_password))
}
