//! The CPU's exception vectors by name, and what a fault report says about
//! one: the names a report prints, the vector numbers code tests against,
//! and the decoded bits of a page fault's error code.

use core::fmt;
use x86_64::structures::idt::PageFaultErrorCode;

/// The architectural names of vectors 0–31 (`None`: reserved).
const NAMES: [Option<&str>; 32] = [
    Some("#DE divide error"),
    Some("#DB debug"),
    Some("NMI non-maskable interrupt"),
    Some("#BP breakpoint"),
    Some("#OF overflow"),
    Some("#BR bound range exceeded"),
    Some("#UD invalid opcode"),
    Some("#NM device not available"),
    Some("#DF double fault"),
    None,
    Some("#TS invalid TSS"),
    Some("#NP segment not present"),
    Some("#SS stack-segment fault"),
    Some("#GP general protection"),
    Some("#PF page fault"),
    None,
    Some("#MF x87 floating point"),
    Some("#AC alignment check"),
    Some("#MC machine check"),
    Some("#XM SIMD floating point"),
    Some("#VE virtualization"),
    Some("#CP control protection"),
    None,
    None,
    None,
    None,
    None,
    None,
    Some("#HV hypervisor injection"),
    Some("#VC VMM communication"),
    Some("#SX security"),
    None,
];

/// The name of exception `vector`, e.g. `"#PF page fault"`.
pub fn exception_name(vector: u8) -> &'static str {
    NAMES
        .get(vector as usize)
        .copied()
        .flatten()
        .unwrap_or("reserved or external")
}

/// Exception vectors, for code that inspects a [`FaultInfo`].
/// (The numbers are the `x86_64` crate's `ExceptionVector`, as bytes.)
pub mod vector {
    use x86_64::structures::idt::ExceptionVector as V;
    pub const DIVIDE_ERROR: u8 = V::Division as u8;
    pub const BREAKPOINT: u8 = V::Breakpoint as u8;
    pub const INVALID_OPCODE: u8 = V::InvalidOpcode as u8;
    pub const DOUBLE_FAULT: u8 = V::Double as u8;
    pub const SEGMENT_NOT_PRESENT: u8 = V::SegmentNotPresent as u8;
    pub const GENERAL_PROTECTION: u8 = V::GeneralProtection as u8;
    pub const PAGE_FAULT: u8 = V::Page as u8;
}

/// What a probe reports about the fault that ended its closure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultInfo {
    /// Exception vector (see [`vector`]).
    pub vector: u8,
    /// The error code, for the exceptions that push one.
    pub error_code: Option<u64>,
    /// Address of the faulting instruction.
    pub rip: u64,
    /// For a page fault: the address whose access faulted.
    pub cr2: Option<u64>,
}

impl FaultInfo {
    /// The exception's name, e.g. `"#GP general protection"`.
    pub fn name(&self) -> &'static str {
        exception_name(self.vector)
    }
}

/// Page-fault error code bits, decoded for a report: `"not present, write,
/// supervisor"`.
pub struct PageFaultBits(pub u64);

impl fmt::Display for PageFaultBits {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let code = PageFaultErrorCode::from_bits_retain(self.0);
        let pick = |flag, yes, no| if code.contains(flag) { yes } else { no };
        write!(
            f,
            "{}, {}, {}",
            pick(
                PageFaultErrorCode::PROTECTION_VIOLATION,
                "protection violation",
                "not present"
            ),
            pick(PageFaultErrorCode::CAUSED_BY_WRITE, "write", "read"),
            pick(PageFaultErrorCode::USER_MODE, "user", "supervisor"),
        )?;
        if code.contains(PageFaultErrorCode::MALFORMED_TABLE) {
            write!(f, ", reserved bit set in a page table")?;
        }
        if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
            write!(f, ", instruction fetch")?;
        }
        Ok(())
    }
}
