//! The machine floor: stacks, the switch between them, and the entry into a
//! guest. It knows control contexts, the array-call convention and opaque
//! context pointers, and nothing of the store that uses them.
//!
//! * [`stack`]: the words at the top of every continuation stack (control
//!   context, args buffer, launch words), as one table;
//! * [`call`]: the array-call convention every guest function is reached
//!   through (a function record, opaque contexts);
//! * [`switch`]: the assembly: the start trampoline and the three-register
//!   stack switch carrying a [`switch::ControlEffect`];
//! * [`entry`]: the entry into a guest, which the start trampoline calls;
//!   it reports how the guest ended in the effect word the trampoline
//!   sends (return, or a trap and its reason), instead of calling up into
//!   the runtime;
//! * [`walk`]: the frame-pointer walk across the stacks of a chain;
//! * [`provider`]: where stacks come from (the trait knows no user: an
//!   owner is an opaque word).
//!
//! It imports only from the values floor ([`super::values`]).

pub mod call;
pub mod entry;
pub mod provider;
pub mod stack;
pub mod switch;
pub mod walk;
