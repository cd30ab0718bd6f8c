//! The interrupt controllers: the local APIC (the CPU's own interrupt
//! controller, which holds the timer), and the legacy 8259 PICs, which are
//! moved out of the exceptions' way and masked for good.
//!
//! Every x86_64 CPU has a *local APIC*: a small block of 32-bit registers
//! that decides which interrupt the CPU takes next. Software reaches it in
//! one of two ways, and this module speaks both:
//!
//! * **xAPIC**: the registers are memory, a 4 KiB page at the physical
//!   address in the `IA32_APIC_BASE` MSR (0xfee0_0000 after reset), each
//!   register 16-byte aligned. The kernel reaches the page through its
//!   physical-memory window (`paging`), which maps everything below 4 GiB.
//!   (On real hardware the firmware's MTRRs make that range uncacheable,
//!   which wins over the window's write-back mapping.)
//! * **x2APIC**: the same registers as MSRs, `0x800 + offset / 16`. QEMU's
//!   TCG (7.2, the version this kernel is tested on) does not offer it, so
//!   in practice the kernel runs in xAPIC mode; a firmware that left the
//!   APIC in x2APIC mode is served through the MSRs.
//!
//! The registers this kernel uses (offsets into the page):
//!
//! ```text
//!  0x0b0  EOI                 write 0: "the interrupt in service is done"
//!  0x0f0  spurious vector     bit 8 = APIC software enable, bits 0-7 the
//!                             vector of a spurious interrupt (0xff here)
//!  0x100  ISR (8 x 32 bits)   in service: delivered, no EOI yet
//!  0x200  IRR (8 x 32 bits)   requested: waiting to be delivered
//!  0x320  LVT timer           how the timer interrupts (below)
//!  0x350  LVT LINT0           the PIC's wire into the APIC: masked
//!  0x370  LVT error           masked
//!  0x380  initial count       writing it (re)starts the countdown
//!  0x390  current count       read-only: what is left of it
//!  0x3e0  divide config       the counter ticks once per 2^n bus clocks
//! ```
//!
//! Interrupts are prioritised by vector: the upper four bits are a
//! priority class, and while a vector is in service (its ISR bit set) no
//! vector of the same or a lower class is delivered. That is why every
//! handler of an APIC interrupt must write EOI: until it does, the next
//! tick waits in the IRR (and two more ticks in that time are one).
//!
//! The 8259 PICs come up (BIOS) routing the old PIT's IRQ 0 to vector 8,
//! which is the *double fault*'s. [`init`] reprograms them to vectors
//! 0x20..0x30 (where a stray one is recognised, see `timer.rs`) and masks
//! every line. OVMF (UEFI) leaves them masked already; masking again is
//! harmless.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::PhysAddr;
use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

/// Register offsets in the xAPIC page.
pub(crate) mod reg {
    pub const EOI: u32 = 0x0b0;
    pub const SPURIOUS: u32 = 0x0f0;
    pub const ISR: u32 = 0x100;
    pub const IRR: u32 = 0x200;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

/// Bit 16 of every LVT entry: the source is masked.
pub(crate) const LVT_MASKED: u32 = 1 << 16;
/// Bits 17-18 of the timer's LVT entry: 01 = periodic (00 = one-shot).
pub(crate) const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// Bit 8 of the spurious-vector register: the APIC is enabled.
const SPURIOUS_ENABLE: u32 = 1 << 8;

/// The vector the APIC reports for an interrupt that vanished between
/// its request and its delivery. It needs no EOI.
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Where [`init`] moves the master 8259's eight lines (the slave's follow
/// at +8): a stray PIC interrupt arrives at `0x20..0x30`, never on an
/// exception's vector.
pub const PIC_VECTOR_BASE: u8 = 0x20;

const IA32_APIC_BASE: u32 = 0x1b;
const BASE_ENABLE: u64 = 1 << 11;
const BASE_X2APIC: u64 = 1 << 10;
const BASE_ADDRESS: u64 = 0x000f_ffff_ffff_f000;
/// The x2APIC MSR of xAPIC register offset 0.
const X2APIC_MSR_BASE: u32 = 0x800;

/// Where the registers are: 0 until [`init`]; 1 for x2APIC (MSRs); else
/// the virtual address of the xAPIC page in the physical window.
static REGISTERS: AtomicU64 = AtomicU64::new(0);
const X2APIC: u64 = 1;

/// Reads register `offset`.
fn read(offset: u32) -> u32 {
    match REGISTERS.load(Ordering::Relaxed) {
        0 => panic!("apic::init has not run"),
        // SAFETY: reading an x2APIC register MSR has no side effect on
        // the registers this module reads (none of them is read-to-clear).
        X2APIC => unsafe { Msr::new(X2APIC_MSR_BASE + (offset >> 4)).read() as u32 },
        page => {
            // SAFETY: `init` checked the page is the APIC's and mapped in
            // the window; registers are 32-bit, 16-byte aligned, and must
            // be read with one 32-bit access (volatile, never merged).
            unsafe { core::ptr::read_volatile((page + offset as u64) as *const u32) }
        }
    }
}

/// Writes register `offset`.
///
/// # Safety
/// The write must be one this module means: the registers can also send
/// interrupts to other CPUs and reset them (the ICR), which no caller here
/// touches.
///
/// Always inlined: the tick's EOI is a write, and a call there is four
/// instructions on every tick (LLVM's own choice moved with unrelated
/// changes to the timer's callers).
#[inline(always)]
unsafe fn write(offset: u32, value: u32) {
    match REGISTERS.load(Ordering::Relaxed) {
        0 => panic!("apic::init has not run"),
        // SAFETY: the caller's contract: a register this module means.
        X2APIC => unsafe { Msr::new(X2APIC_MSR_BASE + (offset >> 4)).write(value as u64) },
        page => {
            // SAFETY: as in `read`, and the caller's contract.
            unsafe { core::ptr::write_volatile((page + offset as u64) as *mut u32, value) }
        }
    }
}

/// Finds and enables the local APIC, masks its LINT0 and error entries
/// and the timer, and remaps and masks the 8259 PICs. Idempotent; runs
/// with interrupts off (the caller, `timer.rs`, checks).
pub(crate) fn init() {
    // CPUID leaf 1, EDX bit 9: an on-chip APIC. Every x86_64 CPU has one.
    let cpuid = core::arch::x86_64::__cpuid(1);
    assert!(cpuid.edx & (1 << 9) != 0, "this CPU has no local APIC");
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (checked);
    // setting its enable bit keeps the base and mode the firmware chose.
    let base = unsafe {
        let base = base_msr.read();
        if base & BASE_ENABLE == 0 {
            base_msr.write(base | BASE_ENABLE);
        }
        base
    };
    let registers = if base & BASE_X2APIC != 0 {
        X2APIC
    } else {
        crate::paging::phys_to_virt(PhysAddr::new(base & BASE_ADDRESS)).as_u64()
    };
    REGISTERS.store(registers, Ordering::Relaxed);
    // SAFETY: each is a local-vector or configuration register of this
    // CPU's APIC; masking sources and naming the spurious vector only
    // changes what this CPU is interrupted by. LINT0 (the PICs' wire) is
    // masked first, so their reprogramming below cannot reach the CPU.
    unsafe {
        write(reg::LVT_LINT0, LVT_MASKED);
        write(reg::LVT_TIMER, LVT_MASKED);
        write(reg::TIMER_INITIAL, 0);
        write(reg::LVT_ERROR, LVT_MASKED);
        write(reg::SPURIOUS, SPURIOUS_ENABLE | SPURIOUS_VECTOR as u32);
    }
    mask_legacy_pics();
}

/// Reprograms both 8259s (ICW1-ICW4: edge triggered, cascaded, vectors
/// from [`PIC_VECTOR_BASE`]) and masks all sixteen lines.
fn mask_legacy_pics() {
    let mut master_cmd = Port::<u8>::new(0x20);
    let mut master_data = Port::<u8>::new(0x21);
    let mut slave_cmd = Port::<u8>::new(0xa0);
    let mut slave_data = Port::<u8>::new(0xa1);
    // A write to the unused port 0x80 gives an old PIC time to settle.
    let mut delay = Port::<u8>::new(0x80);
    // SAFETY: the PICs' own ports; with every line masked afterwards the
    // PICs raise nothing, and no other code in the kernel uses them.
    unsafe {
        let mut step = |port: &mut Port<u8>, value: u8| {
            port.write(value);
            delay.write(0);
        };
        // ICW1: initialise, ICW4 follows.
        step(&mut master_cmd, 0x11);
        step(&mut slave_cmd, 0x11);
        // ICW2: vector bases.
        step(&mut master_data, PIC_VECTOR_BASE);
        step(&mut slave_data, PIC_VECTOR_BASE + 8);
        // ICW3: the slave hangs on the master's line 2.
        step(&mut master_data, 1 << 2);
        step(&mut slave_data, 2);
        // ICW4: 8086 mode.
        step(&mut master_data, 0x01);
        step(&mut slave_data, 0x01);
        // OCW1: mask every line.
        step(&mut master_data, 0xff);
        step(&mut slave_data, 0xff);
    }
}

/// The interrupt mask registers of the master and slave 8259 (0xff: every
/// line masked).
pub fn legacy_pic_masks() -> (u8, u8) {
    // SAFETY: reading a PIC's data port outside an initialisation
    // sequence returns its mask register and changes nothing.
    unsafe { (Port::<u8>::new(0x21).read(), Port::<u8>::new(0xa1).read()) }
}

/// Tells the APIC that the interrupt in service is handled.
#[inline]
pub(crate) fn eoi() {
    // SAFETY: writing 0 to EOI retires the highest in-service vector,
    // which is the one whose handler calls this.
    unsafe { write(reg::EOI, 0) }
}

/// Bit `vector` of the 256-bit register starting at `first` (ISR, IRR).
fn vector_bit(first: u32, vector: u8) -> bool {
    let word = read(first + 0x10 * (vector as u32 / 32));
    word & (1 << (vector % 32)) != 0
}

/// Whether `vector` is in service (delivered, its EOI not yet written).
pub(crate) fn in_service(vector: u8) -> bool {
    vector_bit(reg::ISR, vector)
}

/// Whether `vector` is requested (waiting for delivery).
pub(crate) fn requested(vector: u8) -> bool {
    vector_bit(reg::IRR, vector)
}

/// The timer's current count.
pub(crate) fn timer_current() -> u32 {
    read(reg::TIMER_CURRENT)
}

/// Programs the timer: `lvt` (vector, mode, mask), `divide` (the
/// divide-configuration encoding), then the initial count, which starts
/// the countdown (0 stops it).
pub(crate) fn timer_program(lvt: u32, divide: u32, initial: u32) {
    // SAFETY: the timer's own registers; what it raises is `lvt`'s vector,
    // whose gate the IDT has (`timer.rs`).
    unsafe {
        write(reg::TIMER_DIVIDE, divide);
        write(reg::LVT_TIMER, lvt);
        write(reg::TIMER_INITIAL, initial);
    }
}
