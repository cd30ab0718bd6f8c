//! Lab 8, a WRONG solution (`labs-check` requires it to fail): counts the
//! ticks since the alarm was made and fires when the count is the
//! period, but never starts the count again: the alarm fires once.
//!
//! Expected: it should fire at ticks 3, 6, 9

use kernel::lab_hooks::Eoi;

pub struct Alarm {
    period: u64,
    ticks: u64,
}

impl Alarm {
    pub fn new(period: u64) -> Alarm {
        Alarm { period, ticks: 0 }
    }

    pub fn on_tick(&mut self, eoi: Eoi) -> bool {
        eoi.send();
        self.ticks += 1;
        self.ticks == self.period
    }
}
