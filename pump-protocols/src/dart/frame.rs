//! DART line level 2: building and recognising frames (docs/protocols/dart.md §3).
//!
//! Owns the two frame shapes, the CRC placement, DLE transparency and resynchronisation on
//! a noisy line. It never looks inside a data block's payload (that is [`super::app`]),
//! never tracks block sequence numbers or retries (that is the master's or the
//! simulator's state) and never reads a clock or a port.
//!
//! ```text
//! control frame:  ADR CTRL SF                         (3 bytes, no CRC, no ETX)
//! data frame:     ADR CTRL DATA(1..) CRC-1 CRC-2 ETX SF
//!                 CRC-16/ARC over ADR..DATA unstuffed, low byte (CRC-1) first;
//!                 every 0xFA in DATA or CRC goes on the wire as DLE SF (10 FA).
//! ```
//!
//! [`FrameDecoder`] takes bytes in any split and yields [`Decoded`] items: a good
//! [`Frame`], or a [`Decoded::Discarded`] run of bytes with its [`DiscardReason`]. Bad
//! input is an item the caller counts and skips, never an error that ends the stream.
//! The items are a function of the byte stream alone: however the stream is cut into
//! [`push`](FrameDecoder::push)es, the same items come out in the same order, which the
//! differential tests hold it to.

use std::fmt;

use crate::crc::{crc16_arc, crc16_arc_update};
use crate::units::BusAddress;

/// Stop flag: ends every frame (§3).
pub const SF: u8 = 0xFA;
/// End of text: precedes SF in data frames only (§3).
pub const ETX: u8 = 0x03;
/// Data link escape: sent before every 0xFA inside DATA or CRC (§3.3).
pub const DLE: u8 = 0x10;
/// Lowest pump address on a DART line (§2).
pub const ADDRESS_MIN: u8 = 0x50;
/// Highest pump address on a DART line (§2): 32 pumps in all.
pub const ADDRESS_MAX: u8 = 0x6F;
/// Largest frame, counted unstuffed from ADR to SF inclusive (§3: "max buffer size 256
/// bytes including control characters"; whether before or after DLE insertion is
/// UNCERTAIN, so the stricter reading, unstuffed, is enforced on both sides).
pub const MAX_FRAME_LEN: usize = 256;
/// Largest DATA field: [`MAX_FRAME_LEN`] less ADR, CTRL, two CRC bytes, ETX and SF.
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - 6;
/// Largest number of bytes a [`FrameDecoder`] holds once drained: a data frame that has
/// not reached [`MAX_FRAME_LEN`] unstuffed bytes, every one of them stuffed at worst.
/// Without an SF by then, the bytes are dropped and the decoder resynchronises.
pub const MAX_BUFFERED: usize = 2 * MAX_FRAME_LEN;
/// A run of unrecognisable bytes is reported as soon as it is this long, so noise never
/// accumulates in the decoder.
pub const MAX_GARBAGE_RUN: usize = MAX_FRAME_LEN;

/// The high nibble of every data block's CTRL byte.
const DATA_TYPE: u8 = 0x3;

/// True for a byte that can be a DART pump address on the wire (0x50..=0x6F).
pub fn is_dart_address(byte: u8) -> bool {
    (ADDRESS_MIN..=ADDRESS_MAX).contains(&byte)
}

/// The kinds of control frame (§3.1); a data block is a [`Frame::Data`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// 0x20, master→pump: "send me what you have". Carries no TX#.
    Poll,
    /// 0x7t, pump→master: nothing to send. Real pumps send t = 0.
    Eot,
    /// 0xCt: block t accepted.
    Ack,
    /// 0x5t: block t rejected (CRC, parity or sequence error).
    Nak,
    /// 0xEt, master→pump: ACK of block t and POLL at once. Never observed on real lines
    /// (§3.1); decoded so a simulator can accept it, a master need not send it.
    AckPoll,
    /// 0x40: listed in the line spec, never observed, meaning unknown (§3.1). Decoded so it
    /// is not taken for noise; a master must not send it. Carries no TX#.
    Iap,
}

impl ControlKind {
    /// The high nibble of the CTRL byte.
    pub fn type_nibble(self) -> u8 {
        match self {
            ControlKind::Poll => 0x2,
            ControlKind::Iap => 0x4,
            ControlKind::Nak => 0x5,
            ControlKind::Eot => 0x7,
            ControlKind::Ack => 0xC,
            ControlKind::AckPoll => 0xE,
        }
    }

    /// True for the kinds whose low nibble is fixed at 0 rather than a TX#.
    pub fn has_fixed_tx(self) -> bool {
        matches!(self, ControlKind::Poll | ControlKind::Iap)
    }
}

/// What a CTRL byte announces.
enum Ctrl {
    Control(ControlKind, u8),
    Data,
}

fn parse_ctrl(ctrl: u8) -> Option<Ctrl> {
    let tx = ctrl & 0x0F;
    let kind = match ctrl >> 4 {
        DATA_TYPE => return Some(Ctrl::Data),
        0x2 if tx == 0 => ControlKind::Poll,
        0x4 if tx == 0 => ControlKind::Iap,
        0x5 => ControlKind::Nak,
        0x7 => ControlKind::Eot,
        0xC => ControlKind::Ack,
        0xE => ControlKind::AckPoll,
        _ => return None,
    };
    Some(Ctrl::Control(kind, tx))
}

/// One DART frame, as sent or received.
///
/// `tx` is the block sequence number TX# (0..=15, §3.4): for data blocks the sender's own,
/// for ACK/NAK the one of the block answered; POLL and IAP carry 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Frame {
    /// `ADR CTRL SF`.
    Control {
        /// The pump addressed (master→pump) or answering (pump→master).
        address: BusAddress,
        /// The kind of control frame.
        kind: ControlKind,
        /// The TX# in the low nibble of CTRL.
        tx: u8,
    },
    /// `ADR 3t DATA CRC-1 CRC-2 ETX SF`; `payload` is DATA unstuffed (level-3 transactions).
    Data {
        /// The pump addressed or answering.
        address: BusAddress,
        /// The sender's block sequence number.
        tx: u8,
        /// The transactions, unstuffed, 1..=[`MAX_PAYLOAD_LEN`] bytes.
        payload: Vec<u8>,
    },
}

/// Why a [`Frame`] cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameEncodeError {
    /// The address is outside 0x50..=0x6F (§2).
    #[error("address {0} is outside the DART range 0x50..=0x6F")]
    AddressOutOfRange(BusAddress),
    /// A TX# must fit the low nibble.
    #[error("block sequence number {0} is above 15")]
    TxOutOfRange(u8),
    /// POLL and IAP have a fixed CTRL byte (§3.1).
    #[error("{kind:?} carries no block sequence number, got {tx}")]
    FixedTx {
        /// The kind of frame.
        kind: ControlKind,
        /// The TX# that was asked for.
        tx: u8,
    },
    /// A data block carries at least one byte (§3).
    #[error("a data block needs at least one byte of payload")]
    EmptyPayload,
    /// The frame would exceed [`MAX_FRAME_LEN`] (§3).
    #[error("payload of {0} bytes exceeds the {max} allowed", max = MAX_PAYLOAD_LEN)]
    PayloadTooLong(usize),
}

impl Frame {
    /// A POLL to `address`.
    pub fn poll(address: BusAddress) -> Self {
        Frame::Control {
            address,
            kind: ControlKind::Poll,
            tx: 0,
        }
    }

    /// An EOT from `address` (nothing to send), with TX# 0 as real pumps send it.
    pub fn eot(address: BusAddress) -> Self {
        Frame::Control {
            address,
            kind: ControlKind::Eot,
            tx: 0,
        }
    }

    /// An ACK of block `tx`.
    pub fn ack(address: BusAddress, tx: u8) -> Self {
        Frame::Control {
            address,
            kind: ControlKind::Ack,
            tx,
        }
    }

    /// A NAK of block `tx`.
    pub fn nak(address: BusAddress, tx: u8) -> Self {
        Frame::Control {
            address,
            kind: ControlKind::Nak,
            tx,
        }
    }

    /// A data block.
    pub fn data(address: BusAddress, tx: u8, payload: Vec<u8>) -> Self {
        Frame::Data {
            address,
            tx,
            payload,
        }
    }

    /// The pump address in the frame.
    pub fn address(&self) -> BusAddress {
        match self {
            Frame::Control { address, .. } | Frame::Data { address, .. } => *address,
        }
    }

    /// The TX# in the frame's CTRL byte.
    pub fn tx(&self) -> u8 {
        match self {
            Frame::Control { tx, .. } | Frame::Data { tx, .. } => *tx,
        }
    }

    /// The frame's wire bytes.
    pub fn encode(&self) -> Result<Vec<u8>, FrameEncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the frame's wire bytes to `out`. On error nothing is appended.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), FrameEncodeError> {
        let address = self.address();
        if !is_dart_address(address.0) {
            return Err(FrameEncodeError::AddressOutOfRange(address));
        }
        let tx = self.tx();
        if tx > 0x0F {
            return Err(FrameEncodeError::TxOutOfRange(tx));
        }
        match self {
            Frame::Control { kind, .. } => {
                if kind.has_fixed_tx() && tx != 0 {
                    return Err(FrameEncodeError::FixedTx { kind: *kind, tx });
                }
                out.extend_from_slice(&[address.0, kind.type_nibble() << 4 | tx, SF]);
            }
            Frame::Data { payload, .. } => {
                if payload.is_empty() {
                    return Err(FrameEncodeError::EmptyPayload);
                }
                if payload.len() > MAX_PAYLOAD_LEN {
                    return Err(FrameEncodeError::PayloadTooLong(payload.len()));
                }
                let header = [address.0, DATA_TYPE << 4 | tx];
                let crc = crc16_arc_update(crc16_arc(&header), payload);
                out.reserve(header.len() + payload.len() + 8);
                out.extend_from_slice(&header);
                for &byte in payload.iter().chain(&crc.to_le_bytes()) {
                    if byte == SF {
                        out.push(DLE);
                    }
                    out.push(byte);
                }
                out.extend_from_slice(&[ETX, SF]);
            }
        }
        Ok(())
    }
}

/// The header of a data block that was dropped: enough for a master to NAK it (§6: "DATA
/// bad CRC → NAK(its TX#)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockId {
    /// The address byte of the block.
    pub address: BusAddress,
    /// The TX# of the block.
    pub tx: u8,
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} TX#{:X}", self.address, self.tx)
    }
}

/// Why bytes were dropped by the [`FrameDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DiscardReason {
    /// Bytes that start no frame: RS-485 turnaround bytes (§1), line noise, an unknown CTRL
    /// byte, an address not followed by a CTRL and SF, the tail of a lost frame.
    #[error("bytes that start no frame")]
    Garbage,
    /// A data block whose CRC does not check (§3.2).
    #[error("bad CRC in data block {0}")]
    BadCrc(BlockId),
    /// A data block whose SF is not preceded by ETX (§3).
    #[error("data block {0} does not end with ETX SF")]
    MissingEtx(BlockId),
    /// A data block with no room for one DATA byte and the CRC.
    #[error("data block {0} is too short")]
    TooShort(BlockId),
    /// A data block that reached [`MAX_FRAME_LEN`] unstuffed bytes without an SF.
    #[error("data block {0} exceeds {MAX_FRAME_LEN} bytes")]
    Oversize(BlockId),
    /// The stream ended inside a data block (only from [`FrameDecoder::finish`]).
    #[error("stream ended inside data block {0}")]
    Truncated(BlockId),
}

impl DiscardReason {
    /// The dropped data block's address and TX#, when the bytes began like one.
    pub fn block(&self) -> Option<BlockId> {
        match self {
            DiscardReason::Garbage => None,
            DiscardReason::BadCrc(block)
            | DiscardReason::MissingEtx(block)
            | DiscardReason::TooShort(block)
            | DiscardReason::Oversize(block)
            | DiscardReason::Truncated(block) => Some(*block),
        }
    }
}

/// One item out of the [`FrameDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A well-formed frame (CRC checked for data blocks). Its address may still be one the
    /// caller does not serve: filtering is the caller's job.
    Frame(Frame),
    /// Bytes dropped while resynchronising; the decoder goes on after them.
    Discarded {
        /// The dropped wire bytes (at most [`MAX_BUFFERED`]).
        bytes: Vec<u8>,
        /// Why they were dropped.
        reason: DiscardReason,
    },
}

/// Where the scan of a data block candidate stopped.
#[derive(Debug, Clone, Copy)]
struct DataScan {
    /// Offset (from the start of the candidate) of the next wire byte to look at.
    next: usize,
    /// Unstuffed bytes seen so far, ADR and CTRL included.
    unstuffed: usize,
}

/// How the bytes at the head of the undecided input start.
enum Start {
    /// Not enough bytes to tell yet.
    Undecided,
    /// The first byte starts no frame.
    Garbage,
    /// A complete control frame of 3 bytes.
    Control(Frame),
    /// `ADR 3t`: a data block candidate; its end is the first SF not preceded by DLE.
    Data,
}

fn classify(rest: &[u8]) -> Start {
    let Some(&address) = rest.first() else {
        return Start::Undecided;
    };
    if !is_dart_address(address) {
        return Start::Garbage;
    }
    let Some(&ctrl) = rest.get(1) else {
        return Start::Undecided;
    };
    match parse_ctrl(ctrl) {
        None => Start::Garbage,
        Some(Ctrl::Data) => Start::Data,
        Some(Ctrl::Control(kind, tx)) => match rest.get(2) {
            None => Start::Undecided,
            Some(&SF) => Start::Control(Frame::Control {
                address: BusAddress(address),
                kind,
                tx,
            }),
            Some(_) => Start::Garbage,
        },
    }
}

/// Checks a complete data block candidate, `ADR 3t … SF` with its terminating SF.
fn check_data(wire: &[u8]) -> Result<Frame, DiscardReason> {
    let (Some(&address), Some(&ctrl)) = (wire.first(), wire.get(1)) else {
        // The scanner only completes candidates that start with ADR CTRL.
        return Err(DiscardReason::Garbage);
    };
    let block = BlockId {
        address: BusAddress(address),
        tx: ctrl & 0x0F,
    };
    let n = wire.len();
    if n < 4 || wire[n - 2] != ETX {
        return Err(DiscardReason::MissingEtx(block));
    }
    // DATA and CRC between CTRL and ETX; only `10 FA` is an escape (§3.3).
    let stuffed = &wire[2..n - 2];
    let mut body = Vec::with_capacity(stuffed.len());
    let mut i = 0;
    while i < stuffed.len() {
        if stuffed[i] == DLE && stuffed.get(i + 1) == Some(&SF) {
            body.push(SF);
            i += 2;
        } else {
            body.push(stuffed[i]);
            i += 1;
        }
    }
    if body.len() < 3 {
        return Err(DiscardReason::TooShort(block));
    }
    // Residue property (§3.2): the CRC over ADR..CRC-2 of a good block is 0.
    if crc16_arc_update(crc16_arc(&[address, ctrl]), &body) != 0 {
        return Err(DiscardReason::BadCrc(block));
    }
    body.truncate(body.len() - 2);
    Ok(Frame::Data {
        address: block.address,
        tx: block.tx,
        payload: body,
    })
}

/// Bytes shown as spaced hex pairs (`50 20 FA`), the way docs/protocols/dart.md writes frames;
/// for logging dropped bytes and frames without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HexBytes<'a>(pub &'a [u8]);

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

/// Incremental DART frame decoder: [`push`](Self::push) bytes as they arrive, then call
/// [`next_item`](Self::next_item) until it returns `None`.
///
/// Resynchronisation (§1, §3.3): bytes are skipped until an address byte (0x50..=0x6F)
/// followed by a valid CTRL byte, and for control frames an SF right after it. A data
/// block ends at the first SF not preceded by DLE; it is dropped whole on a bad CRC,
/// missing ETX or too short a body, and at [`MAX_FRAME_LEN`] unstuffed bytes without an
/// SF. A run of garbage is reported once the next frame start is recognised, when it
/// reaches [`MAX_GARBAGE_RUN`] bytes, or by [`finish`](Self::finish); that is what makes
/// the items independent of how the stream was split.
///
/// Memory: once drained, the decoder holds at most [`MAX_BUFFERED`] bytes.
#[derive(Debug, Clone, Default)]
pub struct FrameDecoder {
    /// Received bytes; `buf[start..]` is live.
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed, reclaimed on the next push.
    start: usize,
    /// `buf[start..start + garbage]` is known garbage not yet reported.
    garbage: usize,
    /// Set while `buf[start..]` begins with a data block candidate.
    data: Option<DataScan>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the line. Drain [`next_item`](Self::next_item) afterwards:
    /// bytes are only examined, and memory only bounded, while items are drained.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame or discarded run, or `None` when more bytes are needed.
    pub fn next_item(&mut self) -> Option<Decoded> {
        self.step(false)
    }

    /// Declares the end of the stream and returns every remaining item, the incomplete
    /// tail included (as [`DiscardReason::Truncated`] or [`DiscardReason::Garbage`]).
    /// The decoder is then empty and can be used again.
    pub fn finish(&mut self) -> Vec<Decoded> {
        let mut items = Vec::new();
        while let Some(item) = self.step(true) {
            items.push(item);
        }
        self.clear();
        items
    }

    /// Drops everything buffered and returns how many bytes that was. A master calls this
    /// before each POLL so a late or partial answer is not taken for the next one.
    pub fn clear(&mut self) -> usize {
        let dropped = self.buffered();
        self.buf.clear();
        self.start = 0;
        self.garbage = 0;
        self.data = None;
        dropped
    }

    /// How many received bytes are held, not yet reported as an item.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Removes the first `n` live bytes and returns them.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let taken = self.buf[self.start..self.start + n].to_vec();
        self.start += n;
        taken
    }

    fn take_garbage(&mut self) -> Decoded {
        let bytes = self.take(self.garbage);
        self.garbage = 0;
        Decoded::Discarded {
            bytes,
            reason: DiscardReason::Garbage,
        }
    }

    fn step(&mut self, eof: bool) -> Option<Decoded> {
        loop {
            if let Some(scan) = self.data {
                return self.step_data(scan, eof);
            }
            if self.garbage >= MAX_GARBAGE_RUN {
                return Some(self.take_garbage());
            }
            let rest = &self.buf[self.start + self.garbage..];
            match classify(rest) {
                Start::Garbage => self.garbage += 1,
                Start::Undecided if eof && !rest.is_empty() => self.garbage += 1,
                Start::Undecided => {
                    return (eof && self.garbage > 0).then(|| self.take_garbage());
                }
                // A frame start ends the garbage run before it: report the run first.
                _ if self.garbage > 0 => return Some(self.take_garbage()),
                Start::Control(frame) => {
                    self.start += 3;
                    return Some(Decoded::Frame(frame));
                }
                Start::Data => {
                    self.data = Some(DataScan {
                        next: 2,
                        unstuffed: 2,
                    });
                }
            }
        }
    }

    /// Scans the data block candidate at the head of the buffer for its SF.
    fn step_data(&mut self, mut scan: DataScan, eof: bool) -> Option<Decoded> {
        let live = &self.buf[self.start..];
        let block = BlockId {
            address: BusAddress(live[0]),
            tx: live[1] & 0x0F,
        };
        while let Some(&byte) = live.get(scan.next) {
            // `next >= 2`, so `live[next - 1]` is at least the CTRL byte.
            let escaped = live[scan.next - 1] == DLE;
            scan.next += 1;
            if byte == SF && !escaped {
                let wire = self.take(scan.next);
                self.data = None;
                return Some(match check_data(&wire) {
                    Ok(frame) => Decoded::Frame(frame),
                    Err(reason) => Decoded::Discarded {
                        bytes: wire,
                        reason,
                    },
                });
            }
            // An escaped SF replaces its DLE, which was already counted.
            if byte != SF {
                scan.unstuffed += 1;
            }
            if scan.unstuffed >= MAX_FRAME_LEN {
                let bytes = self.take(scan.next);
                self.data = None;
                return Some(Decoded::Discarded {
                    bytes,
                    reason: DiscardReason::Oversize(block),
                });
            }
        }
        if eof {
            let bytes = self.take(scan.next);
            self.data = None;
            return Some(Decoded::Discarded {
                bytes,
                reason: DiscardReason::Truncated(block),
            });
        }
        self.data = Some(scan);
        None
    }
}

/// Decodes a whole buffer as one stream, end included: the same items as pushing it in
/// any split into a [`FrameDecoder`], draining, and calling [`FrameDecoder::finish`].
pub fn decode_all(bytes: &[u8]) -> Vec<Decoded> {
    let mut decoder = FrameDecoder::new();
    decoder.push(bytes);
    let mut items = Vec::new();
    while let Some(item) = decoder.next_item() {
        items.push(item);
    }
    items.extend(decoder.finish());
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(payload: &[u8]) -> Frame {
        Frame::data(BusAddress(0x50), 2, payload.to_vec())
    }

    #[test]
    fn stuffs_sf_in_crc_low_byte() {
        // docs/protocols/dart.md D: DC2 6/12, CRC-1 = 0xFA.
        let frame = data(&[0x02, 0x08, 0, 0, 0, 0x06, 0, 0, 0, 0x12]);
        let wire = frame.encode().expect("valid frame");
        assert_eq!(
            wire,
            [0x50, 0x32, 0x02, 0x08, 0, 0, 0, 0x06, 0, 0, 0, 0x12, 0x10, 0xFA, 0x7F, 0x03, 0xFA]
        );
        assert_eq!(decode_all(&wire), vec![Decoded::Frame(frame)]);
    }

    #[test]
    fn literal_dle_is_not_escaped() {
        let frame = data(&[0x10, 0x10, 0xFA, 0x10]);
        let wire = frame.encode().expect("valid frame");
        assert_eq!(&wire[2..7], &[0x10, 0x10, 0x10, 0xFA, 0x10]);
        assert_eq!(decode_all(&wire), vec![Decoded::Frame(frame)]);
    }

    #[test]
    fn encode_refuses_what_the_wire_cannot_carry() {
        let a = BusAddress(0x50);
        assert_eq!(
            Frame::poll(BusAddress(0x4F)).encode(),
            Err(FrameEncodeError::AddressOutOfRange(BusAddress(0x4F)))
        );
        assert_eq!(
            Frame::ack(a, 16).encode(),
            Err(FrameEncodeError::TxOutOfRange(16))
        );
        let poll_with_tx = Frame::Control {
            address: a,
            kind: ControlKind::Poll,
            tx: 1,
        };
        assert!(matches!(
            poll_with_tx.encode(),
            Err(FrameEncodeError::FixedTx { .. })
        ));
        assert_eq!(
            Frame::data(a, 0, vec![]).encode(),
            Err(FrameEncodeError::EmptyPayload)
        );
        assert_eq!(
            Frame::data(a, 0, vec![0; MAX_PAYLOAD_LEN + 1]).encode(),
            Err(FrameEncodeError::PayloadTooLong(MAX_PAYLOAD_LEN + 1))
        );
        let mut out = vec![1, 2];
        assert!(Frame::data(a, 0, vec![]).encode_into(&mut out).is_err());
        assert_eq!(out, [1, 2], "nothing appended on error");
    }

    #[test]
    fn largest_payload_round_trips_and_one_more_byte_is_oversize() {
        let frame = data(&[0xFA; MAX_PAYLOAD_LEN]);
        let wire = frame.encode().expect("largest frame");
        assert!(wire.len() <= MAX_BUFFERED);
        assert_eq!(decode_all(&wire), vec![Decoded::Frame(frame)]);

        // Hand-build a block one byte too long: it must be dropped as oversize.
        let mut body = vec![0x01; MAX_PAYLOAD_LEN + 1];
        let crc = crc16_arc_update(crc16_arc(&[0x50, 0x32]), &body);
        body.extend_from_slice(&crc.to_le_bytes());
        let mut wire = vec![0x50, 0x32];
        wire.extend(body);
        wire.extend([ETX, SF]);
        let items = decode_all(&wire);
        assert!(
            matches!(
                items.first(),
                Some(Decoded::Discarded {
                    reason: DiscardReason::Oversize(_),
                    ..
                })
            ),
            "{items:?}"
        );
        assert!(!items.iter().any(|i| matches!(i, Decoded::Frame(_))));
    }

    #[test]
    fn short_and_unterminated_blocks_are_dropped() {
        let block = BlockId {
            address: BusAddress(0x50),
            tx: 0,
        };
        let cases: [(&[u8], DiscardReason); 4] = [
            (&[0x50, 0x30, 0xFA], DiscardReason::MissingEtx(block)),
            (&[0x50, 0x30, 0x03, 0xFA], DiscardReason::TooShort(block)),
            (
                &[0x50, 0x30, 0x01, 0x00, 0x03, 0xFA],
                DiscardReason::TooShort(block),
            ),
            (
                &[0x50, 0x30, 0x01, 0x01, 0x00, 0x9F, 0x5C, 0x04, 0xFA],
                DiscardReason::MissingEtx(block),
            ),
        ];
        for (wire, reason) in cases {
            assert_eq!(
                decode_all(wire),
                vec![Decoded::Discarded {
                    bytes: wire.to_vec(),
                    reason
                }]
            );
        }
    }

    #[test]
    fn tail_at_end_of_stream_is_reported() {
        let items = decode_all(&[0x50, 0x30, 0x01]);
        assert_eq!(
            items,
            vec![Decoded::Discarded {
                bytes: vec![0x50, 0x30, 0x01],
                reason: DiscardReason::Truncated(BlockId {
                    address: BusAddress(0x50),
                    tx: 0
                }),
            }]
        );
        assert_eq!(
            decode_all(&[0x50, 0x20]),
            vec![Decoded::Discarded {
                bytes: vec![0x50, 0x20],
                reason: DiscardReason::Garbage
            }]
        );
    }

    #[test]
    fn hex_display_matches_the_spec_notation() {
        assert_eq!(HexBytes(&[0x50, 0x20, 0xFA]).to_string(), "50 20 FA");
        assert_eq!(HexBytes(&[]).to_string(), "");
    }

    #[test]
    fn clear_drops_pending_bytes() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0xBC, 0x50, 0x30, 0x01]);
        while decoder.next_item().is_some() {}
        assert_eq!(decoder.clear(), 3);
        decoder.push(&[0x50, 0x70, 0xFA]);
        assert_eq!(
            decoder.next_item(),
            Some(Decoded::Frame(Frame::eot(BusAddress(0x50))))
        );
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn long_noise_is_reported_in_bounded_runs() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&[0xFF; 1000]);
        let mut total = 0;
        while let Some(item) = decoder.next_item() {
            match item {
                Decoded::Discarded { bytes, reason } => {
                    assert_eq!(reason, DiscardReason::Garbage);
                    assert_eq!(bytes.len(), MAX_GARBAGE_RUN);
                    total += bytes.len();
                }
                Decoded::Frame(f) => panic!("frame out of noise: {f:?}"),
            }
        }
        assert!(decoder.buffered() < MAX_GARBAGE_RUN);
        total += decoder.buffered();
        assert_eq!(total, 1000);
    }
}
