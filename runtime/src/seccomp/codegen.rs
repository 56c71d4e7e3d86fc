//! [`Plan`] -> classic BPF.
//!
//! Layout: load the arch and dispatch with one `jeq` per section (native
//! first), falling through to the bad-arch return. Each section loads the
//! syscall number, splits x86_64 from x32 on `__X32_SYSCALL_BIT`, and
//! finds the number's interval with a binary search over `jge` nodes: the
//! number line is cut into intervals whose calls share one outcome
//! (consecutive syscalls with the same unconditional action, the gaps
//! between them getting the default, the tail above the profile's highest
//! call getting `ENOSYS`), so a docker-sized profile costs a few hundred
//! instructions and about log2(intervals) jumps per call. A syscall with
//! argument rules is its own interval whose leaf tests the rules in order.
//! Argument comparisons on 64-bit ABIs compare the high word, then the low
//! word, as unsigned numbers.

use oci_spec::runtime::LinuxSeccompOperator as CmpOp;

use super::SeccompError;
use super::bpf::{Asm, Cmp, Label, Op};
use super::profile::{AbiRules, Cond, Plan, RET_ENOSYS, Rule, Section};
use super::table::X32_SYSCALL_BIT;

/// Offset of `nr` in `struct seccomp_data`.
const OFF_NR: u32 = 0;
/// Offset of `arch`.
const OFF_ARCH: u32 = 4;
/// Offset of `args[0]`.
const OFF_ARGS: u32 = 16;

/// Offsets of the low and high 32-bit words of argument `index`.
fn arg_words(index: u8) -> (u32, u32) {
    let base = OFF_ARGS + 8 * u32::from(index);
    if cfg!(target_endian = "little") {
        (base, base + 4)
    } else {
        (base + 4, base)
    }
}

/// What a syscall number interval leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome<'a> {
    /// Return this value.
    Ret(u32),
    /// Test these conditional rules, in order, then fall back to default.
    Rules(&'a [Rule]),
}

/// Generates the whole program.
pub(super) fn generate(plan: &Plan) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut asm = Asm::default();
    asm.push(Op::Load(OFF_ARCH));
    let entries: Vec<Label> = plan.sections.iter().map(|_| asm.label()).collect();
    for (section, &entry) in plan.sections.iter().zip(&entries) {
        let next = asm.label();
        asm.jump(Cmp::Eq, section.audit(), entry, next);
        asm.place(next);
    }
    asm.push(Op::Ret(plan.bad_arch));
    for (section, &entry) in plan.sections.iter().zip(&entries) {
        asm.place(entry);
        asm.push(Op::Load(OFF_NR));
        match section {
            Section::Single(rules) => abi(&mut asm, plan, rules),
            Section::X86_64 { x86_64, x32 } => {
                let (native, compat) = (asm.label(), asm.label());
                asm.jump(Cmp::Ge, X32_SYSCALL_BIT, compat, native);
                for (label, side) in [(native, x86_64), (compat, x32)] {
                    asm.place(label);
                    match side {
                        Some(rules) => abi(&mut asm, plan, rules),
                        None => asm.push(Op::Ret(plan.bad_arch)),
                    }
                }
            }
        }
    }
    asm.assemble()
}

/// Code for one ABI; the syscall number is in A.
fn abi(asm: &mut Asm, plan: &Plan, rules: &AbiRules) {
    let intervals = intervals(plan.default, rules);
    tree(asm, plan, rules.abi.args64(), &intervals);
}

/// Cuts the number line into `(first number, outcome)` pieces, sorted,
/// the first starting at 0, neighbours having different outcomes.
fn intervals<'a>(default: u32, rules: &'a AbiRules) -> Vec<(u32, Outcome<'a>)> {
    let mut out: Vec<(u32, Outcome<'a>)> = Vec::new();
    let mut push = |start: u32, outcome: Outcome<'a>| match out.last() {
        Some((_, last)) if *last == outcome && matches!(outcome, Outcome::Ret(_)) => {}
        _ => out.push((start, outcome)),
    };
    // First number not covered yet; None once u32::MAX is.
    let mut next = Some(0u32);
    for (&nr, list) in &rules.syscalls {
        if let Some(n) = next
            && nr > n
        {
            push(n, Outcome::Ret(default));
        }
        let outcome = match list.iter().find(|r| r.conds.is_empty()) {
            Some(unconditional) => Outcome::Ret(unconditional.action),
            None => Outcome::Rules(list),
        };
        push(nr, outcome);
        next = nr.checked_add(1);
    }
    if let Some(n) = next {
        // The ENOSYS tail starts past every listed number, so past `n - 1`.
        match rules.enosys_above.and_then(|max| max.checked_add(1)) {
            Some(tail) => {
                if tail > n {
                    push(n, Outcome::Ret(default));
                }
                push(tail, Outcome::Ret(RET_ENOSYS));
            }
            None => push(n, Outcome::Ret(default)),
        }
    }
    out
}

/// Binary search over `intervals`, A holding the syscall number.
fn tree(asm: &mut Asm, plan: &Plan, args64: bool, intervals: &[(u32, Outcome<'_>)]) {
    match intervals {
        [] => asm.push(Op::Ret(plan.default)),
        [(_, outcome)] => leaf(asm, plan, args64, *outcome),
        _ => {
            let mid = intervals.len() / 2;
            let (low, high) = (asm.label(), asm.label());
            asm.jump(Cmp::Ge, intervals[mid].0, high, low);
            asm.place(low);
            tree(asm, plan, args64, &intervals[..mid]);
            asm.place(high);
            tree(asm, plan, args64, &intervals[mid..]);
        }
    }
}

fn leaf(asm: &mut Asm, plan: &Plan, args64: bool, outcome: Outcome<'_>) {
    match outcome {
        Outcome::Ret(value) => asm.push(Op::Ret(value)),
        Outcome::Rules(rules) => {
            for rule in rules {
                let fail = asm.label();
                for cond in &rule.conds {
                    condition(asm, args64, cond, fail);
                }
                asm.push(Op::Ret(rule.action));
                asm.place(fail);
            }
            asm.push(Op::Ret(plan.default));
        }
    }
}

/// Falls through when `cond` holds, jumps to `fail` otherwise.
fn condition(asm: &mut Asm, args64: bool, cond: &Cond, fail: Label) {
    let (lo_off, hi_off) = arg_words(cond.index);
    // Truncation is the point: the halves are compared one at a time, and
    // 32-bit ABIs compare only the low half, as libseccomp does.
    let (hi, lo) = ((cond.value >> 32) as u32, cond.value as u32);
    let pass = asm.label();
    match cond.op {
        CmpOp::ScmpCmpMaskedEq => {
            let (mask_hi, mask_lo) = (hi, lo);
            let (datum_hi, datum_lo) = ((cond.value_two >> 32) as u32, cond.value_two as u32);
            if args64 {
                masked_word(asm, hi_off, mask_hi, datum_hi, fail);
            }
            masked_word(asm, lo_off, mask_lo, datum_lo, fail);
        }
        op => {
            if args64 {
                high_word(asm, op, hi_off, hi, pass, fail);
            }
            asm.push(Op::Load(lo_off));
            // The last word decides; each op is a jump and its polarity.
            let (cmp, negate) = match op {
                CmpOp::ScmpCmpEq => (Cmp::Eq, false),
                CmpOp::ScmpCmpNe => (Cmp::Eq, true),
                CmpOp::ScmpCmpGt => (Cmp::Gt, false),
                CmpOp::ScmpCmpGe => (Cmp::Ge, false),
                CmpOp::ScmpCmpLt => (Cmp::Ge, true),
                CmpOp::ScmpCmpLe => (Cmp::Gt, true),
                CmpOp::ScmpCmpMaskedEq => (Cmp::Eq, false),
            };
            let (jt, jf) = if negate { (fail, pass) } else { (pass, fail) };
            asm.jump(cmp, lo, jt, jf);
        }
    }
    asm.place(pass);
}

/// The high-word step of a 64-bit comparison: decides when the high words
/// differ, falls through to the low word when they are equal.
fn high_word(asm: &mut Asm, op: CmpOp, off: u32, hi: u32, pass: Label, fail: Label) {
    let low = asm.label();
    asm.push(Op::Load(off));
    match op {
        CmpOp::ScmpCmpEq | CmpOp::ScmpCmpMaskedEq => asm.jump(Cmp::Eq, hi, low, fail),
        CmpOp::ScmpCmpNe => asm.jump(Cmp::Eq, hi, low, pass),
        CmpOp::ScmpCmpGt | CmpOp::ScmpCmpGe | CmpOp::ScmpCmpLt | CmpOp::ScmpCmpLe => {
            // Where a high word above or below the value's leads.
            let (above, below) = match op {
                CmpOp::ScmpCmpGt | CmpOp::ScmpCmpGe => (pass, fail),
                _ => (fail, pass),
            };
            let eq = asm.label();
            asm.jump(Cmp::Gt, hi, above, eq);
            asm.place(eq);
            asm.jump(Cmp::Eq, hi, low, below);
        }
    }
    asm.place(low);
}

/// `(word & mask) == datum` for one word: falls through if it holds,
/// jumps to `fail` if not.
fn masked_word(asm: &mut Asm, off: u32, mask: u32, datum: u32, fail: Label) {
    if mask == 0 {
        // Known without looking at the argument.
        if datum != 0 {
            asm.push(Op::Goto(fail));
        }
        return;
    }
    let ok = asm.label();
    asm.push(Op::Load(off));
    if mask != u32::MAX {
        asm.push(Op::And(mask));
    }
    asm.jump(Cmp::Eq, datum, ok, fail);
    asm.place(ok);
}
