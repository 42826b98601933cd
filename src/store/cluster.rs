//! Several hosts, one database: each host's heartbeat, the modems it publishes, the take-over
//! of a silent host's work, and the fingerprints of the secrets every host must share.
//!
//! Every operation here runs in one store call, which on PostgreSQL holds the cluster lock
//! (see [`super::Store::call`]): two hosts never both take over the same dead host, and a
//! modem name is never claimed by two live hosts.

use super::db::{params, Connection, OptionalExtension};
use super::{outbound, Result, Store, StoreError};

/// A modem as another host last published it.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedModem {
    pub name: String,
    pub host: String,
    pub number: Option<String>,
    pub ready: bool,
    /// The status object `GET /v1/modems` shows (JSON).
    pub status: serde_json::Value,
    pub heartbeat_at: i64,
}

/// One of this host's modems, as it publishes it.
#[derive(Debug, Clone)]
pub struct LocalModem {
    pub name: String,
    pub number: Option<String>,
    pub ready: bool,
    pub status: serde_json::Value,
}

/// A host whose work was taken over.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenOver {
    pub host: String,
    /// Parts it may have been sending: now `uncertain`, never resent.
    pub uncertain: usize,
    /// Messages it had claimed: back in the queue.
    pub requeued: usize,
}

/// Why this host may not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinRefused {
    #[error("modem {modem} is served by host {host}, alive {age_ms} ms ago: modem names must be unique across the hosts sharing a database (set [simulator] name_prefix or rename the [[modem]])")]
    ModemTaken {
        modem: String,
        host: String,
        age_ms: i64,
    },
    #[error("this host's {what} differs from the one the other hosts use (set by host {set_by}): copy it from an existing host (README \"Several hosts\")")]
    SecretDiffers { what: String, set_by: String },
}

/// What joining did.
#[derive(Debug, Default)]
pub struct Joined {
    /// This host's own work left from its previous life (parts uncertain, messages requeued).
    pub uncertain: usize,
    pub requeued: usize,
}

/// A secret's fingerprint, compared between hosts (never the secret).
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub what: &'static str,
    pub value: String,
    pub rule: FingerprintRule,
}

/// When a host's fingerprint agrees with the service's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FingerprintRule {
    /// Equal, always (the pepper).
    Same,
    /// A comma-separated set sharing at least one member (proof keys while a rotation goes
    /// from host to host: the newest host's set is stored, and the others are told).
    SharesAKey,
}

fn check_fingerprint(conn: &Connection, host: &str, f: &Fingerprint, now: i64) -> Result<()> {
    let stored: Option<(String, String)> = conn
        .query_row(
            "SELECT fingerprint, set_by FROM service_secrets WHERE name = ?1",
            [f.what],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match stored {
        None => {
            conn.execute(
                "INSERT INTO service_secrets (name, fingerprint, set_by, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![f.what, f.value, host, now],
            )?;
            Ok(())
        }
        Some((value, _)) if value == f.value => Ok(()),
        Some((value, set_by))
            if f.rule == FingerprintRule::SharesAKey
                && value.split(',').any(|k| f.value.split(',').any(|m| m == k)) =>
        {
            tracing::warn!(what = f.what, other_host = %set_by,
                "this host's keys differ from those another host started with, sharing some: \
                 a rotation in progress? Give every host the same file");
            conn.execute(
                "UPDATE service_secrets SET fingerprint = ?2, set_by = ?3 WHERE name = ?1",
                params![f.what, f.value, host],
            )?;
            Ok(())
        }
        Some((_, set_by)) => Err(StoreError::Refused(
            JoinRefused::SecretDiffers {
                what: f.what.to_string(),
                set_by,
            }
            .to_string(),
        )),
    }
}

/// This host's modems' names: those it publishes now and those it published before.
fn own_modems(conn: &Connection, host: &str, configured: &[String]) -> Result<Vec<String>> {
    let mut names: Vec<String> = conn
        .query_map(
            "SELECT name FROM cluster_modems WHERE host = ?1",
            [host],
            |r| r.get(0),
        )?
        .into_iter()
        .collect::<super::db::Result<_>>()?;
    for name in configured {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

/// Joins the cluster: refuses modem names a live host serves and secrets that differ from
/// the service's, registers the host, and recovers its own work left from a previous life
/// (exactly the local crash recovery, limited to this host's modems).
pub fn join(
    conn: &mut Connection,
    host: &str,
    version: &str,
    modems: &[String],
    secrets: &[Fingerprint],
    now: i64,
    timeout_ms: i64,
) -> Result<Joined> {
    for modem in modems {
        let holder: Option<(String, i64)> = conn
            .query_row(
                "SELECT m.host, h.heartbeat_at FROM cluster_modems m
                 JOIN cluster_hosts h ON h.name = m.host
                 WHERE m.name = ?1 AND m.host != ?2 AND h.recovered_at IS NULL",
                params![modem, host],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((other, heartbeat_at)) = holder {
            if heartbeat_at > now - timeout_ms {
                return Err(StoreError::Refused(
                    JoinRefused::ModemTaken {
                        modem: modem.clone(),
                        host: other,
                        age_ms: now - heartbeat_at,
                    }
                    .to_string(),
                ));
            }
        }
    }
    for f in secrets {
        check_fingerprint(conn, host, f, now)?;
    }
    conn.execute(
        "INSERT INTO cluster_hosts (name, version, started_at, heartbeat_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (name) DO UPDATE SET version = excluded.version, started_at = excluded.started_at,
             heartbeat_at = excluded.heartbeat_at, recovered_at = NULL",
        params![host, version, now],
    )?;
    let own = own_modems(conn, host, modems)?;
    let (uncertain, requeued) = outbound::recover_modems(conn, Some(&own))?;
    // Leases this host held before it stopped lapse now, not after their time.
    conn.execute(
        "UPDATE webhook_deliveries SET lease_host = NULL, lease_until = NULL WHERE lease_host = ?1",
        [host],
    )?;
    conn.execute("DELETE FROM cluster_modems WHERE host = ?1", [host])?;
    Ok(Joined {
        uncertain,
        requeued,
    })
}

/// One heartbeat: this host and its modems are alive; hosts silent for `timeout_ms` have their
/// work taken over; returns the other live hosts' modems.
pub fn heartbeat(
    conn: &mut Connection,
    host: &str,
    modems: &[LocalModem],
    now: i64,
    timeout_ms: i64,
) -> Result<(Vec<PublishedModem>, Vec<TakenOver>)> {
    conn.execute(
        "UPDATE cluster_hosts SET heartbeat_at = ?2, recovered_at = NULL WHERE name = ?1",
        params![host, now],
    )?;
    for m in modems {
        conn.execute(
            "INSERT INTO cluster_modems (name, host, number, ready, status, heartbeat_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (name) DO UPDATE SET host = excluded.host, number = excluded.number,
                 ready = excluded.ready, status = excluded.status, heartbeat_at = excluded.heartbeat_at",
            params![m.name, host, m.number, m.ready, m.status.to_string(), now],
        )?;
    }
    let dead: Vec<String> = conn
        .query_map(
            "SELECT name FROM cluster_hosts
             WHERE name != ?1 AND recovered_at IS NULL AND heartbeat_at < ?2",
            params![host, now - timeout_ms],
            |r| r.get(0),
        )?
        .into_iter()
        .collect::<super::db::Result<_>>()?;
    let mut taken = Vec::new();
    for gone in dead {
        let theirs = own_modems(conn, &gone, &[])?;
        let (uncertain, requeued) = outbound::recover_modems(conn, Some(&theirs))?;
        conn.execute(
            "UPDATE webhook_deliveries SET lease_until = NULL WHERE lease_host = ?1",
            [&gone],
        )?;
        conn.execute(
            "UPDATE cluster_modems SET ready = 0 WHERE host = ?1",
            [&gone],
        )?;
        conn.execute(
            "UPDATE cluster_hosts SET recovered_at = ?2 WHERE name = ?1",
            params![gone, now],
        )?;
        taken.push(TakenOver {
            host: gone,
            uncertain,
            requeued,
        });
    }
    let others = published_modems(conn, host)?;
    Ok((others, taken))
}

/// The modems other hosts published, with their hosts' last heartbeat.
pub fn published_modems(conn: &Connection, except_host: &str) -> Result<Vec<PublishedModem>> {
    let rows = conn.query_map(
        "SELECT m.name, m.host, m.number, m.ready, m.status, h.heartbeat_at
         FROM cluster_modems m JOIN cluster_hosts h ON h.name = m.host
         WHERE m.host != ?1 ORDER BY m.name",
        [except_host],
        |r| {
            let status: String = r.get(4)?;
            Ok(PublishedModem {
                name: r.get(0)?,
                host: r.get(1)?,
                number: r.get(2)?,
                ready: r.get(3)?,
                status: serde_json::from_str(&status).unwrap_or(serde_json::Value::Null),
                heartbeat_at: r.get(5)?,
            })
        },
    )?;
    Ok(rows.into_iter().collect::<super::db::Result<_>>()?)
}

impl Store {
    /// See [`join`].
    pub async fn cluster_join(
        &self,
        host: String,
        modems: Vec<String>,
        secrets: Vec<Fingerprint>,
        timeout_ms: i64,
    ) -> Result<Joined> {
        self.call(move |c| {
            join(
                c,
                &host,
                env!("CARGO_PKG_VERSION"),
                &modems,
                &secrets,
                super::now_ms(),
                timeout_ms,
            )
        })
        .await
    }

    /// See [`heartbeat`].
    pub async fn cluster_heartbeat(
        &self,
        host: String,
        modems: Vec<LocalModem>,
        timeout_ms: i64,
    ) -> Result<(Vec<PublishedModem>, Vec<TakenOver>)> {
        self.call(move |c| heartbeat(c, &host, &modems, super::now_ms(), timeout_ms))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::test_db;

    fn secret(value: &str) -> Vec<Fingerprint> {
        vec![Fingerprint {
            what: "secret file",
            value: value.into(),
            rule: FingerprintRule::Same,
        }]
    }

    fn proof_keys(kids: &str) -> Vec<Fingerprint> {
        vec![Fingerprint {
            what: "proof keys",
            value: kids.into(),
            rule: FingerprintRule::SharesAKey,
        }]
    }

    /// A rotation (a key added) passes from host to host; keys with nothing in common do not.
    #[test]
    fn rotated_proof_keys_join_and_unrelated_ones_are_refused() {
        let mut conn = test_db();
        join(&mut conn, "a", "1", &[], &proof_keys("k1"), 1_000, 30_000).unwrap();
        join(
            &mut conn,
            "a",
            "1",
            &[],
            &proof_keys("k1,k2"),
            2_000,
            30_000,
        )
        .unwrap();
        join(
            &mut conn,
            "b",
            "1",
            &[],
            &proof_keys("k1,k2"),
            2_000,
            30_000,
        )
        .unwrap();
        join(
            &mut conn,
            "c",
            "1",
            &[],
            &proof_keys("k2,k3"),
            2_000,
            30_000,
        )
        .unwrap();
        let unrelated = join(&mut conn, "d", "1", &[], &proof_keys("k9"), 2_000, 30_000);
        assert!(matches!(unrelated, Err(StoreError::Refused(m)) if m.contains("proof keys")));
    }

    fn status_of(conn: &Connection, table: &str, id: &str) -> String {
        let key = if table == "outbound_parts" {
            "message_id"
        } else {
            "id"
        };
        conn.query_row(
            &format!("SELECT status FROM {table} WHERE {key} = ?1"),
            [id],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn a_live_hosts_modem_name_and_a_different_secret_are_refused() {
        let mut conn = test_db();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        join(
            &mut conn,
            "a",
            "1",
            &names(&["a-sim1"]),
            &secret("s1"),
            1_000,
            30_000,
        )
        .unwrap();
        let modem = LocalModem {
            name: "a-sim1".into(),
            number: Some("+15550000001".into()),
            ready: true,
            status: serde_json::json!({"name": "a-sim1"}),
        };
        heartbeat(&mut conn, "a", &[modem], 1_000, 30_000).unwrap();

        let taken = join(
            &mut conn,
            "b",
            "1",
            &names(&["a-sim1"]),
            &secret("s1"),
            2_000,
            30_000,
        );
        assert!(
            matches!(taken, Err(StoreError::Refused(m)) if m.contains("a-sim1") && m.contains("host a"))
        );
        let differs = join(
            &mut conn,
            "b",
            "1",
            &names(&["b-sim1"]),
            &secret("s2"),
            2_000,
            30_000,
        );
        assert!(matches!(differs, Err(StoreError::Refused(m)) if m.contains("differs")));
        join(
            &mut conn,
            "b",
            "1",
            &names(&["b-sim1"]),
            &secret("s1"),
            2_000,
            30_000,
        )
        .unwrap();

        // B sees A's modem; once A is silent past the timeout, its name is free again.
        let (seen, _) = heartbeat(&mut conn, "b", &[], 2_000, 30_000).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].host.as_str(), seen[0].ready), ("a", true));
        join(
            &mut conn,
            "c",
            "1",
            &names(&["a-sim1"]),
            &secret("s1"),
            40_000,
            30_000,
        )
        .unwrap();
    }

    #[test]
    fn a_silent_hosts_work_is_taken_over_once_as_after_a_crash() {
        let mut conn = test_db();
        join(&mut conn, "a", "1", &["a-sim1".into()], &[], 1_000, 30_000).unwrap();
        join(&mut conn, "b", "1", &["b-sim1".into()], &[], 1_000, 30_000).unwrap();
        let a_modem = LocalModem {
            name: "a-sim1".into(),
            number: None,
            ready: true,
            status: serde_json::json!({}),
        };
        heartbeat(&mut conn, "a", &[a_modem], 1_000, 30_000).unwrap();
        conn.execute_batch(
            "INSERT INTO outbound_messages (id, recipient, body, status, encoding, parts_total, modem, created_at, updated_at)
             VALUES ('m_in_flight', '+1', 'x', 'sending', 'gsm7', 1, 'a-sim1', 1, 1),
                    ('m_claimed', '+1', 'x', 'sending', 'gsm7', 1, 'a-sim1', 1, 1),
                    ('m_b', '+1', 'x', 'sending', 'gsm7', 1, 'b-sim1', 1, 1);
             INSERT INTO outbound_parts (message_id, seq, tpdu_len, pdu, status, modem, submitted_at)
             VALUES ('m_in_flight', 1, 1, '00', 'submitting', 'a-sim1', 1),
                    ('m_claimed', 1, 1, '00', 'queued', NULL, NULL),
                    ('m_b', 1, 1, '00', 'submitting', 'b-sim1', 1);",
        )
        .unwrap();

        // A is still within its timeout: nothing is taken.
        let (_, taken) = heartbeat(&mut conn, "b", &[], 20_000, 30_000).unwrap();
        assert!(taken.is_empty());
        assert_eq!(
            status_of(&conn, "outbound_parts", "m_in_flight"),
            "submitting"
        );

        let (seen, taken) = heartbeat(&mut conn, "b", &[], 40_000, 30_000).unwrap();
        assert_eq!(
            taken,
            vec![TakenOver {
                host: "a".into(),
                uncertain: 1,
                requeued: 2
            }]
        );
        assert!(!seen[0].ready, "a dead host's modem is not ready");
        assert_eq!(
            status_of(&conn, "outbound_parts", "m_in_flight"),
            "uncertain"
        );
        assert_eq!(status_of(&conn, "outbound_messages", "m_claimed"), "queued");
        // B's own work is B's: untouched.
        assert_eq!(status_of(&conn, "outbound_parts", "m_b"), "submitting");
        assert_eq!(status_of(&conn, "outbound_messages", "m_b"), "sending");
        // Taken over once, not at every heartbeat.
        let (_, again) = heartbeat(&mut conn, "b", &[], 45_000, 30_000).unwrap();
        assert!(again.is_empty());
    }
}
