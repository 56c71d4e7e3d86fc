//! The instruction words, the flags each one accepts, and the
//! "did you mean" suggestion for a near miss.

use std::fmt;
use std::str::FromStr;

/// A Dockerfile instruction word. Case-insensitive in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Keyword {
    /// `ADD`
    Add,
    /// `ARG`
    Arg,
    /// `CMD`
    Cmd,
    /// `COPY`
    Copy,
    /// `ENTRYPOINT`
    Entrypoint,
    /// `ENV`
    Env,
    /// `EXPOSE`
    Expose,
    /// `FROM`
    From,
    /// `HEALTHCHECK`
    Healthcheck,
    /// `LABEL`
    Label,
    /// `MAINTAINER` (deprecated, still accepted)
    Maintainer,
    /// `ONBUILD`
    Onbuild,
    /// `RUN`
    Run,
    /// `SHELL`
    Shell,
    /// `STOPSIGNAL`
    Stopsignal,
    /// `USER`
    User,
    /// `VOLUME`
    Volume,
    /// `WORKDIR`
    Workdir,
}

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    String,
    /// `--mount=...`, any number of times.
    List,
}

const ALL: [Keyword; 18] = [
    Keyword::Add,
    Keyword::Arg,
    Keyword::Cmd,
    Keyword::Copy,
    Keyword::Entrypoint,
    Keyword::Env,
    Keyword::Expose,
    Keyword::From,
    Keyword::Healthcheck,
    Keyword::Label,
    Keyword::Maintainer,
    Keyword::Onbuild,
    Keyword::Run,
    Keyword::Shell,
    Keyword::Stopsignal,
    Keyword::User,
    Keyword::Volume,
    Keyword::Workdir,
];

impl Keyword {
    /// The canonical upper-case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::Stopsignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    /// The flags this instruction accepts (names without dashes).
    pub fn flags(self) -> &'static [(&'static str, FlagKind)] {
        use FlagKind::{Bool, List, String as Str};
        match self {
            Keyword::From => &[("platform", Str)],
            Keyword::Run => &[("mount", List), ("network", Str), ("security", Str)],
            Keyword::Copy => &[
                ("from", Str),
                ("chown", Str),
                ("chmod", Str),
                ("link", Bool),
                ("parents", Bool),
                ("exclude", List),
            ],
            Keyword::Add => &[
                ("chown", Str),
                ("chmod", Str),
                ("link", Bool),
                ("keep-git-dir", Bool),
                ("checksum", Str),
                ("exclude", List),
            ],
            Keyword::Healthcheck => &[
                ("interval", Str),
                ("timeout", Str),
                ("start-period", Str),
                ("start-interval", Str),
                ("retries", Str),
            ],
            _ => &[],
        }
    }

    /// Whether `<<EOF` words start heredocs (BuildKit: RUN, COPY, ADD).
    pub fn takes_heredocs(self) -> bool {
        matches!(self, Keyword::Run | Keyword::Copy | Keyword::Add)
    }

    /// Whether the frontend expands variables in the arguments (BuildKit's
    /// list). RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are left
    /// to the container's shell or to the later build that runs them.
    pub fn expands(self) -> bool {
        matches!(
            self,
            Keyword::Add
                | Keyword::Arg
                | Keyword::Copy
                | Keyword::Env
                | Keyword::Expose
                | Keyword::From
                | Keyword::Label
                | Keyword::Stopsignal
                | Keyword::User
                | Keyword::Volume
                | Keyword::Workdir
        )
    }

    /// The instruction nearest to `word` when it looks like a typo.
    pub fn suggest(word: &str) -> Option<Keyword> {
        let upper = word.to_ascii_uppercase();
        ALL.iter()
            .map(|k| (distance(&upper, k.as_str()), *k))
            .filter(|(d, k)| *d <= 2 && *d < k.as_str().len())
            .min_by_key(|(d, _)| *d)
            .map(|(_, k)| k)
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Keyword {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        ALL.iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

/// Levenshtein distance, with a cheap bail-out for long words (which can
/// never be within 2 of an instruction name).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("run".parse(), Ok(Keyword::Run));
        assert_eq!("HealthCheck".parse(), Ok(Keyword::Healthcheck));
        assert_eq!("RUNS".parse::<Keyword>(), Err(()));
    }

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(Keyword::suggest("FORM"), Some(Keyword::From));
        assert_eq!(Keyword::suggest("cpoy"), Some(Keyword::Copy));
        assert_eq!(Keyword::suggest("WORKDIRR"), Some(Keyword::Workdir));
        assert_eq!(Keyword::suggest("ENTRYPIONT"), Some(Keyword::Entrypoint));
        assert_eq!(Keyword::suggest("apt-get"), None);
        assert_eq!(Keyword::suggest("x"), None);
    }
}
