//! podman with storage, run root, tmpdir and network config in a temp dir,
//! cgroupfs under `/rbox-test/<id>`, and rbox as `--runtime`.

use std::io;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rbox_test_support::{CgroupGuard, TempRoot, unique_id};

use super::{COMMAND_TIMEOUT, output_in, reap_marked, runc_link};

/// The busybox image every podman test imports.
pub const PODMAN_IMAGE: &str = "localhost/rbox-busybox:latest";

/// One isolated podman "installation".
pub struct Podman {
    // Dropped after `Drop::drop`: cgroups first, then the dir.
    cgroup: CgroupGuard,
    tmp: TempRoot,
    runtime: PathBuf,
}

impl Podman {
    /// Sets up the dirs and the `rbox-runc` link (no image yet).
    pub fn new() -> io::Result<Podman> {
        let tmp = TempRoot::new("podman")?;
        let runtime = runc_link(&tmp.join("bin"))?;
        for d in ["scratch", "net", "tmp"] {
            std::fs::create_dir_all(tmp.join(d))?;
        }
        let cgroup = CgroupGuard::new(format!("/rbox-test/{}", unique_id("podman")));
        Ok(Podman {
            cgroup,
            tmp,
            runtime,
        })
    }

    /// The runtime path podman is given.
    pub fn runtime(&self) -> &std::path::Path {
        &self.runtime
    }

    /// `podman <global isolation flags> <args>`, stdin from /dev/null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.tmp.join("root"))
            .arg("--runroot")
            .arg(self.tmp.join("runroot"))
            .arg("--tmpdir")
            .arg(self.tmp.join("tmp"))
            .arg("--network-config-dir")
            .arg(self.tmp.join("net"))
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
            ])
            .arg("--runtime")
            .arg(&self.runtime)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `cmd` (from [`Podman::cmd`]) with the command timeout.
    ///
    /// # Panics
    ///
    /// When podman cannot be spawned or times out.
    pub fn output(&self, cmd: &mut Command) -> Output {
        output_in(cmd, &self.tmp.join("scratch"), COMMAND_TIMEOUT).expect("podman finishes")
    }

    /// Writes `data` to a file in the scratch dir (say, for a stdin);
    /// returns its path.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn scratch_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.tmp.join("scratch").join(name);
        std::fs::write(&p, data).expect("write scratch file");
        p
    }

    /// Runs `podman <args>`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.output(&mut self.cmd(args))
    }

    /// Flags every `podman run` here needs: no network, the test's cgroup
    /// parent, and rlimits root may set here (it lacks CAP_SYS_RESOURCE, so
    /// podman's default nofile of 1048576 cannot be applied).
    pub fn container_flags(&self) -> Vec<String> {
        [
            "--network",
            "none",
            "--cgroup-parent",
            self.cgroup.path(),
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
        ]
        .map(String::from)
        .to_vec()
    }

    /// `podman run <container flags> <args>`.
    pub fn run_container(&self, args: &[&str]) -> Output {
        let flags = self.container_flags();
        let mut all: Vec<&str> = vec!["run"];
        all.extend(flags.iter().map(String::as_str));
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Imports the busybox fixture as [`PODMAN_IMAGE`] (`podman import`
    /// from a tar stream); returns the image name.
    pub fn import_busybox(&self) -> io::Result<&'static str> {
        super::image::import_busybox_with("podman", &self.tmp.join("scratch"), PODMAN_IMAGE, |a| {
            self.run(a)
        })
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let scratch = self.tmp.join("scratch");
        let _ = output_in(
            &mut self.cmd(&["rm", "--all", "--force", "--time", "0"]),
            &scratch,
            COMMAND_TIMEOUT,
        );
        // conmon and podman's exit commands are daemonized: wait for them
        // before their files and mounts go.
        reap_marked(self.tmp.path(), Duration::from_secs(10));
        let _ = output_in(
            &mut self.cmd(&["system", "reset", "--force"]),
            &scratch,
            COMMAND_TIMEOUT,
        );
    }
}
