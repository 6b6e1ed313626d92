//! Integration tests: one binary, one module per area.

mod support;

mod access;
mod captures;
mod config;
mod crash_safety;
mod gilbarco;
mod hints;
mod layout;
mod maintenance;
mod order_endpoint;
mod payments;
mod pos;
mod sandbox;
mod seeds;
mod supervision;
mod systemd;
