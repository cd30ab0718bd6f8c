//! The kernel's own ELF file, read for the layout of its segments: which
//! ranges are code, read-only data and writable data, and which writable
//! range becomes read-only after relocation (`PT_GNU_RELRO`).
//!
//! `paging` maps the kernel image with per-segment permissions from this
//! (the bootloader leaves the ELF in memory). The program headers are read
//! with `xmas-elf`, the crate the bootloader itself reads this very file
//! with, rather than by hand: a well-kept parser that checks the header and
//! every table it walks.

use xmas_elf::ElfFile;
use xmas_elf::header::Class;
use xmas_elf::program::Type;

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

/// Reads the `PT_LOAD` (non-empty) and `PT_GNU_RELRO` program headers of an
/// ELF64 file.
pub fn parse_elf(elf: &[u8]) -> Result<ElfLayout, &'static str> {
    let file = ElfFile::new(elf)?;
    if file.header.pt1.class() != Class::SixtyFour {
        return Err("not an ELF64 file");
    }
    // xmas-elf trusts the program header table to lie inside the file (it
    // slices, and panics, when it does not): check that first.
    let ph = &file.header.pt2;
    let table_end = (ph.ph_count() as u64)
        .checked_mul(ph.ph_entry_size() as u64)
        .and_then(|size| size.checked_add(ph.ph_offset()));
    if table_end.is_none_or(|end| end > elf.len() as u64) {
        return Err("truncated program header table");
    }
    let mut layout = ElfLayout::default();
    let mut count = 0;
    for ph in file.program_iter() {
        match ph.get_type()? {
            Type::Load if ph.mem_size() > 0 => {
                let slot = layout
                    .segments
                    .get_mut(count)
                    .ok_or("too many PT_LOAD segments")?;
                *slot = Some(Segment {
                    vaddr: ph.virtual_addr(),
                    mem_size: ph.mem_size(),
                    writable: ph.flags().is_write(),
                    executable: ph.flags().is_execute(),
                });
                count += 1;
            }
            Type::GnuRelro => layout.relro = Some((ph.virtual_addr(), ph.mem_size())),
            _ => {}
        }
    }
    Ok(layout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const PT_LOAD: u32 = 1;
    const PT_GNU_RELRO: u32 = 0x6474_e552;

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
}
