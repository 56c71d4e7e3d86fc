//! A minimal `tracing` subscriber: the runtime library's warnings (failed
//! poststart/poststop hooks, cleanup problems) reach stderr and `--log`;
//! its debug lines only with `--debug`.

use std::fmt::Write;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::log::Logger;

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

struct ToLogger {
    log: Logger,
    max: Level,
}

impl Subscriber for ToLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut m = Message(String::new());
        e.record(&mut m);
        if *e.metadata().level() <= Level::WARN {
            self.log.warn(&m.0);
        } else {
            self.log.debug(&m.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the subscriber for this process.
pub fn install(log: &Logger) {
    let max = if log.debug { Level::DEBUG } else { Level::WARN };
    let _ = tracing::subscriber::set_global_default(ToLogger {
        log: log.clone(),
        max,
    });
}
