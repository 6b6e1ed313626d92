//! Helpers shared by the Gilbarco test binaries: hex vectors and chunk patterns.

#![allow(dead_code)]

/// Bytes from hex pairs; whitespace and `|` only group them.
pub fn hex(text: &str) -> Vec<u8> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect();
    assert!(digits.len() % 2 == 0, "odd hex digits in {text:?}");
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits in test vector"))
        .collect()
}

/// Every way the line may cut `wire`: whole, byte by byte, at every offset, uneven.
pub fn splits(wire: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut out = vec![
        vec![wire.to_vec()],
        wire.chunks(1).map(<[u8]>::to_vec).collect(),
    ];
    for at in 1..wire.len() {
        let (a, b) = wire.split_at(at);
        out.push(vec![a.to_vec(), b.to_vec()]);
    }
    let mut uneven = Vec::new();
    let mut rest = wire;
    for size in [1, 2, 3, 5, 7, 11].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(size.min(rest.len()));
        uneven.push(a.to_vec());
        rest = b;
    }
    out.push(uneven);
    out
}

#[path = "../support/bus.rs"]
pub mod bus;
pub mod drive;
pub mod line;
