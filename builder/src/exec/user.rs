//! `USER name[:group]` resolved the way docker does it: numeric ids are
//! taken as they are (no lookup needed), names looked up in the image's
//! `/etc/passwd` and `/etc/group`, read inside the rootfs so a hostile
//! image's symlinks cannot point the lookup at host files. The user's
//! supplementary groups come from `/etc/group` membership.

use std::io::Read;
use std::path::Path;

use super::ExecError;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids (from `/etc/group`, when the user was a name).
    pub additional_gids: Vec<u32>,
    /// Home directory, `/` if unknown.
    pub home: String,
}

/// The biggest passwd/group file read (real ones are a few kB).
const MAX_DB: u64 = 4 << 20;

fn read_db(rootfs: &Path, path: &str) -> Option<String> {
    let f = rbox_image::layer::open_in_root(rootfs, Path::new(path)).ok()?;
    let mut s = String::new();
    f.take(MAX_DB).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Resolves `spec` (`""` is root) against the rootfs at `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<User, ExecError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let passwd = read_db(rootfs, "/etc/passwd").unwrap_or_default();
    let groups = read_db(rootfs, "/etc/group").unwrap_or_default();
    // name:x:uid:gid:gecos:home:shell
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && (f[0] == user || f[2] == user)).then(|| {
            (
                f[0].to_string(),
                f[2].parse::<u32>().ok(),
                f[3].parse::<u32>().ok(),
                f[5].to_string(),
            )
        })
    });
    let (name, uid, mut gid, home) = match (user.parse::<u32>(), entry) {
        (Ok(uid), Some((n, _, g, h))) => (Some(n), uid, g.unwrap_or(0), h),
        (Ok(uid), None) => (None, uid, 0, "/".to_string()),
        (Err(_), Some((n, Some(uid), Some(g), h))) => (Some(n), uid, g, h),
        (Err(_), _) => {
            return Err(ExecError::UnknownUser {
                user: user.to_string(),
                reason: "no such user in the image's /etc/passwd".into(),
            });
        }
    };
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g)
                        .then(|| f[2].parse::<u32>().ok())
                        .flatten()
                })
                .ok_or_else(|| ExecError::UnknownUser {
                    user: spec.to_string(),
                    reason: format!("no group {g:?} in the image's /etc/group"),
                })?,
        };
    }
    // Supplementary groups only when no group was given, as docker.
    let mut additional_gids = Vec::new();
    if group.is_none()
        && let Some(name) = &name
    {
        for l in groups.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 4
                && f[3].split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && g != gid
                && !additional_gids.contains(&g)
            {
                additional_gids.push(g);
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> rbox_test_support::TempRoot {
        let t = rbox_test_support::TempRoot::new("builder-user").unwrap();
        std::fs::create_dir_all(t.join("etc")).unwrap();
        std::fs::write(
            t.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nbad:x:zz:1::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            t.join("etc/group"),
            "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\nstaff:x:50:app\n",
        )
        .unwrap();
        t
    }

    #[test]
    fn resolves_like_docker() {
        let t = rootfs();
        let r = |s| resolve(t.path(), s);
        assert_eq!(r("").unwrap().uid, 0);
        let app = r("app").unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.additional_gids, [10, 50]);
        assert_eq!(app.home, "/home/app");
        assert_eq!(r("1000").unwrap().additional_gids, [10, 50]);
        let g = r("app:wheel").unwrap();
        assert_eq!((g.uid, g.gid, g.additional_gids.len()), (1000, 10, 0));
        assert_eq!(r("4242:4343").unwrap().gid, 4343);
        assert_eq!(r("4242").unwrap().gid, 0);
        assert!(r("nobody").unwrap_err().to_string().contains("nobody"));
        assert!(
            r("app:nogroup")
                .unwrap_err()
                .to_string()
                .contains("nogroup")
        );
        assert!(r("bad").is_err());
    }

    #[test]
    fn never_reads_outside_the_rootfs() {
        let t = rbox_test_support::TempRoot::new("builder-user-evil").unwrap();
        std::fs::create_dir_all(t.join("etc")).unwrap();
        // /etc/passwd -> host's: resolves inside the rootfs (missing).
        std::os::unix::fs::symlink("/../../../../etc/passwd", t.join("etc/passwd")).unwrap();
        assert!(resolve(t.path(), "root").is_err());
        assert_eq!(resolve(t.path(), "0").unwrap().uid, 0);
    }
}
