//! Guards at the top of privileged tests: skip loudly where the machine
//! lacks something, fail instead when CI demands the privileged tier.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::sched::CloneFlags;

use crate::mountinfo;

/// The environment variable that turns skips into failures when set to `1`.
pub const REQUIRE_PRIVILEGED_ENV: &str = "RBOX_REQUIRE_PRIVILEGED";

/// True when `RBOX_REQUIRE_PRIVILEGED=1`: a missing requirement must fail
/// the test rather than skip it.
pub fn privileged_required() -> bool {
    std::env::var_os(REQUIRE_PRIVILEGED_ENV).is_some_and(|v| v == "1")
}

/// Returns `ok`. When `ok` is false, prints `SKIP <test>: <what>` to stderr
/// so the caller can return early — or panics with that message when
/// [`privileged_required`].
///
/// # Panics
///
/// When `ok` is false and `RBOX_REQUIRE_PRIVILEGED=1`.
pub fn require(test: &str, what: &str, ok: bool) -> bool {
    check(test, what, ok, privileged_required())
}

/// [`require`] that the test runs as root.
///
/// # Panics
///
/// When not root and `RBOX_REQUIRE_PRIVILEGED=1`.
pub fn require_root(test: &str) -> bool {
    require(test, "needs root", is_root())
}

fn check(test: &str, what: &str, ok: bool, strict: bool) -> bool {
    if ok {
        return true;
    }
    let msg = format!("SKIP {test}: {what}");
    assert!(!strict, "{msg} ({REQUIRE_PRIVILEGED_ENV}=1)");
    eprintln!("{msg}");
    false
}

/// True if the effective uid is 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// True if `name` is an executable file in a directory of `$PATH` (or, if
/// it contains a `/`, is itself an executable file).
pub fn have_command(name: &str) -> bool {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        return executable(Path::new(name));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(name))))
}

/// True if a cgroup v1 hierarchy with controller `name` is mounted (a
/// named hierarchy matches `name=<its name>`, e.g. `name=systemd`).
pub fn have_cgroup_v1_controller(name: &str) -> bool {
    mountinfo::mounts().is_ok_and(|mounts| {
        mounts
            .iter()
            .any(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == name))
    })
}

/// True if a process may `unshare(flags)` here; tried in a forked child,
/// so the caller's namespaces are untouched.
pub fn can_unshare(flags: CloneFlags) -> bool {
    crate::sys::unshare_in_child(flags).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_passes_when_ok() {
        assert!(check("t", "x", true, false));
        assert!(check("t", "x", true, true));
    }

    #[test]
    fn require_skips_without_env() {
        assert!(!check(
            "require_skips_without_env",
            "nothing missing, just testing",
            false,
            false
        ));
    }

    #[test]
    #[should_panic(expected = "SKIP t: missing thing")]
    fn require_fails_when_privileged_required() {
        check("t", "missing thing", false, true);
    }

    #[test]
    fn public_require_follows_env() {
        let r =
            std::panic::catch_unwind(|| require("public_require_follows_env", "testing", false));
        match r {
            Ok(ok) => assert!(!ok && !privileged_required()),
            Err(_) => assert!(privileged_required()),
        }
    }

    #[test]
    fn finds_sh_not_nonsense() {
        assert!(have_command("sh"));
        assert!(have_command("/bin/sh"));
        assert!(!have_command("rbox-no-such-command"));
        assert!(!have_command("/nonexistent/sh"));
    }

    #[test]
    fn no_such_cgroup_controller() {
        assert!(!have_cgroup_v1_controller("rbox-no-such-controller"));
    }

    #[test]
    fn empty_unshare_works() {
        assert!(can_unshare(CloneFlags::empty()));
    }

    #[test]
    fn unshare_as_root_works() {
        if !require_root("unshare_as_root_works") {
            return;
        }
        assert!(can_unshare(
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS
        ));
    }
}
