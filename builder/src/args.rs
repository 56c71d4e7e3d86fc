//! Build arguments and the variables an instruction sees.
//!
//! BuildKit's rules, which this module keeps:
//! - `--build-arg K=V` sets K; a bare `--build-arg K` takes K from the
//!   caller's environment (and is dropped when that has no K).
//! - ARGs before the first FROM are global: they (and the predefined
//!   platform ARGs) are visible to FROM lines only. A stage sees a global
//!   ARG after redeclaring it (`ARG NAME`, no default needed).
//! - In a stage an ARG's value is the build-arg if given, else its default
//!   (expanded), else the global value; with none of them it is declared
//!   but unset.
//! - ARG and ENV feed one environment, as BuildKit's dispatcher keeps it:
//!   the later assignment of a name wins for expansion and for RUN (so
//!   `ARG V` then `ENV V=x` gives `x`, and the reverse gives the ARG), while
//!   only ENV reaches the image config.
//! - The proxy ARGs (HTTP_PROXY, ..., both cases) reach RUN without being
//!   declared and never enter the cache key, so a proxy change does not
//!   invalidate a build.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::expand::{ExpandError, Expanded, Lexer};

/// The proxy variables BuildKit passes to RUN without an ARG and keeps out
/// of the cache key.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Whether `name` is one of [`PROXY_ARGS`].
pub fn is_proxy_arg(name: &str) -> bool {
    PROXY_ARGS.contains(&name)
}

/// An OCI platform: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, ...
    pub architecture: String,
    /// `v7`, `v8`, or empty.
    pub variant: String,
}

impl Platform {
    /// A platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.to_owned(),
        }
    }

    /// The platform this process runs on (Linux, Go architecture names).
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Self::new("linux", arch, "")
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// The `--build-arg` values of a build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    values: BTreeMap<String, String>,
}

impl BuildArgs {
    /// Parses `K=V` and bare `K` arguments; a bare one is looked up in
    /// `environment` (the caller's, injected so tests need no real env).
    pub fn parse<I, S>(args: I, environment: &BTreeMap<String, String>) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut values = BTreeMap::new();
        for arg in args {
            let arg = arg.as_ref();
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (arg, environment.get(arg).cloned()),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(Error::BuildArg {
                    arg: arg.to_owned(),
                });
            }
            if let Some(v) = value {
                values.insert(name.to_owned(), v);
            }
        }
        Ok(Self { values })
    }

    /// The value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Every name given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// The proxy variables given, for RUN's environment.
    pub fn proxies(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| is_proxy_arg(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// The predefined platform ARGs for a build on `build` targeting `target`.
pub fn platform_args(build: &Platform, target: &Platform) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(8);
    for (prefix, p) in [("BUILD", build), ("TARGET", target)] {
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((format!("{prefix}VARIANT"), p.variant.clone()));
    }
    out
}

/// The variables in scope at one point of a Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Declared ARGs with a value, in declaration order.
    args: Vec<(String, String)>,
    /// ENV, in order (inherited first): what the image config records.
    env: Vec<(String, String)>,
    /// ARGs and ENV together, later assignments replacing earlier ones:
    /// what expansion and RUN see.
    vars: Vec<(String, String)>,
    /// Build-args consumed by an ARG so far.
    consumed: BTreeSet<String>,
}

impl Scope {
    /// An empty scope (a stage starting from an image with no ENV).
    pub fn new() -> Self {
        Self::default()
    }

    /// A stage's scope, starting from its base's ENV.
    pub fn with_env(env: Vec<(String, String)>) -> Self {
        Self {
            vars: env.clone(),
            env,
            ..Self::default()
        }
    }

    /// Variables for expansion.
    pub fn vars(&self) -> BTreeMap<String, String> {
        self.vars.iter().cloned().collect()
    }

    /// The environment a RUN sees, in order (proxies not included).
    pub fn run_env(&self) -> &[(String, String)] {
        &self.vars
    }

    fn assign(list: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
        match (list.iter_mut().find(|(k, _)| k == name), value) {
            (Some(slot), Some(v)) => slot.1 = v.to_owned(),
            (None, Some(v)) => list.push((name.to_owned(), v.to_owned())),
            (_, None) => list.retain(|(k, _)| k != name),
        }
    }

    /// Expands `word` with this scope.
    pub fn expand(&self, lexer: &Lexer, word: &str) -> Result<Expanded, ExpandError> {
        lexer.expand(word, &self.vars())
    }

    /// Declares an ARG. `global` is the value of a global ARG of that name
    /// (or a predefined one), used when neither a build-arg nor a default
    /// is given. Returns the value the ARG takes.
    pub fn declare_arg(
        &mut self,
        lexer: &Lexer,
        name: &str,
        default: Option<&str>,
        build_args: &BuildArgs,
        global: Option<&str>,
    ) -> Result<Option<String>, ExpandError> {
        let value = if let Some(v) = build_args.get(name) {
            self.consumed.insert(name.to_owned());
            Some(v.to_owned())
        } else if let Some(d) = default {
            Some(self.expand(lexer, d)?.text)
        } else {
            global.map(str::to_owned)
        };
        // A valueless ARG assigns nothing: an earlier value of the name
        // stays visible, as in BuildKit.
        Self::assign(&mut self.args, name, value.as_deref());
        if let Some(v) = &value {
            Self::assign(&mut self.vars, name, Some(v));
        }
        Ok(value)
    }

    /// Sets an ARG to a known value (predefined ARGs).
    pub fn set_arg(&mut self, name: &str, value: &str) {
        Self::assign(&mut self.args, name, Some(value));
        Self::assign(&mut self.vars, name, Some(value));
    }

    /// Sets an ENV variable (value already expanded).
    pub fn set_env(&mut self, name: &str, value: &str) {
        Self::assign(&mut self.env, name, Some(value));
        Self::assign(&mut self.vars, name, Some(value));
    }

    /// The ENV list, in order.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Declared ARGs with values, in order.
    pub fn args(&self) -> &[(String, String)] {
        &self.args
    }

    /// Build-args consumed by ARGs of this scope.
    pub fn consumed(&self) -> &BTreeSet<String> {
        &self.consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_from_flags_and_environment() {
        let env: BTreeMap<String, String> = [("FROM_ENV".to_owned(), "e".to_owned())].into();
        let args = BuildArgs::parse(["A=1", "B=", "FROM_ENV", "MISSING", "C=x=y"], &env).unwrap();
        assert_eq!(args.get("A"), Some("1"));
        assert_eq!(args.get("B"), Some(""));
        assert_eq!(args.get("FROM_ENV"), Some("e"));
        assert_eq!(args.get("MISSING"), None);
        assert_eq!(args.get("C"), Some("x=y"));
        assert!(BuildArgs::parse(["=x"], &env).is_err());
        assert!(BuildArgs::parse(["A B=x"], &env).is_err());
    }

    #[test]
    fn platform_args_as_buildkit_names_them() {
        let args = platform_args(
            &Platform::new("linux", "amd64", ""),
            &Platform::new("linux", "arm", "v7"),
        );
        let map: BTreeMap<_, _> = args.into_iter().collect();
        assert_eq!(map["BUILDPLATFORM"], "linux/amd64");
        assert_eq!(map["BUILDVARIANT"], "");
        assert_eq!(map["TARGETPLATFORM"], "linux/arm/v7");
        assert_eq!(map["TARGETARCH"], "arm");
        assert_eq!(map["TARGETVARIANT"], "v7");
        assert_eq!(map.len(), 8);
    }

    #[test]
    fn arg_precedence_and_env_override() {
        let lexer = Lexer::default();
        let build = BuildArgs::parse(["GIVEN=cli"], &BTreeMap::new()).unwrap();
        let mut scope = Scope::new();
        let v = scope
            .declare_arg(&lexer, "GIVEN", Some("default"), &build, None)
            .unwrap();
        assert_eq!(v.as_deref(), Some("cli"));
        let v = scope
            .declare_arg(&lexer, "D", Some("${GIVEN}-d"), &build, None)
            .unwrap();
        assert_eq!(v.as_deref(), Some("cli-d"));
        let v = scope
            .declare_arg(&lexer, "G", None, &build, Some("global"))
            .unwrap();
        assert_eq!(v.as_deref(), Some("global"));
        let v = scope
            .declare_arg(&lexer, "NONE", None, &build, None)
            .unwrap();
        assert_eq!(v, None);
        assert_eq!(scope.expand(&lexer, "${NONE-unset}").unwrap().text, "unset");
        scope.set_env("D", "env");
        assert_eq!(scope.expand(&lexer, "$D").unwrap().text, "env");
        // The later assignment wins, whichever kind it is; ENV alone is
        // what the config keeps.
        scope
            .declare_arg(&lexer, "D", Some("arg"), &build, None)
            .unwrap();
        assert_eq!(scope.expand(&lexer, "$D").unwrap().text, "arg");
        assert_eq!(scope.env(), [("D".to_owned(), "env".to_owned())]);
        scope.declare_arg(&lexer, "D", None, &build, None).unwrap();
        assert_eq!(scope.expand(&lexer, "$D").unwrap().text, "arg");
        assert!(scope.consumed().contains("GIVEN"));
        assert!(is_proxy_arg("https_proxy") && !is_proxy_arg("PROXY"));
    }
}
