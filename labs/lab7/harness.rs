//! Lab 7's harness: minimal coroutines on stacks the kernel maps, run by
//! the student's switch and start trampoline (`docs/labs/lab7-switch.md`),
//! and the probes that catch what a wrong switch breaks.
//!
//! Why a harness of its own and not `kernel::cont`: the kernel's switch
//! is the one its runtime trusts, so the lab cannot swap it out; instead
//! it gives the student's assembly the same layout (a three-word control
//! context at `TOS-0x18`, RSP +0, RBP +8, RIP +16, exchanged in place),
//! on a slot of the kernel's continuation-stack pool, and runs little
//! coroutines with it. The one place the lab needs `unsafe` is here:
//! writing a fresh stack's top words, and calling assembly. The checker
//! (`check.rs`) and the student's file use only what this module offers.
//!
//! The layout of a fresh coroutine's stack (the kernel's, with two launch
//! words instead of four):
//!
//! ```text
//!  TOS-0x08   RIP  = lab7_start         \
//!  TOS-0x10   RBP  = TOS-0x10            > the control context (ctx)
//!  TOS-0x18   RSP  = TOS-0x30           /
//!  TOS-0x20   (unused, keeps the launch words 16-byte aligned)
//!  TOS-0x28   the entry's argument      launch word 2
//!  TOS-0x30   the entry's address       launch word 1  <- RSP
//! ```
//!
//! Every switch the checker makes goes through `lab7_switch_marked`,
//! which puts a distinct mark in each callee-saved register (RBX,
//! R12-R15) before it calls the student's `lab7_switch`, reads them and
//! RBP when the call returns, and then restores the caller's own from its
//! stack: a switch that loses a register is caught and named, and the
//! Rust code around it still runs.
#![allow(unsafe_code)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::cont::stack::{CONTROL_CONTEXT_OFFSET, CTX_RBP, CTX_RIP, CTX_RSP, RBP_OFFSET};
use kernel::cont::{ContStack, StackProvider};
use kernel::stacks::KernelStacks;

unsafe extern "sysv64" {
    /// The student's switch (`student.rs`).
    fn lab7_switch(ctx: *mut usize);
    /// The student's start trampoline (`student.rs`); only switched to.
    fn lab7_start();
    /// The harness's entry stub, below: what the trampoline calls.
    fn lab7_entry();
    /// The marked switch, below.
    fn lab7_switch_marked(ctx: *mut usize, marks: *const u64, out: *mut u64);
}

// The entry the student's trampoline calls, with the launch's address in
// RDI. It hands the RSP and RBP it found at its first instruction to the
// Rust entry, as its second and third arguments, and jumps there: a
// jump, so the Rust entry sees the same stack as if it had been called.
core::arch::global_asm!(
    ".text",
    ".globl lab7_entry",
    "lab7_entry:",
    "    mov rsi, rsp",
    "    mov rdx, rbp",
    "    jmp {entry}",
    entry = sym entry,
);

// The marked switch: RDI the context, RSI five marks, RDX seven words
// out (RBX, R12-R15 after the switch, RBP after it, RBP before it).
core::arch::global_asm!(
    ".text",
    ".globl lab7_switch_marked",
    "lab7_switch_marked:",
    // A frame of our own, and the caller's callee-saved registers kept
    // here; with RDX pushed too RSP is 16-byte aligned at the call.
    "    push rbp",
    "    mov rbp, rsp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    push rdx",
    // RBP before, then the marks into the callee-saved registers.
    "    mov [rdx + 48], rbp",
    "    mov rbx, [rsi]",
    "    mov r12, [rsi + 8]",
    "    mov r13, [rsi + 16]",
    "    mov r14, [rsi + 24]",
    "    mov r15, [rsi + 32]",
    // The student's switch, with the context still in RDI.
    "    call {switch}",
    // What came back: RDX from our stack (the switch may clobber it).
    "    pop rdx",
    "    mov [rdx], rbx",
    "    mov [rdx + 8], r12",
    "    mov [rdx + 16], r13",
    "    mov [rdx + 24], r14",
    "    mov [rdx + 32], r15",
    "    mov [rdx + 40], rbp",
    // The caller's registers back, by RSP, whatever RBP now is.
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    switch = sym lab7_switch,
);

/// The names of the marked registers, in `lab7_switch_marked`'s order.
const REGISTERS: [&str; 5] = ["rbx", "r12", "r13", "r14", "r15"];

/// Marks never used twice, so a register that comes back holding another
/// switch's mark is told from one that kept its own.
static NEXT_MARK: AtomicU64 = AtomicU64::new(1);

/// Switches through `ctx` with marks in the callee-saved registers, and
/// names the first register the switch did not keep.
fn switch_marked(ctx: *mut usize) -> Result<(), String> {
    let n = NEXT_MARK.fetch_add(1, Ordering::Relaxed);
    let marks: [u64; 5] = core::array::from_fn(|i| 0x5eed_0000_0000_0000 | (n << 8) | i as u64);
    let mut out = [0u64; 7];
    // SAFETY: `ctx` is the control context of a live coroutine stack
    // (`Coroutine::resume`) or of the running one (`Yielder`), holding a
    // point a switch can load: a fresh stack's start, or where its last
    // switch left. The marked switch keeps the caller's callee-saved
    // registers and RBP on its own stack and gives them back by RSP,
    // which the student's switch must bring back for any switch to work.
    unsafe { lab7_switch_marked(ctx, marks.as_ptr(), out.as_mut_ptr()) };
    for (i, name) in REGISTERS.iter().enumerate() {
        if out[i] != marks[i] {
            return Err(format!(
                "{name} held {:#x} before your switch and {:#x} when control came back: \
                 {name} is callee-saved, and a switch must give it back",
                marks[i], out[i]
            ));
        }
    }
    if out[5] != out[6] {
        return Err(format!(
            "RBP was {:#x} before your switch and {:#x} when control came back",
            out[6], out[5]
        ));
    }
    Ok(())
}

/// What a coroutine's stack carries to its entry: its body, its context,
/// and what the entry found.
/// A coroutine's body, run once.
type Body = Box<dyn FnOnce(&Yielder)>;

struct Launch {
    body: Cell<Option<Body>>,
    ctx: *mut usize,
    top: usize,
    started: Cell<bool>,
    finished: Cell<bool>,
    error: RefCell<Option<String>>,
}

impl Launch {
    fn fail(&self, why: String) {
        self.error.borrow_mut().get_or_insert(why);
    }
}

/// Where the student's trampoline lands (through `lab7_entry`): checks
/// the stack it was called on, runs the body, and returns into the
/// trampoline, which switches back to whoever resumed the coroutine.
extern "sysv64" fn entry(launch: *const Launch, rsp: usize, rbp: usize) {
    // SAFETY: the launch word is the `Launch` boxed by `Coroutine::new`,
    // which outlives the coroutine's every run (it is dropped with the
    // `Coroutine`, which never resumes it after that).
    let launch = unsafe { &*launch };
    launch.started.set(true);
    let top = launch.top;
    if !(rsp + 8).is_multiple_of(16) {
        launch.fail(format!(
            "the entry ran with RSP = {rsp:#x} (TOS-{:#x}): misaligned, {} bytes off; the \
             System V ABI wants RSP a multiple of 16 at the `call`, so RSP+8 one at the \
             callee's first instruction",
            top - rsp,
            (rsp + 8) % 16
        ));
    }
    if rbp != top - RBP_OFFSET {
        launch.fail(format!(
            "your start trampoline called the entry with RBP = {rbp:#x}, not TOS-0x10 \
             ({:#x}): the switch loads a fresh stack's RBP from its context, and the \
             trampoline keeps it there, so that its frame record is the context's RBP/RIP",
            top - RBP_OFFSET
        ));
        // The trampoline would read the parent's point through this RBP:
        // never return to it, only switch back, for good.
        loop {
            let _ = switch_marked(launch.ctx);
        }
    }
    if let Some(body) = launch.body.take() {
        body(&Yielder { launch });
    }
    launch.finished.set(true);
}

/// A coroutine's way back to whoever resumed it.
pub struct Yielder<'a> {
    launch: &'a Launch,
}

impl Yielder<'_> {
    /// Switches back to the code that resumed this coroutine; returns
    /// when it is resumed again. A broken switch is recorded and reported
    /// by that `resume`.
    pub fn yield_now(&self) {
        if let Err(why) = switch_marked(self.launch.ctx) {
            self.launch.fail(format!("in a yield: {why}"));
        }
    }
}

/// A coroutine: a body on a stack of its own, started by the student's
/// trampoline and moved to and from by the student's switch.
pub struct Coroutine {
    launch: Box<Launch>,
    stack: Option<ContStack>,
}

/// The size of a coroutine's stack.
const STACK_SIZE: usize = 64 * 1024;

impl Coroutine {
    /// A coroutine that will run `body` when first resumed, on a stack
    /// from the kernel's pool (top page mapped, the rest on first touch).
    pub fn new(body: impl FnOnce(&Yielder) + 'static) -> Result<Coroutine, String> {
        let stack = KernelStacks
            .allocate(STACK_SIZE, core::ptr::null())
            .map_err(|e| format!("no stack for a coroutine: {e:?}"))?;
        let top = stack.top() as usize;
        let ctx = (top - CONTROL_CONTEXT_OFFSET) as *mut usize;
        let launch = Box::new(Launch {
            body: Cell::new(Some(Box::new(body))),
            ctx,
            top,
            started: Cell::new(false),
            finished: Cell::new(false),
            error: RefCell::new(None),
        });
        let words = [
            (CONTROL_CONTEXT_OFFSET - CTX_RSP, top - 0x30),
            (CONTROL_CONTEXT_OFFSET - CTX_RBP, top - RBP_OFFSET),
            (
                CONTROL_CONTEXT_OFFSET - CTX_RIP,
                lab7_start as *const () as usize,
            ),
            (0x28, &*launch as *const Launch as usize),
            (0x30, lab7_entry as *const () as usize),
        ];
        for (below, value) in words {
            // SAFETY: the stack's top page is mapped by the pool when it
            // hands the stack out, and ours until it is freed; every word
            // written is in it, 8-byte aligned.
            unsafe { ((top - below) as *mut usize).write(value) };
        }
        Ok(Coroutine {
            launch,
            stack: Some(stack),
        })
    }

    /// The stack slot the coroutine runs on.
    pub fn slot(&self) -> Option<usize> {
        kernel::stacks::slot_of(x86_64::VirtAddr::new(self.launch.top as u64 - 1))
    }

    /// Switches to the coroutine until it yields (`Ok(false)`) or returns
    /// (`Ok(true)`); `Err` names what the switch or the trampoline got
    /// wrong.
    pub fn resume(&mut self) -> Result<bool, String> {
        if self.launch.finished.get() {
            return Err(String::from("resumed a coroutine that has returned"));
        }
        if let Some(why) = self.launch.error.borrow().clone() {
            return Err(why);
        }
        let switched = switch_marked(self.launch.ctx);
        if let Some(why) = self.launch.error.borrow().clone() {
            return Err(why);
        }
        switched?;
        if !self.launch.started.get() {
            return Err(String::from(
                "your switch returned to its caller without switching: the coroutine never ran",
            ));
        }
        Ok(self.launch.finished.get())
    }
}

impl Drop for Coroutine {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            KernelStacks.free(stack);
        }
    }
}
