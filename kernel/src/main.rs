//! The demo kernel that `./qemu-run.sh` boots: three short scenes of
//! continuations, printed over serial step by step.
//!
//! Every line starts with the stack it was printed from and the stack
//! pointer there: `kernel` is the kernel's own stack; `stack N` is slot N of
//! the continuation-stack region, the stack of one continuation. What to
//! look for:
//!
//! * (a) a generator: control goes back and forth between the kernel and
//!   one continuation; each `yield` on the generator's stack is followed by
//!   a `got` on the kernel's.
//! * (b) a pipeline: the kernel resumes a consumer, which resumes a producer
//!   (a resume inside a continuation: three stacks deep). The producer's
//!   `suspend` lands in the consumer, not in the kernel.
//! * (c) a scheduler: three tasks hand control to each other with `switch`,
//!   with no return to the kernel in between; the kernel only sees each
//!   task finish. The stack numbers show three stacks taking turns.
//! * (d) preemption: three tasks that never yield (they count in a loop)
//!   share the CPU under a round-robin scheduler written as a guest, which
//!   gives each a slice of one timer tick with `resume_for`; each line
//!   the scheduler prints names the task the tick preempted and how far
//!   its count got, and the counts go on where they stopped.
//!
//! Stacks are reused: a finished continuation's stack stays with its store
//! (up to `cont::STACK_CACHE` of them) and the store's next continuation
//! gets it, so `stack 0` appears in every scene. Every scene uses the
//! typed door; scene (c) keeps its run queue as `ContObj` handles, the form
//! in which `switch` hands a task the continuation it left.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use bootloader_api::{BootInfo, entry_point};
use kernel::Machine;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, DefineError, Func, Resumed, Store, Tag, Timed, Trap};
use kernel::paging::CONT_STACKS_START;
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::{self, KernelStacks};
use x86_64::VirtAddr;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The pool's slot size, read once on the kernel stack (reading it takes
/// the pool's lock, which code on a continuation stack should not).
static SLOT_SIZE: AtomicUsize = AtomicUsize::new(0);

/// Prints one step, prefixed with the stack it runs on and its RSP.
macro_rules! step {
    ($($arg:tt)*) => {{
        let rsp = VirtAddr::new(kernel::cont::switch::stack_pointer() as u64);
        if let Some(slot) = stacks::slot_of(rsp) {
            println!("  stack {slot}  rsp {rsp:#x}  {}", format_args!($($arg)*));
        } else {
            println!("  kernel   rsp {rsp:#x}  {}", format_args!($($arg)*));
        }
    }};
}

/// What can go wrong: a trap, a refused definition, or a resume that came
/// back in a way the scene did not expect.
enum Error {
    Trap(Trap),
    Define(DefineError),
    Unexpected(&'static str),
}
impl From<Trap> for Error {
    fn from(trap: Trap) -> Error {
        Error::Trap(trap)
    }
}
impl From<DefineError> for Error {
    fn from(e: DefineError) -> Error {
        Error::Define(e)
    }
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    SLOT_SIZE.store(stacks::config().slot_size(), Ordering::Relaxed);
    println!(
        "demo: stack N is slot N of the continuation-stack region, TOS = {:#x} + (N+1) * {:#x}",
        CONT_STACKS_START,
        SLOT_SIZE.load(Ordering::Relaxed)
    );
    let s = Store::new(KernelStacks, 64 * 1024);
    let preemptive = |s: &Store| preemptive(s, &machine);
    let scenes: [&Scene<'_>; 4] = [&generator, &pipeline, &scheduler, &preemptive];
    for scene in scenes {
        match scene(&s) {
            Ok(()) => {}
            Err(Error::Trap(trap)) => fail(&machine, format_args!("{}", trap.report())),
            Err(Error::Define(e)) => fail(&machine, format_args!("definition refused: {e:?}")),
            Err(Error::Unexpected(what)) => fail(&machine, format_args!("{what}")),
        }
    }
    if s.outstanding_stacks() != 0 {
        fail(
            &machine,
            format_args!("{} stacks were not freed", s.outstanding_stacks()),
        );
    }
    println!("demo: done");
    machine.exit(ExitCode::Success)
}

/// A scene of the demo, run on the demo's store.
type Scene<'a> = dyn Fn(&Store) -> Result<(), Error> + 'a;

fn fail(machine: &Machine, why: core::fmt::Arguments) -> ! {
    println!("demo: failed: {why}");
    machine.exit(ExitCode::Failure)
}

/// (a) A generator yields 0..5 to the kernel, one `suspend` each. Written
/// with the typed door: the tag's types are said once, and each handle is
/// used once (`resume` takes it; the suspension gives the next one).
fn generator(s: &Store) -> Result<(), Error> {
    println!("(a) a generator yields 0..5 to the kernel");
    let yld = Tag::<i32, ()>::new(s)?; // (tag $yield (param i32))
    let generator = Func::wrap(s, move |s: &Store, n: i32| {
        for i in 0..n {
            step!("yield {i}");
            yld.suspend(s, i)?; // suspend $yield
        }
        step!("return");
        Ok(())
    })?;
    let k = Cont::new(s, generator)?; // cont.new
    step!("resume the generator with n = 5");
    let mut r = k.resume(5, &[yld.on()])?; // resume (on $yield)
    while let Resumed::Suspended(suspension) = r {
        let (i, k) = suspension.take(yld)?;
        step!("got {i}, resume");
        r = k.resume((), &[yld.on()])?;
    }
    step!("the generator returned");
    Ok(())
}

/// (b) The kernel resumes a consumer; the consumer resumes a producer and
/// adds up what it yields; the kernel gets the total.
fn pipeline(s: &Store) -> Result<(), Error> {
    println!("(b) a consumer resumes a producer: kernel -> consumer -> producer");
    let item = Tag::<i32, ()>::new(s)?;
    let producer = Func::wrap(s, move |s: &Store, ()| {
        for x in [10, 20, 30] {
            step!("producer: yield {x}");
            item.suspend(s, x)?;
        }
        step!("producer: no more");
        Ok(())
    })?
    // The consumer's closure captures it: `detach` frees it of the borrow
    // of `s` (a guest closure is `'static`); `Cont::new` still checks at
    // run time that it is a function of the store it runs in.
    .detach();
    let consumer = Func::wrap(s, move |s: &Store, ()| {
        step!("consumer: start the producer");
        let mut total = 0;
        let mut r = Cont::new(s, producer)?.resume((), &[item.on()])?;
        while let Resumed::Suspended(suspension) = r {
            let (x, k) = suspension.take(item)?;
            total += x;
            step!("consumer: got {x}, total {total}");
            r = k.resume((), &[item.on()])?;
        }
        step!("consumer: return {total}");
        Ok(total)
    })?;
    step!("resume the consumer");
    match Cont::new(s, consumer)?.resume((), &[])? {
        Resumed::Returned(v) => step!("the consumer returned {}", v),
        Resumed::Suspended(_) => return Err(Error::Unexpected("consumer suspended")),
    }
    Ok(())
}

/// (c) Three tasks take turns with `switch`. Each task gets, every time it
/// runs, the continuation that switched to it; it puts that one at the back
/// of the run queue and switches to the one at the front.
fn scheduler(s: &Store) -> Result<(), Error> {
    println!("(c) three tasks take turns with switch");
    // A switch tag sends nothing and gives the switching task, when it next
    // runs, the continuation that switched back to it.
    let yld = Tag::<(), ContObj>::new(s)?;
    // The queue holds dynamic handles: a task's closure outlives any borrow
    // of the store, and a switched-from continuation arrives as a `ContObj`
    // (its type is recursive); `Cont::from_raw` takes one over, checking its
    // types.
    let queue: Rc<RefCell<VecDeque<ContObj>>> = Rc::new(RefCell::new(VecDeque::new()));
    let mut tasks = VecDeque::new();
    const NAMES: [&str; 3] = ["A", "B", "C"];
    for (id, name) in NAMES.into_iter().enumerate() {
        let queue = queue.clone();
        let task = Func::wrap(s, move |s: &Store, prev: ContObj| -> Result<i32, Trap> {
            let requeue = |k: ContObj| {
                if !k.is_null() {
                    queue.borrow_mut().push_back(k);
                }
            };
            requeue(prev);
            for round in 0..3 {
                let next = queue.borrow_mut().pop_front();
                let Some(next) = next else { break };
                step!("task {name}: round {round}, switch");
                let next = Cont::<ContObj, i32>::from_raw(s, next)?;
                requeue(yld.switch(s, next)?);
            }
            step!("task {name}: done");
            Ok(id as i32)
        })?;
        tasks.push_back(Cont::new(s, task)?.into_raw());
    }
    // A runs first; B and C wait in the queue, each started by a switch.
    let first = tasks.pop_front().ok_or(Error::Unexpected("no tasks"))?;
    queue.borrow_mut().extend(tasks);
    let mut next = Some(first);
    while let Some(k) = next {
        step!("resume a task");
        let task = Cont::<ContObj, i32>::from_raw(s, k)?;
        match task.resume(ContObj::NULL, &[yld.on_switch()])? {
            Resumed::Returned(v) => step!("task {} returned", NAMES[v as usize]),
            Resumed::Suspended(_) => return Err(Error::Unexpected("task suspended")),
        }
        next = queue.borrow_mut().pop_front();
    }
    Ok(())
}

/// (d) Three tasks that never yield, interleaved by the timer. The
/// scheduler is a guest: it runs each task for one tick with
/// `resume_for`, puts the preempted task at the back of its queue, and
/// after three rounds lets each one finish. The tasks only count; the
/// `preempted` lines come from the scheduler's stack, each task's first
/// and last lines from its own.
fn preemptive(s: &Store, machine: &Machine) -> Result<(), Error> {
    println!("(d) three tasks that never yield, preempted by the timer");
    let timer = kernel::timer::Timer::new(machine);
    const NAMES: [&str; 3] = ["A", "B", "C"];
    let stop = Rc::new(Cell::new(false));
    let mut tasks = VecDeque::new();
    for name in NAMES {
        let (stop, count) = (stop.clone(), Rc::new(Cell::new(0i64)));
        let shown = count.clone();
        let task = Func::wrap(s, move |_: &Store, (): ()| -> Result<i64, Trap> {
            step!("task {name}: counting, never yielding");
            while !core::hint::black_box(&stop).get() {
                core::hint::black_box(&count).set(count.get() + 1);
            }
            step!("task {name}: told to stop at {}", count.get());
            Ok(count.get())
        })?
        .detach();
        tasks.push_back((name, task, shown));
    }
    let scheduler = Func::wrap(s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let mut queue = VecDeque::new();
        for (name, task, count) in &tasks {
            queue.push_back((*name, Cont::new(s, *task)?, count));
        }
        for _ in 0..3 * NAMES.len() {
            let Some((name, k, count)) = queue.pop_front() else {
                break;
            };
            match k.resume_for(1, (), &[])? {
                Timed::Preempted(k) => {
                    step!(
                        "scheduler: the tick preempted task {name} at {}",
                        count.get()
                    );
                    queue.push_back((name, k, count));
                }
                Timed::InTime(_) => step!("scheduler: task {name} ended in its slice"),
            }
        }
        stop.set(true);
        while let Some((name, k, _)) = queue.pop_front() {
            if let Resumed::Returned(count) = k.resume((), &[])? {
                step!("scheduler: task {name} returned {count}");
            }
        }
        Ok(())
    })?;
    timer
        .start(Duration::from_millis(1))
        .map_err(|_| Error::Unexpected("the timer did not start"))?;
    step!("resume the scheduler, the timer ticking every 1 ms");
    let run = Cont::new(s, scheduler)?.resume((), &[]);
    timer
        .stop()
        .map_err(|_| Error::Unexpected("the timer did not stop"))?;
    match run? {
        Resumed::Returned(()) => step!("the scheduler returned"),
        Resumed::Suspended(_) => return Err(Error::Unexpected("the scheduler suspended")),
    }
    Ok(())
}
