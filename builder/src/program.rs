//! `./qemu-run.sh run FILE [ARGS...]`: a WASI program (a binary `.wasm`
//! from a stock toolchain, or a `.wat`) run by the `run-main` kernel, its
//! output on this terminal and its exit code as this command's status.
//!
//! Why a mode of its own: a program has a command line and an exit code,
//! which `wasm` (a `main` whose result is printed) does not. The module
//! and its arguments are packed into a program image
//! (`bundle::program`) that the bootloader hands over as the ramdisk, so
//! the kernel is never rebuilt for a program. Serial carries the boot log
//! too; the kernel frames the program's output with marker lines
//! (`kernel/src/run_main.rs`) and only that output is printed here.
//!
//! Exit status: the program's exit code (modulo 256, as on Unix); 134
//! when it trapped (what Wasmtime's CLI gives); 1 when the module is
//! malformed or invalid, or the boot failed; 2 for a usage error.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::say;
use crate::kbuild::{self, Env};
use crate::qemu::Output;

/// The status of a program that trapped.
pub const TRAP_STATUS: u8 = 134;

/// How a run ended, read from the serial log.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Exit(u32),
    Trap(String),
    Refused(String),
}

/// The program's output and how it ended, from `serial` (the whole log;
/// `\r\n` already made `\n`). `None`: no end marker (the kernel died).
pub fn read_serial(serial: &str) -> (String, Option<Ended>) {
    const MARK: &str = "\u{1}run: ";
    if let Some(at) = serial.find(&format!("{MARK}refused ")) {
        let why = serial[at + MARK.len() + 8..].lines().next().unwrap_or("");
        return (String::new(), Some(Ended::Refused(why.into())));
    }
    let start = format!("{MARK}start\n");
    let Some(begin) = serial.find(&start).map(|i| i + start.len()) else {
        return (String::new(), None);
    };
    let rest = &serial[begin..];
    let Some(end) = rest.rfind(&format!("\n{MARK}")) else {
        return (rest.into(), None);
    };
    let line = rest[end + 1 + MARK.len()..].lines().next().unwrap_or("");
    let ended = if let Some(code) = line.strip_prefix("exit ") {
        code.parse().ok().map(Ended::Exit)
    } else {
        line.strip_prefix("trap ").map(|r| Ended::Trap(r.into()))
    };
    (rest[..end].into(), ended)
}

/// The module's binary: FILE as it is if it starts with `\0asm`, else
/// FILE parsed as the text format (errors name the line and column).
fn module_bytes(file: &Path) -> crate::Result<Vec<u8>> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    wat::parse_bytes(&bytes)
        .map(|b| b.into_owned())
        .map_err(|mut e| {
            e.set_path(file);
            format!("{} is not a WebAssembly module: {e}", file.display()).into()
        })
}

/// Where in the text `text` (of `file`, encoded as `module`) the
/// function whose body holds byte `offset` of the binary begins, as
/// `FILE:LINE:COLUMN` of its `func` keyword; `None` when the offset is outside every body.
pub fn text_location(file: &Path, text: &str, module: &[u8], offset: usize) -> Option<String> {
    let bodies = wasmparser::Parser::new(0)
        .parse_all(module)
        .filter_map(|p| match p {
            Ok(wasmparser::Payload::CodeSectionEntry(body)) => Some(body.range()),
            _ => None,
        });
    let index = bodies
        .enumerate()
        .find(|(_, r)| r.contains(&(offset as u64)))?
        .0;
    let buf = wast::parser::ParseBuffer::new(text).ok()?;
    let wast::Wat::Module(m) = wast::parser::parse::<wast::Wat>(&buf).ok()? else {
        return None;
    };
    let wast::core::ModuleKind::Text(fields) = &m.kind else {
        return None;
    };
    // Code bodies are the defined functions, in the order of the text.
    let span = fields
        .iter()
        .filter_map(|f| match f {
            wast::core::ModuleField::Func(f)
                if matches!(f.kind, wast::core::FuncKind::Inline { .. }) =>
            {
                Some(f.span)
            }
            _ => None,
        })
        .nth(index)?;
    let (line, col) = span.linecol_in(text);
    Some(format!("{}:{}:{}", file.display(), line + 1, col + 1))
}

/// For a refusal of a text module, `why` with the place of the refused
/// function in the text; otherwise `why` as it is.
fn with_text_location(file: &Path, why: String) -> String {
    let offset = why
        .strip_prefix("the module is invalid at offset ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    let text = std::fs::read(file)
        .ok()
        .filter(|b| !b.starts_with(b"\0asm"));
    let place = offset.zip(text).and_then(|(offset, text)| {
        let text = String::from_utf8(text).ok()?;
        let module = wat::parse_str(&text).ok()?;
        text_location(file, &text, &module, offset)
    });
    match place {
        Some(place) => format!("{why}\n  in the function that begins at {place}"),
        None => why,
    }
}

/// Builds `run-main` and the disk image for `file` run with `args`,
/// linked to `libs` (each registered under its name first); returns the
/// image.
pub fn image(
    env: &Env,
    dir: &Path,
    file: &Path,
    args: &[String],
    libs: &[(String, std::path::PathBuf)],
) -> crate::Result<std::path::PathBuf> {
    let module = module_bytes(file)?;
    kbuild::build(env, &["run-main"])?;
    std::fs::create_dir_all(dir)?;
    let name = file
        .file_name()
        .map_or("program".into(), |n| n.to_string_lossy());
    let mut argv: Vec<&[u8]> = vec![name.as_bytes()];
    argv.extend(args.iter().map(|a| a.as_bytes()));
    let mut lib_bytes = Vec::new();
    for (name, file) in libs {
        lib_bytes.push((name.as_bytes(), module_bytes(file)?));
    }
    let libs: Vec<(&[u8], &[u8])> = lib_bytes.iter().map(|(n, b)| (*n, &b[..])).collect();
    let image = dir.join("program");
    std::fs::write(&image, bundle::program::encode(&argv, &[], &libs, &module))?;
    kbuild::images(env, dir, &[env.images.join("elf/run-main")], Some(&image))?;
    Ok(env.image("run-main", Some(dir)))
}

/// Boots `image`; the program's output and how it ended, or why the boot
/// failed.
pub fn boot(env: &Env, image: std::path::PathBuf, log: &Path) -> Result<(String, Ended), String> {
    let ending = env
        .qemu(image, "run")
        .run(Output::Log(log), env.timeout)
        .map_err(|e| format!("cannot boot: {e}"))?;
    let serial =
        String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).replace("\r\n", "\n");
    match read_serial(&serial) {
        (out, Some(ended)) if ending.success() || matches!(ended, Ended::Refused(_)) => {
            Ok((out, ended))
        }
        (out, _) => {
            print!("{out}");
            Err(format!(
                "{} (serial in {})",
                ending.describe(env.timeout),
                log.display()
            ))
        }
    }
}

/// The mode.
/// A library to link: the name it is registered under, and its file.
pub type Library = (String, std::path::PathBuf);

/// The `--link NAME=FILE` options at the front of `words`, and the
/// words after them; `None` if one is not of that form or names no file.
pub fn link_options(words: &[String]) -> Option<(Vec<Library>, &[String])> {
    let mut libs = Vec::new();
    let mut rest = words;
    while let [flag, spec, tail @ ..] = rest
        && flag == "--link"
    {
        let (name, file) = spec.split_once('=')?;
        if name.is_empty() || !Path::new(file).is_file() {
            return None;
        }
        libs.push((name.to_string(), Path::new(file).to_path_buf()));
        rest = tail;
    }
    Some((libs, rest))
}

pub fn run(env: &Env, words: &[String]) -> ExitCode {
    let parsed = link_options(words).and_then(|(libs, rest)| {
        let (file, args) = rest.split_first().filter(|(f, _)| Path::new(f).is_file())?;
        Some((libs, file, args))
    });
    let Some((libs, file, args)) = parsed else {
        say!(
            "run needs a .wasm or .wat file, e.g. ./qemu-run.sh run target/examples/tally.wasm a b \
             (libraries before it: --link NAME=FILE)"
        );
        return ExitCode::from(2);
    };
    let dir = env.images.join("run");
    let image = match image(env, &dir, Path::new(file), args, &libs) {
        Ok(i) => i,
        Err(e) => {
            say!("run: {e}");
            return ExitCode::FAILURE;
        }
    };
    match boot(env, image, &env.target.join("run-serial.log")) {
        Ok((out, ended)) => {
            use std::io::Write;
            let _ = std::io::stdout().write_all(out.as_bytes());
            let _ = std::io::stdout().flush();
            match ended {
                Ended::Exit(code) => ExitCode::from(code as u8),
                Ended::Trap(why) if why == "timed out" => {
                    say!(
                        "run: the program timed out: it ran past its budget of ticks \
                         (RUN_TICKS in kernel/src/run_main.rs: 30 s by the kernel's clock)"
                    );
                    ExitCode::from(TRAP_STATUS)
                }
                Ended::Trap(why) => {
                    say!("run: the program trapped: {why}");
                    ExitCode::from(TRAP_STATUS)
                }
                Ended::Refused(why) => {
                    say!("run: {}", with_text_location(Path::new(file), why));
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            say!("run: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The programs `./qemu-run.sh test` runs (suite name `wasi`): the file
/// (in `target/examples`, made by `examples/wasi/build.sh`, or a `.wat`
/// of `examples/wasi`), its arguments, and the exit status Wasmtime gave
/// it (`examples/wasi/reference.py`); the output Wasmtime printed is in
/// `examples/wasi/expected/NAME.out`.
const EXAMPLES: &[(&str, &[&str], u8)] = &[
    ("tally.wasm", &["a", "b c"], 2),
    ("sort.wasm", &["fail"], 3),
    ("hello.wat", &[], 7),
    ("fibers.wasm", &[], 0),
    ("deep.wat", &[], 0),
];

/// The libraries an example links to (`--link NAME=FILE`, the file in
/// `examples/wasi/`).
fn example_libs(name: &str) -> &'static [(&'static str, &'static str)] {
    match name {
        "fibers.wasm" => &[("env", "fiber.wat")],
        _ => &[],
    }
}

/// The WASI examples end to end: built from source by
/// `examples/wasi/build.sh` (which installs what it lacks), each run by
/// the kernel, its output and exit status compared with Wasmtime's. One
/// test line per program.
pub fn test(env: &Env, c: &mut crate::testing::Counts) {
    let built = env.target.join("examples");
    let script = env.root.join("examples/wasi/build.sh");
    let log = env.target.join("examples-build.log");
    let made = std::fs::File::create(&log).and_then(|f| {
        std::process::Command::new(&script)
            .arg(&built)
            .stdout(f.try_clone()?)
            .stderr(f)
            .status()
    });
    for &(name, args, status) in EXAMPLES {
        let stem = name.split('.').next().unwrap_or(name);
        // Wasmtime runs the examples without stack switching; the fiber
        // example's expected output is the sequence its source defines.
        let how = match example_libs(name) {
            [] => "prints_and_exits_as_under_wasmtime",
            _ => "prints_its_expected_output",
        };
        let label = format!("test wasi::{stem}_{how}");
        let file = match name.ends_with(".wat") {
            true => env.root.join("examples/wasi").join(name),
            false => built.join(name),
        };
        if !made.as_ref().is_ok_and(|s| s.success()) && !name.ends_with(".wat") {
            c.line(
                &label,
                Err(format!(
                    "examples/wasi/build.sh failed (see {})",
                    log.display()
                )),
            );
            continue;
        }
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let dir = env.images.join(format!("run-{stem}"));
        let serial = env.target.join(format!("suite-wasi-{stem}.log"));
        let libs: Vec<(String, std::path::PathBuf)> = example_libs(name)
            .iter()
            .map(|(n, f)| (n.to_string(), env.root.join("examples/wasi").join(f)))
            .collect();
        let ran = image(env, &dir, &file, &args, &libs).map_err(|e| e.to_string());
        let verdict = ran
            .and_then(|img| boot(env, img, &serial))
            .and_then(|(out, ended)| {
                let expected_file = env.root.join(format!("examples/wasi/expected/{stem}.out"));
                let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
                if ended != Ended::Exit(status as u32) {
                    return Err(format!("ended {ended:?}, the expected status is {status}"));
                }
                if out != expected {
                    return Err(format!(
                        "output differs from {}:\n{out}",
                        expected_file.display()
                    ));
                }
                Ok(())
            });
        c.line(&label, verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_options_before_the_program_name_libraries_and_leave_the_rest() {
        let lib = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/wasi/fiber.wat");
        let words: Vec<String> = ["--link", &format!("env={lib}"), "p.wasm", "--link", "x"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        let (libs, rest) = link_options(&words).expect("well-formed");
        assert_eq!(libs, [("env".to_string(), Path::new(lib).to_path_buf())]);
        assert_eq!(rest, &words[2..]);
        let no_file: Vec<String> = ["--link", "env=/no/such.wat", "p.wasm"]
            .iter()
            .map(|w| w.to_string())
            .collect();
        assert_eq!(link_options(&no_file), None);
    }

    #[test]
    fn the_programs_output_is_exactly_what_lies_between_the_markers() {
        let log = "boot: ok\n\u{1}run: start\nhello\nno newline\n\u{1}run: exit 3\n";
        assert_eq!(
            read_serial(log),
            ("hello\nno newline".into(), Some(Ended::Exit(3)))
        );
        let log = "\u{1}run: start\nline\n\n\u{1}run: trap unreachable\n";
        assert_eq!(
            read_serial(log),
            ("line\n".into(), Some(Ended::Trap("unreachable".into())))
        );
    }

    #[test]
    fn an_invalid_text_module_is_placed_at_the_line_and_column_of_its_function() {
        let text = "(module\n  (func (export \"ok\"))\n  (func (result i32)\n    i64.const 1))";
        let module = wat::parse_str(text).unwrap();
        // No names, so no name section: the last byte ends the second body.
        let offset = module.len() - 1;
        let place = text_location(Path::new("m.wat"), text, &module, offset);
        assert_eq!(place.as_deref(), Some("m.wat:3:4"));
        assert_eq!(text_location(Path::new("m.wat"), text, &module, 0), None);
    }

    #[test]
    fn a_refusal_or_a_missing_end_marker_is_read_as_such() {
        let log = "boot\n\u{1}run: refused the module is invalid at offset 8: bad\n";
        assert_eq!(
            read_serial(log).1,
            Some(Ended::Refused(
                "the module is invalid at offset 8: bad".into()
            ))
        );
        assert_eq!(read_serial("\u{1}run: start\npartial").1, None);
    }

    #[test]
    fn a_wat_syntax_error_names_the_file_line_and_column_and_shows_the_line() {
        let dir = std::env::temp_dir().join(format!("wat-syntax-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("broken.wat");
        std::fs::write(
            &file,
            "(module\n  (func (result i32)\n    i32.const 1 i32.plus))\n",
        )
        .unwrap();
        let why = module_bytes(&file).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            why.starts_with(&format!("{} is not a WebAssembly module: ", file.display())),
            "{why}"
        );
        assert!(why.contains("broken.wat:3:17"), "{why}");
        assert!(why.contains("    i32.const 1 i32.plus))"), "{why}");
    }
}
