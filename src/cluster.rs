//! Several hosts, one service (PostgreSQL only): at start a host joins (its modem names are
//! its own, its secrets are the service's, its work left from a previous life is recovered),
//! then it beats: every `[cluster] heartbeat_secs` it publishes its modems' states, learns the
//! others', and takes over the work of any host silent for `host_timeout_secs` (its claimed
//! messages go back to the queue, its in-flight parts become `uncertain`, exactly as after a
//! local crash). The storage side is [`crate::store::cluster`].

use crate::api::modems::modem_json;
use crate::config::Config;
use crate::pool::Pool;
use crate::secret::Secret;
use crate::shutdown::Shutdown;
use crate::store::cluster::{Fingerprint, FingerprintRule, Joined, LocalModem};
use crate::store::Store;
use std::time::Duration;

/// The fingerprints that tell whether two hosts hold the same secrets: a keyed hash of a fixed
/// label for the pepper (it never rotates: stored codes are keyed with it), and the ids of the
/// proof keys (public, like the JWKS they come from; a rotation adds one). Neither reveals a
/// secret.
pub fn fingerprints(pepper: &Secret, proof_keys: &crate::verify::ProofKeys) -> Vec<Fingerprint> {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper.bytes()).expect("any key length");
    mac.update(b"simgate cluster fingerprint v1");
    let pepper_print = hex::encode(&mac.finalize().into_bytes()[..16]);
    let mut kids: Vec<String> = proof_keys
        .jwks()
        .keys
        .into_iter()
        .filter_map(|k| k.common.key_id)
        .collect();
    kids.sort();
    vec![
        Fingerprint {
            what: "secret file ([security] secret_file)",
            value: pepper_print,
            rule: FingerprintRule::Same,
        },
        Fingerprint {
            what: "proof keys ([proofs] keys_file)",
            value: kids.join(","),
            rule: FingerprintRule::SharesAKey,
        },
    ]
}

/// Joins the cluster; refuses to start on a taken modem name or a different secret.
pub async fn join(
    store: &Store,
    config: &Config,
    secrets: Vec<Fingerprint>,
) -> anyhow::Result<Joined> {
    let host = config.cluster.host_name();
    let modems = config.modems.iter().map(|m| m.name.clone()).collect();
    let joined = store
        .cluster_join(
            host.clone(),
            modems,
            secrets,
            config.cluster.host_timeout_secs as i64 * 1000,
        )
        .await?;
    tracing::info!(%host, "joined the hosts sharing the database");
    Ok(joined)
}

/// Beats until shutdown.
pub async fn run_heartbeat(store: Store, pool: Pool, config: Config, mut shutdown: Shutdown) {
    let host = config.cluster.host_name();
    let every = Duration::from_secs(config.cluster.heartbeat_secs);
    let timeout_ms = config.cluster.host_timeout_secs as i64 * 1000;
    loop {
        let modems: Vec<LocalModem> = pool
            .statuses()
            .iter()
            .map(|s| LocalModem {
                name: s.name.clone(),
                number: s.number.clone(),
                ready: s.state.can_send(),
                status: modem_json(s, 0),
            })
            .collect();
        match store
            .cluster_heartbeat(host.clone(), modems, timeout_ms)
            .await
        {
            Ok((elsewhere, taken)) => {
                pool.set_elsewhere(elsewhere);
                let took_over = !taken.is_empty();
                for t in taken {
                    tracing::warn!(host = %t.host, uncertain = t.uncertain, requeued = t.requeued,
                        "a host went silent: its work is taken over");
                }
                if took_over {
                    pool.wake(); // work taken over may be ours to send now
                }
            }
            Err(e) => tracing::error!(error = %e, "heartbeat failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.recv() => return,
        }
    }
}
