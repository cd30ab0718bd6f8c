//! Lab 8, a WRONG solution (`labs-check` requires it to fail): the end of
//! interrupt is sent only on the ticks where the alarm fires, as if it
//! belonged to the alarm. The first tick does not fire, so it is never
//! ended: the APIC keeps it in service and delivers no other tick.
//!
//! Expected: only 1 tick arrived

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
        self.since += 1;
        if self.since == self.period {
            self.since = 0;
            eoi.send();
            return true;
        }
        false
    }
}
