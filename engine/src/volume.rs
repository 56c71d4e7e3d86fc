//! Volumes, docker's `local` driver:
//!
//! ```text
//! <data-root>/volumes/<name>/_data         what containers mount
//! <data-root>/volumes/<name>/volume.json   name, driver, created, labels, anonymous
//! <data-root>/volumes/.lock                flock over create/remove/prune
//! ```
//!
//! Names follow docker (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`); anonymous volumes
//! (an image's `VOLUME`s, `-v /path`) get 64 random hex digits. Create is
//! idempotent like docker's. Whether a volume is in use is the engine's
//! knowledge (its container records), so remove and prune ask a callback.
//! The metadata file is written last and atomically: a volume directory
//! without it is a half-created one that create completes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a volume operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The metadata file is not valid JSON.
    #[error("invalid volume metadata {path}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The name does not match docker's rule.
    #[error("invalid volume name {name:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]+")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// No such volume.
    #[error("volume {name:?} not found")]
    NotFound {
        /// The name.
        name: String,
    },
    /// A container uses the volume.
    #[error("volume {name:?} is in use")]
    InUse {
        /// The name.
        name: String,
    },
    /// Changing ownership while copying image content failed.
    #[error("changing owner of {path}")]
    Chown {
        /// The path.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
    /// Taking the volumes lock failed.
    #[error("locking {path}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::errno::Errno,
    },
}

/// Result of the volume module.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.into();
    move |source| VolumeError::Io { op, path, source }
}

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Volume {
    /// Name (or 64-hex id of an anonymous volume).
    pub name: String,
    /// Always "local".
    pub driver: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// User labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Created for an image `VOLUME` or `-v /path`, not by name.
    #[serde(default)]
    pub anonymous: bool,
    /// The directory containers mount (`<data-root>/volumes/<name>/_data`);
    /// filled in on load, not stored.
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    /// Docker's `volume inspect` object.
    pub fn docker_json(&self) -> Value {
        let mut labels = self.labels.clone();
        if self.anonymous {
            labels.insert("com.docker.volume.anonymous".into(), String::new());
        }
        json!({
            "CreatedAt": self.created,
            "Driver": self.driver,
            "Labels": labels,
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": null,
            "Scope": "local",
        })
    }
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneReport {
    /// Names of removed volumes.
    pub removed: Vec<String>,
    /// Bytes of file data freed (apparent sizes).
    pub space_reclaimed: u64,
}

/// Docker's volume name rule.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn volumes_dir(root: &Path) -> PathBuf {
    root.join("volumes")
}

fn meta_path(root: &Path, name: &str) -> PathBuf {
    volumes_dir(root).join(name).join("volume.json")
}

fn lock(root: &Path) -> Result<Flock<File>> {
    let dir = volumes_dir(root);
    std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
    let path = dir.join(".lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("opening", &path))?;
    Flock::lock(f, FlockArg::LockExclusive)
        .map_err(|(_, source)| VolumeError::Lock { path, source })
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(VolumeError::InvalidName { name: name.into() })
    }
}

fn load(root: &Path, name: &str) -> Result<Option<Volume>> {
    let path = meta_path(root, name);
    match std::fs::read(&path) {
        Ok(b) => {
            let mut v: Volume =
                serde_json::from_slice(&b).map_err(|source| VolumeError::Json { path, source })?;
            v.mountpoint = volumes_dir(root).join(name).join("_data");
            Ok(Some(v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("reading", path)(e)),
    }
}

/// Creates volume `name` (idempotent: an existing one is returned as is,
/// as docker does).
pub fn create(data_root: &Path, name: &str, labels: &BTreeMap<String, String>) -> Result<Volume> {
    check_name(name)?;
    let _lock = lock(data_root)?;
    create_locked(data_root, name, labels, false)
}

/// Creates an anonymous volume with a random 64-hex name.
pub fn create_anonymous(data_root: &Path) -> Result<Volume> {
    use std::io::Read;
    let mut b = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(io_err("reading", "/dev/urandom"))?;
    let name: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let _lock = lock(data_root)?;
    create_locked(data_root, &name, &BTreeMap::new(), true)
}

fn create_locked(
    root: &Path,
    name: &str,
    labels: &BTreeMap<String, String>,
    anonymous: bool,
) -> Result<Volume> {
    if let Some(v) = load(root, name)? {
        return Ok(v);
    }
    let data = volumes_dir(root).join(name).join("_data");
    std::fs::create_dir_all(&data).map_err(io_err("creating", &data))?;
    // Containers running as any user may write a fresh volume's root,
    // unless image content copied in later says otherwise (docker: 0755
    // root-owned; we keep docker's mode).
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))
        .map_err(io_err("setting mode of", &data))?;
    let v = Volume {
        name: name.into(),
        driver: "local".into(),
        created: rbox_runtime::state::now_rfc3339(),
        labels: labels.clone(),
        anonymous,
        mountpoint: data,
    };
    let path = meta_path(root, name);
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(&v).expect("a volume always serialises");
    File::create(&tmp)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("renaming into place", &path))?;
    tracing::debug!(volume = name, "created volume");
    Ok(v)
}

/// Every volume, sorted by name.
pub fn list(data_root: &Path) -> Result<Vec<Volume>> {
    let dir = volumes_dir(data_root);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("reading", dir)(e)),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err("reading", &dir))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if valid_name(&name)
            && let Some(v) = load(data_root, &name)?
        {
            out.push(v);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One volume.
pub fn inspect(data_root: &Path, name: &str) -> Result<Volume> {
    check_name(name)?;
    load(data_root, name)?.ok_or_else(|| VolumeError::NotFound { name: name.into() })
}

/// Removes a volume and its data, refusing when `in_use(name)`.
pub fn remove(data_root: &Path, name: &str, in_use: &dyn Fn(&str) -> bool) -> Result<()> {
    check_name(name)?;
    let _lock = lock(data_root)?;
    if load(data_root, name)?.is_none() {
        return Err(VolumeError::NotFound { name: name.into() });
    }
    if in_use(name) {
        return Err(VolumeError::InUse { name: name.into() });
    }
    remove_dir(data_root, name)
}

fn remove_dir(root: &Path, name: &str) -> Result<()> {
    let dir = volumes_dir(root).join(name);
    // Metadata first: a crash halfway leaves no half volume that lists.
    let meta = meta_path(root, name);
    std::fs::remove_file(&meta).map_err(io_err("removing", &meta))?;
    std::fs::remove_dir_all(&dir).map_err(io_err("removing", &dir))
}

/// Removes unused volumes: anonymous ones only, or all unused with `all`
/// (docker 23's `volume prune` and `--all`).
pub fn prune(data_root: &Path, in_use: &dyn Fn(&str) -> bool, all: bool) -> Result<PruneReport> {
    let _lock = lock(data_root)?;
    let mut report = PruneReport::default();
    for v in list(data_root)? {
        if (!all && !v.anonymous) || in_use(&v.name) {
            continue;
        }
        let size = tree_size(&v.mountpoint);
        remove_dir(data_root, &v.name)?;
        report.space_reclaimed += size;
        report.removed.push(v.name);
    }
    Ok(report)
}

fn tree_size(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Docker's copy-up: when a volume is mounted over a directory the image
/// has content in and the volume is empty, the content is copied into it
/// (modes, owners, symlinks as they are; sockets, fifos and devices are
/// skipped). `source` must already be resolved inside the rootfs by the
/// caller; nothing under it is followed. Returns whether anything was
/// copied.
pub fn populate_from(volume: &Volume, source: &Path) -> Result<bool> {
    let dest = &volume.mountpoint;
    let mut rd = std::fs::read_dir(dest).map_err(io_err("reading", dest))?;
    if rd.next().is_some() {
        return Ok(false);
    }
    let meta = match std::fs::symlink_metadata(source) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err("reading", source)(e)),
    };
    copy_dir_contents(source, dest)?;
    // The volume root takes the image directory's owner and mode.
    copy_owner_mode(dest, &meta, false)?;
    Ok(true)
}

fn copy_owner_mode(path: &Path, meta: &std::fs::Metadata, symlink: bool) -> Result<()> {
    use nix::unistd::{Gid, Uid};
    let chown = |follow| {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            path,
            Some(Uid::from_raw(meta.uid())),
            Some(Gid::from_raw(meta.gid())),
            follow,
        )
    };
    let flag = if symlink {
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW
    } else {
        nix::fcntl::AtFlags::empty()
    };
    chown(flag).map_err(|source| VolumeError::Chown {
        path: path.to_path_buf(),
        source,
    })?;
    if !symlink {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(io_err("setting mode of", path))?;
    }
    Ok(())
}

fn copy_dir_contents(src: &Path, dst: &Path) -> Result<()> {
    for ent in std::fs::read_dir(src).map_err(io_err("reading", src))? {
        let ent = ent.map_err(io_err("reading", src))?;
        let from = ent.path();
        let to = dst.join(ent.file_name());
        let m = std::fs::symlink_metadata(&from).map_err(io_err("reading", &from))?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).map_err(io_err("creating", &to))?;
            copy_dir_contents(&from, &to)?;
            copy_owner_mode(&to, &m, false)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&from).map_err(io_err("reading", &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(io_err("creating", &to))?;
            copy_owner_mode(&to, &m, true)?;
        } else if ft.is_file() {
            let mut r = File::open(&from).map_err(io_err("opening", &from))?;
            let mut w = File::options()
                .write(true)
                .create_new(true)
                .open(&to)
                .map_err(io_err("creating", &to))?;
            std::io::copy(&mut r, &mut w).map_err(io_err("copying to", &to))?;
            copy_owner_mode(&to, &m, false)?;
        } else {
            tracing::debug!(path = %from.display(), "skipping a special file in volume copy-up");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["ab", "data", "my_vol.1-2", "0x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a", "-ab", "_ab", "a/b", "a b", "../x", "ab:c"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn lifecycle() {
        let tmp = rbox_test_support::TempRoot::new("rbox-vol").expect("temp");
        let root = tmp.path();
        let labels = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let v = create(root, "data", &labels).expect("create");
        assert_eq!(v.mountpoint, root.join("volumes/data/_data"));
        assert!(v.mountpoint.is_dir());
        std::fs::write(v.mountpoint.join("f"), b"keep").expect("write");
        // Idempotent: same volume, content kept, labels unchanged.
        let again = create(root, "data", &BTreeMap::new()).expect("create again");
        assert_eq!(again, v);
        assert!(v.mountpoint.join("f").exists());
        let anon = create_anonymous(root).expect("anon");
        assert_eq!(anon.name.len(), 64);
        assert!(anon.anonymous);
        let names: Vec<String> = list(root)
            .expect("ls")
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names.len(), 2);
        let j = inspect(root, "data").expect("inspect").docker_json();
        assert_eq!(j["Driver"], "local");
        assert_eq!(j["Labels"]["k"], "v");
        assert_eq!(
            j["Mountpoint"],
            root.join("volumes/data/_data").to_str().expect("utf8")
        );
        assert!(matches!(
            remove(root, "data", &|n| n == "data"),
            Err(VolumeError::InUse { .. })
        ));
        assert!(matches!(
            create(root, "a/b", &labels),
            Err(VolumeError::InvalidName { .. })
        ));
        // Prune without all: only the anonymous one.
        let r = prune(root, &|_| false, false).expect("prune");
        assert_eq!(r.removed, std::slice::from_ref(&anon.name));
        let r = prune(root, &|_| false, true).expect("prune all");
        assert_eq!(r.removed, ["data"]);
        assert_eq!(r.space_reclaimed, 4);
        assert!(matches!(
            remove(root, "data", &|_| false),
            Err(VolumeError::NotFound { .. })
        ));
        assert!(list(root).expect("ls").is_empty());
    }

    #[test]
    fn populate_copies_once_into_empty_volume() {
        let tmp = rbox_test_support::TempRoot::new("rbox-vol").expect("temp");
        let root = tmp.path();
        let src = tmp.join("image/var/lib/app");
        std::fs::create_dir_all(src.join("sub")).expect("mkdir");
        std::fs::write(src.join("sub/conf"), b"x=1").expect("write");
        std::fs::set_permissions(src.join("sub/conf"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        std::os::unix::fs::symlink("sub/conf", src.join("link")).expect("symlink");
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let v = create(root, "app", &BTreeMap::new()).expect("create");
        assert!(populate_from(&v, &src).expect("copy"));
        let conf = v.mountpoint.join("sub/conf");
        assert_eq!(std::fs::read(&conf).expect("read"), b"x=1");
        assert_eq!(
            std::fs::metadata(&conf).expect("stat").mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(v.mountpoint.join("link")).expect("link"),
            Path::new("sub/conf")
        );
        assert_eq!(
            std::fs::metadata(&v.mountpoint).expect("stat").mode() & 0o777,
            0o700
        );
        // Not empty any more: a second mount copies nothing.
        std::fs::write(src.join("new"), b"").expect("write");
        assert!(!populate_from(&v, &src).expect("no copy"));
        assert!(!v.mountpoint.join("new").exists());
        // A missing source is fine.
        let w = create(root, "other", &BTreeMap::new()).expect("create");
        assert!(!populate_from(&w, &tmp.join("nope")).expect("nothing"));
    }
}
