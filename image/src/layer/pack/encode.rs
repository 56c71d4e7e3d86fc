//! The byte side of packing: the compressing writer, ustar name fields,
//! and a reader that notices a file shrinking under it.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use crate::digest::DigestWriter;
use crate::layer::Compression;

pub(super) enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(w) => w.write(buf),
            Self::Gzip(w) => w.write(buf),
            Self::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(w) => w.flush(),
            Self::Gzip(w) => w.flush(),
            Self::Zstd(w) => w.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    pub(super) fn new(w: W, compression: Compression, level: Option<u32>) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Self::Plain(w),
            // The gzip header carries no name and mtime 0: reproducible.
            Compression::Gzip => Self::Gzip(flate2::write::GzEncoder::new(
                w,
                level.map_or_else(flate2::Compression::default, flate2::Compression::new),
            )),
            Compression::Zstd => Self::Zstd(zstd::stream::write::Encoder::new(
                w,
                level.map_or(zstd::DEFAULT_COMPRESSION_LEVEL, |l| {
                    i32::try_from(l).unwrap_or(22)
                }),
            )?),
        })
    }

    pub(super) fn finish(self) -> io::Result<W> {
        match self {
            Self::Plain(w) => Ok(w),
            Self::Gzip(w) => w.finish(),
            Self::Zstd(w) => w.finish(),
        }
    }
}

pub(super) type Output<W> = DigestWriter<Encoder<DigestWriter<BufWriter<W>>>>;

/// Writes `path` into the ustar name (and prefix) fields; false if it does
/// not fit and needs a PAX `path` record (the fields then hold a truncated
/// copy for old readers).
pub(super) fn set_ustar_name(h: &mut tar::Header, path: &[u8]) -> bool {
    let ustar = h.as_ustar_mut().expect("a ustar header");
    let (name_max, prefix_max) = (ustar.name.len(), ustar.prefix.len());
    if path.len() <= name_max {
        ustar.name[..path.len()].copy_from_slice(path);
        return true;
    }
    // Split at a '/' so the prefix and the rest both fit (a trailing '/'
    // of a directory stays in the name part).
    let body = path.strip_suffix(b"/").unwrap_or(path);
    let split = body
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'/' && i <= prefix_max && path.len() - i - 1 <= name_max)
        .map(|(i, _)| i)
        .next();
    if let Some(i) = split {
        ustar.prefix[..i].copy_from_slice(&path[..i]);
        let rest = &path[i + 1..];
        ustar.name[..rest.len()].copy_from_slice(rest);
        return true;
    }
    ustar.name.copy_from_slice(&path[..name_max]);
    false
}

/// Reads exactly `left` bytes; an early end is `UnexpectedEof` (the file
/// shrank while being packed).
pub(super) struct Exact {
    pub(super) inner: File,
    pub(super) left: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
