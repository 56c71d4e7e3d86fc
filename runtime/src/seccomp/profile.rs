//! `linux.seccomp` -> a [`Plan`]: per ABI, which rules apply to which
//! syscall number. The semantics (runc + libseccomp) are listed in the
//! parent module's docs; this is where all of them are decided, so code
//! generation only has to follow the plan.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use super::SeccompError;
use super::arch::{self, Target};
use super::table::Abi;

/// `SECCOMP_RET_KILL_PROCESS`
pub(super) const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_KILL_THREAD`
pub(super) const RET_KILL_THREAD: u32 = 0;
/// `SECCOMP_RET_TRAP`
pub(super) const RET_TRAP: u32 = 0x0003_0000;
/// `SECCOMP_RET_ERRNO`
pub(super) const RET_ERRNO: u32 = 0x0005_0000;
/// `SECCOMP_RET_USER_NOTIF`
pub(super) const RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// `SECCOMP_RET_TRACE`
pub(super) const RET_TRACE: u32 = 0x7ff0_0000;
/// `SECCOMP_RET_LOG`
pub(super) const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`
pub(super) const RET_ALLOW: u32 = 0x7fff_0000;

/// `SECCOMP_FILTER_FLAG_TSYNC`
pub(super) const FLAG_TSYNC: u32 = 1;
/// `SECCOMP_FILTER_FLAG_LOG`
pub(super) const FLAG_LOG: u32 = 1 << 1;
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW`
pub(super) const FLAG_SPEC_ALLOW: u32 = 1 << 2;
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`
pub(super) const FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_FILTER_FLAG_TSYNC_ESRCH`
pub(super) const FLAG_TSYNC_ESRCH: u32 = 1 << 4;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`
pub(super) const FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

const ENOSYS: u32 = 38;
const EPERM: u32 = 1;

/// One comparison on a syscall argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cond {
    /// Argument index, 0..=5.
    pub index: u8,
    /// The comparison.
    pub op: LinuxSeccompOperator,
    /// The value (the mask for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// The datum for `SCMP_CMP_MASKED_EQ`; unused otherwise.
    pub value_two: u64,
}

/// Conditions that must all hold for `action` to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rule {
    /// `SECCOMP_RET_*` value.
    pub action: u32,
    /// ANDed; empty means unconditional.
    pub conds: Vec<Cond>,
}

/// What one ABI does with each syscall number.
#[derive(Debug)]
pub(super) struct AbiRules {
    /// The ABI.
    pub abi: Abi,
    /// Numbers above this return `ENOSYS`.
    pub enosys_above: Option<u32>,
    /// Rules per number, in profile order.
    pub syscalls: BTreeMap<u32, Vec<Rule>>,
}

/// The filter code for one `AUDIT_ARCH_*` value.
#[derive(Debug)]
pub(super) enum Section {
    /// One ABI has this audit arch.
    Single(AbiRules),
    /// `AUDIT_ARCH_X86_64`, split on `__X32_SYSCALL_BIT`; a missing side
    /// gets the bad-arch action.
    X86_64 {
        /// Numbers without the x32 bit.
        x86_64: Option<AbiRules>,
        /// Numbers with it.
        x32: Option<AbiRules>,
    },
}

impl Section {
    /// The `AUDIT_ARCH_*` value this section handles.
    pub(super) fn audit(&self) -> u32 {
        match self {
            Section::Single(rules) => arch::audit_arch(rules.abi),
            Section::X86_64 { .. } => arch::AUDIT_ARCH_X86_64,
        }
    }
}

/// Everything code generation and installation need.
#[derive(Debug)]
pub(super) struct Plan {
    /// `SECCOMP_RET_*` for unmatched calls.
    pub default: u32,
    /// `SECCOMP_RET_*` for architectures not in the filter.
    pub bad_arch: u32,
    /// Native ABI's section first.
    pub sections: Vec<Section>,
    /// `SECCOMP_FILTER_FLAG_*` for seccomp(2).
    pub flags: u32,
    /// `SPEC_ALLOW` was added by default and may be dropped on `EINVAL`.
    pub implicit_spec_allow: bool,
    /// Some rule uses `SCMP_ACT_NOTIFY`.
    pub needs_listener: bool,
}

/// Builds the plan for a profile, `native` being the host ABI.
pub(super) fn plan(spec: &LinuxSeccomp, native: Abi) -> Result<Plan, SeccompError> {
    let default_action = spec.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::NotifyDefault);
    }
    let default = action_value(default_action, spec.default_errno_ret(), || {
        "linux.seccomp.defaultErrnoRet".to_owned()
    })?;

    // ABIs in the filter (native first) and those listed, which get the
    // ENOSYS treatment.
    let mut abis = vec![native];
    let mut listed = Vec::new();
    for &a in spec.architectures().iter().flatten() {
        match arch::target(a, native) {
            Target::Abi(abi) => {
                if !abis.contains(&abi) {
                    abis.push(abi);
                }
                if !listed.contains(&abi) {
                    listed.push(abi);
                }
            }
            Target::Untabled { name, audit } => tracing::warn!(
                arch = name,
                audit = format_args!("{audit:#x}"),
                "no syscall table for seccomp architecture; its calls get the bad-arch action"
            ),
        }
    }

    let mut per_abi: BTreeMap<Abi, BTreeMap<u32, Vec<Rule>>> =
        abis.iter().map(|&a| (a, BTreeMap::new())).collect();
    let mut highest: BTreeMap<Abi, u32> = BTreeMap::new();
    let mut needs_listener = false;

    for (ri, sc) in spec.syscalls().iter().flatten().enumerate() {
        let action = action_value(sc.action(), sc.errno_ret(), || {
            format!("linux.seccomp.syscalls[{ri}].errnoRet")
        })?;
        let rules = rules_of(ri, action, sc.args().as_deref().unwrap_or_default())?;
        for (ni, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                return Err(SeccompError::EmptyName { rule: ri, name: ni });
            }
            if sc.action() == LinuxSeccompAction::ScmpActNotify && name == "write" {
                return Err(SeccompError::NotifyWrite { rule: ri });
            }
        }
        for name in sc.names() {
            for &abi in &listed {
                if let Some(nr) = abi.resolve(name) {
                    let h = highest.entry(abi).or_insert(nr);
                    *h = (*h).max(nr);
                }
            }
        }
        if action == default {
            tracing::debug!(rule = ri, "seccomp rule has the default action; skipped");
            continue;
        }
        needs_listener |= action == RET_USER_NOTIF;
        for name in sc.names() {
            let mut known = false;
            for (abi, table) in per_abi.iter_mut() {
                if let Some(nr) = abi.resolve(name) {
                    known = true;
                    table.entry(nr).or_default().extend(rules.iter().cloned());
                }
            }
            if !known {
                tracing::debug!(syscall = %name, "unknown seccomp syscall ignored");
            }
        }
    }

    let allow_like = matches!(
        default_action,
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    );
    let mut rules_for = |abi: Abi| AbiRules {
        abi,
        enosys_above: if allow_like {
            None
        } else {
            highest.get(&abi).copied()
        },
        syscalls: per_abi.remove(&abi).unwrap_or_default(),
    };
    let mut sections = Vec::new();
    let mut x86_64_done = false;
    for &abi in &abis {
        match abi {
            Abi::X86_64 | Abi::X32 if x86_64_done => {}
            Abi::X86_64 | Abi::X32 => {
                x86_64_done = true;
                sections.push(Section::X86_64 {
                    x86_64: abis.contains(&Abi::X86_64).then(|| rules_for(Abi::X86_64)),
                    x32: abis.contains(&Abi::X32).then(|| rules_for(Abi::X32)),
                });
            }
            _ => sections.push(Section::Single(rules_for(abi))),
        }
    }

    let (flags, implicit_spec_allow) = flags(spec.flags().as_deref(), needs_listener)?;
    Ok(Plan {
        default,
        bad_arch: RET_KILL_THREAD,
        sections,
        flags,
        implicit_spec_allow,
        needs_listener,
    })
}

/// The `SECCOMP_RET_*` value of an action; `errno_ret` feeds ERRNO and
/// TRACE and defaults to `EPERM` for both, as in runc.
fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: impl Fn() -> String,
) -> Result<u32, SeccompError> {
    let data = || -> Result<u32, SeccompError> {
        match errno_ret {
            None => Ok(EPERM),
            Some(value) if value <= 0xffff => Ok(value),
            Some(value) => Err(SeccompError::ReturnData {
                field: field(),
                value,
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data()?,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data()?,
        LinuxSeccompAction::ScmpActNotify => RET_USER_NOTIF,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
    })
}

/// The rules one profile entry gives each of its syscalls.
fn rules_of(
    ri: usize,
    action: u32,
    args: &[oci_spec::runtime::LinuxSeccompArg],
) -> Result<Vec<Rule>, SeccompError> {
    let mut conds = Vec::with_capacity(args.len());
    for (ai, arg) in args.iter().enumerate() {
        let index =
            u8::try_from(arg.index())
                .ok()
                .filter(|i| *i <= 5)
                .ok_or(SeccompError::ArgIndex {
                    rule: ri,
                    arg: ai,
                    index: arg.index(),
                })?;
        conds.push(Cond {
            index,
            op: arg.op(),
            value: arg.value(),
            value_two: arg.value_two().unwrap_or(0),
        });
    }
    let shared_index = conds
        .iter()
        .enumerate()
        .any(|(i, c)| conds[..i].iter().any(|d| d.index == c.index));
    Ok(if shared_index {
        conds
            .into_iter()
            .map(|c| Rule {
                action,
                conds: vec![c],
            })
            .collect()
    } else {
        vec![Rule { action, conds }]
    })
}

/// seccomp(2) flags for the profile's `flags`, and whether `SPEC_ALLOW`
/// was implied rather than asked for.
fn flags(
    requested: Option<&[LinuxSeccompFilterFlag]>,
    needs_listener: bool,
) -> Result<(u32, bool), SeccompError> {
    let mut flags = 0;
    let implicit = requested.is_none();
    if implicit {
        flags |= FLAG_SPEC_ALLOW;
    }
    for flag in requested.unwrap_or_default() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                if !needs_listener {
                    return Err(SeccompError::FlagWithoutNotify {
                        flag: "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
                    });
                }
                FLAG_WAIT_KILLABLE_RECV
            }
        };
    }
    if needs_listener {
        flags |= FLAG_NEW_LISTENER;
        // The kernel refuses TSYNC with NEW_LISTENER unless a failed sync
        // is reported as ESRCH (the return value is taken by the fd).
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    }
    Ok((flags, implicit))
}

/// The `ENOSYS` return used above the highest known syscall.
pub(super) const RET_ENOSYS: u32 = RET_ERRNO | ENOSYS;
