//! Named network namespaces (`ip netns`) that go away with the test.

use std::path::Path;
use std::process::{Command, Stdio};

/// Deletes the named network namespace `/run/netns/<name>` on drop.
#[derive(Debug)]
pub struct NetnsGuard {
    name: String,
}

impl NetnsGuard {
    /// Guards an existing (or about to be created) namespace.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }

    /// Creates the namespace with `ip netns add` and guards it.
    pub fn add(name: impl Into<String>) -> std::io::Result<Self> {
        let guard = Self::new(name);
        let status = Command::new("ip")
            .args(["netns", "add", &guard.name])
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "ip netns add {} exited with {status}",
                guard.name
            )));
        }
        Ok(guard)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's bind-mounted file, for `setns` or a config's `path`.
    pub fn path(&self) -> std::path::PathBuf {
        Path::new("/run/netns").join(&self.name)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if !self.path().exists() {
            return;
        }
        let status = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("rbox-test-support: cannot delete netns {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{have_command, require, require_root, unique_id};

    #[test]
    fn add_and_drop() {
        const T: &str = "netns_add_and_drop";
        if !require_root(T) || !require(T, "ip command (iproute2)", have_command("ip")) {
            return;
        }
        let g = NetnsGuard::add(unique_id("t")).expect("ip netns add");
        let p = g.path();
        assert!(p.exists());
        drop(g);
        assert!(!p.exists());
    }

    #[test]
    fn dropping_absent_namespace_is_quiet() {
        drop(NetnsGuard::new(unique_id("absent")));
    }
}
