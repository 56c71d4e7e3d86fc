//! A private dockerd (data root, exec root, socket, pid file and its own
//! managed containerd in a temp dir; no bridge, no iptables) with rbox
//! added as the runtime `rbox`, driven by the `docker` client.

use std::io;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rbox_test_support::{CgroupGuard, TempRoot, unique_id};

use super::{COMMAND_TIMEOUT, Daemon, output_in, reap_marked, runc_link, wait_until};

/// The busybox image imported into every dockerd.
pub const DOCKER_IMAGE: &str = "localhost/rbox-busybox:latest";

/// A running dockerd of the test's own.
pub struct Dockerd {
    // Field order is drop order after `Drop::drop`.
    daemon: Daemon,
    cgroup: CgroupGuard,
    tmp: TempRoot,
}

impl Dockerd {
    /// Starts dockerd and waits until `docker version` answers.
    pub fn start() -> io::Result<Dockerd> {
        let tmp = TempRoot::new("dockerd")?;
        let runtime = runc_link(&tmp.join("bin"))?;
        for d in ["scratch", "client"] {
            std::fs::create_dir_all(tmp.join(d))?;
        }
        // A config file of our own, so /etc/docker/daemon.json does not
        // apply and the daemon's key is not written to /etc/docker.
        let config = serde_json::json!({"deprecated-key-path": tmp.join("key.json")});
        std::fs::write(tmp.join("daemon.json"), config.to_string())?;
        let cgroup = CgroupGuard::new(format!("/rbox-test/{}", unique_id("dockerd")));
        let daemon = Daemon::spawn(
            "dockerd",
            Command::new("dockerd")
                .arg("--config-file")
                .arg(tmp.join("daemon.json"))
                .arg("--data-root")
                .arg(tmp.join("data"))
                .arg("--exec-root")
                .arg(tmp.join("exec"))
                .arg("-H")
                .arg(format!("unix://{}", tmp.join("sock").display()))
                .arg("--pidfile")
                .arg(tmp.join("pid"))
                .args([
                    "--bridge",
                    "none",
                    "--iptables=false",
                    "--ip-masq=false",
                    "--cgroup-parent",
                    cgroup.path(),
                ])
                .arg("--add-runtime")
                .arg(format!("rbox={}", runtime.display())),
            &tmp.join("dockerd.log"),
        )?;
        let mut d = Dockerd {
            daemon,
            cgroup,
            tmp,
        };
        let up = wait_until(Duration::from_secs(30), || {
            d.tmp.join("sock").exists()
                && d.docker(&["version"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        });
        if !up || !d.daemon.alive() {
            return Err(io::Error::other(format!(
                "dockerd did not come up: {}",
                d.log()
            )));
        }
        Ok(d)
    }

    /// dockerd's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.join("dockerd.log")).unwrap_or_default()
    }

    /// The cgroup parent of every container of this daemon.
    pub fn cgroup_parent(&self) -> &str {
        self.cgroup.path()
    }

    /// `docker <args>` against this daemon (client config in the temp
    /// dir), stdin from /dev/null.
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.tmp.join("sock").display()),
        )
        .env("DOCKER_CONFIG", self.tmp.join("client"))
        .args(args)
        .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` (from [`Dockerd::docker`]) with the command timeout.
    ///
    /// # Panics
    ///
    /// When docker cannot be spawned or times out.
    pub fn output(&self, cmd: &mut Command) -> Output {
        output_in(cmd, &self.tmp.join("scratch"), COMMAND_TIMEOUT).expect("docker finishes")
    }

    /// Runs `docker <args>`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.output(&mut self.docker(args))
    }

    /// Imports the busybox fixture as [`DOCKER_IMAGE`] (`docker import`
    /// of a tar of the rootfs).
    pub fn import_busybox(&self) -> io::Result<&'static str> {
        super::image::import_busybox_with("docker", &self.tmp.join("scratch"), DOCKER_IMAGE, |a| {
            self.run(a)
        })
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let ids = output_in(
            &mut self.docker(&["ps", "--all", "--quiet"]),
            &self.tmp.join("scratch"),
            COMMAND_TIMEOUT,
        )
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "--force"];
            args.extend(ids);
            let _ = output_in(
                &mut self.docker(&args),
                &self.tmp.join("scratch"),
                COMMAND_TIMEOUT,
            );
        }
        // dockerd stops its containerd on the way out; shims may linger.
        self.daemon.stop(Duration::from_secs(30));
        reap_marked(self.tmp.path(), Duration::from_secs(10));
    }
}
