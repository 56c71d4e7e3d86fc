//! A private containerd (root, state and gRPC socket in a temp dir) driven
//! with `ctr`, the runc shim pointed at rbox with `--runc-binary`.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rbox_test_support::{CgroupGuard, TempRoot, unique_id};

use super::{
    COMMAND_TIMEOUT, Daemon, busybox_docker_archive, output_in, reap_marked, runc_link, wait_until,
};

/// The busybox image imported into every containerd.
pub const CTR_IMAGE: &str = "localhost/rbox-busybox:latest";

/// Plugins a bare `ctr run` does not need (and CRI would want network
/// configuration and a sandbox image).
const DISABLED_PLUGINS: &[&str] = &[
    "io.containerd.grpc.v1.cri",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
];

/// A running containerd of the test's own.
pub struct Containerd {
    // Field order is drop order after `Drop::drop`.
    daemon: Daemon,
    cgroup: CgroupGuard,
    tmp: TempRoot,
    runtime: PathBuf,
}

impl Containerd {
    /// Writes a config, starts containerd and waits until `ctr version`
    /// answers.
    pub fn start() -> io::Result<Containerd> {
        let tmp = TempRoot::new("ctd")?;
        let runtime = runc_link(&tmp.join("bin"))?;
        for d in ["scratch", "fifo", "runc"] {
            std::fs::create_dir_all(tmp.join(d))?;
        }
        let disabled: Vec<String> = DISABLED_PLUGINS.iter().map(|p| format!("{p:?}")).collect();
        let config = format!(
            "version = 2\nroot = {:?}\nstate = {:?}\ndisabled_plugins = [{}]\n\
             [grpc]\n  address = {:?}\n[ttrpc]\n  address = {:?}\n",
            tmp.join("root"),
            tmp.join("state"),
            disabled.join(", "),
            tmp.join("sock"),
            tmp.join("sock.ttrpc"),
        );
        std::fs::write(tmp.join("config.toml"), config)?;
        let daemon = Daemon::spawn(
            "containerd",
            Command::new("containerd")
                .arg("--config")
                .arg(tmp.join("config.toml")),
            &tmp.join("containerd.log"),
        )?;
        let cgroup = CgroupGuard::new(format!("/rbox-test/{}", unique_id("ctd")));
        let mut c = Containerd {
            daemon,
            cgroup,
            tmp,
            runtime,
        };
        let up = wait_until(Duration::from_secs(20), || {
            c.tmp.join("sock").exists()
                && c.ctr(&["version"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
        });
        if !up || !c.daemon.alive() {
            return Err(io::Error::other(format!(
                "containerd did not come up: {}",
                c.log()
            )));
        }
        Ok(c)
    }

    /// containerd's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCK <args>`, stdin from /dev/null.
    pub fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(self.tmp.join("sock"))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` (from [`Containerd::ctr`]) with the command timeout.
    ///
    /// # Panics
    ///
    /// When ctr cannot be spawned or times out.
    pub fn output(&self, cmd: &mut Command) -> Output {
        output_in(cmd, &self.tmp.join("scratch"), COMMAND_TIMEOUT).expect("ctr finishes")
    }

    /// The cgroup path for container `name`: below the test's cgroup.
    pub fn cgroup_of(&self, name: &str) -> String {
        format!("{}/{name}", self.cgroup.path())
    }

    /// The directory for the IO FIFOs of `ctr run` and `ctr tasks exec`
    /// (ctr's default is /run/containerd/fifo).
    pub fn fifo_dir(&self) -> PathBuf {
        self.tmp.join("fifo")
    }

    /// Flags for `ctr run` selecting rbox: its binary,
    /// a state root and FIFO dir in the temp dir, and the cgroup.
    pub fn run_flags(&self, name: &str) -> Vec<String> {
        let p = |s: &str| self.tmp.join(s).to_string_lossy().into_owned();
        vec![
            "--runc-binary".into(),
            self.runtime.to_string_lossy().into_owned(),
            "--runc-root".into(),
            p("runc"),
            "--fifo-dir".into(),
            self.fifo_dir().to_string_lossy().into_owned(),
            "--cgroup".into(),
            self.cgroup_of(name),
        ]
    }

    /// Imports the busybox fixture (a hand-made docker-archive) as
    /// [`CTR_IMAGE`].
    pub fn import_busybox(&self) -> io::Result<&'static str> {
        let archive = busybox_docker_archive(&self.tmp.join("scratch"), CTR_IMAGE)?;
        let o = self.output(&mut self.ctr(&[
            "images",
            "import",
            archive.to_str().expect("utf-8 temp path"),
        ]));
        std::fs::remove_file(&archive)?;
        if !o.status.success() {
            return Err(io::Error::other(format!(
                "ctr images import failed: {}",
                String::from_utf8_lossy(&o.stderr)
            )));
        }
        Ok(CTR_IMAGE)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let scratch = self.tmp.join("scratch");
        let run = |args: &[&str]| output_in(&mut self.ctr(args), &scratch, COMMAND_TIMEOUT).ok();
        let ids = run(&["containers", "list", "--quiet"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for id in ids.lines().map(str::trim).filter(|l| !l.is_empty()) {
            run(&["tasks", "kill", "--signal", "SIGKILL", id]);
            run(&["tasks", "delete", "--force", id]);
            run(&["containers", "delete", id]);
        }
        self.daemon.stop(Duration::from_secs(20));
        // Shims outlive containerd; theirs name the socket in our dir.
        reap_marked(self.tmp.path(), Duration::from_secs(10));
    }
}
