//! The modes of `./qemu-run.sh` (`builder qemu-run ARGS...`): reads the
//! script's arguments and runs the mode they name.
//!
//! Why in `builder`: `qemu-run.sh` is the front door the README and the
//! labs name, but building, booting and judging boots is code with
//! branches and counts, easier to read and to test in Rust than in bash.
//! The script keeps what must run before any Rust can (the toolchain,
//! QEMU, GDB) and hands its arguments over unchanged.

use std::process::ExitCode;

use crate::kbuild::Env;
use crate::qemu::Firmware;

/// Writes a message of the front door on standard error.
macro_rules! say {
    ($($t:tt)*) => { eprintln!("qemu-run.sh: {}", format_args!($($t)*)) };
}
pub(crate) use say;

/// What the command line asked for.
#[derive(Debug, PartialEq)]
pub struct Args {
    pub mode: Mode,
    pub firmware: Firmware,
    pub gdb: bool,
    pub json: bool,
    pub host: bool,
    pub solution: bool,
    pub update: bool,
    /// `--jobs N`: QEMUs at once for `test` (default: one per core).
    pub jobs: Option<usize>,
    /// The words after the mode (suites, files, a lab's number).
    pub words: Vec<String>,
}

/// The modes; the first word of the command line names one (none: `Demo`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    Demo,
    Attach,
    Test,
    Lint,
    Wasm,
    Wast,
    Run,
    Bench,
    Lab,
    LabsCheck,
    Grade,
    PublicApi,
}

/// Reads the script's arguments. The first word names the mode; later
/// words are its arguments (so `test wasm` runs the suite named wasm).
/// Flags may stand anywhere. An error is the message for the user.
pub fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        mode: Mode::Demo,
        firmware: Firmware::Bios,
        gdb: false,
        json: false,
        host: false,
        solution: false,
        update: false,
        jobs: None,
        words: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        // `run --link NAME=FILE ...`: the libraries, before the program.
        let only_links = a.words.chunks(2).all(|w| w[0] == "--link" && w.len() == 2);
        if a.mode == Mode::Run && arg == "--link" && only_links {
            let spec = it
                .next()
                .ok_or("--link takes NAME=FILE (a library to link)")?;
            a.words.extend([arg.clone(), spec.clone()]);
            continue;
        }
        // After `run FILE`, every word is the program's, flags too.
        if a.mode == Mode::Run && !only_links {
            a.words.push(arg.clone());
            continue;
        }
        if a.mode == Mode::Demo && a.words.is_empty() {
            let mode = match arg.as_str() {
                "test" => Some(Mode::Test),
                "lint" => Some(Mode::Lint),
                "bench" => Some(Mode::Bench),
                "wasm" => Some(Mode::Wasm),
                "wast" => Some(Mode::Wast),
                "run" => Some(Mode::Run),
                "lab" => Some(Mode::Lab),
                "labs-check" => Some(Mode::LabsCheck),
                "grade" => Some(Mode::Grade),
                "public-api" => Some(Mode::PublicApi),
                "gdb" => Some(Mode::Attach),
                _ => None,
            };
            if let Some(m) = mode {
                a.mode = m;
                continue;
            }
        }
        match arg.as_str() {
            "--solution" => a.solution = true,
            "--update" => a.update = true,
            "--json" => a.json = true,
            "--host" => a.host = true,
            "--uefi" => a.firmware = Firmware::Uefi,
            "--gdb" => a.gdb = true,
            "--jobs" => match it.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => a.jobs = Some(n),
                _ => return Err("--jobs takes a number of QEMUs at once, 1 or more".into()),
            },
            f if f.starts_with('-') => {
                return Err(format!("unknown option {f} (see --help)"));
            }
            _ => a.words.push(arg.clone()),
        }
    }
    // Words a mode does not take are a mistake (a misspelt command would
    // otherwise boot the demo).
    let takes_words = matches!(
        a.mode,
        Mode::Test | Mode::Wasm | Mode::Wast | Mode::Run | Mode::Lab
    );
    if !takes_words && !a.words.is_empty() {
        return Err(format!(
            "unknown command or extra word: {} (see --help)",
            a.words.join(" ")
        ));
    }
    Ok(a)
}

/// `builder qemu-run ARGS...`: runs the mode. Exit status: 0 success, 1 a
/// build, boot or test failure, 2 a usage error.
pub fn main(args: Vec<String>) -> ExitCode {
    let a = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            say!("{e}");
            return ExitCode::from(2);
        }
    };
    let ws = match crate::run::workspace() {
        Ok(ws) => ws,
        Err(e) => {
            say!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let env = match Env::new(ws.target, a.firmware) {
        Ok(env) => env,
        Err(e) => {
            say!("{e}");
            return ExitCode::from(2);
        }
    };
    match a.mode {
        Mode::Demo => crate::demo::demo(&env, a.gdb),
        Mode::Attach => crate::demo::attach(&env),
        Mode::Wasm => crate::demo::wasm(&env, &a.words),
        Mode::Wast => crate::demo::wast(&env, &a.words),
        Mode::Run => crate::program::run(&env, &a.words),
        Mode::Test => crate::testing::test(&env, ws.suites, &a.words, a.jobs),
        Mode::Lint => crate::lint::lint(),
        Mode::Bench if a.host => crate::bench::host(a.json),
        Mode::Bench => crate::bench::kernel(&env, a.json),
        Mode::Lab => crate::labs::lab(&env, &a.words, a.solution),
        Mode::LabsCheck => crate::labs::check(&env),
        Mode::Grade => crate::labs::grade(&env),
        Mode::PublicApi => crate::surface::mode(&env, a.update),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn no_words_is_the_demo_under_bios() {
        let a = parse(&[]).unwrap();
        assert_eq!((a.mode, a.firmware), (Mode::Demo, Firmware::Bios));
    }

    #[test]
    fn the_first_word_names_the_mode_and_later_ones_are_its_arguments() {
        let a = parse(&words("test wasm cont")).unwrap();
        assert_eq!(a.mode, Mode::Test);
        assert_eq!(a.words, ["wasm", "cont"]);
    }

    #[test]
    fn after_run_file_every_word_is_the_programs_flags_too() {
        let a = parse(&words("run p.wasm --uefi -x test")).unwrap();
        assert_eq!((a.mode, a.firmware), (Mode::Run, Firmware::Bios));
        assert_eq!(a.words, ["p.wasm", "--uefi", "-x", "test"]);
    }

    #[test]
    fn flags_stand_anywhere() {
        let a = parse(&words("--uefi test --jobs 1 cont")).unwrap();
        assert_eq!(
            (a.mode, a.firmware, a.jobs),
            (Mode::Test, Firmware::Uefi, Some(1))
        );
        assert_eq!(a.words, ["cont"]);
    }

    #[test]
    fn gdb_as_first_word_attaches_and_as_a_later_word_is_a_suite() {
        assert_eq!(parse(&words("gdb")).unwrap().mode, Mode::Attach);
        assert_eq!(parse(&words("test gdb")).unwrap().words, ["gdb"]);
    }

    #[test]
    fn a_misspelt_mode_is_an_error_not_the_demo() {
        assert_eq!(
            parse(&words("tset")).unwrap_err(),
            "unknown command or extra word: tset (see --help)"
        );
    }

    #[test]
    fn an_unknown_option_is_an_error() {
        assert_eq!(
            parse(&words("test --fast")).unwrap_err(),
            "unknown option --fast (see --help)"
        );
    }

    #[test]
    fn jobs_needs_a_positive_number() {
        assert!(parse(&words("test --jobs 0")).is_err());
        assert!(parse(&words("test --jobs")).is_err());
    }
}
