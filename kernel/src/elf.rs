//! The kernel's own ELF file, read for the layout of its segments: which
//! ranges are code, read-only data and writable data, and which writable
//! range becomes read-only after relocation (`PT_GNU_RELRO`).
//!
//! `paging` maps the kernel image with per-segment permissions from this
//! (the bootloader leaves the ELF in memory). The file comes from outside
//! the kernel, so it is read as untrusted bytes: a malformed file is an
//! `Err`, never a panic (`docs/guarantees.md`, "Readers of outside
//! bytes"). The reading itself is the `object` crate's (gimli-rs, the
//! reader behind Rust's own backtraces), through its low-level
//! `object::read::elf` API: it checks every offset, count and entry size
//! against the file before it hands out a slice, it is built not to
//! panic on malformed input, and it is fuzzed upstream (a well-kept
//! reader rather than a hand-written one, which this file held before).
//! `kernel/tests/fuzz.rs` feeds `parse_elf` mutants of a real ELF file too.
//!
//! ```text
//!   ELF64 header (64 bytes)     e_phoff --> program headers, e_phnum x 56 bytes
//!                               e_shoff --> section headers, e_shnum x 64 bytes
//!   every field little-endian; `object` refuses a table whose entry
//!   size is not the ELF64 one (as Linux's loader does)
//! ```

use object::LittleEndian as LE;
use object::elf::{FileHeader64, PF_W, PF_X, PT_GNU_RELRO, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};

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

/// The header of an ELF64 little-endian file (x86_64's kind), checked by
/// `object`: the magic, the class, the byte order, the version. Any
/// address will do: `object` declares every field as bytes (alignment
/// 1), so a file need not be 8-aligned in memory.
pub(crate) fn header(elf: &[u8]) -> Result<&FileHeader64<LE>, &'static str> {
    let header = FileHeader64::<LE>::parse(elf).map_err(|_| "not an ELF64 file")?;
    header
        .endian()
        .map_err(|_| "not a little-endian ELF file")?;
    Ok(header)
}

/// Reads the `PT_LOAD` (non-empty) and `PT_GNU_RELRO` program headers of an
/// ELF64 file.
pub fn parse_elf(elf: &[u8]) -> Result<ElfLayout, &'static str> {
    let programs = header(elf)?
        .program_headers(LE, elf)
        .map_err(|_| "bad program header table (entry size, count or offset)")?;
    let mut layout = ElfLayout::default();
    let mut count = 0;
    for ph in programs {
        let (vaddr, mem_size, flags) = (ph.p_vaddr(LE), ph.p_memsz(LE), ph.p_flags(LE));
        let wraps = vaddr.checked_add(mem_size).is_none();
        match ph.p_type(LE) {
            PT_LOAD | PT_GNU_RELRO if wraps => {
                return Err("segment wraps around the address space");
            }
            PT_LOAD if mem_size > 0 => {
                let slot = layout
                    .segments
                    .get_mut(count)
                    .ok_or("too many PT_LOAD segments")?;
                *slot = Some(Segment {
                    vaddr,
                    mem_size,
                    writable: flags.contains(PF_W),
                    executable: flags.contains(PF_X),
                });
                count += 1;
            }
            PT_GNU_RELRO => layout.relro = Some((vaddr, mem_size)),
            _ => {}
        }
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    use object::elf::{PT_PHDR, ProgramType};

    /// An ELF64 header followed by `headers` (type, flags, vaddr, memsz).
    fn elf_with(headers: &[(ProgramType, u32, u64, u64)]) -> Vec<u8> {
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
            ph[0..4].copy_from_slice(&kind.0.to_le_bytes());
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
            (PT_PHDR, 4, 0x40, 0x100),    // ignored
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

    /// What `parse_elf` says of a program header table it refuses.
    const BAD_PROGRAMS: Result<ElfLayout, &str> =
        Err("bad program header table (entry size, count or offset)");

    #[test]
    fn parse_elf_rejects_bad_input() {
        assert_eq!(parse_elf(b"MZ"), Err("not an ELF64 file"));
        assert_eq!(parse_elf(b"\x7fELF\x01"), Err("not an ELF64 file"));
        let mut truncated = elf_with(&[(PT_LOAD, 5, 0, 0x1000)]);
        truncated.truncate(0x50);
        assert_eq!(parse_elf(&truncated), BAD_PROGRAMS);
    }

    /// `elf` with the 16-bit header field at `at` set to `v`.
    fn with_u16(mut elf: Vec<u8>, at: usize, v: u16) -> Vec<u8> {
        elf[at..at + 2].copy_from_slice(&v.to_le_bytes());
        elf
    }

    #[test]
    fn parse_elf_with_program_header_entry_size_1_is_an_error() {
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x36, 1);
        assert_eq!(parse_elf(&elf), BAD_PROGRAMS);
    }

    #[test]
    fn parse_elf_with_program_header_entry_size_0_is_an_error() {
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x36, 0);
        assert_eq!(parse_elf(&elf), BAD_PROGRAMS);
    }

    #[test]
    fn parse_elf_with_a_program_header_table_past_the_end_of_the_file_is_an_error() {
        let mut elf = elf_with(&[(PT_LOAD, 5, 0, 0x1000)]);
        elf[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(parse_elf(&elf), BAD_PROGRAMS);
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x38, 0xfffe);
        assert_eq!(parse_elf(&elf), BAD_PROGRAMS);
        // 0xffff says "the count is in section header 0": there is none.
        let elf = with_u16(elf_with(&[(PT_LOAD, 5, 0, 0x1000)]), 0x38, 0xffff);
        assert_eq!(parse_elf(&elf), BAD_PROGRAMS);
    }

    #[test]
    fn parse_elf_with_program_header_entries_larger_than_elf64s_is_an_error() {
        // Two headers of 0x40 bytes each: 0x38 of ELF64 header, 8 spare.
        // The ELF64 entry is 0x38 bytes; like Linux's loader, `object`
        // refuses any other size rather than guess at the layout.
        let mut elf = elf_with(&[]);
        for (kind, vaddr) in [(PT_LOAD, 0x1000u64), (PT_LOAD, 0x3000)] {
            let mut ph = [0u8; 0x40];
            ph[0..4].copy_from_slice(&kind.0.to_le_bytes());
            ph[4..8].copy_from_slice(&4u32.to_le_bytes());
            ph[0x10..0x18].copy_from_slice(&vaddr.to_le_bytes());
            ph[0x28..0x30].copy_from_slice(&0x1000u64.to_le_bytes());
            ph[0x38..0x40].fill(0xee);
            elf.extend_from_slice(&ph);
        }
        let elf = with_u16(with_u16(elf, 0x36, 0x40), 0x38, 2);
        assert_eq!(parse_elf(&elf), BAD_PROGRAMS);
    }

    #[test]
    fn parse_elf_of_a_file_at_an_odd_address_reads_the_same_layout() {
        // The bytes at eight consecutive addresses, seven of which are
        // not 8-aligned (xmas-elf once asserted alignment and panicked
        // here).
        let elf = elf_with(&[(PT_LOAD, 5, 0x2000, 0x3000)]);
        let mut expected = ElfLayout::default();
        expected.segments[0] = Some(Segment {
            vaddr: 0x2000,
            mem_size: 0x3000,
            writable: false,
            executable: true,
        });
        let mut buf = std::vec![0u8; elf.len() + 8];
        for shift in 0..8 {
            buf[shift..shift + elf.len()].copy_from_slice(&elf);
            let at = &buf[shift..shift + elf.len()];
            assert_eq!(parse_elf(at), Ok(expected), "shifted by {shift}");
        }
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
