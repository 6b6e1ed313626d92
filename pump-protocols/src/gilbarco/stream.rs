//! The push-byte decoder of a Gilbarco loop, used by both ends (docs/protocols/gilbarco.md §4,
//! §5).
//!
//! Owns the split of a byte stream into data blocks (`FF … FB <LRC> F0`, check character
//! verified) and the single bytes between them: commands, status replies, echoes and
//! real-time money words, which only the side that knows what it asked can tell apart.
//! It never interprets a block's body and never reads a clock.
//!
//! Resynchronisation: a block is dropped (as [`Item::Discarded`]) when its LRC is wrong,
//! when a new STX arrives inside it, or when it reaches [`MAX_BLOCK_LEN`] bytes without
//! its ETX; decoding goes on with the next byte.

use std::collections::VecDeque;

use super::words::{lrc_ok, ETX, STX};

/// The longest data block accepted, STX to ETX. The longest one the notes describe is an
/// 8-digit totals block for ten grades (the grade word carries one digit): 42 × 10 + 4 =
/// 424 bytes (§4.2); anything past 512 cannot be valid.
pub const MAX_BLOCK_LEN: usize = 512;

/// Why bytes were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscardReason {
    /// The block ended with a wrong LRC or without `FB <LRC>` before its ETX.
    BadCheck,
    /// A new STX arrived before the ETX.
    Restarted,
    /// No ETX within [`MAX_BLOCK_LEN`] bytes.
    TooLong,
}

/// One thing found in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    /// A byte outside any block: a command, a status reply, an echo or a money word.
    Byte(u8),
    /// A whole data block, STX through ETX, whose LRC checks.
    Block(Vec<u8>),
    /// Bytes dropped while resynchronising.
    Discarded {
        /// The bytes.
        bytes: Vec<u8>,
        /// Why.
        reason: DiscardReason,
    },
}

/// A push-byte decoder: feed bytes as they arrive in any chunks, take items out.
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    /// The block being collected, from its STX; empty outside a block.
    block: Vec<u8>,
    items: VecDeque<Item>,
}

impl StreamDecoder {
    /// A decoder outside any block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes read from the line.
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.push_byte(byte);
        }
    }

    /// Feeds one byte.
    pub fn push_byte(&mut self, byte: u8) {
        if self.block.is_empty() {
            if byte == STX {
                self.block.push(byte);
            } else {
                self.items.push_back(Item::Byte(byte));
            }
            return;
        }
        if byte == STX {
            self.discard(DiscardReason::Restarted);
            self.block.push(byte);
            return;
        }
        self.block.push(byte);
        if byte == ETX {
            let block = std::mem::take(&mut self.block);
            self.items.push_back(if lrc_ok(&block) {
                Item::Block(block)
            } else {
                Item::Discarded {
                    bytes: block,
                    reason: DiscardReason::BadCheck,
                }
            });
        } else if self.block.len() >= MAX_BLOCK_LEN {
            self.discard(DiscardReason::TooLong);
        }
    }

    fn discard(&mut self, reason: DiscardReason) {
        let bytes = std::mem::take(&mut self.block);
        self.items.push_back(Item::Discarded { bytes, reason });
    }

    /// The next item found, in stream order.
    pub fn next_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    /// Bytes of an unfinished block held back.
    pub fn pending(&self) -> usize {
        self.block.len()
    }

    /// Forgets everything buffered (before a new exchange, so a late answer is never taken
    /// for the next one); returns how many bytes were dropped.
    pub fn clear(&mut self) -> usize {
        let items: usize = self
            .items
            .drain(..)
            .map(|item| match item {
                Item::Byte(_) => 1,
                Item::Block(bytes) | Item::Discarded { bytes, .. } => bytes.len(),
            })
            .sum();
        items + std::mem::take(&mut self.block).len()
    }
}

/// Decodes a whole buffer; an unfinished block at the end is left out.
pub fn decode_all(bytes: &[u8]) -> Vec<Item> {
    let mut decoder = StreamDecoder::new();
    decoder.push(bytes);
    std::iter::from_fn(|| decoder.next_item()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECIAL: [u8; 9] = [0xFF, 0xE9, 0xFE, 0xE0, 0xE1, 0xE0, 0xFB, 0xEE, 0xF0];

    #[test]
    fn bytes_blocks_and_resync() {
        let mut input = vec![0x51, 0xFF, 0xE0];
        input.extend_from_slice(&SPECIAL);
        input.push(0x61);
        let items = decode_all(&input);
        assert_eq!(
            items,
            vec![
                Item::Byte(0x51),
                Item::Discarded {
                    bytes: vec![0xFF, 0xE0],
                    reason: DiscardReason::Restarted
                },
                Item::Block(SPECIAL.to_vec()),
                Item::Byte(0x61),
            ]
        );
    }

    #[test]
    fn overlong_block_is_dropped() {
        let mut input = vec![0xFF];
        input.extend(std::iter::repeat_n(0xE0, MAX_BLOCK_LEN));
        let items = decode_all(&input);
        assert!(matches!(
            items.first(),
            Some(Item::Discarded {
                reason: DiscardReason::TooLong,
                ..
            })
        ));
        assert_eq!(items.len(), 2, "the byte after the cut is a lone byte");
    }
}
