//! Parsing and checking config.json before anything is created, and turning
//! its namespace list into a clone plan.
//!
//! config.json is untrusted input: every rejection names the field.

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use nix::sched::CloneFlags;
use oci_spec::runtime::{
    LinuxDeviceCgroup, LinuxIdMapping, LinuxNamespaceType, LinuxResources, Spec,
};

use crate::error::{Error, Result};

/// Parses config.json bytes.
pub fn parse_spec(bytes: &[u8], path: &Path) -> Result<Spec> {
    serde_json::from_slice(bytes).map_err(|e| Error::BadConfigJson {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn invalid(s: impl Into<String>) -> Error {
    Error::InvalidConfig(s.into())
}

/// Checks what the runtime needs before creating anything.
pub fn validate(spec: &Spec) -> Result<()> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root is required"))?;
    if root.path().as_os_str().is_empty() {
        return Err(invalid("root.path is empty"));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process is required"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args must not be empty"));
    }
    for (field, list) in [("args", process.args()), ("env", process.env())] {
        for (i, v) in list.iter().flatten().enumerate() {
            if v.contains('\0') {
                return Err(invalid(format!("process.{field}[{i}] contains a NUL byte")));
            }
        }
    }
    crate::lsm::check_requested(process)?;
    if !process.cwd().is_absolute() {
        return Err(invalid(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        )));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("linux is required on Linux"))?;
    let nss = linux.namespaces().as_deref().unwrap_or_default();
    let mut seen = HashSet::new();
    for ns in nss {
        if !seen.insert(ns.typ()) {
            return Err(invalid(format!(
                "linux.namespaces lists {:?} twice",
                ns.typ()
            )));
        }
    }
    let has = |t: LinuxNamespaceType| nss.iter().any(|n| n.typ() == t);
    let new = |t: LinuxNamespaceType| nss.iter().any(|n| n.typ() == t && n.path().is_none());
    if !new(LinuxNamespaceType::Mount) {
        return Err(invalid(
            "linux.namespaces must include a new mount namespace (type \"mount\" without path)",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        return Err(invalid(
            "hostname is set but linux.namespaces has no uts namespace",
        ));
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new(LinuxNamespaceType::User) && !maps {
        return Err(invalid(
            "a new user namespace needs linux.uidMappings and linux.gidMappings",
        ));
    }
    if maps && !has(LinuxNamespaceType::User) {
        return Err(invalid(
            "linux.uidMappings are set but linux.namespaces has no user namespace",
        ));
    }
    if let Some(sysctl) = linux.sysctl() {
        for k in sysctl.keys() {
            crate::rootfs::sysctl_path(k)?;
            let needs = if k.starts_with("net.") {
                Some(LinuxNamespaceType::Network)
            } else if k.starts_with("kernel.shm")
                || k.starts_with("kernel.msg")
                || k == "kernel.sem"
                || k.starts_with("fs.mqueue.")
            {
                Some(LinuxNamespaceType::Ipc)
            } else if k == "kernel.hostname" || k == "kernel.domainname" {
                Some(LinuxNamespaceType::Uts)
            } else {
                None
            };
            match needs {
                Some(t) if !has(t) => {
                    return Err(invalid(format!(
                        "linux.sysctl {k:?} needs a {t:?} namespace, which the container does not have"
                    )));
                }
                None => {
                    return Err(invalid(format!(
                        "linux.sysctl {k:?} is not namespaced: setting it would change the host"
                    )));
                }
                Some(t) => {
                    // A joined namespace that is the caller's own is the
                    // host's: refuse like runc.
                    let joined = nss
                        .iter()
                        .find(|n| n.typ() == t)
                        .and_then(|n| n.path().clone());
                    if let Some(p) = joined
                        && same_file(&p, &format!("/proc/self/ns/{}", ns_file(t)))
                    {
                        return Err(invalid(format!(
                            "linux.sysctl {k:?}: the {t:?} namespace {} is the host's",
                            p.display()
                        )));
                    }
                }
            }
        }
    }
    for m in spec.mounts().as_deref().unwrap_or_default() {
        if m.destination().as_os_str().is_empty() {
            return Err(invalid("a mount has an empty destination"));
        }
    }
    Ok(())
}

fn ns_file(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        _ => "",
    }
}

fn same_file(a: &Path, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

/// How the namespaces of the spec are made or joined.
pub(crate) struct NsPlan {
    /// Namespaces created by the clone itself.
    pub clone_flags: CloneFlags,
    /// A new cgroup namespace, unshared by the init after joining its cgroup.
    pub new_cgroupns: bool,
    /// Joined by the runtime before the clone (they apply to children).
    pub pre_clone_joins: Vec<(CloneFlags, File)>,
    /// Joined by the init after the clone.
    pub post_clone_joins: Vec<(CloneFlags, std::os::fd::OwnedFd)>,
    /// An existing user namespace: joined by an intermediate child before
    /// the clone, so the new namespaces belong to it.
    pub user_join: Option<File>,
    /// A new time namespace (unshared by the intermediate child).
    pub new_time: bool,
}

impl NsPlan {
    /// Whether the clone needs an intermediate child: pid/time joins, a
    /// new time namespace and a user namespace join change the caller's
    /// namespaces for children, which must not stick to the caller (an
    /// embedder creating a second container would land in the first one's).
    pub(crate) fn needs_intermediate(&self) -> bool {
        self.user_join.is_some() || self.new_time || !self.pre_clone_joins.is_empty()
    }
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Builds the clone plan, opening every namespace path.
pub(crate) fn namespaces(spec: &Spec) -> Result<NsPlan> {
    let mut plan = NsPlan {
        clone_flags: CloneFlags::empty(),
        new_cgroupns: false,
        pre_clone_joins: vec![],
        post_clone_joins: vec![],
        user_join: None,
        new_time: false,
    };
    let nss = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    for ns in nss {
        let t = ns.typ();
        let flag = ns_flag(t);
        match ns.path() {
            None => match t {
                LinuxNamespaceType::Cgroup => plan.new_cgroupns = true,
                // CLONE_NEWTIME shares bits with the exit signal of
                // clone(2): an intermediate child unshares it so the init is
                // born into it.
                LinuxNamespaceType::Time => plan.new_time = true,
                _ => plan.clone_flags |= flag,
            },
            Some(p) => {
                let f = File::open(p).map_err(|source| Error::Io {
                    op: "opening namespace",
                    path: p.clone(),
                    source,
                })?;
                match t {
                    LinuxNamespaceType::Pid | LinuxNamespaceType::Time => {
                        plan.pre_clone_joins.push((flag, f))
                    }
                    LinuxNamespaceType::User => plan.user_join = Some(f),
                    _ => plan.post_clone_joins.push((flag, f.into())),
                }
            }
        }
    }
    Ok(plan)
}

/// Writes `linux.timeOffsets` for a freshly unshared time namespace.
pub(crate) fn write_time_offsets(spec: &Spec) -> Result<()> {
    let Some(offs) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut s = String::new();
    for (clock, off) in offs {
        if clock != "monotonic" && clock != "boottime" {
            return Err(invalid(format!(
                "linux.timeOffsets: unknown clock {clock:?} (monotonic or boottime)"
            )));
        }
        s.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    std::fs::write("/proc/self/timens_offsets", s).map_err(|source| Error::Io {
        op: "writing",
        path: "/proc/self/timens_offsets".into(),
        source,
    })
}

fn map_text(m: &[LinuxIdMapping]) -> String {
    m.iter()
        .map(|e| format!("{} {} {}\n", e.container_id(), e.host_id(), e.size()))
        .collect()
}

/// Writes uid_map and gid_map of a child in a new user namespace.
pub(crate) fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let Some(l) = spec.linux().as_ref() else {
        return Ok(());
    };
    for (file, m) in [("gid_map", l.gid_mappings()), ("uid_map", l.uid_mappings())] {
        let text = map_text(m.as_deref().unwrap_or_default());
        let p = std::path::PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&p, text.as_bytes()).map_err(|source| Error::Io {
            op: "writing id map",
            path: p,
            source,
        })?;
    }
    Ok(())
}

/// The resources with runc's default device rules appended, plus an allow
/// rule for each of `linux.devices`, so a deny-all policy still leaves the
/// container the devices it was given. Without device rules the cgroup's
/// device policy is left alone.
pub(crate) fn with_default_device_rules(res: &LinuxResources, spec: &Spec) -> LinuxResources {
    let mut r = res.clone();
    let Some(mut devs) = r.devices().clone() else {
        return r;
    };
    devs.extend(crate::cgroup::default_device_rules());
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true)
            .set_typ(Some(d.typ()))
            .set_major(Some(d.major()))
            .set_minor(Some(d.minor()))
            .set_access(Some("rwm".into()));
        devs.push(rule);
    }
    r.set_devices(Some(devs));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<Spec> {
        parse_spec(json.as_bytes(), Path::new("config.json"))
    }

    const BASE: &str = r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},
        "process":{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0}},
        "linux":{"namespaces":[{"type":"mount"},{"type":"pid"}]}}"#;

    #[test]
    fn accepts_minimal() {
        validate(&spec(BASE).unwrap()).unwrap();
    }

    #[test]
    fn rejects_garbage_with_a_clear_error() {
        let e = spec("{not json").unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
        let e = spec(r#"{"ociVersion":"1","process":{"cwd":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.json"), "{e}");
    }

    #[test]
    fn rejects_relative_cwd_and_empty_args() {
        let s = spec(&BASE.replace(r#""cwd":"/""#, r#""cwd":"tmp""#)).unwrap();
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .contains("process.cwd")
        );
        let s = spec(&BASE.replace(r#"["sh"]"#, "[]")).unwrap();
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .contains("process.args")
        );
    }

    #[test]
    fn rejects_host_sysctl_and_missing_mount_ns() {
        let s = spec(&BASE.replace(
            r#""namespaces""#,
            r#""sysctl":{"kernel.panic":"1"},"namespaces""#,
        ))
        .unwrap();
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .contains("not namespaced")
        );
        let s = spec(&BASE.replace(r#"{"type":"mount"},"#, "")).unwrap();
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .contains("mount namespace")
        );
        let s = spec(&BASE.replace(r#"{"type":"pid"}"#, r#"{"type":"mount"}"#)).unwrap();
        assert!(validate(&s).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let s = spec(&BASE.replace(r#"{"type":"pid"}"#, r#"{"type":"user"}"#)).unwrap();
        assert!(
            validate(&s)
                .unwrap_err()
                .to_string()
                .contains("uidMappings")
        );
    }
}
