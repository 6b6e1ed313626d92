//! The DART frame decoder on arbitrary bytes in arbitrary chunks: it never panics, never
//! holds more than its bound, gives the same items however the stream is split, and
//! accounts for every input byte exactly once.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pump_protocols::dart::frame::MAX_BUFFERED;
use pump_protocols::dart::{decode_all, decode_master, decode_pump, Decoded, Frame, FrameDecoder};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, the rest is the line.
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let whole = decode_all(stream);

    let mut decoder = FrameDecoder::new();
    let mut items = Vec::new();
    for chunk in stream.chunks(usize::from(size).max(1)) {
        decoder.push(chunk);
        while let Some(item) = decoder.next_item() {
            items.push(item);
        }
        assert!(decoder.buffered() <= MAX_BUFFERED);
    }
    items.extend(decoder.finish());
    assert_eq!(items, whole, "chunked and whole decoding differ");

    let mut rebuilt = Vec::new();
    for item in &whole {
        match item {
            Decoded::Frame(frame) => {
                frame
                    .encode_into(&mut rebuilt)
                    .expect("decoded frames encode");
                if let Frame::Data { payload, .. } = frame {
                    // Either direction may be on the line; neither decode may panic.
                    let _ = decode_master(payload);
                    let _ = decode_pump(payload);
                }
            }
            Decoded::Discarded { bytes, .. } => {
                assert!(bytes.len() <= MAX_BUFFERED);
                rebuilt.extend_from_slice(bytes);
            }
        }
    }
    assert_eq!(rebuilt, stream, "items do not partition the input");
});
