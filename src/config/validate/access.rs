//! Validation of `[admin]`, `[shifts]` and of the public listener's trusted proxies.
//!
//! Owns the rules that keep the admin listener off untrusted networks without TLS: a
//! listener that is not on loopback and has no certificate is warned about.

use std::net::IpAddr;

use super::{resolve, Context, Report};
use crate::access::Role;
use crate::config::admin::{Admin, AdminTls, MetricsSetting, Shifts};
use crate::config::raw::{RawAdmin, RawShifts};
use crate::config::Listen;

/// `[shifts]`.
pub(super) fn shifts(r: &mut Report, s: RawShifts) -> Option<Shifts> {
    let mut shifts = Shifts::default();
    if let Some(text) = s.open_close {
        match Role::parse(&text) {
            Some(role) => shifts.open_close = role,
            None => {
                r.error(
                    "shifts.open_close",
                    format!("must be \"attendant\" or \"manager\", got {text:?}"),
                );
                return None;
            }
        }
    }
    Some(shifts)
}

/// `[admin]`.
pub(super) fn admin(r: &mut Report, a: RawAdmin, ctx: &Context<'_>) -> Option<Admin> {
    let mut allowed_hosts = Vec::new();
    for (i, host) in a.allowed_hosts.unwrap_or_default().into_iter().enumerate() {
        let name = host.to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if valid {
            allowed_hosts.push(name);
        } else {
            r.error(
                format!("admin.allowed_hosts[{i}]"),
                format!("{host:?} is not a host name (no port, no scheme)"),
            );
        }
    }
    let tls = match (a.tls_cert_file, a.tls_key_file) {
        (Some(cert), Some(key)) => Some(AdminTls {
            cert_file: resolve(ctx.base_dir, &cert),
            key_file: resolve(ctx.base_dir, &key),
        }),
        (None, None) => None,
        (Some(_), None) => {
            r.error(
                "admin.tls_key_file",
                "tls_cert_file is set; the key is needed too",
            );
            None
        }
        (None, Some(_)) => {
            r.error(
                "admin.tls_cert_file",
                "tls_key_file is set; the certificate is needed too",
            );
            None
        }
    };
    let idle = r.int(
        a.session_idle_minutes,
        30,
        1..=24 * 60,
        "admin.session_idle_minutes",
    );
    let absolute = r.int(
        a.session_max_hours,
        12,
        1..=7 * 24,
        "admin.session_max_hours",
    );
    let metrics = match a.metrics.as_deref() {
        None | Some("loopback") => Some(MetricsSetting::Loopback),
        Some("identity") => Some(MetricsSetting::Identity),
        Some(other) => {
            r.error(
                "admin.metrics",
                format!("{other:?} is not \"loopback\" or \"identity\""),
            );
            None
        }
    };
    let seconds = |v: i64, unit: u64| u64::try_from(v).unwrap_or(1) * unit;
    Some(Admin {
        allowed_hosts,
        tls,
        session_idle: std::time::Duration::from_secs(seconds(idle?, 60)),
        session_absolute: std::time::Duration::from_secs(seconds(absolute?, 3600)),
        metrics: metrics?,
        cli_token_file: a.cli_token_file.map(|p| resolve(ctx.base_dir, &p)),
    })
}

/// Warns about an admin listener reachable from a network without TLS.
pub(super) fn listener_warnings(r: &mut Report, admin: &Admin, listen: &Listen) {
    if !listen.admin.ip().is_loopback() && admin.tls.is_none() {
        r.warn(
            "listen.admin",
            format!(
                "{} is not a loopback address and [admin] has no TLS certificate: PINs, \
                 passwords and session cookies cross the network in clear text (acceptable \
                 only on an isolated station LAN; see README \"Access\")",
                listen.admin
            ),
        );
    }
}

/// `listen.public_trusted_proxies`: IP addresses.
pub(super) fn trusted_proxies(r: &mut Report, raw: Option<Vec<String>>) -> Option<Vec<IpAddr>> {
    let mut out = Vec::new();
    let mut ok = true;
    for (i, text) in raw.unwrap_or_default().into_iter().enumerate() {
        match text.parse::<IpAddr>() {
            Ok(ip) => out.push(ip),
            Err(_) => {
                ok = false;
                r.error(
                    format!("listen.public_trusted_proxies[{i}]"),
                    format!("{text:?} is not an IP address"),
                );
            }
        }
    }
    ok.then_some(out)
}
