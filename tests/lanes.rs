//! A computation a preempted guest runs, shared by the `timer` and
//! `preempt` suites: four lanes of xorshift, mixed at every step, so a
//! register that a tick failed to save or restore shows in the result.
//! Not a suite of its own: each suite includes it as a module.

/// One step of the computation.
pub fn step(lanes: [u64; 4]) -> [u64; 4] {
    let mut out = [0; 4];
    for (i, &x) in lanes.iter().enumerate() {
        let mut x = x;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = x.wrapping_add(lanes[(i + 1) % 4]);
    }
    out
}

/// The lanes a computation starts from.
pub const SEED: [u64; 4] = [1, 2, 3, 4];

/// The lanes folded into one value to compare.
pub fn checksum(lanes: [u64; 4]) -> i64 {
    (lanes[0] ^ lanes[1].rotate_left(16) ^ lanes[2].rotate_left(32) ^ lanes[3].rotate_left(48))
        as i64
}
