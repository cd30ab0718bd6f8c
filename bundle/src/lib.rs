//! The bundle: `.wast` scripts as the host packs them for the kernel, a
//! binary format of length-prefixed records, and its bounds-checked
//! reader.
//!
//! The kernel has no text parser, so the host (`builder pack-wast`)
//! parses each script with the `wast` crate, encodes its modules to
//! binary, and writes the commands here; the kernel receives the file as
//! the bootloader's ramdisk and reads it back with [`decode`]. The reader
//! trusts nothing: every length is checked against what is left, every
//! tag against the kinds it knows, and a record must be consumed exactly,
//! so a truncated or corrupt bundle is refused with a [`BundleError`]
//! naming the offset, never a panic. A crate of its own, so that the
//! kernel (which reads bundles), `builder` and the kernel's build script
//! (which write them) compile one definition: it needs only `alloc`, and
//! the packer ([`pack`], feature `pack`) is the only part that needs `std`.
//!
//! ```text
//!  bundle  = "WAST" version:u32 nscripts:u32 script*
//!  script  = name:str ncommands:u32 command*
//!  command = kind:u8 line:u32 len:u32 payload[len]   (payload by kind:)
//!    1 module            name:opt-str bytes
//!    2 register          as:str module:opt-str
//!    3 action            action
//!    4 assert_return     action nresults:u32 expected*
//!    5 assert_trap       action message:str
//!    6 assert_trap       bytes message:str        (of instantiation)
//!    7 assert_exhaustion action message:str
//!    8 assert_invalid    bytes message:str
//!    9 assert_malformed  bytes message:str
//!   10 assert_unlinkable bytes message:str
//!   11 assert_exception  action
//!   12 assert_suspension action message:str
//!   13 not run           command:str why:str      (the host could not pack it)
//!   14 assert_malformed  why:str   (text the host's parser refuses: passed)
//!  action  = 0 module:opt-str name:str nargs:u32 value*    (invoke)
//!          | 1 module:opt-str name:str                     (get)
//!  value   = 0 i32:u32 | 1 i64:u64 | 2 f32-bits:u32 | 3 f64-bits:u64
//!          | 4 v128:u128 | 5 (ref.null) | 6 (ref.extern n:u32)
//!  expected= value | 10 f32 nan:canonical | 11 f32 nan:arithmetic
//!          | 12 f64 nan:canonical | 13 f64 nan:arithmetic
//!          | 14 any null ref | 15 any non-null funcref | 16 any externref
//!          | 17 any non-null ref | 18 either: n:u32 expected*
//!  str = bytes = len:u32 byte[len] (str: UTF-8); opt-str = 0 | 1 str
//!  integers little-endian
//! ```

#![cfg_attr(not(feature = "pack"), no_std)]

extern crate alloc;

#[cfg(feature = "pack")]
pub mod pack;
pub mod program;

use alloc::string::String;
use alloc::vec::Vec;

/// The first bytes of every bundle.
pub const MAGIC: &[u8; 4] = b"WAST";
/// The format's version; a reader refuses any other.
pub const VERSION: u32 = 1;

/// Every script of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub scripts: Vec<Script>,
}

/// One `.wast` file: its name (as given on the command line) and commands.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub name: String,
    pub commands: Vec<Command>,
}

/// One command and the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    pub line: u32,
    pub kind: Kind,
}

/// What a command does.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Instantiate a binary module, optionally naming the instance.
    Module {
        name: Option<String>,
        bytes: Vec<u8>,
    },
    /// Make an instance's exports importable as module `name`.
    Register {
        name: String,
        module: Option<String>,
    },
    /// An `invoke` or `get` whose results are not checked.
    Action(Action),
    AssertReturn {
        action: Action,
        results: Vec<Expected>,
    },
    AssertTrap {
        action: Action,
        message: String,
    },
    /// `assert_trap` of a module: its instantiation must trap.
    AssertTrapModule {
        bytes: Vec<u8>,
        message: String,
    },
    AssertExhaustion {
        action: Action,
        message: String,
    },
    AssertInvalid {
        bytes: Vec<u8>,
        message: String,
    },
    AssertMalformed {
        bytes: Vec<u8>,
        message: String,
    },
    AssertUnlinkable {
        bytes: Vec<u8>,
        message: String,
    },
    AssertException {
        action: Action,
    },
    AssertSuspension {
        action: Action,
        message: String,
    },
    /// An `assert_malformed` of text that the host's parser refuses, as
    /// the specification's interpreter does: the assertion holds already,
    /// and the kernel counts it as passed, with the parser's words.
    MalformedText {
        why: String,
    },
    /// A command the host could not pack (a module the text parser
    /// refuses, a pattern the format has no room for): reported, not run.
    NotRun {
        command: String,
        why: String,
    },
}

/// A call of an exported function, or a read of an exported global.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Invoke {
        module: Option<String>,
        name: String,
        args: Vec<Value>,
    },
    Get {
        module: Option<String>,
        name: String,
    },
}

/// An argument or an exact expected result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    I32(u32),
    I64(u64),
    /// Floats as their bits, so that a NaN's payload survives.
    F32(u32),
    F64(u64),
    V128(u128),
    RefNull,
    RefExtern(u32),
}

/// What an `assert_return` accepts for one result.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    Value(Value),
    F32CanonicalNan,
    F32ArithmeticNan,
    F64CanonicalNan,
    F64ArithmeticNan,
    /// `(ref.null)` of any type.
    AnyNull,
    /// `(ref.func)`: any non-null function reference.
    AnyFunc,
    /// `(ref.extern)`: any non-null external reference.
    AnyExtern,
    /// `(ref.any)`, `(ref.eq)`, ...: any non-null reference.
    AnyRef,
    Either(Vec<Expected>),
}

/// Why a bundle was refused: what was wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleError {
    pub offset: usize,
    pub what: &'static str,
}

impl core::fmt::Display for BundleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "malformed bundle at byte {}: {}", self.offset, self.what)
    }
}

// ----------------------------------------------------------------- write ---

/// The bytes of `bundle`.
pub fn encode(bundle: &Bundle) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(MAGIC);
    put_u32(&mut w, VERSION);
    put_u32(&mut w, bundle.scripts.len() as u32);
    for s in &bundle.scripts {
        put_str(&mut w, &s.name);
        put_u32(&mut w, s.commands.len() as u32);
        for c in &s.commands {
            let mut p = Vec::new();
            let kind = put_kind(&mut p, &c.kind);
            w.push(kind);
            put_u32(&mut w, c.line);
            put_bytes(&mut w, &p);
        }
    }
    w
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u32(w, b.len() as u32);
    w.extend_from_slice(b);
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_bytes(w, s.as_bytes());
}

fn put_opt(w: &mut Vec<u8>, s: &Option<String>) {
    match s {
        None => w.push(0),
        Some(s) => {
            w.push(1);
            put_str(w, s);
        }
    }
}

/// Writes the payload of `k`; returns its kind byte.
fn put_kind(w: &mut Vec<u8>, k: &Kind) -> u8 {
    match k {
        Kind::Module { name, bytes } => {
            put_opt(w, name);
            put_bytes(w, bytes);
            1
        }
        Kind::Register { name, module } => {
            put_str(w, name);
            put_opt(w, module);
            2
        }
        Kind::Action(a) => {
            put_action(w, a);
            3
        }
        Kind::AssertReturn { action, results } => {
            put_action(w, action);
            put_u32(w, results.len() as u32);
            for r in results {
                put_expected(w, r);
            }
            4
        }
        Kind::AssertTrap { action, message } => {
            put_action(w, action);
            put_str(w, message);
            5
        }
        Kind::AssertTrapModule { bytes, message } => {
            put_bytes(w, bytes);
            put_str(w, message);
            6
        }
        Kind::AssertExhaustion { action, message } => {
            put_action(w, action);
            put_str(w, message);
            7
        }
        Kind::AssertInvalid { bytes, message } => {
            put_bytes(w, bytes);
            put_str(w, message);
            8
        }
        Kind::AssertMalformed { bytes, message } => {
            put_bytes(w, bytes);
            put_str(w, message);
            9
        }
        Kind::AssertUnlinkable { bytes, message } => {
            put_bytes(w, bytes);
            put_str(w, message);
            10
        }
        Kind::AssertException { action } => {
            put_action(w, action);
            11
        }
        Kind::AssertSuspension { action, message } => {
            put_action(w, action);
            put_str(w, message);
            12
        }
        Kind::NotRun { command, why } => {
            put_str(w, command);
            put_str(w, why);
            13
        }
        Kind::MalformedText { why } => {
            put_str(w, why);
            14
        }
    }
}

fn put_action(w: &mut Vec<u8>, a: &Action) {
    match a {
        Action::Invoke { module, name, args } => {
            w.push(0);
            put_opt(w, module);
            put_str(w, name);
            put_u32(w, args.len() as u32);
            for v in args {
                put_value(w, v);
            }
        }
        Action::Get { module, name } => {
            w.push(1);
            put_opt(w, module);
            put_str(w, name);
        }
    }
}

fn put_value(w: &mut Vec<u8>, v: &Value) {
    match *v {
        Value::I32(x) => {
            w.push(0);
            put_u32(w, x);
        }
        Value::I64(x) => {
            w.push(1);
            w.extend_from_slice(&x.to_le_bytes());
        }
        Value::F32(x) => {
            w.push(2);
            put_u32(w, x);
        }
        Value::F64(x) => {
            w.push(3);
            w.extend_from_slice(&x.to_le_bytes());
        }
        Value::V128(x) => {
            w.push(4);
            w.extend_from_slice(&x.to_le_bytes());
        }
        Value::RefNull => w.push(5),
        Value::RefExtern(x) => {
            w.push(6);
            put_u32(w, x);
        }
    }
}

fn put_expected(w: &mut Vec<u8>, e: &Expected) {
    match e {
        Expected::Value(v) => put_value(w, v),
        Expected::F32CanonicalNan => w.push(10),
        Expected::F32ArithmeticNan => w.push(11),
        Expected::F64CanonicalNan => w.push(12),
        Expected::F64ArithmeticNan => w.push(13),
        Expected::AnyNull => w.push(14),
        Expected::AnyFunc => w.push(15),
        Expected::AnyExtern => w.push(16),
        Expected::AnyRef => w.push(17),
        Expected::Either(es) => {
            w.push(18);
            put_u32(w, es.len() as u32);
            for e in es {
                put_expected(w, e);
            }
        }
    }
}

// ------------------------------------------------------------------ read ---

/// Reads a bundle; refuses anything but exactly what [`encode`] writes.
pub fn decode(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let scripts = Scripts::new(bytes)?.collect::<Result<Vec<_>, _>>()?;
    Ok(Bundle { scripts })
}

/// The scripts of a bundle read one at a time, each checked as
/// [`decode`] checks it, so that a reader may run a script and drop it
/// before it reads the next: a bundle of the whole WebAssembly test
/// suite (some 60,000 commands) never lives in the kernel's heap at
/// once. After the last script, bytes left over are an error.
pub struct Scripts<'a> {
    r: Reader<'a>,
    left: usize,
    failed: bool,
}

impl<'a> Scripts<'a> {
    /// The reader of `bytes`, its header (magic, version, count) checked.
    pub fn new(bytes: &'a [u8]) -> Result<Scripts<'a>, BundleError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(r.error_at(0, "not a bundle (no WAST magic)"));
        }
        if r.u32()? != VERSION {
            return Err(r.error_at(4, "a bundle of another version"));
        }
        let left = r.count()?;
        Ok(Scripts {
            r,
            left,
            failed: false,
        })
    }

    /// How many scripts are still to be read.
    pub fn remaining(&self) -> usize {
        self.left
    }

    fn script(&mut self) -> Result<Script, BundleError> {
        let r = &mut self.r;
        let bytes = r.bytes;
        let name = r.string()?;
        let m = r.count()?;
        let mut commands = Vec::new();
        for _ in 0..m {
            let kind = r.u8()?;
            let line = r.u32()?;
            let len = r.u32()? as usize;
            let start = r.at;
            let payload = r.take(len)?;
            let mut p = Reader {
                bytes: &bytes[..start + payload.len()],
                at: start,
            };
            let kind = p.kind(kind)?;
            if p.at != start + len {
                return Err(p.error("a record longer than its contents"));
            }
            commands.push(Command { line, kind });
        }
        Ok(Script { name, commands })
    }
}

impl Iterator for Scripts<'_> {
    type Item = Result<Script, BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = if self.left == 0 {
            if self.r.at == self.r.bytes.len() {
                return None;
            }
            Err(self.r.error("bytes after the last script"))
        } else {
            self.left -= 1;
            self.script()
        };
        self.failed = item.is_err();
        Some(item)
    }
}

/// A cursor over the bundle; each read checks what is left.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &'static str) -> BundleError {
        self.error_at(self.at, what)
    }

    fn error_at(&self, offset: usize, what: &'static str) -> BundleError {
        BundleError { offset, what }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], BundleError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.error("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BundleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, BundleError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, BundleError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, BundleError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items that each take at least one byte: no more than
    /// the bytes left, so that a corrupt count cannot make a reader
    /// reserve memory for items that are not there.
    fn count(&mut self) -> Result<usize, BundleError> {
        let n = self.u32()? as usize;
        if n > self.bytes.len() - self.at {
            return Err(self.error("a count larger than the bytes left"));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<Vec<u8>, BundleError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }

    fn string(&mut self) -> Result<String, BundleError> {
        let at = self.at;
        let b = self.bytes()?;
        String::from_utf8(b).map_err(|_| self.error_at(at, "a string that is not UTF-8"))
    }

    fn opt(&mut self) -> Result<Option<String>, BundleError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            _ => Err(self.error_at(self.at - 1, "an optional name flag other than 0 or 1")),
        }
    }

    fn kind(&mut self, kind: u8) -> Result<Kind, BundleError> {
        Ok(match kind {
            1 => Kind::Module {
                name: self.opt()?,
                bytes: self.bytes()?,
            },
            2 => Kind::Register {
                name: self.string()?,
                module: self.opt()?,
            },
            3 => Kind::Action(self.action()?),
            4 => {
                let action = self.action()?;
                let n = self.count()?;
                let mut results = Vec::new();
                for _ in 0..n {
                    results.push(self.expected(0)?);
                }
                Kind::AssertReturn { action, results }
            }
            5 => Kind::AssertTrap {
                action: self.action()?,
                message: self.string()?,
            },
            6 => Kind::AssertTrapModule {
                bytes: self.bytes()?,
                message: self.string()?,
            },
            7 => Kind::AssertExhaustion {
                action: self.action()?,
                message: self.string()?,
            },
            8 => Kind::AssertInvalid {
                bytes: self.bytes()?,
                message: self.string()?,
            },
            9 => Kind::AssertMalformed {
                bytes: self.bytes()?,
                message: self.string()?,
            },
            10 => Kind::AssertUnlinkable {
                bytes: self.bytes()?,
                message: self.string()?,
            },
            11 => Kind::AssertException {
                action: self.action()?,
            },
            12 => Kind::AssertSuspension {
                action: self.action()?,
                message: self.string()?,
            },
            13 => Kind::NotRun {
                command: self.string()?,
                why: self.string()?,
            },
            14 => Kind::MalformedText {
                why: self.string()?,
            },
            _ => return Err(self.error_at(self.at, "an unknown command kind")),
        })
    }

    fn action(&mut self) -> Result<Action, BundleError> {
        let at = self.at;
        match self.u8()? {
            0 => {
                let module = self.opt()?;
                let name = self.string()?;
                let n = self.count()?;
                let mut args = Vec::new();
                for _ in 0..n {
                    let at = self.at;
                    let tag = self.u8()?;
                    args.push(self.value(tag, at)?);
                }
                Ok(Action::Invoke { module, name, args })
            }
            1 => Ok(Action::Get {
                module: self.opt()?,
                name: self.string()?,
            }),
            _ => Err(self.error_at(at, "an unknown action kind")),
        }
    }

    fn value(&mut self, tag: u8, at: usize) -> Result<Value, BundleError> {
        Ok(match tag {
            0 => Value::I32(self.u32()?),
            1 => Value::I64(self.u64()?),
            2 => Value::F32(self.u32()?),
            3 => Value::F64(self.u64()?),
            4 => Value::V128(u128::from_le_bytes(self.array()?)),
            5 => Value::RefNull,
            6 => Value::RefExtern(self.u32()?),
            _ => return Err(self.error_at(at, "an unknown value kind")),
        })
    }

    /// An expected result; `depth` bounds the nesting of `either`.
    fn expected(&mut self, depth: u32) -> Result<Expected, BundleError> {
        let at = self.at;
        Ok(match self.u8()? {
            t @ 0..=6 => Expected::Value(self.value(t, at)?),
            10 => Expected::F32CanonicalNan,
            11 => Expected::F32ArithmeticNan,
            12 => Expected::F64CanonicalNan,
            13 => Expected::F64ArithmeticNan,
            14 => Expected::AnyNull,
            15 => Expected::AnyFunc,
            16 => Expected::AnyExtern,
            17 => Expected::AnyRef,
            18 if depth < 4 => {
                let n = self.count()?;
                let mut es = Vec::new();
                for _ in 0..n {
                    es.push(self.expected(depth + 1)?);
                }
                Expected::Either(es)
            }
            18 => return Err(self.error_at(at, "`either` nested more than 4 deep")),
            _ => return Err(self.error_at(at, "an unknown expected-result kind")),
        })
    }
}
