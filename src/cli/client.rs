//! CLI commands that talk to a running daemon over its HTTP API.

use super::ClientArgs;
use crate::config::Config;
use crate::redact::Redacted;
use serde_json::Value;

/// A resolved API endpoint and key.
pub struct Client {
    base: String,
    key: Redacted<String>,
    http: reqwest::Client,
}

impl Client {
    pub fn from_args(args: &ClientArgs) -> Result<Client, String> {
        let (config, _) =
            Config::locate(args.config.config.as_deref()).map_err(|e| e.to_string())?;
        let base = args
            .url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.server.listen))
            .trim_end_matches('/')
            .to_string();
        let key = args
            .api_key
            .clone()
            .or_else(|| config.auth.api_keys.first().cloned())
            .ok_or("no API key: pass --api-key or set SIMGATE_API_KEY")?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client { base, key, http })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{}", self.base, path);
        let mut request = self
            .http
            .request(method, &url)
            .bearer_auth(self.key.expose());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| {
            format!(
                "cannot reach simgate at {}: {e} (is `simgate run` running?)",
                self.base
            )
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            Ok(json)
        } else {
            let detail = json
                .get("detail")
                .or_else(|| json.pointer("/data/error"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| json.to_string());
            Err(format!(
                "{} {}: {detail}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ))
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// `simgate modems`: one line per modem.
pub async fn modems(client: &Client) -> Result<String, String> {
    let json = client.get("/v1/modems").await?;
    let list = json
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = format!(
        "{:<10} {:<12} {:>6} {:<15} {:<16} {:>8} {:<10} {}\n",
        "NAME", "HOST", "SEEN", "STATE", "NUMBER", "SIGNAL", "NETWORK", "OPERATOR"
    );
    let now = crate::store::now_ms();
    for m in list {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let signal = m
            .pointer("/signal/dbm")
            .and_then(Value::as_i64)
            .map(|d| format!("{d} dBm"))
            .unwrap_or_else(|| "-".into());
        // Seconds since the host's last heartbeat (0 for the host answering).
        let seen = m
            .get("heartbeat_at")
            .and_then(Value::as_i64)
            .map(|at| format!("{}s", ((now - at) / 1000).max(0)))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<10} {:<12} {:>6} {:<15} {:<16} {:>8} {:<10} {}\n",
            s("name"),
            s("host"),
            seen,
            s("state"),
            s("number"),
            signal,
            s("registration"),
            s("operator")
        ));
    }
    Ok(out)
}

/// `simgate send`: the message id once the daemon has queued it.
pub async fn send(
    client: &Client,
    to: &str,
    text: &str,
    from: Option<&str>,
) -> Result<String, String> {
    let mut body = serde_json::json!({ "to": to, "message": text });
    if let Some(from) = from {
        body["from"] = Value::String(from.to_string());
    }
    let json = client.post("/send/text", body).await?;
    json.pointer("/data/message_id")
        .and_then(Value::as_str)
        .map(|id| format!("queued {id}"))
        .ok_or_else(|| format!("unexpected answer: {json}"))
}

/// `simgate sim inject`.
pub async fn sim_inject(
    client: &Client,
    from: &str,
    to: Option<&str>,
    text: &str,
) -> Result<String, String> {
    let to = match to {
        Some(to) => to.to_string(),
        None => {
            let modems = client.get("/v1/modems").await?;
            modems
                .pointer("/data/0/number")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or("no modem with a known number; pass --to")?
        }
    };
    let json = client
        .post(
            "/v1/simulator/inbound",
            serde_json::json!({ "from": from, "to": to, "text": text }),
        )
        .await?;
    let parts = json.get("parts").and_then(Value::as_u64).unwrap_or(1);
    Ok(format!(
        "delivered to {to} ({parts} part{})",
        if parts == 1 { "" } else { "s" }
    ))
}

/// `simgate sim outbox`.
pub async fn sim_outbox(client: &Client, to: Option<&str>) -> Result<String, String> {
    let path = match to {
        Some(to) => format!("/v1/simulator/outbox?to={}", to.replace('+', "%2B")),
        None => "/v1/simulator/outbox".to_string(),
    };
    let json = client.get(&path).await?;
    let mut out = String::new();
    for m in json
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        out.push_str(&format!("{} -> {}: {}\n", s("from"), s("to"), s("text")));
    }
    Ok(out)
}
