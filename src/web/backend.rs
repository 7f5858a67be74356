//! Choosing the device in the browser: WebGPU when the browser offers it and burn's wgpu runtime
//! comes up on it, burn's CPU backend (flex) otherwise, and why.

use burn::prelude::Device;
use serde::Serialize;

/// Which backend runs the models, for the page's badge.
#[derive(Clone, Debug, Serialize)]
pub struct BackendInfo {
    /// "webgpu" or "cpu".
    pub kind: &'static str,
    /// The WebGPU adapter's name, when on WebGPU.
    pub adapter: Option<String>,
    /// Why the CPU backend is used, when it is.
    pub reason: Option<String>,
}

/// Whether `navigator.gpu` exists in this global scope (window or worker).
#[cfg(feature = "wgpu")]
fn has_navigator_gpu() -> bool {
    use wasm_bindgen::JsValue;
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &JsValue::from_str("navigator"))
        .ok()
        .filter(|n| !n.is_undefined())
        .and_then(|n| js_sys::Reflect::get(&n, &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}

fn cpu(reason: impl Into<String>) -> (Device, BackendInfo) {
    (
        Device::flex(),
        BackendInfo {
            kind: "cpu",
            adapter: None,
            reason: Some(reason.into()),
        },
    )
}

/// Picks the device. `prefer` is "auto" (WebGPU if possible) or "cpu".
///
/// burn's wgpu runtime registers one server per page and refuses a second initialisation, so
/// the WebGPU device is created once and cached for the page's lifetime; a call that arrives
/// while the first is still initialising waits for it (the page upgrades to WebGPU while the
/// training mode may be starting) instead of failing and caching the CPU.
pub async fn select(prefer: &str) -> (Device, BackendInfo) {
    if prefer == "cpu" {
        return cpu("CPU backend requested");
    }
    let init_lock = INIT_LOCK.with(std::rc::Rc::clone);
    let _initialising = init_lock.lock().await;
    if let Some(cached) = CACHE.with(|c| c.borrow().clone()) {
        return cached;
    }
    let chosen = webgpu_or_cpu().await;
    CACHE.with(|c| *c.borrow_mut() = Some(chosen.clone()));
    chosen
}

#[cfg(not(feature = "wgpu"))]
async fn webgpu_or_cpu() -> (Device, BackendInfo) {
    cpu("this is the CPU-only bundle (built without WebGPU)")
}

#[cfg(feature = "wgpu")]
async fn webgpu_or_cpu() -> (Device, BackendInfo) {
    if !has_navigator_gpu() {
        cpu("this browser has no WebGPU (navigator.gpu is missing)")
    } else {
        match Device::wgpu_options().init_with_setup_async().await {
            Ok((device, setup)) => {
                // Browsers may hide the adapter's name; fall back to what they do tell.
                let info = setup.adapter.get_info();
                let adapter = [info.name, info.driver, info.driver_info]
                    .into_iter()
                    .find(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("{:?} adapter", info.device_type));
                (
                    device,
                    BackendInfo {
                        kind: "webgpu",
                        adapter: Some(adapter),
                        reason: None,
                    },
                )
            }
            Err(e) => cpu(format!("WebGPU initialisation failed: {e}")),
        }
    }
}

thread_local! {
    static CACHE: std::cell::RefCell<Option<(Device, BackendInfo)>> = const { std::cell::RefCell::new(None) };
    static INIT_LOCK: std::rc::Rc<futures_util::lock::Mutex<()>> =
        std::rc::Rc::new(futures_util::lock::Mutex::new(()));
}
