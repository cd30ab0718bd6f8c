//! The kernel's own symbol table, read at run time: a code address becomes
//! the demangled name of the function it lies in, plus an offset.
//!
//! Why at run time: the bootloader leaves the kernel's whole ELF file in
//! memory (`BootInfo::kernel_addr`, `kernel_len`), symbol table included,
//! so a trap report or a panic can name every frame itself, on the serial
//! line, with no `addr2line` run by hand and no table made at build time.
//! The table is read in place with the `object` crate, as `elf.rs` reads
//! the segments (the file is outside bytes: a malformed one is an `Err`,
//! never a panic, and a table read from a corrupt file still looks up
//! without a panic);
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

use object::LittleEndian as LE;
use object::elf::{FileHeader64, SHT_SYMTAB, STT_FUNC, Sym64};
use object::read::StringTable;
use object::read::elf::{FileHeader, SectionHeader, SectionTable, Sym};

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
    containing_by(symbols, addr, |s| *s)
}

/// [`containing`] over items that each carry a symbol (`symbol_of`).
fn containing_by<'a, T>(
    items: impl IntoIterator<Item = T>,
    addr: u64,
    symbol_of: impl Fn(&T) -> Symbol<'a>,
) -> Option<T> {
    items
        .into_iter()
        .filter(|t| symbol_of(t).contains(addr))
        .fold(None, |best: Option<T>, t| match best {
            Some(b) if symbol_of(&b).start >= symbol_of(&t).start => Some(b),
            _ => Some(t),
        })
}

/// Bytes of one ELF64 symbol table entry.
pub(crate) const SYMBOL_SIZE: usize = size_of::<Sym64<LE>>();

/// The function symbols of one ELF file, read in place.
#[derive(Clone, Copy)]
pub struct SymbolTable<'a> {
    symbols: &'a [Sym64<LE>],
    strings: StringTable<'a>,
}

impl<'a> SymbolTable<'a> {
    /// The symbol table of an ELF64 file (its section of type
    /// `SHT_SYMTAB`) and the string table it names (`sh_link`).
    pub fn from_elf(elf: &'a [u8]) -> Result<SymbolTable<'a>, &'static str> {
        let headers = crate::elf::header(elf)?
            .section_headers(LE, elf)
            .map_err(|_| "bad section header table (entry size, count or offset)")?;
        // No section names are needed: the table is found by its type.
        let sections = SectionTable::<FileHeader64<LE>>::new(headers, StringTable::default());
        let symtab = sections
            .iter()
            .find(|s| s.sh_type(LE) == SHT_SYMTAB)
            .ok_or("no symbol table")?;
        if symtab.sh_entsize(LE) != SYMBOL_SIZE as u64 {
            return Err("the symbol table is not one of 64-bit entries");
        }
        let symbols = symtab
            .data_as_array(LE, elf)
            .map_err(|_| "the symbol table is not whole entries inside the file")?;
        // Section `sh_link`, if it is a string table inside the file.
        let strings = sections
            .section(symtab.link(LE))
            .and_then(|s| s.strings(LE, elf))
            .ok()
            .flatten()
            .ok_or("the symbol table names no string table")?;
        Ok(SymbolTable { symbols, strings })
    }

    /// How many entries the table has (functions or not).
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether the table has no entries at all.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Every function symbol with a size.
    pub fn functions(&self) -> impl Iterator<Item = Symbol<'a>> + '_ {
        self.function_entries().map(|e| self.symbol(e))
    }

    /// Every function symbol with a size, as its raw entry: names are
    /// looked up only for the symbol a lookup settles on.
    fn function_entries(&self) -> impl Iterator<Item = &'a Sym64<LE>> + 'a {
        self.symbols
            .iter()
            .filter(|e| e.st_type() == STT_FUNC && e.st_size(LE) != 0)
    }

    /// `entry` as a [`Symbol`], its name read from the string table.
    fn symbol(&self, entry: &Sym64<LE>) -> Symbol<'a> {
        Symbol {
            name: self.name(entry),
            ..Self::unnamed(entry)
        }
    }

    /// `entry` as a [`Symbol`] with no name.
    fn unnamed(entry: &Sym64<LE>) -> Symbol<'a> {
        Symbol {
            start: entry.st_value(LE),
            size: entry.st_size(LE),
            name: "",
        }
    }

    /// The function symbol whose range holds the ELF address `addr` (the
    /// choice [`containing`] makes, without reading every name).
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'a>> {
        let found = containing_by(self.function_entries(), addr, |e| Self::unnamed(e))?;
        Some(self.symbol(found))
    }

    /// The name of `entry`: its NUL-terminated string in the string
    /// table ("" if it is not one, or not UTF-8).
    fn name(&self, entry: &Sym64<LE>) -> &'a str {
        let bytes = entry.name(LE, self.strings).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
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
    use std::vec::Vec;

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

    /// Bytes of the ELF64 file header.
    const HEADER_SIZE: usize = 0x40;

    /// An ELF64 file with a symbol table of `symbols` (start, size, name)
    /// and its string table, the section headers at the end.
    fn elf_with_symbols(symbols: &[(u64, u64, &str)]) -> Vec<u8> {
        let mut elf = std::vec![0u8; HEADER_SIZE];
        elf[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
        let mut strtab = std::vec![0u8];
        let mut symtab = std::vec![0u8; SYMBOL_SIZE];
        for &(start, size, name) in symbols {
            symtab.extend_from_slice(&(strtab.len() as u32).to_le_bytes());
            symtab.extend_from_slice(&[0x12, 0, 1, 0]);
            symtab.extend_from_slice(&start.to_le_bytes());
            symtab.extend_from_slice(&size.to_le_bytes());
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
        }
        let (symtab_at, strtab_at) = (elf.len(), elf.len() + symtab.len());
        elf.extend_from_slice(&symtab);
        elf.extend_from_slice(&strtab);
        let shoff = elf.len();
        for (kind, offset, size, link, entsize) in [
            (0u32, 0usize, 0usize, 0u32, 0u64),
            (2, symtab_at, symtab.len(), 2, SYMBOL_SIZE as u64),
            (3, strtab_at, strtab.len(), 0, 0),
        ] {
            let mut sh = [0u8; 0x40];
            sh[4..8].copy_from_slice(&kind.to_le_bytes());
            sh[0x18..0x20].copy_from_slice(&(offset as u64).to_le_bytes());
            sh[0x20..0x28].copy_from_slice(&(size as u64).to_le_bytes());
            sh[0x28..0x2c].copy_from_slice(&link.to_le_bytes());
            sh[0x38..0x40].copy_from_slice(&entsize.to_le_bytes());
            elf.extend_from_slice(&sh);
        }
        elf[0x28..0x30].copy_from_slice(&(shoff as u64).to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&0x40u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        elf
    }

    /// Where the section header table starts in `elf`.
    fn shoff(elf: &[u8]) -> usize {
        u64::from_le_bytes(elf[0x28..0x30].try_into().unwrap()) as usize
    }

    #[test]
    fn a_small_symbol_table_reads_back_its_functions() {
        let elf = elf_with_symbols(&[(0x1000, 0x40, "a"), (0x1040, 0x20, "b")]);
        let table = SymbolTable::from_elf(&elf).unwrap();
        assert_eq!(table.lookup(0x1044), Some(sym(0x1040, 0x20, "b")));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn symbol_table_with_section_header_entry_size_0_is_an_error() {
        let mut elf = elf_with_symbols(&[(0x1000, 0x40, "a")]);
        elf[0x3a..0x3c].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            SymbolTable::from_elf(&elf).err(),
            Some("bad section header table (entry size, count or offset)")
        );
    }

    #[test]
    fn symbol_table_with_section_header_entry_size_1_is_an_error() {
        let mut elf = elf_with_symbols(&[(0x1000, 0x40, "a")]);
        elf[0x3a..0x3c].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(
            SymbolTable::from_elf(&elf).err(),
            Some("bad section header table (entry size, count or offset)")
        );
    }

    #[test]
    fn symbol_table_whose_entry_size_is_not_elf64s_is_an_error() {
        let mut elf = elf_with_symbols(&[(0x1000, 0x40, "a")]);
        let at = shoff(&elf) + 0x40 + 0x38;
        elf[at..at + 8].copy_from_slice(&1u64.to_le_bytes());
        assert_eq!(
            SymbolTable::from_elf(&elf).err(),
            Some("the symbol table is not one of 64-bit entries")
        );
    }

    #[test]
    fn symbol_table_reaching_past_the_end_of_the_file_is_an_error() {
        let mut elf = elf_with_symbols(&[(0x1000, 0x40, "a")]);
        let at = shoff(&elf) + 0x40 + 0x20;
        elf[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            SymbolTable::from_elf(&elf).err(),
            Some("the symbol table is not whole entries inside the file")
        );
    }

    #[test]
    fn symbol_table_whose_string_table_link_is_out_of_range_is_an_error() {
        let mut elf = elf_with_symbols(&[(0x1000, 0x40, "a")]);
        let at = shoff(&elf) + 0x40 + 0x28;
        elf[at..at + 4].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(
            SymbolTable::from_elf(&elf).err(),
            Some("the symbol table names no string table")
        );
    }

    #[test]
    fn symbol_table_of_a_file_at_an_odd_address_reads_the_same_symbols() {
        // xmas-elf once asserted alignment and panicked here.
        let elf = elf_with_symbols(&[(0x1000, 0x40, "a")]);
        let mut shifted = std::vec![0u8];
        shifted.extend_from_slice(&elf);
        let table = SymbolTable::from_elf(&shifted[1..]).unwrap();
        assert_eq!(table.lookup(0x1001), Some(sym(0x1000, 0x40, "a")));
    }

    #[test]
    fn lookup_in_a_table_with_corrupt_names_and_ranges_finds_only_holding_symbols() {
        // A name offset past the string table, a name that is not UTF-8,
        // a range that reaches the top of the address space.
        let mut elf = elf_with_symbols(&[
            (0x1000, 0x40, "\u{fffd}"),
            (u64::MAX - 0xf, 0x10, "top"),
            (0x2000, u64::MAX, "huge"),
        ]);
        let symtab_at = HEADER_SIZE;
        let name = symtab_at + SYMBOL_SIZE; // first symbol's st_name
        elf[name..name + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        let strtab_at = symtab_at + 4 * SYMBOL_SIZE;
        elf[strtab_at + 1 + 3 + 1 + 4 + 1] = 0xff; // inside "huge"
        let table = SymbolTable::from_elf(&elf).unwrap();
        assert_eq!(table.lookup(0x1010), Some(sym(0x1000, 0x40, "")));
        assert_eq!(
            table.lookup(u64::MAX),
            Some(sym(u64::MAX - 0xf, 0x10, "top"))
        );
        assert_eq!(
            table.lookup(0x3000).map(|s| (s.start, s.name)),
            Some((0x2000, ""))
        );
        assert_eq!(table.lookup(0x1fff), None);
    }
}
