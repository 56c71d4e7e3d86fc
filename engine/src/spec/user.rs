//! `-u name|uid[:group|gid]` and `--group-add` resolved against the
//! image's own /etc/passwd and /etc/group, as docker does. The files are
//! opened relative to the rootfs with `openat2(RESOLVE_IN_ROOT)`, so a
//! symlink in the image (`/etc/passwd -> /host/etc/shadow`) resolves
//! inside the rootfs, never on the host.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;

use crate::error::{Error, Result};

/// The process identity of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids (from /etc/group membership and --group-add).
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home, `/` when unknown.
    pub home: String,
}

/// One `/etc/passwd` line.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One `/etc/group` line.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Reads `path` (absolute, inside the rootfs) without leaving the rootfs;
/// a missing file is `None`. Capped at 4 MiB: these are small text files.
pub fn read_in_root(rootfs: &Path, path: &str) -> Result<Option<String>> {
    let root: OwnedFd = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| Error::Sys {
        call: format!("open rootfs {}", rootfs.display()),
        source,
    })?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(&root, path.trim_start_matches('/'), how) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => return Ok(None),
        Err(source) => {
            return Err(Error::Sys {
                call: format!("open {path} in {}", rootfs.display()),
                source,
            });
        }
    };
    let mut f = std::fs::File::from(fd);
    let meta = f
        .metadata()
        .map_err(|e| Error::io("stat", rootfs.join(path.trim_start_matches('/')), e))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut s = String::new();
    (&mut f)
        .take(4 << 20)
        .read_to_string(&mut s)
        .map_err(|e| Error::io("read", rootfs.join(path.trim_start_matches('/')), e))?;
    Ok(Some(s))
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves `user` (`""` = root) and `group_add` against the passwd and
/// group texts (absent files count as empty).
pub fn resolve(
    user: &str,
    group_add: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser> {
    let users = parse_passwd(passwd.unwrap_or(""));
    let groups = parse_group(group.unwrap_or(""));
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) => Some(
            users
                .iter()
                .find(|e| e.name == u)
                .ok_or_else(|| Error::NoSuchUser { user: u.into() })?,
        ),
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => u.parse().expect("a name without an entry returned above"),
    };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    let lookup_group = |g: &str| -> Result<u32> {
        match g.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => groups
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| Error::NoSuchGroup { group: g.into() }),
        }
    };
    if let Some(g) = g {
        gid = lookup_group(g)?;
    }
    let mut additional = Vec::new();
    // Memberships only apply to a named user and when -u gave no group
    // (docker's rule: an explicit group replaces the user's groups).
    if let (Some(e), None) = (entry, g) {
        for grp in &groups {
            if grp.members.iter().any(|m| m == &e.name) && !additional.contains(&grp.gid) {
                additional.push(grp.gid);
            }
        }
    }
    for g in group_add {
        let n = lookup_group(g)?;
        if !additional.contains(&n) {
            additional.push(n);
        }
    }
    let home = entry
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into());
    Ok(ExecUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

/// [`resolve`] with the files read from `rootfs`.
pub fn resolve_in_root(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ExecUser> {
    let passwd = read_in_root(rootfs, "/etc/passwd")?;
    let group = read_in_root(rootfs, "/etc/group")?;
    resolve(user, group_add, passwd.as_deref(), group.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nbob:x:1000:\naudio:x:29:bob\nvideo:x:44:www,bob\n";

    fn r(u: &str, add: &[&str]) -> Result<ExecUser> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve(u, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn users_and_groups() {
        let root = r("", &[]).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let bob = r("bob", &[]).unwrap();
        assert_eq!((bob.uid, bob.gid), (1000, 1000));
        assert_eq!(bob.additional_gids, vec![29, 44]);
        assert_eq!(bob.home, "/home/bob");
        let www = r("33:audio", &[]).unwrap();
        assert_eq!((www.uid, www.gid), (33, 29));
        assert!(www.additional_gids.is_empty());
        let anon = r("4242", &["video", "7"]).unwrap();
        assert_eq!((anon.uid, anon.gid, anon.home.as_str()), (4242, 0, "/"));
        assert_eq!(anon.additional_gids, vec![44, 7]);
        assert!(matches!(r("nobody", &[]), Err(Error::NoSuchUser { .. })));
        assert!(matches!(
            r("bob:nogroup", &[]),
            Err(Error::NoSuchGroup { .. })
        ));
    }

    #[test]
    fn files_resolve_inside_the_root() {
        let t = rbox_test_support::TempRoot::new("rbox-user").unwrap();
        let root = t.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(t.path().join("outside"), "evil:x:0:0::/:/bin/sh\n").unwrap();
        // An absolute symlink must resolve inside the rootfs (to nothing).
        std::os::unix::fs::symlink(t.path().join("outside"), root.join("etc/passwd")).unwrap();
        assert!(read_in_root(&root, "/etc/passwd").unwrap().is_none());
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::fs::write(root.join("etc/passwd"), PASSWD).unwrap();
        let u = resolve_in_root(&root, "bob", &[]).unwrap();
        assert_eq!(u.uid, 1000);
    }
}
