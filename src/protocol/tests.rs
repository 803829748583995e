use super::*;

#[test]
fn golden_requests() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"request":"access_token","account":"kit","min_valid_period":60,"application_hint":"x"}"#,
            "AccessToken",
        ),
        (
            r#"{"request":"access_token","issuer":"https://op/","min_valid_period":"-1","scope":""}"#,
            "AccessToken",
        ),
        (r#"{"request":"id_token","account":"kit"}"#, "IdToken"),
        (
            r#"{"request":"add","config":{"name":"a","issuer_url":"https://op/","client_id":"c"},"lifetime":30}"#,
            "Add",
        ),
        (r#"{"request":"remove","account":"kit"}"#, "Remove"),
        (r#"{"request":"remove_all"}"#, "RemoveAll"),
        (r#"{"request":"loaded_accounts"}"#, "LoadedAccounts"),
        (r#"{"request":"account_info"}"#, "AccountInfo"),
        (r#"{"request":"lock","password":"p"}"#, "Lock"),
        (r#"{"request":"unlock","password":"p"}"#, "Unlock"),
        (r#"{"request":"check"}"#, "Check"),
        (r#"{"request":"status"}"#, "Status"),
        (r#"{"request":"status_json","extra":1}"#, "StatusJson"),
        (r#"{"request":"drop_token","account":"kit"}"#, "DropToken"),
        (
            r#"{"request":"token_file","account":"kit","path":"/run/user/1/bt_u1"}"#,
            "TokenFile",
        ),
        (r#"{"request":"token_file","account":"kit"}"#, "TokenFile"),
    ];
    for (json, variant) in cases {
        let req = Request::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e:?}"));
        assert!(format!("{req:?}").starts_with(variant), "{json} -> {req:?}");
    }
}

#[test]
fn token_request_fields() {
    let req = Request::parse(br#"{"request":"access_token","issuer":"https://op/","min_valid_period":"-1","scope":"","audience":" "}"#)
        .expect("parse");
    let Request::AccessToken(t) = req else {
        panic!("variant")
    };
    assert_eq!(t.issuer.as_deref(), Some("https://op/"));
    assert_eq!(t.min_valid_period, -1);
    assert_eq!(t.scope, None);
    assert_eq!(t.audience, None);
}

/// What an add request's `lifetime` means: given is as given (0 is "never",
/// as oidc-agent's agent reads it), `null`, `""`, negative or absent is the
/// agent's default.
#[test]
fn add_lifetime() {
    let cases: &[(&str, Option<u64>)] = &[
        (r#","lifetime":30"#, Some(30)),
        (r#","lifetime":"30""#, Some(30)),
        (r#","lifetime":0"#, Some(0)),
        (r#","lifetime":"0""#, Some(0)),
        (r#","lifetime":"""#, None),
        (r#","lifetime":null"#, None),
        (r#","lifetime":-5"#, None),
        ("", None),
    ];
    for (field, want) in cases {
        let json = format!(
            r#"{{"request":"add","config":{{"name":"a","issuer_url":"https://op/","client_id":"c"}}{field}}}"#
        );
        let Ok(Request::Add(add)) = Request::parse(json.as_bytes()) else {
            panic!("{json}")
        };
        assert_eq!(add.lifetime, *want, "{json}");
    }
}

#[test]
fn bad_requests() {
    assert_eq!(Request::parse(b"{}").err(), Some(ParseError::NoRequestType));
    assert!(matches!(
        Request::parse(br#"{"request":"fly"}"#),
        Err(ParseError::UnknownRequest(_))
    ));
    assert!(matches!(
        Request::parse(b"[1,2]"),
        Err(ParseError::Malformed(_))
    ));
    assert!(matches!(
        Request::parse(b"{\"request\":"),
        Err(ParseError::Malformed(_))
    ));
    assert!(matches!(
        Request::parse(br#"{"request":"remove"}"#),
        Err(ParseError::BadFields(_))
    ));
    assert_eq!(
        ParseError::NoRequestType.message(),
        "Bad Request: No request type."
    );
}

#[test]
fn golden_replies() {
    let r = Response {
        access_token: Some("AT".into()),
        issuer: Some("https://op/".into()),
        expires_at: Some(42),
        ..Response::success()
    };
    assert_eq!(
        String::from_utf8(r.to_bytes().to_vec()).expect("utf8"),
        r#"{"status":"success","access_token":"AT","issuer":"https://op/","expires_at":42}"#
    );
    let f = Response::failure(ErrorKind::NotLoaded, strings::NOT_LOADED);
    assert_eq!(
        String::from_utf8(f.to_bytes().to_vec()).expect("utf8"),
        r#"{"status":"failure","error":"account not loaded","info":" ","kind":"not_loaded"}"#
    );
}

#[test]
fn reply_never_a_multiple_of_4096() {
    for n in 4000..4200 {
        let r = Response::info("x".repeat(n));
        assert_ne!(r.to_bytes().len() % 4096, 0);
    }
}

#[test]
fn request_round_trip() {
    let req = Request::AccessToken(TokenRequest {
        account: Some("kit".into()),
        min_valid_period: 10,
        ..TokenRequest::default()
    });
    let text = String::from_utf8(req.to_bytes().to_vec()).expect("utf8");
    assert_eq!(
        text,
        r#"{"request":"access_token","account":"kit","min_valid_period":10}"#
    );
    assert!(Request::parse(text.as_bytes()).is_ok());
}

/// `{"request":"status","request":"remove_all"}` must not unload anything:
/// a repeated key is a usage error wherever we read it.
#[test]
fn repeated_keys_are_usage_errors_at_every_level() {
    let cases: &[&str] = &[
        r#"{"request":"status","request":"remove_all"}"#,
        r#"{"request":"loaded_accounts","request":"remove","account":"x"}"#,
        r#"{"request":"remove","account":"a","account":"b"}"#,
        r#"{"request":"remove","account":"a","acc\u006funt":"b"}"#,
        r#"{"request":"lock","password":"a","password":"b"}"#,
        r#"{"request":"access_token","account":"a","scope":"x","scope":"y"}"#,
        r#"{"request":"add","config":{"name":"a","name":"b"}}"#,
        r#"{"request":"add","config":{"name":"a","x":{"k":1,"k":2}}}"#,
        r#"{"request":"add","config":{"name":"a"},"pw_entry":{"type":0,"type":1}}"#,
        r#"{"request":"status","extra":[{"k":1,"k":1}]}"#,
    ];
    for text in cases {
        let err = Request::parse(text.as_bytes()).expect_err(text);
        assert!(
            matches!(err, ParseError::DuplicateKey(_)),
            "{text}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("appears twice"), "{}", err.message());
    }
    // oidc-agent 4.x: the account JSON inside a string is read strictly too.
    let inner = r#"{"name":"a","issuer_url":"https://op/","client_id":"c","refresh_token":"r1","refresh_token":"r2"}"#;
    let text = serde_json::json!({"request": "add", "config": inner}).to_string();
    let err = Request::parse(text.as_bytes()).expect_err("inner duplicate");
    assert!(err.message().contains("duplicate key"), "{err:?}");
    // The same keys in different objects are fine.
    let ok = r#"{"request":"add","config":{"name":"a","issuer_url":"https://op/","client_id":"c","refresh_token":"r","x":{"name":1}}}"#;
    assert!(Request::parse(ok.as_bytes()).is_ok());
}

/// The `add` config is typed at parse time, in both JSON forms, with its
/// secrets in zeroizing types; a bad config is a file error, as before.
#[test]
fn add_config_is_parsed_straight_into_the_account() {
    let obj = serde_json::json!({"name": "a", "issuer_url": "https://op/", "client_id": "c",
        "client_secret": "cs", "refresh_token": "rt", "username": ""});
    for config in [obj.clone(), serde_json::Value::String(obj.to_string())] {
        let text =
            serde_json::json!({"request": "add", "config": config, "confirm": 0}).to_string();
        let Ok(Request::Add(add)) = Request::parse(text.as_bytes()) else {
            panic!("{text}")
        };
        assert_eq!(add.config.refresh_token.expose(), "rt");
        assert_eq!(add.config.client_secret.expose(), "cs");
        assert!(!format!("{add:?}").contains("rt\""), "{add:?}");
        assert_eq!(add.config.extra["username"], "");
    }
    for bad in [
        r#"{"request":"add","config":{"name":3}}"#,
        r#"{"request":"add","config":"{not json"}"#,
        r#"{"request":"add","config":"[1]"}"#,
    ] {
        let err = Request::parse(bad.as_bytes()).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::BadFile, "{bad}: {err:?}");
        assert!(
            err.message()
                .starts_with("Bad Request: invalid account config: "),
            "{}",
            err.message()
        );
    }
    for bad in [
        &br#"{"request":"add"}"#[..],
        br#"{"request":"add","config":7}"#,
    ] {
        let err = Request::parse(bad).expect_err("not a config");
        assert!(matches!(err, ParseError::BadFields(_)), "{err:?}");
    }
}

/// Replies and requests are serialized once into a buffer of their final
/// size: no reallocation leaves a stray copy of a token on the heap.
#[test]
fn serialized_messages_never_reallocate() {
    let r = Response {
        access_token: Some(SecretString::new("T".repeat(5000))),
        ..Response::success()
    };
    let bytes = r.to_bytes();
    assert!(
        bytes.capacity() <= bytes.len() + 1,
        "{} {}",
        bytes.capacity(),
        bytes.len()
    );
    let lock = Request::Lock {
        password: "pw".into(),
    };
    let bytes = lock.to_bytes();
    assert_eq!(bytes.capacity(), bytes.len());
    assert_eq!(&bytes[..], br#"{"request":"lock","password":"pw"}"#);
}
