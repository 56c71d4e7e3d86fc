//! Layer tests: archives are built here, byte by byte where the tar crate
//! would refuse to write what an attacker can.

mod hostile;
mod pack;
mod unpack;

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rbox_test_support::TempRoot;

use super::*;
use crate::digest::Digest;

/// One raw archive member: header fields as an attacker may set them.
#[derive(Clone)]
pub(crate) struct Member {
    pub(crate) name: Vec<u8>,
    pub(crate) kind: u8,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: u64,
    pub(crate) link: Vec<u8>,
    pub(crate) data: Vec<u8>,
    /// Size written in the header (defaults to the data length).
    pub(crate) size: Option<u64>,
    pub(crate) major: u32,
    pub(crate) minor: u32,
}

impl Member {
    pub(crate) fn new(kind: u8, name: impl AsRef<[u8]>) -> Self {
        Self {
            name: name.as_ref().to_vec(),
            kind,
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
            link: Vec::new(),
            data: Vec::new(),
            size: None,
            major: 0,
            minor: 0,
        }
    }

    pub(crate) fn file(name: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        let mut m = Self::new(b'0', name);
        m.data = data.as_ref().to_vec();
        m
    }

    pub(crate) fn dir(name: impl AsRef<[u8]>) -> Self {
        Self::new(b'5', name)
    }

    pub(crate) fn symlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let mut m = Self::new(b'2', name);
        m.link = target.as_ref().to_vec();
        m.mode = 0o777;
        m
    }

    pub(crate) fn hardlink(name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Self {
        let mut m = Self::new(b'1', name);
        m.link = target.as_ref().to_vec();
        m
    }

    pub(crate) fn device(kind: u8, name: impl AsRef<[u8]>, major: u32, minor: u32) -> Self {
        let mut m = Self::new(kind, name);
        m.major = major;
        m.minor = minor;
        m
    }

    /// A PAX extended header applying to the next member.
    pub(crate) fn pax(records: &[(&str, &[u8])]) -> Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = k.len() + v.len() + 3;
            let mut len = body_len + 1;
            while len.to_string().len() + body_len != len {
                len = len.to_string().len() + body_len;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let mut m = Self::new(b'x', "PaxHeader");
        m.data = data;
        m
    }

    pub(crate) fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    pub(crate) fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub(crate) fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }

    pub(crate) fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// The header block (raw name bytes, no validation) and padded data.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut h = tar::Header::new_ustar();
        {
            let u = h.as_ustar_mut().expect("ustar");
            let n = self.name.len().min(100);
            u.name[..n].copy_from_slice(&self.name[..n]);
            let l = self.link.len().min(100);
            u.linkname[..l].copy_from_slice(&self.link[..l]);
        }
        h.set_entry_type(tar::EntryType::new(self.kind));
        h.set_mode(self.mode);
        h.set_uid(self.uid);
        h.set_gid(self.gid);
        h.set_mtime(self.mtime);
        h.set_size(self.size.unwrap_or(self.data.len() as u64));
        h.set_device_major(self.major).expect("major");
        h.set_device_minor(self.minor).expect("minor");
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(&self.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }
}

/// A complete archive: members then the two zero blocks.
pub(crate) fn archive(members: &[Member]) -> Vec<u8> {
    let mut out: Vec<u8> = members.iter().flat_map(Member::bytes).collect();
    out.extend_from_slice(&[0; 1024]);
    out
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

/// A scratch area: `target/` to unpack into and `outside/` with a file an
/// attack would like to reach.
pub(crate) struct Sandbox {
    pub(crate) tmp: TempRoot,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let tmp = TempRoot::new("image-layer").expect("temp root");
        fs::create_dir(tmp.join("target")).expect("target");
        fs::create_dir(tmp.join("outside")).expect("outside");
        fs::write(tmp.join("outside/secret"), b"do not touch").expect("secret");
        Self { tmp }
    }

    pub(crate) fn target(&self) -> PathBuf {
        self.tmp.join("target")
    }

    pub(crate) fn outside(&self) -> PathBuf {
        self.tmp.join("outside")
    }

    /// Absolute path of `outside/` as bytes, for links that aim at it.
    pub(crate) fn outside_bytes(&self) -> Vec<u8> {
        self.outside().as_os_str().as_bytes().to_vec()
    }

    pub(crate) fn unpack(
        &self,
        tar: &[u8],
        options: &UnpackOptions,
    ) -> crate::Result<UnpackedLayer> {
        unpack(tar, &self.target(), options)
    }

    /// Nothing outside `target/` changed: `outside/` holds exactly the
    /// secret, unchanged, with one link, and the sandbox holds nothing new.
    pub(crate) fn assert_outside_untouched(&self) {
        let names: Vec<_> = fs::read_dir(self.outside())
            .expect("outside")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "outside/ changed"
        );
        let secret = self.outside().join("secret");
        assert_eq!(fs::read(&secret).expect("secret"), b"do not touch");
        let m = fs::symlink_metadata(&secret).expect("secret");
        assert_eq!(m.nlink(), 1, "the secret gained a hard link");
        assert_eq!(m.mode() & 0o7777, 0o644, "the secret's mode changed");
        let mut top: Vec<_> = fs::read_dir(self.tmp.path())
            .expect("sandbox")
            .map(|e| e.expect("entry").file_name())
            .collect();
        top.sort();
        assert_eq!(top, vec!["outside", "target"], "the sandbox gained entries");
    }
}

/// A comparable description of every path in a tree (mtime in seconds,
/// contents by digest, xattrs by name and value).
pub(crate) fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let m = fs::symlink_metadata(&p).expect("lstat");
        let rel = p
            .strip_prefix(root)
            .expect("below root")
            .display()
            .to_string();
        let ft = m.file_type();
        let what = if ft.is_dir() {
            "dir".to_owned()
        } else if ft.is_symlink() {
            format!("link->{}", fs::read_link(&p).expect("readlink").display())
        } else if ft.is_file() {
            format!(
                "file:{}:{}",
                m.len(),
                Digest::sha256(&fs::read(&p).expect("read"))
            )
        } else if ft.is_char_device() {
            format!("chr:{}", m.rdev())
        } else if ft.is_block_device() {
            format!("blk:{}", m.rdev())
        } else if ft.is_fifo() {
            "fifo".to_owned()
        } else {
            "other".to_owned()
        };
        let mtime = m.mtime();
        out.insert(
            rel,
            format!(
                "{what} mode={:o} uid={} gid={} mtime={mtime} nlink={} xattrs={:?}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                if ft.is_dir() { 0 } else { m.nlink() },
                xattrs_of(&p),
            ),
        );
        if ft.is_dir() {
            walk(root, &p, out);
        }
    }
}

pub(crate) fn xattrs_of(p: &Path) -> Vec<(String, Vec<u8>)> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("path");
    let names = crate::sys::list_xattrs(crate::sys::XattrTarget::Link(&c)).unwrap_or_default();
    let mut out: Vec<_> = names
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .filter(|n| !n.starts_with(b"security.selinux"))
        .map(|n| {
            let cn = std::ffi::CString::new(n).expect("name");
            let v =
                crate::sys::get_xattr(crate::sys::XattrTarget::Link(&c), &cn).unwrap_or_default();
            (String::from_utf8_lossy(n).into_owned(), v)
        })
        .collect();
    out.sort();
    out
}
