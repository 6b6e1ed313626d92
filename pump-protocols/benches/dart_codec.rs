//! Criterion benchmarks for the DART codec.
fn main() {}
