//! Reads of the JS values callers pass, none of which can throw through the module.
//!
//! A wasm-bindgen import without `catch` (js-sys's `Array::get`, a typed array's `length`,
//! `instanceof`) lets a JS exception unwind through the Rust frames that called it: the call's
//! promise then never settled, and what those frames held (the object's borrow) was never
//! released. What such reads run is up to the caller: an element getter, a Proxy's traps
//! (`getPrototypeOf` behind `instanceof`), an own `length` property on a typed array, a getter
//! that frees the very object being called. So every read of a caller's value goes through an
//! intrinsic accessor that runs no caller code (the typed-array and `ArrayBuffer` getters of the
//! prototypes, fetched once), or through `Reflect`, which hands an exception back as an `Err`.

use js_sys::{ArrayBuffer, Float32Array, Function, Object, Reflect, Symbol, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `Array.isArray`, which throws on a revoked Proxy.
    #[wasm_bindgen(js_namespace = Array, js_name = isArray, catch)]
    fn array_is_array(value: &JsValue) -> Result<bool, JsValue>;
}

/// The prototypes' own accessors and the two constructors the copies use, fetched from fresh
/// objects of this module's making.
struct Intrinsics {
    /// `%TypedArray%.prototype[Symbol.toStringTag]`: the `[[TypedArrayName]]` of a typed array,
    /// `undefined` for anything else (a Proxy included).
    typed_class: Function,
    typed_length: Function,
    typed_buffer: Function,
    buffer_length: Function,
    /// `ArrayBuffer.prototype.detached`, where the browser has it (Chromium 114 on).
    buffer_detached: Option<Function>,
    float32: Function,
    uint8: Function,
}

fn getter(prototype: &Object, key: &JsValue) -> Option<Function> {
    let descriptor = Reflect::get_own_property_descriptor(prototype, key).ok()?;
    Reflect::get(&descriptor, &JsValue::from_str("get"))
        .ok()?
        .dyn_into()
        .ok()
}

impl Intrinsics {
    fn fetch() -> Option<Intrinsics> {
        let constructor = |prototype: &Object| -> Option<Function> {
            Reflect::get(prototype, &JsValue::from_str("constructor"))
                .ok()?
                .dyn_into()
                .ok()
        };
        let uint8 = Reflect::get_prototype_of(&Uint8Array::new_with_length(0)).ok()?;
        let float32 = Reflect::get_prototype_of(&Float32Array::new_with_length(0)).ok()?;
        let typed = Reflect::get_prototype_of(&uint8).ok()?;
        let buffer = Reflect::get_prototype_of(&ArrayBuffer::new(0)).ok()?;
        Some(Intrinsics {
            typed_class: getter(&typed, &Symbol::to_string_tag())?,
            typed_length: getter(&typed, &JsValue::from_str("length"))?,
            typed_buffer: getter(&typed, &JsValue::from_str("buffer"))?,
            buffer_length: getter(&buffer, &JsValue::from_str("byteLength"))?,
            buffer_detached: getter(&buffer, &JsValue::from_str("detached")),
            float32: constructor(&float32)?,
            uint8: constructor(&uint8)?,
        })
    }
}

fn with_intrinsics<T>(read: impl FnOnce(&Intrinsics) -> Result<T, JsValue>) -> Result<T, JsValue> {
    thread_local! {
        static INTRINSICS: Option<Intrinsics> = Intrinsics::fetch();
    }
    INTRINSICS.with(|found| match found {
        Some(intrinsics) => read(intrinsics),
        None => Err(JsValue::from_str(
            "this browser's typed arrays lack their standard accessors",
        )),
    })
}

/// `getter` called on `value` with no arguments.
fn call_getter(getter: &Function, value: &JsValue) -> Result<JsValue, JsValue> {
    Reflect::apply(getter, value, &js_sys::Array::new())
}

/// A JS number that is a whole count, as a `usize` (`None` for anything else, or beyond 2³²).
fn whole_count(value: &JsValue) -> Option<usize> {
    value
        .as_f64()
        .filter(|x| x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(x))
        .map(|x| x as usize)
}

/// What a caller's value is, as far as the argument readers care.
pub enum Kind {
    /// A typed array: its class (`"Float32Array"`, …) and length, and whether its buffer was
    /// detached (transferred to a worker, say), which leaves it empty.
    Typed {
        class: String,
        length: usize,
        detached: bool,
    },
    /// An `ArrayBuffer` (not a shared one): its byte length, and whether it was detached.
    Buffer { length: usize, detached: bool },
    /// An array, or a Proxy of one: its length and elements are read through [`length`] and
    /// [`element`], which may run the caller's code.
    Array,
    /// Anything else.
    Other,
}

/// Whether `buffer` (an `ArrayBuffer`) is detached. Without the `detached` accessor only an
/// empty buffer can be one, and it is taken for an empty buffer.
fn is_detached(intrinsics: &Intrinsics, buffer: &JsValue) -> Result<bool, JsValue> {
    match &intrinsics.buffer_detached {
        Some(detached) => Ok(call_getter(detached, buffer)?.as_bool() == Some(true)),
        None => Ok(false),
    }
}

/// What `value` is. Only a revoked Proxy makes this an `Err` (`Array.isArray` throws on one).
pub fn kind(value: &JsValue) -> Result<Kind, JsValue> {
    if !value.is_object() {
        return Ok(Kind::Other);
    }
    with_intrinsics(|i| {
        if let Some(class) = call_getter(&i.typed_class, value)?.as_string() {
            let length = whole_count(&call_getter(&i.typed_length, value)?).unwrap_or(usize::MAX);
            let buffer = call_getter(&i.typed_buffer, value)?;
            // A view of a SharedArrayBuffer: the `ArrayBuffer` accessors refuse it, and it cannot
            // be detached.
            let detached = is_detached(i, &buffer).unwrap_or(false);
            return Ok(Kind::Typed {
                class,
                length,
                detached,
            });
        }
        // The accessor throws for anything but an `ArrayBuffer` (a Proxy, a SharedArrayBuffer).
        if let Ok(length) = call_getter(&i.buffer_length, value) {
            return Ok(Kind::Buffer {
                length: whole_count(&length).unwrap_or(usize::MAX),
                detached: is_detached(i, value)?,
            });
        }
        Ok(if array_is_array(value)? {
            Kind::Array
        } else {
            Kind::Other
        })
    })
}

/// An array's `length` as it reads (a Proxy's trap may throw, or answer anything).
pub fn length(array: &JsValue) -> Result<JsValue, JsValue> {
    Reflect::get(array, &JsValue::from_str("length"))
}

/// A `length` read by [`length`], as a count (`None` when it is not a whole number below 2³²).
pub fn count(length: &JsValue) -> Option<usize> {
    whole_count(length)
}

/// Element `i` of an array as it reads (an element getter or a Proxy's trap may throw).
pub fn element(array: &JsValue, i: usize) -> Result<JsValue, JsValue> {
    Reflect::get_f64(array, i as f64)
}

/// The values of a typed array of numbers as `f32` (a `Float64Array`'s rounded to nearest, as
/// `as f32` rounds, beyond f32's range to infinity). The copy is made by the `Float32Array`
/// constructor, which reads the source's internal slots, not its properties.
pub fn f32s(typed: &JsValue) -> Result<Vec<f32>, JsValue> {
    with_intrinsics(|i| {
        let copy: Float32Array =
            Reflect::construct(&i.float32, &js_sys::Array::of1(typed))?.unchecked_into();
        Ok(copy.to_vec())
    })
}

/// The bytes of a `Uint8Array` or an `ArrayBuffer` (copied from a fresh `Uint8Array` over it).
pub fn bytes(value: &JsValue) -> Result<Vec<u8>, JsValue> {
    with_intrinsics(|i| {
        let copy: Uint8Array =
            Reflect::construct(&i.uint8, &js_sys::Array::of1(value))?.unchecked_into();
        Ok(copy.to_vec())
    })
}

/// Whether `value` is a plain object (settings, `weights`): an object that is not a function,
/// an array (or a Proxy of one), a typed array or an `ArrayBuffer`.
pub fn is_plain_object(value: &JsValue) -> Result<bool, JsValue> {
    if !value.is_object() || value.is_function() || ArrayBuffer::is_view(value) {
        return Ok(false);
    }
    Ok(matches!(kind(value)?, Kind::Other))
}

/// What a JS exception says, for a one-line message: an `Error`'s message (its first line, at
/// most 100 characters), or the value as [`super::input::describe`] words it.
pub fn exception_text(exception: &JsValue) -> String {
    let message = if exception.is_object() {
        Reflect::get(exception, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
    } else {
        None
    };
    match message {
        Some(message) => {
            let line = message.lines().next().unwrap_or("");
            let short: String = line.chars().take(100).collect();
            let more = if short.len() < line.len() { "…" } else { "" };
            format!("{short}{more}")
        }
        None => super::input::describe(exception),
    }
}
