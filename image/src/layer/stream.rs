//! The read side of a layer: compression detection, decompression and the
//! two digests, in one pass over the stream.
//!
//! Chain: source → sha256 of the stream as stored (`digest`) → buffer →
//! decoder → sha256 of the tar (`diff_id`, skipped for plain streams where
//! it equals `digest`) → [`pipe`] to the unpacking thread → metadata
//! budget → tar reader. Everything before the pipe runs on its own thread,
//! so decompression and hashing overlap with the file system calls.

use std::cell::Cell;
use std::io::{self, BufReader, Chain, Cursor, Read};
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread;

use flate2::bufread::MultiGzDecoder;

use super::Compression;
use crate::digest::{Algorithm, Digest, DigestReader, Hasher};
use crate::error::{Error, Result};

/// Enough bytes to tell every format [`Compression::detect`] knows.
const MAGIC_LEN: usize = 6;
/// Read-ahead on the stored stream; large reads keep syscalls and decoder
/// calls few.
const BUFFER: usize = 256 << 10;

type Source<R> = BufReader<Chain<Cursor<Vec<u8>>, DigestReader<R>>>;

enum Decoder<R: Read> {
    Plain(Source<R>),
    Gzip(Box<MultiGzDecoder<Source<R>>>),
    Zstd(zstd::stream::read::Decoder<'static, Source<R>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(r) => r.read(buf),
            Self::Zstd(r) => r.read(buf),
        }
    }
}

impl<R: Read> Decoder<R> {
    fn into_source(self) -> Source<R> {
        match self {
            Self::Plain(r) => r,
            Self::Gzip(r) => r.into_inner(),
            Self::Zstd(r) => r.finish(),
        }
    }
}

/// The uncompressed tar stream of a layer, hashed as it is read.
pub(crate) struct Decoded<R: Read> {
    decoder: Decoder<R>,
    /// None for plain streams: their diff_id is the stream digest.
    hasher: Option<Hasher>,
    count: u64,
    compression: Compression,
}

/// Digests and sizes of a layer stream read to its end.
pub(crate) struct StreamDigests {
    pub(crate) digest: Digest,
    pub(crate) size: u64,
    pub(crate) diff_id: Digest,
    pub(crate) compression: Compression,
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

impl<R: Read> Decoded<R> {
    /// Opens `reader`: detects the compression from its first bytes and
    /// sets up the decoder.
    pub(crate) fn open(reader: R) -> Result<Self> {
        let mut tap = DigestReader::new(reader, Algorithm::Sha256);
        let mut magic = vec![0u8; MAGIC_LEN];
        let mut got = 0;
        while got < MAGIC_LEN {
            match tap.read(&mut magic[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::Tar {
                        entry: None,
                        source: e,
                    });
                }
            }
        }
        magic.truncate(got);
        let compression = Compression::detect(&magic)?;
        let source = BufReader::with_capacity(BUFFER, Cursor::new(magic).chain(tap));
        let decoder = match compression {
            Compression::None => Decoder::Plain(source),
            Compression::Gzip => Decoder::Gzip(Box::new(MultiGzDecoder::new(source))),
            Compression::Zstd => Decoder::Zstd(
                zstd::stream::read::Decoder::with_buffer(source).map_err(|e| Error::Tar {
                    entry: None,
                    source: e,
                })?,
            ),
        };
        let hasher = (compression != Compression::None).then(|| Hasher::new(Algorithm::Sha256));
        Ok(Self {
            decoder,
            hasher,
            count: 0,
            compression,
        })
    }

    /// Reads what is left of both streams (tar padding, trailing frames)
    /// so the digests cover them whole, and returns the digests.
    pub(crate) fn finish(mut self) -> io::Result<StreamDigests> {
        io::copy(&mut self, &mut io::sink())?;
        let mut source = self.decoder.into_source();
        io::copy(&mut source, &mut io::sink())?;
        let (_, tap) = source.into_inner().into_inner();
        let (_, digest, size) = tap.into_parts();
        let diff_id = match self.hasher {
            Some(h) => h.finish(),
            None => digest.clone(),
        };
        Ok(StreamDigests {
            digest,
            size,
            diff_id,
            compression: self.compression,
        })
    }

    pub(crate) fn compression(&self) -> Compression {
        self.compression
    }
}

/// [`super::decompress`].
pub(crate) fn decompress<'a, R: Read + 'a>(reader: R) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let mut d = Decoded::open(reader)?;
    d.hasher = None;
    Ok((d.compression(), Box::new(d)))
}

/// Caps how much the tar reader may consume on its own between two
/// entries: the tar crate buffers PAX and GNU long-name records whole, so
/// without a cap a hostile layer could make it allocate without bound.
pub(crate) struct Budget<R> {
    inner: R,
    left: Rc<Cell<Option<u64>>>,
}

/// The handle the unpack loop uses to arm and disarm a [`Budget`].
#[derive(Clone)]
pub(crate) struct BudgetHandle(Rc<Cell<Option<u64>>>);

impl<R> Budget<R> {
    pub(crate) fn new(inner: R) -> (Self, BudgetHandle) {
        let left = Rc::new(Cell::new(None));
        (
            Self {
                inner,
                left: left.clone(),
            },
            BudgetHandle(left),
        )
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

impl BudgetHandle {
    /// Allows at most `bytes` until [`BudgetHandle::disarm`].
    pub(crate) fn arm(&self, bytes: u64) {
        self.0.set(Some(bytes));
    }

    /// Lifts the cap (while entry data is read by the unpacker itself).
    pub(crate) fn disarm(&self) {
        self.0.set(None);
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(left) = self.left.get() else {
            return self.inner.read(buf);
        };
        if left == 0 {
            return Err(io::Error::other(
                "tar header records (PAX or GNU long names) exceed 1 MiB",
            ));
        }
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left.set(Some(left - n as u64));
        Ok(n)
    }
}

/// Size of the chunks the decoding thread hands over.
const CHUNK: usize = 256 << 10;
/// Chunks in flight: enough to ride out a burst of small-file syscalls.
const DEPTH: usize = 8;

/// The consumer end of [`pipe`]: the uncompressed stream, decoded and
/// hashed by another thread while this one writes files.
pub(crate) struct Piped {
    rx: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

/// Moves decoding and hashing of `decoded` to a thread of `scope`, so
/// decompression and sha256 overlap with the file writes of the unpack.
pub(crate) fn pipe<'scope, R: Read + Send + 'scope>(
    scope: &'scope thread::Scope<'scope, '_>,
    mut decoded: Decoded<R>,
) -> (
    Piped,
    thread::ScopedJoinHandle<'scope, io::Result<StreamDigests>>,
) {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (recycle, spare) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
    let handle = scope.spawn(move || {
        loop {
            let mut buf = spare.try_recv().unwrap_or_default();
            buf.resize(CHUNK, 0);
            let n = match fill(&mut decoded, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let kind = e.kind();
                    let msg = e.to_string();
                    // The consumer reports the first copy; the join result
                    // only matters if it stopped reading before the error.
                    let _ = tx.send(Err(e));
                    return Err(io::Error::new(kind, msg));
                }
            };
            if n == 0 {
                break;
            }
            buf.truncate(n);
            if tx.send(Ok(buf)).is_err() {
                return Err(io::Error::other("the unpack stopped reading"));
            }
        }
        drop(tx);
        decoded.finish()
    });
    let piped = Piped {
        rx,
        recycle,
        cur: Vec::new(),
        pos: 0,
        done: false,
    };
    (piped, handle)
}

/// Reads until `buf` is full or the stream ends.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl Read for Piped {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.cur.len() {
                let n = out.len().min(self.cur.len() - self.pos);
                out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(buf)) => {
                    let old = std::mem::replace(&mut self.cur, buf);
                    let _ = self.recycle.try_send(old);
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
    }
}

impl Piped {
    /// Consumes what is left of the stream (tar padding, trailing frames)
    /// and returns the digests of all of it.
    pub(crate) fn finish(
        mut self,
        handle: thread::ScopedJoinHandle<'_, io::Result<StreamDigests>>,
    ) -> io::Result<StreamDigests> {
        io::copy(&mut self, &mut io::sink())?;
        drop(self);
        handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the layer decoding thread panicked")))
    }
}
