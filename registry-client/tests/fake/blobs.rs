//! Blob downloads through faults: retries, resume, corruption, slowness, redirects.

use std::time::Duration;

use rbox_image::Digest;
use rbox_registry::{Error, NoProgress, ProgressState, RecordingProgress, StaticCredentials};
use rbox_test_support::TempRoot;
use rbox_test_support::fake_registry::FakeRegistry;

use crate::{anon, client, config, data, reference, store};

#[test]
fn pulls_blob_and_verifies() {
    let reg = FakeRegistry::start();
    let body = data(300_000, 1);
    let d = reg.add_blob("app", &body);
    let t = TempRoot::new("reg-pull").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:latest");
    let progress = RecordingProgress::default();
    let d = Digest::parse(&d).unwrap();
    let info = anon()
        .pull_blob(&r, &d, Some(body.len() as u64), &s, &progress)
        .unwrap();
    assert_eq!(info.size, body.len() as u64);
    assert_eq!(s.read_blob(&d).unwrap(), body);
    let states: Vec<ProgressState> = progress.events().iter().map(|e| e.state).collect();
    assert_eq!(states.first(), Some(&ProgressState::Downloading));
    assert_eq!(states.last(), Some(&ProgressState::Done));
    // A second pull finds it in the store.
    let again = RecordingProgress::default();
    anon().pull_blob(&r, &d, None, &s, &again).unwrap();
    assert_eq!(again.events()[0].state, ProgressState::Exists);
}

#[test]
fn retries_5xx_and_429_with_retry_after() {
    let reg = FakeRegistry::start();
    let body = data(1000, 2);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| {
        f.fail_statuses = vec![503, 500, 429];
        f.fail_path = "/blobs/".into();
        f.retry_after = Some(0);
    });
    let t = TempRoot::new("reg-5xx").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    let gets = reg
        .request_lines()
        .iter()
        .filter(|(m, p)| m == "GET" && p.contains("/blobs/"))
        .count();
    assert_eq!(gets, 4, "three faults, then success");
}

#[test]
fn gives_up_after_retries_and_never_retries_4xx() {
    let reg = FakeRegistry::start();
    let d = Digest::parse(&reg.add_blob("app", b"x")).unwrap();
    reg.faults(|f| {
        f.fail_statuses = vec![502; 10];
        f.fail_path = "/blobs/".into();
    });
    let t = TempRoot::new("reg-giveup").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:x");
    let err = anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Status { status: 502, .. }), "{err}");
    let before = reg.request_lines().len();
    reg.faults(|f| {
        f.fail_statuses = vec![400];
    });
    let err = anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::Status { status: 400, .. }), "{err}");
    // One ping pair (https attempt is not an HTTP request) and one GET.
    let after: Vec<_> = reg.request_lines()[before..].to_vec();
    assert_eq!(
        after.iter().filter(|(_, p)| p.contains("/blobs/")).count(),
        1
    );
}

#[test]
fn resumes_with_range_after_reset() {
    let reg = FakeRegistry::start();
    let body = data(2_000_000, 3);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| {
        f.resets = 2;
        f.reset_after_bytes = 700_000;
    });
    let t = TempRoot::new("reg-reset").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(
            &reference(&reg, "app:x"),
            &d,
            Some(body.len() as u64),
            &s,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
    let ranges: Vec<String> = reg
        .requests()
        .iter()
        .filter_map(|r| r.header("range").map(str::to_owned))
        .collect();
    assert!(!ranges.is_empty(), "resumed with Range");
    assert!(
        ranges
            .iter()
            .all(|r| r.starts_with("bytes=") && r != "bytes=0-")
    );
}

#[test]
fn restarts_when_range_is_ignored() {
    let reg = FakeRegistry::start();
    let body = data(1_500_000, 4);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| {
        f.resets = 1;
        f.reset_after_bytes = 500_000;
        f.range_support = false;
    });
    let t = TempRoot::new("reg-norange").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(
            &reference(&reg, "app:x"),
            &d,
            Some(body.len() as u64),
            &s,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
}

#[test]
fn resumes_partial_left_by_earlier_pull() {
    let reg = FakeRegistry::start();
    let body = data(1_000_000, 5);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let t = TempRoot::new("reg-partial").unwrap();
    let s = store(&t);
    // An earlier pull got 400 kB before it was killed.
    match s
        .ingest(
            d.as_str(),
            rbox_image::store::Expected::new(d.clone(), body.len() as u64),
        )
        .unwrap()
    {
        rbox_image::store::Ingest::Writer(mut w) => {
            std::io::Write::write_all(&mut w, &body[..400_000]).unwrap();
        }
        _ => panic!("fresh store"),
    }
    anon()
        .pull_blob(
            &reference(&reg, "app:x"),
            &d,
            Some(body.len() as u64),
            &s,
            &NoProgress,
        )
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
    let r = reg.requests();
    let get = r.iter().find(|r| r.path.contains("/blobs/")).unwrap();
    assert_eq!(get.header("range"), Some("bytes=400000-"));
}

#[test]
fn wrong_digest_body_is_refused() {
    let reg = FakeRegistry::start();
    let body = data(5000, 6);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.corrupt_blobs = true);
    let t = TempRoot::new("reg-corrupt").unwrap();
    let s = store(&t);
    let err = anon()
        .pull_blob(&reference(&reg, "app:x"), &d, Some(5000), &s, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(!s.contains(&d).unwrap());
    assert!(s.ingests().unwrap().is_empty(), "bad partial removed");
}

#[test]
fn slow_body_still_completes() {
    let reg = FakeRegistry::start();
    let body = data(100_000, 7);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.slow_body = Some(Duration::from_millis(20)));
    let t = TempRoot::new("reg-slow").unwrap();
    let s = store(&t);
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    assert!(s.contains(&d).unwrap());
}

#[test]
fn slow_body_past_the_read_timeout_fails_then_resumes() {
    let reg = FakeRegistry::start();
    let body = data(200_000, 8);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.slow_body = Some(Duration::from_millis(400)));
    let mut c = config();
    c.timeout = Duration::from_millis(150);
    c.retries = 1;
    let t = TempRoot::new("reg-timeout").unwrap();
    let s = store(&t);
    let err = client(c, StaticCredentials::new())
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, Error::Http { .. }), "{err}");
    // What arrived stays for a resume.
    reg.faults(|f| f.slow_body = None);
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
}

#[test]
fn follows_redirects_without_credentials_and_stops_loops() {
    let reg = FakeRegistry::start();
    let body = data(1000, 9);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    reg.faults(|f| f.redirect_blobs = true);
    let t = TempRoot::new("reg-redirect").unwrap();
    let s = store(&t);
    let r = reference(&reg, "app:x");
    anon().pull_blob(&r, &d, None, &s, &NoProgress).unwrap();
    assert!(
        reg.request_lines()
            .iter()
            .any(|(_, p)| p.starts_with("/_data/"))
    );

    let d2 = Digest::parse(&reg.add_blob("app", b"other")).unwrap();
    reg.faults(|f| {
        f.redirect_blobs = false;
        f.redirect_loop = true;
    });
    let err = anon()
        .pull_blob(&r, &d2, None, &s, &NoProgress)
        .unwrap_err();
    assert!(
        matches!(err, Error::RedirectLoop { limit: 10, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("redirect loop"));
}

#[test]
fn whole_blob_left_as_partial_is_fetched_again() {
    // A partial as long as the blob (size unknown to the pull) makes the
    // server answer 416; the pull starts over rather than failing.
    let reg = FakeRegistry::start();
    let body = data(50_000, 30);
    let d = Digest::parse(&reg.add_blob("app", &body)).unwrap();
    let t = TempRoot::new("reg-416").unwrap();
    let s = store(&t);
    match s
        .ingest(d.as_str(), rbox_image::store::Expected::digest(d.clone()))
        .unwrap()
    {
        rbox_image::store::Ingest::Writer(mut w) => {
            std::io::Write::write_all(&mut w, &body).unwrap();
        }
        _ => panic!("fresh store"),
    }
    anon()
        .pull_blob(&reference(&reg, "app:x"), &d, None, &s, &NoProgress)
        .unwrap();
    assert_eq!(s.read_blob(&d).unwrap(), body);
}
