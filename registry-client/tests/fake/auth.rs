//! Basic and bearer authentication, token caching and expiry.

use rbox_image::Digest;
use rbox_registry::{Credential, Error, NoProgress, StaticCredentials, media};
use rbox_test_support::TempRoot;
use rbox_test_support::fake_registry::{FakeAuth, FakeRegistry};

use crate::{anon, client, config, data, put_blob_in_store, reference, store};

#[test]
fn basic_auth_and_missing_credentials() {
    let reg = FakeRegistry::start();
    reg.faults(|f| {
        f.auth = FakeAuth::Basic {
            username: "u".into(),
            password: "p".into(),
        }
    });
    let body = data(1000, 13);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let t = TempRoot::new("reg-basic").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:x");
    let err = anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("run `rbox login {}`", reg.host())),
        "{err}"
    );
    let creds = StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        },
    );
    client(config(), creds)
        .pull_blob(&r, &d, None, &s, &NoProgress)
        .unwrap();
    assert!(s.contains(&d).unwrap());
}

fn bearer_registry() -> FakeRegistry {
    let reg = FakeRegistry::start();
    reg.faults(|f| {
        f.auth = FakeAuth::Bearer {
            username: "u".into(),
            password: "secret".into(),
        }
    });
    reg
}

#[test]
fn bearer_token_flow_with_basic_and_identity_token() {
    let reg = bearer_registry();
    let body = data(1000, 14);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let r = reference(&reg, "app:x");
    for cred in [
        Credential::Basic {
            username: "u".into(),
            password: "secret".into(),
        },
        Credential::IdentityToken("secret".into()),
    ] {
        let t = TempRoot::new("reg-bearer").unwrap();
        let s = store(&t);
        let c = client(
            config(),
            StaticCredentials::new().with(reg.host(), cred.clone()),
        );
        c.pull_blob(&r, &d, None, &s, &NoProgress).unwrap();
        // The token is cached: a second blob needs no new one.
        let tokens_before = reg
            .request_lines()
            .iter()
            .filter(|(_, p)| p == "/token")
            .count();
        assert!(c.blob_exists(&r, &d).unwrap().is_some());
        let tokens_after = reg
            .request_lines()
            .iter()
            .filter(|(_, p)| p == "/token")
            .count();
        assert_eq!(tokens_before, tokens_after, "{cred:?}");
    }
    let token_reqs: Vec<_> = reg
        .requests()
        .into_iter()
        .filter(|r| r.path == "/token")
        .collect();
    assert!(token_reqs.iter().any(|r| r.method == "GET"
        && r.query.get("scope").map(String::as_str) == Some("repository:app:pull")
        && r.query.get("service").map(String::as_str) == Some("fake-registry")));
    assert!(token_reqs.iter().any(|r| r.method == "POST"));

    let t = TempRoot::new("reg-bearer-anon").unwrap();
    let err = anon()
        .pull_blob(&r, &d, None, &store(&t), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
}

#[test]
fn token_expiry_mid_push_renews() {
    let reg = bearer_registry();
    reg.faults(|f| f.token_max_uses = Some(2));
    let t = TempRoot::new("reg-expiry").unwrap();
    let s = store(&t);
    let creds = StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: "u".into(),
            password: "secret".into(),
        },
    );
    let c = client(config(), creds);
    let r = reference(&reg, "app:x");
    for i in 0..3u8 {
        let body = data(200_000, 20 + i);
        let d = put_blob_in_store(&s, &body);
        c.push_blob(&r, &d, body.len() as u64, &s, None, &NoProgress)
            .unwrap();
        assert_eq!(reg.blob(d.as_str()).unwrap(), body);
    }
    let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    c.put_manifest(&r, media::OCI_INDEX, m).unwrap();
    let tokens = reg
        .request_lines()
        .iter()
        .filter(|(_, p)| p == "/token")
        .count();
    assert!(tokens >= 3, "tokens renewed as they expired ({tokens})");
}

#[test]
fn token_endpoint_5xx_is_retried() {
    let reg = bearer_registry();
    reg.faults(|f| {
        f.fail_statuses = vec![503, 502];
        f.fail_path = "/token".into();
    });
    let body = data(1000, 15);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let t = TempRoot::new("reg-token-5xx").unwrap();
    let creds = StaticCredentials::new().with(
        reg.host(),
        Credential::Basic {
            username: "u".into(),
            password: "secret".into(),
        },
    );
    client(config(), creds)
        .pull_blob(&reference(&reg, "app:x"), &d, None, &store(&t), &NoProgress)
        .unwrap();
}
