//! Turning `linux.cgroupsPath` into the container's cgroup path.
//!
//! The result is always absolute, normalised and made of plain names: it is
//! joined below each hierarchy's mount point, never below the caller's own
//! cgroup. A relative cgroupsPath is placed under [`DEFAULT_PARENT`];
//! `..` is refused rather than resolved, so no input can reach outside the
//! hierarchy or the root cgroup itself.

use std::path::PathBuf;

use super::CgroupError;

/// Parent of relative cgroup paths and of containers without one.
pub const DEFAULT_PARENT: &str = "/rbox";

/// Slice used when a systemd-style path leaves it empty (as runc does).
const DEFAULT_SLICE: &str = "system.slice";

/// Scope prefix for systemd-style paths derived from the container id.
const DEFAULT_SCOPE_PREFIX: &str = "rbox";

/// Longest name a cgroup directory can have (NAME_MAX).
const NAME_MAX: usize = 255;

/// Resolves the container's cgroup path.
///
/// - `systemd == false`: `None`/empty gives `/rbox/<id>`; `/a/b` is used as
///   is; `a/b` becomes `/rbox/a/b`.
/// - `systemd == true`: `slice:prefix:name` maps to the cgroupfs path
///   systemd would use, `/<expanded slice>/<prefix>-<name>.scope` (a name
///   ending in `.slice` is used as the unit itself); `None` gives
///   `system.slice:rbox:<id>`.
pub(super) fn resolve(
    cgroups_path: Option<&str>,
    container_id: &str,
    systemd: bool,
) -> Result<PathBuf, CgroupError> {
    let given = cgroups_path.filter(|p| !p.is_empty());
    if systemd {
        let spec = match given {
            Some(p) => p.to_owned(),
            None => format!("{DEFAULT_SLICE}:{DEFAULT_SCOPE_PREFIX}:{container_id}"),
        };
        return systemd_path(&spec);
    }
    match given {
        None => {
            check_name(container_id, container_id)?;
            Ok(PathBuf::from(format!("{DEFAULT_PARENT}/{container_id}")))
        }
        Some(p) if p.starts_with('/') => normalise(p, p),
        Some(p) => normalise(&format!("{DEFAULT_PARENT}/{p}"), p),
    }
}

/// Normalises an absolute path, refusing `..`, NUL and overlong names.
fn normalise(path: &str, given: &str) -> Result<PathBuf, CgroupError> {
    let mut out = PathBuf::from("/");
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid(given, "\"..\" is not allowed")),
            name => {
                check_name(name, given)?;
                out.push(name);
            }
        }
    }
    if out.parent().is_none() {
        return Err(invalid(
            given,
            "the root cgroup cannot be a container's cgroup",
        ));
    }
    Ok(out)
}

/// Checks one path component.
fn check_name(name: &str, given: &str) -> Result<(), CgroupError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(invalid(given, "not a plain directory name"));
    }
    if name.contains('\0') || name.contains('\n') {
        return Err(invalid(given, "contains a NUL or newline character"));
    }
    if name.len() > NAME_MAX {
        return Err(invalid(given, "a path component is longer than 255 bytes"));
    }
    Ok(())
}

/// Maps `slice:prefix:name` to the cgroupfs path systemd would create.
fn systemd_path(spec: &str) -> Result<PathBuf, CgroupError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(invalid(
            spec,
            "expected \"slice:prefix:name\" for systemd cgroups",
        ));
    };
    if name.is_empty() {
        return Err(invalid(spec, "the unit name is empty"));
    }
    let slice = if slice.is_empty() {
        DEFAULT_SLICE
    } else {
        slice
    };
    let mut path = expand_slice(slice, spec)?;
    let unit = if name.ends_with(".slice") {
        // A slice named as the unit lives where its own name puts it.
        expand_slice(name, spec)?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| invalid(spec, "the unit name is the root slice"))?
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    check_name(&unit, spec)?;
    path.push(unit);
    Ok(path)
}

/// Expands `a-b-c.slice` to `/a.slice/a-b.slice/a-b-c.slice`, as systemd
/// nests slices; `-.slice` is the root.
fn expand_slice(slice: &str, given: &str) -> Result<PathBuf, CgroupError> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(invalid(
            given,
            "a systemd slice name must end in \".slice\"",
        ));
    };
    if slice.contains('/') {
        return Err(invalid(given, "a systemd slice name cannot contain \"/\""));
    }
    let mut path = PathBuf::from("/");
    if stem == "-" {
        return Ok(path);
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(invalid(
                given,
                "a systemd slice name has an empty \"-\" component",
            ));
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        let name = format!("{prefix}.slice");
        check_name(&name, given)?;
        path.push(name);
    }
    Ok(path)
}

fn invalid(path: &str, reason: &str) -> CgroupError {
    CgroupError::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: Option<&str>, id: &str, systemd: bool) -> String {
        resolve(p, id, systemd)
            .expect("valid path")
            .to_string_lossy()
            .into_owned()
    }

    fn err(p: Option<&str>, id: &str, systemd: bool) -> String {
        resolve(p, id, systemd)
            .expect_err("invalid path")
            .to_string()
    }

    #[test]
    fn cgroupfs_paths() {
        assert_eq!(ok(None, "abc", false), "/rbox/abc");
        assert_eq!(ok(Some(""), "abc", false), "/rbox/abc");
        assert_eq!(ok(Some("/rbox-test/x1"), "abc", false), "/rbox-test/x1");
        assert_eq!(ok(Some("/a//b/./c/"), "abc", false), "/a/b/c");
        assert_eq!(ok(Some("pods/abc"), "abc", false), "/rbox/pods/abc");
        // Colons are ordinary characters for cgroupfs paths.
        assert_eq!(ok(Some("/x:y:z"), "abc", false), "/x:y:z");
    }

    #[test]
    fn hostile_cgroupfs_paths_are_refused() {
        for p in ["/../etc", "a/../../b", "/rbox/..", "..", "/a/b/../c"] {
            let e = err(Some(p), "abc", false);
            assert!(e.contains("\"..\" is not allowed"), "{p}: {e}");
            assert!(e.contains(p), "{e}");
        }
        assert!(err(Some("/"), "abc", false).contains("root cgroup"));
        assert!(err(Some("//./"), "abc", false).contains("root cgroup"));
        assert!(err(Some("/a\0b"), "abc", false).contains("NUL"));
        let long = format!("/{}", "x".repeat(256));
        assert!(err(Some(&long), "abc", false).contains("255"));
        // The container id is a single name.
        assert!(err(None, "../x", false).contains("plain directory name"));
        assert!(err(None, "a/b", false).contains("plain directory name"));
        assert!(err(None, "", false).contains("plain directory name"));
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            ok(Some("system.slice:docker:abc"), "x", true),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(
            ok(
                Some("kubepods-burstable-pod1.slice:cri-containerd:abc"),
                "x",
                true
            ),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            ok(Some(":rbox:abc"), "x", true),
            "/system.slice/rbox-abc.scope"
        );
        assert_eq!(ok(Some("-.slice::abc"), "x", true), "/abc.scope");
        assert_eq!(ok(None, "abc", true), "/system.slice/rbox-abc.scope");
        assert_eq!(
            ok(Some("system.slice:x:machine-a.slice"), "x", true),
            "/system.slice/machine-a.slice"
        );
    }

    #[test]
    fn hostile_systemd_paths_are_refused() {
        assert!(err(Some("/rbox/abc"), "x", true).contains("slice:prefix:name"));
        assert!(err(Some("a:b:c:d"), "x", true).contains("slice:prefix:name"));
        assert!(err(Some("system:docker:abc"), "x", true).contains("end in \".slice\""));
        assert!(err(Some("a--b.slice:p:n"), "x", true).contains("empty"));
        assert!(err(Some("../x.slice:p:n"), "x", true).contains("\"/\""));
        assert!(err(Some("system.slice:p:"), "x", true).contains("empty"));
        assert!(err(Some("system.slice:p:a/../../b"), "x", true).contains("plain directory name"));
        // Dots only form a literal unit name, never a parent reference.
        assert_eq!(
            ok(Some("system.slice:..:.."), "x", true),
            "/system.slice/..-...scope"
        );
    }
}
