use super::*;

#[test]
fn statuses_are_lower_case_words() {
    for status in [
        OtpStatus::Pending,
        OtpStatus::Verified,
        OtpStatus::Expired,
        OtpStatus::Locked,
        OtpStatus::Cancelled,
    ] {
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{}\"", status.as_str()));
        assert_eq!(status.as_str().parse::<OtpStatus>(), Ok(status));
    }
}

#[test]
fn pending_rows_expire_by_time() {
    assert_eq!(OtpStatus::Pending.at(100, 99), OtpStatus::Pending);
    assert_eq!(OtpStatus::Pending.at(100, 100), OtpStatus::Expired);
    assert_eq!(OtpStatus::Verified.at(100, 200), OtpStatus::Verified);
    assert_eq!(OtpStatus::Cancelled.at(100, 200), OtpStatus::Cancelled);
}

#[test]
fn settings_bounds_name_their_field() {
    let otp = Otp::default();
    let field = |o: OtpOptions| match Settings::check(&otp, &o) {
        Err(VerifyError::InvalidSetting { field, .. }) => field,
        Err(other) => panic!("{other}"),
        Ok(_) => "ok".into(),
    };
    assert_eq!(field(OtpOptions::default()), "ok");
    assert_eq!(
        field(OtpOptions {
            code_length: Some(10),
            ttl_secs: Some(3600),
            max_attempts: Some(10),
            ..Default::default()
        }),
        "ok"
    );
    assert_eq!(
        field(OtpOptions {
            code_length: Some(3),
            ..Default::default()
        }),
        "code_length"
    );
    assert_eq!(
        field(OtpOptions {
            ttl_secs: Some(29),
            ..Default::default()
        }),
        "ttl_secs"
    );
    assert_eq!(
        field(OtpOptions {
            max_attempts: Some(0),
            ..Default::default()
        }),
        "max_attempts"
    );
    assert_eq!(
        field(OtpOptions {
            template: Some("no code".into()),
            ..Default::default()
        }),
        "template"
    );
    let templates = [("de".to_string(), "{{code}} {{x}}".to_string())].into();
    assert_eq!(
        field(OtpOptions {
            templates,
            ..Default::default()
        }),
        "templates.de"
    );
    assert_eq!(
        field(OtpOptions {
            callback_url: Some("nope".into()),
            ..Default::default()
        }),
        "callback_url"
    );
}

#[test]
fn client_and_server_errors() {
    assert!(VerifyError::NotFound.is_client_error());
    assert!(VerifyError::RateLimited {
        retry_after_secs: 1,
        scope: "number"
    }
    .is_client_error());
    assert!(!VerifyError::Store(StoreError::Task("x".into())).is_client_error());
    assert!(!VerifyError::Send(SendError::Store(StoreError::Task("x".into()))).is_client_error());
}
