//! The line level of one simulated pump (docs/protocols/dart.md §3.4, §4, §7): its own TX#, the
//! block waiting for the master's ACK, duplicate detection of master blocks, and the fault
//! switches that spoil its answers.
//!
//! Owns the pump's half of the link. It never decides what a transaction does (that is
//! [`super::pump`]), never schedules bytes on the line (that is the simulator) and never
//! reads a clock.

use std::time::{Duration, Instant};

use super::pump::Pump;
use super::{DuplicateRule, SimSettings};
use crate::crc::{crc16_arc, crc16_arc_update};
use crate::dart::app::{decode_master, encode_pump};
use crate::dart::frame::{ControlKind, Frame, DLE, ETX, MAX_PAYLOAD_LEN, SF};
use crate::dart::TxWrap;

/// Fault switches of one pump, each counting down the answers it spoils.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Faults {
    pub(crate) drop: u32,
    pub(crate) corrupt: u32,
    pub(crate) late: u32,
    pub(crate) silent: bool,
}

/// One pump's link state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Link {
    /// TX# of the next new block (§3.4: 0 after a restart).
    tx_out: u8,
    /// The block sent and not ACKed yet: resent, same TX#, on every POLL until it is.
    outstanding: Option<(u8, Vec<u8>)>,
    /// TX# of the last master block applied, to spot a retransmission.
    last_rx: Option<u8>,
    pub(crate) faults: Faults,
}

impl Link {
    pub(crate) fn tx_out(&self) -> u8 {
        self.tx_out
    }

    pub(crate) fn awaiting_ack(&self) -> Option<u8> {
        self.outstanding.as_ref().map(|(tx, _)| *tx)
    }

    /// Protocol restart after a CPU reset: TX# back to 0, the block in flight forgotten.
    /// Fault switches belong to the test bench, not the pump, and stay.
    pub(crate) fn restart(&mut self) {
        self.tx_out = 0;
        self.outstanding = None;
        self.last_rx = None;
    }

    /// The answer of `pump` to a well-formed frame addressed to it (§7).
    pub(crate) fn receive(
        &mut self,
        frame: Frame,
        pump: &mut Pump,
        settings: &SimSettings,
        now: Instant,
    ) -> Option<Frame> {
        let address = pump.address();
        match frame {
            Frame::Control { kind, tx, .. } => match kind {
                ControlKind::Poll => Some(self.poll(pump)),
                ControlKind::Ack => {
                    self.ack(tx, settings.tx_wrap);
                    None
                }
                ControlKind::AckPoll => {
                    self.ack(tx, settings.tx_wrap);
                    Some(self.poll(pump))
                }
                // The NAKed block stays outstanding and goes again, same TX#, on the next
                // POLL (§4 (c)). EOT is a pump's word; IAP has no known meaning (§3.1).
                ControlKind::Nak | ControlKind::Eot | ControlKind::Iap => None,
            },
            Frame::Data { tx, payload, .. } => {
                let restart = tx == 0 && settings.duplicate_rule == DuplicateRule::Tx0Restarts;
                if self.last_rx == Some(tx) && !restart {
                    // §3.4: a retransmission (our ACK was lost): ACK again, apply nothing.
                    return Some(Frame::ack(address, tx));
                }
                match decode_master(&payload) {
                    Ok(transactions) => {
                        for transaction in transactions {
                            pump.apply(transaction, now);
                        }
                        self.last_rx = Some(tx);
                        Some(Frame::ack(address, tx))
                    }
                    // A block that is not a list of transactions is rejected whole.
                    Err(_) => Some(Frame::nak(address, tx)),
                }
            }
        }
    }

    /// §7 POLL: the un-ACKed block again, else the queued transactions packed in event
    /// order into one block, else EOT.
    fn poll(&mut self, pump: &mut Pump) -> Frame {
        let address = pump.address();
        if let Some((tx, payload)) = &self.outstanding {
            return Frame::data(address, *tx, payload.clone());
        }
        let outbox = pump.outbox();
        let mut payload = Vec::new();
        while let Some(next) = outbox.front() {
            let Ok(bytes) = encode_pump(std::slice::from_ref(next)) else {
                // The pump keeps every figure within its digits, so this does not happen;
                // a transaction that cannot be sent must not block the queue for good.
                outbox.pop_front();
                continue;
            };
            if payload.len() + bytes.len() > MAX_PAYLOAD_LEN {
                // The rest goes in the next block, after this one is ACKed.
                break;
            }
            payload.extend_from_slice(&bytes);
            outbox.pop_front();
        }
        if payload.is_empty() {
            return Frame::eot(address);
        }
        self.outstanding = Some((self.tx_out, payload.clone()));
        Frame::data(address, self.tx_out, payload)
    }

    /// ACK(t) of the outstanding block drops it and moves TX# on; any other is ignored.
    fn ack(&mut self, tx: u8, wrap: TxWrap) {
        if self.awaiting_ack() == Some(tx) {
            self.outstanding = None;
            self.tx_out = wrap.next(self.tx_out);
        }
    }

    /// The wire bytes of an answer and how long after the master's frame they go, once
    /// the fault switches had their say; `None` when the answer is dropped.
    pub(crate) fn wire(
        &mut self,
        frame: &Frame,
        settings: &SimSettings,
    ) -> Option<(Vec<u8>, Duration)> {
        if self.faults.drop > 0 {
            self.faults.drop -= 1;
            return None;
        }
        let bytes = if self.faults.corrupt > 0 {
            self.faults.corrupt -= 1;
            corrupt(frame)
        } else {
            frame.encode().expect(
                "invariant: addresses are checked at setup, TX# < 16, payloads 1..=250 bytes",
            )
        };
        let delay = if self.faults.late > 0 {
            self.faults.late -= 1;
            settings.late_delay
        } else {
            settings.answer_delay
        };
        Some((bytes, delay))
    }
}

/// The frame as line noise would leave it: a data block with a wrong CRC (stuffed like a
/// real one, so only the CRC check catches it), a control frame, which has no CRC, with
/// its type nibble wiped so that no receiver takes it for a frame.
fn corrupt(frame: &Frame) -> Vec<u8> {
    match frame {
        Frame::Control { address, tx, .. } => vec![address.0, tx & 0x0F, SF],
        Frame::Data {
            address,
            tx,
            payload,
        } => {
            let header = [address.0, 0x30 | (tx & 0x0F)];
            let good = crc16_arc_update(crc16_arc(&header), payload);
            let mut out = header.to_vec();
            for &byte in payload.iter().chain(&(!good).to_le_bytes()) {
                if byte == SF {
                    out.push(DLE);
                }
                out.push(byte);
            }
            out.extend_from_slice(&[ETX, SF]);
            out
        }
    }
}
