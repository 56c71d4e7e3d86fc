//! libseccomp architecture names -> kernel `AUDIT_ARCH_*` values and ABIs.
//!
//! x86_64 and x32 share `AUDIT_ARCH_X86_64`; the kernel tells them apart by
//! `__X32_SYSCALL_BIT` in the syscall number. Architectures we have no
//! syscall table for can be named in a profile but not filtered.

use oci_spec::runtime::Arch;

use super::table::Abi;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub(super) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386`
pub(super) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `AUDIT_ARCH_AARCH64`
pub(super) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_ARM` (little endian)
pub(super) const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// What a profile's architecture entry means for the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// An ABI we can compile rules for.
    Abi(Abi),
    /// A real architecture without a syscall table here.
    Untabled {
        /// The libseccomp name.
        name: &'static str,
        /// Its `AUDIT_ARCH_*` value.
        audit: u32,
    },
}

/// The kernel's `AUDIT_ARCH_*` value of an ABI.
pub(super) fn audit_arch(abi: Abi) -> u32 {
    match abi {
        Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
        Abi::I386 => AUDIT_ARCH_I386,
        Abi::Aarch64 => AUDIT_ARCH_AARCH64,
        Abi::Arm => AUDIT_ARCH_ARM,
    }
}

/// Maps a profile architecture; `SCMP_ARCH_NATIVE` becomes `native`.
pub(super) fn target(arch: Arch, native: Abi) -> Target {
    let untabled = |name, audit| Target::Untabled { name, audit };
    match arch {
        Arch::ScmpArchNative => Target::Abi(native),
        Arch::ScmpArchX86 => Target::Abi(Abi::I386),
        Arch::ScmpArchX86_64 => Target::Abi(Abi::X86_64),
        Arch::ScmpArchX32 => Target::Abi(Abi::X32),
        Arch::ScmpArchArm => Target::Abi(Abi::Arm),
        Arch::ScmpArchAarch64 => Target::Abi(Abi::Aarch64),
        Arch::ScmpArchMips => untabled("SCMP_ARCH_MIPS", 0x0000_0008),
        Arch::ScmpArchMips64 => untabled("SCMP_ARCH_MIPS64", 0x8000_0008),
        Arch::ScmpArchMips64n32 => untabled("SCMP_ARCH_MIPS64N32", 0xa000_0008),
        Arch::ScmpArchMipsel => untabled("SCMP_ARCH_MIPSEL", 0x4000_0008),
        Arch::ScmpArchMipsel64 => untabled("SCMP_ARCH_MIPSEL64", 0xc000_0008),
        Arch::ScmpArchMipsel64n32 => untabled("SCMP_ARCH_MIPSEL64N32", 0xe000_0008),
        Arch::ScmpArchPpc => untabled("SCMP_ARCH_PPC", 0x0000_0014),
        Arch::ScmpArchPpc64 => untabled("SCMP_ARCH_PPC64", 0x8000_0015),
        Arch::ScmpArchPpc64le => untabled("SCMP_ARCH_PPC64LE", 0xc000_0015),
        Arch::ScmpArchS390 => untabled("SCMP_ARCH_S390", 0x0000_0016),
        Arch::ScmpArchS390x => untabled("SCMP_ARCH_S390X", 0x8000_0016),
        Arch::ScmpArchParisc => untabled("SCMP_ARCH_PARISC", 0x0000_000f),
        Arch::ScmpArchParisc64 => untabled("SCMP_ARCH_PARISC64", 0x8000_000f),
        Arch::ScmpArchRiscv64 => untabled("SCMP_ARCH_RISCV64", 0xc000_00f3),
        Arch::ScmpArchLoongarch64 => untabled("SCMP_ARCH_LOONGARCH64", 0xc000_0102),
        Arch::ScmpArchM68k => untabled("SCMP_ARCH_M68K", 0x0000_0004),
        Arch::ScmpArchSh => untabled("SCMP_ARCH_SH", 0x4000_002a),
        Arch::ScmpArchSheb => untabled("SCMP_ARCH_SHEB", 0x0000_002a),
    }
}

/// The ABI of the machine we are compiled for, if we have its table.
pub(super) fn native() -> Option<Abi> {
    if cfg!(target_arch = "x86_64") {
        Some(Abi::X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(Abi::Aarch64)
    } else if cfg!(target_arch = "x86") {
        Some(Abi::I386)
    } else if cfg!(all(target_arch = "arm", target_endian = "little")) {
        Some(Abi::Arm)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_values_match_the_kernel() {
        assert_eq!(audit_arch(Abi::X86_64), 0xc000_003e);
        assert_eq!(audit_arch(Abi::X32), 0xc000_003e);
        assert_eq!(audit_arch(Abi::I386), 0x4000_0003);
        assert_eq!(audit_arch(Abi::Aarch64), 0xc000_00b7);
        assert_eq!(audit_arch(Abi::Arm), 0x4000_0028);
        assert_eq!(
            target(Arch::ScmpArchNative, Abi::Aarch64),
            Target::Abi(Abi::Aarch64)
        );
        assert_eq!(
            target(Arch::ScmpArchRiscv64, Abi::X86_64),
            Target::Untabled {
                name: "SCMP_ARCH_RISCV64",
                audit: 0xc000_00f3
            }
        );
    }
}
