//! JS values that turn on the code reading them, for the browser API's bad-argument tests: an
//! element getter or a `length` that throws, Proxies (a revoked one, one whose `getPrototypeOf`
//! throws, which `instanceof` runs), typed arrays whose buffer was detached or that carry an own
//! `length`, an object posing as a Float32Array, and an array whose getter frees the object it is
//! passed to. Each used to throw through the module (the call's promise never settled) or, for
//! the detached ones, to read as empty.
// Each test crate uses a part of these.
#![allow(dead_code)]

use js_sys::{Array, Function};
use wasm_bindgen::JsValue;

/// The value `body` returns, given `args` (named `a`, `b`, … in `body`).
fn make(body: &str, args: &[JsValue]) -> JsValue {
    let names = ["a", "b", "c"][..args.len()].join(", ");
    Function::new_with_args(&names, body)
        .apply(&JsValue::NULL, &args.iter().collect::<Array>())
        .expect("the hostile value's JS throws while being made")
}

fn n(x: u32) -> JsValue {
    JsValue::from(x)
}

/// An array of `len` zeros whose element 3 has a getter that throws.
pub fn throwing_element(len: u32) -> JsValue {
    make(
        "const v = new Array(a).fill(0); Object.defineProperty(v, 3, { get() { throw new Error('element getter'); } }); return v;",
        &[n(len)],
    )
}

/// A Proxy of an array of `len` zeros whose `length` throws.
pub fn throwing_length(len: u32) -> JsValue {
    make(
        "return new Proxy(new Array(a).fill(0), { get(t, k, r) { if (k === 'length') throw new Error('length getter'); return Reflect.get(t, k, r); } });",
        &[n(len)],
    )
}

/// A revoked Proxy of an array (`Array.isArray` throws on it).
pub fn revoked_proxy() -> JsValue {
    make(
        "const { proxy, revoke } = Proxy.revocable([], {}); revoke(); return proxy;",
        &[],
    )
}

/// A Proxy of a Float32Array of `len` whose `getPrototypeOf` (what `instanceof` asks) throws.
pub fn prototype_trap(len: u32) -> JsValue {
    make(
        "return new Proxy(new Float32Array(a), { getPrototypeOf() { throw new Error('getPrototypeOf trap'); } });",
        &[n(len)],
    )
}

/// An object whose prototype is Float32Array's, without being a typed array.
pub fn fake_typed_array() -> JsValue {
    make("return Object.create(Float32Array.prototype);", &[])
}

/// A typed array of `class` ("Float32Array", "Uint8Array") and `len` whose buffer was
/// transferred away (detached): it reads as empty.
pub fn detached(class: &str, len: u32) -> JsValue {
    make(
        &format!(
            "const v = new {class}(a); structuredClone(v.buffer, {{ transfer: [v.buffer] }}); return v;"
        ),
        &[n(len)],
    )
}

/// An ArrayBuffer of `len` bytes, transferred away (detached).
pub fn detached_buffer(len: u32) -> JsValue {
    make(
        "const v = new ArrayBuffer(a); structuredClone(v, { transfer: [v] }); return v;",
        &[n(len)],
    )
}

/// A Float32Array of `len` zeros with an own `length` property that throws: a valid argument,
/// since its length is what its internal slot says.
pub fn own_throwing_length(len: u32) -> JsValue {
    make(
        "const v = new Float32Array(a); Object.defineProperty(v, 'length', { get() { throw new Error('own length'); } }); return v;",
        &[n(len)],
    )
}

/// An array of `len` zeros (`fill`) whose element 0 getter frees `target` (calls its `free()`).
/// With `swallow`, the getter catches what `free()` throws (the object is borrowed by the call)
/// and returns 0; else that exception is what reading the element throws.
pub fn freeing(target: &JsValue, len: u32, fill: f64, swallow: bool) -> JsValue {
    make(
        "const v = new Array(b).fill(c); Object.defineProperty(v, 0, { get() { \
           if (SWALLOW) { try { a.free(); } catch (e) { } } else { a.free(); } return c; } }); return v;"
            .replace("SWALLOW", if swallow { "true" } else { "false" })
            .as_str(),
        &[target.clone(), n(len), JsValue::from_f64(fill)],
    )
}
