//! The demos of `examples/`, run on the host with their prints captured:
//! what `./qemu-run.sh wasm examples/<demo>.wat` shows on serial.

use super::{call, instance};
use core::cell::RefCell;
use kernel::wasm::Val::I32;
use std::rc::Rc;
use std::string::String;

/// Runs `main` of `wat`; its results and the lines it printed.
fn run(wat: &str) -> (std::vec::Vec<kernel::wasm::Val>, String) {
    let i = instance(wat);
    let out = Rc::new(RefCell::new(String::new()));
    let sink = out.clone();
    i.set_print(move |line| {
        let mut o = sink.borrow_mut();
        o.push_str(line);
        o.push('\n');
    });
    let results = call(&i, "main", &[]);
    let printed = out.borrow().clone();
    (results, printed)
}

#[test]
fn the_generator_demo_prints_five_squares_and_returns_their_sum() {
    let (results, printed) = run(include_str!("../../../examples/generator.wat"));
    assert_eq!(results, [I32(55)]);
    assert_eq!(printed, "1 : i32\n4 : i32\n9 : i32\n16 : i32\n25 : i32\n");
}

#[test]
fn the_scheduler_demo_interleaves_three_tasks_round_robin() {
    let (results, printed) = run(include_str!("../../../examples/scheduler.wat"));
    // 1 + 2 + 3 steps, plus one final resume of each task to its return.
    assert_eq!(results, [I32(9)]);
    let lines: std::vec::Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines,
        [
            "0 : i32", "10 : i32", "20 : i32", "11 : i32", "21 : i32", "22 : i32"
        ]
    );
}
