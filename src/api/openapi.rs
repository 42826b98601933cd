//! `GET /openapi.json`: the OpenAPI 3.1 document, written by hand next to the routes it
//! describes. A test checks that every route the router serves appears here (and nothing else).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

mod parts;
use parts::*;

pub async fn serve() -> Response {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| document().to_string());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response()
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// A native success response.
fn native_ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// A Contiguity success response: the envelope around `data`.
fn contiguity_ok(data: Value) -> Value {
    json!({
        "description": "Success, in the Contiguity envelope.",
        "content": { "application/json": { "schema": {
            "allOf": [
                schema_ref("ContiguityEnvelope"),
                { "type": "object", "properties": { "data": {
                    "allOf": [ data, { "type": "object", "required": ["metadata"],
                        "properties": { "metadata": schema_ref("ContiguityMetadata") } } ]
                } } }
            ]
        } } }
    })
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": schema_ref("Problem") } }
    })
}

fn contiguity_error(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema_ref("ContiguityError") } }
    })
}

/// Which error statuses a route can answer with.
fn errors(contiguity: bool, codes: &[u16]) -> Map<String, Value> {
    let mut map = Map::new();
    for code in codes {
        let description = match code {
            400 => "Malformed JSON, or (Contiguity face) invalid input.",
            401 => "Missing or invalid API key.",
            404 => "Unknown id.",
            409 => "A request with this Idempotency-Key is still being processed.",
            413 => "Body larger than server.max_body_bytes.",
            415 => "Content-Type is not JSON.",
            422 => {
                "Invalid input (native face), or an Idempotency-Key reused with another request."
            }
            429 => "Rate limited; see Retry-After.",
            503 => "No line available, or the request timed out.",
            _ => "Error.",
        };
        let value = if contiguity {
            contiguity_error(description)
        } else {
            problem(description)
        };
        map.insert(code.to_string(), value);
    }
    map
}

fn operation(
    tag: &str,
    summary: &str,
    request: Option<Value>,
    ok_code: u16,
    ok: Value,
    error_codes: &[u16],
    contiguity: bool,
) -> Value {
    let mut responses = errors(contiguity, error_codes);
    responses.insert(ok_code.to_string(), ok);
    let mut op = json!({
        "tags": [tag],
        "summary": summary,
        "responses": responses,
    });
    if let Some(body) = request {
        op["requestBody"] = json_body(body);
    }
    op
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string" } })
}

fn end_user_ip_header() -> Value {
    json!({ "name": "X-End-User-IP", "in": "header", "required": false,
            "description": "The end user's IP, for the per-IP rate limit (otp.rate_per_ip_per_hour). The caller's own address is never used: it is the app's server.",
            "schema": { "type": "string" } })
}

fn idempotency_header() -> Value {
    json!({ "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "1 to 255 visible ASCII characters. The same key with the same request replays the first response (with `Idempotent-Replayed: true`); with a different request it is refused (422). Kept 24 h, per API key.",
            "schema": { "type": "string", "maxLength": 255 } })
}

fn with_params(mut op: Value, params: Vec<Value>) -> Value {
    op["parameters"] = Value::Array(params);
    op
}

fn public(mut op: Value) -> Value {
    op["security"] = json!([]);
    op
}

const BODY_ERRORS: &[u16] = &[400, 401, 413, 415, 422];

fn paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op;
    };

    // Service.
    add(
        "/healthz",
        "get",
        public(operation(
            "service",
            "Process alive.",
            None,
            200,
            native_ok(
                "Alive.",
                json!({ "type": "object", "properties": { "status": { "const": "ok" } } }),
            ),
            &[],
            false,
        )),
    );
    add(
        "/readyz",
        "get",
        public(operation(
            "service",
            "Ready: storage answers and at least one modem is registered (503 otherwise, same body).",
            None,
            200,
            native_ok("Ready.", schema_ref("Readiness")),
            &[],
            false,
        )),
    );
    add(
        "/.well-known/jwks.json",
        "get",
        public(operation(
            "service",
            "Public keys (JWK Set, Ed25519) that verify the proof JWTs of verifications; newest last.",
            None,
            200,
            native_ok(
                "The key set.",
                json!({ "type": "object", "properties": { "keys": { "type": "array", "items": {
                    "type": "object", "properties": {
                        "kty": { "const": "OKP" }, "crv": { "const": "Ed25519" }, "alg": { "const": "EdDSA" },
                        "use": { "const": "sig" }, "kid": { "type": "string" }, "x": { "type": "string" } } } } } }),
            ),
            &[],
            false,
        )),
    );
    add(
        "/openapi.json",
        "get",
        operation(
            "service",
            "This document.",
            None,
            200,
            native_ok("OpenAPI 3.1 document.", json!({ "type": "object" })),
            &[401],
            false,
        ),
    );
    add(
        "/metrics",
        "get",
        operation(
            "service",
            "Prometheus text exposition (format 0.0.4).",
            None,
            200,
            json!({ "description": "Metrics.", "content": { "text/plain": { "schema": { "type": "string" } } } }),
            &[401],
            false,
        ),
    );
    add(
        "/ui/",
        "get",
        public(operation(
            "service",
            "The status page (HTML). Without a session cookie it is the login form (one input, api_key, posted to /ui/login); after login, modems, queue and traffic, messages, verifications and webhooks, kept live over server-sent events (/ui/events).",
            None,
            200,
            json!({ "description": "An HTML page.", "content": { "text/html": { "schema": { "type": "string" } } } }),
            &[],
            false,
        )),
    );

    // Contiguity face: OTP.
    let otp_new = |summary: &str| {
        with_params(
            operation(
                "contiguity",
                summary,
                Some(
                    json!({ "type": "object", "required": ["to"], "properties": {
                "to": { "type": "string", "description": "E.164 (or national in otp.default_country)." },
                "language": { "type": ["string", "null"], "description": "en, es, fr, de, pt, pt-br… (default en)." },
                "name": { "type": ["string", "null"], "description": "App name shown in the SMS." },
                    "code_length": { "type": ["integer", "null"], "minimum": 4, "maximum": 10, "description": "Symbols in the code (default otp.code_length)." },
                    "code_type": { "enum": ["numeric", "alpha", "alphanumeric", null], "description": "alpha and alphanumeric leave out 0/O and 1/I/L; letters verify in any case." },
                    "ttl_secs": { "type": ["integer", "null"], "minimum": 30, "maximum": 3600 },
                    "max_attempts": { "type": ["integer", "null"], "minimum": 1, "maximum": 10 },
                    "template": { "type": ["string", "null"], "maxLength": 480, "description": "The SMS text with {{code}} (or {{pin}}), optionally {{name}} and {{minutes}}; must render in one SMS part." },
                    "templates": { "type": ["object", "null"], "additionalProperties": { "type": "string" }, "description": "Templates per language tag ({\"fr\": \"…\"}), picked by language before template." },
                    "from": { "type": ["string", "null"], "description": "A line name or one of our numbers: only that modem sends the code." },
                    "callback_url": { "type": ["string", "null"], "format": "uri", "description": "Receives otp.verified, otp.failed and otp.expired, signed like every webhook." },
                    "service": { "type": ["string", "null"], "description": "The app the proof is for: its aud claim (default proofs.audience)." },
                    "pinLength": { "type": ["integer", "null"], "description": "sms.cx name of code_length." },
                    "pinType": { "enum": ["numbers", "letters", "alphanumeric", null], "description": "sms.cx name of code_type." },
                    "ttl": { "type": ["integer", "null"], "description": "sms.cx name of ttl_secs." },
                    "maxAttempts": { "type": ["integer", "null"], "description": "sms.cx name of max_attempts." },
                    "callbackUrl": { "type": ["string", "null"], "description": "Alias of callback_url." }
            }, "patternProperties": { "^template_[A-Za-z0-9_-]+$": { "type": "string", "description": "sms.cx per-language template (template_fr)." } } }),
                ),
                200,
                contiguity_ok(json!({ "type": "object", "required": ["otp_id"],
                "properties": { "otp_id": { "type": "string", "description": "otp_…" } } })),
                &[400, 401, 413, 415, 429, 503],
                true,
            ),
            vec![end_user_ip_header()],
        )
    };
    add("/otp/new", "post", otp_new("Send an OTP code by SMS."));
    add("/otp/send", "post", otp_new("Alias of /otp/new."));
    add(
        "/otp/verify",
        "post",
        operation(
            "contiguity",
            "Check a code. A wrong code is 200 with verified false; attempts are limited.",
            Some(
                json!({ "type": "object", "required": ["otp_id", "otp"], "properties": {
                "otp_id": { "type": "string" },
                "otp": { "type": ["string", "integer"] }
            } }),
            ),
            200,
            contiguity_ok(json!({ "type": "object", "required": ["verified"],
                "properties": { "verified": { "type": "boolean" } } })),
            &[400, 401, 404, 413, 415],
            true,
        ),
    );
    add(
        "/otp/resend",
        "post",
        operation(
            "contiguity",
            "Send the same code again (expiry unchanged). resent is false within the cooldown (with Retry-After), after expiry, or when resends are used up.",
            Some(json!({ "type": "object", "required": ["otp_id"], "properties": { "otp_id": { "type": "string" } } })),
            200,
            contiguity_ok(json!({ "type": "object", "required": ["resent"],
                "properties": { "resent": { "type": "boolean" } } })),
            &[400, 401, 404, 413, 415, 429],
            true,
        ),
    );
    add(
        "/otp/reverse/initiate",
        "post",
        with_params(
            operation(
                "contiguity",
                "Start a reverse OTP: the person texts the factor from their phone to `to`.",
                Some(schema_ref("ReverseRequest")),
                200,
                contiguity_ok(json!({ "type": "object",
                "required": ["otp_id", "number", "factor", "to", "expires_at", "ui"],
                "properties": {
                    "otp_id": { "type": "string", "description": "r_otp_…" },
                    "number": { "type": "string" }, "number_masked": { "type": "string", "description": "+1***-***-7890." },
                    "factor": { "type": "string" }, "to": { "type": "string" },
                    "expires_at": { "type": "string", "format": "date-time" },
                    "ui": { "type": "object", "properties": {
                        "text": { "type": "string" },
                        "qr_code": { "type": "string", "description": "sms:+1…?body=FACTOR" } } },
                    "success_url": { "type": ["string", "null"] }, "service": { "type": ["string", "null"] }
                } })),
                &[400, 401, 413, 415, 429, 503],
                true,
            ),
            vec![end_user_ip_header()],
        ),
    );
    add(
        "/otp/reverse/verify/{otp_id}",
        "get",
        with_params(
            operation(
                "contiguity",
                "Status of a reverse OTP session (a session locked by wrong factors reads expired).",
                None,
                200,
                contiguity_ok(json!({ "type": "object", "required": ["otp_id", "status", "verified", "expires_at"],
                    "properties": {
                        "otp_id": { "type": "string" },
                        "status": { "enum": ["pending", "verified", "cancelled", "expired"] },
                        "verified": { "type": "boolean" },
                        "expires_at": { "type": "string", "format": "date-time" } } })),
                &[401, 404],
                true,
            ),
            vec![path_param("otp_id", "r_otp_…")],
        ),
    );
    add(
        "/otp/reverse/cancel/{otp_id}",
        "post",
        with_params(
            operation(
                "contiguity",
                "Cancel a pending reverse OTP session (409 when already verified).",
                None,
                200,
                contiguity_ok(json!({ "type": "object", "required": ["otp_id", "status"],
                    "properties": { "otp_id": { "type": "string" }, "status": { "type": "string" } } })),
                &[401, 404, 409],
                true,
            ),
            vec![path_param("otp_id", "r_otp_…")],
        ),
    );

    // Contiguity face.
    add(
        "/send/text",
        "post",
        operation(
            "contiguity",
            "Send a plain SMS through the pool.",
            Some(
                json!({ "type": "object", "required": ["to", "message"], "properties": {
                "to": { "type": "string", "description": "E.164 recipient." },
                "message": { "type": "string" },
                "from": { "type": ["string", "null"], "description": "One of this gateway's numbers, or a line (modem) name." }
            } }),
            ),
            200,
            contiguity_ok(json!({ "type": "object", "required": ["message_id"],
                "properties": { "message_id": { "type": "string" } } })),
            &[400, 401, 413, 415],
            true,
        ),
    );

    // Native: verifications.
    let id_param = || path_param("id", "otp_…");
    add(
        "/v1/verifications",
        "post",
        with_params(
            operation(
                "verifications",
                "Start a verification: a code goes out by SMS.",
                Some(
                    json!({ "type": "object", "required": ["to"], "additionalProperties": false, "properties": {
                    "to": { "type": "string" }, "language": { "type": ["string", "null"] }, "name": { "type": ["string", "null"] },
                    "code_length": { "type": ["integer", "null"], "minimum": 4, "maximum": 10, "description": "Symbols in the code (default otp.code_length)." },
                    "code_type": { "enum": ["numeric", "alpha", "alphanumeric", null], "description": "alpha and alphanumeric leave out 0/O and 1/I/L; letters verify in any case." },
                    "ttl_secs": { "type": ["integer", "null"], "minimum": 30, "maximum": 3600 },
                    "max_attempts": { "type": ["integer", "null"], "minimum": 1, "maximum": 10 },
                    "template": { "type": ["string", "null"], "maxLength": 480, "description": "The SMS text with {{code}} (or {{pin}}), optionally {{name}} and {{minutes}}; must render in one SMS part." },
                    "templates": { "type": ["object", "null"], "additionalProperties": { "type": "string" }, "description": "Templates per language tag ({\"fr\": \"…\"}), picked by language before template." },
                    "from": { "type": ["string", "null"], "description": "A line name or one of our numbers: only that modem sends the code." },
                    "callback_url": { "type": ["string", "null"], "format": "uri", "description": "Receives otp.verified, otp.failed and otp.expired, signed like every webhook." },
                    "service": { "type": ["string", "null"], "description": "The app the proof is for: its aud claim (default proofs.audience)." },
                    "client_ip": { "type": ["string", "null"], "description": "The end user's IP for per-IP limits (or header X-End-User-IP)." } } }),
                ),
                201,
                native_ok("Created.", schema_ref("Verification")),
                &[400, 401, 409, 413, 415, 422, 429, 503],
                false,
            ),
            vec![idempotency_header(), end_user_ip_header()],
        ),
    );
    add(
        "/v1/verifications/{id}",
        "get",
        with_params(
            operation(
                "verifications",
                "A verification (never its code).",
                None,
                200,
                native_ok("The verification.", schema_ref("Verification")),
                &[401, 404],
                false,
            ),
            vec![id_param()],
        ),
    );
    add(
        "/v1/verifications/{id}/check",
        "post",
        with_params(
            operation(
                "verifications",
                "Check a code; a wrong code is 200 with verified false.",
                Some(
                    json!({ "type": "object", "required": ["code"], "additionalProperties": false,
                    "properties": { "code": { "type": ["string", "integer"] } } }),
                ),
                200,
                native_ok(
                    "The outcome.",
                    json!({ "type": "object", "properties": {
                    "id": { "type": "string" }, "object": { "const": "verification_check" },
                    "verified": { "type": "boolean" },
                    "status": { "enum": ["pending", "verified", "expired", "locked", "cancelled"] },
                    "attempts_left": { "type": "integer" } } }),
                ),
                &[400, 401, 404, 409, 413, 415, 422],
                false,
            ),
            vec![id_param(), idempotency_header()],
        ),
    );
    add(
        "/v1/verifications/{id}/resend",
        "post",
        with_params(
            operation("verifications", "Send the same code again (expiry unchanged). 429 within the cooldown, 409 when over or out of resends.",
                None, 200, native_ok("Resent.", schema_ref("Verification")), &[401, 404, 409, 429], false),
            vec![id_param(), idempotency_header()],
        ),
    );
    add(
        "/v1/verifications/{id}/cancel",
        "post",
        with_params(
            operation(
                "verifications",
                "Cancel a pending verification (409 when already verified).",
                None,
                200,
                native_ok("The verification.", schema_ref("Verification")),
                &[401, 404, 409],
                false,
            ),
            vec![id_param(), idempotency_header()],
        ),
    );
    let rid_param = || path_param("id", "r_otp_…");
    add(
        "/v1/reverse-verifications",
        "post",
        with_params(
            operation(
                "reverse-verifications",
                "Start a reverse verification: the person texts the factor to `to`.",
                Some(schema_ref("ReverseRequest")),
                201,
                native_ok("Created.", schema_ref("ReverseVerification")),
                &[400, 401, 409, 413, 415, 422, 429, 503],
                false,
            ),
            vec![idempotency_header(), end_user_ip_header()],
        ),
    );
    add(
        "/v1/reverse-verifications/{id}",
        "get",
        with_params(
            operation(
                "reverse-verifications",
                "A reverse verification; once verified it carries a signed proof.",
                None,
                200,
                native_ok("The session.", schema_ref("ReverseVerification")),
                &[401, 404],
                false,
            ),
            vec![rid_param()],
        ),
    );
    add(
        "/v1/reverse-verifications/{id}/cancel",
        "post",
        with_params(
            operation(
                "reverse-verifications",
                "Cancel a pending reverse verification (409 when already verified).",
                None,
                200,
                native_ok("The session.", schema_ref("ReverseVerification")),
                &[401, 404, 409],
                false,
            ),
            vec![rid_param(), idempotency_header()],
        ),
    );
    add(
        "/v1/reverse-verifications/{id}/qr.svg",
        "get",
        with_params(
            operation(
                "reverse-verifications",
                "The sms: link as an SVG QR code.",
                None,
                200,
                json!({ "description": "SVG.", "content": { "image/svg+xml": { "schema": { "type": "string" } } } }),
                &[401, 404],
                false,
            ),
            vec![rid_param()],
        ),
    );

    // Native: messages.
    add(
        "/v1/messages",
        "post",
        with_params(
            operation(
                "messages",
                "Send an SMS. Committed to the queue before the answer.",
                Some(schema_ref("NewMessage")),
                201,
                native_ok("Queued.", schema_ref("Message")),
                BODY_ERRORS,
                false,
            ),
            vec![idempotency_header()],
        ),
    );
    add(
        "/v1/messages",
        "get",
        with_params(
            operation(
                "messages",
                "List messages, newest first.",
                None,
                200,
                native_ok("A page.", schema_ref("MessagePage")),
                &[401, 422],
                false,
            ),
            vec![
                json!({ "name": "direction", "in": "query", "schema": { "enum": ["outbound", "inbound"], "default": "outbound" } }),
                json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 50 } }),
                json!({ "name": "before", "in": "query", "description": "A message id (the previous page's next_before).", "schema": { "type": "string" } }),
            ],
        ),
    );
    add(
        "/v1/messages/{id}",
        "get",
        with_params(
            operation(
                "messages",
                "An outbound message with per-part delivery status, or an inbound message.",
                None,
                200,
                native_ok("The message.", schema_ref("Message")),
                &[401, 404],
                false,
            ),
            vec![path_param("id", "msg_… (outbound) or in_… (inbound)")],
        ),
    );

    // Native: webhooks and the event log (src/api/webhooks.rs). Their validation errors are 400.
    let wid = || path_param("id", "The endpoint's or delivery's id.");
    add(
        "/v1/webhooks/endpoints",
        "get",
        operation(
            "webhooks",
            "Webhook endpoints: those of the config file (read-only) and those created here.",
            None,
            200,
            native_ok(
                "Endpoints.",
                json!({ "type": "object", "properties": {
                "data": { "type": "array", "items": schema_ref("WebhookEndpoint") } } }),
            ),
            &[401],
            false,
        ),
    );
    add(
        "/v1/webhooks/endpoints",
        "post",
        with_params(
            operation(
                "webhooks",
                "Create an endpoint; its secret is shown only in this answer.",
                Some(
                    json!({ "type": "object", "required": ["url"], "additionalProperties": false, "properties": {
                    "url": { "type": "string", "format": "uri" },
                    "events": { "type": "array", "items": { "type": "string" }, "description": "Patterns: \"*\", \"message.received\", \"message.*\". Default [\"*\"]." },
                    "secret": { "type": "string", "description": "whsec_… (generated when absent)." },
                    "description": { "type": "string", "maxLength": 256 } } }),
                ),
                201,
                native_ok("Created.", schema_ref("WebhookEndpoint")),
                &[400, 401, 409, 413, 415, 422],
                false,
            ),
            vec![idempotency_header()],
        ),
    );
    add(
        "/v1/webhooks/endpoints/{id}",
        "get",
        with_params(
            operation(
                "webhooks",
                "One endpoint.",
                None,
                200,
                native_ok("The endpoint.", schema_ref("WebhookEndpoint")),
                &[401, 404],
                false,
            ),
            vec![wid()],
        ),
    );
    add(
        "/v1/webhooks/endpoints/{id}",
        "delete",
        with_params(
            operation(
                "webhooks",
                "Delete an endpoint created through the API (409 for config endpoints).",
                None,
                204,
                json!({ "description": "Deleted." }),
                &[401, 404, 409],
                false,
            ),
            vec![wid()],
        ),
    );
    add(
        "/v1/webhooks/deliveries",
        "get",
        with_params(
            operation(
                "webhooks",
                "Deliveries, newest first.",
                None,
                200,
                native_ok(
                    "Deliveries.",
                    json!({ "type": "object", "properties": {
                    "data": { "type": "array", "items": schema_ref("WebhookDelivery") } } }),
                ),
                &[400, 401],
                false,
            ),
            vec![
                json!({ "name": "status", "in": "query", "schema": { "enum": ["pending", "delivered", "failed"] } }),
                json!({ "name": "endpoint_id", "in": "query", "schema": { "type": "string" } }),
                json!({ "name": "event_id", "in": "query", "schema": { "type": "string" } }),
                json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }),
            ],
        ),
    );
    add(
        "/v1/webhooks/deliveries/{id}",
        "get",
        with_params(
            operation(
                "webhooks",
                "One delivery with every attempt.",
                None,
                200,
                native_ok("The delivery.", schema_ref("WebhookDelivery")),
                &[401, 404],
                false,
            ),
            vec![wid()],
        ),
    );
    add(
        "/v1/webhooks/deliveries/{id}/retry",
        "post",
        with_params(
            operation(
                "webhooks",
                "Deliver again now, with a fresh retry schedule.",
                None,
                202,
                native_ok("Scheduled.", schema_ref("WebhookDelivery")),
                &[401, 404, 409],
                false,
            ),
            vec![wid(), idempotency_header()],
        ),
    );
    add(
        "/v1/events",
        "get",
        with_params(
            operation(
                "webhooks",
                "The event log, oldest first.",
                None,
                200,
                native_ok(
                    "Events.",
                    json!({ "type": "object", "properties": {
                    "data": { "type": "array", "items": { "type": "object", "properties": {
                        "seq": { "type": "integer" }, "id": { "type": "string" }, "type": { "type": "string" },
                        "data": { "type": "object" }, "target_url": { "type": ["string", "null"] },
                        "created_at": { "type": "integer", "description": "Unix ms." } } } },
                    "next_after": { "type": "integer" }, "has_more": { "type": "boolean" } } }),
                ),
                &[400, 401],
                false,
            ),
            vec![
                json!({ "name": "after", "in": "query", "description": "A sequence number or an event id.", "schema": { "type": "string" } }),
                json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 500, "default": 50 } }),
            ],
        ),
    );

    // Native: modems.
    add(
        "/v1/modems",
        "get",
        operation(
            "modems",
            "Every line: state, signal, registration, operator, identity, queue depth.",
            None,
            200,
            native_ok(
                "Modems.",
                json!({ "type": "object", "properties": {
                "data": { "type": "array", "items": schema_ref("Modem") },
                "queue": { "type": "object", "properties": { "unassigned": { "type": "integer" } } }
            } }),
            ),
            &[401],
            false,
        ),
    );
    add(
        "/v1/modems/{name}",
        "get",
        with_params(
            operation(
                "modems",
                "One line.",
                None,
                200,
                native_ok("The modem.", schema_ref("Modem")),
                &[401, 404],
                false,
            ),
            vec![path_param("name", "The modem's configured name.")],
        ),
    );
    paths
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "simgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Self-hosted SMS gateway and phone verification. Two faces: Contiguity-compatible routes (/otp/…, /send/text) with Contiguity envelopes, and the native /v1 API with RFC 9457 problem documents. Invalid input is 400 on the Contiguity face and 422 on /v1; malformed JSON is 400 on both.",
        },
        "security": [ { "bearer": [] }, { "token": [] } ],
        "paths": Value::Object({
            let mut all = paths();
            all.extend(hook_paths());
            all
        }),
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>" },
                "token": { "type": "apiKey", "in": "header", "name": "Authorization", "description": "Authorization: Token <key> (as the Contiguity SDKs send it)" },
            },
            "schemas": schemas(),
        },
    })
}

/// `(METHOD, path)` of every operation in the document.
pub fn operations(document: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                for method in item.keys() {
                    ops.push((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    ops.sort();
    ops
}

#[cfg(test)]
mod tests;
