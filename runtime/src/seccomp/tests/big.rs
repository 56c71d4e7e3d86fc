//! Docker-sized profiles: every syscall number checked against a direct
//! reading of the profile, and jumps long enough to need trampolines.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::interp::{self, Call};
use super::{RET_ALLOW, RET_ENOSYS, RET_ERRNO, filter};
use crate::seccomp::table::{Abi, X32_SYSCALL_BIT};

/// Calls docker's default profile leaves out or restricts.
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapon",
    "swapoff",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "mkdir",
    "mkdirat",
    // conditional or special below
    "personality",
    "clone",
    "clone3",
    "socket",
];

const ABIS: [Abi; 3] = [Abi::X86_64, Abi::X32, Abi::I386];

/// Every name any of our tables knows, sorted.
fn all_names() -> Vec<String> {
    let mut names: Vec<String> = syscalls::x86_64::Sysno::iter()
        .map(|s| s.name().to_owned())
        .chain(syscalls::x86::Sysno::iter().map(|s| s.name().to_owned()))
        .chain(syscalls::aarch64::Sysno::iter().map(|s| s.name().to_owned()))
        .chain(syscalls::arm::Sysno::iter().map(|s| s.name().to_owned()))
        .chain(["newfstatat", "breakpoint", "cacheflush", "set_tls"].map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The docker-like profile, and the names it allows unconditionally.
pub(super) fn docker_like() -> (Value, Vec<String>) {
    let allowed: Vec<String> = all_names()
        .into_iter()
        .filter(|n| !DENIED.contains(&n.as_str()))
        .collect();
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0xffff_ffffu64, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0x7e02_0000u64, "valueTwo": 0,
                       "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    });
    (profile, allowed)
}

/// Numbers to probe on `abi`: the whole table and a margin above it.
fn numbers(abi: Abi) -> impl Iterator<Item = u32> {
    let base = if abi == Abi::X32 { X32_SYSCALL_BIT } else { 0 };
    (0..700)
        .map(move |n| base | n)
        .chain([base | 0x3fff_fff0, base | 0x3fff_ffff])
}

#[test]
fn docker_sized_profile_matches_its_reading() {
    let (profile, allowed) = docker_like();
    let f = filter(profile);
    assert!(f.len() < 2000, "{} instructions", f.len());
    let special = ["personality", "clone", "socket", "clone3"];
    for abi in ABIS {
        let mut expect: BTreeMap<u32, u32> = BTreeMap::new();
        for name in &allowed {
            if let Some(nr) = abi.resolve(name) {
                expect.entry(nr).or_insert(RET_ALLOW);
            }
        }
        let listed = allowed.iter().map(String::as_str).chain(special);
        let highest = listed
            .filter_map(|n| abi.resolve(n))
            .max()
            .expect("some calls");
        let special_nrs: Vec<u32> = special.iter().filter_map(|n| abi.resolve(n)).collect();
        for nr in numbers(abi).filter(|nr| !special_nrs.contains(nr)) {
            let want = match expect.get(&nr) {
                Some(v) => *v,
                None if nr > highest => RET_ENOSYS,
                None => RET_ERRNO | 1,
            };
            let got = interp::run(f.program(), Call::new(abi, nr));
            assert_eq!(got, want, "{abi:?} nr {nr:#x}");
        }
        let call = |name: &str, a0: u64| {
            let nr = abi.resolve(name).expect("known");
            interp::run(f.program(), Call::new(abi, nr).arg(0, a0))
        };
        assert_eq!(call("clone3", 0), RET_ERRNO | 38, "{abi:?}");
        assert_eq!(call("personality", 8), RET_ALLOW, "{abi:?}");
        assert_eq!(call("personality", 0xffff_ffff), RET_ALLOW, "{abi:?}");
        assert_eq!(call("personality", 9), RET_ERRNO | 1, "{abi:?}");
        assert_eq!(call("clone", 0x0001_0f00), RET_ALLOW, "{abi:?}");
        assert_eq!(
            call("clone", 0x1000_0000),
            RET_ERRNO | 1,
            "{abi:?} CLONE_NEWUSER"
        );
        assert_eq!(call("socket", 2), RET_ALLOW, "{abi:?}");
        assert_eq!(call("socket", 40), RET_ERRNO | 1, "{abi:?} AF_VSOCK");
    }
}

#[test]
fn long_jumps_through_trampolines() {
    // Neighbouring numbers all get different errnos: no interval merges,
    // so the search tree and the arch dispatch span more than 255
    // instructions.
    let names = all_names();
    let rules: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": i % 4000 + 2}))
        .collect();
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    }));
    let trampolines = f.program().iter().filter(|i| i.code == 0x05).count();
    assert!(
        trampolines > 0,
        "expected long jumps in {} instructions",
        f.len()
    );
    for abi in ABIS {
        let mut expect: BTreeMap<u32, u32> = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            if let Some(nr) = abi.resolve(name) {
                let errno = u32::try_from(i % 4000 + 2).expect("small");
                expect.entry(nr).or_insert(RET_ERRNO | errno);
            }
        }
        let highest = *expect.keys().last().expect("some calls");
        for nr in numbers(abi) {
            let want = match expect.get(&nr) {
                Some(v) => *v,
                None if nr > highest => RET_ENOSYS,
                None => RET_ERRNO | 1,
            };
            assert_eq!(
                interp::run(f.program(), Call::new(abi, nr)),
                want,
                "{abi:?} {nr:#x}"
            );
        }
    }
}
