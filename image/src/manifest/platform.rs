//! Platforms (`os/arch[/variant]`) as the OCI image index and docker's
//! `--platform` write them, with containerd's normalisation (`x86_64` is
//! `amd64`, `aarch64` is `arm64`, arm64's default variant is `v8`) so
//! a Graviton host selects the arm64 entry of an index.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A platform: an index entry's, or the one a caller wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU architecture in Go's names, e.g. `amd64`, `arm64`.
    pub architecture: String,
    /// Variant, e.g. `v8` for arm64, `v7` for arm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features (Windows).
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

/// A `--platform` value that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {value:?}: {reason} (expected os/arch[/variant], e.g. linux/arm64)")]
pub struct PlatformError {
    /// The value given.
    pub value: String,
    /// Why it is refused.
    pub reason: &'static str,
}

impl Platform {
    /// A platform of `os` and `architecture`, normalised.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let (architecture, variant) = normalize_arch(architecture, variant);
        Self {
            os: os.to_ascii_lowercase(),
            architecture,
            variant,
            os_version: None,
            os_features: Vec::new(),
        }
    }

    /// The platform this process runs on (`linux/amd64`, `linux/arm64/v8`, …).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            other => other,
        };
        // 32-bit arm hosts: the variant would need /proc/cpuinfo; v7 is
        // what every current distribution targets.
        let variant = (arch == "arm").then_some("v7");
        Self::new(std::env::consts::OS, arch, variant)
    }

    /// Parses `os[/arch[/variant]]` (docker's `--platform`); a bare
    /// architecture means linux.
    pub fn parse(s: &str) -> Result<Self, PlatformError> {
        let err = |reason| PlatformError {
            value: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 3 {
            return Err(err("too many components"));
        }
        for p in &parts {
            if p.is_empty() {
                return Err(err("a component is empty"));
            }
            if p.starts_with('.') {
                return Err(err("a component starts with a dot"));
            }
            if !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                return Err(err(
                    "a component holds characters other than [A-Za-z0-9_.-]",
                ));
            }
        }
        let known_os = |o: &str| {
            matches!(
                o.to_ascii_lowercase().as_str(),
                "linux"
                    | "windows"
                    | "darwin"
                    | "freebsd"
                    | "netbsd"
                    | "openbsd"
                    | "solaris"
                    | "illumos"
                    | "aix"
                    | "android"
                    | "ios"
                    | "plan9"
                    | "js"
                    | "wasip1"
                    | "dragonfly"
            )
        };
        Ok(match parts.as_slice() {
            [one] if known_os(one) => {
                let host = Self::host();
                Self::new(one, &host.architecture, host.variant.as_deref())
            }
            [arch] => Self::new("linux", arch, None),
            [os, arch] => Self::new(os, arch, None),
            [os, arch, variant] => Self::new(os, arch, Some(variant)),
            _ => unreachable!("split yields 1 to 3 parts here"),
        })
    }

    /// How well `candidate` (an index entry) serves a request for `self`:
    /// `None` if it cannot run, higher is better. An exact variant beats
    /// an older compatible arm variant, which beats an entry without one.
    pub fn match_score(&self, candidate: &Platform) -> Option<u8> {
        let c = Platform::new(
            &candidate.os,
            &candidate.architecture,
            candidate.variant.as_deref(),
        );
        if c.os != self.os || c.architecture != self.architecture {
            return None;
        }
        match (&self.variant, &c.variant) {
            (a, b) if a == b => Some(10),
            (Some(_), None) => Some(5),
            (None, Some(_)) => Some(4),
            (Some(want), Some(have))
                if self.architecture == "arm" || self.architecture == "arm64" =>
            {
                // v8 can run v7 and v6 images (arm); lower is compatible.
                let (w, h) = (arm_version(want)?, arm_version(have)?);
                (h <= w).then_some(h.min(9))
            }
            _ => None,
        }
    }

    /// True if an image for `candidate` runs on `self`.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.match_score(candidate).is_some()
    }
}

fn arm_version(v: &str) -> Option<u8> {
    v.strip_prefix('v').and_then(|n| n.parse().ok())
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(|v| v.to_ascii_lowercase());
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".into(),
            // amd64's microarchitecture levels are variants too; v1 is
            // the baseline and means "no variant".
            variant.filter(|v| v != "v1"),
        ),
        "i386" | "i686" | "386" => ("386".into(), None),
        "aarch64" | "arm64" => (
            "arm64".into(),
            match variant.as_deref() {
                None | Some("8") | Some("v8") => Some("v8".into()),
                Some(v) => Some(v.to_string()),
            },
        ),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => (
            "arm".into(),
            match variant.as_deref() {
                None | Some("7") => Some("v7".into()),
                Some("5") => Some("v5".into()),
                Some("6") => Some("v6".into()),
                Some("8") => Some("v8".into()),
                Some(v) => Some(v.to_string()),
            },
        ),
        _ => (arch, variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}
