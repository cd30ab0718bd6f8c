//! In-kernel tests of exception handling: breakpoints continue, and faults
//! caught by `interrupts::probe` report the exact vector, error code, RIP
//! and CR2.
//!
//! Each fault is raised by a tiny assembly routine (below) whose faulting
//! instruction sits at a known symbol, so the expected RIP is exact and no
//! optimisation can fold the faulting operation away.
#![no_std]
#![no_main]

extern crate alloc;

use core::arch::{asm, global_asm};

use kernel::check_eq;
use kernel::interrupts::{FaultInfo, breakpoint_count, probe, vector};
use kernel::testing::TestResult;

kernel::suite!(
    "interrupts",
    [
        breakpoint_is_reported_and_execution_continues,
        probe_runs_the_closure_and_returns_ok_without_a_fault,
        read_of_unmapped_address_faults_with_exact_cr2_and_bits,
        write_to_kernel_text_is_a_protection_violation,
        data_is_not_executable,
        heap_is_not_executable,
        divide_error_is_reported_with_vector_0,
        invalid_opcode_is_reported_with_vector_6,
        non_canonical_address_is_a_general_protection_fault,
        nested_probes_each_catch_their_own_fault,
        recovered_faults_leave_the_stack_as_it_was,
    ]
);

// Fault-raising routines (System V: first argument in rdi, second in rsi).
// Each `*_fault` label is the faulting instruction itself.
global_asm!(
    ".global t_read_u64",
    "t_read_u64:",
    "    mov rax, qword ptr [rdi]",
    "    ret",
    ".global t_write_u64",
    "t_write_u64:",
    "    mov qword ptr [rdi], rsi",
    "    ret",
    ".global t_divide",
    "t_divide:",
    "    mov rax, rdi",
    "    xor edx, edx",
    ".global t_divide_fault",
    "t_divide_fault:",
    "    div rsi",
    "    ret",
    ".global t_invalid_opcode",
    "t_invalid_opcode:",
    "    ud2",
    "    ret",
    ".global t_call",
    "t_call:",
    "    jmp rdi",
);

unsafe extern "C" {
    fn t_read_u64(addr: u64) -> u64;
    fn t_write_u64(addr: u64, value: u64);
    fn t_divide(dividend: u64, divisor: u64) -> u64;
    fn t_divide_fault();
    fn t_invalid_opcode();
    fn t_call(addr: u64);
}

/// An address in the unused gap after the heap: canonical, never mapped.
const UNMAPPED: u64 = 0xffff_c000_4000_0000 + 0x123;

// Page-fault error code bits (Intel SDM vol. 3, 4.7).
const PF_PROTECTION: u64 = 1 << 0;
const PF_WRITE: u64 = 1 << 1;
const PF_FETCH: u64 = 1 << 4;

fn breakpoint_is_reported_and_execution_continues() -> TestResult {
    let before = breakpoint_count();
    let mut after_int3 = 0u64;
    // SAFETY: int3 traps to the breakpoint handler, which returns to the
    // next instruction; the asm then writes a register we declared.
    unsafe { asm!("int3", "mov {0}, 42", out(reg) after_int3) };
    check_eq!(breakpoint_count(), before + 1);
    check_eq!(after_int3, 42);
    // SAFETY: as above.
    unsafe { asm!("int3", "int3") };
    check_eq!(breakpoint_count(), before + 3);
    Ok(())
}

fn probe_runs_the_closure_and_returns_ok_without_a_fault() -> TestResult {
    let mut ran = 0;
    // SAFETY: the closure owns nothing and never leaves this stack.
    let result = unsafe { probe(|| ran = 7) };
    check_eq!(result, Ok(()));
    check_eq!(ran, 7);
    Ok(())
}

fn read_of_unmapped_address_faults_with_exact_cr2_and_bits() -> TestResult {
    // SAFETY: the read faults; the probe recovers; the closure owns
    // nothing and never leaves this stack.
    let fault = unsafe {
        probe(|| {
            t_read_u64(UNMAPPED);
        })
    };
    check_eq!(
        fault,
        Err(FaultInfo {
            vector: vector::PAGE_FAULT,
            error_code: Some(0), // not present, read, supervisor
            rip: t_read_u64 as *const () as u64,
            cr2: Some(UNMAPPED),
        })
    );
    Ok(())
}

fn write_to_kernel_text_is_a_protection_violation() -> TestResult {
    let text = t_read_u64 as *const () as u64;
    // SAFETY: reads mapped kernel text.
    let original = unsafe { t_read_u64(text) };
    // SAFETY: the write faults (text is read-only); were it to succeed, it
    // would store the bytes that are already there.
    // The closure owns nothing and never leaves this stack.
    let fault = unsafe { probe(|| t_write_u64(text, original)) };
    check_eq!(
        fault,
        Err(FaultInfo {
            vector: vector::PAGE_FAULT,
            error_code: Some(PF_PROTECTION | PF_WRITE),
            rip: t_write_u64 as *const () as u64,
            cr2: Some(text),
        })
    );
    Ok(())
}

/// A `ret` instruction in writable data: executing it must fault.
static mut RET_IN_DATA: [u8; 16] = [0xc3; 16];

/// Calls `addr`, which holds `ret` bytes on a no-execute page: the fetch
/// must fault as a protection violation at exactly `addr`.
fn check_call_faults_as_no_execute(addr: u64) -> TestResult {
    // SAFETY: fetching from a no-execute page faults; were it to run, the
    // byte is `ret` and returns to `t_call`'s caller. The closure owns
    // nothing and never leaves this stack.
    let fault = unsafe { probe(|| t_call(addr)) };
    check_eq!(
        fault,
        Err(FaultInfo {
            vector: vector::PAGE_FAULT,
            error_code: Some(PF_PROTECTION | PF_FETCH),
            rip: addr,
            cr2: Some(addr),
        })
    );
    Ok(())
}

fn data_is_not_executable() -> TestResult {
    check_call_faults_as_no_execute((&raw const RET_IN_DATA) as u64)
}

fn heap_is_not_executable() -> TestResult {
    let code = alloc::boxed::Box::new([0xc3u8; 16]);
    check_call_faults_as_no_execute(code.as_ptr() as u64)
}

fn divide_error_is_reported_with_vector_0() -> TestResult {
    // SAFETY: a well-defined division first, then one by zero, which faults.
    check_eq!(unsafe { t_divide(42, 5) }, 8);
    // SAFETY: the division by zero faults, and the probe recovers; the
    // closure owns nothing and never leaves this stack.
    let fault = unsafe {
        probe(|| {
            t_divide(1, 0);
        })
    };
    check_eq!(
        fault,
        Err(FaultInfo {
            vector: vector::DIVIDE_ERROR,
            error_code: None,
            rip: t_divide_fault as *const () as u64,
            cr2: None,
        })
    );
    Ok(())
}

fn invalid_opcode_is_reported_with_vector_6() -> TestResult {
    // SAFETY: ud2 faults; the probe recovers; the closure owns nothing.
    let fault = unsafe { probe(|| t_invalid_opcode()) };
    check_eq!(
        fault,
        Err(FaultInfo {
            vector: vector::INVALID_OPCODE,
            error_code: None,
            rip: t_invalid_opcode as *const () as u64,
            cr2: None,
        })
    );
    Ok(())
}

fn non_canonical_address_is_a_general_protection_fault() -> TestResult {
    // SAFETY: a non-canonical address raises #GP before any translation;
    // the probe recovers; the closure owns nothing.
    let fault = unsafe {
        probe(|| {
            t_read_u64(0x8000_0000_0000_0000);
        })
    };
    check_eq!(
        fault,
        Err(FaultInfo {
            vector: vector::GENERAL_PROTECTION,
            error_code: Some(0),
            rip: t_read_u64 as *const () as u64,
            cr2: None,
        })
    );
    Ok(())
}

fn nested_probes_each_catch_their_own_fault() -> TestResult {
    let mut inner = Ok(());
    // SAFETY: both calls fault (#UD, then #PF); each probe recovers its
    // own; neither closure owns anything or leaves this stack.
    let outer = unsafe {
        probe(|| {
            inner = probe(|| t_invalid_opcode());
            t_read_u64(UNMAPPED);
        })
    };
    check_eq!(inner.map_err(|f| f.vector), Err(vector::INVALID_OPCODE));
    check_eq!(
        outer.map_err(|f| (f.vector, f.cr2)),
        Err((vector::PAGE_FAULT, Some(UNMAPPED)))
    );
    // After both, a fault with no probe armed would be fatal again; a new
    // probe still works.
    // SAFETY: the closure does nothing.
    check_eq!(unsafe { probe(|| {}) }, Ok(()));
    Ok(())
}

fn recovered_faults_leave_the_stack_as_it_was() -> TestResult {
    let rsp = kernel::cont::switch::stack_pointer;
    let before = rsp();
    let mut faults = 0;
    for _ in 0..1000 {
        // SAFETY: faults; the probe recovers; the closure owns nothing.
        if unsafe { probe(|| t_invalid_opcode()) }.is_err() {
            faults += 1;
        }
    }
    check_eq!(faults, 1000);
    check_eq!(rsp(), before);
    Ok(())
}
