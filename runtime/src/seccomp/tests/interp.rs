//! A classic-BPF interpreter and checker for the opcodes seccomp allows,
//! so tests can run compiled filters without a kernel.

use crate::seccomp::arch::audit_arch;
use crate::seccomp::table::Abi;

/// Checks what the kernel's `bpf_check_classic` + `seccomp_check_filter`
/// check for our opcodes: size, known codes, aligned in-bounds loads,
/// forward jumps that land inside the program, a return at the end.
pub(super) fn validate(prog: &[libc::sock_filter]) {
    assert!(
        !prog.is_empty() && prog.len() <= 4096,
        "program length {}",
        prog.len()
    );
    for (pc, insn) in prog.iter().enumerate() {
        let after = |off: usize| {
            let target = pc + 1 + off;
            assert!(
                target < prog.len(),
                "insn {pc} jumps past the end to {target}"
            );
        };
        match insn.code {
            0x20 => assert!(
                insn.k % 4 == 0 && insn.k < 64,
                "insn {pc} loads offset {}",
                insn.k
            ),
            0x54 | 0x06 => {}
            0x05 => after(insn.k as usize),
            0x15 | 0x25 | 0x35 | 0x45 => {
                after(usize::from(insn.jt));
                after(usize::from(insn.jf));
            }
            code => panic!("insn {pc} has opcode {code:#x} seccomp does not allow"),
        }
    }
    let last = prog.last().expect("non-empty");
    assert_eq!(last.code, 0x06, "program must end in a return");
}

/// A syscall as the filter sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Call {
    /// `AUDIT_ARCH_*`
    pub arch: u32,
    /// Syscall number as the kernel passes it (x32 bit included).
    pub nr: u32,
    /// Arguments.
    pub args: [u64; 6],
}

impl Call {
    /// A call of `nr` on `abi` with no arguments.
    pub(super) fn new(abi: Abi, nr: u32) -> Self {
        Call {
            arch: audit_arch(abi),
            nr,
            args: [0; 6],
        }
    }

    /// The same call with argument `i` set.
    pub(super) fn arg(mut self, i: usize, value: u64) -> Self {
        self.args[i] = value;
        self
    }
}

/// Runs `prog` on `call` and returns the `SECCOMP_RET_*` value.
pub(super) fn run(prog: &[libc::sock_filter], call: Call) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&call.nr.to_ne_bytes());
    data[4..8].copy_from_slice(&call.arch.to_ne_bytes());
    for (i, arg) in call.args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
    }
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let insn = prog[pc];
        let k = insn.k;
        let branch = |taken: bool| 1 + usize::from(if taken { insn.jt } else { insn.jf });
        pc += match insn.code {
            0x20 => {
                let off = k as usize;
                a = u32::from_ne_bytes(data[off..off + 4].try_into().expect("4 bytes"));
                1
            }
            0x54 => {
                a &= k;
                1
            }
            0x05 => 1 + k as usize,
            0x15 => branch(a == k),
            0x25 => branch(a > k),
            0x35 => branch(a >= k),
            0x45 => branch(a & k != 0),
            0x06 => return k,
            code => panic!("unexpected opcode {code:#x}"),
        };
    }
}
