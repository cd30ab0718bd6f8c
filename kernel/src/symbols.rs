//! The kernel's own symbol table, read at run time: a code address becomes
//! the demangled name of the function it lies in, plus an offset.
//!
//! Why at run time: the bootloader leaves the kernel's whole ELF file in
//! memory (`BootInfo::kernel_addr`, `kernel_len`), symbol table included,
//! so a trap report or a panic can name every frame itself, on the serial
//! line, with no `addr2line` run by hand and no table made at build time.
//! The table is read in place with `xmas-elf` (the parser `elf.rs` uses);
//! a lookup scans it (under a thousand function symbols) without
//! allocating, so a fault handler may call it.
//!
//! Addresses. The kernel is linked as a position-independent executable
//! and the bootloader loads it at `BootInfo::kernel_image_offset`: a symbol
//! whose ELF value is `v` runs at `v + offset`. [`lookup`] subtracts the
//! offset before searching.
//!
//! ```text
//!   run-time address 0xffff_8000_0001_2345
//!              - image offset 0xffff_8000_0000_0000
//!   = ELF address            0x1_2345
//!   .symtab: FUNC  0x1_2300  size 0x80  "_RNv...level_c"  (0x1_2300 <= a < 0x1_2380)
//!   => test_cont::level_c+0x45
//! ```
//!
//! Names are Rust's mangled symbols; [`Name`] shows them demangled with
//! `rustc-demangle` (a small `no_std` crate, kept by the Rust project), in
//! its short form, without the hash.

use core::fmt;

use xmas_elf::ElfFile;
use xmas_elf::sections::SectionData;
use xmas_elf::symbol_table::{Entry, Entry64, Type};

/// A function symbol: where it starts (ELF address), its size, its
/// (mangled) name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub start: u64,
    pub size: u64,
    pub name: &'a str,
}

impl Symbol<'_> {
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr - self.start < self.size
    }
}

/// The symbol among `symbols` whose range holds `addr`. Where ranges nest
/// (an alias, a function inside another's range), the one that starts
/// last, closest to `addr`; between equal starts, the first met.
pub fn containing<'a>(
    symbols: impl IntoIterator<Item = Symbol<'a>>,
    addr: u64,
) -> Option<Symbol<'a>> {
    symbols
        .into_iter()
        .filter(|s| s.contains(addr))
        .fold(None, |best: Option<Symbol<'a>>, s| match best {
            Some(b) if b.start >= s.start => Some(b),
            _ => Some(s),
        })
}

/// The function symbols of one ELF file, read in place.
#[derive(Clone, Copy)]
pub struct SymbolTable<'a> {
    entries: &'a [Entry64],
    strtab: &'a [u8],
}

impl<'a> SymbolTable<'a> {
    /// The `.symtab` and `.strtab` of an ELF64 file.
    pub fn from_elf(elf: &'a [u8]) -> Result<SymbolTable<'a>, &'static str> {
        let file = ElfFile::new(elf)?;
        let section = |name| {
            let header = file.find_section_by_name(name).ok_or("no such section")?;
            let end = header.offset().checked_add(header.size());
            if end.is_none_or(|end| end > elf.len() as u64) {
                return Err("section lies outside the file");
            }
            Ok(header)
        };
        let symtab = section(".symtab")?;
        let strtab = section(".strtab")?.raw_data(&file);
        match symtab.get_data(&file)? {
            SectionData::SymbolTable64(entries) => Ok(SymbolTable { entries, strtab }),
            _ => Err(".symtab is not a 64-bit symbol table"),
        }
    }

    /// Every function symbol with a size.
    pub fn functions(&self) -> impl Iterator<Item = Symbol<'a>> + '_ {
        self.entries.iter().filter_map(|e| {
            if e.get_type() != Ok(Type::Func) || e.size() == 0 {
                return None;
            }
            Some(Symbol {
                start: e.value(),
                size: e.size(),
                name: self.name_at(e.name() as usize),
            })
        })
    }

    /// The function symbol whose range holds the ELF address `addr`.
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'a>> {
        containing(self.functions(), addr)
    }

    /// The NUL-terminated string at `offset` in the string table ("" if
    /// it is not one).
    fn name_at(&self, offset: usize) -> &'a str {
        let rest = self.strtab.get(offset..).unwrap_or(&[]);
        let len = rest.iter().position(|&b| b == 0).unwrap_or(0);
        core::str::from_utf8(&rest[..len]).unwrap_or("")
    }
}

/// A symbol's name, shown demangled, without its hash:
/// `_RNvCs..._9test_cont7level_c` shows as `test_cont::level_c`. A name
/// that is not a Rust symbol (an assembly label) shows as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name<'a>(pub &'a str);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", rustc_demangle::demangle(self.0))
    }
}

/// Where a code address lies: in which function, how far in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    pub symbol: Symbol<'static>,
    pub offset: u64,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{:#x}", Name(self.symbol.name), self.offset)
    }
}

/// The running kernel's table and load offset.
struct Kernel {
    table: SymbolTable<'static>,
    image_offset: u64,
}

static KERNEL: spin::Once<Kernel> = spin::Once::new();

/// Makes [`lookup`] read the symbol table of `elf`, the running kernel's
/// own file, loaded at `image_offset`.
#[cfg(target_os = "none")]
pub(crate) fn init(elf: &'static [u8], image_offset: u64) -> Result<(), &'static str> {
    let table = SymbolTable::from_elf(elf)?;
    KERNEL.call_once(|| Kernel {
        table,
        image_offset,
    });
    Ok(())
}

/// The function of the running kernel that run-time address `addr` lies
/// in (`None`: before [`init`], on the host, or outside every function).
/// Never allocates, never waits.
pub fn lookup(addr: usize) -> Option<Located> {
    let kernel = KERNEL.get()?;
    let elf_addr = (addr as u64).checked_sub(kernel.image_offset)?;
    let symbol = kernel.table.lookup(elf_addr)?;
    Some(Located {
        symbol,
        offset: elf_addr - symbol.start,
    })
}

/// The function a frame's address lies in. A return address points just
/// after its call, which may be the first byte of the next function when
/// the call is a function's last instruction (a call that never returns):
/// so it is looked up one byte earlier, and the offset shown is the
/// return address's own. `is_return` is false for the address of a
/// faulting instruction, which is looked up as it is.
pub fn lookup_frame(addr: usize, is_return: bool) -> Option<Located> {
    if !is_return {
        return lookup(addr);
    }
    let mut located = lookup(addr.checked_sub(1)?)?;
    located.offset += 1;
    Some(located)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn sym(start: u64, size: u64, name: &'static str) -> Symbol<'static> {
        Symbol { start, size, name }
    }

    #[test]
    fn containing_finds_the_function_whose_range_holds_the_address() {
        let table = [
            sym(0x1000, 0x40, "a"),
            sym(0x1040, 0x20, "b"),
            sym(0x1080, 0x10, "c"),
        ];
        assert_eq!(containing(table, 0x1000).map(|s| s.name), Some("a"));
        assert_eq!(containing(table, 0x103f).map(|s| s.name), Some("a"));
        assert_eq!(containing(table, 0x1040).map(|s| s.name), Some("b"));
        assert_eq!(containing(table, 0x1085).map(|s| s.name), Some("c"));
    }

    #[test]
    fn containing_finds_nothing_in_gaps_or_past_the_end() {
        let table = [sym(0x1000, 0x40, "a"), sym(0x1080, 0x10, "c")];
        assert_eq!(containing(table, 0x1040), None);
        assert_eq!(containing(table, 0x0fff), None);
        assert_eq!(containing(table, 0x1090), None);
    }

    #[test]
    fn containing_prefers_the_innermost_of_nested_ranges() {
        let table = [
            sym(0x2000, 0x100, "outer"),
            sym(0x2040, 0x10, "inner"),
            sym(0x2000, 0x100, "alias"),
        ];
        assert_eq!(containing(table, 0x2044).map(|s| s.name), Some("inner"));
        assert_eq!(containing(table, 0x2010).map(|s| s.name), Some("outer"));
    }

    #[inline(never)]
    fn marker_one() -> u32 {
        core::hint::black_box(1)
    }

    #[inline(never)]
    fn marker_two() -> u32 {
        core::hint::black_box(2)
    }

    /// This test binary's own function symbol called `name` (demangled).
    fn find_by_name(table: &SymbolTable<'static>, name: &str) -> Symbol<'static> {
        let mut found = table
            .functions()
            .filter(|s| Name(s.name).to_string() == name);
        let symbol = found.next().unwrap_or_else(|| panic!("no symbol {name}"));
        assert!(found.next().is_none(), "{name} is defined twice");
        symbol
    }

    #[test]
    fn symbol_table_of_a_real_elf_maps_run_time_addresses_with_one_load_offset() {
        // This test binary: an ELF64 with a symbol table, loaded at an
        // offset of its own (a position-independent executable).
        let elf = std::fs::read("/proc/self/exe").unwrap().leak();
        let table = SymbolTable::from_elf(elf).unwrap();
        let one = find_by_name(&table, "kernel::symbols::tests::marker_one");
        let two = find_by_name(&table, "kernel::symbols::tests::marker_two");
        let run_one = marker_one as fn() -> u32 as usize as u64;
        let run_two = marker_two as fn() -> u32 as usize as u64;
        assert_eq!(run_one - one.start, run_two - two.start, "one load offset");
        let offset = run_one - one.start;
        assert_eq!(table.lookup(run_two - offset + 1), Some(two));
        assert_eq!(core::hint::black_box(marker_one() + marker_two()), 3);
    }

    #[test]
    fn name_shows_a_v0_symbol_demangled_without_hash_or_llvm_suffix() {
        let mangled = "_RNvCsfSj8jVUdcjo_9test_cont7level_c.llvm.2672096579699121978";
        assert_eq!(Name(mangled).to_string(), "test_cont::level_c");
    }

    #[test]
    fn name_shows_a_legacy_symbol_without_its_hash() {
        let mangled = "_ZN6kernel4cont5traps7capture17h0123456789abcdefE";
        assert_eq!(Name(mangled).to_string(), "kernel::cont::traps::capture");
    }

    #[test]
    fn name_shows_an_assembly_label_as_it_is() {
        assert_eq!(
            Name("cont_start_trampoline").to_string(),
            "cont_start_trampoline"
        );
    }

    #[test]
    fn located_shows_name_plus_offset() {
        let at = Located {
            symbol: sym(0x1000, 0x40, "_RNvCsfSj8jVUdcjo_9test_cont7level_c"),
            offset: 0x2a,
        };
        assert_eq!(at.to_string(), "test_cont::level_c+0x2a");
    }
}
