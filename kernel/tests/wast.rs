//! Host tests of the `.wast` runner: the bundle format read back as
//! written and malformed bundles refused, and this kernel's own script
//! (`kernel/wast/`) run through the runner with every command passing.

use kernel::cont::{MmapStacks, Store};
use kernel::wasm::Val;
use kernel::wast::bundle::*;
use kernel::wast::run::{Counts, matches, run_script, run_script_for};
use std::string::String;
use std::vec;
use std::vec::Vec;

/// The scripts of `kernel/wast/`, packed as `build.rs` packs them for the
/// in-kernel suite, and encoded.
fn own_bundle() -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wast");
    let packed = ::bundle::pack::pack_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    ::bundle::encode(&packed)
}

fn s(x: &str) -> String {
    String::from(x)
}

/// A bundle with one command of every kind and every value kind.
fn every_kind() -> Bundle {
    let invoke = Action::Invoke {
        module: Some(s("$m")),
        name: s("f"),
        args: vec![
            Value::I32(u32::MAX),
            Value::I64(1 << 40),
            Value::F32(0x7fc0_0001),
            Value::F64(0x7ff8_0000_0000_0002),
            Value::V128(u128::MAX - 1),
            Value::RefNull,
            Value::RefExtern(3),
        ],
    };
    let get = Action::Get {
        module: None,
        name: s("g"),
    };
    let kinds = vec![
        Kind::Module {
            name: Some(s("$m")),
            bytes: vec![0, 97, 115, 109],
        },
        Kind::Register {
            name: s("m"),
            module: None,
        },
        Kind::Action(get.clone()),
        Kind::AssertReturn {
            action: invoke.clone(),
            results: vec![
                Expected::Value(Value::I32(1)),
                Expected::F32CanonicalNan,
                Expected::F32ArithmeticNan,
                Expected::F64CanonicalNan,
                Expected::F64ArithmeticNan,
                Expected::AnyNull,
                Expected::AnyFunc,
                Expected::AnyExtern,
                Expected::AnyRef,
                Expected::Either(vec![Expected::AnyNull, Expected::Value(Value::I64(2))]),
            ],
        },
        Kind::AssertTrap {
            action: get.clone(),
            message: s("unreachable"),
        },
        Kind::AssertTrapModule {
            bytes: vec![1],
            message: s("x"),
        },
        Kind::AssertExhaustion {
            action: invoke.clone(),
            message: s("call stack exhausted"),
        },
        Kind::AssertInvalid {
            bytes: vec![2, 3],
            message: s("type mismatch"),
        },
        Kind::AssertMalformed {
            bytes: vec![],
            message: s("magic"),
        },
        Kind::AssertUnlinkable {
            bytes: vec![4],
            message: s("unknown import"),
        },
        Kind::AssertException {
            action: invoke.clone(),
        },
        Kind::AssertSuspension {
            action: invoke,
            message: s("unhandled"),
        },
        Kind::NotRun {
            command: s("thread"),
            why: s("threads are not supported"),
        },
        Kind::MalformedText {
            why: s("unexpected token"),
        },
    ];
    Bundle {
        scripts: vec![
            Script {
                name: s("a.wast"),
                commands: kinds
                    .into_iter()
                    .enumerate()
                    .map(|(i, kind)| Command {
                        line: i as u32 * 10 + 1,
                        kind,
                    })
                    .collect(),
            },
            Script {
                name: s("empty.wast"),
                commands: Vec::new(),
            },
        ],
    }
}

#[test]
fn a_bundle_reads_back_as_it_was_written() {
    let b = every_kind();
    assert_eq!(decode(&encode(&b)), Ok(b));
}

#[test]
fn every_truncation_of_a_bundle_is_refused_as_truncated() {
    let bytes = encode(&every_kind());
    for n in 0..bytes.len() {
        let e = decode(&bytes[..n]).expect_err("a truncated bundle");
        assert!(
            e.what == "truncated" || e.what == "a count larger than the bytes left",
            "at {n}: {e}"
        );
    }
}

#[test]
fn a_bundle_without_the_magic_is_refused() {
    let mut bytes = encode(&every_kind());
    bytes[0] = b'X';
    assert_eq!(
        decode(&bytes),
        Err(BundleError {
            offset: 0,
            what: "not a bundle (no WAST magic)"
        })
    );
}

#[test]
fn a_bundle_of_another_version_is_refused() {
    let mut bytes = encode(&every_kind());
    bytes[4] = 2;
    assert_eq!(
        decode(&bytes),
        Err(BundleError {
            offset: 4,
            what: "a bundle of another version"
        })
    );
}

/// The bytes of a one-script bundle whose only command is `kind`
/// followed by `payload`, and the payload's offset.
fn one_record(kind: u8, payload: &[u8]) -> (Vec<u8>, usize) {
    let mut b = Vec::from(&MAGIC[..]);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.push(b'x');
    b.extend_from_slice(&1u32.to_le_bytes());
    b.push(kind);
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    let at = b.len();
    b.extend_from_slice(payload);
    (b, at)
}

#[test]
fn an_unknown_command_kind_is_refused() {
    let (b, at) = one_record(99, &[]);
    assert_eq!(
        decode(&b),
        Err(BundleError {
            offset: at,
            what: "an unknown command kind"
        })
    );
}

#[test]
fn a_record_with_bytes_beyond_its_contents_is_refused() {
    // register "a", no module name, then a stray byte inside the record
    let (b, at) = one_record(2, &[1, 0, 0, 0, b'a', 0, 0xff]);
    assert_eq!(
        decode(&b),
        Err(BundleError {
            offset: at + 6,
            what: "a record longer than its contents"
        })
    );
}

#[test]
fn a_string_that_is_not_utf8_is_refused() {
    let (b, at) = one_record(2, &[1, 0, 0, 0, 0xff, 0]);
    assert_eq!(
        decode(&b),
        Err(BundleError {
            offset: at,
            what: "a string that is not UTF-8"
        })
    );
}

#[test]
fn a_huge_count_is_refused_before_anything_is_reserved() {
    // assert_return of `get "a"` claiming 2^32-1 results
    let (b, at) = one_record(4, &[1, 0, 1, 0, 0, 0, b'a', 0xff, 0xff, 0xff, 0xff]);
    assert_eq!(
        decode(&b),
        Err(BundleError {
            offset: at + 11,
            what: "a count larger than the bytes left"
        })
    );
}

#[test]
fn nan_patterns_accept_exactly_their_nans() {
    let f32s = |bits: u32| Val::F32(f32::from_bits(bits));
    assert!(matches(f32s(0x7fc0_0000), &Expected::F32CanonicalNan));
    assert!(matches(f32s(0xffc0_0000), &Expected::F32CanonicalNan));
    assert!(!matches(f32s(0x7fc0_0001), &Expected::F32CanonicalNan));
    assert!(matches(f32s(0x7fc0_0001), &Expected::F32ArithmeticNan));
    assert!(!matches(f32s(0x7f80_0001), &Expected::F32ArithmeticNan));
    let f64s = |bits: u64| Val::F64(f64::from_bits(bits));
    assert!(matches(
        f64s(0x7ff8_0000_0000_0000),
        &Expected::F64CanonicalNan
    ));
    assert!(!matches(
        f64s(0x7ff8_0000_0000_0001),
        &Expected::F64CanonicalNan
    ));
    assert!(matches(
        f64s(0xfff8_0000_0000_0001),
        &Expected::F64ArithmeticNan
    ));
    assert!(!matches(
        f64s(0x7ff0_0000_0000_0001),
        &Expected::F64ArithmeticNan
    ));
    assert!(!matches(Val::I32(0), &Expected::F32CanonicalNan));
}

#[test]
fn our_own_script_passes_every_command_on_the_host() {
    let bundle = decode(&own_bundle()).expect("the packer makes a well-formed bundle");
    let mut lines = Vec::new();
    let mut total = Counts::default();
    for script in &bundle.scripts {
        let c = run_script(
            script,
            Store::new(MmapStacks::new(), 1024 * 1024),
            1024 * 1024,
            &mut |l: &str| lines.push(String::from(l)),
        );
        total.passed += c.passed;
        total.failed += c.failed;
    }
    let failed: Vec<&String> = lines.iter().filter(|l| !l.ends_with("... ok")).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(
        total,
        Counts {
            passed: 29,
            failed: 0
        }
    );
}

/// A budget of one tick with no timer: no tick comes, so nothing times
/// out, though every call runs with a deadline armed (and every runtime
/// operation inside it in a counted section); none is left armed after.
#[test]
fn with_a_tick_budget_and_no_timer_our_own_script_still_passes_every_command() {
    let bundle = decode(&own_bundle()).expect("the packer makes a well-formed bundle");
    let mut failed = Vec::new();
    let mut total = Counts::default();
    for script in &bundle.scripts {
        let c = run_script_for(
            script,
            Store::new(MmapStacks::new(), 1024 * 1024),
            1024 * 1024,
            1,
            &mut |l: &str| {
                if !l.ends_with("... ok") {
                    failed.push(String::from(l));
                }
            },
        );
        total.passed += c.passed;
        total.failed += c.failed;
    }
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(
        total,
        Counts {
            passed: 29,
            failed: 0
        }
    );
    assert!(!kernel::cont::preempt::armed());
}

/// Runs one script of `commands` over the module `wat` on the host; its
/// lines and counts.
fn run_over(wat: &str, commands: Vec<Kind>) -> (Vec<String>, Counts) {
    let mut all = vec![Command {
        line: 1,
        kind: Kind::Module {
            name: None,
            bytes: ::wat::parse_str(wat).expect("the test's own WAT"),
        },
    }];
    for (i, kind) in commands.into_iter().enumerate() {
        all.push(Command {
            line: i as u32 + 2,
            kind,
        });
    }
    let script = Script {
        name: s("negative.wast"),
        commands: all,
    };
    let mut lines = Vec::new();
    let counts = run_script(
        &script,
        Store::new(MmapStacks::new(), 1024 * 1024),
        1024 * 1024,
        &mut |l: &str| lines.push(String::from(l)),
    );
    (lines, counts)
}

const ADD_AND_BOOM: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "boom") unreachable))"#;

fn add(a: u32, b: u32) -> Action {
    Action::Invoke {
        module: None,
        name: s("add"),
        args: vec![Value::I32(a), Value::I32(b)],
    }
}

#[test]
fn an_assert_return_of_a_wrong_value_is_reported_failed_with_both_values() {
    let (lines, counts) = run_over(
        ADD_AND_BOOM,
        vec![Kind::AssertReturn {
            action: add(2, 2),
            results: vec![Expected::Value(Value::I32(5))],
        }],
    );
    assert_eq!(
        counts,
        Counts {
            passed: 1,
            failed: 1
        }
    );
    assert_eq!(
        lines[1],
        "wast negative.wast:2 assert_return invoke \"add\" ... FAILED: \
         returned [I32(4)], expected [Value(I32(5))]"
    );
}

#[test]
fn an_assert_trap_of_a_call_that_returns_is_reported_failed() {
    let (lines, counts) = run_over(
        ADD_AND_BOOM,
        vec![Kind::AssertTrap {
            action: add(1, 1),
            message: s("unreachable"),
        }],
    );
    assert_eq!(
        counts,
        Counts {
            passed: 1,
            failed: 1
        }
    );
    assert!(
        lines[1].ends_with("FAILED: expected a trap \"unreachable\", got a return of [I32(2)]"),
        "{}",
        lines[1]
    );
}

#[test]
fn an_assert_trap_with_another_reason_is_reported_failed_and_the_next_command_still_runs() {
    let boom = Action::Invoke {
        module: None,
        name: s("boom"),
        args: vec![],
    };
    let (lines, counts) = run_over(
        ADD_AND_BOOM,
        vec![
            Kind::AssertTrap {
                action: boom,
                message: s("integer divide by zero"),
            },
            Kind::AssertReturn {
                action: add(2, 3),
                results: vec![Expected::Value(Value::I32(5))],
            },
        ],
    );
    assert_eq!(
        counts,
        Counts {
            passed: 2,
            failed: 1
        }
    );
    assert!(
        lines[1]
            .ends_with("FAILED: trapped with \"unreachable\", expected \"integer divide by zero\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].ends_with("assert_return invoke \"add\" ... ok"),
        "{}",
        lines[2]
    );
}

#[test]
fn a_command_after_a_module_that_failed_does_not_run_against_the_module_before() {
    let (lines, counts) = run_over(
        ADD_AND_BOOM,
        vec![
            // Well-formed, but its start function traps.
            Kind::Module {
                name: None,
                bytes: ::wat::parse_str(
                    r#"(module (func $s unreachable) (start $s)
                         (func (export "add") (param i32 i32) (result i32) (i32.const 0)))"#,
                )
                .expect("the test's WAT"),
            },
            Kind::AssertReturn {
                action: add(2, 3),
                results: vec![Expected::Value(Value::I32(5))],
            },
        ],
    );
    assert_eq!(
        counts,
        Counts {
            passed: 1,
            failed: 2
        }
    );
    assert!(
        lines[2].ends_with("assert_return invoke \"add\" ... FAILED: no such export"),
        "{}",
        lines[2]
    );
}

#[test]
fn a_named_module_that_failed_names_nothing_afterwards() {
    let named = |name: &str, wat: &str| Kind::Module {
        name: Some(s(name)),
        bytes: ::wat::parse_str(wat).expect("the test's WAT"),
    };
    let get = Action::Invoke {
        module: Some(s("$m")),
        name: s("f"),
        args: vec![],
    };
    let (lines, _) = run_over(
        "(module)",
        vec![
            named(
                "$m",
                r#"(module (func (export "f") (result i32) (i32.const 1)))"#,
            ),
            named("$m", r#"(module (import "nowhere" "x" (func)))"#),
            Kind::AssertReturn {
                action: get,
                results: vec![Expected::Value(Value::I32(1))],
            },
        ],
    );
    assert!(lines[3].ends_with("FAILED: no such export"), "{}", lines[3]);
}

#[test]
fn malformed_text_the_hosts_parser_refuses_is_a_passed_assert_malformed() {
    let script = ::bundle::pack::pack_script(
        "m.wast",
        r#"(assert_malformed (module quote "(func (i32.const nope))") "unknown operator")"#,
    )
    .expect("the script parses");
    assert!(
        matches!(&script.commands[0].kind, Kind::MalformedText { .. }),
        "{:?}",
        script.commands[0].kind
    );
    let mut lines = Vec::new();
    let counts = run_script(
        &script,
        Store::new(MmapStacks::new(), 1024 * 1024),
        1024 * 1024,
        &mut |l: &str| lines.push(String::from(l)),
    );
    assert_eq!(
        counts,
        Counts {
            passed: 1,
            failed: 0
        }
    );
    assert_eq!(lines, vec![s("wast m.wast:1 assert_malformed ... ok")]);
}

#[test]
fn a_script_that_does_not_parse_packs_as_one_failed_record() {
    let script = ::bundle::pack::pack_file("broken.wast", "(module (func)");
    assert_eq!(script.name, "broken.wast");
    assert_eq!(script.commands.len(), 1);
    match &script.commands[0].kind {
        Kind::NotRun { command, why } => {
            assert_eq!(command, "script");
            assert!(why.starts_with("the host cannot parse it: "), "{why}");
        }
        other => panic!("expected a not-run record, got {other:?}"),
    }
}

#[test]
fn confusable_unicode_in_a_name_is_packed_as_the_suite_writes_it() {
    // U+202E (right-to-left override) in an export name, as names.wast has.
    let text = "(module (func (export \"a\u{202e}b\") (result i32) (i32.const 7)))\n\
                (assert_return (invoke \"a\u{202e}b\") (i32.const 7))";
    let script = ::bundle::pack::pack_script("names.wast", text).expect("packed");
    assert_eq!(script.commands.len(), 2);
    assert!(matches!(script.commands[0].kind, Kind::Module { .. }));
}
