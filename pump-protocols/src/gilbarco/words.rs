//! Data words, data control words and the two check characters of Gilbarco data blocks
//! (docs/protocols/gilbarco.md §4, §5).
//!
//! Owns the digit encoding (`0xE0 | digit`, least significant digit first), the DCW byte
//! values and the DL/LRC arithmetic. It knows nothing of block layouts or of who sends
//! them.

/// STX: the first byte of every data block (§4).
pub const STX: u8 = 0xFF;
/// ETX: the last byte of every data block (§4).
pub const ETX: u8 = 0xF0;
/// "LRC next": the check character follows (§4).
pub const LRC_NEXT: u8 = 0xFB;
/// Volume-preset type in controller blocks; observed constant at offset 1 of a pump's
/// transaction block (§4, meaning UNCERTAIN there).
pub const VOLUME_PRESET: u8 = 0xF1;
/// Money-preset type in controller blocks (§4).
pub const MONEY_PRESET: u8 = 0xF2;
/// Price level 1 (cash); PPU level 1 in totals (§4).
pub const LEVEL_1: u8 = 0xF4;
/// Price level 2 (credit); PPU level 2 in totals (§4).
pub const LEVEL_2: u8 = 0xF5;
/// Grade next: one word `E0 | (grade − 1)` follows (§4).
pub const GRADE_NEXT: u8 = 0xF6;
/// PPU (unit price) next (§4).
pub const PPU_NEXT: u8 = 0xF7;
/// Preset amount next (controller blocks); pump identifier next (transaction block) (§4).
pub const PRESET_OR_ID_NEXT: u8 = 0xF8;
/// Volume next (§4).
pub const VOLUME_NEXT: u8 = 0xF9;
/// Money next (§4).
pub const MONEY_NEXT: u8 = 0xFA;
/// Special function next (§4, §5 "get nozzle").
pub const SPECIAL_NEXT: u8 = 0xFE;

/// The data word carrying `digit` (0..=9): `0xE0 | digit`.
pub fn word(digit: u8) -> u8 {
    0xE0 | (digit & 0x0F)
}

/// True for a data word (`0xE0..=0xEF`); DL and LRC words use the whole low nibble.
pub fn is_word(byte: u8) -> bool {
    byte & 0xF0 == 0xE0
}

/// The decimal digit a data word carries, if it is one (`E0..=E9`).
pub fn digit(byte: u8) -> Option<u8> {
    (is_word(byte) && byte & 0x0F <= 9).then_some(byte & 0x0F)
}

/// `value` as `count` data words, least significant digit first; `None` when it does not
/// fit that many digits.
pub fn encode_digits(value: u64, count: usize) -> Option<Vec<u8>> {
    let mut rest = value;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(word((rest % 10) as u8));
        rest /= 10;
    }
    (rest == 0).then_some(out)
}

/// The number carried by data words, least significant digit first; `None` when a byte
/// is not a decimal data word (or there are more than 19 of them).
pub fn decode_digits(words: &[u8]) -> Option<u64> {
    if words.len() > 19 {
        return None;
    }
    words
        .iter()
        .rev()
        .try_fold(0u64, |acc, &w| Some(acc * 10 + u64::from(digit(w)?)))
}

/// The LRC word for the bytes from STX through `FB` inclusive (§5): `E0 | (−S mod 16)`,
/// S the sum of their low nibbles. The same rule holds in both directions.
pub fn lrc(through_fb: &[u8]) -> u8 {
    let sum: u32 = through_fb.iter().map(|b| u32::from(b & 0x0F)).sum();
    word(((16 - sum % 16) % 16) as u8)
}

/// The DL (length) word of a controller block (§5): `E0 | (−(n + 2) mod 16)`, n the bytes
/// from the first body byte through `FB` inclusive.
pub fn dl(n: usize) -> u8 {
    word(((16 - (n + 2) % 16) % 16) as u8)
}

/// True when `block` (STX through ETX) ends `FB <LRC> F0` with the right LRC.
pub fn lrc_ok(block: &[u8]) -> bool {
    let n = block.len();
    n >= 4
        && block[0] == STX
        && block[n - 1] == ETX
        && block[n - 3] == LRC_NEXT
        && is_word(block[n - 2])
        && lrc(&block[..n - 2]) == block[n - 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_travel_least_significant_first() {
        assert_eq!(encode_digits(1440, 4), Some(vec![0xE0, 0xE4, 0xE4, 0xE1]));
        assert_eq!(encode_digits(10_000, 4), None);
        assert_eq!(decode_digits(&[0xE0, 0xE7, 0xE0, 0xE1]), Some(1070));
        assert_eq!(decode_digits(&[0xEA]), None);
        assert_eq!(decode_digits(&[0xF0]), None);
        assert_eq!(decode_digits(&[]), Some(0));
    }

    #[test]
    fn check_words_of_the_special_function_block() {
        // docs/protocols/gilbarco.md A: FF E9 FE E0 E1 E0 FB EE F0, hard-coded in AS.
        let block = [0xFF, 0xE9, 0xFE, 0xE0, 0xE1, 0xE0, 0xFB, 0xEE, 0xF0];
        assert_eq!(dl(5), 0xE9);
        assert_eq!(lrc(&block[..7]), 0xEE);
        assert!(lrc_ok(&block));
        let mut bad = block;
        bad[3] = 0xE1;
        assert!(!lrc_ok(&bad));
    }
}
