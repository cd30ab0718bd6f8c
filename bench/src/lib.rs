//! The workload of our side of the round-trip benchmark, defined once for
//! the criterion benchmark (`benches/host.rs`) and the instruction-counting
//! example (`examples/round_trip_count.rs`), so that both measure exactly
//! the same thing.
//!
//! One round trip: the kernel-level code resumes a continuation that loops
//! for ever suspending one `i32` to the tag the resume handles, reads the
//! payload, and keeps the new handle. corosensei's and context's versions
//! live beside their benchmarks; they are a few lines each.

use kernel::cont::dynamic::{ContObj, Handler, Resumed};
use kernel::cont::{MmapStacks, Store, Trap, ValType};
use std::hint::black_box;
use std::pin::Pin;

/// Stack size of every coroutine in these benchmarks, for every library.
pub const STACK_SIZE: usize = 64 * 1024;

/// A store with one continuation that suspends `1i32` for ever.
pub struct RoundTrip {
    store: Pin<Box<Store>>,
    handlers: [Handler; 1],
    k: ContObj,
}

impl RoundTrip {
    pub fn new() -> RoundTrip {
        let store = Store::new(MmapStacks::new(), STACK_SIZE);
        let tag = store.tag_new(&[ValType::I32], &[]).unwrap();
        let body = store
            .func_wrap(move |s: &Store, ()| -> Result<(), Trap> {
                loop {
                    s.suspend::<_, ()>(tag, black_box(1i32))?;
                }
            })
            .unwrap();
        let k = store.cont_new(body).unwrap();
        RoundTrip {
            store,
            handlers: [Handler::suspend(tag)],
            k,
        }
    }

    /// One resume and the suspend back; returns the payload.
    #[inline(always)]
    pub fn step(&mut self) -> i32 {
        match self
            .store
            .resume::<_, ()>(self.k, (), black_box(&self.handlers))
        {
            Ok(Resumed::Suspended { cont, .. }) => {
                let payload: i32 = self.store.payload(cont).unwrap();
                self.k = cont;
                payload
            }
            _ => panic!("the looping continuation stopped suspending"),
        }
    }
}

impl Default for RoundTrip {
    fn default() -> RoundTrip {
        RoundTrip::new()
    }
}

impl Drop for RoundTrip {
    fn drop(&mut self) {
        // Its stack goes back to the pool; the store would free it anyway.
        self.store.drop_cont(self.k).unwrap();
    }
}
