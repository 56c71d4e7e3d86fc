//! The rbox binary.
fn main() {}
