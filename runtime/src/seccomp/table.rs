//! Syscall name -> number, per ABI, with libseccomp's names.
//!
//! The `syscalls` crate carries the kernel's tables; it names a few entries
//! differently from libseccomp (which is what profiles are written
//! against), and has no x32 table, so this module patches those up:
//! - x32 is the x86_64 table with `__X32_SYSCALL_BIT` set, minus the
//!   "64"-only entries, with the 36 entries whose x32 version lives at
//!   512..=547 (checked against the kernel's `asm/unistd_x32.h`).
//! - aarch64 calls 79 `newfstatat` and has no `*_time64` calls (403..=423
//!   exist only on 32-bit ABIs).
//! - i386 has `break`; arm has its private `__ARM_NR_*` calls and
//!   `sync_file_range2`.
//!
//! Numbers from 424 up are the same on every ABI here, so a newer kernel's
//! calls appear for all of them at once when the crate is updated.

use std::str::FromStr;

/// Bit the kernel sets in x32 syscall numbers.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// A syscall numbering the filter can be compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Abi {
    /// x86_64, 64-bit.
    X86_64,
    /// x32: x86_64 registers, 32-bit pointers, numbers with bit 30 set.
    X32,
    /// i386 (also the compat ABI on x86_64 hosts).
    I386,
    /// aarch64, 64-bit.
    Aarch64,
    /// 32-bit arm EABI (also the compat ABI on aarch64 hosts).
    Arm,
}

impl Abi {
    /// Whether syscall arguments are 64 bits wide. On the others libseccomp
    /// compares only the low 32 bits, and so do we.
    pub(super) fn args64(self) -> bool {
        matches!(self, Abi::X86_64 | Abi::Aarch64)
    }

    /// The syscall number of `name` on this ABI, if it has one.
    pub(super) fn resolve(self, name: &str) -> Option<u32> {
        match self {
            Abi::X86_64 => x86_64(name),
            Abi::X32 => x32(name),
            Abi::I386 => i386(name),
            Abi::Aarch64 => aarch64(name),
            Abi::Arm => arm(name),
        }
    }
}

fn id(nr: i32) -> Option<u32> {
    u32::try_from(nr).ok()
}

fn x86_64(name: &str) -> Option<u32> {
    syscalls::x86_64::Sysno::from_str(name)
        .ok()
        .and_then(|s| id(s.id()))
}

/// x86_64 entries marked "64" in the kernel table: no x32 entry point.
const X86_64_ONLY: &[&str] = &[
    "_sysctl",
    "create_module",
    "epoll_ctl_old",
    "epoll_wait_old",
    "get_kernel_syms",
    "get_thread_area",
    "map_shadow_stack",
    "nfsservctl",
    "query_module",
    "set_thread_area",
    "uprobe",
    "uretprobe",
    "uselib",
    "vserver",
];

/// Calls whose x32 entry point is a compat one at 512 + index.
const X32_COMPAT: &[&str] = &[
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];

fn x32(name: &str) -> Option<u32> {
    if X86_64_ONLY.contains(&name) {
        return None;
    }
    let nr = match X32_COMPAT.iter().position(|n| *n == name) {
        Some(i) => 512 + u32::try_from(i).ok()?,
        None => x86_64(name)?,
    };
    Some(nr | X32_SYSCALL_BIT)
}

fn i386(name: &str) -> Option<u32> {
    match name {
        "break" => Some(17),
        _ => syscalls::x86::Sysno::from_str(name)
            .ok()
            .and_then(|s| id(s.id())),
    }
}

fn aarch64(name: &str) -> Option<u32> {
    match name {
        "newfstatat" => Some(79),
        "fstatat" => None,
        _ => syscalls::aarch64::Sysno::from_str(name)
            .ok()
            .and_then(|s| id(s.id()))
            .filter(|nr| !(403..=423).contains(nr)),
    }
}

/// `__ARM_NR_BASE`: arm's private calls live above the normal table.
const ARM_PRIVATE_BASE: u32 = 0x000f_0000;

fn arm(name: &str) -> Option<u32> {
    match name {
        "breakpoint" => Some(ARM_PRIVATE_BASE + 1),
        "cacheflush" => Some(ARM_PRIVATE_BASE + 2),
        "usr26" => Some(ARM_PRIVATE_BASE + 3),
        "usr32" => Some(ARM_PRIVATE_BASE + 4),
        "set_tls" => Some(ARM_PRIVATE_BASE + 5),
        "get_tls" => Some(ARM_PRIVATE_BASE + 6),
        "sync_file_range2" => Some(341),
        _ => syscalls::arm::Sysno::from_str(name)
            .ok()
            .and_then(|s| id(s.id())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_numbers() {
        assert_eq!(Abi::X86_64.resolve("read"), Some(0));
        assert_eq!(Abi::X86_64.resolve("mkdir"), Some(83));
        assert_eq!(Abi::X86_64.resolve("getpid"), Some(39));
        assert_eq!(Abi::X86_64.resolve("clone3"), Some(435));
        assert_eq!(Abi::I386.resolve("mkdir"), Some(39));
        assert_eq!(Abi::I386.resolve("socketcall"), Some(102));
        assert_eq!(Abi::I386.resolve("break"), Some(17));
        assert_eq!(Abi::Aarch64.resolve("mkdirat"), Some(34));
        assert_eq!(Abi::Aarch64.resolve("mkdir"), None);
        assert_eq!(Abi::Aarch64.resolve("newfstatat"), Some(79));
        assert_eq!(Abi::Aarch64.resolve("clock_gettime64"), None);
        assert_eq!(Abi::Arm.resolve("clock_gettime64"), Some(403));
        assert_eq!(Abi::Arm.resolve("cacheflush"), Some(0xf0002));
        assert_eq!(Abi::Arm.resolve("sync_file_range2"), Some(341));
        assert_eq!(Abi::X86_64.resolve("no_such_call"), None);
    }

    #[test]
    fn x32_numbers() {
        assert_eq!(Abi::X32.resolve("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Abi::X32.resolve("getpid"), Some(X32_SYSCALL_BIT | 39));
        assert_eq!(
            Abi::X32.resolve("rt_sigaction"),
            Some(X32_SYSCALL_BIT | 512)
        );
        assert_eq!(Abi::X32.resolve("pwritev2"), Some(X32_SYSCALL_BIT | 547));
        assert_eq!(Abi::X32.resolve("ioctl"), Some(X32_SYSCALL_BIT | 514));
        assert_eq!(Abi::X32.resolve("uselib"), None);
        assert_eq!(Abi::X32.resolve("clone3"), Some(X32_SYSCALL_BIT | 435));
        // Every name in the override lists must exist on x86_64, or the list
        // has a typo.
        for name in X86_64_ONLY.iter().chain(X32_COMPAT) {
            assert!(x86_64(name).is_some(), "{name} is not an x86_64 syscall");
        }
    }
}
