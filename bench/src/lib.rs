//! Empty library of the `bench` crate: the benchmarks live in
//! `benches/host.rs`.
//!
//! Cargo wants a target in every package; an empty library is the smallest
//! one, and keeps `cargo build --workspace` from building anything here.
