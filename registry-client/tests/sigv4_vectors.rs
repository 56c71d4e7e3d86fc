//! The SigV4 signer against AWS's published test suite
//! (tests/data/sigv4/, see its README for the source).

use std::time::{Duration, UNIX_EPOCH};

use rbox_registry::auth::sigv4::{Request, SigningParams, sign};
use serde_json::Value;

fn pairs(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .expect("pairs are arrays")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("name").to_owned(),
                p[1].as_str().expect("value").to_owned(),
            )
        })
        .collect()
}

#[test]
fn sigv4_test_suite_vectors() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sigv4/vectors.json");
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read vectors"))
        .expect("vectors are JSON");
    // 2015-08-30T12:36:00Z
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let mut checked = 0;
    for case in suite["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let query = pairs(&case["query"]);
        let headers = pairs(&case["headers"]);
        let request = Request {
            method: case["method"].as_str().expect("method"),
            path: case["path"].as_str().expect("path"),
            query: &query,
            headers: &headers,
            body: case["body"].as_str().expect("body").as_bytes(),
        };
        let params = SigningParams {
            access_key_id: suite["access_key_id"].as_str().expect("key id"),
            secret_access_key: suite["secret_access_key"].as_str().expect("secret"),
            session_token: case["session_token"].as_str(),
            region: suite["region"].as_str().expect("region"),
            service: case["service"]
                .as_str()
                .or(suite["service"].as_str())
                .expect("service"),
            time,
        };
        let signed = sign(&request, &params);
        if let Some(creq) = case["creq"].as_str() {
            assert_eq!(signed.canonical_request, creq, "{name}: canonical request");
        }
        if let Some(sts) = case["sts"].as_str() {
            assert_eq!(signed.string_to_sign, sts, "{name}: string to sign");
        }
        if let Some(authz) = case["authz"].as_str() {
            assert_eq!(signed.authorization(), authz, "{name}: authorization");
        }
        if let Some(token) = case["session_token"].as_str() {
            assert!(
                signed
                    .headers
                    .iter()
                    .any(|(k, v)| k == "x-amz-security-token" && v == token),
                "{name}: session token header"
            );
        }
        checked += 1;
    }
    assert!(checked >= 19, "only {checked} vectors ran");
}
