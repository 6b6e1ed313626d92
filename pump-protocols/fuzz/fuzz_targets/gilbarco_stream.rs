//! The Gilbarco stream decoder and block decoders on arbitrary bytes in arbitrary chunks:
//! nothing panics, the items are the same however the stream is split, they account for
//! every input byte exactly once, and every block that decodes encodes back to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pump_protocols::gilbarco::stream::MAX_BLOCK_LEN;
use pump_protocols::gilbarco::{
    decode_all, decode_controller, decode_money, decode_totals, decode_transaction,
    encode_controller, encode_totals, encode_transaction, DigitMode, Item, StreamDecoder,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, the rest is the line.
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let whole = decode_all(stream);

    let mut decoder = StreamDecoder::new();
    let mut items = Vec::new();
    for chunk in stream.chunks(usize::from(size).max(1)) {
        decoder.push(chunk);
        while let Some(item) = decoder.next_item() {
            items.push(item);
        }
        assert!(decoder.pending() < MAX_BLOCK_LEN);
    }
    assert_eq!(items, whole, "chunked and whole decoding differ");

    let mut rebuilt = Vec::new();
    for item in &whole {
        match item {
            Item::Byte(b) => rebuilt.push(*b),
            Item::Discarded { bytes, .. } => rebuilt.extend_from_slice(bytes),
            Item::Block(block) => {
                rebuilt.extend_from_slice(block);
                for mode in [DigitMode::Six, DigitMode::Eight] {
                    if let Ok(data) = decode_transaction(block, mode) {
                        assert_eq!(encode_transaction(&data, mode).as_ref(), Ok(block));
                    }
                    if let Ok(grades) = decode_totals(block, mode) {
                        assert_eq!(encode_totals(&grades, mode).as_ref(), Ok(block));
                    }
                    let _ = decode_money(block, mode);
                }
                if let Ok(decoded) = decode_controller(block) {
                    assert_eq!(encode_controller(&decoded).as_ref(), Ok(block));
                }
            }
        }
    }
    assert_eq!(rebuilt.len() + decoder.pending(), stream.len());
    assert_eq!(rebuilt, stream[..rebuilt.len()], "items do not partition the input");
});
