//! Extractors whose rejections are [`ApiError`]s with a clear message, never axum's plain-text
//! defaults: malformed JSON says where, a wrong type names the field, an empty body says so.

use super::error::{ApiError, ErrorKind};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// A JSON body, with errors in the API's format.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let declared = check_json_content_type(request.headers()).err();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        // The body decides: `curl -d '{…}'` labels JSON as a form, and that is fine. A body
        // that is not JSON under a non-JSON type gets the media-type error, which says more.
        match (parse_json(&bytes), declared) {
            (Err(e), Some(media)) if e.kind == ErrorKind::MalformedJson => Err(media),
            (result, _) => result.map(ApiJson),
        }
    }
}

/// `Ok` for a missing or JSON `Content-Type`; otherwise the 415 to give if the body turns out
/// not to be JSON either.
pub fn check_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence == "application/json" || essence.ends_with("+json") || essence.is_empty() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("expected a JSON body (Content-Type: application/json), got {essence:?}"),
        ))
    }
}

/// Maps a failure to read the body; a body over the limit is 413.
pub fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            "the request body is larger than the server accepts (server.max_body_bytes)",
        )
    } else {
        ApiError::new(
            ErrorKind::MalformedJson,
            format!("cannot read the request body: {}", rejection.body_text()),
        )
    }
}

/// Parses a JSON document into `T`: syntax errors are `malformed-json` with line and column;
/// type and missing-field errors are `invalid-request` naming the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorKind::MalformedJson,
            "the request body is empty; expected a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        json_error(&inner, &path)
    })?;
    deserializer.end().map_err(|e| json_error(&e, ""))?;
    Ok(value)
}

fn json_error(error: &serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::new(ErrorKind::MalformedJson, format!("malformed JSON: {error}"))
        }
        Category::Data => {
            // serde_json ends its messages with " at line L column C"; for a data error the
            // field path says more.
            let text = error.to_string();
            let message = text
                .rfind(" at line ")
                .map(|i| text[..i].to_string())
                .unwrap_or(text);
            if path.is_empty() || path == "." {
                ApiError::new(
                    ErrorKind::InvalidRequest,
                    format!("invalid request body: {message}"),
                )
            } else {
                ApiError::invalid(path, format!("{path}: {message}"))
            }
        }
    }
}

/// A path parameter, with a clear error when it is not valid text.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::invalid("path", format!("invalid path: {}", e.body_text())))
    }
}

/// Query parameters, with a clear error naming the bad one.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid("query", format!("invalid query: {}", e.body_text())))
    }
}

/// Who is asking: the API key's id (never the key), for per-key rate limits, and the end
/// user's IP when the calling app passes it along (header `X-End-User-IP`), for per-IP limits.
///
/// The TCP peer is deliberately not used: it is the app's server (often 127.0.0.1), and limiting
/// it per IP would throttle every user of the app together.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub ip: Option<std::net::IpAddr>,
}

/// The header through which an app tells the end user's IP.
pub const END_USER_IP_HEADER: &str = "x-end-user-ip";

/// The key id the auth layer attached to the request.
#[derive(Debug, Clone)]
pub struct KeyId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let key_id = parts
            .extensions
            .get::<KeyId>()
            .map(|k| k.0.clone())
            .ok_or_else(|| ApiError::new(ErrorKind::Unauthorized, "a valid API key is required"))?;
        let ip = match parts.headers.get(END_USER_IP_HEADER) {
            None => None,
            Some(value) => Some(parse_ip(value.to_str().unwrap_or(""), "X-End-User-IP")?),
        };
        Ok(Caller { key_id, ip })
    }
}

/// An IPv4 or IPv6 address, or a clear error naming `field`.
pub fn parse_ip(text: &str, field: &str) -> Result<std::net::IpAddr, ApiError> {
    text.trim().parse().map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field} must be an IPv4 or IPv6 address, not {text:?}"),
        )
    })
}

/// A text field that clients may also send as a JSON integer (`"otp": 123456`, as the
/// Contiguity SDK's `int | str` allows); anything else is a type error naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Err(E::invalid_value(
                    serde::de::Unexpected::Signed(v),
                    &"a string or a non-negative integer",
                ))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        to: String,
        count: Option<u32>,
    }

    #[test]
    fn empty_body_is_malformed() {
        let e = parse_json::<Body>(b"  ").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedJson);
        assert!(e.detail.contains("empty"), "{}", e.detail);
    }

    #[test]
    fn syntax_error_says_where() {
        let e = parse_json::<Body>(b"{\"to\": ").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedJson);
        assert!(e.detail.contains("line 1"), "{}", e.detail);
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse_json::<Body>(br#"{"to": 5}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert_eq!(e.field.as_deref(), Some("to"));
        assert!(e.detail.starts_with("to: invalid type"), "{}", e.detail);
    }

    #[test]
    fn missing_field_is_invalid_request() {
        let e = parse_json::<Body>(br#"{"count": 1}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.detail.contains("missing field `to`"), "{}", e.detail);
    }

    #[test]
    fn non_object_is_invalid_request() {
        let e = parse_json::<Body>(b"[1,2]").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        let e = parse_json::<Body>(b"null").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn trailing_garbage_is_malformed() {
        let e = parse_json::<Body>(br#"{"to":"x"} extra"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedJson);
    }

    #[test]
    fn text_takes_strings_and_integers() {
        #[derive(Debug, Deserialize)]
        struct B {
            otp: Text,
        }
        assert_eq!(parse_json::<B>(br#"{"otp":"0123"}"#).unwrap().otp.0, "0123");
        assert_eq!(
            parse_json::<B>(br#"{"otp":123456}"#).unwrap().otp.0,
            "123456"
        );
        for bad in [
            r#"{"otp":1.5}"#,
            r#"{"otp":true}"#,
            r#"{"otp":-1}"#,
            r#"{"otp":[]}"#,
        ] {
            let e = parse_json::<B>(bad.as_bytes()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("otp"), "{bad}");
        }
    }

    #[test]
    fn content_type_rules() {
        let mut h = axum::http::HeaderMap::new();
        assert!(check_json_content_type(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(check_json_content_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(
            check_json_content_type(&h).unwrap_err().kind,
            ErrorKind::UnsupportedMediaType
        );
    }
}
