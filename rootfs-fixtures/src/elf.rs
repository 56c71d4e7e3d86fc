//! Just enough ELF reading to tell a static executable from a dynamic one:
//! a dynamic one has a `PT_INTERP` program header naming its loader, which a
//! busybox-only rootfs does not contain.

const PT_INTERP: u32 = 3;
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;

/// True if `image` is a 64-bit little-endian ELF file without a program
/// interpreter. Anything malformed or of another class answers false.
pub(crate) fn is_static_elf64(image: &[u8]) -> bool {
    if image.get(..4) != Some(b"\x7fELF")
        || image.get(4) != Some(&ELFCLASS64)
        || image.get(5) != Some(&ELFDATA2LSB)
    {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (
        read_u64(image, 0x20),
        read_u16(image, 0x36),
        read_u16(image, 0x38),
    ) else {
        return false;
    };
    (0..u64::from(phnum)).all(|i| {
        let Some(off) = i
            .checked_mul(u64::from(phentsize))
            .and_then(|o| o.checked_add(phoff))
            .and_then(|o| usize::try_from(o).ok())
        else {
            return false;
        };
        matches!(read_u32(image, off), Some(t) if t != PT_INTERP)
    })
}

fn read_u16(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(off..off.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn read_u32(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(off..off.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with `types.len()` program headers of the given types.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = ELFCLASS64;
        b[5] = ELFDATA2LSB;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for t in types {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            b.extend(ph);
        }
        b
    }

    #[test]
    fn static_without_interp() {
        assert!(is_static_elf64(&elf(&[1, 1, 4])));
    }

    #[test]
    fn dynamic_with_interp() {
        assert!(!is_static_elf64(&elf(&[6, PT_INTERP, 1])));
    }

    #[test]
    fn truncated_or_foreign_is_not_static() {
        let mut b = elf(&[1, 1]);
        b.truncate(64 + 56 + 2);
        assert!(!is_static_elf64(&b));
        assert!(!is_static_elf64(b"#!/bin/sh\n"));
        assert!(!is_static_elf64(&[]));
    }
}
