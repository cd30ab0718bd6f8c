//! Runs the commands of one script: modules instantiated in a
//! [`Linker`] (so `register` makes their exports importable), actions
//! performed, assertions checked; one line per command, and the counts.
//!
//! Each line reads `wast <file>:<line> <command> ... ok` or `... FAILED:
//! <why>`. An assertion about a trap compares the interpreter's reason
//! ([`crate::wasm::trap::reason`]) with the expected text as the
//! specification's interpreter does: the reason must start with it. A
//! module refused because it uses what this interpreter does not
//! implement is never counted as `assert_invalid` or `assert_malformed`
//! passing: the line says it was refused as unsupported. Text that the
//! host's parser refused inside an `assert_malformed` passes, as it does
//! in the specification's interpreter (the host packed it as such).
//!
//! With a tick budget ([`run_script_for`]), every call a command makes
//! into an instance may take that many timer ticks: a command that never
//! ends stops at the interpreter's next safe point with the trap "timed
//! out" (`Instance::set_tick_budget`), its line fails saying so, and the
//! script goes on with the next command.
//!
//! A module that is refused or fails to instantiate leaves no current
//! module (and its `$name` names nothing): the commands that follow it
//! fail with "no module" rather than run against an earlier module.

use super::bundle::{Action, Command, Expected, Kind, Script, Value};
use crate::cont::{Store, TrapKind};
use crate::wasm::{Error, Linker, Module, Val};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::pin::Pin;

/// How many commands passed and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
}

/// The prefix of a compile error for what the interpreter lacks.
const UNSUPPORTED: &str = "not supported by this interpreter";

/// The state of one script: its linker, and the names of its instances.
struct Runner {
    linker: Linker,
    /// Each `$name` given, and its instance (`None`: that module failed).
    named: Vec<(String, Option<usize>)>,
    /// The latest module's instance (`None`: none yet, or it failed).
    current: Option<usize>,
    budget: usize,
    /// Ticks each call into an instance may take (`None`: no limit).
    ticks: Option<u32>,
}

/// Runs `script` in `store` (one store for the whole script), calls from
/// the runner allowed `budget` bytes of native stack; each line goes to
/// `out`.
pub fn run_script(
    script: &Script,
    store: Pin<Box<Store>>,
    budget: usize,
    out: &mut dyn FnMut(&str),
) -> Counts {
    run_commands(script, store, budget, None, out)
}

/// [`run_script`] with a budget of `ticks` timer ticks for each call a
/// command makes into an instance (see the module docs). Without a
/// running timer no tick comes, and this is `run_script`.
pub fn run_script_for(
    script: &Script,
    store: Pin<Box<Store>>,
    budget: usize,
    ticks: u32,
    out: &mut dyn FnMut(&str),
) -> Counts {
    run_commands(script, store, budget, Some(ticks), out)
}

fn run_commands(
    script: &Script,
    store: Pin<Box<Store>>,
    budget: usize,
    ticks: Option<u32>,
    out: &mut dyn FnMut(&str),
) -> Counts {
    let mut r = Runner {
        linker: Linker::new(store),
        named: Vec::new(),
        current: None,
        budget,
        ticks,
    };
    let mut counts = Counts::default();
    for c in &script.commands {
        let (what, result) = r.command(c);
        let line = match &result {
            Ok(()) => {
                counts.passed += 1;
                format!("wast {}:{} {what} ... ok", script.name, c.line)
            }
            Err(why) => {
                counts.failed += 1;
                format!("wast {}:{} {what} ... FAILED: {why}", script.name, c.line)
            }
        };
        out(&line);
    }
    counts
}

/// The name a command's line shows.
fn name_of(k: &Kind) -> String {
    let action = |a: &Action| match a {
        Action::Invoke { name, .. } => format!("invoke \"{name}\""),
        Action::Get { name, .. } => format!("get \"{name}\""),
    };
    match k {
        Kind::Module { name: Some(n), .. } => format!("module {n}"),
        Kind::Module { name: None, .. } => String::from("module"),
        Kind::Register { name, .. } => format!("register \"{name}\""),
        Kind::Action(a) => action(a),
        Kind::AssertReturn { action: a, .. } => format!("assert_return {}", action(a)),
        Kind::AssertTrap { action: a, .. } => format!("assert_trap {}", action(a)),
        Kind::AssertTrapModule { .. } => String::from("assert_trap module"),
        Kind::AssertExhaustion { action: a, .. } => format!("assert_exhaustion {}", action(a)),
        Kind::AssertInvalid { .. } => String::from("assert_invalid"),
        Kind::AssertMalformed { .. } => String::from("assert_malformed"),
        Kind::AssertUnlinkable { .. } => String::from("assert_unlinkable"),
        Kind::AssertException { action: a } => format!("assert_exception {}", action(a)),
        Kind::AssertSuspension { action: a, .. } => format!("assert_suspension {}", action(a)),
        Kind::MalformedText { .. } => String::from("assert_malformed"),
        Kind::NotRun { command, .. } => command.clone(),
    }
}

impl Runner {
    fn command(&mut self, c: &Command) -> (String, Result<(), String>) {
        let what = name_of(&c.kind);
        let r = match &c.kind {
            Kind::Module { name, bytes } => self.module(name.as_deref(), bytes),
            Kind::Register { name, module } => self.register(name, module.as_deref()),
            Kind::Action(a) => self.act(a).map(|_| ()).map_err(describe),
            Kind::AssertReturn { action, results } => self.assert_return(action, results),
            Kind::AssertTrap { action, message } => expect_trap(self.act(action), message, None),
            Kind::AssertExhaustion { action, message } => expect_trap(
                self.act(action),
                message,
                Some(crate::wasm::trap::STACK_EXHAUSTED),
            ),
            Kind::AssertSuspension { action, message } => match self.act(action) {
                Err(Error::Trap(t)) if t.kind() == TrapKind::UnhandledTag => {
                    expect_trap(Err(Error::Trap(t)), message, None)
                }
                other => Err(format!(
                    "expected an unhandled suspension, got {}",
                    outcome(&other)
                )),
            },
            Kind::AssertException { action } => match self.act(action) {
                Err(Error::Exception { .. }) => Ok(()),
                other => Err(format!("expected an exception, got {}", outcome(&other))),
            },
            Kind::AssertTrapModule { bytes, message } => match Module::new(bytes) {
                Err(e) => Err(format!("the module is refused: {}", e.message)),
                Ok(m) => match self.instantiate(m) {
                    Ok(_) => Err(String::from("expected a trap, the module instantiated")),
                    Err(e) => expect_trap(Err(e), message, None),
                },
            },
            Kind::AssertInvalid { bytes, .. } | Kind::AssertMalformed { bytes, .. } => {
                match Module::new(bytes) {
                    Ok(_) => Err(String::from(
                        "expected the module to be refused, it compiled",
                    )),
                    Err(e) if e.message.starts_with(UNSUPPORTED) => Err(format!(
                        "refused as unsupported, not as invalid: {}",
                        e.message
                    )),
                    Err(_) => Ok(()),
                }
            }
            Kind::AssertUnlinkable { bytes, .. } => match Module::new(bytes) {
                Err(e) => Err(format!("the module is refused: {}", e.message)),
                Ok(m) => match self.instantiate(m) {
                    Err(Error::Unlinkable(_)) => Ok(()),
                    Ok(_) => Err(String::from("expected unlinkable, it instantiated")),
                    Err(e) => Err(format!("expected unlinkable, got {}", describe(e))),
                },
            },
            Kind::MalformedText { .. } => Ok(()),
            Kind::NotRun { why, .. } => Err(format!("not run: {why}")),
        };
        (what, r)
    }

    /// Instantiates a module; if it fails, no module is current and its
    /// name, if any, names nothing, so that no later command runs
    /// against an earlier module.
    fn module(&mut self, name: Option<&str>, bytes: &[u8]) -> Result<(), String> {
        let made = Module::new(bytes)
            .map_err(|e| format!("refused at offset {}: {}", e.offset, e.message))
            .and_then(|m| self.instantiate(m).map_err(describe));
        if let Ok(i) = made
            && let Some(inst) = self.linker.instance(i)
        {
            inst.set_stack_budget(self.budget);
            inst.set_tick_budget(self.ticks);
        }
        self.current = made.as_ref().ok().copied();
        if let Some(n) = name {
            self.named.push((String::from(n), self.current));
        }
        made.map(|_| ())
    }

    /// Instantiates `m` in the linker, its start function under the
    /// command's budget of ticks: a start function that never ends times
    /// out like any other call.
    fn instantiate(&mut self, m: Module) -> Result<usize, Error> {
        let m = Arc::new(m);
        match self.ticks {
            Some(ticks) => {
                crate::cont::runtime::epoch::with_deadline(ticks, || self.linker.instantiate(m))
            }
            None => self.linker.instantiate(m),
        }
    }

    /// The instance a command names (`None`: the latest).
    fn which(&self, module: Option<&str>) -> Result<usize, String> {
        match module {
            None => self
                .current
                .ok_or_else(|| String::from("no module (none yet, or the latest failed)")),
            Some(n) => match self.named.iter().rev().find(|(m, _)| m == n) {
                Some((_, Some(i))) => Ok(*i),
                Some((_, None)) => Err(format!("no module {n} (it failed)")),
                None => Err(format!("no module named {n}")),
            },
        }
    }

    fn register(&mut self, name: &str, module: Option<&str>) -> Result<(), String> {
        let i = self.which(module)?;
        self.linker.register(name, i).map_err(describe)
    }

    fn act(&mut self, a: &Action) -> Result<Vec<Val>, Error> {
        let (module, name) = match a {
            Action::Invoke { module, name, .. } | Action::Get { module, name } => {
                (module.as_deref(), name)
            }
        };
        let Some(inst) = self
            .which(module)
            .ok()
            .and_then(|i| self.linker.instance(i))
        else {
            return Err(Error::NoSuchExport);
        };
        match a {
            Action::Invoke { args, .. } => {
                let vals: Vec<Val> = args.iter().map(|v| to_val(*v)).collect();
                inst.invoke(name, &vals)
            }
            Action::Get { .. } => inst.get_global(name).map(|v| alloc::vec![v]),
        }
    }

    fn assert_return(&mut self, a: &Action, want: &[Expected]) -> Result<(), String> {
        let got = self.act(a).map_err(describe)?;
        if got.len() != want.len() || !got.iter().zip(want).all(|(g, w)| matches(*g, w)) {
            return Err(format!("returned {got:?}, expected {want:?}"));
        }
        Ok(())
    }
}

/// The interpreter's value for a script's argument.
fn to_val(v: Value) -> Val {
    match v {
        Value::I32(x) => Val::I32(x as i32),
        Value::I64(x) => Val::I64(x as i64),
        Value::F32(b) => Val::F32(f32::from_bits(b)),
        Value::F64(b) => Val::F64(f64::from_bits(b)),
        Value::V128(x) => Val::V128(x),
        Value::RefNull => Val::NullRef,
        Value::RefExtern(n) => Val::Extern(n),
    }
}

/// Whether result `g` is what `w` accepts. Floats compare by their bits.
pub fn matches(g: Val, w: &Expected) -> bool {
    const F32_NAN: u32 = 0x7fc0_0000;
    const F64_NAN: u64 = 0x7ff8_0000_0000_0000;
    match (w, g) {
        (Expected::Value(Value::I32(x)), Val::I32(v)) => v as u32 == *x,
        (Expected::Value(Value::I64(x)), Val::I64(v)) => v as u64 == *x,
        (Expected::Value(Value::F32(x)), Val::F32(v)) => v.to_bits() == *x,
        (Expected::Value(Value::F64(x)), Val::F64(v)) => v.to_bits() == *x,
        (Expected::Value(Value::V128(x)), Val::V128(v)) => v == *x,
        (Expected::Value(Value::RefNull) | Expected::AnyNull, Val::NullRef) => true,
        (Expected::F32CanonicalNan, Val::F32(v)) => v.to_bits() & 0x7fff_ffff == F32_NAN,
        (Expected::F32ArithmeticNan, Val::F32(v)) => v.to_bits() & F32_NAN == F32_NAN,
        (Expected::F64CanonicalNan, Val::F64(v)) => v.to_bits() & !(1 << 63) == F64_NAN,
        (Expected::F64ArithmeticNan, Val::F64(v)) => v.to_bits() & F64_NAN == F64_NAN,
        (Expected::AnyFunc, Val::Ref(r)) => r.is_func(),
        (Expected::Value(Value::RefExtern(x)), Val::Extern(v)) => v == *x,
        (Expected::AnyExtern, Val::Extern(_)) => true,
        (Expected::AnyRef, Val::Ref(_) | Val::Extern(_)) => true,
        (Expected::Either(ws), g) => ws.iter().any(|w| matches(g, w)),
        _ => false,
    }
}

/// A trap whose reason starts with `message` (and is `reason`, if given).
fn expect_trap(
    r: Result<Vec<Val>, Error>,
    message: &str,
    reason: Option<&str>,
) -> Result<(), String> {
    match r {
        Err(e @ Error::Trap(_)) => {
            let got = e.trap_reason().unwrap_or("");
            // The reason and its detail (an element's index), as the
            // specification's interpreter words it.
            let full = match &e {
                Error::Trap(t) if !crate::wasm::trap::detail(t).is_empty() => {
                    format!("{got} {}", crate::wasm::trap::detail(t))
                }
                _ => String::from(got),
            };
            if full.starts_with(message) && reason.is_none_or(|r| r == got) {
                Ok(())
            } else {
                Err(format!("trapped with \"{got}\", expected \"{message}\""))
            }
        }
        other => Err(format!(
            "expected a trap \"{message}\", got {}",
            outcome(&other)
        )),
    }
}

/// What an action did, in words.
fn outcome(r: &Result<Vec<Val>, Error>) -> String {
    match r {
        Ok(v) => format!("a return of {v:?}"),
        Err(e) => describe_ref(e),
    }
}

fn describe(e: Error) -> String {
    describe_ref(&e)
}

fn describe_ref(e: &Error) -> String {
    match e {
        Error::Trap(_) if e.trap_reason() == Some(crate::wasm::trap::TIMED_OUT) => {
            String::from("timed out: it ran past its budget of ticks")
        }
        Error::Trap(_) => format!("a trap \"{}\"", e.trap_reason().unwrap_or("")),
        Error::Exception { tag, .. } => format!("an uncaught exception of tag {tag}"),
        Error::NoSuchExport => String::from("no such export"),
        Error::ArgumentMismatch => String::from("arguments of other types"),
        Error::Instantiate(why) => format!("instantiation failed: {why}"),
        Error::Unlinkable(why) => format!("unlinkable: {why}"),
    }
}
