//! The global descriptor table and the task state segment: the kernel's code
//! and data segments, and the separate stacks the CPU switches to for the
//! exceptions that must work even when the current stack is broken.
//!
//! In 64-bit mode segmentation is almost gone, but two pieces remain
//! load-bearing. The CPU still needs a code segment descriptor to know it
//! runs 64-bit ring-0 code, and it still reads the *task state segment* (TSS)
//! on every interrupt: the TSS holds the *interrupt stack table* (IST), seven
//! stack pointers an IDT gate can ask for. When an exception's gate names an
//! IST slot, the CPU loads RSP from that slot before pushing the interrupt
//! frame, whatever RSP was before. That is what makes a double fault
//! reportable after a stack overflow, and what lets the page-fault handler run
//! when the faulting stack is unusable (see `interrupts` and `docs/boot.md`).
//!
//! ```text
//!   GDT (this kernel's)                       TSS.interrupt_stack_table
//!   index  selector  descriptor               IST slot (hardware n = slot + 1)
//!   -----  --------  ---------------------    --------------------------------
//!     0     0x00     null                      0  DOUBLE_FAULT_IST  32 KiB stack
//!     1     0x08     kernel code (64-bit)      1  PAGE_FAULT_IST    32 KiB stack
//!     2     0x10     kernel data               2  NMI_IST           32 KiB stack
//!     3-4   0x18     TSS (16-byte system       3  MACHINE_CHECK_IST 32 KiB stack
//!                    descriptor, 2 slots)      4  TIMER_IST         32 KiB stack
//!                                              5-6 unused (0)
//! ```
//!
//! Each IST stack is a static, 16-byte aligned array in `.bss`; the TSS slot
//! holds its *top* (one past the highest byte), since stacks grow down.

use core::cell::UnsafeCell;

use spin::Once;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot of the double-fault handler.
pub const DOUBLE_FAULT_IST: u16 = 0;
/// IST slot of the page-fault handler (see `interrupts` for why #PF has one).
pub const PAGE_FAULT_IST: u16 = 1;
/// IST slot of the non-maskable-interrupt handler.
pub const NMI_IST: u16 = 2;
/// IST slot of the machine-check handler.
pub const MACHINE_CHECK_IST: u16 = 3;
/// IST slot of the timer's tick (see `timer` for why a tick must not push
/// its frame on a continuation stack).
pub const TIMER_IST: u16 = 4;

/// How many IST stacks this kernel sets up (slots `0..IST_COUNT`).
pub const IST_COUNT: usize = 5;
/// Size of each IST stack.
pub const IST_STACK_SIZE: usize = 32 * 1024;

/// One IST stack. The alignment keeps the top 16-byte aligned, as the
/// System V ABI expects of RSP before the CPU pushes the interrupt frame.
#[repr(C, align(16))]
struct IstStack(UnsafeCell<[u8; IST_STACK_SIZE]>);

// SAFETY: the kernel never touches these bytes through this static; only the
// CPU writes to them, as stack, while it runs the corresponding handler.
unsafe impl Sync for IstStack {}

static IST_STACKS: [IstStack; IST_COUNT] = [
    IstStack(UnsafeCell::new([0; IST_STACK_SIZE])),
    IstStack(UnsafeCell::new([0; IST_STACK_SIZE])),
    IstStack(UnsafeCell::new([0; IST_STACK_SIZE])),
    IstStack(UnsafeCell::new([0; IST_STACK_SIZE])),
    IstStack(UnsafeCell::new([0; IST_STACK_SIZE])),
];

/// The lowest address and one past the highest of IST stack `slot`.
pub(crate) fn ist_stack_range(slot: u16) -> (u64, u64) {
    let bottom = IST_STACKS[slot as usize].0.get() as u64;
    (bottom, bottom + IST_STACK_SIZE as u64)
}

/// Whether `addr` lies inside IST stack `slot`; a handler passes its own RSP
/// to prove it runs on the stack its gate asked for.
pub(crate) fn on_ist_stack(slot: u16, addr: u64) -> bool {
    let (bottom, top) = ist_stack_range(slot);
    (bottom..top).contains(&addr)
}

static TSS: Once<TaskStateSegment> = Once::new();

/// The table and the selectors `init` loads into the segment registers.
struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Once<Gdt> = Once::new();

/// Builds and loads the GDT and the TSS, reloads every segment register and
/// the task register. Runs once, first thing at boot, before the IDT (whose
/// gates name the code selector and IST slots set up here).
pub(crate) fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        for slot in 0..IST_COUNT as u16 {
            let (_, top) = ist_stack_range(slot);
            tss.interrupt_stack_table[slot as usize] = VirtAddr::new(top);
        }
        tss
    });
    let gdt = GDT.call_once(|| {
        let mut table = GlobalDescriptorTable::new();
        let code = table.append(Descriptor::kernel_code_segment());
        let data = table.append(Descriptor::kernel_data_segment());
        let tss = table.append(Descriptor::tss_segment(tss));
        Gdt {
            table,
            code,
            data,
            tss,
        }
    });
    gdt.table.load();
    // SAFETY: the selectors index descriptors of the table just loaded: a
    // 64-bit ring-0 code segment, a writable data segment and an available
    // TSS whose IST entries point at the static stacks above. The TSS is
    // loaded once (ltr marks it busy; a second ltr would fault).
    unsafe {
        CS::set_reg(gdt.code);
        SS::set_reg(gdt.data);
        DS::set_reg(gdt.data);
        ES::set_reg(gdt.data);
        FS::set_reg(gdt.data);
        GS::set_reg(gdt.data);
        load_tss(gdt.tss);
    }
}
