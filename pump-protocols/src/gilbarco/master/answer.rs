//! Collecting a pump's answer to the exchange in progress (docs/protocols/gilbarco.md §1, §3,
//! §4): skipping the echo of the command, telling a held `0p` from a data error, gathering
//! money words, taking the block asked for.
//!
//! Owns only that sorting of decoded items; what an answer means is
//! [`super::GilbarcoMaster`]'s `on_answer`.

use std::time::Instant;

use super::{GilbarcoMaster, Line, Op};
use crate::gilbarco::command::StatusReply;
use crate::gilbarco::pump_blocks::decode_money;
use crate::gilbarco::stream::Item;
use crate::gilbarco::words::digit;

/// What came back to an exchange.
pub(super) enum Answer {
    Status(StatusReply),
    Block(Vec<u8>),
    Money(u64),
}

impl GilbarcoMaster {
    /// Takes one decoded item while an answer is awaited.
    pub(super) fn on_item(&mut self, item: Item, now: Instant) {
        let tolerant = self.settings.tolerant_status;
        let echo_mode = self.settings.echo;
        let mode = self.settings.digits;
        let Line::Awaiting {
            pump: p,
            op,
            command,
            echo_seen,
            held,
            words,
            ..
        } = &mut self.line
        else {
            self.stats.noise_bytes += match item {
                Item::Byte(_) => 1,
                Item::Block(b) | Item::Discarded { bytes: b, .. } => b.len() as u64,
            };
            return;
        };
        let (p, op) = (*p, *op);
        let expects_block = matches!(op, Op::ReadTransaction | Op::ReadTotals(_));
        let answer = match item {
            Item::Byte(b) if !*echo_seen && b == *command => {
                *echo_seen = true;
                self.stats.echoes += 1;
                // `0p` is both the echo of a poll and a pump's data error: without an
                // echoing converter it is the pump's, unless more follows.
                if !echo_mode && StatusReply::from_byte(b, tolerant).is_some() {
                    *held = Some(b);
                }
                return;
            }
            Item::Byte(_) if expects_block => {
                self.stats.noise_bytes += 1;
                return;
            }
            Item::Byte(b) if matches!(op, Op::ReadMoney { .. }) => match digit(b) {
                Some(_) => {
                    words.push(b);
                    if words.len() < mode.sale_digits() {
                        return;
                    }
                    decode_money(words, mode).ok().map(Answer::Money)
                }
                None if words.is_empty() => {
                    self.stats.noise_bytes += 1;
                    return;
                }
                None => None,
            },
            Item::Byte(b) => {
                *held = None;
                StatusReply::from_byte(b, tolerant).map(Answer::Status)
            }
            Item::Block(bytes) if expects_block => Some(Answer::Block(bytes)),
            Item::Discarded { .. } if expects_block => None,
            Item::Block(bytes) | Item::Discarded { bytes, .. } => {
                self.stats.noise_bytes += bytes.len() as u64;
                return;
            }
        };
        match answer {
            Some(answer) => self.on_answer(p, op, answer, now),
            None => self.bad_answer(p, op, now),
        }
    }
}
