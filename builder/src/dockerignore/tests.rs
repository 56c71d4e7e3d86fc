//! Cases after moby/patternmatcher's tests (rewritten).

use super::*;

fn m(patterns: &[&str]) -> Matcher {
    Matcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
}

#[test]
fn single_pattern_table() {
    let cases = [
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        ("a[\\]]e", "a]e", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("abc?def", "abc/def", false),
        ("a\\\\", "a\\", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        // Root-level only unless `**`; parents match.
        ("*.go", "main.go", true),
        ("*.go", "cmd/main.go", false),
        ("node_modules", "node_modules/a/b.js", true),
        ("/node_modules", "node_modules/x", true),
        ("./docs/", "docs/a.md", true),
        ("docs//api/../guide", "docs/guide/x", true),
        ("*", "a/b/c", true),
        ("*/b", "a/b/c", true),
        ("a/*/c", "a/b/c", true),
        ("a/*/c", "a/b/x/c", false),
    ];
    for (pattern, path, want) in cases {
        assert_eq!(m(&[pattern]).matches(path), want, "{pattern:?} vs {path:?}");
    }
}

#[test]
fn exceptions_and_order() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*", "!keep"], "keep", false),
        (&["*", "!keep"], "other", true),
        (&["*", "!keep"], "keep/inner", false),
        (&["dir", "!dir/keep"], "dir/keep", false),
        (&["dir", "!dir/keep"], "dir/drop", true),
        (&["dir", "!dir/keep"], "dir/keep/deep", false),
        (&["!dir/keep", "dir"], "dir/keep", true),
        (&["*.md", "!README.md"], "README.md", false),
        (&["*.md", "!README.md", "README.md"], "README.md", true),
        (&["**/*.log", "!important/*.log"], "important/a.log", false),
        (&["**/*.log", "!important/*.log"], "other/a.log", true),
        (
            &["docs", "!docs/*.md", "docs/secret.md"],
            "docs/a.md",
            false,
        ),
        (
            &["docs", "!docs/*.md", "docs/secret.md"],
            "docs/secret.md",
            true,
        ),
        (&["!x"], "x", false),
        (&[], "anything", false),
        (&["**"], ".", false),
        (&["**"], "./", false),
    ];
    for (patterns, path, want) in cases {
        assert_eq!(m(patterns).matches(path), *want, "{patterns:?} vs {path:?}");
    }
}

#[test]
fn dockerignore_file() {
    let text = "\u{feff}# comment\n\n  *.tmp  \n #not-a-comment\n!  keep.tmp\n/abs/path/\n./rel\n";
    let matcher = Matcher::parse(text).unwrap();
    let pats: Vec<(&str, bool)> = matcher
        .patterns()
        .iter()
        .map(|p| (p.as_str(), p.is_exception()))
        .collect();
    assert_eq!(
        pats,
        [
            ("*.tmp", false),
            ("#not-a-comment", false),
            ("keep.tmp", true),
            ("abs/path", false),
            ("rel", false)
        ]
    );
    assert!(matcher.matches("a.tmp"));
    assert!(!matcher.matches("keep.tmp"));
    assert!(matcher.matches("abs/path/x"));
    assert!(matcher.has_exceptions());
}

#[test]
fn bad_patterns() {
    for (text, line) in [
        ("ok\n!\n", 2),
        ("[", 1),
        ("a[]b", 1),
        ("a[b-]", 1),
        ("x\\", 1),
        ("[^]", 1),
        ("a\n[z-a", 2),
    ] {
        match Matcher::parse(text) {
            Err(Error::IgnorePattern { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    assert!(Matcher::parse("[a-z]\n[\\]]\n").is_ok());
}

#[test]
fn pruning() {
    let matcher = m(&["node_modules", "build", "!build/keep.txt", "**/*.o"]);
    assert!(matcher.can_skip_dir("node_modules"));
    assert!(!matcher.can_skip_dir("build"));
    let matcher = m(&[
        "node_modules",
        "build",
        "!build/keep.txt",
        "**/*.o",
        "!**/special.o",
    ]);
    assert!(!matcher.can_skip_dir("node_modules"));
    assert!(!matcher.can_skip_dir("build"));
    assert!(!matcher.can_skip_dir("src"));
    // `!**/special.o` could appear anywhere.
    assert!(matcher.could_match_under("node_modules"));

    let matcher = m(&["vendor", "!vendor/keep/**"]);
    assert!(!matcher.can_skip_dir("vendor"));
    assert!(matcher.could_match_under("vendor/keep"));
    assert!(!matcher.could_match_under("vendor/drop"));
    assert!(matcher.can_skip_dir("vendor/drop"));

    let matcher = m(&["a", "!a/b/*.txt"]);
    assert!(!matcher.can_skip_dir("a"));
    assert!(!matcher.can_skip_dir("a/b"));
    assert!(matcher.can_skip_dir("a/c"));

    let matcher = m(&["*", "!src"]);
    assert!(!matcher.can_skip_dir("src/deep"));
    assert!(matcher.can_skip_dir("docs"));
}

#[test]
fn hostile_patterns_stay_linear() {
    let pattern = "**/a*a*a*a*a*a*a*a*b".to_owned();
    let path = "a/".repeat(2_000) + &"a".repeat(5_000);
    assert!(!m(&[pattern.as_str()]).matches(&path));
    assert!(m(&["**/a*a*a*", "!x"]).matches(&(path.clone() + "/b")));
    assert!(m(&["a/a/a"]).matches(&path));
    let mut fuzz = crate::fuzz::Fuzz::new(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let s = fuzz.string("*?[]^-\\!/.a b**", 12);
        if let Ok(matcher) = Matcher::parse(&s) {
            let _ = matcher.matches("a/b.c");
            let _ = matcher.could_match_under("a");
        }
    }
}

/// Soundness of pruning against brute force: whenever a walk may skip a
/// directory, every path beneath it really is excluded.
#[test]
fn pruning_never_hides_an_included_path() {
    let names = ["a", "b", "keep", "x.md", "node_modules"];
    let mut paths = Vec::new();
    for n1 in names {
        paths.push(n1.to_owned());
        for n2 in names {
            paths.push(format!("{n1}/{n2}"));
            for n3 in names {
                paths.push(format!("{n1}/{n2}/{n3}"));
            }
        }
    }
    let pieces = [
        "a",
        "b",
        "keep",
        "*",
        "**",
        "/",
        "!",
        "*.md",
        "node_modules",
        "?",
        "[ab]",
        "k*",
    ];
    let mut fuzz = crate::fuzz::Fuzz::new(0xd0c_4e61);
    let (mut skipped, mut kept) = (0, 0);
    for _ in 0..1_500 {
        let mut lines = Vec::new();
        for _ in 0..=(fuzz.next() % 4) {
            let bytes = fuzz.pieces(&pieces, 5);
            lines.push(String::from_utf8(bytes).unwrap_or_default());
        }
        let Ok(matcher) = Matcher::new(&lines) else {
            continue;
        };
        for dir in &paths {
            if !matcher.can_skip_dir(dir) {
                kept += 1;
                continue;
            }
            skipped += 1;
            let prefix = format!("{dir}/");
            for path in paths.iter().filter(|p| p.starts_with(&prefix)) {
                assert!(
                    matcher.matches(path),
                    "patterns {lines:?}: skipping {dir:?} hides included {path:?}"
                );
            }
        }
    }
    // Both outcomes were exercised.
    assert!(
        skipped > 1_000 && kept > 1_000,
        "skipped {skipped}, kept {kept}"
    );
}

#[derive(PartialEq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Regex,
}

/// moby/patternmatcher's matching, rewritten here on top of the regex
/// crate as the reference for a differential test: fast paths for exact,
/// `prefix**` and `**suffix` patterns, else a regex.
struct Reference {
    pattern: String,
    kind: Kind,
    regex: Option<regex::Regex>,
}

fn reference(pattern: &str) -> Reference {
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                re.push('\\');
                re.push(c);
            }
            '\\' => {
                if let Some(&n) = chars.get(i) {
                    i += 1;
                    re.push('\\');
                    re.push(n);
                    kind = Kind::Regex;
                } else {
                    re.push_str("\\\\");
                }
            }
            '[' | ']' => {
                re.push(c);
                kind = Kind::Regex;
            }
            other => re.push(other),
        }
        first = false;
    }
    let regex = (kind == Kind::Regex).then(|| {
        re.push('$');
        regex::Regex::new(&re).unwrap_or_else(|e| panic!("{pattern:?} -> {re:?}: {e}"))
    });
    Reference {
        pattern: pattern.to_owned(),
        kind,
        regex,
    }
}

impl Reference {
    fn matches(&self, path: &str) -> bool {
        let pattern = self.pattern.as_str();
        match (&self.kind, &self.regex) {
            (Kind::Prefix, _) => path.starts_with(&pattern[..pattern.len() - 2]),
            (Kind::Suffix, _) => {
                let suffix = &pattern[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            (Kind::Regex, Some(re)) => re.is_match(path),
            _ => path == pattern,
        }
    }
}

#[test]
fn single_patterns_agree_with_the_regex_reference() {
    // `^` outside a class is left out: patternmatcher passes it to the
    // regex as an anchor (a pattern with it and a wildcard never matches),
    // where Go's filepath.Match and this matcher take it literally.
    let pattern_pieces = [
        "a", "b", "c", "/", "*", "**", "?", ".", "[ab]", "[^a]", "[a-c]", "\\*", "x", "+",
    ];
    let path_pieces = ["a", "b", "c", "/", ".", "*", "x", "+", "ab", "a/b"];
    let mut fuzz = crate::fuzz::Fuzz::new(0x7e57_ab1e);
    let mut paths = Vec::new();
    for _ in 0..60 {
        let p = String::from_utf8(fuzz.pieces(&path_pieces, 6)).unwrap_or_default();
        if !p.is_empty() && !p.starts_with('/') && !p.ends_with('/') && !p.contains("//") {
            paths.push(p);
        }
    }
    let mut compared = 0;
    for _ in 0..1_000 {
        let raw = String::from_utf8(fuzz.pieces(&pattern_pieces, 6)).unwrap_or_default();
        let Ok(pattern) = Pattern::compile(&raw) else {
            continue;
        };
        if pattern.exclusion || pattern.as_str() == "." {
            continue;
        }
        let reference = reference(pattern.as_str());
        for path in &paths {
            assert_eq!(
                pattern.matches(path),
                reference.matches(path),
                "pattern {raw:?} (cleaned {:?}) vs {path:?}",
                pattern.as_str()
            );
            compared += 1;
        }
    }
    assert!(compared > 20_000, "{compared}");
}
