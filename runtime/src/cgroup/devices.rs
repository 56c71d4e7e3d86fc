//! Device access rules (`linux.resources.devices`) and a model of the v1
//! devices controller that both versions share.
//!
//! Rules apply in order, as writes to devices.allow / devices.deny do on a
//! fresh v1 cgroup: a type-`a` rule resets to allow-all or deny-all, and
//! every other rule adds an exception to, or removes one from, the current
//! default. The [`Emulator`] keeps that state, so v1 can write only the
//! difference to a live cgroup and v2 can compile the final state into an
//! eBPF program whose answer is the same. Like runc, a rule that would only
//! punch a hole in a wildcard exception is refused, because v1 would
//! silently ignore it.

use std::collections::BTreeMap;
use std::fmt;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;

/// Block or character device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum DevType {
    Block,
    Char,
}

/// Access bits, as in devices.allow: read, write, mknod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Access(u8);

impl Access {
    pub(super) const READ: Access = Access(1);
    pub(super) const WRITE: Access = Access(2);
    pub(super) const MKNOD: Access = Access(4);
    pub(super) const ALL: Access = Access(7);

    fn parse(s: &str) -> Option<Access> {
        s.chars().try_fold(Access(0), |acc, c| match c {
            'r' => Some(Access(acc.0 | 1)),
            'w' => Some(Access(acc.0 | 2)),
            'm' => Some(Access(acc.0 | 4)),
            _ => None,
        })
    }

    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(super) fn contains(self, other: Access) -> bool {
        self.0 & other.0 == other.0
    }

    pub(super) fn union(self, other: Access) -> Access {
        Access(self.0 | other.0)
    }

    fn minus(self, other: Access) -> Access {
        Access(self.0 & !other.0)
    }

    pub(super) fn intersects(self, other: Access) -> bool {
        self.0 & other.0 != 0
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.contains(bit) {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// What an exception matches; `None` numbers are wildcards. Ordered by
/// (major, minor, type), wildcards first, so output is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Meta {
    pub(super) major: Option<u32>,
    pub(super) minor: Option<u32>,
    pub(super) kind: DevType,
}

/// One device rule, in application order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// `a`: every device, every access; resets the default.
    All { allow: bool },
    /// An exception for matching devices.
    Dev {
        meta: Meta,
        access: Access,
        allow: bool,
    },
}

impl Rule {
    pub(super) fn allow(&self) -> bool {
        match *self {
            Rule::All { allow } | Rule::Dev { allow, .. } => allow,
        }
    }
}

/// The rule in devices.allow / devices.deny syntax.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::All { .. } => f.write_str("a"),
            Rule::Dev { meta, access, .. } => {
                let t = match meta.kind {
                    DevType::Block => 'b',
                    DevType::Char => 'c',
                };
                let num = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |n| n.to_string());
                write!(f, "{t} {}:{} {access}", num(meta.major), num(meta.minor))
            }
        }
    }
}

/// Parses `linux.resources.devices`. A missing type is `a`, a missing or
/// -1 number a wildcard; access must be given (as runc requires).
pub(super) fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>, CgroupError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| parse_rule(i, r))
        .collect()
}

fn parse_rule(index: usize, r: &LinuxDeviceCgroup) -> Result<Rule, CgroupError> {
    let shown = || format!("#{index} ({r})");
    let reject = |reason: String| CgroupError::DeviceRule {
        rule: shown(),
        reason,
    };
    let access = r.access().as_deref().unwrap_or("");
    if access.is_empty() {
        return Err(reject(
            "access is empty; give a combination of r, w and m".into(),
        ));
    }
    let access = Access::parse(access).ok_or_else(|| {
        reject(format!(
            "access {access:?} has letters other than r, w and m"
        ))
    })?;
    let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => return Ok(Rule::All { allow: r.allow() }),
        LinuxDeviceType::B => DevType::Block,
        LinuxDeviceType::C => DevType::Char,
        t @ (LinuxDeviceType::U | LinuxDeviceType::P) => {
            return Err(reject(format!(
                "type {:?} cannot be used in a cgroup rule (only a, b and c)",
                t.as_str()
            )));
        }
    };
    let number = |what: &str, n: Option<i64>| match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| reject(format!("{what} number {n} is out of range"))),
    };
    Ok(Rule::Dev {
        meta: Meta {
            major: number("major", r.major())?,
            minor: number("minor", r.minor())?,
            kind,
        },
        access,
        allow: r.allow(),
    })
}

/// The state of a devices cgroup: a default and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Emulator {
    default_allow: bool,
    exceptions: BTreeMap<Meta, Access>,
}

impl Emulator {
    /// The state after applying `rules` to a deny-all cgroup: a container
    /// gets no device unless a rule allows it.
    pub(super) fn from_rules(rules: &[Rule]) -> Result<Self, CgroupError> {
        let mut emu = Emulator::default();
        for rule in rules {
            emu.apply(rule)?;
        }
        Ok(emu)
    }

    /// The state a v1 devices.list describes. An allow-all cgroup lists
    /// only `a *:* rwm`, hiding its deny exceptions; see [`transition`].
    ///
    /// [`transition`]: Emulator::transition
    pub(super) fn from_list(text: &str) -> Option<Self> {
        let mut emu = Emulator::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut it = line.split_whitespace();
            let (t, nums, access) = (it.next()?, it.next()?, Access::parse(it.next()?)?);
            let (major, minor) = nums.split_once(':')?;
            let num = |s: &str| {
                if s == "*" {
                    Some(None)
                } else {
                    s.parse().ok().map(Some)
                }
            };
            let kind = match t {
                "a" => {
                    emu = Emulator {
                        default_allow: true,
                        exceptions: BTreeMap::new(),
                    };
                    continue;
                }
                "b" => DevType::Block,
                "c" => DevType::Char,
                _ => return None,
            };
            let meta = Meta {
                major: num(major)?,
                minor: num(minor)?,
                kind,
            };
            emu.add(meta, access);
        }
        Some(emu)
    }

    /// Whether devices not matched by an exception are allowed.
    pub(super) fn default_allow(&self) -> bool {
        self.default_allow
    }

    /// The exceptions; each has the opposite effect of the default.
    pub(super) fn exceptions(&self) -> impl Iterator<Item = (Meta, Access)> + '_ {
        self.exceptions.iter().map(|(m, a)| (*m, *a))
    }

    /// Applies one rule as the kernel's v1 devices controller would.
    pub(super) fn apply(&mut self, rule: &Rule) -> Result<(), CgroupError> {
        match *rule {
            Rule::All { allow } => {
                *self = Emulator {
                    default_allow: allow,
                    exceptions: BTreeMap::new(),
                };
                Ok(())
            }
            Rule::Dev {
                meta,
                access,
                allow,
            } => {
                if allow == self.default_allow {
                    self.remove(rule, meta, access)
                } else {
                    self.add(meta, access);
                    Ok(())
                }
            }
        }
    }

    fn add(&mut self, meta: Meta, access: Access) {
        let entry = self.exceptions.entry(meta).or_default();
        *entry = entry.union(access);
    }

    fn remove(&mut self, rule: &Rule, meta: Meta, access: Access) -> Result<(), CgroupError> {
        // v1 only removes exceptions that match exactly; removing part of a
        // wider wildcard exception would be silently ignored there, so it is
        // refused here rather than leave a false sense of security.
        let wider = [
            Meta {
                major: None,
                ..meta
            },
            Meta {
                minor: None,
                ..meta
            },
            Meta {
                major: None,
                minor: None,
                ..meta
            },
        ];
        for w in wider.iter().filter(|w| **w != meta) {
            if let Some(a) = self.exceptions.get(w).filter(|a| a.intersects(access)) {
                let wide = Rule::Dev {
                    meta: *w,
                    access: *a,
                    allow: !rule.allow(),
                };
                return Err(CgroupError::DeviceRule {
                    rule: rule.to_string(),
                    reason: format!(
                        "it would punch a hole in the wildcard rule {wide}, which cgroup v1 cannot do"
                    ),
                });
            }
        }
        if let Some(a) = self.exceptions.get_mut(&meta) {
            *a = a.minus(access);
            if a.is_empty() {
                self.exceptions.remove(&meta);
            }
        }
        Ok(())
    }

    /// The rules that take a v1 cgroup from `self` (its current state) to
    /// `target` with the least disruption: a reset only when the default
    /// changes (or the current deny exceptions are unknown), then removal
    /// of stale exceptions, then the new ones.
    pub(super) fn transition(&self, target: &Emulator) -> Vec<Rule> {
        let mut out = Vec::new();
        let mut old = &self.exceptions;
        let empty = BTreeMap::new();
        if self.default_allow || self.default_allow != target.default_allow {
            out.push(Rule::All {
                allow: target.default_allow,
            });
            old = &empty;
        }
        for (meta, access) in old {
            let dropped = access.minus(target.exceptions.get(meta).copied().unwrap_or_default());
            if !dropped.is_empty() {
                out.push(Rule::Dev {
                    meta: *meta,
                    access: dropped,
                    allow: target.default_allow,
                });
            }
        }
        for (meta, access) in &target.exceptions {
            let gained = access.minus(old.get(meta).copied().unwrap_or_default());
            if !gained.is_empty() {
                out.push(Rule::Dev {
                    meta: *meta,
                    access: gained,
                    allow: !target.default_allow,
                });
            }
        }
        out
    }
}

/// The device rules runc adds to every container, after the configured
/// ones (so they win): mknod of any device, /dev/null, /dev/random,
/// /dev/full, /dev/tty, /dev/zero, /dev/urandom, /dev/pts/*, /dev/ptmx.
/// The runtime appends these to `linux.resources.devices` before
/// [`Manager::apply`](super::Manager::apply) to behave as runc does.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let (b, c) = (LinuxDeviceType::B, LinuxDeviceType::C);
    vec![
        rule(true, c, None, None, "m"),
        rule(true, b, None, None, "m"),
        rule(true, c, Some(1), Some(3), "rwm"),
        rule(true, c, Some(1), Some(8), "rwm"),
        rule(true, c, Some(1), Some(7), "rwm"),
        rule(true, c, Some(5), Some(0), "rwm"),
        rule(true, c, Some(1), Some(5), "rwm"),
        rule(true, c, Some(1), Some(9), "rwm"),
        rule(true, c, Some(136), None, "rwm"),
        rule(true, c, Some(5), Some(2), "rwm"),
    ]
}

/// One `linux.resources.devices` entry.
pub(super) fn rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow)
        .set_typ(Some(typ))
        .set_major(major)
        .set_minor(minor)
        .set_access(Some(access.to_owned()));
    r
}

#[cfg(test)]
mod tests;
