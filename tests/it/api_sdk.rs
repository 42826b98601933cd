//! The official Contiguity Python SDK (PyPI `contiguity` 3.x), unchanged, against simgate:
//! `tests/sdk/contiguity_otp.py` sends an OTP, verifies it with the code this test reads from
//! the SMS that reached the virtual phone, resends, and sends a text.
//!
//! Skipped (with a printed note) only when `python3` cannot import `contiguity`; CI installs
//! it (`pip install contiguity`).

use crate::daemon_support;
use crate::sdk_support::{code_in, SdkScript};

use daemon_support::{TestDaemon, API_KEY, SOON};
use std::process::{Command, Stdio};
use std::time::Duration;

const PHONE: &str = "+14155550123";

fn sdk_available() -> bool {
    Command::new("python3")
        .args(["-c", "import contiguity"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_runs_otp_unchanged() {
    if !sdk_available() {
        println!(
            "NOTE: skipping the Contiguity SDK test: `python3 -c 'import contiguity'` failed; \
             install it with `pip install contiguity`"
        );
        return;
    }
    let mut d = TestDaemon::with_config(1, |c| c.otp.resend_cooldown_secs = 0).await;
    d.wait_all_ready().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/contiguity_otp.py");
    let mut script = SdkScript::spawn({
        let mut command = Command::new("python3");
        command.args([script, &d.base_url(), API_KEY, PHONE]);
        command
    });
    let outcome = async {
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
        // The resend carries the same code, unless the SDK's verify (right after the resend)
        // ended the verification first: then the resent SMS is withdrawn unsent (codes of ended
        // verifications are never paid for) and the next SMS on the wire is the plain text.
        let next = d
            .network
            .world()
            .wait_for(PHONE, SOON)
            .await
            .expect("resent or text SMS");
        let text_seen_early = next.text == "hello from the SDK";
        if !text_seen_early {
            assert_eq!(code_in(&next.text, code.len()), code);
        }

        let line = script.next_line("message_id").await;
        let message_id = line
            .strip_prefix("message_id ")
            .unwrap_or_else(|| panic!("{line}"));
        assert!(message_id.starts_with("msg_"));
        if text_seen_early {
            let id = otp_id.to_string();
            let withdrawn: i64 = d
                .state()
                .store
                .call(move |conn| {
                    conn.query_row(
                        "SELECT COUNT(*) FROM outbound_messages
                         WHERE purpose_id = ?1 AND status = 'withdrawn'",
                        [id],
                        |r| r.get(0),
                    )
                    .map_err(Into::into)
                })
                .await
                .unwrap();
            assert_eq!(withdrawn, 1, "the resend was neither sent nor withdrawn");
        } else {
            let text = d
                .network
                .world()
                .wait_for(PHONE, SOON)
                .await
                .expect("text SMS");
            assert_eq!(text.text, "hello from the SDK");
        }
        assert_eq!(script.next_line("OK").await, "OK");

        let verified: bool = d
            .state()
            .verifier
            .get(&otp_id)
            .await
            .expect("the SDK's verification exists")
            .verified;
        assert!(verified);
    };
    let result = tokio::time::timeout(Duration::from_secs(60), outcome).await;
    if result.is_err() {
        script.kill();
    }
    let (status, errors) = script.finish().await;
    assert!(result.is_ok(), "timed out; SDK stderr:\n{errors}");
    assert!(status.success(), "SDK script failed ({status}):\n{errors}");
    d.stop().await;
}
