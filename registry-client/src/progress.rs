//! Progress reporting: the library never draws anything, it tells a
//! caller-supplied [`ProgressSink`] what happens to each blob.

use rbox_image::Digest;

/// Where a blob transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressState {
    /// Queued behind other transfers.
    Waiting,
    /// Bytes arriving (`bytes` of `total`).
    Downloading,
    /// All bytes in; checking the digest.
    Verifying,
    /// Already present (in the store on pull, in the registry on push).
    Exists,
    /// Mounted from another repository of the registry: no upload.
    Mounted,
    /// Bytes leaving (`bytes` of `total`).
    Uploading,
    /// A downloaded layer being unpacked into the store.
    Extracting,
    /// Finished.
    Done,
}

/// What a blob is to the image, when the operation knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobKind {
    /// The image config (docker shows no line for it).
    Config,
    /// A layer.
    Layer,
}

/// One progress report about one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgressEvent {
    /// A short id for display (the first 12 hex digits of the digest).
    pub id: String,
    /// The blob.
    pub digest: Digest,
    /// What is happening.
    pub state: ProgressState,
    /// Bytes transferred (or already present) so far.
    pub bytes: u64,
    /// The blob's size, when known.
    pub total: Option<u64>,
    /// Config or layer: set by image pull and push, `None` for a lone
    /// blob transfer.
    pub kind: Option<BlobKind>,
}

impl ProgressEvent {
    /// An event for `digest`.
    pub fn new(digest: &Digest, state: ProgressState, bytes: u64, total: Option<u64>) -> Self {
        Self {
            id: digest.hex().chars().take(12).collect(),
            digest: digest.clone(),
            state,
            bytes,
            total,
            kind: None,
        }
    }
}

/// Passes events on, marking the image's config and its layers.
pub(crate) struct Classify<'a> {
    pub(crate) inner: &'a dyn ProgressSink,
    pub(crate) config: &'a Digest,
}

impl ProgressSink for Classify<'_> {
    fn event(&self, mut event: ProgressEvent) {
        event.kind = Some(if event.digest == *self.config {
            BlobKind::Config
        } else {
            BlobKind::Layer
        });
        self.inner.event(event);
    }
}

/// Receives progress events; called from transfer threads.
pub trait ProgressSink: Send + Sync {
    /// One event.
    fn event(&self, event: ProgressEvent);
}

/// A sink that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _event: ProgressEvent) {}
}

/// Collects events (for tests and simple embedders).
#[derive(Debug, Default)]
pub struct RecordingProgress {
    events: std::sync::Mutex<Vec<ProgressEvent>>,
}

impl RecordingProgress {
    /// Every event so far, in arrival order.
    pub fn events(&self) -> Vec<ProgressEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl ProgressSink for RecordingProgress {
    fn event(&self, event: ProgressEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_marks_the_config_and_the_layers() {
        let config = Digest::parse(&format!("sha256:{}", "c".repeat(64))).unwrap();
        let layer = Digest::parse(&format!("sha256:{}", "1".repeat(64))).unwrap();
        let rec = RecordingProgress::default();
        let sink = Classify {
            inner: &rec,
            config: &config,
        };
        sink.event(ProgressEvent::new(&config, ProgressState::Done, 1, Some(1)));
        sink.event(ProgressEvent::new(&layer, ProgressState::Done, 2, Some(2)));
        let kinds: Vec<_> = rec.events().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [Some(BlobKind::Config), Some(BlobKind::Layer)]);
        assert_eq!(
            ProgressEvent::new(&layer, ProgressState::Done, 0, None).kind,
            None
        );
    }
}
