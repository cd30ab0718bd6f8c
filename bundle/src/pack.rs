//! Packs `.wast` scripts into the kernel's bundle format: each script
//! parsed with the `wast` crate, its modules encoded to binary, its
//! commands written as the bundle's records (the format is described in
//! this crate's root). Host only: the `wast` crate needs `std`.
//!
//! What the bundle cannot carry (a SIMD pattern, threads, a module the
//! host cannot encode) becomes a "not run" record with the reason, so the
//! kernel reports it as a failure of that command instead of the whole
//! script being lost; a script that does not parse at all becomes one
//! such record ([`pack_file`]), so it fails alone. The text of an
//! `assert_malformed` that the parser refuses is the assertion holding,
//! as in the specification's interpreter: a passed record.

use crate::{Action, Command, Expected, Kind, Script, Value};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// The script `text`, named `name` in the kernel's lines; an error if the
/// text does not parse as a script at all.
///
/// Confusable Unicode (bidirectional controls and the like, which the
/// `wast` crate refuses by default as a guard against "trojan source") is
/// allowed: the test suite's `names.wast` uses it on purpose, in names
/// and strings that are valid WebAssembly.
pub fn pack_script(name: &str, text: &str) -> Result<Script, String> {
    let mut lexer = Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let buf = ParseBuffer::new_with_lexer(lexer).map_err(|e| with_file(e, name, text))?;
    let wast: Wast = parser::parse(&buf).map_err(|e| with_file(e, name, text))?;
    let mut commands = Vec::new();
    for d in wast.directives {
        let line = d.span().linecol_in(text).0 as u32 + 1;
        commands.push(Command {
            line,
            kind: directive(d),
        });
    }
    Ok(Script {
        name: name.to_string(),
        commands,
    })
}

/// The script `text`, named `name`; a script that does not parse
/// becomes one "not run" record with the parser's message, so that in a
/// run of many files it fails alone and the others still run.
pub fn pack_file(name: &str, text: &str) -> Script {
    pack_script(name, text).unwrap_or_else(|why| Script {
        name: name.to_string(),
        commands: vec![Command {
            line: 1,
            kind: not_run("script", format!("the host cannot parse it: {why}")),
        }],
    })
}

/// Every `.wast` script of the folder `dir`, in the order of their file
/// names, each named by its file name (as `builder pack-wast` names the
/// files it is given): the kernel's build script packs `kernel/wast/` so,
/// and the host tests that run those scripts do the same.
pub fn pack_dir(dir: &std::path::Path) -> Result<crate::Bundle, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_some_and(|x| x == "wast") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut scripts = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        scripts.push(pack_file(&name, &text));
    }
    Ok(crate::Bundle { scripts })
}

fn with_file(mut e: wast::Error, name: &str, text: &str) -> String {
    e.set_path(std::path::Path::new(name));
    e.set_text(text);
    e.to_string()
}

fn not_run(command: &str, why: impl std::fmt::Display) -> Kind {
    Kind::NotRun {
        command: command.to_string(),
        why: why.to_string(),
    }
}

/// The bytes of a (possibly quoted) module, or why there are none.
fn encode(m: &mut QuoteWat) -> Result<Vec<u8>, String> {
    m.encode().map_err(|e| e.message())
}

fn directive(d: WastDirective) -> Kind {
    match d {
        WastDirective::Module(mut m) => {
            let name = match &m {
                QuoteWat::Wat(Wat::Module(module)) => module.id.map(|i| i.name().to_string()),
                _ => None,
            };
            match encode(&mut m) {
                Ok(bytes) => Kind::Module { name, bytes },
                Err(why) => not_run("module", format!("the host cannot encode it: {why}")),
            }
        }
        WastDirective::Register { name, module, .. } => Kind::Register {
            name: name.to_string(),
            module: module.map(|i| i.name().to_string()),
        },
        WastDirective::Invoke(i) => match invoke(i) {
            Ok(a) => Kind::Action(a),
            Err(why) => not_run("invoke", why),
        },
        WastDirective::AssertReturn { exec, results, .. } => {
            let action = match execute(exec) {
                Ok(a) => a,
                Err(why) => return not_run("assert_return", why),
            };
            match results.iter().map(ret).collect::<Result<Vec<_>, _>>() {
                Ok(results) => Kind::AssertReturn { action, results },
                Err(why) => not_run("assert_return", why),
            }
        }
        WastDirective::AssertTrap { exec, message, .. } => match exec {
            WastExecute::Wat(mut w) => match w.encode() {
                Ok(bytes) => Kind::AssertTrapModule {
                    bytes,
                    message: message.to_string(),
                },
                Err(e) => not_run("assert_trap", e.message()),
            },
            exec => match execute(exec) {
                Ok(action) => Kind::AssertTrap {
                    action,
                    message: message.to_string(),
                },
                Err(why) => not_run("assert_trap", why),
            },
        },
        WastDirective::AssertExhaustion { call, message, .. } => match invoke(call) {
            Ok(action) => Kind::AssertExhaustion {
                action,
                message: message.to_string(),
            },
            Err(why) => not_run("assert_exhaustion", why),
        },
        WastDirective::AssertInvalid {
            mut module,
            message,
            ..
        } => match encode(&mut module) {
            Ok(bytes) => Kind::AssertInvalid {
                bytes,
                message: message.to_string(),
            },
            Err(why) => not_run(
                "assert_invalid",
                format!("the host's text parser refuses the module already: {why}"),
            ),
        },
        WastDirective::AssertMalformed {
            mut module,
            message,
            ..
        } => match (encode(&mut module), module) {
            (Ok(bytes), _) => Kind::AssertMalformed {
                bytes,
                message: message.to_string(),
            },
            (Err(why), QuoteWat::QuoteModule(..) | QuoteWat::QuoteComponent(..)) => {
                Kind::MalformedText { why }
            }
            (Err(why), _) => not_run(
                "assert_malformed",
                format!("the host cannot encode the module: {why}"),
            ),
        },
        WastDirective::AssertUnlinkable {
            mut module,
            message,
            ..
        } => match module.encode() {
            Ok(bytes) => Kind::AssertUnlinkable {
                bytes,
                message: message.to_string(),
            },
            Err(e) => not_run("assert_unlinkable", e.message()),
        },
        WastDirective::AssertException { exec, .. } => match execute(exec) {
            Ok(action) => Kind::AssertException { action },
            Err(why) => not_run("assert_exception", why),
        },
        WastDirective::AssertSuspension { exec, message, .. } => match execute(exec) {
            Ok(action) => Kind::AssertSuspension {
                action,
                message: message.to_string(),
            },
            Err(why) => not_run("assert_suspension", why),
        },
        WastDirective::ModuleDefinition(_) => not_run("module definition", "not supported"),
        WastDirective::ModuleInstance { .. } => not_run("module instance", "not supported"),
        WastDirective::AssertInvalidCustom { .. } | WastDirective::AssertMalformedCustom { .. } => {
            not_run("assert on custom sections", "not supported")
        }
        WastDirective::Thread(_) | WastDirective::Wait { .. } => {
            not_run("thread", "threads are not supported")
        }
    }
}

fn execute(e: WastExecute) -> Result<Action, String> {
    match e {
        WastExecute::Invoke(i) => invoke(i),
        WastExecute::Get { module, global, .. } => Ok(Action::Get {
            module: module.map(|i| i.name().to_string()),
            name: global.to_string(),
        }),
        WastExecute::Wat(_) => Err("a module where an action was expected".to_string()),
    }
}

fn invoke(i: WastInvoke) -> Result<Action, String> {
    let args = i.args.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
    Ok(Action::Invoke {
        module: i.module.map(|m| m.name().to_string()),
        name: i.name.to_string(),
        args,
    })
}

fn arg(a: &WastArg) -> Result<Value, String> {
    let WastArg::Core(a) = a else {
        return Err("a component-model argument".to_string());
    };
    Ok(match a {
        WastArgCore::I32(x) => Value::I32(*x as u32),
        WastArgCore::I64(x) => Value::I64(*x as u64),
        WastArgCore::F32(x) => Value::F32(x.bits),
        WastArgCore::F64(x) => Value::F64(x.bits),
        WastArgCore::V128(v) => Value::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(_) => Value::RefNull,
        WastArgCore::RefExtern(n) => Value::RefExtern(*n),
        WastArgCore::RefHost(_) => return Err("a ref.host argument".to_string()),
    })
}

fn ret(r: &WastRet) -> Result<Expected, String> {
    let WastRet::Core(r) = r else {
        return Err("a component-model result".to_string());
    };
    ret_core(r)
}

fn ret_core(r: &WastRetCore) -> Result<Expected, String> {
    Ok(match r {
        WastRetCore::I32(x) => Expected::Value(Value::I32(*x as u32)),
        WastRetCore::I64(x) => Expected::Value(Value::I64(*x as u64)),
        WastRetCore::F32(NanPattern::Value(x)) => Expected::Value(Value::F32(x.bits)),
        WastRetCore::F32(NanPattern::CanonicalNan) => Expected::F32CanonicalNan,
        WastRetCore::F32(NanPattern::ArithmeticNan) => Expected::F32ArithmeticNan,
        WastRetCore::F64(NanPattern::Value(x)) => Expected::Value(Value::F64(x.bits)),
        WastRetCore::F64(NanPattern::CanonicalNan) => Expected::F64CanonicalNan,
        WastRetCore::F64(NanPattern::ArithmeticNan) => Expected::F64ArithmeticNan,
        WastRetCore::RefNull(_) => Expected::AnyNull,
        WastRetCore::RefFunc(_) => Expected::AnyFunc,
        WastRetCore::RefExtern(Some(n)) => Expected::Value(Value::RefExtern(*n)),
        WastRetCore::RefExtern(None) => Expected::AnyExtern,
        WastRetCore::RefAny
        | WastRetCore::RefEq
        | WastRetCore::RefArray
        | WastRetCore::RefStruct
        | WastRetCore::RefI31
        | WastRetCore::RefI31Shared => Expected::AnyRef,
        WastRetCore::Either(rs) => {
            Expected::Either(rs.iter().map(ret_core).collect::<Result<_, _>>()?)
        }
        WastRetCore::V128(_) => return Err("a v128 result pattern".to_string()),
        WastRetCore::RefHost(_) => return Err("a ref.host result".to_string()),
    })
}
