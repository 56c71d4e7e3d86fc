use std::io::{Read, Write};

use super::*;

const EMPTY_SHA256: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC_SHA512: &str = "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";

#[test]
fn parses_and_prints_valid_digests() {
    for s in [EMPTY_SHA256, ABC_SHA512] {
        let d = Digest::parse(s).expect(s);
        assert_eq!(d.to_string(), s);
        assert_eq!(d.as_str(), s);
        assert_eq!(format!("{}:{}", d.algorithm(), d.hex()), s);
    }
    let sha384 = format!("sha384:{}", "a".repeat(96));
    assert_eq!(
        Digest::parse(&sha384).expect("sha384").algorithm(),
        Algorithm::Sha384
    );
}

#[test]
fn rejects_bad_digests_naming_the_problem() {
    type Check = fn(&DigestError) -> bool;
    let cases: &[(&str, Check)] = &[
        ("", |e| matches!(e, DigestError::Format { .. })),
        ("sha256", |e| matches!(e, DigestError::Format { .. })),
        (":abc", |e| matches!(e, DigestError::Format { .. })),
        ("sha256:", |e| matches!(e, DigestError::Format { .. })),
        ("SHA256:abc", |e| matches!(e, DigestError::Format { .. })),
        ("sha-:abc", |e| matches!(e, DigestError::Format { .. })),
        (
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            |e| matches!(e, DigestError::UnsupportedAlgorithm { algorithm } if algorithm == "md5"),
        ),
        (
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
            |e| matches!(e, DigestError::UnsupportedAlgorithm { .. }),
        ),
        ("sha256:abc", |e| {
            matches!(
                e,
                DigestError::Length {
                    expected: 64,
                    found: 3,
                    ..
                }
            )
        }),
        (
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            |e| matches!(e, DigestError::Hex { .. }),
        ),
        (
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            |e| matches!(e, DigestError::Hex { .. }),
        ),
        (
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            |e| matches!(e, DigestError::Length { expected: 128, .. }),
        ),
    ];
    for (input, check) in cases {
        let err = Digest::parse(input).expect_err(input);
        assert!(check(&err), "{input:?}: unexpected {err:?}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn hashes_known_vectors() {
    assert_eq!(Digest::sha256(b"").as_str(), EMPTY_SHA256);
    assert_eq!(Digest::of(Algorithm::Sha512, b"abc").as_str(), ABC_SHA512);
    let mut h = Hasher::new(Algorithm::Sha256);
    h.write_all(b"a").expect("write");
    h.update(b"bc");
    assert_eq!(
        h.finish().as_str(),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn serde_round_trips_and_validates() {
    let d = Digest::parse(EMPTY_SHA256).expect("digest");
    let json = serde_json::to_string(&d).expect("serialize");
    assert_eq!(json, format!("\"{EMPTY_SHA256}\""));
    assert_eq!(
        serde_json::from_str::<Digest>(&json).expect("deserialize"),
        d
    );
    assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
}

#[test]
fn digest_reader_and_writer_count_and_hash() {
    let data = vec![7u8; 100_000];
    let mut r = DigestReader::new(&data[..], Algorithm::Sha256);
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("read");
    assert_eq!(r.count(), 100_000);
    assert_eq!(r.digest(), Digest::sha256(&data));

    let mut w = DigestWriter::new(Vec::new(), Algorithm::Sha256);
    w.write_all(&data).expect("write");
    let (inner, digest, count) = w.into_parts();
    assert_eq!(
        (inner, digest, count),
        (data.clone(), Digest::sha256(&data), 100_000)
    );
}

#[test]
fn resumed_reader_continues_the_hash() {
    let data = b"hello, resumable world";
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(&data[..5]);
    let mut r = DigestReader::resume(&data[5..], h, 5);
    std::io::copy(&mut r, &mut std::io::sink()).expect("copy");
    assert_eq!(r.count(), data.len() as u64);
    assert_eq!(r.digest(), Digest::sha256(data));
}

fn read_all(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).map(|_| v)
}

fn digest_error(e: &std::io::Error) -> &DigestError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<DigestError>())
        .expect("a DigestError inside")
}

#[test]
fn verifying_reader_accepts_good_content() {
    let data = b"content";
    let mut r = VerifyingReader::new(&data[..], Digest::sha256(data), Some(7));
    assert_eq!(read_all(&mut r).expect("good content"), data);
    assert!(r.verified());
}

#[test]
fn verifying_reader_rejects_wrong_digest_at_end() {
    let mut r = VerifyingReader::new(&b"content"[..], Digest::sha256(b"other"), None);
    let e = read_all(&mut r).expect_err("wrong digest");
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    assert!(matches!(digest_error(&e), DigestError::Mismatch { .. }));
    assert!(!r.verified());
}

#[test]
fn verifying_reader_rejects_short_and_long_content() {
    let data = b"content";
    let mut short = VerifyingReader::new(&data[..], Digest::sha256(data), Some(8));
    let e = read_all(&mut short).expect_err("short");
    assert_eq!(
        digest_error(&e),
        &DigestError::SizeMismatch {
            expected: 8,
            actual: 7
        }
    );
    // A source running past the size fails before its end, not after.
    let long = std::io::repeat(0).take(1 << 30);
    let mut long = VerifyingReader::new(long, Digest::sha256(data), Some(7));
    let e = read_all(&mut long).expect_err("long");
    assert!(matches!(
        digest_error(&e),
        DigestError::SizeMismatch { expected: 7, .. }
    ));
    assert!(long.count() < 1 << 20, "stopped early: {}", long.count());
}
