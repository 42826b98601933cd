//! The official Contiguity JavaScript SDK (npm `contiguity`, pinned in tests/js/package.json),
//! unchanged, against simgate: `tests/js/contiguity_sdk.mjs` runs its OTP, reverse-OTP
//! (initiate / verify / cancel) and text calls, and its `webhook.verify` on the
//! `Contiguity-Signature` of a webhook simgate really delivered, with the secret exactly as
//! configured. The SDK has no base-URL option: the script wraps `fetch`.
//!
//! Skipped (with a printed note) only when `node` is missing or `npm ci` was not run in
//! tests/js; CI runs it (.ci/run).

use crate::daemon_support;
use crate::sdk_support::{code_in, SdkScript};
use crate::webhook_support;

use daemon_support::{TestDaemon, SOON};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use webhook_support::{Listener, SECRET};

const PHONE: &str = "+14155550170";
/// The SDK refuses keys without this prefix.
const SDK_KEY: &str = "contiguity_sk_simgate_test_0123";

fn sdk_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
}

fn sdk_available() -> bool {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    node && sdk_dir()
        .join("node_modules/contiguity/package.json")
        .exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_js_sdk_runs_otp_reverse_text_and_webhook_verify() {
    if !sdk_available() {
        println!(
            "NOTE: skipping the Contiguity JS SDK test: needs `node` and `npm ci` in tests/js"
        );
        return;
    }
    let receiver = Listener::start().await;
    let url = receiver.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        c.auth.api_keys = vec![SDK_KEY.into()];
        c.webhooks
            .push(webhook_support::webhook(&url, &["otp.reverse.verified"]));
        webhook_support::fast_retries(c);
    })
    .await;
    d.wait_all_ready().await;
    let mut script = SdkScript::spawn({
        let mut command = Command::new("node");
        command
            .arg(sdk_dir().join("contiguity_sdk.mjs"))
            .args([&d.base_url(), SDK_KEY, PHONE])
            .current_dir(sdk_dir());
        command
    });
    let outcome = async {
        // OTP: the code comes from the SMS the phone got.
        let line = script.next_line("otp_id").await;
        let otp_id = line
            .strip_prefix("otp_id ")
            .unwrap_or_else(|| panic!("{line}"))
            .to_string();
        let sms = d
            .network
            .world()
            .wait_for(PHONE, SOON)
            .await
            .expect("code SMS");
        let code = code_in(&sms.text, d.config.otp.code_length as usize);
        script.send_line(&code);

        // Reverse OTP: the phone texts the factor to the number the SDK was given.
        let line = script.next_line("reverse").await;
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 4, "{line}");
        assert_eq!(fields[0], "reverse");
        let (reverse_id, to, factor) = (fields[1].to_string(), fields[2], fields[3]);
        assert_eq!(to, d.modems[0].number());
        d.network
            .send_from_world(PHONE, to, &format!("code {factor}"))
            .expect("the phone texts the factor");
        assert_eq!(
            script.next_line("reverse verified").await,
            "reverse verified"
        );

        // The webhook simgate signed, verified by the SDK with the secret as configured.
        let got = receiver.wait_for(1, SOON).await;
        let delivered = &got[0];
        assert_eq!(delivered.json()["data"]["otp_id"], reverse_id.as_str());
        let handoff = serde_json::json!({
            "body": String::from_utf8(delivered.body.to_vec()).unwrap(),
            "header": delivered.header("contiguity-signature"),
            "secret": SECRET,
        });
        script.send_line(&handoff.to_string());
        assert_eq!(
            script.next_line("webhook").await,
            "webhook true false false",
            "the SDK accepts simgate's Contiguity-Signature and refuses a tampered body or another secret"
        );

        let line = script.next_line("cancelled").await;
        assert!(line.starts_with("cancelled r_otp_"), "{line}");

        let line = script.next_line("message_id").await;
        assert!(line.starts_with("message_id msg_"), "{line}");
        let text = d.network.world().wait_for(PHONE, SOON).await.expect("text");
        assert_eq!(text.text, "hello from the JS SDK");
        assert_eq!(script.next_line("OK").await, "OK");

        let verified = d
            .state()
            .verifier
            .get(&otp_id)
            .await
            .expect("the SDK's verification exists");
        assert!(verified.verified);
        assert_eq!(verified.attempts, 2, "one wrong code, then the right one");
    };
    let result = tokio::time::timeout(Duration::from_secs(90), outcome).await;
    if result.is_err() {
        script.kill();
    }
    let (status, errors) = script.finish().await;
    assert!(result.is_ok(), "timed out; SDK stderr:\n{errors}");
    assert!(status.success(), "SDK script failed ({status}):\n{errors}");
    d.stop().await;
}
