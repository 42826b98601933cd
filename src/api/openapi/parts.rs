//! The document's component schemas and the auth-server hook paths.

use super::*;

pub(super) fn schemas() -> Value {
    let mut map = Map::new();
    map.insert("ContiguityMetadata".into(), json!({ "type": "object", "required": ["id", "timestamp", "api_version", "object"], "properties": {
            "id": { "type": "string" }, "timestamp": { "type": "integer", "description": "Unix ms." },
            "api_version": { "type": "string" }, "object": { "enum": ["response", "error"] } } }));
    map.insert("ContiguityEnvelope".into(), json!({ "type": "object", "required": ["id", "timestamp", "api_version", "object", "data"], "properties": {
            "id": { "type": "string", "description": "req_…" }, "timestamp": { "type": "integer" },
            "api_version": { "type": "string" }, "object": { "const": "response" }, "data": { "type": "object" } } }));
    map.insert("ContiguityError".into(), json!({ "type": "object",
            "required": ["id", "timestamp", "api_version", "object", "data", "type", "title", "status", "detail"],
            "properties": {
                "id": { "type": "string", "description": "err_…" }, "timestamp": { "type": "integer" },
                "api_version": { "type": "string" }, "object": { "const": "error" },
                "data": { "type": "object", "required": ["error", "status", "metadata"], "properties": {
                    "error": { "type": "string" }, "status": { "type": "integer" },
                    "metadata": schema_ref("ContiguityMetadata") } },
                "type": { "type": "string" }, "title": { "type": "string" },
                "status": { "type": "integer" }, "detail": { "type": "string" } } }));
    map.insert("Problem".into(), json!({ "type": "object", "required": ["type", "title", "status", "detail"], "description": "RFC 9457 problem details. type is urn:simgate:problem:<slug>.",
            "properties": {
                "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" },
                "detail": { "type": "string" }, "instance": { "type": "string" },
                "field": { "type": "string", "description": "The request field at fault." },
                "retry_after": { "type": "integer", "description": "Seconds (also in Retry-After)." } } }));
    map.insert("Readiness".into(), json!({ "type": "object", "properties": {
            "ready": { "type": "boolean" }, "storage": { "type": "boolean" }, "modems_ready": { "type": "integer" },
            "modems": { "type": "array", "items": { "type": "object" } } } }));
    map.insert("ReverseRequest".into(), json!({ "type": "object", "required": ["number"], "properties": {
        "number": { "type": "string", "description": "The person's number: the sender to wait for." },
        "factor": { "type": ["string", "integer", "null"], "maxLength": 16, "description": "What to text; default 6 random digits." },
        "to": { "type": ["string", "null"], "description": "Which of our numbers to text; default a ready line." },
        "language": { "type": ["string", "null"] },
        "success_url": { "type": ["string", "null"], "format": "uri", "description": "Also receives otp.reverse.verified." },
        "service": { "type": ["string", "null"] },
        "client_ip": { "type": ["string", "null"], "description": "Native only: the end user's IP for per-IP limits (or header X-End-User-IP)." } } }));
    map.insert("Verification".into(), json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "object": { "const": "verification" }, "to": { "type": "string" },
        "to_masked": { "type": "string", "description": "+1***-***-7890: country code, grouping and last four digits." },
        "code_type": { "enum": ["numeric", "alpha", "alphanumeric"] }, "code_length": { "type": ["integer", "null"] },
        "from": { "type": ["string", "null"], "description": "The line chosen with from." },
        "callback_url": { "type": ["string", "null"] }, "service": { "type": ["string", "null"] },
        "proof": { "type": ["string", "null"], "description": "Once verified: an EdDSA JWT (keys at /.well-known/jwks.json) with iss, sub (the number), aud, iat, exp, verification_id, method sms_otp." },
        "country": { "type": ["string", "null"] },
        "status": { "enum": ["pending", "verified", "expired", "locked", "cancelled"] },
        "verified": { "type": "boolean" }, "attempts": { "type": "integer" }, "attempts_left": { "type": "integer" },
        "max_attempts": { "type": "integer" }, "resends": { "type": "integer" }, "language": { "type": "string" },
        "name": { "type": ["string", "null"] }, "message_id": { "type": "string" },
        "created_at": { "type": "string", "format": "date-time" }, "expires_at": { "type": "string", "format": "date-time" },
        "verified_at": { "type": ["string", "null"], "format": "date-time" } } }));
    map.insert("ReverseVerification".into(), json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "object": { "const": "reverse_verification" },
        "number": { "type": "string" }, "number_masked": { "type": "string", "description": "+1***-***-7890." },
        "factor": { "type": "string" }, "to": { "type": "string" },
        "status": { "enum": ["pending", "verified", "expired", "locked", "cancelled"] },
        "verified": { "type": "boolean" }, "attempts_left": { "type": "integer" }, "language": { "type": "string" },
        "created_at": { "type": "string", "format": "date-time" }, "expires_at": { "type": "string", "format": "date-time" },
        "verified_at": { "type": ["string", "null"], "format": "date-time" },
        "ui": { "type": "object", "properties": { "text": { "type": "string" }, "qr_code": { "type": "string" } } },
        "qr_svg_url": { "type": "string" }, "success_url": { "type": ["string", "null"] },
        "service": { "type": ["string", "null"] },
        "proof": { "type": ["string", "null"], "description": "Once verified: an EdDSA JWT (keys at /.well-known/jwks.json) with iss, sub (the number), aud (service or proofs.audience), iat, exp, verification_id, method reverse_sms." } } }));
    map.insert("WebhookEndpoint".into(), json!({ "type": "object", "properties": {
        "id": { "type": "string" }, "url": { "type": "string" },
        "events": { "type": "array", "items": { "type": "string" } },
        "description": { "type": ["string", "null"] }, "source": { "enum": ["config", "api"] },
        "status": { "enum": ["enabled", "disabled"] }, "disabled_reason": { "type": ["string", "null"] },
        "created_at": { "type": ["integer", "null"] },
        "secret": { "type": "string", "description": "Only in the creation answer." } } }));
    map.insert("WebhookDelivery".into(), json!({ "type": "object", "description": "A delivery of one event to one endpoint, with its attempts.",
        "properties": {
            "id": { "type": "string" }, "event_id": { "type": "string" }, "event_type": { "type": "string" },
            "status": { "enum": ["pending", "delivered", "failed"] }, "attempts": { "type": "integer" } } }));
    map.insert("NewMessage".into(), json!({ "type": "object", "required": ["to", "body"], "additionalProperties": false, "properties": {
            "to": { "type": "string", "description": "E.164." }, "body": { "type": "string", "minLength": 1 },
            "line": { "type": ["string", "null"], "description": "Send through this modem only." },
            "report": { "type": ["boolean", "null"], "default": true } } }));
    map.insert("Message".into(), json!({ "type": "object", "properties": {
            "id": { "type": "string" }, "object": { "const": "message" }, "direction": { "enum": ["outbound", "inbound"] },
            "to": { "type": ["string", "null"] }, "from": { "type": ["string", "null"] }, "line": { "type": ["string", "null"] },
            "body": { "type": ["string", "null"], "description": "null (body_redacted) for messages the gateway sent for its own purposes, such as OTP codes." },
            "body_redacted": { "type": "boolean" }, "purpose": { "type": "string" },
            "status": { "enum": ["queued", "sending", "sent", "delivered", "failed", "withdrawn"], "description": "withdrawn: a verification code SMS taken out of the queue unsent because its verification ended." },
            "encoding": { "enum": ["gsm7", "ucs2", "8bit"] }, "parts_total": { "type": "integer" },
            "attempts": { "type": "integer" }, "error": { "type": ["string", "null"] },
            "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" },
            "received_at": { "type": "string", "format": "date-time" }, "complete": { "type": "boolean" },
            "sender_type": { "enum": ["unknown", "international", "national", "network_specific", "subscriber", "alphanumeric", "abbreviated", "reserved"] },
            "smsc": { "type": ["string", "null"], "description": "The service centre that delivered it, when the PDU carried one." },
            "sender_trust": { "enum": ["trusted", "flagged", "refused", "untrusted", null], "description": "What reverse OTP made of the sender: trusted (a numeric sender the network vouches for), flagged (its SMSC is in another country; may still verify), refused (same, refused: verifies nothing, counts as a failed attempt), untrusted (alphanumeric, short code or another non-number: verifies nothing)." },
            "sender_trust_reason": { "type": ["string", "null"], "description": "Why, when not trusted: `code: detail` (alphanumeric_sender, short_code, untrusted_type_of_number, untrusted_numbering_plan, not_a_number, smsc_country_mismatch)." },
            "parts": { "type": "array", "items": { "type": "object", "properties": {
                "seq": { "type": "integer" },
                "status": { "enum": ["queued", "submitting", "sent", "uncertain", "delivered", "failed", "withdrawn"] },
                "line": { "type": ["string", "null"] }, "message_ref": { "type": ["integer", "null"] },
                "report_status": { "type": ["integer", "null"] } } } } } }));
    map.insert(
        "MessagePage".into(),
        json!({ "type": "object", "properties": {
            "data": { "type": "array", "items": schema_ref("Message") },
            "has_more": { "type": "boolean" }, "next_before": { "type": ["string", "null"] } } }),
    );
    map.insert("Modem".into(), json!({ "type": "object", "properties": {
            "name": { "type": "string" }, "object": { "const": "modem" }, "port": { "type": "string" },
            "state": { "enum": ["initialising", "ready", "no_sim", "pin_required", "puk_required", "not_registered", "offline"] },
            "ready": { "type": "boolean" }, "detail": { "type": ["string", "null"] }, "number": { "type": ["string", "null"] },
            "operator": { "type": ["string", "null"] }, "registration": { "type": ["string", "null"] },
            "signal": { "type": "object", "properties": { "rssi": { "type": ["integer", "null"] }, "dbm": { "type": ["integer", "null"] } } },
            "identity": { "type": "object" }, "counters": { "type": "object" }, "queue_depth": { "type": "integer" },
            "host": { "type": "string", "description": "The host the modem is plugged into ([cluster] name)." },
            "heartbeat_at": { "type": "integer", "description": "That host's last heartbeat (ms since the epoch); now for this host's modems." } } }));
    Value::Object(map)
}

/// `/hooks/…`: simgate as an auth server's SMS provider. No API key: each checks its own
/// signature or credential (`[hooks.<server>]`).
pub(super) fn hook_paths() -> Map<String, Value> {
    let accepted = json!({ "type": "object", "required": ["message_id", "status"], "properties": {
        "message_id": { "type": "string", "description": "The queued SMS (msg_…)." },
        "status": { "enum": ["queued", "duplicate"], "description": "duplicate: a retry of a request already queued; nothing new was sent." } } });
    let text_error = |description: &str| json!({ "description": description, "content": { "text/plain": { "schema": { "type": "string" } } } });
    let hook = |summary: &str, body: Value, ok: Value, errors: &[(u16, Value)], auth: &str| {
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        for (code, e) in errors {
            responses.insert(code.to_string(), e.clone());
        }
        json!({
            "tags": ["hooks"],
            "summary": summary,
            "description": auth,
            "security": [],
            "requestBody": json_body(body),
            "responses": responses,
        })
    };
    let ok = native_ok(
        "Committed to the outbound queue (or a recognised retry).",
        accepted,
    );
    let gotrue_error = json!({ "type": "object", "properties": { "error": { "type": "object",
        "properties": { "http_code": { "type": "integer" }, "message": { "type": "string" } } } } });
    let plain_errors: Vec<(u16, Value)> = [
        (400, "Not this server's body shape, or an invalid number."),
        (401, "Missing or wrong credential."),
        (404, "The hook is not configured."),
        (
            422,
            "The number's country is not allowed (otp.allowed_countries).",
        ),
        (429, "Rate limited (the [otp] limits); see Retry-After."),
    ]
    .into_iter()
    .map(|(code, d)| (code, text_error(d)))
    .collect();
    let credentials = "Credential from [hooks.<server>]: Authorization: Bearer <token>, HTTP Basic, or an API key in api_key_header.";
    let mut paths = Map::new();
    paths.insert("/hooks/gotrue/send-sms".into(), json!({ "post": hook(
        "Supabase Auth (GoTrue) Send SMS hook.",
        json!({ "type": "object", "required": ["metadata", "sms"], "properties": {
            "metadata": { "type": "object", "required": ["uuid"], "properties": { "uuid": { "type": "string", "description": "Kept by GoTrue's retries: the dedupe key." }, "ip_address": { "type": "string" } } },
            "user": { "type": "object", "properties": { "phone": { "type": "string" } } },
            "sms": { "type": "object", "required": ["otp"], "properties": { "otp": { "type": "string" }, "phone": { "type": "string", "description": "Digits without +." }, "sms_type": { "type": "string" } } } } }),
        native_ok("Queued (or a retry of a queued request); or, with an `error` member, refused: GoTrue returns http_code and message to its client.", json!({ "oneOf": [accepted_schema(), gotrue_error.clone()] })),
        &[(401, native_ok("Bad or stale Standard Webhooks signature (webhook-id, webhook-timestamp, webhook-signature with a [hooks.gotrue] secret).", gotrue_error.clone())),
          (404, native_ok("[hooks.gotrue] is not configured.", gotrue_error))],
        "Standard Webhooks signature with the [hooks.gotrue] secret (v1,whsec_…).") }));
    paths.insert("/hooks/zitadel/sms".into(), json!({ "post": hook(
        "Zitadel HTTP SMS provider.",
        json!({ "type": "object", "required": ["contextInfo"], "properties": {
            "contextInfo": { "type": "object", "required": ["recipientPhoneNumber"], "properties": { "recipientPhoneNumber": { "type": "string" }, "eventType": { "type": "string" } } },
            "templateData": { "type": "object", "properties": { "text": { "type": "string", "description": "The SMS as Zitadel rendered it; sent as is." } } },
            "args": { "type": "object", "properties": { "code": { "type": "string" } } } } }),
        ok.clone(),
        &[(400, problem_json("Not a Zitadel SMS body, or an invalid number.")), (401, problem_json("Bad or stale ZITADEL-Signature.")),
          (404, problem_json("[hooks.zitadel] is not configured.")), (422, problem_json("Country not allowed.")), (429, problem_json("Rate limited; see Retry-After."))],
        "ZITADEL-Signature: t=<unix>,v1=<hex HMAC-SHA256(signing_key, t.body)>.") }));
    paths.insert("/hooks/authentik/sms".into(), json!({ "post": hook(
        "authentik generic SMS provider.",
        json!({ "type": "object", "required": ["To"], "properties": { "From": { "type": "string" }, "To": { "type": "string" },
            "Body": { "type": "string", "description": "The code." }, "Message": { "type": "string", "description": "The rendered SMS; sent as is when present." } } }),
        ok.clone(), &plain_errors, credentials) }));
    paths.insert("/hooks/logto/sms".into(), json!({ "post": hook(
        "Logto HTTP SMS connector.",
        json!({ "type": "object", "required": ["to", "payload"], "properties": { "to": { "type": "string" }, "type": { "type": "string" },
            "payload": { "type": "object", "required": ["code"], "properties": { "code": { "type": "string" }, "locale": { "type": "string" } } }, "ip": { "type": "string" } } }),
        ok.clone(), &plain_errors, credentials) }));
    paths.insert("/hooks/keycloak/sms".into(), json!({ "post": hook(
        "Keycloak sms-authenticator (API gateway with messageattribute=text, receiverattribute=to, senderattribute=from).",
        json!({ "type": "object", "required": ["text", "to"], "properties": { "text": { "type": "string" }, "to": { "type": "string" }, "from": { "type": "string" } } }),
        ok.clone(), &plain_errors, credentials) }));
    paths.insert("/hooks/kratos/sms".into(), json!({ "post": hook(
        "Ory Kratos HTTP courier (the README's jsonnet body).",
        json!({ "type": "object", "required": ["recipient", "body"], "properties": { "recipient": { "type": "string" }, "body": { "type": "string" }, "template_type": { "type": "string" } } }),
        ok, &plain_errors, credentials) }));
    paths
}

pub(super) fn accepted_schema() -> Value {
    json!({ "type": "object", "required": ["message_id", "status"], "properties": {
        "message_id": { "type": "string" }, "status": { "enum": ["queued", "duplicate"] } } })
}

pub(super) fn problem_json(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "type": "object",
        "properties": { "error": { "type": "string" }, "status": { "type": "integer" } } } } } })
}
