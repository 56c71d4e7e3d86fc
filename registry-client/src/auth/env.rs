//! A snapshot of the environment variables credential lookup reads.
//!
//! Every lookup takes an [`Env`] instead of reading `std::env`, so tests
//! run in parallel with their own `HOME`, `PATH` and `AWS_*` values, and
//! embedders can hand in settings without touching their process.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Environment variables, captured once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

// Values hold secrets (AWS_SECRET_ACCESS_KEY): show names only.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl Env {
    /// An empty environment: nothing set, no `HOME`, no `PATH`.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The calling process's environment (variables that are not UTF-8
    /// are skipped).
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self { vars }
    }

    /// This environment with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets `name` to `value`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// Unsets `name`.
    pub fn remove(&mut self, name: &str) {
        self.vars.remove(name);
    }

    /// The value of `name`, treating an empty value as unset (as the AWS
    /// SDKs and docker do).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `$HOME`, if set.
    pub fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }

    /// All variables, for a child process's environment.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
