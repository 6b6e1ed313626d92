//! Integration tests: one binary, one module per area.

mod support;

mod access;
mod captures;
mod chain;
mod chain_prices;
mod config;
mod console;
mod crash_safety;
mod gilbarco;
mod grades;
mod hints;
mod layout;
mod maintenance;
mod metrics;
mod order_endpoint;
mod payments;
mod pos;
mod prices;
mod sandbox;
mod seeds;
mod shifts;
mod supervision;
mod systemd;
