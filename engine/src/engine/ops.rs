//! pause, unpause and rename.
//!
//! A paused container keeps the status `running` with `paused` set, as
//! docker reports `Up … (Paused)`: everything that signals it (kill,
//! stop, rm -f) thaws it afterwards, since a frozen process cannot act
//! on a signal.

use super::Engine;
use crate::error::{Error, Result};
use crate::names;
use crate::record::{Record, Status};

impl Engine {
    /// `rbox pause`: freezes every process of the container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let rec = self.record(id)?;
        if rec.state.status != Status::Running || rec.state.paused {
            return Err(Error::WrongState {
                id: id.into(),
                status: status_word(&rec),
                want: "only a running container can be paused",
            });
        }
        let mut c = self.runtime_container(&rec)?;
        c.pause().map_err(|source| Error::Runtime {
            id: id.into(),
            source,
        })?;
        self.containers.update(id, |r| r.state.paused = true)?;
        Ok(())
    }

    /// `rbox unpause`: thaws a paused container.
    pub fn unpause(&self, id: &str) -> Result<()> {
        let rec = self.record(id)?;
        if rec.state.status != Status::Running || !rec.state.paused {
            return Err(Error::WrongState {
                id: id.into(),
                status: status_word(&rec),
                want: "it is not paused",
            });
        }
        let mut c = self.runtime_container(&rec)?;
        c.resume().map_err(|source| Error::Runtime {
            id: id.into(),
            source,
        })?;
        self.containers.update(id, |r| r.state.paused = false)?;
        Ok(())
    }

    /// Thaws a paused container after a signal was sent, so that it can
    /// act on it.
    pub(crate) fn thaw_after_signal(&self, rec: &Record) {
        if !rec.state.paused {
            return;
        }
        if let Ok(mut c) = self.runtime_container(rec) {
            let _ = c.resume();
        }
        let _ = self.containers.update(&rec.id, |r| r.state.paused = false);
    }

    /// `rbox rename`: gives the container a new name; the old one is
    /// free once this returns.
    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let new_name = names::validate(new_name)?;
        let old = self.record(id)?.name;
        if old == new_name {
            return Err(Error::NameInUse {
                name: new_name,
                id: id.into(),
            });
        }
        self.containers.reserve_name(&new_name, id)?;
        match self.containers.update(id, |r| r.name = new_name.clone()) {
            Ok(_) => {
                self.containers.release_name(&old, id);
                Ok(())
            }
            Err(e) => {
                self.containers.release_name(&new_name, id);
                Err(e)
            }
        }
    }
}

fn status_word(rec: &Record) -> String {
    if rec.state.paused && rec.state.status == Status::Running {
        "paused".into()
    } else {
        rec.state.status.to_string()
    }
}
