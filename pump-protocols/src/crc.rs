//! Cyclic redundancy checks used by pump line protocols, each tested against its published
//! check value.
//!
//! Owns only the arithmetic: which bytes a protocol covers and in what order the check
//! goes on the wire is the protocol module's business (DART: [`crate::dart::frame`]).

/// The reflected form of the CRC-16/ARC polynomial 0x8005.
const ARC_POLY_REFLECTED: u16 = 0xA001;

/// One entry per byte value, computed at compile time from the bitwise definition so the
/// table cannot drift from it.
const ARC_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ ARC_POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[byte] = crc;
        byte += 1;
    }
    table
};

/// CRC-16/ARC (also CRC-16/IBM, CRC-16/ANSI): poly 0x8005 reflected (0xA001), init 0,
/// reflected in and out, no final xor. Check value of `"123456789"` is 0xBB3D.
///
/// DART sends the result low byte first (docs/protocols/dart.md §3.2), so the CRC over a
/// block followed by its own CRC is 0 (the residue property the decoder relies on).
pub fn crc16_arc(bytes: &[u8]) -> u16 {
    crc16_arc_update(0, bytes)
}

/// Continues a CRC-16/ARC computation over more bytes; `crc16_arc_update(0, b)` equals
/// [`crc16_arc`]`(b)`, and feeding a message in pieces gives the same result as whole.
pub fn crc16_arc_update(crc: u16, bytes: &[u8]) -> u16 {
    bytes.iter().fold(crc, |crc, &byte| {
        (crc >> 8) ^ ARC_TABLE[usize::from((crc ^ u16::from(byte)) & 0xFF)]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bitwise form as docs/protocols/dart.md §3.2 writes it, to check the table against.
    fn bitwise(bytes: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &byte in bytes {
            crc ^= u16::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xA001
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn published_check_value() {
        assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
    }

    #[test]
    fn empty_input_is_init() {
        assert_eq!(crc16_arc(&[]), 0);
    }

    #[test]
    fn table_matches_bitwise_definition() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(crc16_arc(&all), bitwise(&all));
        for byte in 0..=255u8 {
            assert_eq!(crc16_arc(&[byte]), bitwise(&[byte]), "byte {byte:#04x}");
        }
    }

    #[test]
    fn residue_of_message_with_crc_low_byte_first_is_zero() {
        // A captured DART block: 51 35 01 01 00 | A2 50 (docs/protocols/dart.md, vector B).
        let block = [0x51, 0x35, 0x01, 0x01, 0x00];
        let crc = crc16_arc(&block);
        assert_eq!(crc, 0x50A2);
        let mut with_crc = block.to_vec();
        with_crc.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(crc16_arc(&with_crc), 0);
        // Big-endian append does not have the property, so the byte order is pinned.
        let mut wrong_order = block.to_vec();
        wrong_order.extend_from_slice(&crc.to_be_bytes());
        assert_ne!(crc16_arc(&wrong_order), 0);
    }

    #[test]
    fn update_in_pieces_equals_whole() {
        let msg = b"123456789";
        for split in 0..=msg.len() {
            let (a, b) = msg.split_at(split);
            assert_eq!(crc16_arc_update(crc16_arc(a), b), 0xBB3D, "split {split}");
        }
    }
}
