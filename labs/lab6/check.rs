//! Lab 6's checker: a frame-pointer walk across continuation stacks
//! (`docs/labs/lab6-backtrace.md`).
//!
//! The checker builds a chain of three continuations (the kernel resumes
//! `level_one`'s, which resumes `level_two`'s, which resumes
//! `level_three`'s) and, at the bottom of a few calls inside the
//! innermost, takes a snapshot of the chain's stacks
//! (`labs::snapshot::ChainSnapshot`) and hands it, with its own frame
//! pointer, to the student's `backtrace`. It walks the same frames with
//! the kernel's own walk (`Store::walk_here`, `kernel/src/cont/machine/walk.rs`)
//! and compares the two frame by frame: the record's address, the return
//! address, and the stack the return address returns into, up to and
//! including the first frame that returns into the kernel's stack. It runs
//! the chain twice, the second time with the stacks handed out in the
//! other order (a parent's stack above its child's, then below it), so
//! that a walk cannot lean on the direction in which it crosses.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::hint::black_box;
use kernel::cont::dynamic::{ContObj, Resumed};
use kernel::cont::walk::Frame;
use kernel::cont::{Store, Trap};
use kernel::stacks::KernelStacks;
use labs::say;
use labs::snapshot::ChainSnapshot;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab6.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab6.rs")]
mod student;

labs::lab!(6, "a backtrace across continuation stacks", check);

/// What the innermost level found: the student's walk and the kernel's.
type Walks = Rc<RefCell<Option<(Vec<Frame>, Vec<Frame>)>>>;

fn check() -> Result<(), String> {
    for run in 0..2 {
        let s = Store::new(KernelStacks, 64 * 1024);
        let walks: Walks = Rc::default();
        let chain = build_chain(&s, walks.clone(), run == 1).map_err(|t| format!("{t}"))?;
        say!("chain {}: {}", run + 1, chain.1);
        match s.resume::<(), ()>(chain.0, (), &[]) {
            Ok(Resumed::Returned(())) => {}
            Ok(_) => return Err(String::from("the chain suspended")),
            Err(t) => return Err(format!("the chain trapped: {t}")),
        }
        let Some((got, want)) = walks.borrow_mut().take() else {
            return Err(String::from("the innermost level did not run"));
        };
        compare(&got, &want, &labels(&want))?;
        if run == 0 {
            for (i, f) in want.iter().enumerate() {
                say!(
                    "frame {i}: {}, in {}",
                    labels(&want)[i],
                    function(f.return_address)
                );
            }
        } else {
            say!(
                "the same {} frames, and yours matched them again",
                want.len()
            );
        }
    }
    Ok(())
}

/// Makes the three levels' continuations and returns the outermost, and a
/// sentence on where their stacks lie. The three are made first, from one
/// function, then given their places in the chain by where their stacks
/// lie: with `reversed`, the outermost on the highest stack.
fn build_chain(s: &Store, walks: Walks, reversed: bool) -> Result<(ContObj, String), Trap> {
    let level = s.func_wrap(
        move |s: &Store, (inner, n): (ContObj, i32)| -> Result<(), Trap> {
            match n {
                1 => level_one(s, inner),
                2 => level_two(s, inner),
                _ => {
                    level_three(s, &walks);
                    Ok(())
                }
            }
        },
    )?;
    let mut ks = [s.cont_new(level)?, s.cont_new(level)?, s.cont_new(level)?];
    ks.sort_by_key(|&k| s.stack_top(k));
    if reversed {
        ks.reverse();
    }
    let [k1, k2, k3] = ks;
    let k3 = s.bind(k3, (ContObj::NULL, 3))?;
    let k2 = s.bind(k2, (k3, 2))?;
    let k1 = s.bind(k1, (k2, 1))?;
    let order = if reversed {
        "each parent's stack above its child's"
    } else {
        "each parent's stack below its child's"
    };
    Ok((k1, String::from(order)))
}

#[inline(never)]
fn level_one(s: &Store, inner: ContObj) -> Result<(), Trap> {
    match s.resume::<(), ()>(inner, (), &[])? {
        Resumed::Returned(()) => Ok(()),
        Resumed::Suspended { .. } => Err(Trap::guest("level two suspended")),
    }
}

#[inline(never)]
fn level_two(s: &Store, inner: ContObj) -> Result<(), Trap> {
    match s.resume::<(), ()>(inner, (), &[])? {
        Resumed::Returned(()) => Ok(()),
        Resumed::Suspended { .. } => Err(Trap::guest("level three suspended")),
    }
}

#[inline(never)]
fn level_three(s: &Store, walks: &Walks) {
    black_box(deeper(s, walks, black_box(2)));
}

/// A few frames more on the innermost stack.
#[inline(never)]
fn deeper(s: &Store, walks: &Walks, n: u32) -> u32 {
    if n == 0 {
        probe(s, walks);
        return 0;
    }
    black_box(deeper(s, walks, n - 1)) + 1
}

/// Walks from here twice: the student's walk over a snapshot, from this
/// function's frame pointer, and the kernel's (whose first frame is
/// `walk_here`'s own record, one below this function's).
#[inline(never)]
fn probe(s: &Store, walks: &Walks) {
    let fp = kernel::cont::switch::frame_pointer();
    let snapshot = ChainSnapshot::here(s);
    let got = student::backtrace(&snapshot, fp);
    let mut want = Vec::new();
    s.walk_here(|f| {
        want.push(f);
        f.stack_top != 0
    });
    if !want.is_empty() {
        want.remove(0);
    }
    *walks.borrow_mut() = Some((got, want));
}

/// Where each frame of the kernel's walk returns into: `continuation 3`
/// (the innermost), 2, 1, or `the kernel's stack`.
fn labels(want: &[Frame]) -> Vec<String> {
    let mut tops: Vec<usize> = Vec::new();
    for f in want {
        if f.stack_top != 0 && !tops.contains(&f.stack_top) {
            tops.push(f.stack_top);
        }
    }
    want.iter()
        .map(|f| match tops.iter().position(|&t| t == f.stack_top) {
            Some(i) => format!("continuation {}", tops.len() - i),
            None => String::from("the kernel's stack"),
        })
        .collect()
}

/// The name of the function a return address returns into, without its
/// hash, and with a generic's arguments cut to `<..>`.
fn function(addr: usize) -> String {
    let Some(l) = kernel::symbols::lookup_frame(addr, true) else {
        return String::from("?");
    };
    let name = format!("{}", kernel::symbols::Name(l.symbol.name));
    match name.find("::<") {
        Some(i) => format!("{}::<..>", &name[..i]),
        None => name,
    }
}

/// The student's walk against the kernel's, frame by frame.
fn compare(got: &[Frame], want: &[Frame], labels: &[String]) -> Result<(), String> {
    for (i, w) in want.iter().enumerate() {
        let Some(g) = got.get(i) else {
            let last = match i.checked_sub(1) {
                Some(j) => format!("after frame {j}, which returns into {}", labels[j]),
                None => String::from("before its first frame"),
            };
            return Err(format!(
                "your walk stopped {last}; the kernel's goes on: frame {i} (record at {:#x}) \
                 returns into {} at {:#x}",
                w.fp, labels[i], w.return_address
            ));
        };
        if g.fp != w.fp || g.return_address != w.return_address {
            return Err(format!(
                "frame {i}: your walk found the record at {:#x} returning to {:#x}, the kernel's \
                 at {:#x} returning to {:#x}",
                g.fp, g.return_address, w.fp, w.return_address
            ));
        }
        if g.stack_top != w.stack_top {
            return Err(format!(
                "frame {i} (record at {:#x}): your walk says it returns into the stack whose top \
                 is {:#x}, the kernel's says {:#x}, {}: a start trampoline's record lies on its \
                 continuation's stack but returns into the parent",
                g.fp, g.stack_top, w.stack_top, labels[i]
            ));
        }
    }
    if let Some(extra) = got.get(want.len()) {
        return Err(format!(
            "your walk goes on past the first frame that returns into the kernel's stack: \
             frame {} (record at {:#x})",
            want.len(),
            extra.fp
        ));
    }
    Ok(())
}
