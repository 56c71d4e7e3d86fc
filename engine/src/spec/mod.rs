//! Image config + [`RunOptions`] → OCI runtime spec (config.json), with
//! docker's semantics and defaults. The spec is built as JSON and checked
//! by the runtime's own parser before it is written, so what the engine
//! writes is exactly what `rbox runtime` would accept.
//!
//! Docker's rules kept here: Entrypoint/Cmd merge (`--entrypoint` drops
//! the image's Cmd, `--entrypoint ""` clears it, args replace Cmd); env
//! = image Env overridden by `-e`, then PATH if absent, HOSTNAME, TERM
//! with `-t`, HOME from passwd; 14 default capabilities; the default
//! seccomp policy; masked and read-only /proc and /sys paths; private
//! pid/ipc/uts/mount/cgroup namespaces.

pub mod caps;
pub mod mounts;
pub mod resources;
pub mod seccomp;
pub mod user;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rbox_image::manifest::ContainerConfig;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::options::{RunOptions, parse_bytes, parse_signal};
use mounts::MountPoint;

/// PATH when neither the image nor `-e` sets one (docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `--init` puts the init binary in the container (docker's path).
pub const INIT_PATH: &str = "/sbin/docker-init";

pub use rbox_runtime::defaults::{MASKED_PATHS, READONLY_PATHS};

/// The network namespace a container gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetNs {
    /// The host's (`--network host`).
    Host,
    /// A new one with loopback only (`--network none`).
    New,
    /// An existing one (a bridge attachment or `container:ID`).
    Path(PathBuf),
}

/// The host files behind the container's /etc/hosts, /etc/hostname and
/// /etc/resolv.conf.
#[derive(Debug, Clone, Copy)]
pub struct EtcFiles<'a> {
    /// /etc/hosts (the network module rewrites it as peers come and go).
    pub hosts: &'a Path,
    /// /etc/hostname.
    pub hostname: &'a Path,
    /// /etc/resolv.conf.
    pub resolv_conf: &'a Path,
}

/// What the spec is built from besides the flags and the image.
#[derive(Debug, Clone)]
pub struct SpecContext<'a> {
    /// The container id.
    pub id: &'a str,
    /// The mounted rootfs (users are looked up in its /etc).
    pub rootfs: &'a Path,
    /// The files bind-mounted at /etc/hosts, /etc/hostname and
    /// /etc/resolv.conf.
    pub etc_files: EtcFiles<'a>,
    /// The hostname.
    pub hostname: &'a str,
    /// The network namespace.
    pub netns: NetNs,
    /// The host's init binary for `--init`.
    pub init_binary: Option<&'a Path>,
}

/// A built spec and what the record keeps of it.
#[derive(Debug, Clone)]
pub struct Built {
    /// config.json content.
    pub spec: Value,
    /// Mounts for inspect.
    pub mounts: Vec<MountPoint>,
    /// The signal `stop` sends first.
    pub stop_signal: i32,
    /// The command (inspect's Path and Args), without the init.
    pub command: Vec<String>,
}

/// The hostname docker gives a container: `-h`, else the host's with
/// host networking, else the first 12 characters of the id.
pub fn hostname(id: &str, opts: &RunOptions, host_network: bool) -> String {
    if let Some(h) = &opts.hostname {
        return h.clone();
    }
    if host_network && let Ok(h) = nix::unistd::gethostname() {
        return h.to_string_lossy().into_owned();
    }
    id.chars().take(12).collect()
}

/// Entrypoint/Cmd merge.
pub fn command(opts: &RunOptions, image: &ContainerConfig) -> Result<Vec<String>> {
    let (entrypoint, image_cmd) = match &opts.entrypoint {
        Some(e) if e.is_empty() => (vec![], None),
        Some(e) => (vec![e.clone()], None),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            image.cmd.clone(),
        ),
    };
    let cmd = if opts.args.is_empty() {
        image_cmd.unwrap_or_default()
    } else {
        opts.args.clone()
    };
    let all: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if all.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(all)
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Env merge.
pub fn environment(
    opts: &RunOptions,
    image: &ContainerConfig,
    hostname: &str,
    home: &str,
) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |e: &str| {
        if !e.contains('=') {
            return;
        }
        let k = env_key(e);
        if let Some(slot) = env.iter_mut().find(|x| env_key(x) == k) {
            *slot = e.to_string();
        } else {
            env.push(e.to_string());
        }
    };
    for e in image.env.iter().flatten() {
        set(e);
    }
    for e in &opts.env {
        set(e);
    }
    let has = |env: &[String], k: &str| env.iter().any(|x| env_key(x) == k);
    let mut head = Vec::new();
    if !has(&env, "PATH") {
        head.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        head.push(format!("HOSTNAME={hostname}"));
    }
    if opts.tty && !has(&env, "TERM") {
        head.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    head.extend(env);
    head
}

/// Security options parsed.
struct Security {
    seccomp: Option<Value>,
    no_new_privileges: bool,
}

fn security(opts: &RunOptions, caps: &BTreeSet<String>) -> Result<Security> {
    let mut s = Security {
        seccomp: (!opts.privileged).then(|| seccomp::default_profile(caps)),
        no_new_privileges: false,
    };
    for o in &opts.security_opt {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match k {
            "seccomp" if v == "unconfined" => s.seccomp = None,
            "seccomp" => s.seccomp = Some(load_seccomp(Path::new(v), caps)?),
            "no-new-privileges" => {
                s.no_new_privileges = match v {
                    "" | "true" => true,
                    "false" => false,
                    _ => {
                        return Err(Error::flag(
                            "--security-opt",
                            o,
                            "use no-new-privileges[=true|false]",
                        ));
                    }
                }
            }
            "apparmor" | "label" => {
                tracing::warn!(option = %o, "ignoring --security-opt: no LSM support in the engine yet");
            }
            _ => {
                return Err(Error::flag(
                    "--security-opt",
                    o,
                    "known options: seccomp=unconfined|FILE, no-new-privileges",
                ));
            }
        }
    }
    Ok(s)
}

/// Loads a seccomp profile file: the OCI form, or docker's (with
/// `archMap` and `includes`/`excludes`, evaluated for this host).
fn load_seccomp(path: &Path, caps: &BTreeSet<String>) -> Result<Value> {
    let b = std::fs::read(path).map_err(|e| Error::io("reading seccomp profile", path, e))?;
    let mut v: Value = serde_json::from_slice(&b).map_err(|source| Error::SeccompProfile {
        path: path.into(),
        source,
    })?;
    let native = match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        _ => "",
    };
    let go_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    if let Some(map) = v.get("archMap").and_then(Value::as_array).cloned() {
        let mut arches = vec![];
        for m in map {
            if m["architecture"] == native {
                arches.push(m["architecture"].clone());
                arches.extend(
                    m["subArchitectures"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            }
        }
        v["architectures"] = Value::Array(arches);
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("archMap");
    }
    if let Some(rules) = v.get_mut("syscalls").and_then(Value::as_array_mut) {
        let matches = |cond: &Value, any: bool| -> bool {
            let c_caps: Vec<&str> = cond["caps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let c_arch: Vec<&str> = cond["arches"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if any {
                c_caps.iter().any(|c| caps.contains(*c)) || c_arch.contains(&go_arch)
            } else {
                c_caps.iter().all(|c| caps.contains(*c))
                    && (c_arch.is_empty() || c_arch.contains(&go_arch))
            }
        };
        rules.retain(|r| {
            let inc = r.get("includes").is_none_or(|c| matches(c, false));
            let exc = r.get("excludes").is_some_and(|c| matches(c, true));
            inc && !exc
        });
        for r in rules.iter_mut() {
            if let Some(o) = r.as_object_mut() {
                for k in ["includes", "excludes", "comment"] {
                    o.remove(k);
                }
            }
        }
    }
    Ok(v)
}

/// Builds the spec.
pub fn build(ctx: &SpecContext<'_>, opts: &RunOptions, image: &ContainerConfig) -> Result<Built> {
    let command = command(opts, image)?;
    let user_spec = opts
        .user
        .clone()
        .or_else(|| image.user.clone())
        .unwrap_or_default();
    let user = user::resolve_in_root(ctx.rootfs, &user_spec, &opts.group_add)?;
    let env = environment(opts, image, ctx.hostname, &user.home);
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| image.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::flag("--workdir", &cwd, "must be an absolute path"));
    }
    let caps = caps::capabilities(&opts.cap_add, &opts.cap_drop, opts.privileged)?;
    let sec = security(opts, &caps)?;
    let stop_signal = match opts.stop_signal.as_deref().or(image.stop_signal.as_deref()) {
        Some(s) => parse_signal("--stop-signal", s)?,
        None => libc::SIGTERM,
    };
    let shm = match &opts.shm_size {
        Some(s) => {
            let n = parse_bytes("--shm-size", s)?;
            if n <= 0 {
                return Err(Error::flag("--shm-size", s, "must be greater than 0"));
            }
            n
        }
        None => 64 << 20,
    };

    let mut args = command.clone();
    let mut mounts = mounts::defaults(shm, !opts.privileged);
    if opts.init {
        let bin = ctx.init_binary.ok_or(Error::NoInitBinary)?;
        args = [INIT_PATH.to_string(), "--".into()]
            .into_iter()
            .chain(args)
            .collect();
        mounts.push(json!({
            "destination": INIT_PATH, "type": "bind", "source": bin,
            "options": ["bind", "ro", "nosuid", "nodev"],
        }));
    }
    let mut points = Vec::new();
    let mut user_mounts = Vec::new();
    for v in &opts.volumes {
        user_mounts.push(mounts::parse_volume(v)?);
    }
    for m in &opts.mounts {
        user_mounts.push(mounts::parse_mount(m)?);
    }
    for t in &opts.tmpfs {
        user_mounts.push(mounts::parse_tmpfs(t)?);
    }
    let etc_targets: Vec<&str> = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
        .into_iter()
        .filter(|t| !user_mounts.iter().any(|m| m.point.destination == *t))
        .collect();
    let f = ctx.etc_files;
    let etc = [
        ("/etc/hosts", f.hosts),
        ("/etc/hostname", f.hostname),
        ("/etc/resolv.conf", f.resolv_conf),
    ];
    for b in mounts::etc_binds(&etc, false) {
        if etc_targets.iter().any(|t| b["destination"] == *t) {
            mounts.push(b);
        }
    }
    // A user mount over a default one (e.g. --tmpfs /dev/shm) replaces it.
    for m in user_mounts {
        mounts.retain(|x| x["destination"] != m.oci["destination"]);
        mounts.push(m.oci);
        points.push(m.point);
    }

    let own_netns = ctx.netns != NetNs::Host;
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match &ctx.netns {
        NetNs::Host => {}
        NetNs::New => namespaces.push(json!({"type": "network"})),
        NetNs::Path(p) => namespaces.push(json!({"type": "network", "path": p})),
    }

    let mut res = resources::resources(opts)?;
    let mut devices = Vec::new();
    let mut dev_rules = vec![json!({"allow": false, "access": "rwm"})];
    if opts.privileged {
        devices = resources::host_devices();
        dev_rules = vec![json!({"allow": true, "access": "rwm"})];
    }
    for d in &opts.devices {
        let (dev, rule) = resources::parse_device(d)?;
        devices.retain(|x| x["path"] != dev["path"]);
        devices.push(dev);
        dev_rules.push(rule);
    }
    // With a deny-all first rule the runtime appends the standard
    // devices' allow rules (runc's defaults).
    res.insert("devices".into(), Value::Array(dev_rules));

    let cap_list: Vec<&String> = caps.iter().collect();
    let mut process = json!({
        "terminal": opts.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": {
            "bounding": cap_list, "effective": cap_list, "permitted": cap_list,
        },
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }
    let rl = resources::rlimits(opts)?;
    if !rl.is_empty() {
        process["rlimits"] = json!(rl);
    }
    if let Some(a) = opts.oom_score_adj {
        if !(-1000..=1000).contains(&a) {
            return Err(Error::flag(
                "--oom-score-adj",
                &a.to_string(),
                "must be in -1000..1000",
            ));
        }
        process["oomScoreAdj"] = json!(a);
    }

    let cgroup_parent = opts.cgroup_parent.as_deref().unwrap_or("/rbox");
    if !cgroup_parent.starts_with('/') || cgroup_parent.split('/').any(|c| c == "..") {
        return Err(Error::flag(
            "--cgroup-parent",
            cgroup_parent,
            "must be an absolute cgroup path without \"..\"",
        ));
    }
    let mut linux = Map::new();
    linux.insert("namespaces".into(), json!(namespaces));
    linux.insert(
        "cgroupsPath".into(),
        json!(format!(
            "{}/{}",
            cgroup_parent.trim_end_matches('/'),
            ctx.id
        )),
    );
    linux.insert("resources".into(), Value::Object(res));
    if !devices.is_empty() {
        linux.insert("devices".into(), json!(devices));
    }
    let sysctl = resources::sysctls(opts, own_netns)?;
    if !sysctl.is_empty() {
        linux.insert("sysctl".into(), Value::Object(sysctl));
    }
    if !opts.privileged {
        linux.insert("maskedPaths".into(), json!(MASKED_PATHS));
        linux.insert("readonlyPaths".into(), json!(READONLY_PATHS));
    }
    if let Some(s) = sec.seccomp {
        linux.insert("seccomp".into(), s);
    }
    let spec = json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": ctx.rootfs, "readonly": opts.read_only},
        "hostname": ctx.hostname,
        "mounts": mounts,
        "linux": Value::Object(linux),
    });
    // The runtime's own parser and validator: a spec it would refuse is an
    // engine bug, reported before anything is created.
    let bytes = serde_json::to_vec(&spec).expect("a JSON value serializes");
    let parsed = rbox_runtime::parse_spec(&bytes, Path::new("config.json")).map_err(|source| {
        Error::Runtime {
            id: ctx.id.to_string(),
            source,
        }
    })?;
    rbox_runtime::validate(&parsed).map_err(|source| Error::Runtime {
        id: ctx.id.to_string(),
        source,
    })?;
    Ok(Built {
        spec,
        mounts: points,
        stop_signal,
        command,
    })
}

#[cfg(test)]
mod tests;
