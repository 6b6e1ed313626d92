//! Lab tools that ship in the binary but never run in production paths: the local Mercado
//! Pago sandbox, the pump-simulator line runners, `forecourtd simulate` and `forecourtd demo`.
//!
//! Production modules never import from here (tests and the lab commands do); keeping them
//! apart lets a reader see at a glance which code runs on a station's forecourt. Each tool
//! drives the daemon only through its public surfaces: serial lines, HTTP and the config.

pub mod demo;
pub mod sandbox;
pub mod sim_line;
pub mod simulate;
