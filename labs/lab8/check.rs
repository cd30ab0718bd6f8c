//! Lab 8's checker: the student's alarm at the end of the kernel's tick
//! (`docs/labs/lab8-alarm.md`).
//!
//! The checker registers its own function as the kernel's tick hook
//! (`kernel::lab_hooks::set_tick_hook`): after the kernel's tick has
//! counted and decided on preemption, it counts the tick it saw and calls
//! the student's `Alarm::on_tick` with the tick's end of interrupt, and
//! notes at which of its ticks the alarm fired. Three alarms, of periods
//! 3, 1 and 5, each made fresh and run on the timer (1 ms period) until
//! enough ticks have come for it to fire a few times, or for the time of
//! many more: the alarm must fire at exactly the multiples of its period,
//! and the ticks must keep coming, which they do only if every tick's end
//! of interrupt was sent. Ticks are counted by the hook, not by time, so
//! the verdict does not depend on how fast QEMU runs.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use core::time::Duration;
use kernel::lab_hooks::{self, Eoi};
use kernel::sync::Mutex;
use kernel::timer;
use labs::say;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab8.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab8.rs")]
mod student;

labs::lab!(8, "an alarm on the timer's tick", check, timer);

/// The timer's period.
const PERIOD: Duration = Duration::from_millis(1);

/// The alarm the ticks go to (`None`: none; the hook then ends the tick
/// itself).
static ALARM: Mutex<Option<student::Alarm>> = Mutex::new("lab 8 alarm", None);
/// Ticks the hook saw since the alarm was made.
static SEEN: AtomicU64 = AtomicU64::new(0);
/// The ticks (of `SEEN`) at which the alarm fired: the first `FIRES_KEPT`.
const FIRES_KEPT: usize = 16;
static FIRED_AT: [AtomicU64; FIRES_KEPT] = [const { AtomicU64::new(0) }; FIRES_KEPT];
static FIRED: AtomicUsize = AtomicUsize::new(0);

/// The kernel's tick hook: runs at the end of every tick, interrupts off.
fn tick(eoi: Eoi) {
    let n = SEEN.fetch_add(1, Relaxed) + 1;
    let Some(mut alarm) = ALARM.try_lock() else {
        eoi.send();
        return;
    };
    let Some(alarm) = alarm.as_mut() else {
        eoi.send();
        return;
    };
    if alarm.on_tick(eoi) {
        let i = FIRED.fetch_add(1, Relaxed);
        if let Some(at) = FIRED_AT.get(i) {
            at.store(n, Relaxed);
        }
    }
}

fn check() -> Result<(), String> {
    lab_hooks::set_tick_hook(tick)
        .map_err(|_| String::from("a tick hook was already set this boot"))?;
    run(3, 5)?;
    run(1, 4)?;
    run(5, 3)?;
    Ok(())
}

/// Runs a fresh alarm of `period` ticks until it should have fired
/// `fires` times (and a period more, to see it not fire early or late),
/// or for the time of many more ticks; checks where it fired.
fn run(period: u64, fires: usize) -> Result<(), String> {
    let every = if period == 1 {
        String::from("every tick")
    } else {
        format!("every {period} ticks")
    };
    *ALARM.lock() = Some(student::Alarm::new(period));
    SEEN.store(0, Relaxed);
    FIRED.store(0, Relaxed);
    let ticks = period * fires as u64 + period - 1;
    let budget = 20 * ticks + 100;
    let deadline = timer::tsc() + labs::tsc_per(PERIOD * budget as u32);
    labs::start_ticking(PERIOD).map_err(|e| format!("the timer did not start: {e:?}"))?;
    while SEEN.load(Relaxed) < ticks && timer::tsc() < deadline {
        core::hint::spin_loop();
    }
    labs::stop_ticking().map_err(|e| format!("the timer did not stop: {e:?}"))?;
    *ALARM.lock() = None;
    let seen = SEEN.load(Relaxed);
    if seen < ticks {
        return Err(match seen {
            0 => format!("alarm {every}: no tick arrived in the time of {budget} ticks"),
            1 => format!(
                "alarm {every}: only 1 tick arrived in the time of {budget} ticks: the APIC \
                 delivers no tick while one is in service, and a tick is in service until \
                 its end of interrupt is sent (eoi.send()), on every tick"
            ),
            n => format!(
                "alarm {every}: only {n} ticks arrived in the time of {budget} ticks: was an end of \
                 interrupt not sent?"
            ),
        });
    }
    let got: Vec<u64> = FIRED_AT[..FIRED.load(Relaxed).min(FIRES_KEPT)]
        .iter()
        .map(|a| a.load(Relaxed))
        .collect();
    let want: Vec<u64> = (1..=seen / period)
        .map(|k| k * period)
        .take(FIRES_KEPT)
        .collect();
    let list = |v: &[u64]| {
        let mut s: Vec<String> = v.iter().map(|t| format!("{t}")).collect();
        if s.is_empty() {
            s.push(String::from("none"));
        }
        s.join(", ")
    };
    if got != want {
        return Err(format!(
            "the alarm {every} fired at ticks {} of the {seen} it saw; it should fire at \
             ticks {}",
            list(&got),
            list(&want)
        ));
    }
    say!("alarm {every}: fired at ticks {}", list(&want[..fires]));
    Ok(())
}
