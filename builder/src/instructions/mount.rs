//! `RUN --mount=type=...,key=value,...` specifications.
//!
//! Options as BuildKit accepts them: `type` (bind, cache, tmpfs, secret,
//! ssh; bind by default), `target`/`dst`/`destination`, `source`/`src`,
//! `from`, `id`, `sharing` (shared, private, locked), `mode` (octal),
//! `uid`, `gid`, `ro`/`readonly`, `rw`/`readwrite`, `required`, `size`
//! (tmpfs, with k/m/g units), `env` (secret). Keys are case-insensitive.
//!
//! Values may hold variables; BuildKit expands each value before reading
//! it, so [`MountSpec::parse_with`] takes an expander. Parsing with
//! [`MountSpec::parse`] (no expansion) checks everything that does not
//! depend on a variable.

use crate::error::SyntaxError;

/// Expands one option value (see [`MountSpec::parse_with`]).
pub type ExpandValue<'a> = dyn FnMut(&str) -> Result<String, SyntaxError> + 'a;

/// The kind of a RUN mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MountType {
    /// A read-only (by default) view of the context or of another stage.
    #[default]
    Bind,
    /// A persistent cache directory, keyed by `id`.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A build secret as a file (or env variable).
    Secret,
    /// The forwarded SSH agent socket.
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Any number of writers at once.
    #[default]
    Shared,
    /// Each writer gets its own copy.
    Private,
    /// One writer at a time; others wait.
    Locked,
}

/// One parsed `--mount`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MountSpec {
    /// The text as written (unexpanded), kept so a planner can re-read it
    /// with variables expanded.
    pub spec: String,
    /// The mount type.
    pub kind: MountType,
    /// Where it appears in the container (secret/ssh have defaults).
    pub target: Option<String>,
    /// Path in the source (context, stage or cache).
    pub source: Option<String>,
    /// Stage or image to take a bind or cache source from.
    pub from: Option<String>,
    /// Cache, secret or ssh id.
    pub id: Option<String>,
    /// Cache sharing mode.
    pub sharing: Sharing,
    /// File mode (cache directory, secret file, ssh socket).
    pub mode: Option<u32>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// `ro`/`rw` as given; bind and secret default to read-only.
    pub readonly: Option<bool>,
    /// Secret or ssh: fail if the build was not given it.
    pub required: bool,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// Secret exposed as this environment variable.
    pub env: Option<String>,
}

impl MountSpec {
    /// Parses `spec` without expanding variables. Options whose value holds
    /// a `$` are left for [`MountSpec::parse_with`].
    pub fn parse(spec: &str) -> Result<Self, SyntaxError> {
        Self::parse_inner(spec, None)
    }

    /// Parses `spec`, passing every value through `expand` first.
    pub fn parse_with(spec: &str, expand: &mut ExpandValue<'_>) -> Result<Self, SyntaxError> {
        Self::parse_inner(spec, Some(expand))
    }

    fn parse_inner(
        spec: &str,
        mut expand: Option<&mut ExpandValue<'_>>,
    ) -> Result<Self, SyntaxError> {
        let bad = |reason: String| SyntaxError::InvalidMount {
            spec: spec.to_owned(),
            reason,
        };
        let mut m = MountSpec {
            spec: spec.to_owned(),
            ..Default::default()
        };
        for field in csv_fields(spec).map_err(bad)? {
            let (key, raw) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            let deferred = expand.is_none() && raw.is_some_and(|v| v.contains('$'));
            let value = match (raw, expand.as_mut()) {
                (Some(v), Some(f)) => Some(f(v)?),
                (Some(v), None) => Some(v.to_owned()),
                (None, _) => None,
            };
            let need = |v: &Option<String>| {
                v.clone()
                    .ok_or_else(|| bad(format!("option {key:?} needs a value")))
            };
            match key.as_str() {
                "type" => {
                    m.kind = match need(&value)?.as_str() {
                        "bind" => MountType::Bind,
                        "cache" => MountType::Cache,
                        "tmpfs" => MountType::Tmpfs,
                        "secret" => MountType::Secret,
                        "ssh" => MountType::Ssh,
                        other => return Err(bad(format!("unsupported mount type {other:?}"))),
                    }
                }
                "target" | "dst" | "destination" => m.target = Some(need(&value)?),
                "source" | "src" => m.source = Some(need(&value)?),
                "from" => m.from = Some(need(&value)?),
                "id" => m.id = Some(need(&value)?),
                "env" => m.env = Some(need(&value)?),
                _ if deferred => {}
                "sharing" => {
                    m.sharing = match need(&value)?.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        other => return Err(bad(format!("unsupported sharing value {other:?}"))),
                    }
                }
                "mode" => {
                    let v = need(&value)?;
                    m.mode = Some(
                        u32::from_str_radix(&v, 8)
                            .ok()
                            .filter(|mode| *mode <= 0o7777)
                            .ok_or_else(|| bad(format!("mode {v:?} is not an octal file mode")))?,
                    );
                }
                "uid" | "gid" => {
                    let v = need(&value)?;
                    let n = v
                        .parse()
                        .map_err(|_| bad(format!("{key} {v:?} is not a number")))?;
                    if key == "uid" {
                        m.uid = Some(n);
                    } else {
                        m.gid = Some(n);
                    }
                }
                "ro" | "readonly" => m.readonly = Some(bool_value(&value).map_err(bad)?),
                "rw" | "readwrite" => m.readonly = Some(!bool_value(&value).map_err(bad)?),
                "required" => m.required = bool_value(&value).map_err(bad)?,
                "size" => {
                    let v = need(&value)?;
                    m.size = Some(
                        ram_in_bytes(&v).ok_or_else(|| bad(format!("size {v:?} is not a size")))?,
                    );
                }
                _ => return Err(bad(format!("unexpected key {key:?}"))),
            }
        }
        m.check().map_err(|r| bad(r.to_owned()))?;
        Ok(m)
    }

    /// Whether the mount is read-only once defaults apply.
    pub fn is_readonly(&self) -> bool {
        self.readonly
            .unwrap_or(matches!(self.kind, MountType::Bind | MountType::Secret))
    }

    fn check(&self) -> Result<(), &'static str> {
        let has_target = self.target.as_deref().is_some_and(|t| !t.is_empty());
        match self.kind {
            MountType::Secret | MountType::Ssh => {}
            _ if !has_target => return Err("target is required"),
            _ => {}
        }
        if self.kind != MountType::Cache && self.sharing != Sharing::Shared {
            return Err("sharing is only for cache mounts");
        }
        if self.kind != MountType::Tmpfs && self.size.is_some() {
            return Err("size is only for tmpfs mounts");
        }
        if self.kind == MountType::Secret
            && self.target.is_none()
            && self.id.is_none()
            && self.env.is_none()
        {
            return Err("a secret mount needs an id, a target or an env");
        }
        if self.required && !matches!(self.kind, MountType::Secret | MountType::Ssh) {
            return Err("required is only for secret and ssh mounts");
        }
        if self.mode.is_some() && matches!(self.kind, MountType::Bind | MountType::Tmpfs) {
            return Err("mode is only for cache, secret and ssh mounts");
        }
        Ok(())
    }
}

/// Comma-separated fields; a field may be double-quoted (to hold a comma),
/// as Go's csv reader allows.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = spec.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => fields.push(std::mem::take(&mut field)),
            other => field.push(other),
        }
    }
    if in_quotes {
        return Err("unterminated quote".to_owned());
    }
    fields.push(field);
    Ok(fields
        .into_iter()
        .filter(|f| !f.trim().is_empty())
        .collect())
}

fn bool_value(value: &Option<String>) -> Result<bool, String> {
    match value.as_deref() {
        None => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(v) => Err(format!("{v:?} is not a boolean")),
    }
}

/// docker's RAMInBytes: a number with an optional b/k/m/g/t/p unit
/// (binary multiples, optional trailing `b`).
pub(crate) fn ram_in_bytes(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().ok()?;
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return None,
    };
    let bytes = num * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let m = MountSpec::parse(
            "type=cache,target=/root/.cache,id=go,sharing=locked,mode=0755,uid=1000,gid=1000",
        )
        .unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert_eq!(m.target.as_deref(), Some("/root/.cache"));
        assert_eq!(m.id.as_deref(), Some("go"));
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!(m.mode, Some(0o755));
        assert_eq!((m.uid, m.gid), (Some(1000), Some(1000)));
        assert!(!m.is_readonly());

        let m = MountSpec::parse("target=/src,from=build,source=/out,rw").unwrap();
        assert_eq!(m.kind, MountType::Bind);
        assert_eq!(m.from.as_deref(), Some("build"));
        assert_eq!(m.source.as_deref(), Some("/out"));
        assert!(!m.is_readonly());
        assert!(MountSpec::parse("dst=/x").unwrap().is_readonly());

        let m = MountSpec::parse("type=secret,id=aws,required=true,env=AWS").unwrap();
        assert!(m.required && m.is_readonly());
        assert_eq!(m.env.as_deref(), Some("AWS"));
        let m = MountSpec::parse("type=tmpfs,target=/tmp,size=64m").unwrap();
        assert_eq!(m.size, Some(64 << 20));
        let m = MountSpec::parse("Type=ssh").unwrap();
        assert_eq!(m.kind, MountType::Ssh);
        let m = MountSpec::parse("type=bind,\"target=/a,b\",readonly=false").unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));
        assert!(!m.is_readonly());
        // A variable in a typed option is checked only once expanded.
        assert_eq!(
            MountSpec::parse("type=cache,target=/c,uid=$UID")
                .unwrap()
                .uid,
            None
        );
    }

    #[test]
    fn expands_values_first() {
        let mut expand = |v: &str| Ok(v.replace("$UID", "42").replace("$HOME", "/home/u"));
        let m =
            MountSpec::parse_with("type=cache,target=$HOME/.cache,uid=$UID", &mut expand).unwrap();
        assert_eq!(m.target.as_deref(), Some("/home/u/.cache"));
        assert_eq!(m.uid, Some(42));
    }

    #[test]
    fn refuses_bad_specs() {
        for spec in [
            "type=cache",
            "type=nfs,target=/x",
            "target=/x,unknown=1",
            "type=cache,target=/x,sharing=sometimes",
            "type=cache,target=/x,mode=999",
            "type=cache,target=/x,uid=-1",
            "type=bind,target=/x,sharing=locked",
            "type=bind,target=/x,size=1m",
            "type=bind,target=/x,required",
            "type=bind,target=/x,ro=maybe",
            "type=tmpfs,target=/x,size=lots",
            "type=secret",
            "target=\"/x",
            "type",
        ] {
            assert!(MountSpec::parse(spec).is_err(), "{spec:?}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("1024"), Some(1024));
        assert_eq!(ram_in_bytes("1k"), Some(1024));
        assert_eq!(ram_in_bytes("1.5GB"), Some(3 << 29));
        assert_eq!(ram_in_bytes("x"), None);
        assert_eq!(ram_in_bytes("1e99"), None);
    }
}
