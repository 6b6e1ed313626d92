//! The gate for unverified notifications ("hints"): a token bucket per source and one
//! for all sources, and the client address behind a trusted reverse proxy.
//!
//! Owns the rates. A source is an IPv4 address or an IPv6 /64 (one host's share of a
//! network). A flood from one source empties only its own bucket, which is smaller than
//! the global one, so another source (Mercado Pago's own servers) still gets through;
//! the global bucket bounds the Mercado Pago reads hints can cause in a minute, whatever
//! the number of sources. Time is passed in.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use hyper::header::HeaderMap;

/// A token bucket.
#[derive(Debug, Clone)]
pub struct HintLimiter {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl HintLimiter {
    /// `burst` at once, `per_second` sustained.
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self {
            capacity: f64::from(burst),
            per_second,
            tokens: f64::from(burst),
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.capacity);
        }
        self.last = Some(now);
    }

    /// True when a token is there at `now` (without taking it).
    fn has(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Takes one token at `now`; false when the bucket is empty.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.has(now) {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Rates of the gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HintRates {
    /// Hints one source may send at once.
    pub source_burst: u32,
    /// Hints per second one source may send sustained.
    pub source_per_second: f64,
    /// Hints all sources together may send at once.
    pub global_burst: u32,
    /// Hints per second all sources together may send sustained (the bound on API reads
    /// that hints cause).
    pub global_per_second: f64,
}

impl Default for HintRates {
    fn default() -> Self {
        Self {
            source_burst: 30,
            source_per_second: 1.0,
            global_burst: 60,
            global_per_second: 2.0,
        }
    }
}

/// Sources remembered at most; past that the memory starts over (the global bucket still
/// holds).
const SOURCES: usize = 4096;

/// Per-source and global buckets.
#[derive(Debug)]
pub struct HintGate {
    rates: HintRates,
    global: HintLimiter,
    sources: HashMap<IpAddr, HintLimiter>,
}

impl HintGate {
    /// A gate with `rates`.
    pub fn new(rates: HintRates) -> Self {
        Self {
            rates,
            global: HintLimiter::new(rates.global_burst, rates.global_per_second),
            sources: HashMap::new(),
        }
    }

    /// Takes a token for `source` at `now`: its own bucket and the global one must both
    /// have one; a refused hint takes nothing from the global bucket.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        let key = source_key(source);
        if self.sources.len() >= SOURCES && !self.sources.contains_key(&key) {
            self.sources.clear();
        }
        let rates = self.rates;
        let bucket = self
            .sources
            .entry(key)
            .or_insert_with(|| HintLimiter::new(rates.source_burst, rates.source_per_second));
        if !bucket.has(now) || !self.global.allow(now) {
            return false;
        }
        bucket.allow(now)
    }
}

/// IPv4 as is; IPv6 cut to its /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The client's address: the peer, or, when the peer is a trusted reverse proxy, the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further
/// left were written by the client and prove nothing).
pub fn client_address(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.ip();
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .filter_map(|entry| entry.parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn a_flooding_source_leaves_room_for_another() {
        let mut gate = HintGate::new(HintRates::default());
        let now = Instant::now();
        let flooder = ip("203.0.113.7");
        let accepted = (0..1000).filter(|_| gate.allow(flooder, now)).count();
        assert_eq!(accepted, 30);
        assert!(
            gate.allow(ip("198.51.100.9"), now),
            "another source still passes"
        );
        // Sustained: one a second for the flooder.
        assert!(gate.allow(flooder, now + Duration::from_secs(1)));
        assert!(!gate.allow(flooder, now + Duration::from_secs(1)));
    }

    #[test]
    fn the_global_bucket_bounds_many_sources() {
        let mut gate = HintGate::new(HintRates::default());
        let now = Instant::now();
        let accepted = (0..200u8)
            .filter(|i| gate.allow(ip(&format!("10.0.{i}.1")), now))
            .count();
        assert_eq!(accepted, 60);
    }

    #[test]
    fn ipv6_hosts_share_their_64() {
        let mut gate = HintGate::new(HintRates::default());
        let now = Instant::now();
        let accepted = (0..100u16)
            .filter(|i| gate.allow(ip(&format!("2001:db8:1:2::{i:x}")), now))
            .count();
        assert_eq!(accepted, 30);
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.7".parse().expect("header"),
        );
        let proxy: SocketAddr = "127.0.0.1:5000".parse().expect("address");
        let trusted = [ip("127.0.0.1")];
        assert_eq!(client_address(proxy, &headers, &trusted), ip("203.0.113.7"));
        assert_eq!(client_address(proxy, &headers, &[]), ip("127.0.0.1"));
        let stranger: SocketAddr = "192.0.2.1:5000".parse().expect("address");
        assert_eq!(
            client_address(stranger, &headers, &trusted),
            ip("192.0.2.1")
        );
    }
}
