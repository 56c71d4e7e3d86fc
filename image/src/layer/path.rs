//! Names inside a layer: validation and whiteout classification.
//!
//! An entry name is accepted only as a relative path of normal components:
//! `.` and empty components are dropped (`./a//b` is `a/b`), while an
//! absolute name, a `..` component, a NUL byte or an over-long component
//! is refused. What is accepted can be joined below the target's
//! descriptor and resolved with `RESOLVE_IN_ROOT` without any lexical
//! escape.

/// Longest component Linux accepts (NAME_MAX).
const NAME_MAX: usize = 255;
/// Longest path the kernel takes in one call (PATH_MAX minus the NUL).
const PATH_MAX: usize = 4095;

/// Whiteout prefix of the OCI layer spec (from aufs).
pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Marker for an opaque directory.
pub(crate) const OPAQUE: &[u8] = b".wh..wh..opq";
/// Prefix of aufs metadata entries, ignored except for [`OPAQUE`].
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";

/// A validated, normalised relative path: components joined by `/`, no
/// empty, `.` or `..` component. Empty for the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct EntryPath {
    bytes: Vec<u8>,
}

impl EntryPath {
    /// Validates a name from the archive (entry or hard-link target).
    pub(crate) fn parse(raw: &[u8]) -> Result<Self, &'static str> {
        if raw.is_empty() {
            return Err("the name is empty");
        }
        if raw.contains(&0) {
            return Err("the name contains a NUL byte");
        }
        if raw[0] == b'/' {
            return Err("absolute names are refused");
        }
        let mut bytes = Vec::with_capacity(raw.len());
        for c in raw.split(|&b| b == b'/') {
            match c {
                b"" | b"." => continue,
                b".." => return Err("names with '..' components are refused"),
                c if c.len() > NAME_MAX => return Err("a path component is longer than 255 bytes"),
                c => {
                    if !bytes.is_empty() {
                        bytes.push(b'/');
                    }
                    bytes.extend_from_slice(c);
                }
            }
        }
        if bytes.len() > PATH_MAX {
            return Err("the name is longer than 4095 bytes");
        }
        Ok(Self { bytes })
    }

    /// The root of the layer (`./`).
    pub(crate) fn is_root(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parent path (empty for a top-level name) and the last component.
    pub(crate) fn split(&self) -> (&[u8], &[u8]) {
        match self.bytes.iter().rposition(|&b| b == b'/') {
            Some(i) => (&self.bytes[..i], &self.bytes[i + 1..]),
            None => (&[], &self.bytes),
        }
    }

    /// `self/name`.
    pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(parent.len() + 1 + name.len());
        if !parent.is_empty() {
            v.extend_from_slice(parent);
            v.push(b'/');
        }
        v.extend_from_slice(name);
        v
    }
}

/// What an entry's last component says about whiteouts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// An ordinary entry.
    Normal,
    /// `.wh.<name>`: `name` in the same directory is deleted.
    Whiteout(&'a [u8]),
    /// `.wh..wh..opq`: the directory's earlier contents are hidden.
    Opaque,
    /// Another `.wh..wh.*` aufs metadata entry: ignored.
    Meta,
}

/// Classifies the last component `base`.
pub(crate) fn classify(base: &[u8]) -> Result<Kind<'_>, &'static str> {
    if base == OPAQUE {
        return Ok(Kind::Opaque);
    }
    if base.starts_with(WHITEOUT_META_PREFIX) {
        return Ok(Kind::Meta);
    }
    match base.strip_prefix(WHITEOUT_PREFIX) {
        None => Ok(Kind::Normal),
        Some(b"" | b"." | b"..") => Err("a whiteout must name an entry other than '.' or '..'"),
        Some(name) => Ok(Kind::Whiteout(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_harmless_forms() {
        for (raw, want) in [
            (&b"a/b"[..], &b"a/b"[..]),
            (b"./a/b/", b"a/b"),
            (b"a//./b", b"a/b"),
            (b"./", b""),
            (b".", b""),
            (b"..a/b..", b"..a/b.."),
        ] {
            assert_eq!(EntryPath::parse(raw).expect("valid").as_bytes(), want);
        }
    }

    #[test]
    fn refuses_escapes() {
        for raw in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../../x",
            b"a/..",
            b"",
            b"a\0b",
        ] {
            assert!(
                EntryPath::parse(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(EntryPath::parse(&[b'a'; 256]).is_err());
        let long: Vec<u8> = std::iter::repeat_n(&b"abcdefg/"[..], 600)
            .flatten()
            .copied()
            .collect();
        assert!(EntryPath::parse(&long).is_err());
    }

    #[test]
    fn splits_and_joins() {
        let p = EntryPath::parse(b"a/b/c").expect("valid");
        assert_eq!(p.split(), (&b"a/b"[..], &b"c"[..]));
        let top = EntryPath::parse(b"c").expect("valid");
        assert_eq!(top.split(), (&b""[..], &b"c"[..]));
        assert_eq!(EntryPath::join(b"", b"x"), b"x");
        assert_eq!(EntryPath::join(b"a", b"x"), b"a/x");
    }

    #[test]
    fn classifies_whiteouts() {
        assert_eq!(classify(b"file"), Ok(Kind::Normal));
        assert_eq!(classify(b".wh.file"), Ok(Kind::Whiteout(b"file")));
        assert_eq!(classify(b".wh..wh..opq"), Ok(Kind::Opaque));
        assert_eq!(classify(b".wh..wh.plnk"), Ok(Kind::Meta));
        assert!(classify(b".wh.").is_err(), "whiteout of nothing");
        assert!(classify(b".wh..").is_err(), "whiteout of '.'");
        assert!(classify(b".wh...").is_err(), "whiteout of '..'");
        assert_eq!(
            classify(b".wh....").expect("a name"),
            Kind::Whiteout(b"...")
        );
    }
}
