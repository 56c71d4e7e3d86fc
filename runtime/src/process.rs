//! Applying `process` of the spec to the calling process, shared by the
//! container init and `exec`: rlimits, scheduler, I/O priority, user and
//! groups, capabilities, no_new_privs, cwd, and finding the executable.
//!
//! Order matters and follows runc: bounding set first (needs CAP_SETPCAP),
//! then keep-caps across the uid switch, then the other four sets.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimitType, Process};

use crate::error::{Error, Result};
use crate::sys;

fn sys_err(call: String) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys { call, source }
}

/// Sets every `process.rlimits` entry.
pub(crate) fn apply_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or_default() {
        let res = rlimit_resource(r.typ());
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads a valid rlimit struct for the call.
        let ret = unsafe { libc::setrlimit(res, &lim) };
        nix::errno::Errno::result(ret).map_err(sys_err(format!(
            "setrlimit {} soft {} hard {} (raising a hard limit needs CAP_SYS_RESOURCE)",
            r.typ(),
            r.soft(),
            r.hard()
        )))?;
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// `process.scheduler` and `process.ioPriority`.
pub(crate) fn apply_sched(p: &Process) -> Result<()> {
    if let Some(s) = p.scheduler() {
        use oci_spec::runtime::LinuxSchedulerFlag as F;
        use oci_spec::runtime::LinuxSchedulerPolicy as P;
        let policy = match s.policy() {
            P::SchedOther => 0,
            P::SchedFifo => 1,
            P::SchedRr => 2,
            P::SchedBatch => 3,
            P::SchedIso => 4,
            P::SchedIdle => 5,
            P::SchedDeadline => 6,
        };
        let mut flags = 0u64;
        for f in s.flags().as_deref().unwrap_or_default() {
            flags |= match f {
                F::SchedResetOnFork => 0x01,
                F::SchedFlagReclaim => 0x02,
                F::SchedFlagDLOverrun => 0x04,
                F::SchedFlagKeepPolicy => 0x08,
                F::SchedFlagKeepParams => 0x10,
                F::SchedFlagUtilClampMin => 0x20,
                F::SchedFlagUtilClampMax => 0x40,
            };
        }
        sys::sched_setattr(
            policy,
            flags,
            s.nice().unwrap_or(0),
            u32::try_from(s.priority().unwrap_or(0)).map_err(|_| {
                Error::InvalidConfig("process.scheduler.priority is negative".into())
            })?,
            s.runtime().unwrap_or(0),
            s.deadline().unwrap_or(0),
            s.period().unwrap_or(0),
        )
        .map_err(sys_err(format!("sched_setattr policy {:?}", s.policy())))?;
    }
    if let Some(io) = p.io_priority() {
        use oci_spec::runtime::IOPriorityClass as C;
        let class = match io.class() {
            C::IoprioClassRt => 1,
            C::IoprioClassBe => 2,
            C::IoprioClassIdle => 3,
        };
        if !(0..=7).contains(&io.priority()) {
            return Err(Error::InvalidConfig(format!(
                "process.ioPriority.priority {} is outside 0..7",
                io.priority()
            )));
        }
        sys::ioprio_set(class, io.priority())
            .map_err(sys_err(format!("ioprio_set {:?}", io.class())))?;
    }
    Ok(())
}

/// The capabilities this kernel knows, probed once per process (each
/// probe is a prctl per capability).
fn supported_caps() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED.get_or_init(caps::runtime::thread_all_supported)
}

fn to_caps(set: &Option<Capabilities>) -> CapsHashSet {
    let supported = supported_caps();
    set.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<Cap>().ok())
        .filter(|c| supported.contains(c))
        .collect()
}

/// Drops the bounding set to what the spec allows (before the uid switch).
/// No capabilities object means an empty bounding set, as with runc: else
/// a setuid-root binary in the image would regain every host capability.
pub(crate) fn apply_bounding(c: Option<&LinuxCapabilities>) -> Result<()> {
    let keep = c.map(|c| to_caps(c.bounding())).unwrap_or_default();
    for cap in supported_caps() {
        if !keep.contains(cap) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| {
                Error::Capabilities(format!("dropping {cap} from the bounding set: {e}"))
            })?;
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient (after the uid
/// switch, with keep-caps on).
pub(crate) fn apply_caps(c: Option<&LinuxCapabilities>) -> Result<()> {
    let (eff, perm, inh, amb) = match c {
        Some(c) => (
            to_caps(c.effective()),
            to_caps(c.permitted()),
            to_caps(c.inheritable()),
            to_caps(c.ambient()),
        ),
        // No capabilities object: the process gets none.
        None => Default::default(),
    };
    let set = |which: CapSet, v: &CapsHashSet| {
        caps::set(None, which, v)
            .map_err(|e| {
                // capset only fails this way when asking for a capability
                // the runtime itself does not hold.
                let missing: Vec<String> = v
                    .difference(&caps::read(None, CapSet::Permitted).unwrap_or_default())
                    .map(|c| c.to_string())
                    .collect();
                Error::Capabilities(format!(
                    "setting the {which:?} set: {e}{}",
                    if missing.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (the runtime itself lacks {}; grant them to rbox or drop them from the spec)",
                            missing.join(", ")
                        )
                    }
                ))
            })
    };
    // Each capset call must leave effective within permitted: shrink
    // effective first, permitted last (it never needs to grow).
    let perm_all: CapsHashSet = perm.union(&eff).copied().collect();
    set(CapSet::Effective, &eff)?;
    set(CapSet::Inheritable, &inh)?;
    set(CapSet::Permitted, &perm_all)?;
    if !amb.is_empty() {
        caps::clear(None, CapSet::Ambient).ok();
        for cap in amb {
            // Ambient needs the cap in both permitted and inheritable; like
            // runc, skip (with a log) what cannot be raised.
            if let Err(e) = caps::raise(None, CapSet::Ambient, cap) {
                tracing::debug!("ambient {cap} not raised: {e}");
            }
        }
    }
    Ok(())
}

/// Switches to `process.user`: supplementary groups, gid, uid.
pub(crate) fn apply_user(p: &Process, setgroups_allowed: bool) -> Result<()> {
    let u = p.user();
    sys::set_keep_caps(true).map_err(sys_err("prctl(PR_SET_KEEPCAPS)".into()))?;
    if setgroups_allowed {
        let groups: Vec<Gid> = u
            .additional_gids()
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|g| Gid::from_raw(*g))
            .collect();
        nix::unistd::setgroups(&groups).map_err(sys_err(format!(
            "setgroups {:?}",
            u.additional_gids().as_deref().unwrap_or_default()
        )))?;
    }
    let gid = Gid::from_raw(u.gid());
    let uid = Uid::from_raw(u.uid());
    nix::unistd::setresgid(gid, gid, gid).map_err(sys_err(format!(
        "setresgid {} (is the gid mapped in the user namespace?)",
        u.gid()
    )))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(sys_err(format!(
        "setresuid {} (is the uid mapped in the user namespace?)",
        u.uid()
    )))?;
    sys::set_keep_caps(false).map_err(sys_err("prctl(PR_SET_KEEPCAPS)".into()))?;
    // Not the caller's umask: 022 unless the spec says otherwise (runc).
    sys::set_umask(u.umask().unwrap_or(0o022));
    Ok(())
}

/// Gives stdio to the container user (as runc does), so a non-root
/// process can reopen /dev/stdout or /proc/self/fd/1 (nginx-style images
/// do). Skips /dev/null and what the user already owns; failures (an
/// unmapped owner in a user namespace, a read-only pipe fs) are ignored
/// like runc ignores them.
pub(crate) fn fix_stdio_owner(uid: u32) {
    let null = nix::sys::stat::stat("/dev/null").ok().map(|s| s.st_rdev);
    for fd in 0..3 {
        let b = sys::stdio_fd(fd);
        let Ok(st) = nix::sys::stat::fstat(b) else {
            continue;
        };
        let is_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR && Some(st.st_rdev) == null;
        if st.st_uid == uid || is_null {
            continue;
        }
        let _ = nix::unistd::fchown(b, Some(Uid::from_raw(uid)), None);
    }
}

/// The full environment, with HOME filled in from /etc/passwd when the
/// spec does not set it (as runc does).
pub(crate) fn environment(p: &Process) -> Vec<String> {
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home = home_of(p.user().uid()).unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Opens a file of the image for reading only if it is a regular file: a
/// FIFO planted at /etc/passwd or as a `#!` interpreter must not block the
/// init forever.
fn open_regular(p: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(p)
        .ok()?;
    f.metadata().ok()?.is_file().then_some(f)
}

fn home_of(uid: u32) -> Option<String> {
    use std::io::Read;
    let mut passwd = String::new();
    open_regular(Path::new("/etc/passwd"))?
        .take(16 << 20)
        .read_to_string(&mut passwd)
        .ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// Resolves `args[0]` against PATH from `env` (or a default PATH) the way
/// runc and Go's exec.LookPath do, inside the current root.
pub(crate) fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match std::fs::metadata(&p) {
            Err(e) => Err(Error::Exec {
                path: arg0.into(),
                reason: format!("stat {arg0}: {}", errno_text(&e)),
            }),
            Ok(m) if m.is_dir() => Err(Error::Exec {
                path: arg0.into(),
                reason: "is a directory".into(),
            }),
            Ok(_) if !executable(&p) => Err(Error::Exec {
                path: arg0.into(),
                reason: "permission denied (not executable)".into(),
            }),
            Ok(_) => Ok(p),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if executable(&cand) {
            return Ok(cand);
        }
    }
    Err(Error::Exec {
        path: arg0.into(),
        reason: "executable file not found in $PATH".into(),
    })
}

/// An I/O error's errno as Go spells it ("no such file or directory"):
/// docker and podman pick exit codes 127/126 by matching these lowercase
/// texts in the runtime's error, as they do for runc.
fn errno_text(e: &std::io::Error) -> String {
    let Some(errno) = e.raw_os_error() else {
        return e.to_string();
    };
    let desc = nix::errno::Errno::from_raw(errno).desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => desc.to_string(),
    }
}

/// Refuses to execute the runtime's own binary inside the container
/// (CVE-2019-5736): neither the target nor a `#!` interpreter chain may be
/// the file `self_exe` names (device, inode).
pub(crate) fn check_not_runtime(path: &Path, self_exe: (u64, u64)) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut cur = path.to_path_buf();
    for _ in 0..5 {
        let m = std::fs::metadata(&cur).map_err(|e| Error::Exec {
            path: cur.display().to_string(),
            reason: format!("stat {}: {}", cur.display(), errno_text(&e)),
        })?;
        if (m.dev(), m.ino()) == self_exe {
            return Err(Error::Exec {
                path: path.display().to_string(),
                reason: "refusing to execute the container runtime's own binary inside the container (CVE-2019-5736)".into(),
            });
        }
        let Some(interp) = shebang(&cur) else {
            return Ok(());
        };
        cur = interp;
    }
    Ok(())
}

fn shebang(p: &Path) -> Option<PathBuf> {
    use std::io::Read;
    let mut f = open_regular(p)?;
    let mut buf = [0u8; 256];
    let n = f.read(&mut buf).ok()?;
    let line = buf[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|b| *b == b'\n').unwrap_or(line.len())];
    let s = std::str::from_utf8(line).ok()?.trim();
    let interp = s.split([' ', '\t']).next()?;
    (!interp.is_empty()).then(|| PathBuf::from(interp))
}

/// Converts strings for execve.
pub(crate) fn cstrings(v: &[String]) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::InvalidConfig(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// Path to CString.
pub(crate) fn path_cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidConfig(format!("{} contains a NUL byte", p.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_errors_name_the_binary() {
        let e = find_executable("definitely-not-a-binary-xyz", &["PATH=/nonexistent".into()])
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("definitely-not-a-binary-xyz"), "{msg}");
        assert!(msg.contains("not found in $PATH"), "{msg}");
    }

    /// docker maps a create error to exit code 127 only when it contains
    /// the lowercase "no such file or directory" (Go's errno text).
    #[test]
    fn missing_absolute_path_reads_like_runc() {
        let msg = find_executable("/nonexistent-rbox-bin", &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "exec: \"/nonexistent-rbox-bin\": stat /nonexistent-rbox-bin: no such file or directory"
        );
    }

    #[test]
    fn path_lookup_finds_sh() {
        let p = find_executable("sh", &["PATH=/usr/bin:/bin".into()]).unwrap();
        assert!(p.ends_with("sh"));
        assert!(find_executable("/", &[]).is_err());
    }

    #[test]
    fn refuses_self_and_interpreter_chain() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("rbox-proc-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("fake-runtime");
        std::fs::write(&bin, b"\x7fELF").unwrap();
        let m = std::fs::metadata(&bin).unwrap();
        let id = (m.dev(), m.ino());
        let script = dir.join("script");
        std::fs::write(&script, format!("#!{} -x\n", bin.display())).unwrap();
        assert!(check_not_runtime(&bin, id).is_err());
        let e = check_not_runtime(&script, id).unwrap_err();
        assert!(e.to_string().contains("CVE-2019-5736"));
        assert!(check_not_runtime(Path::new("/bin/sh"), id).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
