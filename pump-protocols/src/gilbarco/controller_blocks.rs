//! The data blocks a controller sends after `2p` → `Dp` (docs/protocols/gilbarco.md §5):
//! price change, volume and money presets in their observed forms, and the special
//! function.
//!
//! Owns the layout `FF DL <body> FB LRC F0` with both check characters; a decode checks
//! DL, LRC and every tag and word. It never decides which form to send: the master's
//! settings do.

use super::pump_blocks::{body, seal, Cursor};
use super::words::{
    dl, is_word, word, GRADE_NEXT, MONEY_PRESET, PPU_NEXT, PRESET_OR_ID_NEXT, SPECIAL_NEXT, STX,
    VOLUME_PRESET,
};
use super::{BlockError, PriceLevel};

/// What a preset limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresetKind {
    /// A volume (`F1`).
    Volume,
    /// An amount of money (`F2`).
    Money,
}

/// A preset block (§5): `F1|F2 [F4|F5] [F6 E(g−1)] F8 <digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PresetBlock {
    /// Volume or money.
    pub kind: PresetKind,
    /// The price level, absent in AS's short form.
    pub level: Option<PriceLevel>,
    /// Grade index (0-based) the preset is limited to; absent = any grade.
    pub grade: Option<u8>,
    /// The preset, raw.
    pub value: u64,
    /// How many digit words carry it: 5 in the working implementations, 6 in one form of
    /// the notes, 8 in 8-digit mode (§5; "where the sources disagree" 3).
    pub digits: u8,
}

/// A block from the controller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ControllerBlock {
    /// A unit price for one grade at one level: `F4|F5 F6 E(g−1) F7 <digits>`.
    PriceChange {
        /// The price level.
        level: PriceLevel,
        /// Grade index, 0-based.
        grade: u8,
        /// The price, raw.
        ppu: u64,
        /// Digit words: 4, or 6 in 8-digit mode.
        digits: u8,
    },
    /// A preset.
    Preset(PresetBlock),
    /// A special function: `FE` and its words (AS "get nozzle" is `FE E0 E1 E0`; the
    /// pump's answer is UNCERTAIN).
    Special(Vec<u8>),
}

fn grade_word(grade: u8) -> Result<u8, BlockError> {
    if grade > 9 {
        return Err(BlockError::TooLarge {
            field: "grade",
            value: grade.into(),
        });
    }
    Ok(word(grade))
}

fn digits_of(value: u64, digits: u8, field: &'static str) -> Result<Vec<u8>, BlockError> {
    super::words::encode_digits(value, usize::from(digits))
        .filter(|_| (1..=12).contains(&digits))
        .ok_or(BlockError::TooLarge { field, value })
}

/// The whole block for `block`: STX, DL, body, `FB LRC F0`.
pub fn encode_controller(block: &ControllerBlock) -> Result<Vec<u8>, BlockError> {
    let mut body = Vec::new();
    match block {
        ControllerBlock::PriceChange {
            level,
            grade,
            ppu,
            digits,
        } => {
            body.extend_from_slice(&[level.word(), GRADE_NEXT, grade_word(*grade)?, PPU_NEXT]);
            body.extend(digits_of(*ppu, *digits, "ppu")?);
        }
        ControllerBlock::Preset(p) => {
            body.push(match p.kind {
                PresetKind::Volume => VOLUME_PRESET,
                PresetKind::Money => MONEY_PRESET,
            });
            if let Some(level) = p.level {
                body.push(level.word());
            }
            if let Some(grade) = p.grade {
                body.extend_from_slice(&[GRADE_NEXT, grade_word(grade)?]);
            }
            body.push(PRESET_OR_ID_NEXT);
            body.extend(digits_of(p.value, p.digits, "preset")?);
        }
        ControllerBlock::Special(words) => {
            if !words.iter().all(|&w| is_word(w)) {
                return Err(BlockError::BadDigit { offset: 1 });
            }
            body.push(SPECIAL_NEXT);
            body.extend_from_slice(words);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(STX);
    out.push(dl(body.len() + 1));
    out.extend_from_slice(&body);
    Ok(seal(out))
}

/// Decodes a controller block, checking DL and LRC (§5).
pub fn decode_controller(block: &[u8]) -> Result<ControllerBlock, BlockError> {
    let inner = body(block)?;
    let (&length, rest) = inner.split_first().ok_or(BlockError::Framing)?;
    let expected = dl(rest.len() + 1);
    if length != expected {
        return Err(BlockError::BadDl {
            found: length,
            expected,
        });
    }
    let mut c = Cursor::new(rest);
    let decoded = match c.byte()? {
        SPECIAL_NEXT => {
            let mut words = Vec::new();
            while let Some(w) = c.peek() {
                if !is_word(w) {
                    return Err(BlockError::BadDigit { offset: 0 });
                }
                words.push(c.byte()?);
            }
            ControllerBlock::Special(words)
        }
        kind @ (VOLUME_PRESET | MONEY_PRESET) => {
            let level = c.peek().and_then(PriceLevel::from_word);
            if level.is_some() {
                c.byte()?;
            }
            let grade = if c.peek() == Some(GRADE_NEXT) {
                c.byte()?;
                Some(u8::try_from(c.number(1)?).unwrap_or(u8::MAX))
            } else {
                None
            };
            c.tag(PRESET_OR_ID_NEXT)?;
            let (value, digits) = c.words()?;
            ControllerBlock::Preset(PresetBlock {
                kind: if kind == VOLUME_PRESET {
                    PresetKind::Volume
                } else {
                    PresetKind::Money
                },
                level,
                grade,
                value,
                digits: u8::try_from(digits).unwrap_or(u8::MAX),
            })
        }
        other => {
            let level = PriceLevel::from_word(other).ok_or(BlockError::Unexpected {
                offset: 2,
                found: other,
            })?;
            c.tag(GRADE_NEXT)?;
            let grade = u8::try_from(c.number(1)?).unwrap_or(u8::MAX);
            c.tag(PPU_NEXT)?;
            let (ppu, digits) = c.words()?;
            ControllerBlock::PriceChange {
                level,
                grade,
                ppu,
                digits: u8::try_from(digits).unwrap_or(u8::MAX),
            }
        }
    };
    if !c.at_end() {
        return Err(BlockError::Framing);
    }
    if let ControllerBlock::Preset(PresetBlock { digits: 0, .. })
    | ControllerBlock::PriceChange { digits: 0, .. } = decoded
    {
        return Err(BlockError::Truncated);
    }
    Ok(decoded)
}
