//! Query strings: percent-encoding for the client, parsing for the sandbox.
//!
//! `application/x-www-form-urlencoded` rules (`+` is a space on input), RFC 3986
//! unreserved characters left as they are on output. Owns no I/O.

/// Percent-encodes a query component (anything but `A-Z a-z 0-9 - . _ ~`).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one component; `None` when an escape is broken or the bytes are not UTF-8.
pub fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Splits a query string into decoded pairs; `None` if any component is undecodable.
pub fn parse(query: &str) -> Option<Vec<(String, String)>> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// Encodes pairs as `k=v&k=v`.
pub fn build<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_ref()), encode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

/// Appends encoded pairs to a URL that may already carry a query.
pub fn append<K: AsRef<str>, V: AsRef<str>>(url: &str, pairs: &[(K, V)]) -> String {
    if pairs.is_empty() {
        return url.to_owned();
    }
    let sep = if !url.contains('?') {
        "?"
    } else if url.ends_with('?') || url.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{url}{sep}{}", build(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_is_identity() {
        for s in ["ST29P03T000184", "a b&c=d/é?", "data.id", ""] {
            assert_eq!(decode(&encode(s)).as_deref(), Some(s));
        }
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(decode("a+b%2B").as_deref(), Some("a b+"));
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%zz"), None);
    }

    #[test]
    fn parse_and_append() {
        assert_eq!(
            parse("data.id=12&type=payment&flag").expect("parses"),
            vec![
                ("data.id".to_owned(), "12".to_owned()),
                ("type".to_owned(), "payment".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(
            append(
                "http://h/n?source_news=ipn",
                &[("topic", "payment"), ("id", "7")]
            ),
            "http://h/n?source_news=ipn&topic=payment&id=7"
        );
        assert_eq!(append("http://h/n", &[("id", "7")]), "http://h/n?id=7");
    }
}
