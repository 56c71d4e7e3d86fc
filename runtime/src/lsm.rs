//! Linux security module labels: SELinux (`mountLabel`,
//! `process.selinuxLabel`) and AppArmor (`process.apparmorProfile`).
//!
//! As runc does, labels apply only when the module is enabled on the host
//! (AL2023 runs SELinux permissive, Debian runs neither): on a host without
//! it they are ignored with a debug log rather than breaking the container.

use std::path::Path;

use crate::error::{Error, Result};

/// Whether SELinux is enabled (selinuxfs mounted).
pub(crate) fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Whether AppArmor is enabled.
pub(crate) fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Filesystem types that take a `context=` mount option.
fn takes_context(fstype: &str) -> bool {
    !matches!(
        fstype,
        "proc" | "sysfs" | "cgroup" | "cgroup2" | "bind" | ""
    )
}

/// Mount data with the SELinux mount label added as `context="LABEL"`.
pub(crate) fn mount_data(
    data: Option<String>,
    fstype: &str,
    label: Option<&str>,
    enabled: bool,
) -> Option<String> {
    let Some(label) = label.filter(|l| !l.is_empty() && enabled && takes_context(fstype)) else {
        return data;
    };
    let ctx = format!("context=\"{label}\"");
    Some(match data {
        Some(d) if !d.is_empty() => format!("{d},{ctx}"),
        _ => ctx,
    })
}

/// Refuses, on the host and before anything is created, a label or
/// profile the host cannot enforce (runc does the same): running the
/// process unconfined instead would fail open.
pub(crate) fn check_requested(p: &oci_spec::runtime::Process) -> Result<()> {
    if p.selinux_label().as_deref().is_some_and(|l| !l.is_empty()) && !selinux_enabled() {
        return Err(Error::InvalidConfig(
            "process.selinuxLabel is set but SELinux is disabled on this host".into(),
        ));
    }
    if p.apparmor_profile()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
        && !apparmor_enabled()
    {
        return Err(Error::InvalidConfig(
            "process.apparmorProfile is set but AppArmor is not enabled on this host".into(),
        ));
    }
    Ok(())
}

/// Labels the next execve: SELinux exec context and AppArmor profile
/// (already checked on the host with [`check_requested`]).
pub(crate) fn set_exec_labels(p: &oci_spec::runtime::Process) -> Result<()> {
    if let Some(label) = p.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        write_attr("/proc/thread-self/attr/exec", label.as_bytes())?;
    }
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|l| !l.is_empty()) {
        let path = if Path::new("/proc/thread-self/attr/apparmor/exec").exists() {
            "/proc/thread-self/attr/apparmor/exec"
        } else {
            "/proc/thread-self/attr/exec"
        };
        write_attr(path, format!("exec {profile}").as_bytes())?;
    }
    Ok(())
}

/// Writes an LSM attribute, refusing anything that is not a file of a real
/// procfs: an image cannot have a volume stand in for /proc (the
/// CVE-2019-16884 class), and nothing is ever created.
fn write_attr(path: &str, value: &[u8]) -> Result<()> {
    use std::io::Write;
    let err = |source| Error::Io {
        op: "setting the security label through",
        path: path.into(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(err)?;
    let fs = nix::sys::statfs::fstatfs(&f).map_err(|e| err(e.into()))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(err(std::io::Error::other("not on procfs")));
    }
    f.write_all(value).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_label_formatting() {
        let l = Some("system_u:object_r:container_file_t:s0:c1,c2");
        assert_eq!(
            mount_data(Some("mode=755".into()), "tmpfs", l, true).as_deref(),
            Some("mode=755,context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        assert_eq!(
            mount_data(None, "mqueue", l, true).as_deref(),
            Some("context=\"system_u:object_r:container_file_t:s0:c1,c2\"")
        );
        // Disabled SELinux, proc/sysfs and empty labels leave data alone.
        assert_eq!(
            mount_data(Some("x".into()), "tmpfs", l, false).as_deref(),
            Some("x")
        );
        assert_eq!(mount_data(None, "proc", l, true), None);
        assert_eq!(mount_data(None, "tmpfs", Some(""), true), None);
    }
}
