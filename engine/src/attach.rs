//! The stream between a client (`rbox run`, `rbox start -a`) and the
//! monitor, over a socketpair the client creates: frames of
//! `[kind u8][len u32 BE][payload]`.

use std::io::{Read, Write};

/// Frame kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Kind {
    /// Client → monitor: stdin bytes.
    Stdin = 0,
    /// Monitor → client: stdout bytes.
    Stdout = 1,
    /// Monitor → client: stderr bytes.
    Stderr = 2,
    /// Monitor → client: the container exited; payload: the code.
    Exit = 3,
    /// Monitor → client: the container runs.
    Started = 4,
    /// Monitor → client: start failed; payload: exit code byte + message.
    Error = 5,
    /// Client → monitor: stdin closed.
    StdinEof = 6,
    /// Client → monitor: terminal size, rows and cols as u16 BE.
    Resize = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0 => Kind::Stdin,
            1 => Kind::Stdout,
            2 => Kind::Stderr,
            3 => Kind::Exit,
            4 => Kind::Started,
            5 => Kind::Error,
            6 => Kind::StdinEof,
            7 => Kind::Resize,
            _ => return None,
        })
    }
}

/// The largest payload a frame may carry.
const MAX_FRAME: usize = 1 << 20;

/// Writes one frame.
pub fn write_frame(w: &mut impl Write, kind: Kind, payload: &[u8]) -> std::io::Result<()> {
    let mut b = Vec::with_capacity(5 + payload.len());
    b.push(kind as u8);
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    w.write_all(&b)
}

/// Reads one frame; `None` at end of stream.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<Option<(Kind, Vec<u8>)>> {
    let mut h = [0u8; 5];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let kind = Kind::from_u8(h[0]).ok_or_else(|| std::io::Error::other("unknown attach frame"))?;
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other("attach frame too large"));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p)?;
    Ok(Some((kind, p)))
}

/// Incremental frame decoder for non-blocking reads.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Adds bytes; returns complete frames.
    pub fn push(&mut self, data: &[u8]) -> Vec<(Kind, Vec<u8>)> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.buf.len() < 5 {
                break;
            }
            let len =
                u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if len > MAX_FRAME {
                // Not a peer speaking this protocol: drop what it sent.
                self.buf.clear();
                break;
            }
            if self.buf.len() < 5 + len {
                break;
            }
            let frame: Vec<u8> = self.buf.drain(..5 + len).collect();
            if let Some(k) = Kind::from_u8(frame[0]) {
                out.push((k, frame[5..].to_vec()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let mut b = Vec::new();
        write_frame(&mut b, Kind::Stdout, b"hi").unwrap();
        write_frame(&mut b, Kind::Exit, b"3").unwrap();
        let mut d = Decoder::default();
        let mut got = d.push(&b[..3]);
        got.extend(d.push(&b[3..]));
        assert_eq!(
            got,
            vec![(Kind::Stdout, b"hi".to_vec()), (Kind::Exit, b"3".to_vec())]
        );
        let mut r = &b[..];
        assert_eq!(read_frame(&mut r).unwrap().unwrap().0, Kind::Stdout);
    }
}
