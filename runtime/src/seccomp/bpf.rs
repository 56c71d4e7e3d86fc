//! A tiny classic-BPF assembler with symbolic labels.
//!
//! Code is written as a list of [`Op`]s whose jumps name [`Label`]s; the
//! assembler lays it out and resolves offsets. Conditional jumps only have
//! 8-bit offsets, so a side that lands more than 255 instructions away is
//! routed through a `ja` trampoline (32-bit offset) placed right after the
//! jump; inserting trampolines moves code, so layout repeats until stable.
//! Invariant: every label is placed after every jump to it (classic BPF
//! only jumps forward); a violation is reported as a codegen error.

use super::SeccompError;

/// `BPF_LD | BPF_W | BPF_ABS`
const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`
const ALU_AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JA`
const JMP_JA: u16 = 0x05;
/// `BPF_RET | BPF_K`
const RET_K: u16 = 0x06;

/// A conditional jump comparing the accumulator with a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cmp {
    /// `A == k`
    Eq,
    /// `A > k` (unsigned)
    Gt,
    /// `A >= k` (unsigned)
    Ge,
}

impl Cmp {
    fn code(self) -> u16 {
        // BPF_JMP | BPF_K | op
        match self {
            Cmp::Eq => 0x15,
            Cmp::Gt => 0x25,
            Cmp::Ge => 0x35,
        }
    }
}

/// A jump target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Label(usize);

/// One step of a program before layout.
#[derive(Clone, Copy, Debug)]
pub(super) enum Op {
    /// Load the 32-bit word at this offset of `struct seccomp_data`.
    Load(u32),
    /// `A &= k`
    And(u32),
    /// Jump to `jt` if `A <cmp> k`, else to `jf`.
    Jump {
        /// The comparison.
        cmp: Cmp,
        /// The constant.
        k: u32,
        /// Target when true.
        jt: Label,
        /// Target when false.
        jf: Label,
    },
    /// Unconditional jump.
    Goto(Label),
    /// Return this `SECCOMP_RET_*` value.
    Ret(u32),
    /// Marks where a label points; takes no space.
    Place(Label),
}

/// A program under construction.
#[derive(Debug, Default)]
pub(super) struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    /// A fresh label, to be placed later.
    pub(super) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Appends an op.
    pub(super) fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Appends a conditional jump: to `jt` if `A <cmp> k`, else to `jf`.
    pub(super) fn jump(&mut self, cmp: Cmp, k: u32, jt: Label, jf: Label) {
        self.ops.push(Op::Jump { cmp, k, jt, jf });
    }

    /// Places `label` at the current end.
    pub(super) fn place(&mut self, label: Label) {
        self.ops.push(Op::Place(label));
    }

    /// Lays the program out and encodes it.
    pub(super) fn assemble(&self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        // Per op: does its true / false side go through a trampoline?
        let mut tramp = vec![(false, false); self.ops.len()];
        loop {
            let (pos, at) = self.layout(&tramp)?;
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                if let Op::Jump { jt, jf, .. } = *op {
                    let next = pos[i] + 1;
                    if !tramp[i].0 && at[jt.0] - next > 255 {
                        tramp[i].0 = true;
                        changed = true;
                    }
                    if !tramp[i].1 && at[jf.0] - next > 255 {
                        tramp[i].1 = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                return self.encode(&tramp, &pos, &at);
            }
        }
    }

    /// Positions of every op and every label for a trampoline choice.
    fn layout(&self, tramp: &[(bool, bool)]) -> Result<(Vec<usize>, Vec<usize>), SeccompError> {
        let mut pos = Vec::with_capacity(self.ops.len());
        let mut at = vec![usize::MAX; self.labels];
        let mut n = 0;
        for (i, op) in self.ops.iter().enumerate() {
            pos.push(n);
            match op {
                Op::Place(l) => at[l.0] = n,
                Op::Jump { .. } => n += 1 + usize::from(tramp[i].0) + usize::from(tramp[i].1),
                _ => n += 1,
            }
        }
        // Every target must be placed and lie ahead of its jump.
        for (i, op) in self.ops.iter().enumerate() {
            let targets: &[Label] = match op {
                Op::Jump { jt, jf, .. } => &[*jt, *jf],
                Op::Goto(l) => &[*l],
                _ => &[],
            };
            if targets
                .iter()
                .any(|l| at[l.0] == usize::MAX || at[l.0] <= pos[i])
            {
                return Err(SeccompError::Codegen {
                    reason: "jump to an unplaced or earlier label",
                });
            }
        }
        Ok((pos, at))
    }

    fn encode(
        &self,
        tramp: &[(bool, bool)],
        pos: &[usize],
        at: &[usize],
    ) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let too_far = || SeccompError::Codegen {
            reason: "jump offset out of range",
        };
        let short = |from: usize, to: usize| u8::try_from(to - from - 1).map_err(|_| too_far());
        let long = |from: usize, to: usize| u32::try_from(to - from - 1).map_err(|_| too_far());
        let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
        let mut out = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            let p = pos[i];
            match *op {
                Op::Load(off) => out.push(insn(LD_W_ABS, 0, 0, off)),
                Op::And(k) => out.push(insn(ALU_AND_K, 0, 0, k)),
                Op::Ret(k) => out.push(insn(RET_K, 0, 0, k)),
                Op::Goto(l) => out.push(insn(JMP_JA, 0, 0, long(p, at[l.0])?)),
                Op::Place(_) => {}
                Op::Jump { cmp, k, jt, jf } => {
                    let (tt, tf) = tramp[i];
                    // Trampolines sit right after the jump, true side first.
                    let t_slot = p + 1;
                    let f_slot = p + 1 + usize::from(tt);
                    let jt_off = if tt { 0 } else { short(p, at[jt.0])? };
                    let jf_off = if tf {
                        short(p, f_slot)?
                    } else {
                        short(p, at[jf.0])?
                    };
                    out.push(insn(cmp.code(), jt_off, jf_off, k));
                    if tt {
                        out.push(insn(JMP_JA, 0, 0, long(t_slot, at[jt.0])?));
                    }
                    if tf {
                        out.push(insn(JMP_JA, 0, 0, long(f_slot, at[jf.0])?));
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_jumps_need_no_trampoline() {
        let mut asm = Asm::default();
        let (t, f) = (asm.label(), asm.label());
        asm.push(Op::Load(0));
        asm.jump(Cmp::Eq, 7, t, f);
        asm.place(t);
        asm.push(Op::Ret(1));
        asm.place(f);
        asm.push(Op::Ret(2));
        let prog = asm.assemble().expect("assembles");
        assert_eq!(prog.len(), 4);
        assert_eq!((prog[1].jt, prog[1].jf), (0, 1));
    }

    #[test]
    fn long_jump_goes_through_trampoline() {
        let mut asm = Asm::default();
        let (t, f) = (asm.label(), asm.label());
        asm.push(Op::Load(0));
        asm.jump(Cmp::Eq, 7, t, f);
        asm.place(t);
        for _ in 0..300 {
            asm.push(Op::Ret(1));
        }
        asm.place(f);
        asm.push(Op::Ret(2));
        let prog = asm.assemble().expect("assembles");
        assert_eq!(prog.len(), 304);
        // jf goes to the `ja` right after the jump, which reaches Ret(2).
        assert_eq!((prog[1].jt, prog[1].jf), (1, 0));
        assert_eq!(prog[2].code, JMP_JA);
        assert_eq!(3 + prog[2].k as usize, 303);
        assert_eq!(prog[303].k, 2);
    }

    #[test]
    fn backward_jump_is_an_error() {
        let mut asm = Asm::default();
        let l = asm.label();
        asm.place(l);
        asm.push(Op::Goto(l));
        assert!(matches!(asm.assemble(), Err(SeccompError::Codegen { .. })));
    }
}
