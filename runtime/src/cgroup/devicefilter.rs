//! The cgroup v2 device filter: the devices [`Emulator`] state compiled to
//! a `BPF_PROG_TYPE_CGROUP_DEVICE` program and attached to the container's
//! cgroup with `BPF_CGROUP_DEVICE`.
//!
//! The program loads the request from its `struct bpf_cgroup_dev_ctx`
//! (type, access, major, minor), then tests one block per exception; the
//! first block that matches returns the opposite of the default, and the
//! end returns the default. Since every exception has the same (opposite)
//! effect, block order does not matter, and the answer equals what the v1
//! controller would give after the same rules: last matching rule wins.
//! As in v1, an allow exception must cover all the requested access while
//! a deny exception applies as soon as it covers any of it (runc's program
//! uses the allow test for both, which lets an `rw` open through a `w`
//! deny; this one does not).

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use tracing::{debug, info};

use super::CgroupError;
use super::devices::{Access, DevType, Emulator};
use crate::sys::bpf::{self, Insn};

/// License of the generated program; no GPL-only helper is called.
const LICENSE: &CStr = c"Apache-2.0";

// Opcodes: class | operation | source.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Registers: R0 result, R1 context (then scratch), R2 type, R3 access,
// R4 major, R5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

// uapi bpf.h: BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_*.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// Compiles the device state into the filter program.
pub(super) fn program(emu: &Emulator) -> Vec<Insn> {
    let mut insns = vec![
        // R2 = ctx->access_type & 0xffff (device type)
        Insn::new(LDX_MEM_W, R2, R1, 0, 0),
        Insn::new(ALU32_AND_K, R2, 0, 0, 0xffff),
        // R3 = ctx->access_type >> 16 (requested access)
        Insn::new(LDX_MEM_W, R3, R1, 0, 0),
        Insn::new(ALU32_RSH_K, R3, 0, 0, 16),
        // R4 = ctx->major, R5 = ctx->minor
        Insn::new(LDX_MEM_W, R4, R1, 4, 0),
        Insn::new(LDX_MEM_W, R5, R1, 8, 0),
    ];
    let verdict = i32::from(!emu.default_allow());
    for (meta, access) in emu.exceptions() {
        let mut block = Vec::new();
        let dev_type = match meta.kind {
            DevType::Block => DEV_BLOCK,
            DevType::Char => DEV_CHAR,
        };
        block.push(Insn::new(JMP_JNE_K, R2, 0, 0, dev_type));
        if access != Access::ALL {
            block.push(Insn::new(ALU32_MOV_X, R1, R3, 0, 0));
            block.push(Insn::new(ALU32_AND_K, R1, 0, 0, bpf_access(access)));
            if emu.default_allow() {
                // A deny exception denies a request it overlaps at all, as
                // v1 does (opening read-write is refused by a "w" deny).
                block.push(Insn::new(JMP_JEQ_K, R1, 0, 0, 0));
            } else {
                // An allow exception must cover every requested bit.
                block.push(Insn::new(JMP_JNE_X, R1, R3, 0, 0));
            }
        }
        for (reg, number) in [(R4, meta.major), (R5, meta.minor)] {
            let Some(n) = number else { continue };
            match i32::try_from(n) {
                Ok(imm) => block.push(Insn::new(JMP_JNE_K, reg, 0, 0, imm)),
                Err(_) => {
                    // A 64-bit compare would sign-extend the immediate, so
                    // numbers past i32::MAX go through a zero-extended mov.
                    block.push(Insn::new(ALU32_MOV_K, R1, 0, 0, n.cast_signed()));
                    block.push(Insn::new(JMP_JNE_X, reg, R1, 0, 0));
                }
            }
        }
        block.push(Insn::new(ALU32_MOV_K, R0, 0, 0, verdict));
        block.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
        // Every jump of the block skips to the instruction after it.
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if matches!(insn.code(), JMP_JEQ_K | JMP_JNE_K | JMP_JNE_X) {
                insn.set_off(i16::try_from(len - i - 1).expect("a block is under 16 instructions"));
            }
        }
        insns.extend(block);
    }
    insns.push(Insn::new(
        ALU32_MOV_K,
        R0,
        0,
        0,
        i32::from(emu.default_allow()),
    ));
    insns.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    insns
}

fn bpf_access(access: Access) -> i32 {
    [
        (Access::READ, ACC_READ),
        (Access::WRITE, ACC_WRITE),
        (Access::MKNOD, ACC_MKNOD),
    ]
    .iter()
    .filter(|(a, _)| access.contains(*a))
    .fold(0, |acc, (_, bit)| acc | bit)
}

/// Loads the filter for `emu` and makes it the only device filter of the
/// cgroup directory `dir`: it replaces a single existing one atomically,
/// otherwise it is attached first and the old ones detached after, so
/// there is no moment without a filter.
pub(super) fn attach(dir: &Path, emu: &Emulator) -> Result<(), CgroupError> {
    let insns = program(emu);
    let prog = bpf::load_cgroup_device_prog(&insns, LICENSE).map_err(|e| CgroupError::BpfLoad {
        path: dir.to_owned(),
        log: e.log,
        source: e.errno,
    })?;
    let cgroup = File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let bpf_err = |op, source| CgroupError::Bpf {
        op,
        path: dir.to_owned(),
        source,
    };
    let old_ids =
        bpf::query_cgroup_device(cgroup.as_fd()).map_err(|e| bpf_err("BPF_PROG_QUERY", e))?;
    let mut old = Vec::with_capacity(old_ids.len());
    for id in old_ids {
        match bpf::prog_fd_by_id(id) {
            Ok(fd) => old.push(fd),
            // Programs an LSM hides from us can only narrow access further.
            Err(e @ (nix::errno::Errno::EPERM | nix::errno::Errno::EACCES)) => {
                debug!(id, error = %e, "skipping an inaccessible device filter");
            }
            Err(e) => return Err(bpf_err("BPF_PROG_GET_FD_BY_ID", e)),
        }
    }
    if let [only] = old.as_slice() {
        match bpf::attach_cgroup_device(cgroup.as_fd(), prog.as_fd(), Some(only.as_fd())) {
            Ok(()) => return Ok(()),
            // Kernels before 5.6 have no BPF_F_REPLACE: attach, then detach.
            Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => return Err(bpf_err("BPF_PROG_ATTACH", e)),
        }
    }
    bpf::attach_cgroup_device(cgroup.as_fd(), prog.as_fd(), None)
        .map_err(|e| bpf_err("BPF_PROG_ATTACH", e))?;
    if old.len() > 1 {
        info!(count = old.len(), path = %dir.display(), "removing extra device filters");
    }
    for fd in &old {
        bpf::detach_cgroup_device(cgroup.as_fd(), fd.as_fd())
            .map_err(|e| bpf_err("BPF_PROG_DETACH", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
