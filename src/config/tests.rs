use super::*;

#[test]
fn empty_config_is_valid_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(c.otp.code_length, 6);
    assert!(c.modems.is_empty());
}

#[test]
fn ui_table() {
    let c = Config::parse("[ui]\nread_only_on_loopback = true\n").unwrap();
    assert!(c.ui.enabled && c.ui.read_only_on_loopback);
    assert_eq!(c.ui.session_ttl_secs, 8 * 3600);
    let e = Config::parse("[ui]\nsession_ttl_secs = 5\n").unwrap_err();
    assert!(e.to_string().contains("ui.session_ttl_secs"), "{e}");
    let e = Config::parse("[ui]\nread_only = true\n").unwrap_err();
    assert!(e.to_string().contains("read_only"), "{e}");
}

#[test]
fn spec_example_parses() {
    let text = r#"
[server]
listen = "127.0.0.1:8080"
[storage]
path = "simgate.db"
[auth]
api_keys = ["sk_live_change_me"]
[security]
secret_file = "secret.key"
[otp]
code_length = 6
ttl_secs = 300
max_attempts = 5
default_country = "US"
[[modem]]
name = "sim1"
port = "/dev/simgate/sim1"
baud = 115200
number = "+15550000001"
pin = "1234"
[[webhook]]
url = "http://127.0.0.1:9000/hooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
events = ["*"]
"#;
    let c = Config::parse(text).unwrap();
    assert_eq!(c.modems[0].number.as_deref(), Some("+15550000001"));
    assert_eq!(c.webhooks[0].events, vec!["*"]);
}

#[test]
fn operator_templates_and_proof_keys_path() {
    let long = format!("{} {{{{code}}}}", "x".repeat(155));
    let err = Config::parse(&format!("[otp.templates]\nen = \"{long}\""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("otp.templates.en") && err.contains("one SMS part"),
        "{err}"
    );
    let c = Config::parse(
        "[security]\nsecret_file = \"/var/lib/simgate/secret.key\"\n[otp.templates]\npt-BR = \"Codigo {{pin}}\"\n[otp.reverse_templates]\nen = \"Send {{factor}} to {{to}}\"",
    )
    .unwrap();
    assert_eq!(c.otp.templates["pt-BR"], "Codigo {{pin}}");
    assert_eq!(
        c.proof_keys_path(),
        PathBuf::from("/var/lib/simgate/proof_keys.pem")
    );
    let c = Config::parse("[proofs]\nkeys_file = \"/etc/k.pem\"").unwrap();
    assert_eq!(c.proof_keys_path(), PathBuf::from("/etc/k.pem"));
}

#[test]
fn unknown_key_is_named() {
    let err = Config::parse("[server]\nlisten_addr = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("listen_addr"), "{err}");
}

#[test]
fn bad_values_name_their_key() {
    for (text, key) in [
        ("[otp]\ncode_length = 3", "otp.code_length"),
        ("[server]\nlisten = \"nope\"", "server.listen"),
        (
            "[[modem]]\nname = \"a\"\nport = \"/dev/x\"\nnumber = \"555\"",
            "modem[0].number",
        ),
        ("[[modem]]\nname = \"a\"\nport = \"\"", "modem[0].port"),
        ("[[webhook]]\nurl = \"ftp://x\"", "webhook[0].url"),
        (
            "[[webhook]]\nurl = \"http://x\"\nsecret = \"nope\"",
            "webhook[0].secret",
        ),
        ("[otp]\ndefault_country = \"USA\"", "otp.default_country"),
        (
            "[otp]\nallowed_countries = [\"US\", \"XX\"]",
            "otp.allowed_countries[1]",
        ),
        ("[otp]\nreverse_ttl_secs = 0", "otp.reverse_ttl_secs"),
        (
            "[otp]\nreverse_smsc_country_check = \"maybe\"",
            "reverse_smsc_country_check",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\nevents = [\"message.*.x\"]",
            "webhook[0].events[0]",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\nevents = []",
            "webhook[0].events",
        ),
        (
            "[[webhook]]\nurl = \"http://x\"\n[[webhook]]\nurl = \"http://x\"",
            "webhook[1].url",
        ),
        ("[webhooks]\nretry_factor = 0", "webhooks.retry_factor"),
        ("[outbound]\nmax_attempts = 0", "outbound.max_attempts"),
        ("[outbound]\nretry_base_ms = 0", "outbound.retry_base_ms"),
        (
            "[outbound]\ncode_headroom_percent = 95",
            "outbound.code_headroom_percent",
        ),
        (
            "[webhooks]\nretry_base_ms = 10\nretry_max_ms = 5",
            "webhooks.retry_max_ms",
        ),
        ("[webhooks]\ntimeout_ms = 1", "webhooks.timeout_ms"),
        (
            "[webhooks]\nper_endpoint_concurrency = 0",
            "webhooks.per_endpoint_concurrency",
        ),
        (
            "[webhooks]\nconcurrency = 4\nper_endpoint_concurrency = 5",
            "webhooks.per_endpoint_concurrency",
        ),
        (
            "[webhooks]\nconnect_timeout_ms = 20",
            "webhooks.connect_timeout_ms",
        ),
        (
            "[[webhook]]\nurl = \"http://169.254.169.254/latest\"",
            "webhook[0].url",
        ),
        (
            "[webhooks]\nallow_private_targets = false\n[[webhook]]\nurl = \"http://127.0.0.1:9000/\"",
            "webhook[0].url",
        ),
        ("[retention]\nweeks = 3", "weeks"),
        (
            "[server]\nheader_timeout_secs = 0",
            "server.header_timeout_secs",
        ),
        ("[server]\nmax_connections = 0", "server.max_connections"),
        (
            "[server]\nallowed_hosts = [\"http://x/\"]",
            "server.allowed_hosts[0]",
        ),
        // otp-settings: operator templates and proofs.
        ("[otp.templates]\nfr = \"Bonjour\"", "otp.templates.fr"),
        (
            "[otp.templates]\nen = \"{{code}} {{nope}}\"",
            "otp.templates.en",
        ),
        (
            "[otp.templates]\n\"english!\" = \"{{code}}\"",
            "otp.templates.english!",
        ),
        (
            "[otp.reverse_templates]\nen = \"Send {{factor}}\"",
            "otp.reverse_templates.en",
        ),
        ("[proofs]\nlifetime_secs = 0", "proofs.lifetime_secs"),
        ("[proofs]\naudience = \" \"", "proofs.audience"),
    ] {
        let err = Config::parse(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text:?} gave {err}");
    }
    let err = Config::parse("[otp]\ncode_length = \"six\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("code_length"), "{err}");
}

#[test]
fn refused_webhook_url_says_why() {
    let err = Config::parse("[[webhook]]\nurl = \"http://[fe80::1]:80/x\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused: link-local address fe80::1"), "{err}");
    let c = Config::parse("[retention]\ndays = 7\nevents_days = 0").unwrap();
    assert_eq!(c.retention.days, 7);
    assert_eq!(c.retention.events_days, Some(0));
}

#[test]
fn redacted_output_hides_secrets() {
    let c = Config::parse(
        "[auth]\napi_keys=[\"sk_live_supersecret\"]\n[[modem]]\nname=\"a\"\nport=\"/dev/x\"\npin=\"4321\"\n[[webhook]]\nurl=\"http://h\"\nsecret=\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
    )
    .unwrap();
    let shown = c.to_redacted_toml();
    assert!(!shown.contains("supersecret"));
    assert!(!shown.contains("4321"));
    assert!(!shown.contains("MfKQ9r8"));
    assert!(shown.contains("sk_l****"), "{shown}");
}

#[test]
fn a_postgres_url_is_validated_and_its_password_masked() {
    let c = Config::parse(
        "[storage]\nurl = \"postgres://simgate:pg-Secret-99@db.lan:5432/simgate?sslmode=require\"\n",
    )
    .unwrap();
    let shown = c.to_redacted_toml();
    assert!(!shown.contains("pg-Secret-99"), "{shown}");
    assert!(
        shown.contains("postgres://simgate:****@db.lan:5432/simgate"),
        "{shown}"
    );
    assert!(!format!("{c:?}").contains("pg-Secret-99"));

    for bad in ["mysql://u:p@h/db", "postgres://u:p@h:notaport/db"] {
        let e = Config::parse(&format!("[storage]\nurl = \"{bad}\"\n")).unwrap_err();
        assert!(e.to_string().contains("storage.url"), "{e}");
        assert!(
            !e.to_string().contains(":p@"),
            "the password is not repeated: {e}"
        );
    }
    let e = Config::parse("[cluster]\nname = \"bad name\"\n").unwrap_err();
    assert!(e.to_string().contains("cluster.name"), "{e}");
    let e = Config::parse("[cluster]\nheartbeat_secs = 10\nhost_timeout_secs = 20\n").unwrap_err();
    assert!(e.to_string().contains("cluster.host_timeout_secs"), "{e}");
}

#[test]
fn debug_output_hides_secrets() {
    let c = Config::parse(
        "[auth]\napi_keys=[\"sk_live_supersecret\"]\n\
         [[modem]]\nname=\"a\"\nport=\"/dev/x\"\npin=\"4321\"\n\
         [[webhook]]\nurl=\"http://h\"\nsecret=\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
         [hooks.gotrue]\nsecret = \"v1,whsec_R29UcnVlSG9va1NlY3JldEtleTEyMzQ=\"\n\
         [hooks.zitadel]\nsigning_key = \"zitadel-signing-key-1\"\n\
         [hooks.kratos]\nbearer_tokens = [\"tok_kratos_0123\"]\nbasic = [\"kr:basicpass123\"]\n\
         api_keys = [\"hookapikey_0123\"]\n",
    )
    .unwrap();
    assert_eq!(c.modems[0].pin.as_ref().unwrap().expose(), "4321");
    let shown = format!("{c:?} {c:#?}");
    for secret in [
        "supersecret",
        "4321",
        "MfKQ9r8",
        "R29UcnVl",
        "zitadel-signing-key",
        "tok_kratos",
        "basicpass123",
        "hookapikey",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("****"));
}

#[test]
fn hooks_tables_parse_and_validate() {
    let c = Config::parse(
        "[hooks.gotrue]\nsecret = \"v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
         [hooks.zitadel]\nsigning_key = [\"key-one-123\", \"key-two-456\"]\n\
         [hooks.authentik]\nbearer_tokens = [\"tok_0123456789\"]\nbasic = [\"ak:password123\"]\n",
    )
    .unwrap();
    assert_eq!(c.hooks.gotrue.as_ref().unwrap().secret.len(), 1);
    assert_eq!(c.hooks.zitadel.as_ref().unwrap().signing_key.len(), 2);
    assert_eq!(
        c.hooks.authentik.as_ref().unwrap().api_key_header,
        "X-API-Key"
    );
    assert!(c.hooks.logto.is_none());
    let shown = c.to_redacted_toml();
    assert!(!shown.contains("MfKQ9r8"), "{shown}");
    assert!(!shown.contains("key-one-123"), "{shown}");
    assert!(!shown.contains("tok_0123456789"), "{shown}");
    assert!(!shown.contains("password123"), "{shown}");

    for (text, key) in [
        (
            "[hooks.gotrue]\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"",
            "hooks.gotrue.secret[0]",
        ),
        ("[hooks.gotrue]\nsecret = []", "hooks.gotrue.secret"),
        (
            "[hooks.zitadel]\nsigning_key = \"short\"",
            "hooks.zitadel.signing_key[0]",
        ),
        ("[hooks.logto]\n", "hooks.logto"),
        (
            "[hooks.kratos]\nbasic = [\"nopassword\"]",
            "hooks.kratos.basic[0]",
        ),
        (
            "[hooks.keycloak]\napi_keys = [\"k_0123456789\"]\napi_key_header = \"bad header\"",
            "hooks.keycloak.api_key_header",
        ),
        (
            "[hooks]\ndedupe_window_secs = 0",
            "hooks.dedupe_window_secs",
        ),
    ] {
        let err = Config::parse(text).unwrap_err().to_string();
        assert!(err.contains(key), "{text:?} gave {err}");
    }
}

#[test]
fn protected_mode_refuses_weak_keys_off_loopback() {
    let strong = "sk_live_0123456789abcdef01234567";
    for (listen, key, refused) in [
        ("0.0.0.0:8080", EXAMPLE_API_KEY, true),
        ("[::]:8080", EXAMPLE_API_KEY, true),
        ("192.168.1.5:8080", "sk_short_but_ok_len", true),
        ("0.0.0.0:8080", strong, false),
        ("127.0.0.1:8080", EXAMPLE_API_KEY, false),
        ("[::1]:8080", "sk_short_key", false),
    ] {
        let text = format!(
            "[server]\nlisten = \"{listen}\"\n[auth]\napi_keys = [\"{strong}\", \"{key}\"]"
        );
        match Config::parse(&text) {
            Ok(_) => assert!(!refused, "{listen} {key} accepted"),
            Err(e) => {
                assert!(refused, "{listen} {key}: {e}");
                let e = e.to_string();
                assert!(
                    e.contains("auth.api_keys[1]") && e.contains("protected mode"),
                    "{e}"
                );
                assert!(!e.contains('\n'), "one line: {e}");
                assert!(!e.contains(key), "the key itself is not shown: {e}");
            }
        }
    }
    // The defaults (no file at all) are the loopback quick start.
    Config::default().validate().unwrap();
}

#[test]
fn e164() {
    assert!(is_e164("+15550000001"));
    assert!(!is_e164("15550000001"));
    assert!(!is_e164("+0123456789"));
    assert!(!is_e164("+1555abc0001"));
}

/// The shipped example parses, and documents every key the config has.
#[test]
fn example_config_is_valid_and_complete() {
    let example = include_str!("../../config/simgate.example.toml");
    Config::parse(example).expect("config/simgate.example.toml is valid");
    let defaults: toml::Value = toml::Value::try_from(Config::default()).unwrap();
    let mut missing = Vec::new();
    if let toml::Value::Table(tables) = defaults {
        for (table, value) in tables {
            let keys: Vec<String> = match value {
                toml::Value::Table(t) => t.keys().cloned().collect(),
                // [[modem]] / [[webhook]]: the keys of one default entry.
                toml::Value::Array(_) => match table.as_str() {
                    "modem" => toml::Value::try_from(Modem::default())
                        .ok()
                        .and_then(|v| v.as_table().map(|t| t.keys().cloned().collect()))
                        .unwrap_or_default(),
                    "webhook" => toml::Value::try_from(Webhook::default())
                        .ok()
                        .and_then(|v| v.as_table().map(|t| t.keys().cloned().collect()))
                        .unwrap_or_default(),
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            for key in keys {
                let documented = example
                    .lines()
                    .map(|l| l.trim_start_matches('#').trim_start())
                    .any(|l| l.starts_with(&format!("{key} =")));
                if !documented {
                    missing.push(format!("{table}.{key}"));
                }
            }
        }
    }
    // Optional keys with no default (serialised as absent) are checked by name.
    for key in [
        "pin",
        "number",
        "link_dir",
        "url",
        "ca_file",
        "name",
        // [hooks] (hooks.* tables are absent by default).
        "app_name",
        "secret",
        "signing_key",
        "bearer_tokens",
        "basic",
        "api_keys",
        "api_key_header",
    ] {
        if !example.contains(&format!("{key} =")) {
            missing.push(key.to_string());
        }
    }
    assert!(missing.is_empty(), "undocumented keys: {missing:?}");
}
