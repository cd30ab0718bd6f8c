//! The in-kernel test harness: suites of plain functions, one serial line per
//! test, and a closing count (`docs/spec.md` §5).
//!
//! A test is a `fn() -> TestResult`. It passes by returning `Ok(())` and fails
//! by returning `Err(reason)`; the `check!`/`check_eq!` macros build those
//! reasons with the file, line and both values, so a failing line says what
//! was expected. A suite binary (one per file in `tests/`) calls
//! `run_suite` with the boot's `Machine`, which prints
//!
//! ```text
//! test memory::heap_reuses_freed_blocks ... ok
//! test memory::double_free_is_refused ... FAILED: tests/memory.rs:40: left Ok(()), right Err(DoubleFree(4096))
//! 1 passed, 1 failed
//! ```
//!
//! and exits QEMU with success only if every test passed.
//!
//! Some behaviour can only be observed by ending the boot: a kernel stack
//! overflow must be reported as one (through the page-fault handler, on
//! its own stack; see `interrupts`). Such a test runs in a boot of its
//! own, declares what it expects with [`expect_fatal`], and provokes it; the
//! kernel's fatal path (`fatal.rs`) calls the hook `run_suite` installed,
//! which reports the test as passed or failed accordingly.

use alloc::string::String;

/// What a test returns: `Err` carries the reason it failed.
pub type TestResult = Result<(), String>;

/// One test: a name that states the behaviour, and the function that checks it.
pub struct Test {
    pub name: &'static str,
    pub run: Run,
}

/// A test's function: most need nothing; a test of a privileged effect
/// (taking frames, say) is lent the suite's [`Machine`](crate::Machine),
/// for the whole boot (a guest's closure may capture it).
#[derive(Clone, Copy)]
pub enum Run {
    Plain(fn() -> TestResult),
    #[cfg(target_os = "none")]
    WithMachine(fn(&'static crate::Machine) -> TestResult),
}

/// The whole entry point of a test-suite kernel (one file in `tests/`):
/// `suite!("memory", [a, b, c])` boots, runs the tests in order, prints
/// their lines and the count, and exits QEMU with the verdict.
#[macro_export]
macro_rules! suite {
    ($name:literal, [$($test:path),* $(,)?]) => {
        $crate::bootloader_api::entry_point!(suite_main, config = &$crate::BOOTLOADER_CONFIG);

        fn suite_main(boot_info: &'static mut $crate::bootloader_api::BootInfo) -> ! {
            let machine = $crate::init(boot_info);
            $crate::testing::run_suite(machine, $name, $crate::tests![$($test),*])
        }
    };
    ($name:literal, [$($tests:tt)*]) => {
        $crate::bootloader_api::entry_point!(suite_main, config = &$crate::BOOTLOADER_CONFIG);

        fn suite_main(boot_info: &'static mut $crate::bootloader_api::BootInfo) -> ! {
            let machine = $crate::init(boot_info);
            $crate::testing::run_suite(machine, $name, $crate::tests![$($tests)*])
        }
    };
}

/// Builds a `&[Test]` from function names: `tests![a, b]` names each test
/// after its function. A test written `machine c` is a
/// `fn(&Machine) -> TestResult`, lent the suite's [`Machine`](crate::Machine).
#[macro_export]
macro_rules! tests {
    ($($f:path),* $(,)?) => {
        &[$($crate::testing::Test {
            name: $crate::testing::last_segment(stringify!($f)),
            run: $crate::testing::Run::Plain($f),
        }),*]
    };
    (@acc [$($out:expr),*]) => { &[$($out),*] };
    (@acc [$($out:expr),*] machine $f:path $(, $($rest:tt)*)?) => {
        $crate::tests!(@acc [$($out,)* $crate::testing::Test {
            name: $crate::testing::last_segment(stringify!($f)),
            run: $crate::testing::Run::WithMachine($f),
        }] $($($rest)*)?)
    };
    (@acc [$($out:expr),*] $f:path $(, $($rest:tt)*)?) => {
        $crate::tests!(@acc [$($out,)* $crate::testing::Test {
            name: $crate::testing::last_segment(stringify!($f)),
            run: $crate::testing::Run::Plain($f),
        }] $($($rest)*)?)
    };
    ($($rest:tt)*) => {
        $crate::tests!(@acc [] $($rest)*)
    };
}

/// Fails the test with a message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err(alloc::format!("{}:{}: check failed: {}", file!(), line!(), stringify!($cond)));
        }
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(alloc::format!("{}:{}: {}", file!(), line!(), format_args!($($msg)+)));
        }
    };
}

/// Fails the test unless `left == right`, naming both values.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err(alloc::format!(
                        "{}:{}: {} == {}: left {:?}, right {:?}",
                        file!(),
                        line!(),
                        stringify!($left),
                        stringify!($right),
                        l,
                        r
                    ));
                }
            }
        }
    };
}

/// `stringify!(path::to::f)` → `"f"`: a test is named after its function.
pub const fn last_segment(path: &'static str) -> &'static str {
    let bytes = path.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        if bytes[i - 1] == b':' || bytes[i - 1] == b' ' {
            break;
        }
        i -= 1;
    }
    // SAFETY-free split: `i` sits just after an ASCII byte, a char boundary.
    match path.split_at_checked(i) {
        Some((_, name)) => name,
        None => path,
    }
}

/// Kinds of fatal events a boot-ending test can expect (the kernel's).
pub use crate::fatal::Fatal;

/// The test that is running, and the fatal event it expects (if any), for
/// the benefit of panic and fault handlers.
static CURRENT: crate::sync::Mutex<Option<(&'static str, &'static str, Option<Fatal>)>> =
    crate::sync::Mutex::kernel("test harness", None);

/// Declares that the running test passes by ending the boot with `kind`.
/// Safe for anyone: it changes only how the harness names an end of the
/// boot that something else caused (ending it takes the kernel's own fatal
/// path or the [`Machine`](crate::Machine)).
pub fn expect_fatal(kind: Fatal) {
    if let Some(cur) = CURRENT.lock().as_mut() {
        cur.2 = Some(kind);
    }
}

/// The harness's end of a fatal event ([`crate::fatal::FatalHook`], which
/// `run_suite` installs): reports the running test as passed (the expected
/// end) or failed, prints the count, and exits QEMU. Never returns.
#[cfg(target_os = "none")]
fn harness_fatal(kind: Fatal) -> ! {
    // A handler may have interrupted the holder of this lock; the boot ends
    // here, so take the value without waiting.
    let current = match CURRENT.try_lock() {
        Some(guard) => *guard,
        None => None,
    };
    match current {
        Some((suite, name, Some(expected))) if expected == kind => {
            crate::println!("test {suite}::{name} ... ok");
            crate::println!("1 passed, 0 failed");
            exit(true)
        }
        Some((suite, name, _)) => {
            crate::println!("test {suite}::{name} ... FAILED: {kind:?} (see the report above)");
            crate::println!("0 passed, 1 failed");
            exit(false)
        }
        None => exit(false),
    }
}

/// Runs every test of `suite`, prints one line each and the closing count,
/// and exits QEMU: success only if all passed. Takes the boot's
/// [`Machine`](crate::Machine): the verdict ends the boot.
#[cfg(target_os = "none")]
pub fn run_suite(machine: crate::Machine, suite: &'static str, tests: &[Test]) -> ! {
    // Lent to the tests for the rest of the boot, so that one may move it
    // into a guest's (`'static`) closure as a kernel's `main` can.
    let machine: &'static crate::Machine = alloc::boxed::Box::leak(alloc::boxed::Box::new(machine));
    crate::fatal::set_fatal_hook(machine, harness_fatal);
    // A stress build (`stress.rs`) names its suites `stress-NAME` and runs
    // them with the stress clock on.
    #[cfg(feature = "stress")]
    let suite: &'static str = {
        crate::stress::begin(machine);
        alloc::boxed::Box::leak(alloc::format!("stress-{suite}").into_boxed_str())
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for test in tests {
        *CURRENT.lock() = Some((suite, test.name, None));
        let result = match test.run {
            Run::Plain(run) => run(),
            Run::WithMachine(run) => run(machine),
        };
        match result {
            Ok(()) => {
                passed += 1;
                crate::println!("test {suite}::{} ... ok", test.name);
            }
            Err(reason) => {
                failed += 1;
                crate::println!("test {suite}::{} ... FAILED: {reason}", test.name);
            }
        }
        *CURRENT.lock() = None;
    }
    #[cfg(feature = "stress")]
    {
        let counts = crate::stress::counts();
        crate::println!("{}", crate::stress::report(suite, &counts));
        let name = "ticks_preempted_guests_and_no_preemption_nested";
        match crate::stress::verdict(&counts) {
            Ok(()) => {
                passed += 1;
                crate::println!("test {suite}::{name} ... ok");
            }
            Err(reason) => {
                failed += 1;
                crate::println!("test {suite}::{name} ... FAILED: {reason}");
            }
        }
    }
    crate::println!("{passed} passed, {failed} failed");
    machine.exit_with(failed == 0)
}

#[cfg(target_os = "none")]
fn exit(success: bool) -> ! {
    crate::qemu::exit(if success {
        crate::qemu::ExitCode::Success
    } else {
        crate::qemu::ExitCode::Failure
    })
}

#[cfg(test)]
mod host_tests {
    use super::last_segment;

    #[test]
    fn last_segment_strips_module_path() {
        assert_eq!(last_segment("memory::heap_grows"), "heap_grows");
        assert_eq!(last_segment("heap_grows"), "heap_grows");
        assert_eq!(last_segment("a :: b :: c"), "c");
    }
}
