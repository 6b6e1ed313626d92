//! Test support shared by the test binaries that drive a master against a simulator.

#![allow(dead_code)]

pub mod bus;
pub mod dart;
