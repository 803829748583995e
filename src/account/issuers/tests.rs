//! Tests of `issuers`.
use super::*;

#[test]
fn default_account_round_trip_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(default_account(dir.path(), "https://a.example"), None);
    record_default(dir.path(), "https://a.example/", "kit").expect("record");
    record_default(dir.path(), "https://a.example", "other").expect("second is a no-op");
    assert_eq!(
        default_account(dir.path(), "https://a.example").as_deref(),
        Some("kit")
    );
}

/// Parses `text`, which must be in `format`, and asserts the default
/// account the result gives for each issuer.
#[track_caller]
fn parsed(
    text: &str,
    format: IssuerConfigFormat,
    defaults: &[(&str, Option<&str>)],
) -> IssuerConfig {
    let cfg = IssuerConfig::parse(text).expect("parses");
    assert_eq!(cfg.format(), format);
    for &(issuer, account) in defaults {
        assert_eq!(cfg.default_account_for(issuer), account, "{issuer}");
    }
    cfg
}

/// Sets the default account of each issuer, in order.
fn set_defaults(cfg: &mut IssuerConfig, accounts: &[(&str, &str)]) {
    for &(issuer, account) in accounts {
        cfg.set_default_account(issuer, account).expect("set");
    }
}

#[test]
fn issuer_config_lines_4x() {
    // As 4.2.6's oidc-gen leaves it: lines joined by \n, no final newline.
    let text = "https://iam.example.org/ iam\n# comment https://op.example.org/ nope\n\nhttp://127.0.0.1:9999/ test\nhttps://only-url.example.org";
    let mut cfg = parsed(
        text,
        IssuerConfigFormat::Lines,
        &[
            ("https://iam.example.org", Some("iam")),
            ("http://127.0.0.1:9999/", Some("test")),
            ("https://only-url.example.org/", None),
            ("https://op.example.org/", None),
        ],
    );
    assert_eq!(
        cfg.issuers(),
        [
            "https://iam.example.org/",
            "http://127.0.0.1:9999/",
            "https://only-url.example.org"
        ]
    );
    assert_eq!(cfg.to_text(), text);

    set_defaults(
        &mut cfg,
        &[
            ("https://only-url.example.org/", "fresh"),
            ("https://iam.example.org", "iam2"),
            ("https://new.example.org/", "new"),
        ],
    );
    assert_eq!(
        cfg.to_text(),
        "https://iam.example.org/ iam2\n# comment https://op.example.org/ nope\n\nhttp://127.0.0.1:9999/ test\nhttps://only-url.example.org fresh\nhttps://new.example.org/ new"
    );
    let reread = IssuerConfig::parse(&cfg.to_text()).expect("parses");
    assert_eq!(
        reread.default_account_for("https://new.example.org"),
        Some("new")
    );
}

#[test]
fn issuer_config_lines_keep_extra_words_and_final_newline() {
    let mut cfg = IssuerConfig::parse("https://a/ https://a/register contact@a\n").expect("parses");
    cfg.set_default_account("https://a/", "acc").expect("set");
    assert_eq!(cfg.to_text(), "https://a/ acc contact@a\n");
    let mut empty = parsed("", IssuerConfigFormat::Lines, &[]);
    empty.set_default_account("https://b/", "b").expect("set");
    assert_eq!(empty.to_text(), "https://b/ b");
    assert!(matches!(
        empty.set_default_account("https://b/", "two words"),
        Err(IssuerConfigError::InvalidValue { .. })
    ));
    assert!(matches!(
        empty.set_default_account("", "x"),
        Err(IssuerConfigError::InvalidValue { .. })
    ));
}

const JSON_5X: &str = r#"[
	{
		"issuer":	"https://iam.example.org/",
		"accounts":	["first", "second"],
		"pubclient":	{
			"client_id":	"pub",
			"client_secret":	"pubsecret",
			"scope":	"openid profile",
			"flow":	["code", "device"]
		},
		"register":	"https://iam.example.org/register",
		"x-unknown":	{"kept": [1, 2, 3]}
	},
	{
		"issuer_url":	"https://legacy-key.example.org",
		"default_account":	"legacy"
	},
	{
		"issuer":	"https://empty-default.example.org/",
		"default_account":	"",
		"accounts":	["fallback"]
	}
]"#;

#[test]
fn issuer_config_json_5x() {
    let mut cfg = parsed(
        JSON_5X,
        IssuerConfigFormat::Json,
        &[
            ("https://iam.example.org", Some("first")),
            ("https://legacy-key.example.org/", Some("legacy")),
            ("https://empty-default.example.org/", Some("fallback")),
            ("https://unknown.example.org/", None),
        ],
    );
    assert!(!format!("{cfg:?}").contains("pubsecret"));

    set_defaults(
        &mut cfg,
        &[
            ("https://iam.example.org", "second"),
            ("https://legacy-key.example.org", "legacy2"),
            ("https://new.example.org/", "new"),
        ],
    );
    let text = cfg.to_text();
    let v: Value = serde_json::from_str(&text).expect("valid json");
    let first = &v[0];
    assert_eq!(first["default_account"], "second");
    assert_eq!(first["accounts"], serde_json::json!(["first", "second"]));
    assert_eq!(first["pubclient"]["client_secret"], "pubsecret");
    assert_eq!(first["x-unknown"]["kept"], serde_json::json!([1, 2, 3]));
    let keys: Vec<&str> = first
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "issuer",
            "accounts",
            "pubclient",
            "register",
            "x-unknown",
            "default_account"
        ]
    );
    assert_eq!(v[1]["accounts"], serde_json::json!(["legacy2"]));
    assert_eq!(v[1]["issuer_url"], "https://legacy-key.example.org");
    assert_eq!(
        v[3],
        serde_json::json!({"issuer": "https://new.example.org/", "accounts": ["new"], "default_account": "new"})
    );
    assert!(text.starts_with("[\n\t{\n\t\t\"issuer\""), "{text}");
    let reread = IssuerConfig::parse(&text).expect("parses");
    assert_eq!(
        reread.default_account_for("https://iam.example.org/"),
        Some("second")
    );
    assert_eq!(reread, cfg);
}

#[test]
fn issuer_config_json_single_object_and_errors() {
    let mut cfg =
        IssuerConfig::parse(r#"{"issuer":"https://d/","accounts":["a"]}"#).expect("parses");
    cfg.set_default_account("https://d", "a").expect("set");
    let v: Value = serde_json::from_str(&cfg.to_text()).expect("json");
    assert_eq!(v["default_account"], "a");
    assert_eq!(v["accounts"], serde_json::json!(["a"]));
    cfg.set_default_account("https://e/", "e").expect("set");
    let v: Value = serde_json::from_str(&cfg.to_text()).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(2));

    let err = IssuerConfig::parse("[{\"issuer\": }]").expect_err("bad json");
    assert!(matches!(err, IssuerConfigError::InvalidJson(_)));
    let mut empty = IssuerConfig::empty(IssuerConfigFormat::Json);
    empty.set_default_account("https://f/", "f").expect("set");
    assert!(empty.to_text().starts_with('['));
}

/// A rename puts the new name where the old one was; a deletion drops it;
/// other issuers and accounts are left as they are.
#[test]
fn renamed_and_deleted_accounts_follow_in_both_formats() {
    let mut lines =
        IssuerConfig::parse("https://a.example/ kit\nhttps://b.example/ kit\n").expect("parses");
    assert!(
        lines
            .replace_account("https://a.example", "kit", Some("kit2"))
            .expect("rename")
    );
    assert_eq!(
        lines.to_text(),
        "https://a.example/ kit2\nhttps://b.example/ kit\n"
    );
    assert!(
        !lines
            .replace_account("https://a.example", "kit", None)
            .expect("gone already")
    );
    assert!(
        lines
            .replace_account("https://b.example/", "kit", None)
            .expect("delete")
    );
    assert_eq!(
        lines.to_text(),
        "https://a.example/ kit2\nhttps://b.example/\n"
    );
    assert_eq!(lines.default_account_for("https://b.example"), None);
    assert!(
        lines
            .replace_account("https://a.example", "kit2", Some("two words"))
            .is_err()
    );

    let mut json = IssuerConfig::parse(
        r#"[{"issuer":"https://a.example/","accounts":["kit","other"],"default_account":"kit"},
            {"issuer":"https://b.example/","accounts":["kit"]}]"#,
    )
    .expect("parses");
    assert!(
        json.replace_account("https://a.example", "kit", Some("kit2"))
            .expect("rename")
    );
    let v: Value = serde_json::from_str(&json.to_text()).expect("json");
    assert_eq!(v[0]["accounts"], serde_json::json!(["kit2", "other"]));
    assert_eq!(v[0]["default_account"], "kit2");
    assert_eq!(v[1]["accounts"], serde_json::json!(["kit"]));
    assert!(
        json.replace_account("https://a.example", "kit2", None)
            .expect("delete")
    );
    assert_eq!(
        json.default_account_for("https://a.example/"),
        Some("other")
    );
    assert!(
        json.replace_account("https://b.example", "kit", None)
            .expect("delete")
    );
    assert_eq!(json.default_account_for("https://b.example/"), None);
}

#[test]
fn account_moved_rewrites_the_file_only_when_it_names_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    account_moved(dir.path(), "https://a.example", "kit", None).expect("no file: nothing to do");
    assert!(!dir.path().join(ISSUER_CONFIG).exists());
    record_default(dir.path(), "https://a.example/", "kit").expect("record");
    account_moved(dir.path(), "https://a.example", "kit", Some("kit2")).expect("rename");
    assert_eq!(
        default_account(dir.path(), "https://a.example/").as_deref(),
        Some("kit2")
    );
    account_moved(dir.path(), "https://a.example", "kit2", None).expect("delete");
    assert_eq!(default_account(dir.path(), "https://a.example/"), None);
}

/// A damaged `issuer.config` is an error naming it, and is left as found:
/// before, one that was not UTF-8 read as empty and was overwritten by the
/// next `oidc-gen`, and any damage was silently "no default account".
#[test]
fn a_damaged_file_is_named_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(
        read(dir.path())
            .expect("no file is empty")
            .issuers()
            .is_empty()
    );
    let path = dir.path().join(ISSUER_CONFIG);
    for damaged in [&b"[{\"issuer\": "[..], &b"https://a.example kit\xff\n"[..]] {
        std::fs::write(&path, damaged).expect("write");
        let e = read(dir.path()).expect_err("damaged").to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(record_default(dir.path(), "https://b.example", "b").is_err());
        assert!(account_moved(dir.path(), "https://a.example", "kit", None).is_err());
        assert_eq!(
            std::fs::read(&path).expect("read"),
            damaged,
            "kept as found"
        );
        assert_eq!(default_account(dir.path(), "https://a.example"), None);
    }
}
