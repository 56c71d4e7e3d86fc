//! /proc/self/mountinfo, parsed once for every user in the crate (rootfs
//! propagation, cgroup hierarchies, the container's cgroup mounts).

use std::path::PathBuf;

/// One mount as mountinfo(5) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// Where it is mounted (escapes undone).
    pub mount_point: PathBuf,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<&'a str>,
    /// Filesystem type.
    pub fstype: &'a str,
    /// Per-superblock options.
    pub super_options: &'a str,
}

/// Parses one line; `None` for a malformed one.
pub(crate) fn parse_line(line: &str) -> Option<Entry<'_>> {
    let (pre, post) = line.split_once(" - ")?;
    let mut pre = pre.split(' ');
    let mount_point = pre.nth(4)?;
    // Field 6 is the per-mount options; optional fields follow.
    let optional = pre.skip(1).collect();
    let mut post = post.split(' ');
    let fstype = post.next()?;
    let _source = post.next();
    let super_options = post.next().unwrap_or("");
    Some(Entry {
        mount_point: PathBuf::from(unescape(mount_point)),
        optional,
        fstype,
        super_options,
    })
}

/// Every well-formed line.
pub(crate) fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(parse_line)
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
pub(crate) fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let oct = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (bytes[i], oct) {
            // Three octal digits fit in nine bits; mountinfo only escapes bytes.
            let v = d.iter().fold(0u16, |acc, c| acc * 8 + u16::from(c - b'0'));
            if let Ok(b) = u8::try_from(v) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let e = parse_line(
            "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:4 - ext3 /dev/root rw,errors=continue",
        )
        .unwrap();
        assert_eq!(e.mount_point, PathBuf::from("/mnt 2"));
        assert_eq!(e.optional, vec!["master:1", "shared:4"]);
        assert_eq!(e.fstype, "ext3");
        assert_eq!(e.super_options, "rw,errors=continue");
        assert!(parse_line("garbage").is_none());
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/x\\"), "/x\\");
        assert_eq!(unescape("/x\\09"), "/x\\09");
    }
}
