//! COPY and ADD of local files: the sources are resolved inside the
//! context (a `..` above it, or a symlink on the way, never leaves it),
//! planned into a list of entries whose content hashes make the cache
//! key, then written into the step's snapshot as a tar stream applied by
//! rbox-image's unpacker — the same code that applies pulled layers, so
//! a hostile destination (a symlinked parent in the image) resolves
//! inside the rootfs too. No container is started.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use rbox_image::layer::{self, UnpackOptions};
use sha2::{Digest as _, Sha256};

use super::ExecError;
use super::cache::KeyBuilder;
use crate::dockerignore::Matcher;

/// How COPY writes its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyOptions {
    /// `--chown`, resolved to ids (else 0:0, as docker).
    pub chown: Option<(u32, u32)>,
    /// `--chmod` (octal), applied to files and directories copied.
    pub chmod: Option<u32>,
    /// Keep the sources' owners when there is no `--chown` (COPY --from
    /// another stage or image, as BuildKit and buildah do); context files
    /// become 0:0.
    pub preserve_owner: bool,
}

/// One thing to write.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    File { size: u64, sha256: [u8; 32] },
    Symlink(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Source, relative to the context root (None: a created directory).
    source: Option<PathBuf>,
    /// Destination, relative to the rootfs.
    dest: PathBuf,
    kind: Kind,
    mode: u32,
    mtime: u64,
    /// The source's owner, when kept.
    owner: Option<(u32, u32)>,
}

/// A planned COPY: what goes where, and the hash of it all.
#[derive(Debug, Clone)]
pub struct CopyPlan {
    entries: Vec<Entry>,
    uid: u32,
    gid: u32,
    /// Write each source's own owner instead of uid:gid.
    preserve_owner: bool,
    /// Hash of every entry's path, type, mode, owner and content.
    pub content_key: rbox_image::Digest,
}

impl CopyPlan {
    /// Number of files and directories copied.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if nothing is copied.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn source_err(src: &str, reason: impl Into<String>) -> ExecError {
    ExecError::Source {
        source_path: src.to_string(),
        reason: reason.into(),
    }
}

/// Lexically cleans a path relative to a root; None if it climbs above.
fn clean_rel(p: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    Some(out)
}

/// `/`-separated form of a context-relative path, as .dockerignore
/// patterns are written.
fn slash(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn ignored(ignore: Option<&Matcher>, rel: &Path) -> bool {
    ignore.is_some_and(|m| !rel.as_os_str().is_empty() && m.matches(&slash(rel)))
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's `filepath.Match` for one path segment (`*`, `?`, `[...]`, `\`).
pub fn match_segment(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(&c) = n.first() else { return false };
                let mut i = 1;
                let negate = p.get(1) == Some(&'^');
                if negate {
                    i += 1;
                }
                let mut matched = false;
                let mut first = true;
                while i < p.len() && (p[i] != ']' || first) {
                    first = false;
                    let mut lo = p[i];
                    if lo == '\\' && i + 1 < p.len() {
                        i += 1;
                        lo = p[i];
                    }
                    let mut hi = lo;
                    if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                        hi = p[i + 2];
                        i += 2;
                    }
                    if lo <= c && c <= hi {
                        matched = true;
                    }
                    i += 1;
                }
                if i >= p.len() {
                    return false; // unterminated class: no match
                }
                matched != negate && go(&p[i + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && go(&p[2..], &n[1..]),
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Expands a glob source against the context, segment by segment
/// (symlinked directories are not descended into while matching).
fn expand_glob(context: &Path, pattern: &Path) -> Result<Vec<PathBuf>, ExecError> {
    let mut current = vec![PathBuf::new()];
    for seg in pattern.components() {
        let seg = seg.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &current {
            if !has_glob(&seg) {
                next.push(base.join(&seg));
                continue;
            }
            // List the directory the path names inside the context, never
            // one a symlink on the way points at on the host.
            let Ok(dir) = rbox_image::layer::real_path_in_root(context, base) else {
                continue;
            };
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect();
            names.sort();
            for n in names {
                if match_segment(&seg, &n) {
                    next.push(base.join(n));
                }
            }
        }
        current = next;
    }
    Ok(current
        .into_iter()
        .filter(|p| {
            let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
                return false;
            };
            rbox_image::layer::real_path_in_root(context, parent)
                .is_ok_and(|d| std::fs::symlink_metadata(d.join(name)).is_ok())
        })
        .collect())
}

/// Plans copying `sources` (context-relative, as written) to `dest`
/// (absolute, or relative to `workdir`) in the rootfs at `rootfs`.
///
/// Without a rootfs the plan is the one for the cache key: the sources
/// and their contents only (what the destination already holds follows
/// from the parent step's key). `ignore` (the context's .dockerignore)
/// hides paths as if they were not in the context.
pub fn plan(
    context: &Path,
    sources: &[String],
    dest: &str,
    workdir: &str,
    rootfs: Option<&Path>,
    options: &CopyOptions,
    ignore: Option<&Matcher>,
) -> Result<CopyPlan, ExecError> {
    let dest_abs = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", workdir.trim_end_matches('/'))
    };
    let dest_is_dir_syntax = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    let dest_rel = clean_rel(&dest_abs).ok_or_else(|| ExecError::Dest {
        dest: dest.to_string(),
        reason: "climbs above /".into(),
    })?;
    // Expand every source.
    let mut resolved: Vec<(String, PathBuf)> = Vec::new();
    for s in sources {
        let rel = clean_rel(s).ok_or_else(|| {
            source_err(
                s,
                "is outside the build context (it climbs above it with ..)",
            )
        })?;
        if has_glob(s) {
            let found: Vec<PathBuf> = expand_glob(context, &rel)?
                .into_iter()
                .filter(|p| !ignored(ignore, p))
                .collect();
            if found.is_empty() {
                return Err(source_err(s, "no file in the build context matches"));
            }
            resolved.extend(found.into_iter().map(|p| (s.clone(), p)));
        } else {
            if ignored(ignore, &rel) {
                return Err(source_err(
                    s,
                    "not found in the build context (excluded by .dockerignore)",
                ));
            }
            resolved.push((s.clone(), rel));
        }
    }
    let dest_exists_dir = rootfs.is_some_and(|r| {
        rbox_image::layer::open_in_root(r, &dest_rel)
            .ok()
            .and_then(|f| f.metadata().ok())
            .is_some_and(|m| m.is_dir())
    });
    let multiple = resolved.len() > 1;
    if multiple && !dest_is_dir_syntax && !dest_exists_dir {
        return Err(ExecError::Dest {
            dest: dest.to_string(),
            reason: "copying several sources needs a directory destination ending in /".into(),
        });
    }
    let (uid, gid) = options.chown.unwrap_or((0, 0));
    let preserve_owner = options.preserve_owner && options.chown.is_none();
    let mut entries: Vec<Entry> = Vec::new();
    let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
    // Missing parents of the destination, created 0755.
    let mut created_root = PathBuf::new();
    let parents: Vec<Component<'_>> = if rootfs.is_some() {
        dest_rel.components().collect()
    } else {
        Vec::new()
    };
    for c in parents {
        created_root.push(c);
        let is_last = created_root == dest_rel;
        if is_last && !(dest_is_dir_syntax || multiple) {
            break;
        }
        let exists =
            rootfs.is_some_and(|r| rbox_image::layer::open_in_root(r, &created_root).is_ok());
        if !exists && seen.insert(created_root.clone()) {
            entries.push(Entry {
                source: None,
                dest: created_root.clone(),
                kind: Kind::Dir,
                mode: 0o755,
                mtime: 0,
                // Parents a COPY creates are root-owned (buildah, docker's
                // classic builder).
                owner: Some((0, 0)),
            });
        }
    }
    for (written, rel) in resolved {
        let file = rbox_image::layer::open_in_root(context, &rel).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => source_err(&written, "not found in the build context"),
            _ => source_err(
                &written,
                format!("cannot open: {e} (a symlink leaving the context?)"),
            ),
        })?;
        let meta = file
            .metadata()
            .map_err(|e| ExecError::io("stat", &context.join(&rel), e))?;
        if meta.is_dir() {
            let target = dest_rel.clone();
            if !target.as_os_str().is_empty() && seen.insert(target.clone()) {
                entries.push(Entry {
                    source: Some(rel.clone()),
                    dest: target.clone(),
                    kind: Kind::Dir,
                    mode: meta.mode() & 0o7777,
                    mtime: meta.mtime().max(0) as u64,
                    owner: Some((meta.uid(), meta.gid())),
                });
            }
            walk(context, &rel, &target, &mut entries, &mut seen, ignore)?;
        } else {
            let target = if dest_is_dir_syntax || multiple || dest_exists_dir {
                let name = rel
                    .file_name()
                    .ok_or_else(|| source_err(&written, "names the context root"))?;
                dest_rel.join(name)
            } else {
                dest_rel.clone()
            };
            if target.as_os_str().is_empty() {
                return Err(ExecError::Dest {
                    dest: dest.to_string(),
                    reason: "a file cannot replace /".into(),
                });
            }
            let e = file_entry(context, &rel, &context.join(&rel), target, &meta)?;
            seen.insert(e.dest.clone());
            entries.push(e);
        }
    }
    for e in &mut entries {
        if let Some(m) = options.chmod
            && !matches!(e.kind, Kind::Symlink(_))
        {
            e.mode = m & 0o7777;
        }
    }
    let mut key = KeyBuilder::new("copy");
    key.add(&uid.to_le_bytes()).add(&gid.to_le_bytes());
    for e in &entries {
        key.add(e.dest.as_os_str().as_encoded_bytes());
        key.add(&e.mode.to_le_bytes());
        if preserve_owner && let Some((u, g)) = e.owner {
            key.add(&u.to_le_bytes()).add(&g.to_le_bytes());
        }
        match &e.kind {
            Kind::Dir => key.add(b"d"),
            Kind::File { size, sha256 } => key.add(b"f").add(&size.to_le_bytes()).add(sha256),
            Kind::Symlink(t) => key.add(b"l").add(t.as_os_str().as_encoded_bytes()),
        };
    }
    Ok(CopyPlan {
        entries,
        uid,
        gid,
        preserve_owner,
        content_key: key.finish(),
    })
}

/// The directories `path` (absolute) needs that the rootfs lacks, owned
/// by `owner`, mode 0755 (WORKDIR).
pub fn plan_mkdir(path: &str, rootfs: &Path, owner: (u32, u32)) -> Result<CopyPlan, ExecError> {
    let rel = clean_rel(path).ok_or_else(|| ExecError::Dest {
        dest: path.to_string(),
        reason: "climbs above /".into(),
    })?;
    let mut entries = Vec::new();
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        if rbox_image::layer::open_in_root(rootfs, &cur).is_err() {
            entries.push(Entry {
                source: None,
                dest: cur.clone(),
                kind: Kind::Dir,
                mode: 0o755,
                mtime: 0,
                owner: None,
            });
        }
    }
    Ok(CopyPlan {
        entries,
        uid: owner.0,
        gid: owner.1,
        preserve_owner: false,
        content_key: KeyBuilder::new("mkdir").add(path.as_bytes()).finish(),
    })
}

/// An entry for the file, symlink or other non-directory `rel` of the
/// context; `path` is where it really is on the host (for a symlink's
/// target and for messages), its contents are read inside the context.
fn file_entry(
    context: &Path,
    rel: &Path,
    path: &Path,
    dest: PathBuf,
    meta: &std::fs::Metadata,
) -> Result<Entry, ExecError> {
    let kind = if meta.file_type().is_symlink() {
        let t = std::fs::read_link(path).map_err(|e| ExecError::io("read link", path, e))?;
        Kind::Symlink(t)
    } else if meta.is_file() {
        let f = rbox_image::layer::open_in_root(context, rel)
            .map_err(|e| ExecError::io("open", path, e))?;
        let (size, sha256) = hash_file(f).map_err(|e| ExecError::io("read", path, e))?;
        Kind::File { size, sha256 }
    } else {
        return Err(source_err(
            &rel.to_string_lossy(),
            "is not a regular file, directory or symlink (sockets, devices and fifos are not copied)",
        ));
    };
    Ok(Entry {
        source: Some(rel.to_path_buf()),
        dest,
        kind,
        mode: meta.mode() & 0o7777,
        mtime: meta.mtime().max(0) as u64,
        owner: Some((meta.uid(), meta.gid())),
    })
}

fn hash_file(mut f: File) -> io::Result<(u64, [u8; 32])> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, h.finalize().into()))
}

/// Adds the contents of the context directory `rel` under `dest`, sorted,
/// not following symlinks.
fn walk(
    context: &Path,
    rel: &Path,
    dest: &Path,
    entries: &mut Vec<Entry>,
    seen: &mut BTreeSet<PathBuf>,
    ignore: Option<&Matcher>,
) -> Result<(), ExecError> {
    // The directory as resolved inside the context (a symlink on the way
    // resolves there, never on the host); its children are read by name
    // and never followed.
    let dir = rbox_image::layer::real_path_in_root(context, rel)
        .map_err(|e| ExecError::io("open", &context.join(rel), e))?;
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(&dir)
        .map_err(|e| ExecError::io("read", &dir, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(|e| ExecError::io("read", &dir, e))?;
    names.sort();
    for n in names {
        let child_rel = rel.join(&n);
        let child_dest = dest.join(&n);
        let path = dir.join(&n);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| ExecError::io("stat", &path, e))?;
        if ignored(ignore, &child_rel) {
            // An excluded directory may still hold re-included files
            // (`!` exceptions): descend without copying the directory
            // itself unless something under it is kept.
            if meta.is_dir() && ignore.is_some_and(|m| m.could_match_under(&slash(&child_rel))) {
                let before = entries.len();
                walk(context, &child_rel, &child_dest, entries, seen, ignore)?;
                if entries.len() > before && seen.insert(child_dest.clone()) {
                    entries.insert(
                        before,
                        Entry {
                            source: Some(child_rel.clone()),
                            dest: child_dest.clone(),
                            kind: Kind::Dir,
                            mode: meta.mode() & 0o7777,
                            mtime: meta.mtime().max(0) as u64,
                            owner: Some((meta.uid(), meta.gid())),
                        },
                    );
                }
            }
            continue;
        }
        if meta.is_dir() {
            if seen.insert(child_dest.clone()) {
                entries.push(Entry {
                    source: Some(child_rel.clone()),
                    dest: child_dest.clone(),
                    kind: Kind::Dir,
                    mode: meta.mode() & 0o7777,
                    mtime: meta.mtime().max(0) as u64,
                    owner: Some((meta.uid(), meta.gid())),
                });
            }
            walk(context, &child_rel, &child_dest, entries, seen, ignore)?;
        } else {
            let e = file_entry(context, &child_rel, &path, child_dest, &meta)?;
            seen.insert(e.dest.clone());
            entries.push(e);
        }
    }
    Ok(())
}

/// Writes the planned entries into the rootfs at `rootfs` (the step's
/// mounted snapshot). A file whose content changed since [`plan`] hashed
/// it is an error (the cache key would lie).
pub fn apply(context: &Path, plan: &CopyPlan, rootfs: &Path) -> Result<(), ExecError> {
    let (reader, writer) = io::pipe().map_err(|e| ExecError::io("pipe for", rootfs, e))?;
    let (result_tx, result_rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(move || {
            let r = write_tar(context, plan, writer);
            let _ = result_tx.send(r);
        });
        let mut options = UnpackOptions::default();
        options.same_owner = true;
        let unpacked = layer::unpack(reader, rootfs, &options);
        let written = result_rx.recv().unwrap_or(Ok(()));
        written?;
        unpacked.map(drop).map_err(ExecError::from)
    })
}

fn write_tar(context: &Path, plan: &CopyPlan, out: io::PipeWriter) -> Result<(), ExecError> {
    let mut tar = tar::Builder::new(io::BufWriter::with_capacity(256 << 10, out));
    tar.follow_symlinks(false);
    let io_err = |p: &Path, e| ExecError::io("write the COPY stream for", p, e);
    for e in &plan.entries {
        let mut h = tar::Header::new_gnu();
        let (uid, gid) = match e.owner {
            Some(o) if plan.preserve_owner || e.source.is_none() => o,
            _ => (plan.uid, plan.gid),
        };
        h.set_uid(uid.into());
        h.set_gid(gid.into());
        h.set_mode(e.mode);
        h.set_mtime(e.mtime);
        match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                tar.append_data(&mut h, &e.dest, io::empty())
                    .map_err(|x| io_err(&e.dest, x))?;
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                tar.append_link(&mut h, &e.dest, t)
                    .map_err(|x| io_err(&e.dest, x))?;
            }
            Kind::File { size, sha256 } => {
                let src = e.source.as_ref().expect("files have a source");
                let path = context.join(src);
                let f = rbox_image::layer::open_in_root(context, src)
                    .map_err(|x| ExecError::io("open", &path, x))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*size);
                let mut hashing = Hashing {
                    inner: f.take(*size),
                    hasher: Sha256::new(),
                    n: 0,
                };
                tar.append_data(&mut h, &e.dest, &mut hashing)
                    .map_err(|x| io_err(&path, x))?;
                let got: [u8; 32] = hashing.hasher.finalize().into();
                if hashing.n != *size || &got != sha256 {
                    return Err(source_err(
                        &src.to_string_lossy(),
                        "changed while the build was reading it",
                    ));
                }
            }
        }
    }
    tar.into_inner()
        .and_then(|mut w| io::Write::flush(&mut w))
        .map_err(|x| io_err(context, x))
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    n: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}
