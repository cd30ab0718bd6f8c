//! Lab 8, YOUR FILE: the end of the timer's tick path: an alarm that
//! fires every `period` ticks, and the end of interrupt. The task, hints
//! and the output the checker expects are in `docs/labs/lab8-alarm.md`;
//! `check.rs` next to this file is the checker (read it, do not edit
//! it).
//!
//! Run the checker with `./qemu-run.sh lab 8`.

use kernel::lab_hooks::Eoi;

/// An alarm's state between ticks: choose its fields.
pub struct Alarm {}

impl Alarm {
    /// An alarm that fires every `period` ticks (`period` ≥ 1), counting
    /// from the first tick after it is made: with period 3, at the 3rd
    /// tick, the 6th, the 9th...
    pub fn new(period: u64) -> Alarm {
        let _ = period;
        Alarm {}
    }

    /// Called on every tick, in the interrupt handler, with interrupts
    /// off: returns whether the alarm fires at this tick. `eoi` is the
    /// tick's end of interrupt, which the handler owes the local APIC.
    pub fn on_tick(&mut self, eoi: Eoi) -> bool {
        let _ = eoi;
        false
    }
}
