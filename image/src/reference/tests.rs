//! Table-driven tests. Inputs come from distribution/reference's own test
//! suite (reference_test.go, normalize_test.go) with the outcome docker's
//! normalised parse (`ParseNormalizedNamed` + `TagNameOnly`) gives them,
//! plus boundary cases of our own.

use super::*;
use crate::error::DigestError;

const D256: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const D512: &str = "sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const HEX64: &str = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

/// (input, canonical, domain, path, tag, digest, familiar)
type Valid = (
    String,
    String,
    &'static str,
    String,
    Option<&'static str>,
    Option<&'static str>,
    String,
);

fn ok(
    input: impl Into<String>,
    canonical: impl Into<String>,
    domain: &'static str,
    path: impl Into<String>,
    tag: Option<&'static str>,
    digest: Option<&'static str>,
    familiar: impl Into<String>,
) -> Valid {
    (
        input.into(),
        canonical.into(),
        domain,
        path.into(),
        tag,
        digest,
        familiar.into(),
    )
}

#[rustfmt::skip]
fn valid_cases() -> Vec<Valid> {
    let l = Some("latest");
    vec![
        ok("busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", l, None, "busybox:latest"),
        ok("test_com", "docker.io/library/test_com:latest", "docker.io", "library/test_com", l, None, "test_com:latest"),
        ok("test.com:tag", "docker.io/library/test.com:tag", "docker.io", "library/test.com", Some("tag"), None, "test.com:tag"),
        ok("test.com:5000", "docker.io/library/test.com:5000", "docker.io", "library/test.com", Some("5000"), None, "test.com:5000"),
        ok("test.com/repo:tag", "test.com/repo:tag", "test.com", "repo", Some("tag"), None, "test.com/repo:tag"),
        ok("test:5000/repo", "test:5000/repo:latest", "test:5000", "repo", l, None, "test:5000/repo:latest"),
        ok(format!("test:5000/repo@{D256}"), format!("test:5000/repo@{D256}"), "test:5000", "repo", None, Some(D256), format!("test:5000/repo@{D256}")),
        ok(format!("test:5000/repo:tag@{D256}"), format!("test:5000/repo:tag@{D256}"), "test:5000", "repo", Some("tag"), Some(D256), format!("test:5000/repo:tag@{D256}")),
        ok("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io", "library/lowercase", Some("Uppercase"), None, "lowercase:Uppercase"),
        ok("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux:latest", "sub-dom1.foo.com", "bar/baz/quux", l, None, "sub-dom1.foo.com/bar/baz/quux:latest"),
        ok("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", Some("some-long-tag"), None, "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
        ok("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", Some("test.example.com"), None, "b.gcr.io/test.example.com/my-app:test.example.com"),
        ok("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", Some("xn--n3h.com"), None, "xn--n3h.com/myimage:xn--n3h.com"),
        ok(format!("xn--7o8h.com/myimage:xn--7o8h.com@{D512}"), format!("xn--7o8h.com/myimage:xn--7o8h.com@{D512}"), "xn--7o8h.com", "myimage", Some("xn--7o8h.com"), Some(D512), format!("xn--7o8h.com/myimage:xn--7o8h.com@{D512}")),
        ok("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "docker.io", "library/foo_bar.com", Some("8080"), None, "foo_bar.com:8080"),
        ok("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", Some("8080"), None, "foo/foo_bar.com:8080"),
        ok("192.168.1.1", "docker.io/library/192.168.1.1:latest", "docker.io", "library/192.168.1.1", l, None, "192.168.1.1:latest"),
        ok("192.168.1.1:tag", "docker.io/library/192.168.1.1:tag", "docker.io", "library/192.168.1.1", Some("tag"), None, "192.168.1.1:tag"),
        ok("192.168.1.1:5000", "docker.io/library/192.168.1.1:5000", "docker.io", "library/192.168.1.1", Some("5000"), None, "192.168.1.1:5000"),
        ok("192.168.1.1/repo", "192.168.1.1/repo:latest", "192.168.1.1", "repo", l, None, "192.168.1.1/repo:latest"),
        ok("192.168.1.1:5000/repo", "192.168.1.1:5000/repo:latest", "192.168.1.1:5000", "repo", l, None, "192.168.1.1:5000/repo:latest"),
        ok("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", Some("5050"), None, "192.168.1.1:5000/repo:5050"),
        ok("[2001:db8::1]/repo", "[2001:db8::1]/repo:latest", "[2001:db8::1]", "repo", l, None, "[2001:db8::1]/repo:latest"),
        ok("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", Some("tag"), None, "[2001:db8:1:2:3:4:5:6]/repo:tag"),
        ok("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo:latest", "[2001:db8::1]:5000", "repo", l, None, "[2001:db8::1]:5000/repo:latest"),
        ok(format!("[2001:db8::1]:5000/repo:tag@{D256}"), format!("[2001:db8::1]:5000/repo:tag@{D256}"), "[2001:db8::1]:5000", "repo", Some("tag"), Some(D256), format!("[2001:db8::1]:5000/repo:tag@{D256}")),
        ok("[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo:latest", "[2001:db8::]:5000", "repo", l, None, "[2001:db8::]:5000/repo:latest"),
        ok("[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000", "repo", l, None, "[::1]:5000/repo:latest"),
        // localhost is always a domain, with or without a port; alone it is a name.
        ok("localhost/foo", "localhost/foo:latest", "localhost", "foo", l, None, "localhost/foo:latest"),
        ok("localhost:5000/foo/bar:1.0", "localhost:5000/foo/bar:1.0", "localhost:5000", "foo/bar", Some("1.0"), None, "localhost:5000/foo/bar:1.0"),
        ok("localhost", "docker.io/library/localhost:latest", "docker.io", "library/localhost", l, None, "localhost:latest"),
        ok("localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost", Some("5000"), None, "localhost:5000"),
        // Docker Hub spellings.
        ok("docker.io/foo", "docker.io/library/foo:latest", "docker.io", "library/foo", l, None, "foo:latest"),
        ok("docker.io/library/foo", "docker.io/library/foo:latest", "docker.io", "library/foo", l, None, "foo:latest"),
        ok("index.docker.io/library/debian", "docker.io/library/debian:latest", "docker.io", "library/debian", l, None, "debian:latest"),
        ok("index.docker.io/debian", "docker.io/library/debian:latest", "docker.io", "library/debian", l, None, "debian:latest"),
        ok("index.docker.io/fooo/bar", "docker.io/fooo/bar:latest", "docker.io", "fooo/bar", l, None, "fooo/bar:latest"),
        ok("library/ubuntu", "docker.io/library/ubuntu:latest", "docker.io", "library/ubuntu", l, None, "ubuntu:latest"),
        ok("docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "docker.io", "library/foo/bar", l, None, "library/foo/bar:latest"),
        ok("store/foo/bar", "docker.io/store/foo/bar:latest", "docker.io", "store/foo/bar", l, None, "store/foo/bar:latest"),
        ok("other/library", "docker.io/other/library:latest", "docker.io", "other/library", l, None, "other/library:latest"),
        ok("library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base:latest", "docker.io", "library/ubuntu-12.04-base", l, None, "ubuntu-12.04-base:latest"),
        ok("127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase:latest", "127.0.0.1:8000", "private/moonbase", l, None, "127.0.0.1:8000/private/moonbase:latest"),
        ok("example.com/privatebase", "example.com/privatebase:latest", "example.com", "privatebase", l, None, "example.com/privatebase:latest"),
        // An uppercase first element is taken for a host name.
        ok("Foo/bar", "Foo/bar:latest", "Foo", "bar", l, None, "Foo/bar:latest"),
        ok("DOCKER/docker", "DOCKER/docker:latest", "DOCKER", "docker", l, None, "DOCKER/docker:latest"),
        // 64 hex digits are fine as a path once a host is given.
        ok(format!("docker.io/{HEX64}"), format!("docker.io/library/{HEX64}:latest"), "docker.io", format!("library/{HEX64}"), l, None, format!("{HEX64}:latest")),
        ok("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", l, None, "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest"),
        ok("docker---rules/docker", "docker.io/docker---rules/docker:latest", "docker.io", "docker---rules/docker", l, None, "docker---rules/docker:latest"),
        ok("dock__er/docker", "docker.io/dock__er/docker:latest", "docker.io", "dock__er/docker", l, None, "dock__er/docker:latest"),
        ok("d/docker", "docker.io/d/docker:latest", "docker.io", "d/docker", l, None, "d/docker:latest"),
        ok("jess/t", "docker.io/jess/t:latest", "docker.io", "jess/t", l, None, "jess/t:latest"),
        ok(format!("busybox:latest@{D256}"), format!("docker.io/library/busybox:latest@{D256}"), "docker.io", "library/busybox", l, Some(D256), format!("busybox:latest@{D256}")),
        ok(format!("busybox@{D256}"), format!("docker.io/library/busybox@{D256}"), "docker.io", "library/busybox", None, Some(D256), format!("busybox@{D256}")),
        ok("ghcr.io/o/app:v1.2.3-rc.1_x", "ghcr.io/o/app:v1.2.3-rc.1_x", "ghcr.io", "o/app", Some("v1.2.3-rc.1_x"), None, "ghcr.io/o/app:v1.2.3-rc.1_x"),
        ok("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:sha", "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:sha", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "app", Some("sha"), None, "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:sha"),
    ]
}

#[test]
fn parses_valid_references_like_docker() {
    for (input, canonical, domain, path, tag, digest, familiar) in valid_cases() {
        let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(r.to_string(), canonical, "canonical of {input:?}");
        assert_eq!(r.domain(), domain, "domain of {input:?}");
        assert_eq!(r.path(), path, "path of {input:?}");
        assert_eq!(r.tag(), tag, "tag of {input:?}");
        assert_eq!(
            r.digest().map(Digest::as_str),
            digest,
            "digest of {input:?}"
        );
        assert_eq!(r.familiar(), familiar, "familiar form of {input:?}");
        // The canonical and familiar forms parse back to the same value.
        assert_eq!(Reference::parse(&canonical).expect("canonical"), r);
        assert_eq!(Reference::parse(&familiar).expect("familiar"), r);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Empty,
    Hex,
    Upper,
    Missing,
    Domain,
    Path,
    Tag,
    TooLong,
    DigestFormat,
    DigestAlgorithm,
    DigestLength,
    DigestHex,
}

fn kind(e: &ReferenceError) -> Kind {
    match e {
        ReferenceError::Empty => Kind::Empty,
        ReferenceError::HexIdentifier { .. } => Kind::Hex,
        ReferenceError::Uppercase { .. } => Kind::Upper,
        ReferenceError::MissingName { .. } => Kind::Missing,
        ReferenceError::InvalidDomain { .. } => Kind::Domain,
        ReferenceError::InvalidPathComponent { .. } => Kind::Path,
        ReferenceError::InvalidTag { .. } => Kind::Tag,
        ReferenceError::NameTooLong { .. } => Kind::TooLong,
        ReferenceError::Digest { source, .. } => match source {
            DigestError::Format { .. } => Kind::DigestFormat,
            DigestError::UnsupportedAlgorithm { .. } => Kind::DigestAlgorithm,
            DigestError::Length { .. } => Kind::DigestLength,
            DigestError::Hex { .. } => Kind::DigestHex,
            other => panic!("unexpected digest error {other:?}"),
        },
    }
}

#[rustfmt::skip]
fn invalid_cases() -> Vec<(String, Kind, &'static str)> {
    use Kind::*;
    let s = |x: &str| x.to_owned();
    vec![
        (s(""), Empty, ""),
        (s(":justtag"), Missing, ""),
        (format!("@{D256}"), Missing, ""),
        (s("repo@sha256:ffffffffffffffffffffffffffffffffff"), DigestLength, ""),
        (format!("validname@invaliddigest:{}", &D256[7..]), DigestAlgorithm, ""),
        (format!("busybox@sha256:{}", D256[7..].to_uppercase()), DigestHex, ""),
        (s("busybox@"), DigestFormat, ""),
        (s("Uppercase:tag"), Upper, "library/Uppercase"),
        (s("test:5000/Uppercase/lowercase:tag"), Upper, "Uppercase/lowercase"),
        (s("docker/Docker"), Upper, "docker/Docker"),
        (s("docker.io/docker/Docker"), Upper, "docker/Docker"),
        (s("aa/asdf$$^/aa"), Path, "asdf$$^"),
        (s("[2001:db8::1]"), Path, "[2001"),
        (s("[2001:db8::1]:5000"), Path, "[2001"),
        (s("[2001:db8::1]:tag"), Path, "[2001"),
        (s("[fc00::1]"), Path, "[fc00"),
        (s("[fe80::1%eth0]:5000/repo"), Domain, "[fe80::1%eth0]:5000"),
        (s("[fe80::1%@invalidzone]:5000/repo"), Domain, "[fe80::1%"),
        (s("[2001:db8:3:4::192.0.2.33]:5000/debian"), Domain, "[2001:db8:3:4::192.0.2.33]:5000"),
        (s("fc00::1:5000/debian"), Domain, "fc00::1:5000"),
        (s("https://github.com/docker/docker"), Domain, "https:"),
        (s("localhost:/foo"), Domain, "localhost:"),
        (s("a..com/foo"), Domain, "a..com"),
        (s("-docker.io/docker/docker"), Domain, "-docker.io"),
        (s("example.com-/foo"), Domain, "example.com-"),
        (s("-docker"), Path, "-docker"),
        (s("-docker/docker"), Path, "-docker"),
        (s("docker-/docker"), Path, "docker-"),
        (s("-docker-/docker"), Path, "-docker-"),
        (s("____/____"), Path, "____"),
        (s("_docker/_docker"), Path, "_docker"),
        (s("dock..er/docker"), Domain, "dock..er"),
        (s("dock_.er/docker"), Domain, "dock_.er"),
        (s("dock-.er/docker"), Domain, "dock-.er"),
        (s("dock___er/docker"), Path, "dock___er"),
        (s("_tag:_x"), Path, "_tag"),
        (s("docker///docker"), Path, ""),
        (s("docker.io/docker///docker"), Path, ""),
        (s("docker/"), Path, ""),
        (s(HEX64), Hex, ""),
        (s("busybox:"), Tag, ""),
        (s("busybox:-foo"), Tag, "-foo"),
        (s("busybox:.foo"), Tag, ".foo"),
        (s("busybox:a/b"), Domain, "busybox:a"),
        (s("foo:bar:baz"), Tag, "bar:baz"),
        (format!("busybox:{}", "t".repeat(129)), Tag, ""),
        (format!( "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_{}/docker", "x".repeat(200) ), TooLong, ""),
        // 265 bytes once docker.io/ is added: docker refuses it too.
        (format!("{}a:tag-puts-this-over-max", "a/".repeat(127)), TooLong, ""),
    ]
}

#[test]
fn rejects_invalid_references_naming_the_bad_part() {
    for (input, want, part) in invalid_cases() {
        let e = Reference::parse(&input).expect_err(&input);
        assert_eq!(kind(&e), want, "{input:?}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains(part),
            "{input:?}: message {msg:?} does not name {part:?}"
        );
        if !input.is_empty() && input.len() < 300 {
            assert!(
                msg.contains(&format!("{input:?}")) || matches!(want, Kind::Hex),
                "{msg}"
            );
        }
    }
}

#[test]
fn enforces_length_limits_at_the_boundary() {
    // domain (5) + '/' + path (249) = 255: allowed.
    let path = format!("{}a", "a/".repeat(124));
    assert_eq!(path.len(), 249);
    let r = Reference::parse(&format!("a.com/{path}")).expect("255 bytes");
    assert_eq!(r.name().len(), 255);
    let e = Reference::parse(&format!("a.com/{path}b")).expect_err("256 bytes");
    assert!(
        matches!(e, ReferenceError::NameTooLong { length: 256, .. }),
        "{e}"
    );

    let tag = "t".repeat(128);
    assert_eq!(
        Reference::parse(&format!("busybox:{tag}"))
            .expect("128")
            .tag(),
        Some(tag.as_str())
    );
}

#[test]
fn familiar_name_and_builders() {
    let r = Reference::parse("docker.io/library/busybox:1.36").expect("ref");
    assert_eq!(r.familiar_name(), "busybox");
    assert_eq!(r.name(), "docker.io/library/busybox");
    let t = r.with_tag("musl").expect("tag");
    assert_eq!(t.to_string(), "docker.io/library/busybox:musl");
    assert!(r.with_tag("-bad").is_err());
    let d = Digest::parse(D256).expect("digest");
    let pinned = t.with_digest(d.clone());
    assert_eq!(pinned.familiar(), format!("busybox:musl@{D256}"));
    assert_eq!(pinned.repository().to_string(), "docker.io/library/busybox");

    let parts = Reference::from_parts("localhost:5000", "a/b", Some("v1"), Some(d)).expect("parts");
    assert_eq!(parts.to_string(), format!("localhost:5000/a/b:v1@{D256}"));
    assert!(Reference::from_parts("bad_host", "a", None, None).is_err());
    assert!(Reference::from_parts("ok.host", "A", None, None).is_err());
}

#[test]
fn parse_normalized_keeps_bare_names_bare() {
    let r = Reference::parse_normalized("busybox").expect("ref");
    assert_eq!(r.to_string(), "docker.io/library/busybox");
    assert_eq!(r.tag(), None);
    assert_eq!(r.familiar(), "busybox");
}

#[test]
fn any_reference_accepts_ids_digests_and_names() {
    let hex = &D256[7..];
    assert_eq!(
        AnyReference::parse(hex).expect("id"),
        AnyReference::Id(Digest::parse(D256).expect("digest"))
    );
    assert_eq!(AnyReference::parse(D256).expect("digest").to_string(), D256);
    assert_eq!(
        AnyReference::parse(&hex[1..])
            .expect("63 hex is a name")
            .to_string(),
        format!("docker.io/library/{}:latest", &hex[1..])
    );
    assert_eq!(
        AnyReference::parse("dbcc1").expect("name").to_string(),
        "docker.io/library/dbcc1:latest"
    );
    assert!(AnyReference::parse("Bad!").is_err());
}

#[test]
fn serde_uses_the_canonical_string() {
    let r = Reference::parse("busybox").expect("ref");
    let json = serde_json::to_string(&r).expect("serialize");
    assert_eq!(json, "\"docker.io/library/busybox:latest\"");
    assert_eq!(
        serde_json::from_str::<Reference>(&json).expect("deserialize"),
        r
    );
    assert!(serde_json::from_str::<Reference>("\"UPPER/Case\"").is_err());
}
