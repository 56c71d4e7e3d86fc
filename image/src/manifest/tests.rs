use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn manifest_json(media_type: Option<&str>) -> String {
    let mt = media_type
        .map(|m| format!(r#""mediaType":"{m}","#))
        .unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"{}","digest":"{D1}","size":10}},"layers":[{{"mediaType":"{}","digest":"{D2}","size":20}}]}}"#,
        media_type::OCI_CONFIG,
        media_type::OCI_LAYER_GZIP
    )
}

fn index_json() -> String {
    let entry = |arch: &str, variant: Option<&str>, d: &str| {
        let v = variant
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        format!(
            r#"{{"mediaType":"{}","digest":"{d}","size":5,"platform":{{"os":"linux","architecture":"{arch}"{v}}}}}"#,
            media_type::OCI_MANIFEST
        )
    };
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{},{},{},{}]}}"#,
        media_type::OCI_INDEX,
        entry("amd64", None, D1),
        entry("arm64", Some("v8"), D2),
        entry("arm", Some("v6"), D1),
        entry("unknown", None, D2),
    )
}

#[test]
fn parses_manifest_with_and_without_media_type() {
    for (body, header) in [
        (manifest_json(Some(media_type::OCI_MANIFEST)), None),
        (manifest_json(None), None),
        (manifest_json(None), Some(media_type::OCI_MANIFEST)),
        (
            manifest_json(Some(media_type::OCI_MANIFEST)),
            Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
        ),
    ] {
        match parse(body.as_bytes(), header).unwrap() {
            Parsed::Manifest(m) => {
                assert_eq!(m.layers.len(), 1);
                assert_eq!(m.config.digest.as_str(), D1);
            }
            other => panic!("not a manifest: {other:?}"),
        }
    }
}

#[test]
fn parses_index_and_selects_platform() {
    let Parsed::Index(i) = parse(index_json().as_bytes(), None).unwrap() else {
        panic!("not an index")
    };
    let amd = Platform::parse("linux/amd64").unwrap();
    assert_eq!(i.select(&amd).unwrap().digest.as_str(), D1);
    // arm64 without a variant normalises to v8.
    let arm64 = Platform::parse("linux/arm64").unwrap();
    assert_eq!(i.select(&arm64).unwrap().digest.as_str(), D2);
    let aarch64 = Platform::parse("linux/aarch64").unwrap();
    assert_eq!(i.select(&aarch64).unwrap().digest.as_str(), D2);
    // arm/v7 can run the v6 image.
    let armv7 = Platform::parse("linux/arm/v7").unwrap();
    assert_eq!(i.select(&armv7).unwrap().digest.as_str(), D1);
    let armv5 = Platform::parse("linux/arm/v5").unwrap();
    let e = i.select(&armv5).unwrap_err().to_string();
    assert!(e.contains("linux/arm/v5"), "{e}");
    assert!(e.contains("linux/amd64"), "{e}");
    assert!(!e.contains("unknown"), "{e}");
    let s390 = Platform::parse("linux/s390x").unwrap();
    assert!(i.select(&s390).is_err());
}

#[test]
fn platform_parse_and_display() {
    assert_eq!(
        Platform::parse("linux/amd64").unwrap().to_string(),
        "linux/amd64"
    );
    assert_eq!(
        Platform::parse("linux/x86_64").unwrap().to_string(),
        "linux/amd64"
    );
    assert_eq!(
        Platform::parse("arm64").unwrap().to_string(),
        "linux/arm64/v8"
    );
    assert_eq!(
        Platform::parse("linux/arm").unwrap().to_string(),
        "linux/arm/v7"
    );
    assert_eq!(Platform::parse("linux").unwrap().os, "linux");
    for bad in [
        "",
        "/",
        "linux//amd64",
        "a/b/c/d",
        "linux/am d64",
        "linux/../x",
    ] {
        assert!(Platform::parse(bad).is_err(), "{bad:?} accepted");
    }
    let host = Platform::host();
    assert_eq!(host.os, "linux");
    assert!(!host.architecture.is_empty());
}

#[test]
fn refuses_bad_manifests() {
    let cases: Vec<(String, Option<&str>, &str)> = vec![
        ("not json".into(), None, "malformed"),
        ("{}".into(), None, "neither"),
        (
            r#"{"schemaVersion":1,"fsLayers":[]}"#.into(),
            None,
            "schema 1",
        ),
        (
            manifest_json(None),
            Some(media_type::DOCKER_SCHEMA1_SIGNED),
            "schema 1",
        ),
        (
            manifest_json(Some("application/vnd.example+json")),
            None,
            "unsupported manifest media type",
        ),
        (
            manifest_json(Some(media_type::OCI_MANIFEST)),
            Some(media_type::DOCKER_MANIFEST),
            "disagrees",
        ),
        (
            manifest_json(None).replace("\"schemaVersion\":2", "\"schemaVersion\":3"),
            None,
            "schemaVersion",
        ),
        (
            manifest_json(None).replace(media_type::OCI_LAYER_GZIP, "text/html"),
            None,
            "unsupported media type",
        ),
        (
            manifest_json(None).replace(media_type::OCI_CONFIG, "text/html"),
            None,
            "not an image config",
        ),
        (
            manifest_json(None).replace(D2, "sha256:abc"),
            None,
            "malformed",
        ),
        (
            manifest_json(None).replace("\"size\":20", "\"size\":-1"),
            None,
            "malformed",
        ),
        (" ".repeat(5 << 20), None, "more than"),
    ];
    for (body, header, want) in cases {
        let e = parse(body.as_bytes(), header).unwrap_err().to_string();
        assert!(e.contains(want), "{body:.80}: {e} lacks {want:?}");
    }
}

#[test]
fn docker_manifest_list_is_an_index() {
    let body = index_json().replace(media_type::OCI_INDEX, media_type::DOCKER_MANIFEST_LIST);
    assert!(matches!(
        parse(body.as_bytes(), Some(media_type::DOCKER_MANIFEST_LIST)).unwrap(),
        Parsed::Index(_)
    ));
}

#[test]
fn config_round_trip_keeps_unknown_fields() {
    let raw = br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000},"OnBuild":["RUN x"],"Hostname":"h"},"rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},"container":"abc","docker_version":"20.10"}"#;
    let c = ImageConfig::parse(raw).unwrap();
    let cc = c.container_config();
    assert_eq!(cc.cmd.as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(
        cc.healthcheck.as_ref().unwrap().interval,
        Some(1_000_000_000)
    );
    assert_eq!(cc.on_build.as_ref().unwrap().len(), 1);
    assert_eq!(cc.extra["Hostname"], "h");
    assert_eq!(c.extra["container"], "abc");
    let again = ImageConfig::parse(&c.to_json()).unwrap();
    assert_eq!(again, c);
    assert_eq!(
        c.to_json(),
        again.to_json(),
        "serialisation is deterministic"
    );
    assert!(ImageConfig::parse(br#"{"rootfs":{"type":"bogus"}}"#).is_err());
    assert!(ImageConfig::parse(b"[1,2]").is_err());
}

#[test]
fn chain_ids_follow_the_spec() {
    let a = Digest::sha256(b"a");
    let b = Digest::sha256(b"b");
    let ids = chain_ids(&[a.clone(), b.clone()]);
    assert_eq!(ids[0], a);
    assert_eq!(ids[1], Digest::sha256(format!("{a} {b}").as_bytes()));
    assert!(chain_ids(&[]).is_empty());
}
