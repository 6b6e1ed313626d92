//! forecourtd: the forecourt controller daemon.
//!
//! See docs/architecture.md for the component map. The binary (`src/main.rs`) is thin glue over
//! these modules so the integration tests can drive the same code in-process.

// Denied everywhere; the one exception (`http::quiet`, handing freed memory back to the
// kernel) says why it is sound.
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used)]

pub mod access;
pub mod admin_client;
pub mod app;
pub mod capture;
pub mod chain;
pub mod cli_access;
pub mod cli_station;
pub mod clock;
pub mod config;
pub mod forecourt;
pub mod http;
pub mod journal;
pub mod lab;
pub mod lines;
pub mod liveness;
pub mod mercadopago;
pub mod metrics;
pub mod payments;
pub mod protocols;
pub mod replay;
pub mod sale;
pub mod secret;
pub mod shift_report;
pub mod signals;
pub mod supervise;
pub mod systemd;
pub mod telemetry;
