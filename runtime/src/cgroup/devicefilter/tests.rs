use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::*;
use crate::cgroup::devices::{Rule, default_device_rules, parse_rules};
use crate::cgroup::testutil::dev;

fn emulate(rules: &[LinuxDeviceCgroup]) -> Emulator {
    Emulator::from_rules(&parse_rules(rules).expect("valid rules")).expect("applicable rules")
}

/// Runs the program the way the kernel would for one request.
fn run(insns: &[Insn], dev_type: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [(access << 16) | dev_type, major, minor];
    let mut reg = [0u64; 11];
    let mut ctx_in_r1 = true;
    let mut pc = 0usize;
    loop {
        let i = insns[pc];
        let (d, s) = (usize::from(i.dst()), usize::from(i.src()));
        pc += 1;
        match i.code() {
            LDX_MEM_W => {
                assert!(s == 1 && ctx_in_r1, "context read through a clobbered R1");
                reg[d] = u64::from(ctx[usize::try_from(i.off()).expect("offset") / 4]);
            }
            ALU32_AND_K => reg[d] = u64::from((reg[d] as u32) & (i.imm() as u32)),
            ALU32_RSH_K => reg[d] = u64::from((reg[d] as u32) >> i.imm()),
            ALU32_MOV_K => reg[d] = u64::from(i.imm() as u32),
            ALU32_MOV_X => reg[d] = u64::from(reg[s] as u32),
            JMP_JEQ_K if reg[d] == i64::from(i.imm()) as u64 => pc += i.off() as usize,
            JMP_JNE_K if reg[d] != i64::from(i.imm()) as u64 => pc += i.off() as usize,
            JMP_JNE_X if reg[d] != reg[s] => pc += i.off() as usize,
            JMP_JEQ_K | JMP_JNE_K | JMP_JNE_X => {}
            JMP_EXIT => return reg[0],
            op => panic!("unexpected opcode {op:#x}"),
        }
        if d == 1 && !matches!(i.code(), JMP_JEQ_K | JMP_JNE_K | JMP_JNE_X | JMP_EXIT) {
            ctx_in_r1 = false;
        }
    }
}

/// The v1 controller's answer for one request, straight from the state:
/// allow-list entries must cover the whole request, deny-list entries
/// apply on any overlap.
fn expected(emu: &Emulator, kind: DevType, access: Access, major: u32, minor: u32) -> bool {
    let hit = emu.exceptions().any(|(m, a)| {
        let covers = if emu.default_allow() {
            a.intersects(access)
        } else {
            a.contains(access)
        };
        m.kind == kind
            && m.major.is_none_or(|x| x == major)
            && m.minor.is_none_or(|x| x == minor)
            && covers
    });
    hit != emu.default_allow()
}

fn disassemble(insns: &[Insn]) -> Vec<String> {
    insns
        .iter()
        .map(|i| {
            let (d, s, off, imm) = (i.dst(), i.src(), i.off(), i.imm());
            match i.code() {
                LDX_MEM_W => format!("r{d} = *(u32 *)(r{s} + {off})"),
                ALU32_AND_K => format!("w{d} &= {imm:#x}"),
                ALU32_RSH_K => format!("w{d} >>= {imm}"),
                ALU32_MOV_K => format!("w{d} = {imm}"),
                ALU32_MOV_X => format!("w{d} = w{s}"),
                JMP_JEQ_K => format!("if r{d} == {imm} goto +{off}"),
                JMP_JNE_K => format!("if r{d} != {imm} goto +{off}"),
                JMP_JNE_X => format!("if r{d} != r{s} goto +{off}"),
                JMP_EXIT => "exit".to_owned(),
                op => format!("?{op:#x}"),
            }
        })
        .collect()
}

#[test]
fn program_listing() {
    let emu = emulate(&[
        dev(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
        dev(true, LinuxDeviceType::B, Some(8), None, "r"),
    ]);
    assert_eq!(
        disassemble(&program(&emu)),
        [
            "r2 = *(u32 *)(r1 + 0)",
            "w2 &= 0xffff",
            "r3 = *(u32 *)(r1 + 0)",
            "w3 >>= 16",
            "r4 = *(u32 *)(r1 + 4)",
            "r5 = *(u32 *)(r1 + 8)",
            // c 1:3 rwm: no access test.
            "if r2 != 2 goto +4",
            "if r4 != 1 goto +3",
            "if r5 != 3 goto +2",
            "w0 = 1",
            "exit",
            // b 8:* r: only read requests match.
            "if r2 != 1 goto +6",
            "w1 = w3",
            "w1 &= 0x2",
            "if r1 != r3 goto +3",
            "if r4 != 8 goto +2",
            "w0 = 1",
            "exit",
            // Deny by default.
            "w0 = 0",
            "exit",
        ]
    );
}

#[test]
fn program_matches_the_v1_model() {
    let sets = [
        default_device_rules(),
        vec![
            dev(true, LinuxDeviceType::A, None, None, "rwm"),
            dev(false, LinuxDeviceType::C, Some(1), Some(5), "w"),
            dev(false, LinuxDeviceType::B, None, Some(0), "rwm"),
        ],
        vec![
            dev(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            dev(false, LinuxDeviceType::C, Some(1), Some(3), "m"),
            dev(true, LinuxDeviceType::C, None, Some(9), "rw"),
            dev(
                true,
                LinuxDeviceType::C,
                Some(4_000_000_000),
                Some(4_294_967_295),
                "r",
            ),
        ],
        vec![],
    ];
    let numbers = [0u32, 1, 3, 5, 8, 9, 136, 4_000_000_000, u32::MAX];
    for rules in &sets {
        let emu = emulate(rules);
        let insns = program(&emu);
        for (kind, t) in [(DevType::Block, DEV_BLOCK), (DevType::Char, DEV_CHAR)] {
            for bits in 1..=7u8 {
                let access = [(1, Access::READ), (2, Access::WRITE), (4, Access::MKNOD)]
                    .into_iter()
                    .filter(|(b, _)| bits & b != 0)
                    .fold(Access::default(), |acc, (_, a)| acc.union(a));
                let req = bpf_access(access) as u32;
                for &major in &numbers {
                    for &minor in &numbers {
                        let got = run(&insns, t as u32, req, major, minor) == 1;
                        let want = expected(&emu, kind, access, major, minor);
                        assert_eq!(
                            got, want,
                            "{kind:?} {access} {major}:{minor} with {rules:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn empty_rules_deny_everything() {
    let insns = program(&Emulator::from_rules(&[]).expect("empty"));
    assert_eq!(run(&insns, DEV_CHAR as u32, ACC_READ as u32, 1, 3), 0);
    let all = Emulator::from_rules(&[Rule::All { allow: true }]).expect("all");
    assert_eq!(disassemble(&program(&all)).len(), 8);
    assert_eq!(
        run(&program(&all), DEV_BLOCK as u32, ACC_WRITE as u32, 8, 0),
        1
    );
}

// ---- privileged: the real kernel ----

fn skip(test: &str, reason: &str) {
    if std::env::var("RBOX_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: {reason}");
    }
    eprintln!("SKIP {test}: {reason}");
}

/// A cgroup2 directory of this host to make test cgroups in.
fn cgroup2_base(test: &str) -> Option<PathBuf> {
    if !nix::unistd::geteuid().is_root() {
        skip(test, "needs root");
        return None;
    }
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if statfs(base).is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
            return Some(PathBuf::from(base).join("rbox-test"));
        }
    }
    skip(
        test,
        "no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified",
    );
    None
}

/// A shell, moved into the cgroup `dir`, that reports which device
/// accesses work, one line each: read /dev/zero, read /dev/urandom, write
/// /dev/urandom, open /dev/urandom read-write. Killed and reaped on drop.
struct Probe(std::process::Child);

impl Probe {
    fn run(dir: &Path) -> Vec<String> {
        let script = "read go; \
            for t in 'head -c1 /dev/zero' 'head -c1 /dev/urandom' 'echo x >/dev/urandom' 'exec 3<>/dev/urandom'; do \
            if sh -c \"$t\" >/dev/null 2>&1; then echo ok; else echo denied; fi; done";
        let child = Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let mut probe = Probe(child);
        std::fs::write(dir.join("cgroup.procs"), probe.0.id().to_string()).expect("move probe");
        writeln!(probe.0.stdin.as_mut().expect("stdin"), "go").expect("write");
        let out = BufReader::new(probe.0.stdout.take().expect("stdout"));
        out.lines().map(|l| l.expect("line")).collect()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ids of the filters attached to `dir`.
fn attached(dir: &Path) -> Vec<u32> {
    let cg = File::open(dir).expect("open cgroup");
    bpf::query_cgroup_device(cg.as_fd()).expect("query")
}

#[test]
fn device_filter_loads_attaches_and_denies() {
    const TEST: &str = "device_filter_loads_attaches_and_denies";
    let Some(base) = cgroup2_base(TEST) else {
        return;
    };
    let dir = base.join(format!("devfilter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir test cgroup");
    let result = std::panic::catch_unwind(|| {
        let allow_list = emulate(&[
            // /dev/null for the shell's redirections, /dev/urandom read-only.
            dev(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            dev(true, LinuxDeviceType::C, Some(1), Some(9), "r"),
        ]);
        match attach(&dir, &allow_list) {
            Err(CgroupError::BpfLoad {
                source: nix::errno::Errno::EPERM,
                log,
                ..
            }) => {
                skip(TEST, &format!("the kernel refuses BPF_PROG_LOAD: {log}"));
                return false;
            }
            other => other.expect("attach"),
        }
        assert_eq!(attached(&dir).len(), 1);
        assert_eq!(
            Probe::run(&dir),
            ["denied", "ok", "denied", "denied"],
            "allow-list"
        );

        // Applying again replaces the filter instead of stacking another.
        let deny_list = emulate(&[
            dev(true, LinuxDeviceType::A, None, None, "rwm"),
            dev(false, LinuxDeviceType::C, Some(1), Some(9), "w"),
        ]);
        attach(&dir, &deny_list).expect("replace");
        assert_eq!(attached(&dir).len(), 1, "exactly one filter attached");
        // A "w" deny also refuses a read-write open, as v1 would.
        assert_eq!(
            Probe::run(&dir),
            ["ok", "ok", "denied", "denied"],
            "deny-list"
        );

        let cg = File::open(&dir).expect("open cgroup");
        for id in attached(&dir) {
            let prog = bpf::prog_fd_by_id(id).expect("prog fd");
            bpf::detach_cgroup_device(cg.as_fd(), prog.as_fd()).expect("detach");
        }
        assert!(attached(&dir).is_empty());
        true
    });
    let removed = std::fs::remove_dir(&dir);
    let _ = std::fs::remove_dir(&base);
    match result {
        Ok(ran) => {
            if ran {
                removed.expect("rmdir test cgroup");
            }
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
