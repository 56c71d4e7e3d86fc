//! Unit tests: compiled programs are run through a BPF interpreter and
//! their `SECCOMP_RET_*` answers checked; `install` runs in forked children.

mod big;
mod errors;
mod install;
mod interp;

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{Value, json};

use super::profile::{
    FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_TSYNC, FLAG_TSYNC_ESRCH, RET_ALLOW,
    RET_ENOSYS, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRACE, RET_TRAP,
    RET_USER_NOTIF,
};
use super::table::{Abi, X32_SYSCALL_BIT};
use super::{Filter, compile_for};
use interp::Call;

/// Parses a `linux.seccomp` object.
fn spec(profile: Value) -> LinuxSeccomp {
    serde_json::from_value(profile).expect("profile parses")
}

/// Compiles for an x86_64 host and checks the program is loadable.
fn filter(profile: Value) -> Filter {
    filter_on(Abi::X86_64, profile)
}

/// Compiles for the given host ABI and checks the program is loadable.
fn filter_on(native: Abi, profile: Value) -> Filter {
    let f = compile_for(&spec(profile), native).expect("profile compiles");
    interp::validate(f.program());
    f
}

/// Return value for `name` on `abi` with `args`.
fn ret(f: &Filter, abi: Abi, name: &str, args: &[u64]) -> u32 {
    let nr = abi
        .resolve(name)
        .unwrap_or_else(|| panic!("{name} on {abi:?}"));
    let mut call = Call::new(abi, nr);
    for (i, a) in args.iter().enumerate() {
        call = call.arg(i, *a);
    }
    interp::run(f.program(), call)
}

/// Return value for a raw number on `abi`.
fn ret_nr(f: &Filter, abi: Abi, nr: u32) -> u32 {
    interp::run(f.program(), Call::new(abi, nr))
}

const X64: Abi = Abi::X86_64;

#[test]
fn default_action_and_errno() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(
        ret(&f, X64, "read", &[]),
        RET_ERRNO | 1,
        "ERRNO defaults to EPERM"
    );
    let f = filter(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}));
    assert_eq!(ret(&f, X64, "read", &[]), RET_ERRNO | 38);
    let f = filter(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS"}));
    assert_eq!(ret(&f, X64, "getpid", &[]), RET_KILL_PROCESS);
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(ret(&f, X64, "getpid", &[]), RET_ALLOW);
}

#[test]
fn every_action() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_KILL"},
            {"names": ["write"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["open"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["close"], "action": "SCMP_ACT_TRAP"},
            {"names": ["stat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["fstat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["lstat"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["poll"], "action": "SCMP_ACT_TRACE"},
            {"names": ["lseek"], "action": "SCMP_ACT_LOG"},
            {"names": ["mmap"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["brk"], "action": "SCMP_ACT_TRAP", "errnoRet": 99}
        ]
    }));
    let expect = [
        ("read", RET_KILL_THREAD),
        ("write", RET_KILL_THREAD),
        ("open", RET_KILL_PROCESS),
        ("close", RET_TRAP),
        ("stat", RET_ERRNO | 13),
        ("fstat", RET_ERRNO | 1),
        ("lstat", RET_TRACE | 7),
        ("poll", RET_TRACE | 1),
        ("lseek", RET_LOG),
        ("mmap", RET_USER_NOTIF),
        ("brk", RET_TRAP),
        ("getpid", RET_ALLOW),
    ];
    for (name, value) in expect {
        assert_eq!(ret(&f, X64, name, &[]), value, "{name}");
    }
    assert!(f.needs_listener());
    assert_eq!(f.flags() & FLAG_NEW_LISTENER, FLAG_NEW_LISTENER);
}

#[test]
fn rule_with_default_action_is_skipped() {
    // An unconditional ERRNO(EPERM) rule equal to the default must not
    // shadow the conditional ALLOW rule (runc drops it before libseccomp).
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    assert_eq!(ret(&f, X64, "personality", &[8]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "personality", &[9]), RET_ERRNO | 1);
}

#[test]
fn unknown_names_are_skipped() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["no_such_syscall", "getpid"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(ret(&f, X64, "getpid", &[]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "getppid", &[]), RET_ERRNO | 1);
}

/// Values around `v` that differ in the high half, the low half, or both.
fn probes(v: u64) -> Vec<u64> {
    let mut p = vec![0, 1, u64::MAX, u64::from(u32::MAX), 1 << 32, v];
    p.extend([v.wrapping_sub(1), v.wrapping_add(1), v ^ (1 << 32), v ^ 1]);
    p.extend([v & 0xffff_ffff, v | 0xffff_ffff, v ^ (1 << 63)]);
    p
}

#[test]
fn arg_comparisons_64_bit() {
    type Holds = fn(u64, u64) -> bool;
    let ops: [(&str, Holds); 6] = [
        ("SCMP_CMP_EQ", |a, v| a == v),
        ("SCMP_CMP_NE", |a, v| a != v),
        ("SCMP_CMP_LT", |a, v| a < v),
        ("SCMP_CMP_LE", |a, v| a <= v),
        ("SCMP_CMP_GE", |a, v| a >= v),
        ("SCMP_CMP_GT", |a, v| a > v),
    ];
    for v in [
        5u64,
        0x1_0000_0005,
        0xffff_ffff_0000_0000,
        0x8000_0000_ffff_fffe,
        0,
        u64::MAX,
    ] {
        for (op, holds) in ops {
            let f = filter(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                              "args": [{"index": 3, "value": v, "op": op}]}]
            }));
            for a in probes(v) {
                let want = if holds(a, v) {
                    RET_ERRNO | 22
                } else {
                    RET_ALLOW
                };
                let args = [0, 0, 0, a];
                assert_eq!(ret(&f, X64, "ioctl", &args), want, "{a:#x} {op} {v:#x}");
            }
        }
    }
}

#[test]
fn masked_eq_64_bit() {
    // `value` is the mask, `valueTwo` the datum (libseccomp's order).
    for (mask, datum) in [
        (0x7e02_0000u64, 0u64),
        (0xff00_0000_0000_00ff, 0x1200_0000_0000_0034),
        (0xffff_0000_0000, 0x1_0000_0000),
        (0xff, 0x100), // datum outside the mask never matches
        (0, 0),        // always matches
    ] {
        let f = filter(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 0, "value": mask, "valueTwo": datum,
                                    "op": "SCMP_CMP_MASKED_EQ"}]}]
        }));
        for a in probes(datum).into_iter().chain(probes(mask)) {
            let want = if a & mask == datum {
                RET_ALLOW
            } else {
                RET_ERRNO | 1
            };
            assert_eq!(
                ret(&f, X64, "clone", &[a]),
                want,
                "{a:#x} & {mask:#x} == {datum:#x}"
            );
        }
    }
}

#[test]
fn arg_comparisons_32_bit_abis_use_the_low_half() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 1, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_EQ"}]}]
    }));
    for abi in [Abi::I386, Abi::X32] {
        assert_eq!(ret(&f, abi, "ioctl", &[0, 5]), RET_ERRNO | 1, "{abi:?}");
        assert_eq!(ret(&f, abi, "ioctl", &[0, 6]), RET_ALLOW, "{abi:?}");
    }
    assert_eq!(ret(&f, X64, "ioctl", &[0, 5]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "ioctl", &[0, 0x1_0000_0005]), RET_ERRNO | 1);
}

#[test]
fn distinct_indices_and_shared_index_or() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                {"index": 1, "value": 3, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    let deny = RET_ERRNO | 1;
    assert_eq!(ret(&f, X64, "socket", &[2, 1]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "socket", &[2, 2]), deny);
    assert_eq!(ret(&f, X64, "socket", &[10, 1]), deny);
    // Any one condition suffices once an index repeats (runc).
    assert_eq!(ret(&f, X64, "personality", &[0, 9]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "personality", &[8, 9]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "personality", &[7, 3]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "personality", &[7, 9]), deny);
}

#[test]
fn unconditional_rule_wins() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 3,
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5},
            {"names": ["tkill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6,
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
            {"names": ["tkill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7,
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_GE"}]}
        ]
    }));
    assert_eq!(ret(&f, X64, "kill", &[1, 9]), RET_ERRNO | 4);
    assert_eq!(ret(&f, X64, "kill", &[1, 1]), RET_ERRNO | 4);
    assert_eq!(ret(&f, X64, "tkill", &[1, 9]), RET_ERRNO | 6);
    assert_eq!(ret(&f, X64, "tkill", &[1, 10]), RET_ERRNO | 7);
    assert_eq!(ret(&f, X64, "tkill", &[1, 8]), RET_ALLOW);
}

#[test]
fn architectures_outside_the_filter_are_killed() {
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW",
                          "architectures": ["SCMP_ARCH_RISCV64"]}));
    assert_eq!(
        ret(&f, X64, "getpid", &[]),
        RET_ALLOW,
        "native is always in"
    );
    assert_eq!(ret(&f, Abi::I386, "getpid", &[]), RET_KILL_THREAD);
    assert_eq!(ret(&f, Abi::Aarch64, "getpid", &[]), RET_KILL_THREAD);
    let riscv = Call {
        arch: 0xc000_00f3,
        nr: 172,
        args: [0; 6],
    };
    assert_eq!(interp::run(f.program(), riscv), RET_KILL_THREAD);
    // x32 numbers on an x86_64 filter without x32: bad arch, like libseccomp.
    assert_eq!(ret_nr(&f, X64, X32_SYSCALL_BIT | 39), RET_KILL_THREAD);
    assert_eq!(ret_nr(&f, X64, u32::MAX), RET_KILL_THREAD);
}

#[test]
fn x32_is_filtered_with_its_own_numbers() {
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getpid", "rt_sigaction"], "action": "SCMP_ACT_ALLOW"}]
    }));
    assert_eq!(ret(&f, Abi::X32, "getpid", &[]), RET_ALLOW);
    assert_eq!(
        ret_nr(&f, X64, X32_SYSCALL_BIT | 512),
        RET_ALLOW,
        "x32 rt_sigaction"
    );
    // The x86_64 number of rt_sigaction with the x32 bit is not x32's.
    assert_eq!(ret_nr(&f, X64, X32_SYSCALL_BIT | 13), RET_ERRNO | 1);
    assert_eq!(ret_nr(&f, X64, 13), RET_ALLOW);
    assert_eq!(
        ret_nr(&f, X64, 512),
        RET_ENOSYS,
        "above x86_64's highest listed"
    );
    assert_eq!(ret(&f, Abi::I386, "getpid", &[]), RET_KILL_THREAD);
}

#[test]
fn enosys_above_the_highest_listed_call() {
    let profile = |arches: Value, default: &str| {
        json!({
            "defaultAction": default,
            "architectures": arches,
            "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                // Same action as the default: skipped, but still counts.
                {"names": ["openat2"], "action": default}
            ]
        })
    };
    let f = filter(profile(
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
        "SCMP_ACT_ERRNO",
    ));
    let openat2 = X64.resolve("openat2").expect("openat2");
    assert_eq!(ret_nr(&f, X64, openat2), RET_ERRNO | 1);
    assert_eq!(ret_nr(&f, X64, openat2 + 1), RET_ENOSYS);
    assert_eq!(ret_nr(&f, X64, 0x3fff_ffff), RET_ENOSYS);
    assert_eq!(ret_nr(&f, Abi::I386, openat2 + 1), RET_ENOSYS);
    assert_eq!(ret_nr(&f, Abi::I386, 1), RET_ERRNO | 1);
    assert_eq!(ret(&f, X64, "getpid", &[]), RET_ALLOW);
    // runc only patches architectures the profile lists.
    let f = filter(profile(json!([]), "SCMP_ACT_ERRNO"));
    assert_eq!(ret_nr(&f, X64, openat2 + 1), RET_ERRNO | 1);
    // Nor when the default lets calls through.
    let f = filter(profile(json!(["SCMP_ARCH_X86_64"]), "SCMP_ACT_LOG"));
    assert_eq!(ret_nr(&f, X64, openat2 + 1), RET_LOG);
    let f = filter(profile(
        json!(["SCMP_ARCH_X86_64"]),
        "SCMP_ACT_KILL_PROCESS",
    ));
    assert_eq!(ret_nr(&f, X64, openat2 + 1), RET_ENOSYS);
}

#[test]
fn aarch64_host_with_arm_compat() {
    let f = filter_on(
        Abi::Aarch64,
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
            "syscalls": [
                {"names": ["mkdirat", "newfstatat", "cacheflush", "getpid"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_GE"}]}
            ]
        }),
    );
    let (a64, arm) = (Abi::Aarch64, Abi::Arm);
    assert_eq!(ret(&f, a64, "mkdirat", &[]), RET_ALLOW);
    assert_eq!(ret_nr(&f, a64, 79), RET_ALLOW, "newfstatat");
    assert_eq!(ret(&f, arm, "getpid", &[]), RET_ALLOW);
    assert_eq!(ret_nr(&f, arm, 0xf0002), RET_ALLOW, "cacheflush");
    assert_eq!(
        ret_nr(&f, arm, 0xf0003),
        RET_ENOSYS,
        "usr26 is above the highest"
    );
    assert_eq!(ret(&f, a64, "ioctl", &[0, 0x1_0000_0000]), RET_ALLOW);
    assert_eq!(ret(&f, a64, "ioctl", &[0, 0xffff_ffff]), RET_ERRNO | 1);
    // A 32-bit ABI sees only the low half of the value: 0 >= 0.
    assert_eq!(ret(&f, arm, "ioctl", &[0, 0]), RET_ALLOW);
    assert_eq!(ret(&f, X64, "getpid", &[]), RET_KILL_THREAD);
}

#[test]
fn flags() {
    let base = |flags: Option<Value>| {
        let mut p = json!({"defaultAction": "SCMP_ACT_ALLOW",
                           "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]});
        if let Some(flags) = flags {
            p["flags"] = flags;
        }
        p
    };
    let f = filter(base(None));
    assert_eq!(
        f.flags(),
        FLAG_SPEC_ALLOW,
        "runc's default when flags is absent"
    );
    assert!(!f.needs_listener());
    assert_eq!(filter(base(Some(json!([])))).flags(), 0);
    let f = filter(base(Some(json!([
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_LOG"
    ]))));
    assert_eq!(f.flags(), FLAG_TSYNC | FLAG_LOG);
    let f = filter(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "pod=a",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    let want = FLAG_TSYNC | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH | (1 << 5);
    assert_eq!(f.flags(), want);
    assert_eq!(
        f.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(f.listener_metadata(), Some("pod=a"));
}
