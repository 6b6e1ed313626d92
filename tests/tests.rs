//! Integration tests: one binary, one module per area.

mod support;

mod access;
mod config;
mod hints;
mod order_endpoint;
mod payments;
mod pos;
mod sandbox;
mod seeds;
