//! WASI preview 1 (`wasi_snapshot_preview1`): the system calls that
//! programs from stock toolchains make, so that `rustc --target
//! wasm32-wasip1` and `zig cc -target wasm32-wasi` binaries run unmodified.
//!
//! Why this subset: a `std` Rust program or a libc C program touches only
//! these before it does real I/O: its command line and environment
//! (`args_*`, `environ_*`), its standard streams (`fd_write`, `fd_read`,
//! `fd_close`, `fd_seek`, `fd_fdstat_get`), the preopened directories it
//! looks for at start (`fd_prestat_*`: there are none here), the clocks,
//! `random_get` (a `HashMap`'s seed), `sched_yield` and `proc_exit`. Every
//! other function of the module links to [`WasiFunc::Unsupported`], which
//! returns `ENOSYS` (52): a program that probes for a file system learns
//! there is none, it does not fail to load or trap.
//!
//! The rules every call follows (Wasmtime's preview-1 implementation is
//! the anchor for the semantics):
//!
//! * Pointers are offsets into the instance's linear memory. A range that
//!   does not fit in it, including one whose end wraps past 2^32, is
//!   `EFAULT` (21), never a trap and never a kernel access outside the
//!   memory. Alignment is not required.
//! * The descriptors are 0, 1 and 2 (stdin, stdout, stderr) until closed;
//!   any other number is `EBADF` (8). Writes to 1 and 2 go to the serial
//!   console (or to a buffer, [`Instance::capture_wasi_output`]); stdin is
//!   empty (reads return 0 bytes). A seek on them is `ESPIPE` (70).
//!   A write the capture buffer has no room for (the store's heap quota
//!   refuses it) is `ENOMEM` (48) and keeps nothing of it: the buffer
//!   grows only by fallible reservations, because an allocation failure
//!   that trapped here would abandon this call's borrows of the memory
//!   and the buffer, and every later use of the instance would panic.
//! * Clocks: every clock id 0-3 reads the time-stamp counter, one tick
//!   counted as one nanosecond (a nominal 1 GHz; the realtime clock is the
//!   time since boot, not the date). Under QEMU's `-icount shift=0` (the
//!   benchmark's setting) a tick is one guest instruction, so the numbers
//!   are instruction counts. Resolution: 1 ns.
//! * `random_get` fills from xorshift64*, seeded with a fixed constant:
//!   the same bytes on every run, *not* cryptographic.
//! * `proc_exit(code)` records the code and unwinds the program with the
//!   trap [`PROC_EXIT`]: every interpreted frame returns normally, in a
//!   continuation too, and the caller ([`start`]) reads the code back.

use super::instance::Instance;
use super::trap::{self, Unwind, wasm_trap};
use crate::cont::ValType::{self, I32, I64};
use crate::cont::{ValRaw, raw};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::ops::Range;

/// The import module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The trap message `proc_exit` unwinds with.
pub const PROC_EXIT: &str = "wasi proc_exit";

/// The errno values this layer returns (WASI's numbering).
pub mod errno {
    pub const SUCCESS: i32 = 0;
    pub const AGAIN: i32 = 6;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const NOMEM: i32 = 48;
    pub const NOSYS: i32 = 52;
    pub const SPIPE: i32 = 70;
}

/// A function of `wasi_snapshot_preview1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasiFunc {
    ArgsGet,
    ArgsSizesGet,
    EnvironGet,
    EnvironSizesGet,
    FdWrite,
    FdRead,
    FdClose,
    FdSeek,
    FdFdstatGet,
    FdPrestatGet,
    FdPrestatDirName,
    ClockTimeGet,
    ClockResGet,
    RandomGet,
    SchedYield,
    ProcExit,
    /// Any other name: returns `ENOSYS`.
    Unsupported,
}

impl WasiFunc {
    /// The function `wasi_snapshot_preview1.name`.
    pub fn named(name: &str) -> WasiFunc {
        use WasiFunc::*;
        match name {
            "args_get" => ArgsGet,
            "args_sizes_get" => ArgsSizesGet,
            "environ_get" => EnvironGet,
            "environ_sizes_get" => EnvironSizesGet,
            "fd_write" => FdWrite,
            "fd_read" => FdRead,
            "fd_close" => FdClose,
            "fd_seek" => FdSeek,
            "fd_fdstat_get" => FdFdstatGet,
            "fd_prestat_get" => FdPrestatGet,
            "fd_prestat_dir_name" => FdPrestatDirName,
            "clock_time_get" => ClockTimeGet,
            "clock_res_get" => ClockResGet,
            "random_get" => RandomGet,
            "sched_yield" => SchedYield,
            "proc_exit" => ProcExit,
            _ => Unsupported,
        }
    }

    /// Its parameters (`None`: any, for [`WasiFunc::Unsupported`]).
    pub fn params(self) -> Option<&'static [ValType]> {
        use WasiFunc::*;
        Some(match self {
            ArgsGet | ArgsSizesGet | EnvironGet | EnvironSizesGet => &[I32, I32],
            FdWrite | FdRead => &[I32, I32, I32, I32],
            FdClose | ProcExit => &[I32],
            FdSeek => &[I32, I64, I32, I32],
            FdFdstatGet | FdPrestatGet | ClockResGet | RandomGet => &[I32, I32],
            FdPrestatDirName => &[I32, I32, I32],
            ClockTimeGet => &[I32, I64, I32],
            SchedYield => &[],
            Unsupported => return None,
        })
    }

    /// Whether an import of this function with type `params -> results`
    /// links: the exact preview-1 signature (an errno result, none for
    /// `proc_exit`); an unknown name with any params and an `i32` result.
    pub fn accepts(self, params: &[ValType], results: &[ValType]) -> bool {
        let want: &[ValType] = if self == WasiFunc::ProcExit {
            &[]
        } else {
            &[I32]
        };
        results == want && self.params().is_none_or(|p| p == params)
    }
}

/// An instance's WASI state: the command line and environment it was
/// given, which of its standard descriptors are closed, the random
/// generator, and the code `proc_exit` left.
pub(crate) struct Wasi {
    /// Read by a clone of the `Rc`, so that no borrow is held while a
    /// call copies them (a preempted call would keep it, and
    /// [`Instance::set_wasi_args`] would then panic).
    args: RefCell<Rc<Vec<Vec<u8>>>>,
    env: RefCell<Rc<Vec<Vec<u8>>>>,
    /// Bit `fd` set: descriptor `fd` (0-2) was closed.
    closed: Cell<u8>,
    rng: Cell<u64>,
    exit: Cell<Option<u32>>,
    /// `Some`: what the program writes to 1 and 2 is kept here instead.
    captured: RefCell<Option<Vec<u8>>>,
}

/// The seed of `random_get`'s generator (any odd constant would do).
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl Default for Wasi {
    fn default() -> Wasi {
        Wasi {
            args: RefCell::new(Rc::new(Vec::new())),
            env: RefCell::new(Rc::new(Vec::new())),
            closed: Cell::new(0),
            rng: Cell::new(SEED),
            exit: Cell::new(None),
            captured: RefCell::new(None),
        }
    }
}

impl Instance {
    /// Gives the program its command line (its name first) and its
    /// environment (`NAME=value` strings).
    pub fn set_wasi_args(&self, args: Vec<Vec<u8>>, env: Vec<Vec<u8>>) {
        *self.wasi.args.borrow_mut() = Rc::new(args);
        *self.wasi.env.borrow_mut() = Rc::new(env);
    }

    /// The code the program passed to `proc_exit`, if it called it.
    pub fn wasi_exit_code(&self) -> Option<u32> {
        self.wasi.exit.get()
    }

    /// From now on, keeps what the program writes to stdout and stderr
    /// (both, in order) instead of sending it to the serial console.
    /// (The buffer is held only by a write that is adding to it, one a
    /// preemption stopped midway: output is then captured already.)
    pub fn capture_wasi_output(&self) {
        if let Ok(mut kept) = self.wasi.captured.try_borrow_mut() {
            kept.get_or_insert_with(Vec::new);
        }
    }

    /// What was kept since [`Instance::capture_wasi_output`], emptied.
    /// Nothing while a write a preemption stopped midway is adding to the
    /// buffer: what was kept comes with a later call.
    pub fn take_wasi_output(&self) -> Vec<u8> {
        match self.wasi.captured.try_borrow_mut() {
            Ok(mut kept) => kept.as_mut().map(core::mem::take).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }
}

/// How a program run by [`start`] ended, when it did not end normally.
#[derive(Debug, PartialEq, Eq)]
pub enum RunError {
    /// It exports neither `_start` nor `main` as a function `[] -> []` or
    /// `[] -> [i32]`.
    NoEntry,
    /// It trapped: the reason, in the specification's words.
    Trap(&'static str),
}

/// Runs the program: its exported `_start` (or else `main`), on a
/// continuation of the instance's store. Its exit code: `proc_exit`'s,
/// else what `main` returned (for `[] -> [i32]`), else 0. Each run starts
/// with no exit code: one an earlier run left is forgotten, so a run that
/// traps is a trap, and [`Instance::wasi_exit_code`] answers for the last
/// run only.
pub fn start(inst: &Instance) -> Result<u32, RunError> {
    inst.wasi.exit.set(None);
    let m = &inst.module;
    let f = ["_start", "main"]
        .iter()
        .find_map(|n| m.exported_func(n))
        .ok_or(RunError::NoEntry)?;
    let sig = m.funcs[f as usize].sig;
    if !sig.params.is_empty() || !(sig.results.is_empty() || sig.results == [I32]) {
        return Err(RunError::NoEntry);
    }
    let func = inst
        .link(f)
        .map_or(inst.funcs[f as usize], |(other, g)| other.funcs[g as usize])
        .ok_or(RunError::NoEntry)?;
    let ended = |t: crate::cont::Trap| match inst.wasi.exit.get() {
        Some(code) => Ok(code),
        None => Err(RunError::Trap(trap::reason(&t))),
    };
    let k = match inst.store.cont_new(func) {
        Ok(k) => k,
        Err(t) => return ended(t),
    };
    let mut results = [ValRaw::ZERO; crate::cont::MAX_VALUES];
    let mut run = || {
        // SAFETY: no arguments, so no slot claims to hold a continuation.
        unsafe { inst.store.resume_raw(k, &[], &[], &[], &mut results) }
    };
    // A deadline, if the instance has one: its safe points then trap.
    let r = match inst.tick_budget.get() {
        Some(ticks) => crate::cont::runtime::epoch::with_deadline(ticks, run),
        None => run(),
    };
    match r {
        Ok(raw::Resumed::Returned(types)) if types == [I32] => Ok(results[0].i32() as u32),
        Ok(raw::Resumed::Returned(_)) => Ok(0),
        // No handler was installed, so nothing can suspend to here.
        Ok(raw::Resumed::Suspended { .. }) => Err(RunError::Trap(trap::UNHANDLED)),
        Err(t) => ended(t),
    }
}

/// Calls `f` with `args` (of its params' types); its errno result, or
/// none for `proc_exit`, which unwinds with [`PROC_EXIT`].
#[cold]
#[inline(never)]
pub(crate) fn call(inst: &Instance, f: WasiFunc, args: &[ValRaw]) -> Result<i32, Unwind> {
    let w = &inst.wasi;
    let a = |i: usize| args[i].i32() as u32;
    let mut memory = trap::shared_mut(&inst.memory)?;
    let mut mem = Mem(&mut memory);
    use WasiFunc::*;
    let r = match f {
        ArgsGet => strings(&mut mem, &w.args.borrow().clone(), a(0), a(1)),
        ArgsSizesGet => sizes(&mut mem, &w.args.borrow().clone(), a(0), a(1)),
        EnvironGet => strings(&mut mem, &w.env.borrow().clone(), a(0), a(1)),
        EnvironSizesGet => sizes(&mut mem, &w.env.borrow().clone(), a(0), a(1)),
        FdWrite => fd_write(w, &mut mem, a(0), a(1), a(2), a(3)),
        FdRead => fd_read(w, &mut mem, a(0), a(1), a(2), a(3)),
        FdClose => w
            .stdio(a(0))
            .map(|fd| w.closed.set(w.closed.get() | 1 << fd)),
        FdSeek => w.stdio(a(0)).and(Err(errno::SPIPE)),
        FdFdstatGet => fdstat(w, &mut mem, a(0), a(1)),
        FdPrestatGet | FdPrestatDirName => Err(errno::BADF),
        ClockResGet => clock(&mut mem, a(0), a(1), 1),
        ClockTimeGet => clock(&mut mem, a(0), a(2), now_ns()),
        RandomGet => random(w, &mut mem, a(0), a(1)),
        SchedYield => Ok(()),
        ProcExit => {
            w.exit.set(Some(a(0)));
            return Err(wasm_trap(PROC_EXIT));
        }
        Unsupported => Err(errno::NOSYS),
    };
    Ok(r.err().unwrap_or(errno::SUCCESS))
}

/// A call's outcome: done, or the errno.
type Errno<T = ()> = Result<T, i32>;

/// Linear memory, read and written only through bounds-checked ranges.
struct Mem<'a>(&'a mut [u8]);

impl Mem<'_> {
    /// `ptr..ptr + len`, if it lies in the memory; else `EFAULT`.
    fn range(&self, ptr: u32, len: u64) -> Errno<Range<usize>> {
        let start = ptr as u64;
        match start.checked_add(len) {
            Some(end) if end <= self.0.len() as u64 => Ok(start as usize..end as usize),
            _ => Err(errno::FAULT),
        }
    }
    fn bytes(&mut self, ptr: u32, len: u64) -> Errno<&mut [u8]> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.0[r])
    }
    fn u32(&mut self, ptr: u32) -> Errno<u32> {
        let b = self.bytes(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn put(&mut self, ptr: u32, v: &[u8]) -> Errno {
        self.bytes(ptr, v.len() as u64)?.copy_from_slice(v);
        Ok(())
    }
    /// The `(buf, len)` pairs of the iovec array at `iovs`, each checked
    /// to lie in memory, and their total length.
    fn iovecs(&mut self, iovs: u32, n: u32) -> Errno<(Vec<Range<usize>>, u64)> {
        self.range(iovs, n as u64 * 8)?;
        let mut out = Vec::new();
        out.try_reserve_exact(n as usize)
            .map_err(|_| errno::FAULT)?;
        let mut total = 0u64;
        for i in 0..n {
            let at = iovs + i * 8;
            let (buf, len) = (self.u32(at)?, self.u32(at + 4)?);
            out.push(self.range(buf, len as u64)?);
            total += len as u64;
        }
        Ok((out, total))
    }
}

impl Wasi {
    /// `fd` if it is a standard descriptor still open; else `EBADF`.
    fn stdio(&self, fd: u32) -> Errno<u32> {
        if fd <= 2 && self.closed.get() & (1 << fd) == 0 {
            Ok(fd)
        } else {
            Err(errno::BADF)
        }
    }

    /// Sends what `bufs` of `mem` hold (written to stdout or stderr) to
    /// the capture buffer, if output is captured, else to the serial
    /// console. `ENOMEM` if the heap refuses the buffer room for all of it
    /// (nothing is kept then; fallible on purpose: see the module docs),
    /// `EAGAIN` if another write, stopped midway by a preemption, holds
    /// the buffer.
    fn write_out(&self, mem: &Mem, bufs: &[Range<usize>], total: usize) -> Errno {
        let mut captured = self.captured.try_borrow_mut().map_err(|_| errno::AGAIN)?;
        if let Some(kept) = &mut *captured {
            kept.try_reserve(total).map_err(|_| errno::NOMEM)?;
            for r in bufs {
                kept.extend_from_slice(&mem.0[r.clone()]);
            }
            return Ok(());
        }
        drop(captured);
        for r in bufs {
            print_bytes(&mem.0[r.clone()]);
        }
        Ok(())
    }
}

/// `bytes` on the serial console, as UTF-8 with each invalid sequence
/// printed as U+FFFD.
fn print_bytes(bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        crate::print!("{}", chunk.valid());
        if !chunk.invalid().is_empty() {
            crate::print!("\u{fffd}");
        }
    }
}

/// `args_sizes_get` / `environ_sizes_get`: the count, and the bytes of
/// the strings with their terminating NULs.
fn sizes(mem: &mut Mem, list: &[Vec<u8>], count: u32, size: u32) -> Errno {
    let bytes: usize = list.iter().map(|s| s.len() + 1).sum();
    mem.put(count, &(list.len() as u32).to_le_bytes())?;
    mem.put(size, &(bytes as u32).to_le_bytes())
}

/// `args_get` / `environ_get`: a pointer per string at `ptrs`, the
/// NUL-terminated strings one after the other at `buf`.
fn strings(mem: &mut Mem, list: &[Vec<u8>], ptrs: u32, buf: u32) -> Errno {
    let bytes: u64 = list.iter().map(|s| s.len() as u64 + 1).sum();
    mem.range(ptrs, list.len() as u64 * 4)?;
    mem.range(buf, bytes)?;
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        mem.put(ptrs + 4 * i as u32, &at.to_le_bytes())?;
        mem.put(at, s)?;
        mem.put(at + s.len() as u32, &[0])?;
        at += s.len() as u32 + 1;
    }
    Ok(())
}

/// `fd_write`: stdout and stderr only. The iovecs are checked whole
/// before a byte goes out, so a bad one writes nothing.
fn fd_write(w: &Wasi, mem: &mut Mem, fd: u32, iovs: u32, n: u32, written: u32) -> Errno {
    if w.stdio(fd)? == 0 {
        return Err(errno::BADF);
    }
    let (bufs, total) = mem.iovecs(iovs, n)?;
    let total = u32::try_from(total).map_err(|_| errno::INVAL)?;
    mem.range(written, 4)?;
    w.write_out(mem, &bufs, total as usize)?;
    mem.put(written, &total.to_le_bytes())
}

/// `fd_read`: stdin is empty, so 0 bytes are read; 1 and 2 are not
/// readable.
fn fd_read(w: &Wasi, mem: &mut Mem, fd: u32, iovs: u32, n: u32, read: u32) -> Errno {
    if w.stdio(fd)? != 0 {
        return Err(errno::BADF);
    }
    mem.iovecs(iovs, n)?;
    mem.put(read, &0u32.to_le_bytes())
}

/// `fd_fdstat_get`: a character device; stdin may be read, stdout and
/// stderr written (the layout: filetype u8, flags u16 at 2, rights base
/// u64 at 8, rights inheriting u64 at 16).
fn fdstat(w: &Wasi, mem: &mut Mem, fd: u32, ptr: u32) -> Errno {
    const CHARACTER_DEVICE: u8 = 2;
    const FD_READ: u64 = 1 << 1;
    const FD_WRITE: u64 = 1 << 6;
    const POLL_FD_READWRITE: u64 = 1 << 27;
    let fd = w.stdio(fd)?;
    let rights = POLL_FD_READWRITE | if fd == 0 { FD_READ } else { FD_WRITE };
    let mut stat = [0u8; 24];
    stat[0] = CHARACTER_DEVICE;
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    mem.put(ptr, &stat)
}

/// `clock_time_get` / `clock_res_get`: `value` for clocks 0-3 (realtime,
/// monotonic, process and thread CPU time), `EINVAL` for any other id.
fn clock(mem: &mut Mem, id: u32, ptr: u32, value: u64) -> Errno {
    if id > 3 {
        return Err(errno::INVAL);
    }
    mem.put(ptr, &value.to_le_bytes())
}

/// The time-stamp counter, read as nanoseconds (see the module docs).
fn now_ns() -> u64 {
    // SAFETY: `rdtsc` only reads the counter; every x86_64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// `random_get`: `len` bytes of the generator at `buf`.
fn random(w: &Wasi, mem: &mut Mem, buf: u32, len: u32) -> Errno {
    let out = mem.bytes(buf, len as u64)?;
    let mut x = w.rng.get();
    for chunk in out.chunks_mut(8) {
        // xorshift64* (Marsaglia's shifts, Vigna's multiplier).
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    w.rng.set(x);
    Ok(())
}
