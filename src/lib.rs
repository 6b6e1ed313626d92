//! forecourtd: the forecourt controller daemon.
//!
//! See DESIGN.md for the component map. The binary (`src/main.rs`) is thin glue over
//! these modules so the integration tests can drive the same code in-process.

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod mercadopago;
pub mod sale;
