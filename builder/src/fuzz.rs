//! A tiny deterministic generator for the no-panic loops in unit tests:
//! random strings from an alphabet of troublesome pieces, no dependency.

/// xorshift64: fast, deterministic, good enough to shake a parser.
pub(crate) struct Fuzz(u64);

impl Fuzz {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Up to `max_len` pieces picked from `pieces`, concatenated.
    pub(crate) fn pieces<T: AsRef<[u8]>>(&mut self, pieces: &[T], max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        let mut out = Vec::new();
        for _ in 0..len {
            let i = (self.next() % pieces.len() as u64) as usize;
            out.extend_from_slice(pieces[i].as_ref());
        }
        out
    }

    /// Up to `max_len` characters from `alphabet`.
    pub(crate) fn string(&mut self, alphabet: &str, max_len: u64) -> String {
        let chars: Vec<String> = alphabet.chars().map(String::from).collect();
        String::from_utf8(self.pieces(&chars, max_len)).unwrap_or_default()
    }

    /// Up to `max_len` arbitrary bytes.
    pub(crate) fn bytes(&mut self, max_len: u64) -> Vec<u8> {
        let len = self.next() % (max_len + 1);
        (0..len).map(|_| (self.next() >> 24) as u8).collect()
    }
}
