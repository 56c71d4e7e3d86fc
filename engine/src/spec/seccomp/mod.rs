//! The default seccomp policy: the same decisions as Docker's default
//! profile (moby `profiles/seccomp/default.json`, Apache-2.0), written
//! here as our own tables and turned into the OCI `linux.seccomp` object
//! with the profile's capability and architecture conditions already
//! evaluated for this host and the container's capability set.
//!
//! The policy: deny with EPERM by default; allow a fixed set of ordinary
//! syscalls; allow the namespace, mount, module, tracing, clock and
//! similar calls only when the container holds the capability that makes
//! them meaningful; `clone` without CAP_SYS_ADMIN only without namespace
//! flags; `clone3` answers ENOSYS without CAP_SYS_ADMIN so libcs fall back
//! to `clone`; `socket(AF_VSOCK)` is refused; `personality` only with the
//! harmless personas.

use std::collections::BTreeSet;

use serde_json::{Value, json};

mod tables;

use tables::{AF_VSOCK, ALWAYS, BY_ARCH, BY_CAP, CLONE_NS_FLAGS, PERSONAS};

/// This host's architecture in Go's names (the profile's vocabulary) and
/// the libseccomp architectures the filter covers.
fn host_arch() -> (&'static [&'static str], &'static [&'static str]) {
    match std::env::consts::ARCH {
        "x86_64" => (
            &["amd64", "x86", "x32"],
            &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        ),
        "aarch64" => (&["arm64", "arm"], &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        "x86" => (&["x86"], &["SCMP_ARCH_X86"]),
        "arm" => (&["arm"], &["SCMP_ARCH_ARM"]),
        "riscv64" => (&["riscv64"], &["SCMP_ARCH_RISCV64"]),
        "s390x" => (&["s390x", "s390"], &["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
        "powerpc64" => (&["ppc64le"], &["SCMP_ARCH_PPC64LE"]),
        _ => (&[], &[]),
    }
}

/// The default profile for a container whose bounding set is `caps`
/// (names with the `CAP_` prefix), as an OCI `linux.seccomp` object.
pub fn default_profile(caps: &BTreeSet<String>) -> Value {
    let (arches, scmp_arches) = host_arch();
    let on_arch = |list: &[&str]| list.iter().any(|a| arches.contains(a));
    let has = |c: &str| caps.contains(c);
    let s390 = on_arch(&["s390", "s390x"]);

    let mut allowed: BTreeSet<&str> = ALWAYS.iter().copied().collect();
    for (list, names) in BY_ARCH {
        if on_arch(list) {
            allowed.extend(names.iter().copied());
        }
    }
    for (cap, names) in BY_CAP {
        if has(cap) {
            allowed.extend(names.iter().copied());
        }
    }
    let mut rules = vec![json!({
        "names": allowed.into_iter().collect::<Vec<_>>(),
        "action": "SCMP_ACT_ALLOW",
    })];
    rules.push(json!({
        "names": ["socket"],
        "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}],
    }));
    for p in PERSONAS {
        rules.push(json!({
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}],
        }));
    }
    if !has("CAP_SYS_ADMIN") {
        // s390 passes clone's flags second.
        let index = if s390 { 1 } else { 0 };
        rules.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": index, "value": CLONE_NS_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
        }));
        rules.push(json!({
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::ENOSYS,
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": scmp_arches,
        "syscalls": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &Value) -> Vec<String> {
        v["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn caps_unlock_syscalls() {
        let none = default_profile(&BTreeSet::new());
        let n = names(&none);
        assert!(n.contains(&"read".to_string()));
        assert!(!n.contains(&"unshare".to_string()));
        assert!(!n.contains(&"mount".to_string()));
        // Conditional clone, ENOSYS clone3.
        let s = none["syscalls"].to_string();
        assert!(s.contains("SCMP_CMP_MASKED_EQ"), "{s}");
        assert!(s.contains(&format!("\"errnoRet\":{}", libc::ENOSYS)));

        let admin = default_profile(&["CAP_SYS_ADMIN".to_string()].into());
        let n = names(&admin);
        assert!(n.contains(&"unshare".to_string()) && n.contains(&"clone3".to_string()));
        assert!(!admin["syscalls"].to_string().contains("MASKED_EQ"));
    }

    #[test]
    fn compiles_with_the_runtime() {
        let v = default_profile(&BTreeSet::new());
        let s: rbox_runtime::oci_spec::runtime::LinuxSeccomp =
            serde_json::from_value(v).expect("valid OCI seccomp");
        rbox_runtime::seccomp::compile(&s).expect("compiles");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn host_arch_rules() {
        let n = names(&default_profile(&BTreeSet::new()));
        assert!(n.contains(&"arch_prctl".to_string()));
        assert!(!n.contains(&"set_tls".to_string()));
    }
}
