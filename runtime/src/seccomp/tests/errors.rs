//! Malformed profiles: a clear error naming the field, never a panic.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{Value, json};

use super::spec;
use crate::seccomp::table::Abi;
use crate::seccomp::{SeccompError, compile_for};

fn error(profile: Value) -> SeccompError {
    compile_for(&spec(profile), Abi::X86_64).expect_err("profile must be refused")
}

#[test]
fn arg_index_out_of_range() {
    let e = error(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["ioctl"], "action": "SCMP_ACT_ALLOW", "args": [
                {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    assert!(
        matches!(
            e,
            SeccompError::ArgIndex {
                rule: 1,
                arg: 1,
                index: 6
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "linux.seccomp.syscalls[1].args[1].index: 6 is not a syscall argument (0 to 5)"
    );
}

#[test]
fn errno_too_large() {
    let e = error(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}));
    assert_eq!(
        e.to_string(),
        "linux.seccomp.defaultErrnoRet: 70000 does not fit in the 16-bit seccomp return data"
    );
    let e = error(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE", "errnoRet": 65536}]
    }));
    assert!(
        e.to_string()
            .starts_with("linux.seccomp.syscalls[0].errnoRet: 65536"),
        "{e}"
    );
}

#[test]
fn notify_misuse() {
    let e = error(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
    assert!(matches!(e, SeccompError::NotifyDefault), "{e:?}");
    let e = error(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    assert!(matches!(e, SeccompError::NotifyWrite { rule: 0 }), "{e:?}");
    let e = error(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert!(
        e.to_string()
            .contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
        "{e}"
    );
}

#[test]
fn empty_name() {
    let e = error(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(
        e.to_string(),
        "linux.seccomp.syscalls[0].names[1]: empty syscall name"
    );
}

/// Unknown enum strings are refused by oci-spec's deserializer, before
/// `compile` sees the profile; check that they are errors, not panics, and
/// that the message shows the offending value.
#[test]
fn unknown_strings_fail_to_parse() {
    let cases = [
        json!({"defaultAction": "SCMP_ACT_BOGUS"}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_BOGUS"]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_BOGUS"}]}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_BOGUS"}]}]}),
    ];
    for case in cases {
        let text = case.to_string();
        let e = serde_json::from_str::<LinuxSeccomp>(&text).expect_err("must not parse");
        assert!(e.to_string().contains("BOGUS"), "{e}");
    }
    for bad in [
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": -1, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}),
        json!({"syscalls": []}),
    ] {
        assert!(serde_json::from_value::<LinuxSeccomp>(bad).is_err());
    }
}

#[test]
fn program_over_the_kernel_limit() {
    let rules: Vec<Value> = (0..1000u64)
        .map(|i| {
            json!({"names": ["ioctl"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 1, "value": i << 32 | i, "op": "SCMP_CMP_EQ"}]})
        })
        .collect();
    let e = error(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules}));
    assert!(
        matches!(e, SeccompError::TooLong { max: 4096, .. }),
        "{e:?}"
    );
}
