//! cgroup v2 scenarios (memory limit and OOM, pids.max, cpu.max,
//! freeze/thaw, cgroup namespace) run by the built rbox inside a qemu VM
//! booted as a pure cgroup v2 host (this machine is hybrid). See
//! integration/vm/README.md.

use std::path::Path;
use std::process::Command;

use rbox_integration::rbox_bin;
use rbox_test_support::{have_command, require};

#[test]
fn cgroup_v2_scenarios_in_a_vm() {
    let name = "cgroup_v2_scenarios_in_a_vm";
    if !require(
        name,
        "qemu-system-x86_64 (apt qemu-system-x86)",
        have_command("qemu-system-x86_64"),
    ) {
        return;
    }
    let vmlinuz = std::fs::read_dir("/boot")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("vmlinuz-"))
        })
        .unwrap_or(false);
    if !require(name, "a kernel in /boot (apt linux-image-amd64)", vmlinuz) {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("vm/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--runtime-bin")
        .arg(rbox_bin())
        .arg("--runtime-args")
        .arg("runtime")
        .output()
        .expect("run integration/vm/run.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "VM scenarios failed:\n{text}");
    for s in [
        "memory", "oom", "pids", "cpu", "freezer", "cgroupns", "cleanup",
    ] {
        assert!(
            text.contains(&format!("ok {s}\n")),
            "scenario {s} did not pass:\n{text}"
        );
    }
    assert!(text.contains("RBOX-VM-RESULT: PASS"));
}
