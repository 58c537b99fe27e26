//! The JavaScript boundary: arguments in (checked here, so a wrong type is a `HemError` with
//! code `input.type`, never a panic or a glue `TypeError`), values and errors out.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::{Failure, Outcome};

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub(crate) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// What every exported function returns.
pub(crate) type JsResult<T> = Result<T, JsValue>;

/// A [`Failure`] as the JavaScript exception: an `Error` named `HemError` with `code` and,
/// when there is one, `status`.
pub(crate) fn throw(f: Failure) -> JsValue {
    let error = js_sys::Error::new(&f.message);
    error.set_name("HemError");
    // Setting a property on a fresh, extensible Error cannot fail.
    let _ = js_sys::Reflect::set(
        &error,
        &JsValue::from_str("code"),
        &JsValue::from_str(f.code),
    );
    if let Some(status) = f.status {
        let _ = js_sys::Reflect::set(&error, &JsValue::from_str("status"), &JsValue::from(status));
    }
    error.into()
}

/// `Outcome` → what wasm-bindgen throws.
pub(crate) trait IntoJs<T> {
    fn js(self) -> JsResult<T>;
}

impl<T> IntoJs<T> for Outcome<T> {
    fn js(self) -> JsResult<T> {
        self.map_err(throw)
    }
}

/// A required string.
pub(crate) fn string(v: &JsValue, name: &str) -> Outcome<String> {
    v.as_string()
        .ok_or_else(|| Failure::input_type(name, "a string"))
}

/// An optional string: left out, `undefined` and `null` are absent.
///
/// Typed `js_sys::JsString` only so that the `.d.ts` says `string`: nothing in the glue checks
/// it, so it is checked here.
pub(crate) fn opt_string(v: &Option<js_sys::JsString>, name: &str) -> Outcome<Option<String>> {
    let Some(v) = v
        .as_ref()
        .map(|v| JsValue::from(v.clone()))
        .filter(|v| !(v.is_undefined() || v.is_null()))
    else {
        return Ok(None);
    };
    v.as_string()
        .map(Some)
        .ok_or_else(|| Failure::input_type(name, "a string or undefined"))
}

/// A boolean.
pub(crate) fn boolean(v: &JsValue, name: &str) -> Outcome<bool> {
    v.as_bool()
        .ok_or_else(|| Failure::input_type(name, "a boolean"))
}

/// Unix seconds, or any other count: a number that is a whole, non-negative safe integer.
pub(crate) fn seconds(v: &JsValue, name: &str) -> Outcome<u64> {
    let n = v
        .as_f64()
        .ok_or_else(|| Failure::input_type(name, "a number"))?;
    if !(n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= MAX_SAFE_INTEGER as f64) {
        return Err(Failure::input_value(
            name,
            "must be a whole number from 0 to Number.MAX_SAFE_INTEGER",
        ));
    }
    // Exact: a whole number within 0..=2^53-1.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(n as u64)
}

/// A body as received: a string, or the bytes of one (`Uint8Array`).
pub(crate) fn body(v: &JsValue, name: &str) -> Outcome<Vec<u8>> {
    if let Some(text) = v.as_string() {
        return Ok(text.into_bytes());
    }
    match v.dyn_ref::<js_sys::Uint8Array>() {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(Failure::input_type(name, "a string or a Uint8Array")),
    }
}

/// JSON text: a string as it is, or a plain object, which is `JSON.stringify`ed.
pub(crate) fn json_text(v: &JsValue, name: &str) -> Outcome<String> {
    if let Some(text) = v.as_string() {
        return Ok(text);
    }
    if !v.is_object() || v.is_function() || v.is_null() {
        return Err(Failure::input_type(name, "JSON text or an object"));
    }
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| Failure::input_value(name, "cannot be written as JSON"))
}

/// A Rust value as a plain JavaScript object (through JSON: numbers above 2^53 round, as
/// `JSON.parse` rounds them).
pub(crate) fn to_js<T: Serialize>(value: &T) -> Outcome<JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| Failure::new("internal.conversion", e.to_string()))?;
    js_sys::JSON::parse(&text)
        .map_err(|_| Failure::new("internal.conversion", "JSON.parse refused the value"))
}

/// A `u64` as a JavaScript number (exact up to 2^53).
#[allow(clippy::cast_precision_loss)]
pub(crate) fn number(n: u64) -> f64 {
    n as f64
}
