//! `/proc/self/mountinfo`, parsed (proc(5)): what is mounted where in the
//! calling thread's mount namespace.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountEntry {
    /// Unique mount id.
    pub id: u32,
    /// Id of the parent mount.
    pub parent: u32,
    /// The mounted directory, unescaped.
    pub mount_point: PathBuf,
    /// The directory of the source file system that is mounted (`/` for a
    /// whole file system, deeper for bind mounts), unescaped.
    pub root: PathBuf,
    /// Per-mount options (`rw,nosuid,...`).
    pub options: String,
    /// File system type (`cgroup`, `cgroup2`, `tmpfs`, ...).
    pub fstype: String,
    /// Mount source, unescaped.
    pub source: String,
    /// Per-superblock options (for cgroup v1: the controllers).
    pub super_options: String,
}

/// Reads the calling thread's mount table.
pub fn mounts() -> std::io::Result<Vec<MountEntry>> {
    let text = std::fs::read_to_string("/proc/thread-self/mountinfo")?;
    Ok(parse(&text))
}

/// Parses mountinfo text, skipping lines it does not understand.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let id = fields.next()?.parse().ok()?;
    let parent = fields.next()?.parse().ok()?;
    let _dev = fields.next()?;
    let root = unescape(fields.next()?);
    let mount_point = unescape(fields.next()?);
    let options = fields.next()?.to_owned();
    // Optional fields (shared:N, master:N, ...) end at a lone "-".
    fields.by_ref().find(|f| *f == "-")?;
    let fstype = fields.next()?.to_owned();
    let source = unescape(fields.next()?).to_string_lossy().into_owned();
    let super_options = fields.next().unwrap_or_default().to_owned();
    Some(MountEntry {
        id,
        parent,
        mount_point,
        root,
        options,
        fstype,
        source,
        super_options,
    })
}

/// Undoes the kernel's octal escaping of space, tab, newline and backslash.
fn unescape(field: &str) -> PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parses_optional_fields_and_escapes() {
        let text = "\
36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue
40 25 0:34 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
garbage line
";
        let m = parse(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].id, 36);
        assert_eq!(m[0].parent, 35);
        assert_eq!(m[0].root, PathBuf::from("/mnt1"));
        assert_eq!(m[0].mount_point, PathBuf::from("/mnt 2"));
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].source, "/dev/root");
        assert_eq!(m[1].super_options, "rw,cpu,cpuacct");
        assert_eq!(
            m[1].mount_point,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
    }

    #[test]
    fn reads_own_table() {
        let m = mounts().expect("read mountinfo");
        assert!(m.iter().any(|e| e.mount_point == Path::new("/")));
    }
}
