//! The `forecourtd` command line.

fn main() {}
