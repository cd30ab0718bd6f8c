//! Lab 8, a WRONG solution (`labs-check` requires it to fail): the count
//! is compared with `>` where `==` belongs, so the alarm waits one tick
//! more than its period every time: with period 3 it fires at ticks 4,
//! 8, 12.
//!
//! Expected: it should fire at ticks 3, 6, 9

use kernel::lab_hooks::Eoi;

pub struct Alarm {
    period: u64,
    since: u64,
}

impl Alarm {
    pub fn new(period: u64) -> Alarm {
        Alarm { period, since: 0 }
    }

    pub fn on_tick(&mut self, eoi: Eoi) -> bool {
        eoi.send();
        self.since += 1;
        if self.since > self.period {
            self.since = 0;
            return true;
        }
        false
    }
}
