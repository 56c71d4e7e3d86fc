//! `-v`, `--mount` and `--tmpfs` → OCI mounts, and docker's default
//! mount table. Bind sources must exist (docker's `--mount` rule; for
//! `-v` docker creates missing host dirs, which hides typos, so rbox
//! refuses those too and says which path is missing).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::options::parse_bytes;

/// A mount as inspect shows it (`Mounts`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// bind, tmpfs or volume.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path (empty for tmpfs).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Propagation (binds).
    pub propagation: String,
    /// The volume's name (volumes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The OCI mount plus its inspect view.
pub struct UserMount {
    /// For config.json.
    pub oci: Value,
    /// For inspect.
    pub point: MountPoint,
}

fn absolute_target(flag: &'static str, spec: &str, t: &str) -> Result<String> {
    if !t.starts_with('/') {
        return Err(Error::flag(
            flag,
            spec,
            format!("{t:?} is not an absolute path"),
        ));
    }
    if t.split('/').any(|c| c == "..") {
        return Err(Error::flag(flag, spec, "the target may not contain \"..\""));
    }
    Ok(t.to_string())
}

fn bind(flag: &'static str, spec: &str, src: &str, dst: &str, opts: &[&str]) -> Result<UserMount> {
    let dst = absolute_target(flag, spec, dst)?;
    if !src.starts_with('/') {
        return Err(Error::flag(
            flag,
            spec,
            "named volumes are not available yet: give an absolute host path",
        ));
    }
    let source: PathBuf =
        std::fs::canonicalize(src).map_err(|_| Error::BindSource { path: src.into() })?;
    let mut rw = true;
    let mut propagation = "rprivate".to_string();
    let mut recursive = true;
    for o in opts {
        match *o {
            "ro" | "readonly" => rw = false,
            "rw" => rw = true,
            "z" | "Z" | "" => {}
            "nocopy" => {}
            "norecursive" => recursive = false,
            p @ ("private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave") => {
                propagation = p.to_string()
            }
            other => return Err(Error::flag(flag, spec, format!("unknown option {other:?}"))),
        }
    }
    let mut options = vec![
        if recursive { "rbind" } else { "bind" }.to_string(),
        propagation.clone(),
    ];
    options.push(if rw { "rw" } else { "ro" }.into());
    Ok(UserMount {
        oci: json!({
            "destination": dst,
            "type": "bind",
            "source": source,
            "options": options,
        }),
        point: MountPoint {
            kind: "bind".into(),
            source: source.display().to_string(),
            destination: dst,
            rw,
            propagation,
            name: String::new(),
        },
    })
}

fn tmpfs(flag: &'static str, spec: &str, dst: &str, opts: Vec<String>) -> Result<UserMount> {
    let dst = absolute_target(flag, spec, dst)?;
    let mut options = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
    let mut rw = true;
    for o in opts {
        match o.as_str() {
            "" => {}
            "ro" => {
                rw = false;
                options.push(o);
            }
            "exec" => options.retain(|x| x != "noexec"),
            "suid" => options.retain(|x| x != "nosuid"),
            "dev" => options.retain(|x| x != "nodev"),
            _ if o.starts_with("size=") => {
                let n = parse_bytes(flag, &o[5..])?;
                options.push(format!("size={n}"));
            }
            _ if o.starts_with("mode=") => {
                u32::from_str_radix(&o[5..], 8)
                    .map_err(|_| Error::flag(flag, spec, "mode must be octal"))?;
                options.push(o);
            }
            "rw" | "noexec" | "nosuid" | "nodev" | "strictatime" | "relatime" | "noatime" => {
                options.push(o)
            }
            _ => {
                return Err(Error::flag(
                    flag,
                    spec,
                    format!("unknown tmpfs option {o:?}"),
                ));
            }
        }
    }
    Ok(UserMount {
        oci: json!({"destination": dst, "type": "tmpfs", "source": "tmpfs", "options": options}),
        point: MountPoint {
            kind: "tmpfs".into(),
            source: String::new(),
            destination: dst,
            rw,
            propagation: String::new(),
            name: String::new(),
        },
    })
}

/// `-v SRC:DST[:OPTS]`.
pub fn parse_volume(spec: &str) -> Result<UserMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [src, dst] => bind("--volume", spec, src, dst, &[]),
        [src, dst, opts] => {
            let o: Vec<&str> = opts.split(',').collect();
            bind("--volume", spec, src, dst, &o)
        }
        [_] => Err(Error::flag(
            "--volume",
            spec,
            "anonymous volumes are not available yet: use SRC:DST or --tmpfs",
        )),
        _ => Err(Error::flag("--volume", spec, "expected SRC:DST[:OPTIONS]")),
    }
}

/// `--mount type=bind|tmpfs,source=..,target=..,readonly,...`.
pub fn parse_mount(spec: &str) -> Result<UserMount> {
    let mut kind = "volume".to_string();
    let (mut src, mut dst) = (None, None);
    let mut bind_opts: Vec<String> = Vec::new();
    let mut tmpfs_opts: Vec<String> = Vec::new();
    for kv in spec.split(',') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "type" => kind = v.to_string(),
            "source" | "src" => src = Some(v.to_string()),
            "target" | "destination" | "dst" => dst = Some(v.to_string()),
            "readonly" | "ro" => {
                if v.is_empty() || v == "true" || v == "1" {
                    bind_opts.push("ro".into());
                    tmpfs_opts.push("ro".into());
                }
            }
            "bind-propagation" => bind_opts.push(v.to_string()),
            "bind-nonrecursive" if v != "false" => bind_opts.push("norecursive".into()),
            "tmpfs-size" => tmpfs_opts.push(format!("size={v}")),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={v}")),
            "consistency" => {}
            _ => return Err(Error::flag("--mount", spec, format!("unknown field {k:?}"))),
        }
    }
    let dst = dst.ok_or_else(|| Error::flag("--mount", spec, "target is required"))?;
    match kind.as_str() {
        "bind" => {
            let src = src.ok_or_else(|| Error::flag("--mount", spec, "source is required"))?;
            let o: Vec<&str> = bind_opts.iter().map(String::as_str).collect();
            bind("--mount", spec, &src, &dst, &o)
        }
        "tmpfs" => tmpfs("--mount", spec, &dst, tmpfs_opts),
        "volume" => Err(Error::flag(
            "--mount",
            spec,
            "named volumes are not available yet",
        )),
        _ => Err(Error::flag(
            "--mount",
            spec,
            "type must be bind, tmpfs or volume",
        )),
    }
}

/// `--tmpfs PATH[:OPTIONS]`.
pub fn parse_tmpfs(spec: &str) -> Result<UserMount> {
    let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
    tmpfs(
        "--tmpfs",
        spec,
        dst,
        opts.split(',').map(str::to_string).collect(),
    )
}

/// Docker's default mounts, /dev/shm sized `shm_size` bytes.
pub fn defaults(shm_size: i64, read_only_sys: bool) -> Vec<Value> {
    let sys_opts = if read_only_sys {
        json!(["nosuid", "noexec", "nodev", "ro"])
    } else {
        json!(["nosuid", "noexec", "nodev", "rw"])
    };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm_size}")]}),
    ]
}

/// The /etc/hosts, /etc/hostname and /etc/resolv.conf binds: (target,
/// host file) pairs.
pub fn etc_binds(files: &[(&str, &Path)], read_only: bool) -> Vec<Value> {
    files
        .iter()
        .map(|(target, source)| {
            json!({
                "destination": target,
                "type": "bind",
                "source": source,
                "options": ["rbind", "rprivate", if read_only { "ro" } else { "rw" }],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let m = parse_volume("/tmp:/data:ro").unwrap();
        assert_eq!(m.oci["destination"], "/data");
        assert!(m.oci["options"].as_array().unwrap().contains(&json!("ro")));
        assert!(!m.point.rw);
        assert!(matches!(
            parse_volume("/definitely/not/here:/x"),
            Err(Error::BindSource { .. })
        ));
        assert!(parse_volume("/tmp:relative").is_err());
        assert!(parse_volume("/tmp:/x:bogus").is_err());
        assert!(parse_volume("named:/x").is_err());
    }

    #[test]
    fn mounts_and_tmpfs() {
        let m = parse_mount("type=bind,source=/tmp,target=/t,readonly").unwrap();
        assert_eq!(
            m.oci["source"],
            json!(std::fs::canonicalize("/tmp").unwrap())
        );
        assert!(!m.point.rw);
        let t = parse_mount("type=tmpfs,target=/run,tmpfs-size=1m").unwrap();
        assert!(
            t.oci["options"]
                .as_array()
                .unwrap()
                .contains(&json!("size=1048576"))
        );
        assert!(parse_mount("type=bind,target=/x").is_err());
        let t = parse_tmpfs("/scratch:size=64k,exec,mode=1777").unwrap();
        let o = t.oci["options"].as_array().unwrap();
        assert!(o.contains(&json!("size=65536")) && !o.contains(&json!("noexec")));
        assert!(parse_tmpfs("/x:size=12q").is_err());
    }
}
