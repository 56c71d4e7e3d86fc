//! Content digests: the validated [`Digest`] newtype and streaming hashers.
//!
//! A [`Digest`] is always `<algorithm>:<lowercase hex>` with a supported
//! algorithm (sha256, sha384, sha512) and the exact hex length for it, so a
//! value of the type can be used as a file name under `blobs/<algorithm>/`
//! without further checks. [`DigestReader`] and [`DigestWriter`] hash what
//! passes through them; [`VerifyingReader`] turns a wrong digest or size into
//! an I/O error at end of stream, so a consumer never mistakes bad content
//! for good.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::Digest as _;

use crate::error::DigestError;

/// A hash algorithm a [`Digest`] may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256, the algorithm of every OCI and Docker image in practice.
    Sha256,
    /// SHA-384, registered in the OCI image spec.
    Sha384,
    /// SHA-512, registered in the OCI image spec.
    Sha512,
}

impl Algorithm {
    /// The name used in digests and in `blobs/<name>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding of a hash.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest, `sha256:<64 lowercase hex>` (or sha384,
/// sha512).
///
/// Ordering and equality are those of the string form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The whole `algorithm:hex` text; validated on construction.
    text: String,
    algorithm: Algorithm,
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    ///
    /// The rules are go-digest's: the algorithm must be one this crate
    /// supports and the hex part lowercase and exactly as long as the
    /// algorithm's output.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let Some((name, hex)) = s.split_once(':') else {
            return Err(DigestError::Format {
                input: s.to_owned(),
            });
        };
        if name.is_empty() || hex.is_empty() || !valid_algorithm_name(name) {
            return Err(DigestError::Format {
                input: s.to_owned(),
            });
        }
        let Some(algorithm) = Algorithm::from_name(name) else {
            return Err(DigestError::UnsupportedAlgorithm {
                algorithm: name.to_owned(),
            });
        };
        if hex.len() != algorithm.hex_len() {
            return Err(DigestError::Length {
                input: s.to_owned(),
                algorithm,
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Hex {
                input: s.to_owned(),
            });
        }
        Ok(Self {
            text: s.to_owned(),
            algorithm,
        })
    }

    /// The digest of `data` with `algorithm`.
    pub fn of(algorithm: Algorithm, data: &[u8]) -> Self {
        let mut h = Hasher::new(algorithm);
        h.update(data);
        h.finish()
    }

    /// The sha256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Self {
        Self::of(Algorithm::Sha256, data)
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part (the file name under `blobs/<algorithm>/`).
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole `algorithm:hex` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Algorithm names as go-digest's grammar allows them, so that a
/// well-formed but unknown algorithm is reported as unsupported rather
/// than malformed: `[a-z0-9]+([+._-][a-z0-9]+)*`.
fn valid_algorithm_name(name: &str) -> bool {
    name.split(['+', '.', '_', '-']).all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.text)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental hash for one [`Algorithm`].
#[derive(Clone)]
pub struct Hasher {
    state: State,
}

#[derive(Clone)]
enum State {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => State::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
        };
        Self { state }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha384(_) => Algorithm::Sha384,
            State::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let algorithm = self.algorithm();
        let bytes: Vec<u8> = match self.state {
            State::Sha256(h) => h.finalize().to_vec(),
            State::Sha384(h) => h.finalize().to_vec(),
            State::Sha512(h) => h.finalize().to_vec(),
        };
        let mut text = String::with_capacity(algorithm.as_str().len() + 1 + bytes.len() * 2);
        text.push_str(algorithm.as_str());
        text.push(':');
        for b in bytes {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest { text, algorithm }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader that hashes and counts every byte read through it.
#[derive(Debug)]
pub struct DigestReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R> DigestReader<R> {
    /// Wraps `inner`, hashing with `algorithm`.
    pub fn new(inner: R, algorithm: Algorithm) -> Self {
        Self {
            inner,
            hasher: Hasher::new(algorithm),
            count: 0,
        }
    }

    /// Wraps `inner`, continuing from a hasher that already saw `count`
    /// bytes (resuming a partial download).
    pub fn resume(inner: R, hasher: Hasher, count: u64) -> Self {
        Self {
            inner,
            hasher,
            count,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest of the bytes read so far.
    pub fn digest(&self) -> Digest {
        self.hasher.clone().finish()
    }

    /// The wrapped reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The wrapped reader, the digest and the byte count.
    pub fn into_parts(self) -> (R, Digest, u64) {
        (self.inner, self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts every byte written through it.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    hasher: Hasher,
    count: u64,
}

impl<W> DigestWriter<W> {
    /// Wraps `inner`, hashing with `algorithm`.
    pub fn new(inner: W, algorithm: Algorithm) -> Self {
        Self {
            inner,
            hasher: Hasher::new(algorithm),
            count: 0,
        }
    }

    /// Bytes written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The wrapped writer, the digest and the byte count.
    pub fn into_parts(self) -> (W, Digest, u64) {
        (self.inner, self.hasher.finish(), self.count)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that checks, when its source ends, that the content had the
/// expected digest (and size, when known), and fails early if the source
/// runs past the expected size.
///
/// A mismatch is an [`io::ErrorKind::InvalidData`] error wrapping a
/// [`DigestError`], returned instead of the final end of stream, so a
/// consumer that reads to the end never accepts bad content.
#[derive(Debug)]
pub struct VerifyingReader<R> {
    inner: DigestReader<R>,
    expected: Digest,
    size: Option<u64>,
    verified: bool,
}

impl<R> VerifyingReader<R> {
    /// Wraps `inner`, expecting `expected` and, if given, exactly `size`
    /// bytes.
    pub fn new(inner: R, expected: Digest, size: Option<u64>) -> Self {
        let algorithm = expected.algorithm();
        Self {
            inner: DigestReader::new(inner, algorithm),
            expected,
            size,
            verified: false,
        }
    }

    /// True once the end of stream was reached with the right content.
    pub fn verified(&self) -> bool {
        self.verified
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.inner.count()
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(size) = self.size
            && self.inner.count() > size
        {
            return Err(invalid_data(DigestError::SizeMismatch {
                expected: size,
                actual: self.inner.count(),
            }));
        }
        if n == 0 && !buf.is_empty() && !self.verified {
            if let Some(size) = self.size
                && self.inner.count() != size
            {
                return Err(invalid_data(DigestError::SizeMismatch {
                    expected: size,
                    actual: self.inner.count(),
                }));
            }
            let actual = self.inner.digest();
            if actual != self.expected {
                return Err(invalid_data(DigestError::Mismatch {
                    expected: self.expected.clone(),
                    actual,
                }));
            }
            self.verified = true;
        }
        Ok(n)
    }
}

fn invalid_data(e: DigestError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests;
