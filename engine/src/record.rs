//! Container records: `<data-root>/containers/<id>/config.json`, written
//! atomically (temp + rename) under the container's flock
//! (`containers/<id>/lock`). Names are files `container-names/<name>`
//! holding the id, created with O_EXCL, so two concurrent `rbox run
//! --name x` cannot both win. A directory without config.json is a
//! create that did not finish; listing skips it and prune removes it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::RunOptions;
use crate::spec::mounts::MountPoint;

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Created, never started (or being started).
    #[default]
    Created,
    /// The process runs.
    Running,
    /// Waiting to be restarted by the policy.
    Restarting,
    /// Exited.
    Exited,
    /// The monitor died and left the container in an unknown state.
    Dead,
    /// Being removed.
    Removing,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        })
    }
}

/// The mutable state of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct State {
    /// The status.
    pub status: Status,
    /// The init's host pid while running.
    pub pid: i32,
    /// The monitor's pid while it lives.
    pub monitor_pid: i32,
    /// The last exit code.
    pub exit_code: i32,
    /// Whether the last exit was an OOM kill.
    pub oom_killed: bool,
    /// The last start, RFC 3339.
    pub started_at: String,
    /// The last exit, RFC 3339.
    pub finished_at: String,
    /// Why the last start failed.
    pub error: String,
    /// Set by stop/kill: the restart policy must not restart it.
    pub stopped_by_user: bool,
    /// Frozen by `rbox pause` (the status stays running).
    pub paused: bool,
}

/// A container record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// The name (without docker's leading `/`).
    pub name: String,
    /// The image as the user typed it.
    pub image: String,
    /// The image id (config digest).
    pub image_id: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// State.
    pub state: State,
    /// Restarts done by the policy.
    pub restart_count: u32,
    /// The flags.
    pub options: RunOptions,
    /// The command (entrypoint + cmd), without the init.
    pub command: Vec<String>,
    /// The process environment (image + flags + defaults).
    pub env: Vec<String>,
    /// The process's working directory.
    pub working_dir: String,
    /// The user the process runs as, as given (`-u` or the image's).
    pub user: String,
    /// The image's labels merged with `--label`.
    pub labels: BTreeMap<String, String>,
    /// User mounts, for inspect.
    pub mounts: Vec<MountPoint>,
    /// The signal stop sends first.
    pub stop_signal: i32,
    /// The hostname.
    pub hostname: String,
    /// The rootfs (an overlay mount or a flattened copy).
    pub rootfs: PathBuf,
    /// Whether the rootfs is an overlay mount.
    pub overlay: bool,
    /// The json-file log.
    pub log_path: PathBuf,
    /// The runtime state root used for this container.
    pub runtime_root: PathBuf,
    /// The container's IP addresses (bridge networks).
    pub ips: Vec<String>,
    /// The network it is attached to (bridge networks).
    pub network: Option<String>,
    /// The gateway (bridge networks).
    pub gateway: Option<String>,
    /// Published ports as `host_ip:host_port->container_port/proto`.
    pub ports: Vec<String>,
    /// Volumes it uses.
    pub volumes: Vec<crate::engine::VolumeUse>,
}

/// The container directory and name index under a data root.
#[derive(Debug, Clone)]
pub struct Containers {
    root: PathBuf,
    names: PathBuf,
}

/// An exclusive flock on a container; released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
}

impl Containers {
    /// The records under `data_root`.
    pub fn new(data_root: &Path) -> Self {
        Containers {
            root: data_root.join("containers"),
            names: data_root.join("container-names"),
        }
    }

    /// `containers/<id>`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Makes a new container's directory, locked: it is made under a
    /// temporary name with its lock taken, then renamed into place, so
    /// prune never sees a fresh directory without a held lock.
    pub fn create_dir(&self, id: &str) -> Result<(PathBuf, Lock)> {
        // Records hold the containers' environments (secrets): root only.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&self.root)
            .map_err(|e| Error::io("creating", &self.root, e))?;
        let tmp = self.root.join(format!(".{id}.tmp"));
        fs::create_dir(&tmp).map_err(|e| Error::io("creating container directory", &tmp, e))?;
        let lock = lock_file(&tmp.join("lock"));
        let d = self.dir(id);
        let renamed = lock.and_then(|l| {
            fs::rename(&tmp, &d).map_err(|e| Error::io("creating container directory", &d, e))?;
            Ok(l)
        });
        match renamed {
            Ok(l) => Ok((d, l)),
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// Takes the container's lock (blocks while another process holds it).
    pub fn lock(&self, id: &str) -> Result<Lock> {
        lock_file(&self.dir(id).join("lock"))
    }

    /// Whether a process holds the container's lock (a create or an
    /// update in progress).
    pub fn busy(&self, id: &str) -> bool {
        self.busy_dir(&self.dir(id))
    }

    /// [`Containers::busy`] for a directory.
    pub fn busy_dir(&self, dir: &Path) -> bool {
        let p = dir.join("lock");
        fs::File::open(&p).is_ok_and(|f| f.try_lock().is_err())
    }

    /// The lock of a container directory, if nobody holds it.
    pub fn try_lock_dir(&self, dir: &Path) -> Option<Lock> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .ok()?;
        f.try_lock().ok()?;
        Some(Lock { _file: f })
    }

    /// Container directories without a record, and `.<id>.tmp` ones older
    /// than a minute (ids of the temporary ones are `None`).
    pub fn partial_dirs(&self) -> Result<Vec<(Option<String>, PathBuf)>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io("listing", &self.root, e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let tmp = name
                .strip_prefix('.')
                .and_then(|n| n.strip_suffix(".tmp"))
                .is_some_and(is_id);
            // A fresh temporary directory may be a create between its
            // mkdir and its lock: only old ones are remains (they never
            // hold a mount: the rootfs is mounted after the rename).
            let old = || {
                e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > std::time::Duration::from_secs(60))
            };
            if tmp && old() {
                out.push((None, e.path()));
            } else if is_id(&name) && !e.path().join("config.json").exists() {
                out.push((Some(name), e.path()));
            }
        }
        Ok(out)
    }

    /// Loads a record; `None` when the container has none (gone, or a
    /// create that never finished).
    pub fn load(&self, id: &str) -> Result<Option<Record>> {
        let p = self.dir(id).join("config.json");
        let b = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading", &p, e)),
        };
        serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| Error::Record { path: p, source })
    }

    /// Writes a record atomically (the caller holds the lock).
    pub fn save(&self, r: &Record) -> Result<()> {
        let p = self.dir(&r.id).join("config.json");
        let tmp = self.dir(&r.id).join(".config.json.tmp");
        let b = serde_json::to_vec_pretty(r).expect("records serialize");
        fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&b))
            .and_then(|()| fs::rename(&tmp, &p))
            .map_err(|e| Error::io("writing", &p, e))
    }

    /// Load, change and save under the lock; returns the new record.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Record)) -> Result<Record> {
        let _l = self.lock(id)?;
        let mut r = self
            .load(id)?
            .ok_or_else(|| Error::NoSuchContainer(id.into()))?;
        f(&mut r);
        self.save(&r)?;
        Ok(r)
    }

    /// Every container id with a directory (records or not).
    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(Error::io("listing", &self.root, e)),
        };
        let mut ids: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_id(n))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Every record, newest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping container {id}: {e}"),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created));
        Ok(out)
    }

    /// Claims `name` for `id`.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        fs::create_dir_all(&self.names).map_err(|e| Error::io("creating", &self.names, e))?;
        let p = self.names.join(name);
        match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(mut f) => f
                .write_all(id.as_bytes())
                .map_err(|e| Error::io("writing", &p, e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let holder = fs::read_to_string(&p).unwrap_or_default();
                // A name left by a create that died before its record
                // (no record, and nobody holds its lock): take it over.
                if !holder.is_empty()
                    && holder != id
                    && !self.dir(&holder).join("config.json").exists()
                    && !self.busy(&holder)
                {
                    fs::write(&p, id).map_err(|e| Error::io("writing", &p, e))?;
                    return Ok(());
                }
                Err(Error::NameInUse {
                    name: name.into(),
                    id: holder,
                })
            }
            Err(e) => Err(Error::io("creating", &p, e)),
        }
    }

    /// Releases `name` if `id` holds it.
    pub fn release_name(&self, name: &str, id: &str) {
        let p = self.names.join(name);
        if fs::read_to_string(&p).is_ok_and(|h| h == id) {
            let _ = fs::remove_file(&p);
        }
    }

    /// The id a name, full id or unique id prefix refers to.
    pub fn resolve(&self, what: &str) -> Result<String> {
        let what = what.strip_prefix('/').unwrap_or(what);
        if let Ok(id) = fs::read_to_string(self.names.join(what))
            && self.dir(&id).join("config.json").exists()
            && !what.contains('/')
        {
            return Ok(id);
        }
        if what.is_empty() || !what.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NoSuchContainer(what.into()));
        }
        let matches: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|id| id.starts_with(what) && self.dir(id).join("config.json").exists())
            .collect();
        match matches.len() {
            0 => Err(Error::NoSuchContainer(what.into())),
            1 => Ok(matches.into_iter().next().expect("one match")),
            _ => Err(Error::AmbiguousId(what.into())),
        }
    }
}

fn lock_file(p: &Path) -> Result<Lock> {
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(p)
        .map_err(|e| Error::io("opening lock", p, e))?;
    f.lock().map_err(|e| Error::io("locking", p, e))?;
    Ok(Lock { _file: f })
}

/// 64 lowercase hex digits.
pub fn is_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new random id.
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 32];
    let p = Path::new("/dev/urandom");
    fs::File::open(p)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|e| Error::io("reading", p, e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Random bytes for names.
pub fn random_bytes() -> [u8; 3] {
    let mut b = [0u8; 3];
    let _ =
        fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_names_prefixes() {
        let t = rbox_test_support::TempRoot::new("rbox-rec").unwrap();
        let c = Containers::new(t.path());
        let id = new_id().unwrap();
        assert!(is_id(&id));
        let (_, lock) = c.create_dir(&id).unwrap();
        drop(lock);
        c.reserve_name("web", &id).unwrap();
        // No record yet: not resolvable, not listed.
        assert!(c.resolve("web").is_err());
        let r = Record {
            id: id.clone(),
            name: "web".into(),
            created: crate::time::now(),
            ..Default::default()
        };
        c.save(&r).unwrap();
        assert_eq!(c.resolve("web").unwrap(), id);
        assert_eq!(c.resolve(&id[..6]).unwrap(), id);
        assert_eq!(c.list().unwrap().len(), 1);
        let other = new_id().unwrap();
        let _other_lock = c.create_dir(&other).unwrap();
        assert!(matches!(
            c.reserve_name("web", &other),
            Err(Error::NameInUse { .. })
        ));
        let r2 = c.update(&id, |r| r.state.status = Status::Running).unwrap();
        assert_eq!(r2.state.status, Status::Running);
        c.release_name("web", &other);
        assert_eq!(c.resolve("web").unwrap(), id);
        c.release_name("web", &id);
        assert!(c.resolve("web").is_err());
        assert!(matches!(c.resolve("zz"), Err(Error::NoSuchContainer(_))));
    }
}
