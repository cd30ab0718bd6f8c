//! Trap reports kept beside the trap (`trace`, `report`): a report must
//! print the same text after the ring of traces moves on, after its store
//! is gone, and when its writer suspends or fails midway.

use super::*;

/// The text of `trap`'s report.
fn report_text(trap: &Trap) -> String {
    trap.report().to_string()
}

/// A report made from a trap holds a copy of its full backtrace: formatted
/// after twice as many later traps as the ring keeps, it prints the same
/// text as before them, while the trap itself no longer finds its walk.
#[test]
fn a_report_made_before_the_ring_moves_on_prints_the_same_text_after_it() {
    let trap = Trap::guest("kept");
    let report = trap.report();
    let first = report.to_string();
    for _ in 0..2 * kernel::cont::trace::TRACES {
        black_box(Trap::guest("later"));
    }
    assert!(trap.backtrace().trace().is_none());
    assert_eq!(report.to_string(), first);
    assert!(
        first.starts_with("trap: Guest: kept\n  kernel stack:\n"),
        "{first}"
    );
}

/// A guest formats a report a line at a time into a writer that suspends
/// to the kernel after each line; in between, the kernel raises more traps
/// than the ring keeps. The finished text is the one a single formatting
/// made before.
#[test]
fn a_report_formatted_by_a_guest_that_suspends_at_every_line_is_whole_after_nine_traps_between() {
    struct Suspending<'a> {
        s: &'a Store,
        t: Tag,
        out: String,
    }
    impl core::fmt::Write for Suspending<'_> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            self.out.push_str(text);
            if text.ends_with('\n') {
                self.s
                    .suspend::<(), ()>(self.t, ())
                    .map_err(|_| core::fmt::Error)?;
            }
            Ok(())
        }
    }
    let s = shared();
    let t = s.tag_new(&[], &[]).unwrap();
    let b = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("deep")) })
        .unwrap();
    let kb = s.cont_new(b).unwrap();
    let trap = s.resume::<(), ()>(kb, (), &[]).unwrap_err();
    let expected = report_text(&trap);
    let out: Rc<RefCell<String>> = Rc::default();
    let o = out.clone();
    let g = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let report = trap.report();
            let mut w = Suspending {
                s,
                t,
                out: String::new(),
            };
            let ok = core::fmt::write(&mut w, format_args!("{report}")).is_ok();
            *o.borrow_mut() = w.out;
            Ok(ok as i32)
        })
        .unwrap();
    let mut k = s.cont_new(g).unwrap();
    let mut lines = 0;
    loop {
        match s.resume::<(), i32>(k, (), &[Handler::suspend(t)]) {
            Ok(Resumed::Suspended { cont, .. }) => {
                lines += 1;
                for _ in 0..kernel::cont::trace::TRACES + 1 {
                    black_box(Trap::guest("in between"));
                }
                k = cont;
            }
            Ok(Resumed::Returned(ok)) => {
                assert_eq!(ok, 1);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(*out.borrow(), expected);
    assert_eq!(lines, expected.lines().count());
}

/// The report of a trap of a store that has since been dropped (its
/// stacks unmapped and gone) formats without reading any of them: the
/// same text as while the store lived.
#[test]
fn the_report_of_a_trap_from_a_dropped_stores_continuation_formats_the_same_text() {
    let s = store();
    let bad = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("gone")) })
        .unwrap();
    let k = s.cont_new(bad).unwrap();
    let trap = s.resume::<(), ()>(k, (), &[]).unwrap_err();
    let while_alive = report_text(&trap);
    drop(s);
    // Other stores reuse nothing of it, but make some anyway.
    let others: Vec<Pin<Box<Store>>> = (0..3).map(|_| store()).collect();
    assert_eq!(report_text(&trap), while_alive);
    assert!(
        while_alive.starts_with("trap: Guest: gone\n"),
        "{while_alive}"
    );
    drop(others);
}

/// A report written into a writer that refuses after a few bytes returns
/// that error and nothing else happens: the next report of the same trap
/// is whole.
#[test]
fn a_report_into_a_writer_that_fails_midway_returns_the_error_and_the_next_is_whole() {
    struct Refuses(usize);
    impl core::fmt::Write for Refuses {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            if self.0 < s.len() {
                return Err(core::fmt::Error);
            }
            self.0 -= s.len();
            Ok(())
        }
    }
    let trap = Trap::guest("refused");
    let whole = report_text(&trap);
    for budget in [0, 5, 30] {
        let r = core::fmt::write(&mut Refuses(budget), format_args!("{}", trap.report()));
        assert_eq!(r, Err(core::fmt::Error), "budget {budget}");
    }
    assert_eq!(report_text(&trap), whole);
}
