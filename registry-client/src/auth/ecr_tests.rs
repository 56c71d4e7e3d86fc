use std::time::UNIX_EPOCH;

use super::*;
use crate::auth::test_server::TestServer;

#[test]
fn parses_ecr_hosts() {
    let h = parse_ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com").expect("ecr");
    assert_eq!(
        (h.account.as_str(), h.region.as_str(), h.fips, h.china),
        ("123456789012", "eu-west-1", false, false)
    );
    let h = parse_ecr_host("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com").expect("fips");
    assert!(h.fips);
    let h = parse_ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn:443").expect("china");
    assert!(h.china);
    for not in [
        "docker.io",
        "12345.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "123456789012.dkr.ecr..amazonaws.com",
        "public.ecr.aws",
        "123456789012.dkr.ecr.us-east-1.x.amazonaws.com",
    ] {
        assert_eq!(parse_ecr_host(not), None, "{not}");
    }
}

#[test]
fn cache_refreshes_five_minutes_early_with_a_floor() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let in_12h = now + Duration::from_secs(12 * 3600);
    assert_eq!(
        token_fresh_until(now, Some(in_12h)),
        in_12h - REFRESH_MARGIN
    );
    // moto: expiresAt in 2015, long before "now": the floor applies.
    let moto = UNIX_EPOCH + Duration::from_secs(1_420_070_400);
    assert_eq!(token_fresh_until(now, Some(moto)), now + MIN_TOKEN_LIFETIME);
    assert_eq!(token_fresh_until(now, None), now + MIN_TOKEN_LIFETIME);
    assert_eq!(
        token_fresh_until(now, Some(UNIX_EPOCH)),
        now + MIN_TOKEN_LIFETIME
    );
}

fn fake_ecr(expires_at: &'static str) -> TestServer {
    TestServer::start(move |r| {
        let target = r.header("x-amz-target").unwrap_or("");
        let auth = r.header("authorization").unwrap_or("");
        if target.ends_with("GetAuthorizationToken") && auth.contains("/us-east-1/ecr/aws4_request")
        {
            // base64("AWS:ecr-password")
            (
                200,
                format!(
                    r#"{{"authorizationData":[{{"authorizationToken":"QVdTOmVjci1wYXNzd29yZA==","expiresAt":{expires_at},"proxyEndpoint":"https://x"}}]}}"#
                ),
            )
        } else {
            (
                400,
                r#"{"__type":"com.amazon#InvalidSignatureException","message":"bad"}"#.into(),
            )
        }
    })
}

fn ecr_env(server: &TestServer) -> Env {
    Env::empty()
        .with("AWS_ACCESS_KEY_ID", "AKID")
        .with("AWS_SECRET_ACCESS_KEY", "secret")
        .with("AWS_ENDPOINT_URL_ECR", server.url())
        .with("AWS_EC2_METADATA_DISABLED", "true")
}

#[test]
fn an_already_expired_token_is_reused_not_refetched() {
    let server = fake_ecr("1420070400.0");
    let ecr = EcrAuth::new(ecr_env(&server));
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let now = SystemTime::now();
    let want = Credential::Basic {
        username: "AWS".into(),
        password: "ecr-password".into(),
    };
    for i in 0..5 {
        let at = now + Duration::from_secs(i * 30);
        assert_eq!(ecr.credential_at(registry, at).expect("token"), want);
    }
    assert_eq!(server.requests().len(), 1, "one fetch for five lookups");
    ecr.credential_at(registry, now + MIN_TOKEN_LIFETIME + Duration::from_secs(1))
        .expect("refetch after the floor");
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_valid_token_lives_until_five_minutes_before_expiry() {
    let server = fake_ecr("\"2099-01-01T00:00:00Z\"");
    let ecr = EcrAuth::new(ecr_env(&server));
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let now = SystemTime::now();
    ecr.credential_at(registry, now).expect("token");
    ecr.credential_at(registry, now + Duration::from_secs(24 * 3600))
        .expect("cached");
    assert_eq!(server.requests().len(), 1);
    let req = &server.requests()[0];
    assert_eq!(
        req.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(
        req.header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"))
    );
}

#[test]
fn service_errors_are_reported_with_the_endpoint() {
    let server = fake_ecr("0");
    // Non-ECR host: region from the environment; a wrong region fails the
    // fake's scope check.
    let ecr = EcrAuth::new(ecr_env(&server).with("AWS_REGION", "eu-west-3"));
    let err = ecr
        .credential("registry.local:5000")
        .expect_err("wrong scope");
    let msg = err.to_string();
    assert!(
        msg.contains("InvalidSignatureException") && msg.contains(&server.url()),
        "{msg}"
    );
    let no_region = EcrAuth::new(ecr_env(&server));
    assert!(matches!(
        no_region.credential("registry.local:5000"),
        Err(AuthError::NoAwsRegion { .. })
    ));
}

#[test]
fn default_endpoints_follow_the_partition() {
    let ecr = EcrAuth::new(Env::empty());
    let (e, r) = ecr
        .endpoint("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
        .expect("ecr");
    assert_eq!(
        (e.as_str(), r.as_str()),
        ("https://api.ecr.eu-west-1.amazonaws.com/", "eu-west-1")
    );
    let (e, _) = ecr
        .endpoint("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com")
        .expect("fips");
    assert_eq!(e, "https://ecr-fips.us-east-1.amazonaws.com/");
    let (e, _) = ecr
        .endpoint("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")
        .expect("cn");
    assert_eq!(e, "https://api.ecr.cn-north-1.amazonaws.com.cn/");
    let ecr = EcrAuth::new(Env::empty().with("AWS_ENDPOINT_URL", "http://127.0.0.1:1"));
    assert_eq!(
        ecr.endpoint("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
            .expect("override")
            .0,
        "http://127.0.0.1:1"
    );
}

#[test]
fn the_disk_cache_is_shared_private_and_keyed_by_identity() {
    use std::os::unix::fs::PermissionsExt;
    let server = fake_ecr("\"2099-01-01T00:00:00Z\"");
    let dir = crate::auth::test_server::TempDir::new("ecr-cache");
    let registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let now = SystemTime::now();
    let first = EcrAuth::new(ecr_env(&server)).with_cache_dir(dir.to_path_buf());
    first.credential_at(registry, now).expect("fetch");
    // A second process: served from disk.
    let second = EcrAuth::new(ecr_env(&server)).with_cache_dir(dir.to_path_buf());
    second.credential_at(registry, now).expect("from disk");
    assert_eq!(server.requests().len(), 1);
    let file = dir.join("ecr-tokens.json");
    assert_eq!(
        std::fs::metadata(&file)
            .expect("cache file")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Another identity fetches its own token.
    let other = EcrAuth::new(ecr_env(&server).with("AWS_ACCESS_KEY_ID", "OTHER"))
        .with_cache_dir(dir.to_path_buf());
    other.credential_at(registry, now).expect("other identity");
    assert_eq!(server.requests().len(), 2);
    // A corrupt cache is an empty cache.
    std::fs::write(&file, "{not json").expect("corrupt");
    let third = EcrAuth::new(ecr_env(&server)).with_cache_dir(dir.to_path_buf());
    third
        .credential_at(registry, now)
        .expect("refetch over a corrupt cache");
    assert_eq!(server.requests().len(), 3);
}
