//! The stub a preempting tick's `iretq` enters (`preempt.rs`): it saves
//! the interrupted continuation's registers on its own stack, suspends it,
//! and when it is resumed restores them and returns to the interrupted
//! instruction.
//!
//! Apart from `preempt.rs` because it is one block of assembly that the
//! rest of preemption only names: the tick points its frame at it
//! (`preempt::redirect`), and it calls `preempt::preempt_entry`.

use super::preempt::{SAVED_FRAME, preempt_entry};

// The stub a preempting tick's `iretq` enters, on the interrupted stack,
// RSP 16-byte aligned, IF = 0. Saves the interrupted state, calls
// `preempt_entry`, restores it and returns to the interrupted instruction.
//
//  [RSP0 - 0x08]  SS       \
//  [RSP0 - 0x10]  RSP       |  an iretq frame, copied from SAVED_FRAME
//  [RSP0 - 0x18]  RFLAGS    |
//  [RSP0 - 0x20]  CS        |
//  [RSP0 - 0x28]  RIP      /
//  [RSP0 - 0x30]  RAX ... [RSP0 - 0xa0] R15   the 15 registers
//  [RSP0 - 0xa8]  RIP      \  a frame record: the interrupted instruction
//  [RSP0 - 0xb0]  RBP      /  and its RBP; RBP points here
//  [RSP0 - 0xb8]  return address into the stub (call preempt_entry)
core::arch::global_asm!(
    ".text",
    ".balign 16",
    ".globl cont_preempt_stub",
    ".type cont_preempt_stub, @function",
    "cont_preempt_stub:",
    // The iretq frame: SS, RSP, RFLAGS, CS, RIP, as the tick found them.
    "    push qword ptr [rip + {frame} + 32]",
    "    push qword ptr [rip + {frame} + 24]",
    "    push qword ptr [rip + {frame} + 16]",
    "    push qword ptr [rip + {frame} + 8]",
    "    push qword ptr [rip + {frame}]",
    // Every general-purpose register (RSP is in the frame).
    "    push rax",
    "    push rbx",
    "    push rcx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbp",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r11",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    // A frame record (RIP, RBP) for walks: the interrupted function is a
    // caller of preempt_entry.
    "    push qword ptr [rsp + 15 * 8]",
    "    push rbp",
    "    mov rbp, rsp",
    // The C ABI wants DF clear; RFLAGS comes back with iretq.
    "    cld",
    "    call {entry}",
    // Back, resumed, interrupts off: the record, the registers, the frame.
    "    add rsp, 16",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop r11",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rbp",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    "    pop rbx",
    "    pop rax",
    "    iretq",
    ".size cont_preempt_stub, . - cont_preempt_stub",
    frame = sym SAVED_FRAME,
    entry = sym preempt_entry,
);

unsafe extern "C" {
    /// The stub above; never called, only entered by a redirected `iretq`.
    #[link_name = "cont_preempt_stub"]
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    pub(super) fn preempt_stub();
}
