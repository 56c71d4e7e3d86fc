//! Checks and conversions of `linux.resources` values shared by both
//! versions.
//!
//! Conventions (runc's): a missing value or 0 leaves the setting alone, -1
//! means "no limit"; any other negative number is refused here with the
//! field named, before anything is written.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::{CgroupError, fs};

/// A limit as the config asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Limit {
    /// Not asked for: leave the cgroup's value alone.
    Unset,
    /// -1: no limit.
    Max,
    /// A positive amount.
    Value(u64),
}

impl Limit {
    /// Reads an `int64` limit field.
    pub(super) fn parse(field: &'static str, value: Option<i64>) -> Result<Limit, CgroupError> {
        match value {
            None | Some(0) => Ok(Limit::Unset),
            Some(-1) => Ok(Limit::Max),
            Some(v) => u64::try_from(v)
                .map(Limit::Value)
                .map_err(|_| invalid(field, v, "only -1 (no limit) or a positive number is valid")),
        }
    }

    pub(super) fn is_set(self) -> bool {
        self != Limit::Unset
    }

    /// The value for a v1 file, where -1 lifts the limit.
    pub(super) fn v1(self) -> Option<String> {
        match self {
            Limit::Unset => None,
            Limit::Max => Some("-1".to_owned()),
            Limit::Value(v) => Some(v.to_string()),
        }
    }

    /// The value for a v2 file, where `max` lifts the limit.
    pub(super) fn v2(self) -> Option<String> {
        match self {
            Limit::Unset => None,
            Limit::Max => Some("max".to_owned()),
            Limit::Value(v) => Some(v.to_string()),
        }
    }
}

/// A `major:minor` pair of a block device setting.
pub(super) fn device(field: &'static str, major: i64, minor: i64) -> Result<String, CgroupError> {
    let check = |n: i64| {
        u32::try_from(n).map_err(|_| {
            invalid(
                field,
                format!("{major}:{minor}"),
                "device numbers must be between 0 and 4294967295",
            )
        })
    };
    Ok(format!("{}:{}", check(major)?, check(minor)?))
}

/// A hugepage size such as `2MB` or `1GB`; it becomes part of a file
/// name, so nothing else is let through.
pub(super) fn hugepage_size(size: &str) -> Result<&str, CgroupError> {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "KB" | "MB" | "GB" | "TB" | "PB");
    if ok {
        Ok(size)
    } else {
        Err(invalid(
            "hugepageLimits.pageSize",
            size,
            "expected a size such as 2MB or 1GB",
        ))
    }
}

/// A name written inside a cgroup file line (network interface, RDMA
/// device): no whitespace, which would start another field or line.
pub(super) fn word<'a>(field: &'static str, name: &'a str) -> Result<&'a str, CgroupError> {
    if name.is_empty() || name.contains(char::is_whitespace) || name.contains('\0') {
        Err(invalid(
            field,
            name,
            "must be a non-empty name without whitespace",
        ))
    } else {
        Ok(name)
    }
}

/// cpu.shares (v1, 2..=262144, default 1024) to cpu.weight (v2,
/// 1..=10000, default 100), with the quadratic mapping runc and crun use
/// since 2025: it keeps 2 -> 1, 1024 -> 100 and 262144 -> 10000 while
/// spreading common share values better than the old linear one.
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            #[allow(clippy::cast_precision_loss)] // shares < 2^18 is exact
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 1..=10000
            let weight = 10f64.powf(exponent).ceil() as u64;
            weight
        }
    }
}

/// blkio.weight (10..=1000) to io.weight (1..=10000), linearly (runc).
pub(super) fn blkio_to_io_weight(weight: u16) -> u64 {
    match weight {
        0 => 0,
        w => 1 + (u64::from(w).saturating_sub(10)) * 9999 / 990,
    }
}

/// The v2 memory.swap.max for OCI's memory+swap `swap` given the memory
/// `limit`, as runc converts it.
pub(super) fn swap_v2(swap: Limit, limit: Limit) -> Result<Limit, CgroupError> {
    match (swap, limit) {
        // Lifting the memory limit lifts the swap limit too, as in v1.
        (Limit::Unset, Limit::Max) => Ok(Limit::Max),
        (Limit::Unset | Limit::Max, _) => Ok(swap),
        (Limit::Value(s), Limit::Max) => Ok(Limit::Value(s)),
        (Limit::Value(s), Limit::Unset) => Err(invalid(
            "memory.swap",
            s,
            "a swap limit needs a memory limit on cgroup v2",
        )),
        (Limit::Value(s), Limit::Value(m)) if s < m => Err(invalid(
            "memory.swap",
            s,
            "memory+swap must not be less than memory.limit",
        )),
        // Equal values mean no swap at all: an explicit 0.
        (Limit::Value(s), Limit::Value(m)) => Ok(if s == m {
            Limit::Value(0)
        } else {
            Limit::Value(s - m)
        }),
    }
}

/// The rdma.max line for one device (same format in both versions).
pub(super) fn rdma_line(
    device: &str,
    handles: Option<u32>,
    objects: Option<u32>,
) -> Result<Option<String>, CgroupError> {
    let device = word("rdma", device)?;
    let mut line = device.to_owned();
    if let Some(h) = handles {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = objects {
        line.push_str(&format!(" hca_object={o}"));
    }
    Ok((handles.is_some() || objects.is_some()).then_some(line))
}

/// With `checkBeforeUpdate`, refuses a memory limit that is not above
/// what the cgroup already uses (read from `usage_file` in `dir`), rather
/// than let the kernel reclaim or OOM-kill to meet it.
pub(super) fn check_above_usage(
    m: &LinuxMemory,
    limit: Limit,
    dir: &Path,
    usage_file: &str,
) -> Result<(), CgroupError> {
    if let (Some(true), Limit::Value(new)) = (m.check_before_update(), limit) {
        let usage = fs::read_u64(dir, usage_file)?;
        if usage >= new {
            return Err(invalid(
                "memory.limit",
                new,
                &format!("it is not above the current usage of {usage} bytes"),
            ));
        }
    }
    Ok(())
}

pub(super) fn invalid(field: &'static str, value: impl ToString, reason: &str) -> CgroupError {
    CgroupError::InvalidResource {
        field,
        value: value.to_string(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(
            Limit::parse("memory.limit", None).expect("ok"),
            Limit::Unset
        );
        assert_eq!(
            Limit::parse("memory.limit", Some(0)).expect("ok"),
            Limit::Unset
        );
        assert_eq!(
            Limit::parse("memory.limit", Some(-1))
                .expect("ok")
                .v2()
                .as_deref(),
            Some("max")
        );
        assert_eq!(
            Limit::parse("memory.limit", Some(-1))
                .expect("ok")
                .v1()
                .as_deref(),
            Some("-1")
        );
        assert_eq!(
            Limit::parse("memory.limit", Some(5)).expect("ok"),
            Limit::Value(5)
        );
        let e = Limit::parse("memory.limit", Some(-2))
            .expect_err("negative")
            .to_string();
        assert_eq!(
            e,
            "invalid linux.resources.memory.limit \"-2\": only -1 (no limit) or a positive number is valid"
        );
        assert!(Limit::parse("pids.limit", Some(i64::MIN)).is_err());
    }

    #[test]
    fn shares_to_weight_matches_runc() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (10, 4),
            (100, 17),
            (512, 59),
            (1024, 100),
            (2048, 174),
            (262_143, 10_000),
            (262_144, 10_000),
            (1 << 20, 10_000),
        ];
        for (shares, weight) in cases {
            assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
        }
    }

    #[test]
    fn blkio_weight_to_io_weight() {
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        // Below the v1 range the conversion floors instead of wrapping.
        assert_eq!(blkio_to_io_weight(5), 1);
    }

    #[test]
    fn swap_conversion() {
        use Limit::*;
        assert_eq!(swap_v2(Unset, Max).expect("ok"), Max);
        assert_eq!(swap_v2(Unset, Value(10)).expect("ok"), Unset);
        assert_eq!(swap_v2(Max, Value(10)).expect("ok"), Max);
        assert_eq!(swap_v2(Value(30), Value(10)).expect("ok"), Value(20));
        assert_eq!(swap_v2(Value(10), Value(10)).expect("ok"), Value(0));
        assert_eq!(swap_v2(Value(30), Max).expect("ok"), Value(30));
        assert!(
            swap_v2(Value(5), Value(10))
                .expect_err("less")
                .to_string()
                .contains("must not be less")
        );
        assert!(
            swap_v2(Value(5), Unset)
                .expect_err("no limit")
                .to_string()
                .contains("needs a memory limit")
        );
    }

    #[test]
    fn names_and_sizes() {
        assert_eq!(hugepage_size("2MB").expect("ok"), "2MB");
        assert_eq!(hugepage_size("64KB").expect("ok"), "64KB");
        for bad in ["", "MB", "2mb", "2MB/../x", "../2MB", "2 MB", "2XB"] {
            assert!(hugepage_size(bad).is_err(), "{bad}");
        }
        assert!(word("network.priorities.name", "eth0").is_ok());
        assert!(word("network.priorities.name", "eth0 5\nlo").is_err());
        assert!(word("network.priorities.name", "").is_err());
        assert_eq!(device("blockIO.weightDevice", 8, 16).expect("ok"), "8:16");
        assert!(
            device("blockIO.weightDevice", -8, 16)
                .expect_err("negative")
                .to_string()
                .contains("-8:16")
        );
    }
}
