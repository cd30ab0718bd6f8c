//! Host fuzzers for every reader of bytes from outside the kernel: each
//! parser is fed mutants of real input and must return, `Ok` or `Err`,
//! without a panic (`docs/guarantees.md`, "Readers of outside bytes").
//!
//! Why mutants of real input rather than random bytes: random bytes fail
//! the first magic-number check and test nothing else. A mutant of a real
//! file (the kernel crate's own ELF test binary, our WAT programs compiled
//! by `build.rs`, our `.wast` bundle, a memory map as the bootloader
//! reports it) is one or a few edits away from valid, so it gets past the
//! early checks and reaches the code that trusts a count, an offset or an
//! entry size. The edits:
//!
//! * a byte set to a random value, or one bit flipped;
//! * a header field set to a value that breaks arithmetic (0, 1, a type's
//!   maximum, the file's length, a size off by one, a random number);
//! * a truncation;
//! * a splice: a run of the input copied over another place of it.
//!
//! Each fuzzer runs `FUZZ_CASES` cases (default [`DEFAULT_CASES`], a
//! few seconds in all, part of every `cargo test -p kernel-tests`), from a fixed
//! seed (`FUZZ_SEED` picks another), and reports how many cases it ran and
//! how many panicked; a panic fails the test, naming the case so that it
//! can be replayed. The long run is
//! `FUZZ_CASES=100000 cargo test -p kernel-tests --release --test fuzz -- --nocapture`.
//! Each defect a fuzzer found has a regression test of its own, named for
//! the behaviour, next to the parser it concerns.
#![forbid(unsafe_code)]

use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use kernel::cont::{MmapStacks, Store};
use kernel::elf::parse_elf;
use kernel::frames::{FrameAllocator, Region, RegionKind, regions_from_boot_map};
use kernel::symbols::{Name, SymbolTable};
use kernel::wasm::{Instance, Module};
use kernel::wast::bundle;
use object::LittleEndian as LE;
use object::elf::{FileHeader64, ProgramHeader64, SHT_STRTAB, SHT_SYMTAB, SectionHeader64};
use object::read::elf::{FileHeader, SectionHeader};
use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

/// Cases per fuzzer in an ordinary test run.
const DEFAULT_CASES: u64 = 3000;

/// The size of one ELF64 symbol-table entry.
const SYMBOL_SIZE: usize = size_of::<object::elf::Sym64<LE>>();

/// How many cases each fuzzer runs: `FUZZ_CASES`, or [`DEFAULT_CASES`].
fn cases() -> u64 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The first seed: `FUZZ_SEED`, or a fixed one.
fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_f00d_cafe_d00d)
}

/// A small deterministic generator (xorshift64*): the same seed, the
/// same cases, on every machine.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 if `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// An index into something of `len` items.
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// A value that tends to break size and offset arithmetic, for a field
/// of `width` bytes in a file of `len` bytes.
fn interesting(rng: &mut Rng, width: usize, len: usize) -> u64 {
    let max = if width >= 8 {
        u64::MAX
    } else {
        (1u64 << (width * 8)) - 1
    };
    let len = len as u64;
    let v = match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => max,
        4 => max / 2 + 1,
        5 => len,
        6 => len.wrapping_sub(1),
        7 => len + 1,
        8 => rng.below(len.max(1)),
        9 => 0x18,
        10 => 0x38,
        11 => 0x40,
        12 => 1 << rng.below(64),
        _ => rng.next(),
    };
    v & max
}

/// A header field: where, and how many bytes (little-endian).
#[derive(Clone, Copy, Debug)]
struct Field {
    at: usize,
    width: usize,
}

/// Edits made to a buffer, undone in reverse: a mutant of a large input
/// (the ELF test binary is tens of MiB) costs only its edits.
struct Undo(Vec<(usize, Vec<u8>)>);

impl Undo {
    fn write(&mut self, buf: &mut [u8], at: usize, bytes: &[u8]) {
        let end = (at + bytes.len()).min(buf.len());
        if at >= end {
            return;
        }
        self.0.push((at, buf[at..end].to_vec()));
        buf[at..end].copy_from_slice(&bytes[..end - at]);
    }

    fn undo(&mut self, buf: &mut [u8]) {
        while let Some((at, old)) = self.0.pop() {
            buf[at..at + old.len()].copy_from_slice(&old);
        }
    }
}

/// Applies one to four random edits to `buf` (in place, recorded in
/// `undo`) and returns how much of it the mutant keeps (a truncation).
/// Edits land in `hot` (the headers and tables) most of the time,
/// anywhere otherwise.
fn mutate(
    rng: &mut Rng,
    buf: &mut [u8],
    hot: &[(usize, usize)],
    fields: &[Field],
    undo: &mut Undo,
) -> usize {
    let len = buf.len();
    let mut keep = len;
    let place = |rng: &mut Rng| -> usize {
        if !hot.is_empty() && !rng.one_in(5) {
            let (start, size) = hot[rng.index(hot.len())];
            (start + rng.index(size.max(1))).min(len.saturating_sub(1))
        } else {
            rng.index(len)
        }
    };
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
            0 | 1 if !fields.is_empty() => {
                let f = fields[rng.index(fields.len())];
                let v = interesting(rng, f.width, len);
                undo.write(buf, f.at, &v.to_le_bytes()[..f.width]);
            }
            2 => {
                let at = place(rng);
                let bit = 1u8 << rng.below(8);
                let b = buf.get(at).map_or(0, |b| b ^ bit);
                undo.write(buf, at, &[b]);
            }
            3 => {
                let at = place(rng);
                undo.write(buf, at, &[rng.next() as u8]);
            }
            4 => {
                keep = keep.min(if rng.one_in(2) {
                    place(rng)
                } else {
                    rng.index(len + 1)
                })
            }
            5 => {
                // A splice: a run of the input over another place of it.
                let n = 1 + rng.index(64);
                let from = rng.index(len);
                let chunk: Vec<u8> = buf[from..(from + n).min(len)].to_vec();
                let at = place(rng);
                undo.write(buf, at, &chunk);
            }
            _ => {
                let at = place(rng);
                let width = [1usize, 2, 4, 8][rng.index(4)];
                let v = interesting(rng, width, len);
                undo.write(buf, at, &v.to_le_bytes()[..width]);
            }
        }
    }
    keep
}

/// The outcome of one fuzzer: cases run, and the panics among them (the
/// first few described).
struct Report {
    name: &'static str,
    cases: u64,
    panics: u64,
    first: Vec<String>,
}

impl Report {
    fn new(name: &'static str) -> Report {
        Report {
            name,
            cases: 0,
            panics: 0,
            first: Vec::new(),
        }
    }

    /// Runs one case, catching a panic and recording it.
    fn case(&mut self, what: impl FnOnce() -> String, run: impl FnOnce()) {
        self.cases += 1;
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
            self.panics += 1;
            if self.first.len() < 5 {
                let msg = e
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| e.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                self.first.push(std::format!("{}: {msg}", what()));
            }
        }
    }

    /// Prints the counts and fails if anything panicked.
    fn finish(self) {
        std::println!(
            "fuzz {}: {} cases, {} panics",
            self.name,
            self.cases,
            self.panics
        );
        assert!(
            self.panics == 0,
            "fuzz {}: {} of {} cases panicked, first: {:#?}",
            self.name,
            self.panics,
            self.cases,
            self.first
        );
    }
}

// ----- ELF: parse_elf and the symbol table --------------------------------

/// Bytes of the ELF64 file header, of a program header, of a section
/// header.
const HEADER_SIZE: usize = size_of::<FileHeader64<LE>>();
const PROGRAM_HEADER_SIZE: usize = size_of::<ProgramHeader64<LE>>();
const SECTION_HEADER_SIZE: usize = size_of::<SectionHeader64<LE>>();

/// The header of the (unmutated) ELF `file`, with where its program
/// headers are and how many.
fn elf_header(file: &[u8]) -> (&FileHeader64<LE>, usize, usize) {
    let header = FileHeader64::<LE>::parse(file).expect("the fuzzers' ELF parses");
    let (phoff, phnum) = (header.e_phoff(LE), header.e_phnum(LE));
    (header, phoff as usize, usize::from(phnum))
}

/// The header fields and tables of an ELF file: the fields a mutant
/// edits, the regions where most edits land.
fn elf_targets(file: &[u8]) -> (Vec<Field>, Vec<(usize, usize)>) {
    let f = |at, width| Field { at, width };
    let mut fields = std::vec![
        f(4, 1),    // class
        f(5, 1),    // data (endianness)
        f(0x20, 8), // e_phoff
        f(0x28, 8), // e_shoff
        f(0x36, 2), // e_phentsize
        f(0x38, 2), // e_phnum
        f(0x3a, 2), // e_shentsize
        f(0x3c, 2), // e_shnum
        f(0x3e, 2), // e_shstrndx
    ];
    let mut hot = std::vec![(0, HEADER_SIZE)];
    let (header, phoff, phnum) = elf_header(file);
    hot.push((phoff, phnum * PROGRAM_HEADER_SIZE));
    for i in 0..phnum {
        let at = phoff + i * PROGRAM_HEADER_SIZE;
        // p_type, p_flags, p_vaddr, p_memsz
        fields.extend([f(at, 4), f(at + 4, 4), f(at + 0x10, 8), f(at + 0x28, 8)]);
    }
    let shoff = header.e_shoff(LE) as usize;
    let sections = header.section_headers(LE, file).expect("it has sections");
    hot.push((shoff, sections.len() * SECTION_HEADER_SIZE));
    for (i, s) in sections.iter().enumerate() {
        let at = shoff + i * SECTION_HEADER_SIZE;
        if [SHT_SYMTAB, SHT_STRTAB].contains(&s.sh_type(LE)) {
            // sh_type, sh_offset, sh_size, sh_link, sh_entsize
            fields.extend([
                f(at + 4, 4),
                f(at + 0x18, 8),
                f(at + 0x20, 8),
                f(at + 0x28, 4),
                f(at + 0x38, 8),
            ]);
            // The first symbols and names.
            let (offset, size) = (s.sh_offset(LE), s.sh_size(LE));
            hot.push((offset as usize, (size as usize).min(4096)));
        }
    }
    (fields, hot)
}

/// The ELF the fuzzers mutate: this test binary's own file (the ELF the
/// symbol table's host tests read: an x86_64 position-independent
/// executable with a symbol table, as the kernel is), cut down to what
/// the two parsers read, so that a case costs microseconds, not a scan of
/// tens of MiB: its ELF header and program headers as they are, and a
/// section table of four (null, `.symtab`, `.strtab`, `.shstrtab`) whose
/// symbol table holds the binary's first 1,000 function symbols, names
/// and all.
fn own_elf() -> Vec<u8> {
    let real = std::fs::read("/proc/self/exe").expect("the test binary reads its own ELF");
    let table = SymbolTable::from_elf(&real).expect("the test binary has a symbol table");
    let (_, phoff, phnum) = elf_header(&real);
    let programs = &real[phoff..phoff + phnum * PROGRAM_HEADER_SIZE];
    // .strtab: "" then each name; .symtab: the null symbol then each.
    let mut strtab = std::vec![0u8];
    let mut symtab = std::vec![0u8; SYMBOL_SIZE];
    for s in table.functions().take(1000) {
        let name = strtab.len() as u32;
        strtab.extend_from_slice(s.name.as_bytes());
        strtab.push(0);
        symtab.extend_from_slice(&name.to_le_bytes());
        symtab.extend_from_slice(&[0x12, 0, 1, 0]); // global function, section 1
        symtab.extend_from_slice(&s.start.to_le_bytes());
        symtab.extend_from_slice(&s.size.to_le_bytes());
    }
    let shstrtab = b"\0.symtab\0.strtab\0.shstrtab\0";
    let mut out = real[..HEADER_SIZE].to_vec();
    out.extend_from_slice(programs);
    let symtab_at = out.len();
    out.extend_from_slice(&symtab);
    let strtab_at = out.len();
    out.extend_from_slice(&strtab);
    let shstrtab_at = out.len();
    out.extend_from_slice(shstrtab);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    let shoff = out.len();
    // (name, type, offset, size, link, entsize) of each section.
    let sections = [
        (0, 0, 0, 0, 0, 0),
        (1, SHT_SYMTAB.0, symtab_at, symtab.len(), 2, SYMBOL_SIZE),
        (9, SHT_STRTAB.0, strtab_at, strtab.len(), 0, 0),
        (17, SHT_STRTAB.0, shstrtab_at, shstrtab.len(), 0, 0),
    ];
    for (name, kind, offset, size, link, entsize) in sections {
        let mut sh = [0u8; SECTION_HEADER_SIZE];
        sh[0..4].copy_from_slice(&(name as u32).to_le_bytes());
        sh[4..8].copy_from_slice(&kind.to_le_bytes());
        sh[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
        sh[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
        sh[0x28..0x2c].copy_from_slice(&(link as u32).to_le_bytes());
        sh[0x38..0x40].copy_from_slice(&(entsize as u64).to_le_bytes());
        out.extend_from_slice(&sh);
    }
    out[0x20..0x28].copy_from_slice(&(HEADER_SIZE as u64).to_le_bytes());
    out[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
    out[0x3a..0x3c].copy_from_slice(&(SECTION_HEADER_SIZE as u16).to_le_bytes());
    out[0x3c..0x3e].copy_from_slice(&4u16.to_le_bytes());
    out[0x3e..0x40].copy_from_slice(&3u16.to_le_bytes());
    out
}

#[test]
fn the_fuzzers_cut_down_elf_keeps_the_layout_and_the_first_thousand_functions() {
    let real = std::fs::read("/proc/self/exe").unwrap();
    let cut = own_elf();
    assert_eq!(parse_elf(&cut), parse_elf(&real));
    let (t_real, t_cut) = (
        SymbolTable::from_elf(&real).unwrap(),
        SymbolTable::from_elf(&cut).unwrap(),
    );
    let first: Vec<_> = t_real.functions().take(1000).collect();
    assert_eq!(t_cut.functions().collect::<Vec<_>>(), first);
    assert_eq!(t_cut.len(), 1001);
}

/// What a mutant of an ELF file must give: a layout whose segments do not
/// wrap, a symbol table whose lookups find symbols that hold the address.
fn check_elf(file: &[u8], probe: u64) {
    if let Ok(layout) = parse_elf(file) {
        for s in layout.segments.iter().flatten() {
            assert!(s.vaddr.checked_add(s.mem_size).is_some());
        }
    }
    if let Ok(table) = SymbolTable::from_elf(file) {
        for addr in [probe, probe.wrapping_add(1), 0, u64::MAX] {
            if let Some(s) = table.lookup(addr) {
                assert!(s.contains(addr));
                let _ = Name(s.name).to_string();
            }
        }
    }
}

#[test]
fn fuzz_elf_parse_elf_and_symbol_table_never_panic() {
    let mut file = own_elf();
    let (fields, hot) = elf_targets(&file);
    let table = SymbolTable::from_elf(&file).expect("the test binary has a symbol table");
    let probes: Vec<u64> = table.functions().map(|s| s.start).collect();
    let mut rng = Rng::new(seed());
    let mut report = Report::new("elf (parse_elf, SymbolTable::from_elf, lookup)");
    let mut undo = Undo(Vec::new());
    for case in 0..cases() {
        let keep = mutate(&mut rng, &mut file, &hot, &fields, &mut undo);
        let probe = probes[rng.index(probes.len())];
        report.case(
            || std::format!("case {case}"),
            || check_elf(&file[..keep], probe),
        );
        undo.undo(&mut file);
    }
    report.finish();
}

// ----- The bootloader's memory map ----------------------------------------

/// The memory map QEMU's BIOS boot gives the kernel (128 MiB), as the
/// bootloader reports it: the shape a mutant starts from.
fn qemu_map() -> Vec<MemoryRegion> {
    let r = |start, end, kind| MemoryRegion { start, end, kind };
    std::vec![
        r(0, 0x1000, MemoryRegionKind::Bootloader),
        r(0x1000, 0x9_f000, MemoryRegionKind::Usable),
        r(0x9_f000, 0x10_0000, MemoryRegionKind::UnknownBios(2)),
        r(0x10_0000, 0x40_0000, MemoryRegionKind::Bootloader),
        r(0x40_0000, 0x7fe_0000, MemoryRegionKind::Usable),
        r(0x7fe_0000, 0x800_0000, MemoryRegionKind::UnknownBios(2)),
        r(0xfffc_0000, 0x1_0000_0000, MemoryRegionKind::UnknownBios(2)),
    ]
}

/// A region bound that tends to break the allocator's arithmetic.
fn bound(rng: &mut Rng, near: u64) -> u64 {
    match rng.below(9) {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - rng.below(0x2000),
        3 => near.wrapping_add(rng.below(0x3000)).wrapping_sub(0x1800),
        4 => near & !0xfff,
        5 => 1 << rng.below(64),
        6 => FuzzAllocator::CAPACITY_FRAMES * 4096 + rng.below(0x4000) - 0x2000,
        7 => rng.below(FuzzAllocator::CAPACITY_FRAMES * 4096 * 2),
        _ => rng.next(),
    }
}

/// An allocator small enough to check whole in every case (16 MiB of
/// frames); the logic is the kernel's, only the bitmaps are shorter.
type FuzzAllocator = FrameAllocator<64>;

/// A mutant of `map`: regions edited, duplicated, dropped, re-kinded.
fn mutate_map(rng: &mut Rng, map: &[MemoryRegion]) -> Vec<MemoryRegion> {
    let mut out = map.to_vec();
    for _ in 0..=rng.below(6) {
        let i = rng.index(out.len().max(1));
        match rng.below(7) {
            0 if !out.is_empty() => out[i].start = bound(rng, out[i].start),
            1 if !out.is_empty() => out[i].end = bound(rng, out[i].end),
            2 if !out.is_empty() => {
                let r = out[i];
                out.insert(rng.index(out.len() + 1), r);
            }
            3 if !out.is_empty() => {
                out.remove(i);
            }
            4 if !out.is_empty() => {
                out[i].kind = match rng.below(3) {
                    0 => MemoryRegionKind::Usable,
                    1 => MemoryRegionKind::Bootloader,
                    _ => MemoryRegionKind::UnknownUefi(rng.next() as u32),
                }
            }
            5 => {
                let start = bound(rng, 0x40_0000);
                let end = if rng.one_in(2) {
                    bound(rng, start)
                } else {
                    start.wrapping_add(rng.below(0x10_0000))
                };
                out.push(MemoryRegion {
                    start,
                    end,
                    kind: MemoryRegionKind::Usable,
                });
            }
            _ => {
                // Many regions at once (a map longer than any fixed buffer).
                for _ in 0..rng.below(400) {
                    let start = rng.below(FuzzAllocator::CAPACITY_FRAMES * 4096);
                    out.push(MemoryRegion {
                        start,
                        end: start + rng.below(0x8000),
                        kind: if rng.one_in(2) {
                            MemoryRegionKind::Usable
                        } else {
                            MemoryRegionKind::Bootloader
                        },
                    });
                }
            }
        }
    }
    out
}

/// Whether frame `f` (its number) lies wholly in a usable region and in
/// no reserved one, as the allocator promises.
fn frame_is_allowed(regions: &[Region], f: u64) -> bool {
    let (start, end) = (f * 4096, f * 4096 + 4096);
    f != 0
        && regions
            .iter()
            .any(|r| r.kind == RegionKind::Usable && r.start <= start && end <= r.end)
        && !regions.iter().any(|r| {
            r.kind == RegionKind::Reserved && r.start < r.end && r.start < end && start < r.end
        })
}

/// What the allocator must make of any map: counts that agree, and every
/// frame it hands out allowed by the map, once.
fn check_map(map: &[MemoryRegion], a: &mut FuzzAllocator) {
    a.init_from(regions_from_boot_map(map));
    let regions: Vec<Region> = regions_from_boot_map(map).collect();
    assert_eq!(a.free_count(), a.usable_count());
    let mut seen = std::collections::BTreeSet::new();
    while let Ok(frame) = a.allocate() {
        let f = frame.start_address().as_u64() / 4096;
        assert!(frame_is_allowed(&regions, f), "frame {f:#x} handed out");
        assert!(seen.insert(f), "frame {f:#x} handed out twice");
    }
    assert_eq!(seen.len(), a.usable_count());
    assert_eq!(a.free_count(), 0);
}

#[test]
fn fuzz_memory_map_reader_never_panics_and_hands_out_only_usable_frames() {
    let map = qemu_map();
    let mut a = std::boxed::Box::new(FuzzAllocator::new());
    let mut rng = Rng::new(seed());
    let mut report = Report::new("memory map (regions_from_boot_map, FrameAllocator::init)");
    for case in 0..cases() {
        let mutant = mutate_map(&mut rng, &map);
        report.case(
            || std::format!("case {case}: {mutant:x?}"),
            || check_map(&mutant, &mut a),
        );
    }
    report.finish();
}

// ----- WebAssembly modules --------------------------------------------------

/// Our own WAT programs (`kernel/wat/`, compiled here as `build.rs`
/// compiles them for the kernel), and every module of our `.wast` bundle:
/// the modules a mutant starts from.
fn wasm_seeds() -> Vec<Vec<u8>> {
    let wat_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wat");
    let programs = [
        "generator",
        "scheduler",
        "ping_pong",
        "floats",
        "traps",
        "bench_generator",
    ];
    let mut seeds: Vec<Vec<u8>> = programs
        .iter()
        .map(|p| wat::parse_file(wat_dir.join(p).with_extension("wat")).expect("our WAT compiles"))
        .collect();
    let bytes = own_bundle();
    let bundle = bundle::decode(&bytes).expect("the packer makes a well-formed bundle");
    for script in bundle.scripts {
        for c in script.commands {
            if let bundle::Kind::Module { bytes, .. } = c.kind {
                seeds.push(bytes);
            }
        }
    }
    seeds
}

/// A module's bytes through everything a host does before running it:
/// decode, validate, translate, instantiate (unless it has a start
/// function, which could loop for ever: the interpreter has no fuel).
/// Returns how far it got: 0 refused, 1 decoded, 2 instantiated.
fn check_module(bytes: &[u8]) -> usize {
    let Ok(module) = Module::new(bytes) else {
        return 0;
    };
    if module.start().is_some() {
        return 1;
    }
    let store = Store::new(MmapStacks::new(), 64 * 1024);
    match Instance::new(Arc::new(module), store) {
        Ok(_) => 2,
        Err(_) => 1,
    }
}

#[test]
fn fuzz_wasm_modules_decode_validate_and_instantiate_without_a_panic() {
    let seeds = wasm_seeds();
    let mut rng = Rng::new(seed());
    let mut report = Report::new("wasm (Module::new, Instance::new)");
    let mut undo = Undo(Vec::new());
    let mut seeds = seeds;
    let mut reached = [0u64; 3];
    for case in 0..cases() {
        let s = rng.index(seeds.len());
        let buf = &mut seeds[s];
        // The 8-byte preamble is left alone most of the time: a broken
        // magic tests one check only.
        let len = buf.len();
        let hot = [(8, len.saturating_sub(8))];
        let keep = mutate(&mut rng, buf, &hot, &[], &mut undo);
        report.case(
            || std::format!("case {case}: {:02x?}", &buf[..keep]),
            || reached[check_module(&buf[..keep])] += 1,
        );
        undo.undo(buf);
    }
    std::println!(
        "fuzz wasm: {} refused, {} decoded and validated, {} instantiated",
        reached[0],
        reached[1] + reached[2],
        reached[2]
    );
    report.finish();
}

// ----- The .wast bundle -----------------------------------------------------

/// Our own `.wast` scripts (`kernel/wast/`), packed as `build.rs` packs
/// them for the kernel, and encoded.
fn own_bundle() -> Vec<u8> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wast");
    ::bundle::encode(&::bundle::pack::pack_dir(&dir).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn fuzz_wast_bundle_reader_never_panics() {
    let buf = own_bundle();
    let fields = [
        Field { at: 4, width: 4 },  // version
        Field { at: 8, width: 4 },  // script count
        Field { at: 12, width: 4 }, // first name's length
    ];
    fuzz_image_reader("wast bundle (bundle::decode)", buf, &fields, |b| {
        let _ = bundle::decode(b);
    });
}

/// The fuzzing loop of a reader of a whole image (a bundle, a program):
/// [`cases`] mutants of `image`, any byte or one of `fields`, each cut
/// where `mutate` says and handed to `read`, which must not panic.
fn fuzz_image_reader(
    name: &'static str,
    mut image: Vec<u8>,
    fields: &[Field],
    read: impl Fn(&[u8]),
) {
    let mut rng = Rng::new(seed());
    let mut report = Report::new(name);
    let mut undo = Undo(Vec::new());
    let len = image.len();
    for case in 0..cases() {
        let keep = mutate(&mut rng, &mut image, &[(0, len)], fields, &mut undo);
        report.case(|| std::format!("case {case}"), || read(&image[..keep]));
        undo.undo(&mut image);
    }
    report.finish();
}

// ----- The program image ----------------------------------------------------

#[test]
fn fuzz_program_image_reader_never_panics() {
    let module = wat::parse_str(include_str!("../wat/wasi_echo.wat")).expect("parses");
    let image = ::bundle::program::encode(
        &[b"echo", b"one two"],
        &[b"A=1"],
        &[(b"env", &module)],
        &module,
    );
    let fields = [
        Field { at: 4, width: 4 },  // version
        Field { at: 8, width: 4 },  // argument count
        Field { at: 12, width: 4 }, // first argument's length
    ];
    fuzz_image_reader(
        "program image (bundle::program::decode)",
        image,
        &fields,
        |b| {
            let _ = ::bundle::program::decode(b);
        },
    );
}
