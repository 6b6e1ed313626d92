//! The data a pump sends (docs/protocols/gilbarco.md §4): the transaction block (§4.1), the
//! totals block (§4.2) and the bare real-time money words (§4.3), in 6- and 8-digit mode.
//!
//! Owns their exact layouts, encoding and decoding; a decode checks every tag, digit word
//! and the LRC and refuses anything else. It never decides what to ask or when.

use super::words::{
    decode_digits, encode_digits, lrc, lrc_ok, word, ETX, GRADE_NEXT, LEVEL_1, LEVEL_2, LRC_NEXT,
    MONEY_NEXT, PPU_NEXT, PRESET_OR_ID_NEXT, STX, VOLUME_NEXT,
};
use super::{BlockError, DigitMode, PriceLevel};

/// Words of the pump identifier in a transaction block (§4.1 offsets 3–7).
pub const PUMP_IDENT_WORDS: usize = 5;

/// A transaction block (§4.1), the answer to command 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransactionData {
    /// The word at offset 1: `F1` in the only real dump; meaning UNCERTAIN, so any DCW
    /// but STX and ETX (which would cut the block) is accepted and kept (§4.1, "where the
    /// sources disagree" 1).
    pub kind_word: u8,
    /// The five words after `F8` (offsets 3–7), kept as sent: `EB E1 E0 E0 E2` for pump 1;
    /// only offset 4 (the pump's units digit) is understood.
    pub pump_ident: [u8; PUMP_IDENT_WORDS],
    /// Grade index, 0-based (`E0` = grade 1).
    pub grade: u8,
    /// The price level the sale used.
    pub level: PriceLevel,
    /// Unit price, raw (4 digits, 6 in 8-digit mode).
    pub ppu: u64,
    /// Volume, raw (6 digits, 8 in 8-digit mode).
    pub volume: u64,
    /// Money, raw (6 digits, 8 in 8-digit mode).
    pub money: u64,
}

/// The transaction block's observed offset-1 word.
pub const TRANSACTION_KIND: u8 = 0xF1;

/// The pump identifier words a simulated pump sends: the observed `EB`, units and tens of
/// the pump number (tens never observed), and the observed `E0 E2`.
pub fn pump_ident_for(pump_number: u8) -> [u8; PUMP_IDENT_WORDS] {
    [
        0xEB,
        word(pump_number % 10),
        word(pump_number / 10 % 10),
        0xE0,
        0xE2,
    ]
}

/// Appends `tag` and `value` as `digits` words; `field` names it in the error.
fn put(
    out: &mut Vec<u8>,
    tag: u8,
    value: u64,
    digits: usize,
    field: &'static str,
) -> Result<(), BlockError> {
    out.push(tag);
    let words = encode_digits(value, digits).ok_or(BlockError::TooLarge { field, value })?;
    out.extend_from_slice(&words);
    Ok(())
}

/// Closes a block: `FB <LRC> F0`.
pub(crate) fn seal(mut out: Vec<u8>) -> Vec<u8> {
    out.push(LRC_NEXT);
    out.push(lrc(&out));
    out.push(ETX);
    out
}

/// Reads through a block body, checking tags and words.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    pub(crate) fn byte(&mut self) -> Result<u8, BlockError> {
        let b = self.peek().ok_or(BlockError::Truncated)?;
        self.at += 1;
        Ok(b)
    }

    pub(crate) fn tag(&mut self, tag: u8) -> Result<(), BlockError> {
        let at = self.at;
        match self.byte()? {
            b if b == tag => Ok(()),
            found => Err(BlockError::Unexpected { offset: at, found }),
        }
    }

    /// `count` decimal words.
    pub(crate) fn number(&mut self, count: usize) -> Result<u64, BlockError> {
        let at = self.at;
        let words = self
            .bytes
            .get(at..at + count)
            .ok_or(BlockError::Truncated)?;
        self.at += count;
        decode_digits(words).ok_or(BlockError::BadDigit { offset: at })
    }

    /// Decimal words up to the next non-word byte.
    pub(crate) fn words(&mut self) -> Result<(u64, usize), BlockError> {
        let start = self.at;
        while self.peek().is_some_and(super::words::is_word) {
            self.at += 1;
        }
        let count = self.at - start;
        let value = decode_digits(&self.bytes[start..self.at])
            .ok_or(BlockError::BadDigit { offset: start })?;
        Ok((value, count))
    }
}

/// Checks STX, `FB <LRC> F0` and the LRC, and returns the bytes between STX and `FB`.
pub(crate) fn body(block: &[u8]) -> Result<&[u8], BlockError> {
    let n = block.len();
    if n < 4 || block[0] != STX || block[n - 1] != ETX || block[n - 3] != LRC_NEXT {
        return Err(BlockError::Framing);
    }
    if !lrc_ok(block) {
        return Err(BlockError::BadLrc {
            found: block[n - 2],
            expected: lrc(&block[..n - 2]),
        });
    }
    Ok(&block[1..n - 3])
}

/// The transaction block for `data` (§4.1): 33 bytes in 6-digit mode, 39 in 8-digit mode.
pub fn encode_transaction(data: &TransactionData, mode: DigitMode) -> Result<Vec<u8>, BlockError> {
    if !is_kind_word(data.kind_word) {
        return Err(BlockError::Unexpected {
            offset: 0,
            found: data.kind_word,
        });
    }
    if data.grade > 9 {
        return Err(BlockError::TooLarge {
            field: "grade",
            value: data.grade.into(),
        });
    }
    let mut out = vec![STX, data.kind_word, PRESET_OR_ID_NEXT];
    out.extend_from_slice(&data.pump_ident);
    out.extend_from_slice(&[GRADE_NEXT, word(data.grade), data.level.word()]);
    put(&mut out, PPU_NEXT, data.ppu, mode.price_digits(), "ppu")?;
    put(
        &mut out,
        VOLUME_NEXT,
        data.volume,
        mode.sale_digits(),
        "volume",
    )?;
    put(
        &mut out,
        MONEY_NEXT,
        data.money,
        mode.sale_digits(),
        "money",
    )?;
    Ok(seal(out))
}

fn is_kind_word(byte: u8) -> bool {
    (0xF1..=0xFE).contains(&byte)
}

/// The length of a transaction block in `mode` (§4.1).
pub fn transaction_len(mode: DigitMode) -> usize {
    16 + mode.price_digits() + 2 * mode.sale_digits() + 1
}

/// Decodes a transaction block (§4.1), refusing any other length, tag or digit.
pub fn decode_transaction(block: &[u8], mode: DigitMode) -> Result<TransactionData, BlockError> {
    if block.len() != transaction_len(mode) {
        return Err(BlockError::Length { found: block.len() });
    }
    let mut c = Cursor::new(body(block)?);
    let kind_word = c.byte()?;
    if !is_kind_word(kind_word) {
        return Err(BlockError::Unexpected {
            offset: 0,
            found: kind_word,
        });
    }
    c.tag(PRESET_OR_ID_NEXT)?;
    let mut pump_ident = [0; PUMP_IDENT_WORDS];
    for w in &mut pump_ident {
        *w = c.byte()?;
        if !super::words::is_word(*w) {
            return Err(BlockError::BadDigit { offset: 0 });
        }
    }
    c.tag(GRADE_NEXT)?;
    let grade = u8::try_from(c.number(1)?).unwrap_or(u8::MAX);
    let level = PriceLevel::from_word(c.byte()?).ok_or(BlockError::Framing)?;
    c.tag(PPU_NEXT)?;
    let ppu = c.number(mode.price_digits())?;
    c.tag(VOLUME_NEXT)?;
    let volume = c.number(mode.sale_digits())?;
    c.tag(MONEY_NEXT)?;
    let money = c.number(mode.sale_digits())?;
    Ok(TransactionData {
        kind_word,
        pump_ident,
        grade,
        level,
        ppu,
        volume,
        money,
    })
}

/// The totals of one grade (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GradeTotals {
    /// Grade index, 0-based.
    pub grade: u8,
    /// Volume total, raw (8 digits, 12 in 8-digit mode).
    pub volume: u64,
    /// Money total, raw (8 digits, 12 in 8-digit mode).
    pub money: u64,
    /// Unit price at level 1, raw (4 digits, 6 in 8-digit mode).
    pub ppu_level1: u64,
    /// Unit price at level 2, raw.
    pub ppu_level2: u64,
}

/// The bytes of one grade group in `mode`: 30, or 42 in 8-digit mode (§4.2).
pub fn totals_group_len(mode: DigitMode) -> usize {
    2 + 2 * (1 + mode.total_digits()) + 2 * (1 + mode.price_digits())
}

/// The totals block for `grades` (§4.2): `FF`, one group per grade, `FB <LRC> F0`.
pub fn encode_totals(grades: &[GradeTotals], mode: DigitMode) -> Result<Vec<u8>, BlockError> {
    let mut out = vec![STX];
    for g in grades {
        if g.grade > 9 {
            return Err(BlockError::TooLarge {
                field: "grade",
                value: g.grade.into(),
            });
        }
        out.extend_from_slice(&[GRADE_NEXT, word(g.grade)]);
        put(
            &mut out,
            VOLUME_NEXT,
            g.volume,
            mode.total_digits(),
            "volume total",
        )?;
        put(
            &mut out,
            MONEY_NEXT,
            g.money,
            mode.total_digits(),
            "money total",
        )?;
        put(
            &mut out,
            LEVEL_1,
            g.ppu_level1,
            mode.price_digits(),
            "ppu level 1",
        )?;
        put(
            &mut out,
            LEVEL_2,
            g.ppu_level2,
            mode.price_digits(),
            "ppu level 2",
        )?;
    }
    Ok(seal(out))
}

/// Decodes a totals block (§4.2); the length must be `group × g + 4` with g ≥ 1.
pub fn decode_totals(block: &[u8], mode: DigitMode) -> Result<Vec<GradeTotals>, BlockError> {
    let group = totals_group_len(mode);
    let n = block.len();
    if n < group + 4 || (n - 4) % group != 0 {
        return Err(BlockError::Length { found: n });
    }
    let mut c = Cursor::new(body(block)?);
    let mut grades = Vec::with_capacity((n - 4) / group);
    while !c.at_end() {
        c.tag(GRADE_NEXT)?;
        let grade = u8::try_from(c.number(1)?).unwrap_or(u8::MAX);
        c.tag(VOLUME_NEXT)?;
        let volume = c.number(mode.total_digits())?;
        c.tag(MONEY_NEXT)?;
        let money = c.number(mode.total_digits())?;
        c.tag(LEVEL_1)?;
        let ppu_level1 = c.number(mode.price_digits())?;
        c.tag(LEVEL_2)?;
        let ppu_level2 = c.number(mode.price_digits())?;
        grades.push(GradeTotals {
            grade,
            volume,
            money,
            ppu_level1,
            ppu_level2,
        });
    }
    Ok(grades)
}

/// The real-time money answer (§4.3): bare words, 6 (or 8), least significant first.
pub fn encode_money(money: u64, mode: DigitMode) -> Result<Vec<u8>, BlockError> {
    encode_digits(money, mode.sale_digits()).ok_or(BlockError::TooLarge {
        field: "money",
        value: money,
    })
}

/// Decodes the real-time money words (§4.3).
pub fn decode_money(words: &[u8], mode: DigitMode) -> Result<u64, BlockError> {
    if words.len() != mode.sale_digits() {
        return Err(BlockError::Length { found: words.len() });
    }
    decode_digits(words).ok_or(BlockError::BadDigit { offset: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_the_notes() {
        assert_eq!(transaction_len(DigitMode::Six), 33);
        assert_eq!(transaction_len(DigitMode::Eight), 39);
        assert_eq!(totals_group_len(DigitMode::Six), 30);
        assert_eq!(totals_group_len(DigitMode::Eight), 42);
    }

    #[test]
    fn values_too_wide_are_refused() {
        let data = TransactionData {
            kind_word: TRANSACTION_KIND,
            pump_ident: pump_ident_for(1),
            grade: 0,
            level: PriceLevel::One,
            ppu: 10_000,
            volume: 0,
            money: 0,
        };
        assert!(matches!(
            encode_transaction(&data, DigitMode::Six),
            Err(BlockError::TooLarge { field: "ppu", .. })
        ));
        assert!(encode_transaction(&data, DigitMode::Eight).is_ok());
    }
}
