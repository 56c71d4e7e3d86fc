//! Cases follow BuildKit's envVarTest, wordsTest and lex_test tables
//! (rewritten, same environments).

use super::*;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const ERR: &str = "<error>";

#[test]
fn words_as_buildkit_env_var_test() {
    let vars = env(&[
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]);
    let cases = [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he'llo", ERR),
        ("he\\'llo", "he'llo"),
        ("he\\\\'llo", ERR),
        ("abc\\tdef", "abctdef"),
        ("\"abc\\tdef\"", "abc\\tdef"),
        ("\"abc\\\\tdef\"", "abc\\tdef"),
        ("'abc\\tdef'", "abc\\tdef"),
        ("hello\\", "hello"),
        ("hello\\\\", "hello\\"),
        ("\"hello", ERR),
        ("\"hello\\\"", ERR),
        ("\"hel'lo\"", "hel'lo"),
        ("'hello", ERR),
        ("'hello\\'", "hello\\"),
        ("'hello\\there'", "hello\\there"),
        ("\"''\"", "''"),
        ("$.", "$."),
        ("he$1x", "hex"),
        ("he$.x", "he$.x"),
        ("he$pwd.", "he."),
        ("he$PWD", "he/home"),
        ("he\\$PWD", "he$PWD"),
        ("he\\\\$PWD", "he\\/home"),
        ("\"he\\$PWD\"", "he$PWD"),
        ("\"he\\\\$PWD\"", "he\\/home"),
        ("\\${}", "${}"),
        ("\\${}aaa", "${}aaa"),
        ("he\\${}", "he${}"),
        ("${}", ERR),
        ("${}xx", ERR),
        ("he${}", ERR),
        ("he${hi}", "he"),
        ("he${hi}xx", "hexx"),
        ("he${PWD}", "he/home"),
        ("he${.}", ERR),
        ("he${XXX:-000}xx", "he000xx"),
        ("he${PWD:-000}xx", "he/homexx"),
        ("he${XXX:-$PWD}xx", "he/homexx"),
        ("he${XXX:-${PWD:-yyy}}xx", "he/homexx"),
        ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
        ("he${XXX:YYY}", ERR),
        ("he${XXX?}", ERR),
        ("he${XXX:?}", ERR),
        ("he${PWD?}", "he/home"),
        ("he${PWD:?}", "he/home"),
        ("he${NULL?}", "he"),
        ("he${NULL:?}", ERR),
        ("he${XXX:+${PWD}}xx", "hexx"),
        ("he${PWD:+${XXX}}xx", "hexx"),
        ("he${PWD:+${SHELL}}xx", "hebashxx"),
        ("he${XXX:+000}xx", "hexx"),
        ("he${PWD:+000}xx", "he000xx"),
        ("'he${XX}'", "he${XX}"),
        ("\"he${PWD}\"", "he/home"),
        ("\"he'$PWD'\"", "he'/home'"),
        ("\"$PWD\"", "/home"),
        ("'$PWD'", "$PWD"),
        ("'\\$PWD'", "\\$PWD"),
        ("'\"hello\"'", "\"hello\""),
        ("he${PWD", ERR),
        ("he${PWD:=000}xx", ERR),
        ("he${PWD:+${PWD}:}xx", "he/home:xx"),
        ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
        ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
        ("안녕하세요", "안녕하세요"),
        ("안'녕'하세요", "안녕하세요"),
        ("안'녕하세요", ERR),
        ("안녕\\'하세요", "안녕'하세요"),
        ("\"안녕\\t하세요\"", "안녕\\t하세요"),
        ("안녕${KOREAN}", "안녕한국어"),
        ("${NULL:-default}", "default"),
        ("${NULL-default}", ""),
        ("${NULL+set}", "set"),
        ("${NULL:+set}", ""),
        ("$(echo hi)", "$(echo hi)"),
        ("${a b}", ERR),
        ("${", ERR),
        ("${PWD", ERR),
        ("${PWD:", ERR),
        ("${PWD:-x", ERR),
        ("${PWD/a", ERR),
        ("${PWD/a/b", ERR),
        ("${{PWD}", ERR),
        ("${:}", ERR),
        ("$", "$"),
        ("$$", ""),
        ("a\\ b", "a b"),
        ("'a' \"b\"", "a b"),
    ];
    let lexer = Lexer::default();
    for (input, want) in cases {
        let got = lexer.expand_word(input, &vars);
        match (want, got) {
            (ERR, Err(_)) => {}
            (ERR, Ok(v)) => panic!("{input:?}: expected an error, got {v:?}"),
            (want, Ok(v)) => assert_eq!(v, want, "{input:?}"),
            (want, Err(e)) => panic!("{input:?}: expected {want:?}, got error {e}"),
        }
    }
}

#[test]
fn words_as_buildkit_words_test() {
    let vars = env(&[
        ("hi", "hi"),
        ("space", "abc  def"),
        ("leading", "  ab c"),
        ("trailing", "ab c   "),
    ]);
    let cases: &[(&str, &[&str])] = &[
        ("hello", &["hello"]),
        ("hello${hi}bye", &["hellohibye"]),
        ("hello${nope}bye", &["hellobye"]),
        ("hello${space}bye", &["helloabc", "defbye"]),
        ("hello\"${space}\"bye", &["helloabc  defbye"]),
        ("hello \"${space}\"bye", &["hello", "abc  defbye"]),
        ("hello${leading}def", &["hello", "ab", "cdef"]),
        ("hello\"${leading}\" def", &["hello  ab c", "def"]),
        ("hello\"${leading}\"", &["hello  ab c"]),
        ("hello${leading}", &["hello", "ab", "c"]),
        ("hello${trailing}", &["helloab", "c"]),
        ("hello${trailing}d", &["helloab", "c", "d"]),
        ("hello\"${trailing}\"d", &["helloab c   d"]),
        ("hel\"lo${trailing}\"", &["helloab c   "]),
        ("hello\" there  \"", &["hello there  "]),
        ("hello there", &["hello", "there"]),
        ("hello\\ there", &["hello there"]),
        ("hello\\\" there", &["hello\"", "there"]),
        ("hello\"\\\\there\"", &["hello\\there"]),
        ("hello\"\\there\"", &["hello\\there"]),
        ("hello'\\\\there'", &["hello\\\\there"]),
        ("hello'$there'", &["hello$there"]),
        ("\"\"", &[]),
        ("  80/tcp   443 ", &["80/tcp", "443"]),
    ];
    let lexer = Lexer::default();
    for (input, want) in cases {
        let got = lexer.expand_words(input, &vars).expect(input);
        assert_eq!(&got, want, "{input:?}");
    }
    assert!(lexer.expand_words("hello\" there", &vars).is_err());
}

#[test]
fn modifiers_as_buildkit_lex_test() {
    let e = |pairs: &[(&str, &str)]| env(pairs);
    let cases = [
        (
            "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
            e(&[("FOO", "xxx"), ("BAR", "")]),
            "xxx  ccc",
        ),
        (
            "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
            e(&[("FOO", "xxx"), ("BAR", "")]),
            "xxx bbb ccc",
        ),
        (
            "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
            e(&[("FOO", "xxx"), ("BAR", "")]),
            "aaa bbb ",
        ),
        (
            "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
            e(&[("FOO", "xxx"), ("BAR", "")]),
            "aaa  ",
        ),
        ("${BAR?bbb}", e(&[("BAR", "")]), ""),
        (
            "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
            e(&[("FOO", "()[]{}^$.*?|\\x")]),
            "x",
        ),
        ("${FOO%%\\**}", e(&[("FOO", "xx**")]), "xx"),
        ("${FOO#*x*y}", e(&[("FOO", "xxyy")]), "y"),
        ("${FOO#*}", e(&[("FOO", "xxyy")]), "xxyy"),
        ("${FOO#$BAR}", e(&[("FOO", "xxyy"), ("BAR", "x")]), "xyy"),
        ("${FOO#$BAR}", e(&[("FOO", "xxyy"), ("BAR", "")]), "xxyy"),
        ("${FOO#}", e(&[("FOO", "xxyy")]), "xxyy"),
        ("${FOO##*x}", e(&[("FOO", "xxyy")]), "yy"),
        ("${FOO##}", e(&[("FOO", "xxyy")]), "xxyy"),
        ("${FOO#?\\?}", e(&[("FOO", "???y")]), "?y"),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            e(&[("FOO", "xxyy")]),
            ".xxyy.",
        ),
        ("${FOO%%\\**\\*}", e(&[("FOO", "a***yy*")]), "a"),
        ("${FOO%}", e(&[("FOO", "xxyy")]), "xxyy"),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            e(&[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")]),
            "/foo.*/*.txt - /foo..*.txt",
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            e(&[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")]),
            "/tmp/bar.txt - /bar.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            e(&[
                ("FOO", "/a/foo/b/c.txt"),
                ("NEEDLE", "/?/"),
                ("REPLACEMENT", "/"),
            ]),
            "/foo/b/c.txt - /foo/c.txt",
        ),
        (
            "${FOO//\\//\\/}",
            e(&[("FOO", "/tmp/foo.txt")]),
            "\\/tmp\\/foo.txt",
        ),
        (
            "${FOO/$BAR/ww}",
            e(&[("FOO", "xxyy"), ("BAR", "")]),
            "wwxxyy",
        ),
        ("${FOO///}", e(&[("FOO", "xxyy")]), "xxyy"),
        ("${FOO///}", e(&[]), ""),
        (
            "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
            e(&[
                ("VERSION", "v1.2.3"),
                ("TARGETOS", "linux"),
                ("TARGETARCH", "arm"),
                ("TARGETVARIANT", "v7"),
            ]),
            "something-v1.2.3.linux-arm-v7.tar.gz",
        ),
        (
            "something-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}",
            e(&[("TARGETARCH", "amd64")]),
            "something-amd64",
        ),
    ];
    let lexer = Lexer::default();
    for (input, vars, want) in cases {
        let got = lexer.expand_word(input, &vars).expect(input);
        assert_eq!(got, want, "{input:?}");
    }
    for bad in [
        "${BAZ?ccc}",
        "${BAR:?bbb}",
        "${FOO=aaa}",
        "${FOO=:aaa}",
        "${FOO//ww}",
        "${FOO//}",
    ] {
        assert!(
            lexer
                .expand_word(bad, &e(&[("FOO", "xxx"), ("BAR", "")]))
                .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn required_messages() {
    let lexer = Lexer::default();
    let set = env(&[("VAR", "plain"), ("ARG", "x")]);
    let empty = env(&[("VAR", ""), ("ARG", "x")]);
    let unset = env(&[("ARG", "x")]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    assert_eq!(lexer.expand_word(no_empty, &set).unwrap(), "plain");
    let err = lexer.expand_word(no_empty, &empty).unwrap_err();
    assert_eq!(err.to_string(), "VAR: message herex");
    assert!(lexer.expand_word(no_empty, &unset).is_err());
    assert_eq!(lexer.expand_word(no_unset, &empty).unwrap(), "");
    let err = lexer.expand_word("${VAR?}", &unset).unwrap_err();
    assert_eq!(err.to_string(), "VAR: is not allowed to be unset");
    let err = lexer.expand_word("${VAR:?}", &empty).unwrap_err();
    assert_eq!(err.to_string(), "VAR: is not allowed to be empty");
}

#[test]
fn records_used_and_unset_names() {
    let vars = env(&[("FOO", "y"), ("BAR", "")]);
    let got = Lexer::default()
        .expand("${FOO:-a} $BAR ${BAZ-c} '$QUOTED'", &vars)
        .unwrap();
    assert_eq!(got.text, "y  c $QUOTED");
    assert_eq!(got.used.iter().collect::<Vec<_>>(), ["BAR", "FOO"]);
    assert!(got.unset.is_empty(), "${{BAZ-c}} expects BAZ unset");
}

#[test]
fn backtick_escape_token() {
    let vars = env(&[("A", "1")]);
    let lexer = Lexer::new('`');
    assert_eq!(
        lexer.expand_word("C:\\dir\\$A", &vars).unwrap(),
        "C:\\dir\\1"
    );
    assert_eq!(lexer.expand_word("`$A", &vars).unwrap(), "$A");
    assert_eq!(lexer.expand_word("\"a`\"b\"", &vars).unwrap(), "a\"b");
}

#[test]
fn quotes_left_alone_for_heredoc_bodies() {
    let vars = env(&[("A", "1")]);
    let lexer = Lexer::default().without_quote_processing();
    assert_eq!(
        lexer.expand_word("it's \"$A\" '$A'", &vars).unwrap(),
        "it's \"1\" '1'"
    );
}

#[test]
fn ordered_env_last_wins() {
    let vars = vec![
        ("car".to_owned(), "hat".to_owned()),
        ("car".to_owned(), "bike".to_owned()),
    ];
    assert_eq!(Lexer::default().expand_word("$car", &vars).unwrap(), "bike");
}

#[test]
fn hostile_input_is_an_error_or_a_value_never_a_panic() {
    let lexer = Lexer::default();
    let vars = env(&[("A", "aaaa")]);
    let ok = "${A:-".repeat(50) + &"}".repeat(50);
    assert_eq!(lexer.expand_word(&ok, &vars).unwrap(), "aaaa");
    let deep = "${A:-".repeat(2_000) + &"}".repeat(2_000);
    assert!(matches!(
        lexer.expand_word(&deep, &vars),
        Err(ExpandError::TooDeep { .. })
    ));
    let open = "${A:-".repeat(2_000);
    assert!(lexer.expand_word(&open, &vars).is_err());
    let long = "x".repeat(1 << 20);
    assert_eq!(lexer.expand_word(&long, &vars).unwrap().len(), 1 << 20);
    let mut fuzz = crate::fuzz::Fuzz::new(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let s = fuzz.string("${}:-+?#%/\\'\" aA_1*\t`", 24);
        let _ = lexer.expand(&s, &vars);
        let _ = Lexer::new('`').expand(&s, &vars);
    }
}
