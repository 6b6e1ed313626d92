//! DART application decoding on arbitrary payloads: it never panics, and whatever decodes
//! encodes back to exactly the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pump_protocols::dart::{decode_master, decode_pump, encode_master, encode_pump};

fuzz_target!(|payload: &[u8]| {
    if let Ok(transactions) = decode_pump(payload) {
        assert_eq!(encode_pump(&transactions).as_deref(), Ok(payload));
    }
    if let Ok(transactions) = decode_master(payload) {
        // CD2, CD14 and CD15 decode nozzle numbers that encoding refuses to send.
        if let Ok(again) = encode_master(&transactions) {
            assert_eq!(again, payload);
        }
    }
});
