//! Checks on what JavaScript passes in. Every exported function takes its arguments as
//! `JsValue`s and reads them through here, so a wrong type, a wrong length, a value out of range
//! or a fractional count is a JS `Error` that names the call and the argument, raised before
//! anything is allocated or any kernel runs. (wasm-bindgen's own conversions trap on a number
//! where a string goes, allocate whatever `length` an array-like claims, and wrap counts modulo
//! 2³².) Arrays, typed arrays and objects are read through `js_read`, so an element getter that
//! throws, a Proxy, a detached buffer or a getter that frees the object being called is an
//! error of the call too, never an exception thrown through the module.

use std::fmt::Write;
use std::ops::RangeInclusive;

use js_sys::Reflect;
use wasm_bindgen::{JsError, JsValue};

use super::js_read::{self, Kind};
use crate::data::IMAGE_PIXELS;

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`): the seeds' range.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How a value reads in a message: `5`, `"abc"`, `null`, `an object`, `a Float32Array of 3`.
/// Reading it runs no caller code except a Proxy's traps and getters, and nothing they throw
/// escapes.
pub fn describe(value: &JsValue) -> String {
    if value.is_undefined() {
        return "undefined".into();
    }
    if value.is_null() {
        return "null".into();
    }
    if let Some(b) = value.as_bool() {
        return b.to_string();
    }
    if let Some(x) = value.as_f64() {
        return number_text(x);
    }
    if let Some(s) = value.as_string() {
        let short: String = s.chars().take(40).collect();
        let more = if short.len() < s.len() { "…" } else { "" };
        return format!("the string {short:?}{more}");
    }
    if value.is_bigint() {
        return "a BigInt".into();
    }
    if value.is_symbol() {
        return "a symbol".into();
    }
    if value.is_function() {
        return "a function".into();
    }
    match js_read::kind(value) {
        // `Array.isArray` throws on a revoked Proxy only.
        Err(_) => "a revoked Proxy".into(),
        Ok(Kind::Typed {
            class,
            detached: true,
            ..
        }) => format!("a detached {class}"),
        Ok(Kind::Typed { class, length, .. }) => format!("a {class} of {length}"),
        Ok(Kind::Buffer { detached: true, .. }) => "a detached ArrayBuffer".into(),
        Ok(Kind::Buffer { length, .. }) => format!("an ArrayBuffer of {length} bytes"),
        Ok(Kind::Array) => match js_read::length(value).ok().and_then(|l| js_read::count(&l)) {
            Some(length) => format!("an array of {length}"),
            None => "an array".into(),
        },
        Ok(Kind::Other) => {
            let class = Reflect::get(value, &"constructor".into())
                .ok()
                .filter(|c| c.is_function())
                .and_then(|c| Reflect::get(&c, &"name".into()).ok())
                .and_then(|n| n.as_string())
                .filter(|n| !n.is_empty());
            match class.as_deref() {
                None | Some("Object") => "an object".into(),
                Some(name) => format!("a {name}"),
            }
        }
    }
}

/// A JS number as JS prints it (no `.0` on integers, `Infinity` rather than `inf`).
fn number_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{x}")
    }
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn alternatives(choices: &[&str]) -> String {
    let quoted: Vec<String> = choices.iter().map(|c| format!("{c:?}")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The arguments of one call of the JS API: every message starts with the call's name, as in
/// `decode_grid(): n must be an integer from 1 to 40, got 2.7`.
#[derive(Clone, Copy, Debug)]
pub struct Call(pub &'static str);

impl Call {
    /// An error of this call, as the JS `Error` it becomes.
    pub fn error(&self, message: impl std::fmt::Display) -> JsError {
        JsError::new(&format!("{}: {message}", self.0))
    }

    fn expected(&self, name: &str, expected: impl std::fmt::Display, got: &JsValue) -> JsError {
        self.error(format!("{name} must be {expected}, got {}", describe(got)))
    }

    /// One of `choices` (a string).
    pub fn choice(
        &self,
        value: &JsValue,
        name: &str,
        choices: &[&'static str],
    ) -> Result<&'static str, JsError> {
        value
            .as_string()
            .and_then(|s| choices.iter().find(|c| **c == s).copied())
            .ok_or_else(|| self.expected(name, alternatives(choices), value))
    }

    /// A number for which `ok` holds (`expected` says which, for the message).
    pub fn number_where(
        &self,
        value: &JsValue,
        name: &str,
        expected: &str,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, JsError> {
        value
            .as_f64()
            .filter(|x| x.is_finite() && ok(*x))
            .ok_or_else(|| self.expected(name, expected, value))
    }

    /// A finite number within `range`.
    pub fn number(
        &self,
        value: &JsValue,
        name: &str,
        range: RangeInclusive<f64>,
    ) -> Result<f64, JsError> {
        let expected = format!(
            "a finite number from {} to {}",
            number_text(*range.start()),
            number_text(*range.end())
        );
        self.number_where(value, name, &expected, |x| range.contains(&x))
    }

    /// A finite number within `range`, as an `f32` (the models' type).
    pub fn float(
        &self,
        value: &JsValue,
        name: &str,
        range: RangeInclusive<f32>,
    ) -> Result<f32, JsError> {
        let range = f64::from(*range.start())..=f64::from(*range.end());
        self.number(value, name, range).map(|x| x as f32)
    }

    /// An integer within `range` (no fractions, no wrapping).
    pub fn count(
        &self,
        value: &JsValue,
        name: &str,
        range: RangeInclusive<usize>,
    ) -> Result<usize, JsError> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        let (lo, hi) = (*range.start() as f64, *range.end() as f64);
        self.number_where(value, name, &expected, |x| {
            x.fract() == 0.0 && (lo..=hi).contains(&x)
        })
        .map(|x| x as usize)
    }

    /// A seed: an integer from 0 to 2⁵³ − 1.
    pub fn seed(&self, value: &JsValue, name: &str) -> Result<u64, JsError> {
        let expected = format!("an integer from 0 to {MAX_SAFE_INTEGER}");
        self.number_where(value, name, &expected, |x| {
            x.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER as f64).contains(&x)
        })
        .map(|x| x as u64)
    }

    /// `true` or `false`.
    pub fn boolean(&self, value: &JsValue, name: &str) -> Result<bool, JsError> {
        value
            .as_bool()
            .ok_or_else(|| self.expected(name, "true or false", value))
    }

    /// Numbers from a `Float32Array`, a `Float64Array` or an array of numbers whose length
    /// passes `length_ok`. The length is checked before anything is copied, and every value
    /// must be finite. `expected` describes the whole argument for messages.
    pub fn floats(
        &self,
        value: &JsValue,
        name: &str,
        expected: &str,
        length_ok: impl Fn(usize) -> bool,
    ) -> Result<Vec<f32>, JsError> {
        let values: Vec<f32> = match self.kind(value, name)? {
            Kind::Typed { class, .. }
                if !matches!(class.as_str(), "Float32Array" | "Float64Array") =>
            {
                return Err(self.expected(name, expected, value));
            }
            Kind::Typed {
                detached: true,
                class,
                ..
            } => return Err(self.detached(name, &class)),
            Kind::Typed { length, .. } if !length_ok(length) => {
                return Err(self.wrong_length(name, expected, length));
            }
            // Values beyond f32's range become infinite, and fail the finiteness check below.
            Kind::Typed { .. } => js_read::f32s(value).map_err(|e| self.unreadable(name, &e))?,
            Kind::Array => {
                let length = self.array_length(value, name, expected, &length_ok)?;
                let mut out = Vec::with_capacity(length);
                for i in 0..length {
                    let v = self.element(value, name, i)?;
                    match v.as_f64() {
                        Some(x) => out.push(x as f32),
                        None => {
                            return Err(self.error(format!(
                                "{name}[{i}] must be a number, got {}",
                                describe(&v)
                            )));
                        }
                    }
                }
                out
            }
            _ => return Err(self.expected(name, expected, value)),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(self.error(format!(
                "{name}[{i}] must be a finite number, got {}",
                number_text(f64::from(values[i]))
            )));
        }
        Ok(values)
    }

    /// What `value` is; a revoked Proxy is an error naming the argument.
    fn kind(&self, value: &JsValue, name: &str) -> Result<Kind, JsError> {
        js_read::kind(value).map_err(|e| self.unreadable(name, &e))
    }

    /// An array's length, checked by `length_ok` before anything is read or allocated.
    fn array_length(
        &self,
        array: &JsValue,
        name: &str,
        expected: &str,
        length_ok: impl Fn(usize) -> bool,
    ) -> Result<usize, JsError> {
        let length =
            js_read::length(array).map_err(|e| self.unreadable(&format!("{name}.length"), &e))?;
        match js_read::count(&length) {
            Some(n) if length_ok(n) => Ok(n),
            Some(n) => Err(self.wrong_length(name, expected, n)),
            None => Err(self.error(format!(
                "{name} must be {expected}, got an array whose length is {}",
                describe(&length)
            ))),
        }
    }

    fn wrong_length(&self, name: &str, expected: &str, length: usize) -> JsError {
        self.error(format!("{name} must be {expected}, got {length} values"))
    }

    /// Element `i` of an array.
    fn element(&self, array: &JsValue, name: &str, i: usize) -> Result<JsValue, JsError> {
        js_read::element(array, i).map_err(|e| self.unreadable(&format!("{name}[{i}]"), &e))
    }

    /// `name` (an argument or a part of one) threw when read.
    pub fn unreadable(&self, name: &str, exception: &JsValue) -> JsError {
        self.error(format!(
            "{name} cannot be read ({})",
            js_read::exception_text(exception)
        ))
    }

    /// `name` is a typed array or buffer whose memory was transferred away.
    fn detached(&self, name: &str, class: &str) -> JsError {
        self.error(format!(
            "{name} is a detached {class} (its buffer was transferred, and holds nothing): pass \
             one that still holds its data"
        ))
    }

    /// Whole 28×28 images with pixels in [0, 1]: `count` of them (784 values each).
    pub fn images(
        &self,
        value: &JsValue,
        name: &str,
        count: RangeInclusive<usize>,
    ) -> Result<Vec<f32>, JsError> {
        let expected = if count == (1..=1) {
            format!("a 28x28 image: a Float32Array or an array of {IMAGE_PIXELS} numbers in [0, 1]")
        } else {
            format!(
                "{} to {} whole 28x28 images: a Float32Array or an array of a multiple of {IMAGE_PIXELS} numbers in [0, 1]",
                count.start(),
                count.end()
            )
        };
        let pixels = self.floats(value, name, &expected, |n| {
            n.is_multiple_of(IMAGE_PIXELS) && count.contains(&(n / IMAGE_PIXELS))
        })?;
        if let Some(i) = pixels.iter().position(|v| !(0.0..=1.0).contains(v)) {
            return Err(self.error(format!(
                "{name}[{i}] must be a pixel value in [0, 1], got {}",
                pixels[i]
            )));
        }
        Ok(pixels)
    }

    /// One 28×28 image with pixels in [0, 1].
    pub fn image(&self, value: &JsValue, name: &str) -> Result<Vec<f32>, JsError> {
        self.images(value, name, 1..=1)
    }

    /// Digit labels 0–9 from a `Uint8Array` or an array of integers, at most `max` of them.
    pub fn labels(&self, value: &JsValue, name: &str, max: usize) -> Result<Vec<u8>, JsError> {
        let expected = format!("a Uint8Array or an array of at most {max} digits 0-9");
        let labels: Vec<f64> = match self.kind(value, name)? {
            Kind::Typed { class, .. } if class != "Uint8Array" => {
                return Err(self.expected(name, &expected, value));
            }
            Kind::Typed {
                detached: true,
                class,
                ..
            } => return Err(self.detached(name, &class)),
            Kind::Typed { length, .. } if length > max => {
                return Err(self.expected(name, &expected, value));
            }
            Kind::Typed { .. } => js_read::bytes(value)
                .map_err(|e| self.unreadable(name, &e))?
                .into_iter()
                .map(f64::from)
                .collect(),
            Kind::Array => {
                let length = self.array_length(value, name, &expected, |n| n <= max)?;
                let mut out = Vec::with_capacity(length);
                for i in 0..length {
                    let v = self.element(value, name, i)?;
                    out.push(v.as_f64().ok_or_else(|| {
                        self.expected(&format!("{name}[{i}]"), "a digit 0-9", &v)
                    })?);
                }
                out
            }
            _ => return Err(self.expected(name, &expected, value)),
        };
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                if l.fract() == 0.0 && (0.0..=9.0).contains(&l) {
                    Ok(l as u8)
                } else {
                    Err(self.error(format!(
                        "{name}[{i}] must be a digit 0-9, got {}",
                        number_text(l)
                    )))
                }
            })
            .collect()
    }

    /// A string of at most `max` characters (UTF-16 units, as JS counts them).
    pub fn text(&self, value: &JsValue, name: &str, max: usize) -> Result<String, JsError> {
        let Some(text) = value.as_string() else {
            return Err(self.expected(name, "a string", value));
        };
        let length = text.encode_utf16().count();
        if length > max {
            return Err(self.error(format!(
                "{name} must be at most {max} characters long, got {length}"
            )));
        }
        Ok(text)
    }

    /// Bytes from a `Uint8Array` or an `ArrayBuffer`, at most `max` of them.
    pub fn bytes(&self, value: &JsValue, name: &str, max: usize) -> Result<Vec<u8>, JsError> {
        let (class, length, detached) = match self.kind(value, name)? {
            Kind::Typed {
                class,
                length,
                detached,
            } if class == "Uint8Array" => (class, length, detached),
            Kind::Buffer { length, detached } => ("ArrayBuffer".to_string(), length, detached),
            _ => return Err(self.expected(name, "a Uint8Array or an ArrayBuffer", value)),
        };
        if detached {
            return Err(self.detached(name, &class));
        }
        if length > max {
            return Err(self.error(format!("{name} must be at most {max} bytes, got {length}")));
        }
        js_read::bytes(value).map_err(|e| self.unreadable(name, &e))
    }

    /// A plain object (settings) whose fields are all among `fields`: a misspelt or unknown
    /// field is an error, not a setting silently ignored.
    pub fn object(
        &self,
        value: &JsValue,
        name: &'static str,
        fields: &'static [&'static str],
    ) -> Result<Fields, JsError> {
        if !js_read::is_plain_object(value).map_err(|e| self.unreadable(name, &e))? {
            return Err(self.expected(
                name,
                format!("an object with the fields {}", fields.join(", ")),
                value,
            ));
        }
        // `Reflect.ownKeys` reports a throwing proxy as an error instead of throwing through
        // the module; symbol keys are unknown fields too.
        let keys = Reflect::own_keys(value).map_err(|e| self.unreadable(name, &e))?;
        for key in keys.iter() {
            let key = key.as_string().unwrap_or_else(|| describe(&key));
            if !fields.contains(&key.as_str()) {
                let mut message = format!("{name} has an unknown field {key:?}");
                if let Some(close) = closest(&key, fields) {
                    let _ = write!(message, " (did you mean {close:?}?)");
                }
                let _ = write!(message, "; the fields are {}", fields.join(", "));
                return Err(self.error(message));
            }
        }
        let mut values = Vec::with_capacity(fields.len());
        for field in fields {
            let v = Reflect::get(value, &JsValue::from_str(field))
                .map_err(|e| self.unreadable(&format!("{name}.{field}"), &e))?;
            values.push(v);
        }
        Ok(Fields {
            call: *self,
            name,
            fields,
            values,
        })
    }
}

/// The known field nearest to a misspelt one: the same letters ignoring case, one name inside
/// the other (`codeSize` → `code`), or at most two edits away.
fn closest(key: &str, fields: &[&'static str]) -> Option<&'static str> {
    let lower = key.to_lowercase();
    fields.iter().copied().find(|f| {
        let f = f.to_lowercase();
        f == lower
            || lower.starts_with(&f)
            || f.starts_with(&lower)
            || edit_distance(&f, &lower) <= 2
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The fields of a settings object, read once (so getters run once), checked one by one with
/// messages such as `settings.batchSize must be an integer from 1 to 1024, got 2.5`.
pub struct Fields {
    call: Call,
    name: &'static str,
    fields: &'static [&'static str],
    values: Vec<JsValue>,
}

impl Fields {
    fn value(&self, field: &str) -> &JsValue {
        let i = self
            .fields
            .iter()
            .position(|f| *f == field)
            .unwrap_or_else(|| unreachable!("{field} is not among the declared fields"));
        &self.values[i]
    }

    fn path(&self, field: &str) -> String {
        format!("{}.{field}", self.name)
    }

    /// The field, or `None` when it is missing (undefined).
    pub fn optional<T>(
        &self,
        field: &str,
        read: impl FnOnce(&Call, &JsValue, &str) -> Result<T, JsError>,
    ) -> Result<Option<T>, JsError> {
        let value = self.value(field);
        if value.is_undefined() {
            Ok(None)
        } else {
            read(&self.call, value, &self.path(field)).map(Some)
        }
    }

    /// A field that must be there.
    pub fn required<T>(
        &self,
        field: &str,
        read: impl FnOnce(&Call, &JsValue, &str) -> Result<T, JsError>,
    ) -> Result<T, JsError> {
        self.optional(field, read)?
            .ok_or_else(|| self.call.error(format!("{} is missing", self.path(field))))
    }
}
