//! The capability to act on the whole machine: ending the boot, halting,
//! taking physical frames. Only [`crate::init`] makes one, once per boot.
//!
//! Why a token: a guest is Rust code linked into this crate, so it can call
//! every `pub` function there is. If "exit QEMU" were a plain `pub fn`, any
//! guest could end the boot; if "free this frame" were, any guest could
//! free a frame that still backs another guest's stack. So such effects are
//! methods of [`Machine`] or take `&Machine`, and a `Machine` cannot be made
//! from safe code outside this crate: its one field is private, it is
//! neither `Clone` nor `Copy`, and `init` hands out exactly one (a second
//! call panics). Code that was never given it cannot reach the power.
//!
//! Holding the power is not a licence to corrupt memory: whatever takes a
//! `&Machine` is still sound for any argument. An effect that could break
//! memory safety even in the right hands (giving back a frame that might
//! still be mapped) stays an `unsafe fn`, with its contract written, and
//! takes the token as well. `docs/guarantees.md` states the rule.
//!
//! The type exists on the host too (without the methods that need the
//! hardware), so that the host's doctests can show what does not compile.
//!
//! ```compile_fail,E0451
//! // A `Machine` cannot be made outside the crate: its field is private.
//! let forged = kernel::Machine { _private: () };
//! ```
//!
//! ```compile_fail,E0277
//! // Nor copied from one that was handed out: it is not `Clone`.
//! fn share(machine: &kernel::Machine) -> kernel::Machine {
//!     kernel::Machine::clone(machine)
//! }
//! ```
//!
//! ```compile_fail,E0382
//! // Nor `Copy`: given away once, it is gone.
//! fn give(machine: kernel::Machine) -> (kernel::Machine, kernel::Machine) {
//!     let first = machine;
//!     (first, machine)
//! }
//! ```
//!
//! ```
//! // What these three leave: a function that is handed the token can use it.
//! fn give(machine: kernel::Machine) -> kernel::Machine {
//!     let first = machine;
//!     first
//! }
//! ```

use core::sync::atomic::{AtomicBool, Ordering};

#[cfg(target_os = "none")]
use crate::qemu::ExitCode;

/// The capability to end the boot and take physical memory (see the
/// module docs). Made once, by [`crate::init`].
#[derive(Debug)]
pub struct Machine {
    _private: (),
}

/// Set once the boot has handed out its `Machine`.
static HANDED_OUT: AtomicBool = AtomicBool::new(false);

impl Machine {
    /// The one `Machine` of this boot; `None` if it was handed out already.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    pub(crate) fn take() -> Option<Machine> {
        (!HANDED_OUT.swap(true, Ordering::SeqCst)).then_some(Machine { _private: () })
    }

    #[cfg(target_os = "none")]
    /// Ends the boot: QEMU exits with `code` (`docs/spec.md` §5).
    pub fn exit(&self, code: ExitCode) -> ! {
        crate::qemu::exit(code)
    }

    #[cfg(target_os = "none")]
    /// Ends the boot with success if `success`, failure otherwise.
    pub fn exit_with(&self, success: bool) -> ! {
        self.exit(if success {
            ExitCode::Success
        } else {
            ExitCode::Failure
        })
    }

    #[cfg(target_os = "none")]
    /// Halts the CPU for good, interrupts off (QEMU keeps running).
    pub fn halt(&self) -> ! {
        crate::qemu::halt_forever()
    }
}

#[cfg(test)]
mod tests {
    use super::Machine;

    #[test]
    fn the_machine_is_handed_out_once_and_refused_after() {
        assert!(Machine::take().is_some());
        assert!(Machine::take().is_none());
        assert!(Machine::take().is_none());
    }
}
