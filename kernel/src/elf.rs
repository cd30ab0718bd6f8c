//! The kernel's own ELF file, read for the layout of its segments: which
//! ranges are code, read-only data and writable data, and which writable
//! range becomes read-only after relocation (`PT_GNU_RELRO`); and the
//! small, bounds-checked ELF64 reader that `symbols.rs` reads the symbol
//! table with too.
//!
//! `paging` maps the kernel image with per-segment permissions from this
//! (the bootloader leaves the ELF in memory). The file comes from outside
//! the kernel, so it is read as untrusted bytes: every offset, size, count
//! and entry size is checked against the file before anything is read,
//! and a malformed file is an `Err`, never a panic. That is why the reader
//! is written here, in a page of code, rather than taken from `xmas-elf`
//! (the crate the bootloader uses): `xmas-elf` slices the file with the
//! header's own numbers and asserts that structures are aligned in memory,
//! so a wrong entry size, a table past the end of the file, or a file at
//! an odd address panics inside it. A reader of outside bytes must not
//! (`docs/guarantees.md`, "Readers of outside bytes"); `kernel/src/fuzz.rs`
//! feeds this one mutants of a real ELF file.
//!
//! ```text
//!   ELF64 header (64 bytes)     e_phoff --> program headers, e_phnum x e_phentsize (>= 56)
//!                               e_shoff --> section headers, e_shnum x e_shentsize (>= 64)
//!   every field little-endian; entries larger than the ELF64 layout are
//!   allowed (the extra bytes are skipped), smaller ones are refused
//! ```

/// One loadable segment of an ELF file, as the kernel maps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Link-time virtual address (add the load offset for the real one).
    pub vaddr: u64,
    pub mem_size: u64,
    pub writable: bool,
    pub executable: bool,
}

/// Program headers of interest in an ELF64 file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElfLayout {
    pub segments: [Option<Segment>; 16],
    /// The `PT_GNU_RELRO` range (`vaddr`, size): written by relocation at
    /// load time, read-only afterwards.
    pub relro: Option<(u64, u64)>,
}

/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// `p_type` of the range that is read-only after relocation.
pub const PT_GNU_RELRO: u32 = 0x6474_e552;
/// `sh_type` of a symbol table.
pub const SHT_SYMTAB: u32 = 2;
/// `sh_type` of a string table.
pub const SHT_STRTAB: u32 = 3;

/// Bytes of the ELF64 file header.
pub const HEADER_SIZE: usize = 0x40;
/// Bytes of an ELF64 program header, the least `e_phentsize` may say.
pub const PROGRAM_HEADER_SIZE: usize = 0x38;
/// Bytes of an ELF64 section header, the least `e_shentsize` may say.
pub const SECTION_HEADER_SIZE: usize = 0x40;

/// `N` bytes of `bytes` at `at`, if they are all there.
fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The little-endian `u16` at `at` (0 past the end: callers check
/// lengths first, so that never happens for a field they read).
pub(crate) fn u16_at(bytes: &[u8], at: usize) -> u16 {
    array(bytes, at).map_or(0, u16::from_le_bytes)
}

pub(crate) fn u32_at(bytes: &[u8], at: usize) -> u32 {
    array(bytes, at).map_or(0, u32::from_le_bytes)
}

pub(crate) fn u64_at(bytes: &[u8], at: usize) -> u64 {
    array(bytes, at).map_or(0, u64::from_le_bytes)
}

/// `bytes[offset .. offset + size]`, if it lies inside `bytes` (the
/// numbers are the file's own: any `u64`).
pub fn range(bytes: &[u8], offset: u64, size: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    bytes.get(start..end)
}

/// One table of fixed-size entries in the file (the program or the
/// section headers): `count` entries of `entry_size` bytes, each at least
/// `min_entry` bytes, the whole table inside the file.
#[derive(Clone, Copy, Debug)]
struct Table<'a> {
    bytes: &'a [u8],
    entry_size: usize,
    count: usize,
}

impl<'a> Table<'a> {
    fn new(
        file: &'a [u8],
        offset: u64,
        entry_size: u16,
        count: u16,
        min_entry: usize,
        what: &'static str,
    ) -> Result<Table<'a>, &'static str> {
        let (entry_size, count) = (usize::from(entry_size), usize::from(count));
        if count == 0 {
            return Ok(Table {
                bytes: &[],
                entry_size: min_entry,
                count: 0,
            });
        }
        if entry_size < min_entry {
            return Err(what);
        }
        // At most 65535 entries of at most 65535 bytes: no overflow.
        let size = (entry_size * count) as u64;
        let bytes = range(file, offset, size).ok_or(what)?;
        Ok(Table {
            bytes,
            entry_size,
            count,
        })
    }

    /// Entry `i`: `entry_size` bytes, of which the caller reads the first
    /// `min_entry` (empty if `i` is out of range).
    fn entry(&self, i: usize) -> &'a [u8] {
        let start = i.saturating_mul(self.entry_size);
        self.bytes
            .get(start..start.saturating_add(self.entry_size))
            .unwrap_or(&[])
    }
}

/// An ELF64 little-endian file whose header and header tables have been
/// checked: both tables lie inside the file and their entries are at
/// least as large as the ELF64 layout. Everything read afterwards is read
/// with bounds checks, so no input makes it panic.
#[derive(Clone, Copy, Debug)]
pub struct Elf64<'a> {
    bytes: &'a [u8],
    programs: Table<'a>,
    sections: Table<'a>,
}

/// A program header, its fields as the file has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub file_size: u64,
    pub mem_size: u64,
}

/// A section header, its fields as the file has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionHeader {
    pub name: u32,
    pub kind: u32,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub entry_size: u64,
}

impl<'a> Elf64<'a> {
    /// Checks the header of `bytes`: the magic, 64-bit, little-endian,
    /// and both header tables (entry size, count, offset) inside the file.
    pub fn new(bytes: &'a [u8]) -> Result<Elf64<'a>, &'static str> {
        let header = bytes
            .get(..HEADER_SIZE)
            .ok_or("shorter than an ELF64 header")?;
        if header[..4] != *b"\x7fELF" {
            return Err("no ELF magic");
        }
        if header[4] != 2 {
            return Err("not an ELF64 file");
        }
        if header[5] != 1 {
            return Err("not a little-endian ELF file");
        }
        let programs = Table::new(
            bytes,
            u64_at(header, 0x20),
            u16_at(header, 0x36),
            u16_at(header, 0x38),
            PROGRAM_HEADER_SIZE,
            "bad program header table (entry size, count or offset)",
        )?;
        let sections = Table::new(
            bytes,
            u64_at(header, 0x28),
            u16_at(header, 0x3a),
            u16_at(header, 0x3c),
            SECTION_HEADER_SIZE,
            "bad section header table (entry size, count or offset)",
        )?;
        Ok(Elf64 {
            bytes,
            programs,
            sections,
        })
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Every program header, in file order.
    pub fn program_headers(&self) -> impl Iterator<Item = ProgramHeader> + 'a {
        let table = self.programs;
        (0..table.count).map(move |i| {
            let e = table.entry(i);
            ProgramHeader {
                kind: u32_at(e, 0),
                flags: u32_at(e, 4),
                offset: u64_at(e, 8),
                vaddr: u64_at(e, 0x10),
                file_size: u64_at(e, 0x20),
                mem_size: u64_at(e, 0x28),
            }
        })
    }

    /// Every section header, in file order.
    pub fn section_headers(&self) -> impl Iterator<Item = SectionHeader> + 'a {
        let table = self.sections;
        (0..table.count).map(move |i| Self::section_at(table, i))
    }

    /// Section header `index`, if there is one.
    pub fn section(&self, index: u32) -> Option<SectionHeader> {
        let i = usize::try_from(index).ok()?;
        (i < self.sections.count).then(|| Self::section_at(self.sections, i))
    }

    fn section_at(table: Table<'_>, i: usize) -> SectionHeader {
        let e = table.entry(i);
        SectionHeader {
            name: u32_at(e, 0),
            kind: u32_at(e, 4),
            offset: u64_at(e, 0x18),
            size: u64_at(e, 0x20),
            link: u32_at(e, 0x28),
            entry_size: u64_at(e, 0x38),
        }
    }

    /// The bytes of `section`, if they lie inside the file.
    pub fn section_data(&self, section: &SectionHeader) -> Result<&'a [u8], &'static str> {
        range(self.bytes, section.offset, section.size).ok_or("section lies outside the file")
    }
}

/// Reads the `PT_LOAD` (non-empty) and `PT_GNU_RELRO` program headers of an
/// ELF64 file.
pub fn parse_elf(elf: &[u8]) -> Result<ElfLayout, &'static str> {
    let file = Elf64::new(elf)?;
    let mut layout = ElfLayout::default();
    let mut count = 0;
    for ph in file.program_headers() {
        let wraps = ph.vaddr.checked_add(ph.mem_size).is_none();
        match ph.kind {
            PT_LOAD | PT_GNU_RELRO if wraps => {
                return Err("segment wraps around the address space");
            }
            PT_LOAD if ph.mem_size > 0 => {
                let slot = layout
                    .segments
                    .get_mut(count)
                    .ok_or("too many PT_LOAD segments")?;
                *slot = Some(Segment {
                    vaddr: ph.vaddr,
                    mem_size: ph.mem_size,
                    writable: ph.flags & 2 != 0,
                    executable: ph.flags & 1 != 0,
                });
                count += 1;
            }
            PT_GNU_RELRO => layout.relro = Some((ph.vaddr, ph.mem_size)),
            _ => {}
        }
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// An ELF64 header followed by `headers` (type, flags, vaddr, memsz).
    fn elf_with(headers: &[(u32, u32, u64, u64)]) -> Vec<u8> {
        let mut elf = std::vec![0u8; 0x40];
        // Magic, 64-bit, little-endian, version 1; an executable for x86_64.
        elf[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
        elf[0x10..0x12].copy_from_slice(&2u16.to_le_bytes());
        elf[0x12..0x14].copy_from_slice(&0x3eu16.to_le_bytes());
        elf[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
        elf[0x34..0x36].copy_from_slice(&0x40u16.to_le_bytes());
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        for &(kind, flags, vaddr, memsz) in headers {
            let mut ph = [0u8; 0x38];
            ph[0..4].copy_from_slice(&kind.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[0x10..0x18].copy_from_slice(&vaddr.to_le_bytes());
            ph[0x28..0x30].copy_from_slice(&memsz.to_le_bytes());
            elf.extend_from_slice(&ph);
        }
        elf
    }

    #[test]
    fn parse_elf_reads_load_segments_and_relro() {
        let elf = elf_with(&[
            (6, 4, 0x40, 0x100),          // PT_PHDR: ignored
            (PT_LOAD, 4, 0x0, 0x1800),    // rodata: R
            (PT_LOAD, 5, 0x2000, 0x3000), // text: R+X
            (PT_LOAD, 6, 0x5000, 0x2400), // data+bss: RW
            (PT_LOAD, 6, 0x8000, 0),      // empty: ignored
            (PT_GNU_RELRO, 4, 0x5000, 0x1000),
        ]);
        let layout = parse_elf(&elf).unwrap();
        let segments: Vec<_> = layout.segments.iter().flatten().copied().collect();
        assert_eq!(
            segments,
            [
                Segment {
                    vaddr: 0x0,
                    mem_size: 0x1800,
                    writable: false,
                    executable: false
                },
                Segment {
                    vaddr: 0x2000,
                    mem_size: 0x3000,
                    writable: false,
                    executable: true
                },
                Segment {
                    vaddr: 0x5000,
                    mem_size: 0x2400,
                    writable: true,
                    executable: false
                },
            ]
        );
        assert_eq!(layout.relro, Some((0x5000, 0x1000)));
    }

    #[test]
    fn parse_elf_rejects_bad_input() {
        assert!(parse_elf(b"MZ").is_err());
        assert!(parse_elf(b"\x7fELF\x01").is_err());
        let mut truncated = elf_with(&[(PT_LOAD, 5, 0, 0x1000)]);
        truncated.truncate(0x50);
        assert!(parse_elf(&truncated).is_err());
    }

    /// `elf` with the 16-bit header field at `at` set to `v`.
    fn with_u16(mut elf: Vec<u8>, at: usize, v: u16) -> Vec<u8> {
        elf[at..at + 2].copy_from_slice(&v.to_le_bytes());
        elf
    }

    #[test]
    fn parse_elf_with_program_header_entry_size_1_is_an_error() {
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x36, 1);
        assert_eq!(
            parse_elf(&elf),
            Err("bad program header table (entry size, count or offset)")
        );
    }

    #[test]
    fn parse_elf_with_program_header_entry_size_0_is_an_error() {
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x36, 0);
        assert!(parse_elf(&elf).is_err());
    }

    #[test]
    fn parse_elf_with_a_program_header_table_past_the_end_of_the_file_is_an_error() {
        let mut elf = elf_with(&[(PT_LOAD, 5, 0, 0x1000)]);
        elf[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_elf(&elf).is_err());
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x38, 0xffff);
        assert!(parse_elf(&elf).is_err());
    }

    #[test]
    fn parse_elf_skips_the_extra_bytes_of_program_header_entries_larger_than_elf64s() {
        // Two headers of 0x40 bytes each: 0x38 of ELF64 header, 8 spare.
        let mut elf = elf_with(&[]);
        for (kind, vaddr) in [(PT_LOAD, 0x1000u64), (PT_LOAD, 0x3000)] {
            let mut ph = [0u8; 0x40];
            ph[0..4].copy_from_slice(&kind.to_le_bytes());
            ph[4..8].copy_from_slice(&4u32.to_le_bytes());
            ph[0x10..0x18].copy_from_slice(&vaddr.to_le_bytes());
            ph[0x28..0x30].copy_from_slice(&0x1000u64.to_le_bytes());
            ph[0x38..0x40].fill(0xee);
            elf.extend_from_slice(&ph);
        }
        let elf = with_u16(with_u16(elf, 0x36, 0x40), 0x38, 2);
        let vaddrs: Vec<u64> = parse_elf(&elf)
            .unwrap()
            .segments
            .iter()
            .flatten()
            .map(|s| s.vaddr)
            .collect();
        assert_eq!(vaddrs, [0x1000, 0x3000]);
    }

    #[test]
    fn parse_elf_of_a_file_at_an_odd_address_reads_the_same_layout() {
        // The bytes at an address that is not 8-aligned (xmas-elf once
        // asserted alignment and panicked here).
        let elf = elf_with(&[(PT_LOAD, 5, 0x2000, 0x3000)]);
        let mut shifted = std::vec![0u8];
        shifted.extend_from_slice(&elf);
        assert_eq!(parse_elf(&shifted[1..]), parse_elf(&elf));
        assert!(parse_elf(&elf).unwrap().segments[0].is_some());
    }

    #[test]
    fn parse_elf_with_a_segment_that_wraps_the_address_space_is_an_error() {
        let elf = elf_with(&[(PT_LOAD, 5, u64::MAX - 0xfff, 0x2000)]);
        assert_eq!(
            parse_elf(&elf),
            Err("segment wraps around the address space")
        );
    }

    #[test]
    fn parse_elf_of_a_32_bit_or_big_endian_file_is_an_error() {
        let mut elf = elf_with(&[(PT_LOAD, 5, 0, 0x1000)]);
        elf[4] = 1;
        assert_eq!(parse_elf(&elf), Err("not an ELF64 file"));
        elf[4] = 2;
        elf[5] = 2;
        assert_eq!(parse_elf(&elf), Err("not a little-endian ELF file"));
    }
}
