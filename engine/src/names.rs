//! Container names: docker's `adjective_surname` generator and the
//! validity rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.

use crate::error::{Error, Result};

const LEFT: &[&str] = &[
    "admiring",
    "agitated",
    "amazing",
    "bold",
    "brave",
    "busy",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elegant",
    "epic",
    "festive",
    "focused",
    "friendly",
    "gallant",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "loving",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "vibrant",
    "wizardly",
    "zealous",
];

const RIGHT: &[&str] = &[
    "agnesi", "babbage", "bardeen", "bell", "booth", "curie", "darwin", "dijkstra", "einstein",
    "euler", "fermat", "feynman", "franklin", "galileo", "gauss", "hopper", "hypatia", "johnson",
    "kepler", "knuth", "lamarr", "lovelace", "meitner", "newton", "noether", "pascal", "ritchie",
    "shannon", "tesla", "thompson", "turing", "volhard", "wozniak", "yalow",
];

/// A random `adjective_surname`; with `retry > 0` a digit is appended,
/// as docker does after a clash.
pub fn generate(random: &[u8], retry: u32) -> String {
    let a = random.first().copied().unwrap_or(0) as usize % LEFT.len();
    let b = random.get(1).copied().unwrap_or(0) as usize % RIGHT.len();
    // docker never names a container boring_wozniak; neither do we.
    let mut name = format!("{}_{}", LEFT[a], RIGHT[b]);
    if retry > 0 {
        name.push_str(&(random.get(2).copied().unwrap_or(0) % 10).to_string());
    }
    name
}

/// Checks a user-given name (a leading `/` is accepted and dropped).
pub fn validate(name: &str) -> Result<String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && n.len() >= 2
        && n.len() <= 128;
    if !ok {
        return Err(Error::InvalidName { name: name.into() });
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(generate(&[0, 0], 0).contains('_'));
        assert!(validate(&generate(&[7, 9, 3], 1)).is_ok());
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        for bad in ["", "a", "-x", "a/b", "a b", ".x"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
