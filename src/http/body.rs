//! Request bodies: JSON objects only, size-bounded whether or not a length is announced,
//! with duplicate keys and absurd nesting refused, read field by field into typed values.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use warp::Filter;
use warp::reject::Rejection;

use crate::error::{AppError, FieldErrors};

/// The largest body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The largest CSV file `POST /admin/import` takes, in bytes (64 MiB, some 300,000 customers
/// with password hashes); a larger file is imported with `customers import`, which reads it
/// from disk a row at a time.
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;
/// The deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 16;

/// Extracts the body as a JSON object: 415 unless `Content-Type: application/json`, 413 past
/// [`MAX_BODY_BYTES`], 400 unless it is one well-formed JSON object.
pub fn json_object() -> impl Filter<Extract = (JsonObject,), Error = Rejection> + Clone {
    json_body(false)
}

/// Like [`json_object`], but no body at all (and no `Content-Type`) reads as `{}`.
pub fn optional_json_object() -> impl Filter<Extract = (JsonObject,), Error = Rejection> + Clone {
    json_body(true)
}

/// Extracts an HTML form body (`application/x-www-form-urlencoded` or `multipart/form-data`)
/// as its raw bytes, with its content type: 415 for any other type, 413 past
/// [`MAX_BODY_BYTES`].
pub fn form_body() -> impl Filter<Extract = (String, bytes::Bytes), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::body::stream())
        .and_then(|content_type: Option<String>, body| async move {
            let kind = content_type
                .as_deref()
                .and_then(|t| t.split(';').next())
                .map(|t| t.trim().to_ascii_lowercase());
            let Some(kind) = kind
                .filter(|k| k == "application/x-www-form-urlencoded" || k == "multipart/form-data")
            else {
                return Err(warp::reject::custom(UnsupportedMedia));
            };
            let bytes = read_limited(body).await?;
            Ok((kind, bytes.freeze()))
        })
        .untuple_one()
}

/// Extracts a CSV file (`Content-Type: text/csv`): 415 for any other type, 413 past
/// [`MAX_IMPORT_BYTES`] (announced or not).
pub fn csv_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(
            |content_type: Option<String>, length: Option<u64>, body| async move {
                let is_csv = content_type.as_deref().is_some_and(|t| {
                    t.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("text/csv")
                });
                if !is_csv {
                    return Err(warp::reject::custom(UnsupportedMedia));
                }
                if length.is_some_and(|l| l > MAX_IMPORT_BYTES as u64) {
                    return Err(warp::reject::custom(TooLarge));
                }
                Ok(read_limited_to(body, MAX_IMPORT_BYTES).await?.freeze())
            },
        )
}

fn json_body(
    may_be_empty: bool,
) -> impl Filter<Extract = (JsonObject,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(
            move |content_type: Option<String>, length: Option<u64>, body| async move {
                let is_json = content_type.as_deref().is_some_and(|t| {
                    t.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .eq_ignore_ascii_case("application/json")
                });
                let may_be_absent = may_be_empty && content_type.is_none();
                if !is_json && !may_be_absent {
                    return Err(warp::reject::custom(UnsupportedMedia));
                }
                if length.is_some_and(|l| l > MAX_BODY_BYTES as u64) {
                    return Err(warp::reject::custom(TooLarge));
                }
                let bytes = read_limited(body).await?;
                if may_be_absent && bytes.is_empty() {
                    return Ok(JsonObject {
                        map: Map::new(),
                        problems: FieldErrors::new(),
                    });
                }
                if !is_json {
                    return Err(warp::reject::custom(UnsupportedMedia));
                }
                parse_object(&bytes).map_err(Rejection::from)
            },
        )
}

/// Marks a body over the limit (mapped to 413).
#[derive(Debug)]
pub struct TooLarge;
impl warp::reject::Reject for TooLarge {}

/// Marks a body that did not arrive within `server.body_timeout_seconds` (mapped to 408).
#[derive(Debug)]
pub struct SlowBody;
impl warp::reject::Reject for SlowBody {}

/// Marks a body that is not JSON (mapped to 415).
#[derive(Debug)]
pub struct UnsupportedMedia;
impl warp::reject::Reject for UnsupportedMedia {}

async fn read_limited<S, B>(body: S) -> Result<BytesMut, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    read_limited_to(body, MAX_BODY_BYTES).await
}

/// The whole body, refused past `limit` bytes.
async fn read_limited_to<S, B>(body: S, limit: usize) -> Result<BytesMut, Rejection>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let mut body = std::pin::pin!(body);
    let mut collected = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) if super::wire::is_body_timeout(&e) => {
                return Err(warp::reject::custom(SlowBody));
            }
            Err(_) => {
                return Err(
                    AppError::MalformedBody("the request body could not be read".into()).into(),
                );
            }
        };
        if collected.len() + chunk.remaining() > limit {
            return Err(warp::reject::custom(TooLarge));
        }
        collected.put(chunk);
    }
    Ok(collected)
}

/// Parses one JSON object, refusing duplicate keys at any depth and nesting past [`MAX_DEPTH`].
pub fn parse_object(bytes: &[u8]) -> Result<JsonObject, AppError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { depth: 0 }
        .deserialize(&mut deserializer)
        .and_then(|v| deserializer.end().map(|_| v))
        .map_err(|e| AppError::MalformedBody(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(JsonObject {
            map,
            problems: FieldErrors::new(),
        }),
        _ => Err(AppError::MalformedBody(
            "the body must be a JSON object".into(),
        )),
    }
}

/// A JSON value seed that refuses duplicate keys and deep nesting.
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.deeper::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = self.deeper::<A::Error>()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = access.next_value_seed(inner)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

impl Strict {
    fn deeper<E: de::Error>(self) -> Result<Strict, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Strict {
            depth: self.depth + 1,
        })
    }
}

/// A request's JSON object, read one field at a time. Problems are collected, so that one
/// answer names every bad field; [`JsonObject::finish`] also refuses unknown fields.
#[derive(Debug)]
pub struct JsonObject {
    map: Map<String, Value>,
    problems: FieldErrors,
}

impl JsonObject {
    fn problem(&mut self, key: &str, problem: &str) {
        self.problems
            .entry(key.to_owned())
            .or_insert_with(|| problem.to_owned());
    }

    /// Takes a field's raw value: `None` when absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// A string field that must be present.
    pub fn required_str(&mut self, key: &str) -> String {
        match self.take(key) {
            None | Some(Value::Null) => {
                self.problem(key, "is required");
                String::new()
            }
            Some(value) => self.string_value(key, value).unwrap_or_default(),
        }
    }

    /// A string field that may be absent (or null).
    pub fn optional_str(&mut self, key: &str) -> Option<String> {
        match self.take(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.string_value(key, value),
        }
    }

    /// A field where absent means "leave as is" (`None`) and null means "clear" (`Some(None)`).
    pub fn nullable_str(&mut self, key: &str) -> Option<Option<String>> {
        match self.take(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(value) => self.string_value(key, value).map(Some),
        }
    }

    /// A boolean field that may be absent (or null).
    pub fn optional_bool(&mut self, key: &str) -> Option<bool> {
        match self.take(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                self.problem(key, "must be true or false");
                None
            }
        }
    }

    fn string_value(&mut self, key: &str, value: Value) -> Option<String> {
        match value {
            Value::String(s) if s.contains('\0') => {
                self.problem(key, "must not contain NUL characters");
                None
            }
            Value::String(s) => Some(s),
            _ => {
                self.problem(key, "must be a string");
                None
            }
        }
    }

    /// A required string field run through `parse`; a problem is recorded against the field.
    pub fn required_parsed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.required_str(key);
        let parsed = parse(&raw);
        self.checked(key, parsed)
    }

    /// An optional string field run through `parse`; `None` when absent or refused.
    pub fn optional_parsed<T>(
        &mut self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.optional_str(key)?;
        let parsed = parse(&raw);
        self.checked(key, parsed)
    }

    /// The value of `result`, or `None` with its problem recorded against `key`.
    pub fn checked<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|problem| self.reject_field(key, problem))
            .ok()
    }

    /// Records a problem found while interpreting a field.
    pub fn reject_field(&mut self, key: &str, problem: impl Into<String>) {
        let problem = problem.into();
        self.problem(key, &problem);
    }

    /// Like [`JsonObject::finish`], and hands back the values parsed from the fields, which
    /// are all present whenever no problem was recorded.
    pub fn finish_with<T>(self, parsed: Option<T>) -> Result<T, AppError> {
        self.finish()?;
        parsed.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("a field was refused without a problem"))
        })
    }

    /// The body of an emailed link's action: exactly `{"identifier","key"}`.
    pub fn identifier_and_key(mut self) -> Result<(String, String), AppError> {
        let identifier = self.required_str("identifier");
        let key = self.required_str("key");
        self.finish()?;
        Ok((identifier, key))
    }

    /// Fails with every problem found, unknown fields included.
    pub fn finish(mut self) -> Result<(), AppError> {
        let unknown: Vec<String> = self.map.keys().cloned().collect();
        for key in unknown {
            self.problem(&key, "is not a known field");
        }
        match AppError::fields(self.problems) {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1,"b":2}}"#).is_err());
        assert!(parse_object(br#"{"a":{"b":1},"c":[{"b":2}]}"#).is_ok());
    }

    #[test]
    fn deep_nesting_and_non_objects_are_refused() {
        let deep = format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(parse_object(deep.as_bytes()).is_err());
        assert!(parse_object(b"[1]").is_err());
        assert!(parse_object(b"\"x\"").is_err());
        assert!(parse_object(b"{} {}").is_err());
        assert!(parse_object(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn fields_are_typed_and_unknown_ones_reported() {
        let mut body =
            parse_object(br#"{"email":5,"name":null,"extra":true,"pw":"a\u0000b"}"#).unwrap();
        assert_eq!(body.optional_str("email"), None);
        assert_eq!(body.nullable_str("name"), Some(None));
        assert_eq!(body.optional_str("pw"), None);
        let AppError::Validation { fields, .. } = body.finish().unwrap_err() else {
            panic!()
        };
        assert_eq!(fields["email"], "must be a string");
        assert_eq!(fields["extra"], "is not a known field");
        assert_eq!(fields["pw"], "must not contain NUL characters");
    }
}
