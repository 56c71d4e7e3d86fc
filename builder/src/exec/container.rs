//! Build containers: a RUN step's command executed through rbox-runtime
//! on the step's overlay snapshot, with docker's default confinement
//! ([`rbox_runtime::defaults`]: its capability set, masked and read-only
//! /proc and /sys paths,
//! private pid/ipc/uts/mount/cgroup namespaces), output captured line by
//! line for the progress display and the error message.
//!
//! Mount targets that the rootfs lacks are created by the runtime (as
//! runc does) and so would land in the step's layer; they are recorded
//! before the run and removed again afterwards if still empty, as
//! BuildKit does.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rbox_runtime::{ContainerId, CreateOptions, Runtime, wait_exit_code};
use serde_json::{Value, json};

use super::ExecError;
use super::user::User;

use rbox_runtime::defaults::{DOCKER_CAPS, MASKED_PATHS, READONLY_PATHS};

/// How many output lines an error quotes.
const TAIL_LINES: usize = 10;

/// A RUN step's network (`RUN --network=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// The default: the host's network (what BuildKit's `auto` uses when
    /// no CNI setup is configured), with the host's resolv.conf and hosts.
    #[default]
    Default,
    /// A fresh network namespace with only loopback.
    None,
    /// The host's network, explicitly.
    Host,
}

/// An extra mount of a RUN step (`RUN --mount=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// A host directory or file (cache dirs, bind sources, secrets).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path in the container.
        target: String,
        /// Read-only.
        readonly: bool,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Path in the container.
        target: String,
        /// Size in bytes (0: the kernel's default).
        size: u64,
    },
}

/// What a RUN step executes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// argv (already wrapped in the SHELL for shell form).
    pub args: Vec<String>,
    /// Environment `K=V`.
    pub env: Vec<String>,
    /// Working directory (created if missing).
    pub cwd: String,
    /// The user.
    pub user: User,
    /// Network.
    pub network: Network,
    /// Extra mounts.
    pub mounts: Vec<Mount>,
    /// Hostname.
    pub hostname: String,
    /// Absolute cgroup parent the step's cgroup goes under.
    pub cgroup_parent: String,
    /// Runtime state directory.
    pub state_root: PathBuf,
}

/// How a RUN step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// Exit code (128+N for a signal).
    pub code: i32,
    /// The last lines of output.
    pub tail: Vec<String>,
}

/// The OCI spec of a build container over `rootfs`.
pub fn spec(rootfs: &Path, id: &str, o: &RunOptions) -> Value {
    let caps = json!(DOCKER_CAPS);
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    if o.network != Network::None {
        for f in ["/etc/resolv.conf", "/etc/hosts"] {
            if Path::new(f).exists() {
                mounts.push(json!({"destination": f, "type": "bind", "source": f, "options": ["rbind", "ro"]}));
            }
        }
    }
    for m in &o.mounts {
        mounts.push(match m {
            Mount::Bind {
                source,
                target,
                readonly,
            } => {
                let mut opts = vec!["rbind"];
                if *readonly {
                    opts.push("ro");
                }
                json!({"destination": target, "type": "bind", "source": source, "options": opts})
            }
            Mount::Tmpfs { target, size } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string()];
                if *size > 0 {
                    opts.push(format!("size={size}"));
                }
                json!({"destination": target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
        });
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if o.network == Network::None {
        namespaces.push(json!({"type": "network"}));
    }
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": false,
            "user": {"uid": o.user.uid, "gid": o.user.gid, "additionalGids": o.user.additional_gids},
            "args": o.args,
            "env": o.env,
            "cwd": o.cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "noNewPrivileges": false
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": o.hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": format!("{}/{id}", o.cgroup_parent.trim_end_matches('/')),
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS
        }
    })
}

/// Runs the step's command in a container on `rootfs` (a mounted
/// snapshot), with `bundle` as scratch space for its config. Each output
/// line goes to `output`; the outcome carries the exit code and the last
/// lines.
pub fn run(
    rootfs: &Path,
    bundle: &Path,
    id: &str,
    o: &RunOptions,
    output: &mut dyn FnMut(&str),
) -> Result<RunOutcome, ExecError> {
    let stubs = missing_targets(rootfs, o);
    std::fs::create_dir_all(bundle).map_err(|e| ExecError::io("create", bundle, e))?;
    let config = bundle.join("config.json");
    let body = serde_json::to_vec(&spec(rootfs, id, o)).expect("json values serialise");
    std::fs::write(&config, body).map_err(|e| ExecError::io("write", &config, e))?;

    let cid = ContainerId::new(id).map_err(|e| ExecError::Runtime(e.to_string()))?;
    let mut rt = Runtime::default();
    rt.root = o.state_root.clone();
    let devnull = std::fs::File::open("/dev/null")
        .map_err(|e| ExecError::io("open", Path::new("/dev/null"), e))?;
    let (reader, writer) = std::io::pipe().map_err(|e| ExecError::io("pipe for", bundle, e))?;
    let mut create = CreateOptions::new(bundle);
    create.stdio = Some([devnull.as_raw_fd(), writer.as_raw_fd(), writer.as_raw_fd()]);
    let created = rt.create(&cid, &create);
    drop(writer);
    let mut c = created.map_err(|e| ExecError::Runtime(chain(&e)))?;
    // The raw pid: once the init is a zombie, `pid()` reads 0.
    let pid = c.state().pid;
    if let Err(e) = c.start() {
        let _ = c.delete(true);
        return Err(ExecError::Runtime(chain(&e)));
    }
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut lines = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                output(line);
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let code = wait_exit_code(pid).map_err(|e| ExecError::Runtime(chain(&e)))?;
    c.delete(true).map_err(|e| ExecError::Runtime(chain(&e)))?;
    remove_stubs(rootfs, &stubs);
    Ok(RunOutcome {
        code,
        tail: tail.into(),
    })
}

/// Bind targets the rootfs does not have (the runtime will create them).
fn missing_targets(rootfs: &Path, o: &RunOptions) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    if o.network != Network::None {
        targets.extend(["/etc/resolv.conf".to_string(), "/etc/hosts".to_string()]);
    }
    for m in &o.mounts {
        match m {
            Mount::Bind { target, .. } | Mount::Tmpfs { target, .. } => {
                targets.push(target.clone())
            }
        }
    }
    targets
        .into_iter()
        .filter(|t| rbox_image::layer::open_in_root(rootfs, Path::new(t)).is_err())
        .collect()
}

/// Removes the empty files and directories the runtime made as mount
/// targets (deepest first), so they do not end up in the layer.
fn remove_stubs(rootfs: &Path, stubs: &[String]) {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::{SFlag, fstatat};
    use nix::unistd::{UnlinkatFlags, unlinkat};
    for t in stubs {
        let rel = Path::new(t.trim_start_matches('/'));
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            continue;
        };
        // Act relative to the parent as resolved inside the rootfs, never
        // through a path a RUN command may have turned into a link out.
        let Ok(dir) = rbox_image::layer::open_in_root(rootfs, parent) else {
            continue;
        };
        let Ok(st) = fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) else {
            continue;
        };
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let how = if kind == SFlag::S_IFREG && st.st_size == 0 {
            UnlinkatFlags::NoRemoveDir
        } else if kind == SFlag::S_IFDIR {
            // Fails (and is kept) unless empty.
            UnlinkatFlags::RemoveDir
        } else {
            continue;
        };
        let _ = unlinkat(&dir, name, how);
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
