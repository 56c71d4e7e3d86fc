//! Validated container ids.

use crate::error::{Error, Result};

/// A container id: 1 to 1024 characters of `[A-Za-z0-9_+.-]`, not
/// starting with `.` or `-`, so it is always a safe single path component
/// and a safe cgroup name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Validates an id.
    pub fn new(id: &str) -> Result<Self> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '.' | '-');
        if id.is_empty()
            || id.len() > 1024
            || !id.chars().all(ok_char)
            || id.starts_with(['.', '-'])
        {
            return Err(Error::InvalidId(id.to_string()));
        }
        Ok(ContainerId(id.to_string()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ContainerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ContainerId::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3+x", "0123456789abcdef"] {
            ContainerId::new(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "-rf",
            "a b",
            "x\0y",
            &"a".repeat(1025),
        ] {
            assert!(ContainerId::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
