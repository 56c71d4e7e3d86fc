use super::*;
use crate::cgroup::testutil::dev;

fn emulate(rules: &[LinuxDeviceCgroup]) -> Result<Emulator, CgroupError> {
    Emulator::from_rules(&parse_rules(rules)?)
}

fn shown(emu: &Emulator) -> Vec<String> {
    emu.exceptions()
        .map(|(meta, access)| {
            Rule::Dev {
                meta,
                access,
                allow: !emu.default_allow(),
            }
            .to_string()
        })
        .collect()
}

const C: LinuxDeviceType = LinuxDeviceType::C;
const B: LinuxDeviceType = LinuxDeviceType::B;
const A: LinuxDeviceType = LinuxDeviceType::A;

#[test]
fn parses_types_numbers_and_access() {
    let rules = parse_rules(&[
        dev(false, A, None, None, "rwm"),
        dev(true, C, Some(1), Some(-1), "rw"),
        dev(true, B, Some(8), Some(0), "mr"),
    ])
    .expect("valid");
    assert_eq!(rules[0], Rule::All { allow: false });
    assert_eq!(rules[1].to_string(), "c 1:* rw");
    assert_eq!(rules[2].to_string(), "b 8:0 rm");
    // A missing type is "a", whatever the numbers say (as in v1 and runc).
    let mut untyped = dev(true, C, Some(1), Some(3), "r");
    untyped.set_typ(None);
    assert_eq!(
        parse_rules(&[untyped]).expect("valid"),
        vec![Rule::All { allow: true }]
    );
}

#[test]
fn hostile_rules_are_refused() {
    let cases = [
        (dev(true, C, Some(1), Some(3), ""), "access is empty"),
        (dev(true, C, Some(1), Some(3), "rwx"), "letters other than"),
        (
            dev(true, LinuxDeviceType::U, Some(1), Some(3), "rwm"),
            "cannot be used in a cgroup rule",
        ),
        (
            dev(true, LinuxDeviceType::P, None, None, "rwm"),
            "cannot be used in a cgroup rule",
        ),
        (
            dev(true, C, Some(-2), Some(3), "rwm"),
            "major number -2 is out of range",
        ),
        (
            dev(true, C, Some(1), Some(1 << 32), "rwm"),
            "minor number 4294967296 is out of range",
        ),
    ];
    for (rule, want) in cases {
        let e = parse_rules(std::slice::from_ref(&rule))
            .expect_err("refused")
            .to_string();
        assert!(e.contains(want), "{e}");
        assert!(e.starts_with("device rule #0"), "{e}");
    }
    let mut no_access = dev(true, C, Some(1), Some(3), "r");
    no_access.set_access(None);
    assert!(parse_rules(&[no_access]).is_err());
}

#[test]
fn later_rules_override_earlier_ones() {
    // Deny-all is the starting point; a later deny narrows an earlier allow.
    let emu = emulate(&[
        dev(true, C, Some(1), Some(3), "rwm"),
        dev(false, C, Some(1), Some(3), "w"),
        dev(true, C, Some(1), Some(5), "r"),
        dev(true, C, Some(1), Some(5), "w"),
    ])
    .expect("valid");
    assert!(!emu.default_allow());
    assert_eq!(shown(&emu), ["c 1:3 rm", "c 1:5 rw"]);

    // "a" resets whatever came before.
    let emu = emulate(&[
        dev(false, C, Some(1), Some(3), "rwm"),
        dev(true, A, None, None, "rwm"),
    ])
    .expect("valid");
    assert!(emu.default_allow());
    assert_eq!(shown(&emu).len(), 0);

    // Allow-all with deny exceptions.
    let emu = emulate(&[
        dev(true, A, None, None, "rwm"),
        dev(false, B, Some(8), None, "rwm"),
        dev(false, C, Some(10), Some(200), "rw"),
    ])
    .expect("valid");
    assert!(emu.default_allow());
    assert_eq!(shown(&emu), ["b 8:* rwm", "c 10:200 rw"]);
}

#[test]
fn punching_holes_in_wildcards_is_refused() {
    let e = emulate(&[
        dev(true, C, None, None, "rwm"),
        dev(false, C, Some(1), Some(3), "r"),
    ])
    .expect_err("hole")
    .to_string();
    assert!(e.contains("c 1:3 r") && e.contains("c *:* rwm"), "{e}");
    // Removing the exact wildcard, or disjoint access, is fine.
    let emu = emulate(&[
        dev(true, C, Some(136), None, "rw"),
        dev(false, C, Some(136), Some(2), "m"),
        dev(false, C, Some(136), None, "w"),
    ])
    .expect("valid");
    assert_eq!(shown(&emu), ["c 136:* r"]);
}

#[test]
fn default_rules_allow_the_usual_devices() {
    let emu = emulate(&default_device_rules()).expect("valid");
    assert!(!emu.default_allow());
    assert_eq!(
        shown(&emu),
        [
            "b *:* m",
            "c *:* m",
            "c 1:3 rwm",
            "c 1:5 rwm",
            "c 1:7 rwm",
            "c 1:8 rwm",
            "c 1:9 rwm",
            "c 5:0 rwm",
            "c 5:2 rwm",
            "c 136:* rwm"
        ]
    );
}

#[test]
fn devices_list_round_trip() {
    let allow_all = Emulator::from_list("a *:* rwm\n").expect("parses");
    assert!(allow_all.default_allow());
    let emu = Emulator::from_list("c 1:3 rwm\nc 136:* rw\nb *:* m\n").expect("parses");
    assert_eq!(shown(&emu), ["b *:* m", "c 1:3 rwm", "c 136:* rw"]);
    assert_eq!(Emulator::from_list(""), Some(Emulator::default()));
    assert!(Emulator::from_list("x 1:3 rwm").is_none());
    assert!(Emulator::from_list("c 1:3 rwz").is_none());
}

#[test]
fn transitions_touch_only_what_changes() {
    let target = emulate(&[
        dev(true, C, Some(1), Some(3), "rw"),
        dev(true, C, Some(1), Some(9), "rwm"),
    ])
    .expect("valid");
    // From a fresh (allow-all) cgroup: reset, then the exceptions.
    let fresh = Emulator::from_list("a *:* rwm").expect("parses");
    let steps: Vec<String> = fresh
        .transition(&target)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(steps, ["a", "c 1:3 rw", "c 1:9 rwm"]);
    assert_eq!(fresh.transition(&target)[0], Rule::All { allow: false });

    // From a live whitelist: no reset, remove then add.
    let live = Emulator::from_list("c 1:3 rwm\nc 1:5 rwm\nc 1:9 rwm\n").expect("parses");
    let steps: Vec<(String, bool)> = live
        .transition(&target)
        .iter()
        .map(|r| (r.to_string(), r.allow()))
        .collect();
    assert_eq!(
        steps,
        [
            ("c 1:3 m".to_owned(), false),
            ("c 1:5 rwm".to_owned(), false)
        ]
    );
    assert!(target.transition(&target).is_empty());

    // Switching the default always resets.
    let open = emulate(&[dev(true, A, None, None, "rwm")]).expect("valid");
    assert_eq!(live.transition(&open), [Rule::All { allow: true }]);
}
