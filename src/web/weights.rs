//! The committed models' weights as the browser API gets them. The first-load bundle (burn's CPU
//! backend, feature `embed-weights`) has them compiled in and hands them to JS
//! (`bundledWeights()`); the full bundle (WebGPU and the training mode) carries none and is given
//! that object by the page (`DigitLab.create(backend, weights)`), so a page downloads the weights
//! once. Either way each file is checked against the manifest's SHA-256 before it is used.

use std::borrow::Cow;
use std::collections::BTreeMap;

use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::input::{Call, describe};
use super::js_err;
use crate::model::store::sha256_hex;
use crate::model::{Manifest, ModelKind};

#[cfg(feature = "embed-weights")]
mod embedded {
    // `MANIFEST` and `FILES`, written by `build.rs` from `weights/manifest.json`.
    include!(concat!(env!("OUT_DIR"), "/weights.rs"));
}

/// Longest manifest accepted (the committed one has ~10,000 characters).
const MAX_MANIFEST_CHARS: usize = 1 << 20;
/// Largest weights file accepted (the committed ones are 12 kB to 270 kB).
const MAX_FILE_BYTES: usize = 64 << 20;
/// Most files one weights object may hold.
const MAX_FILES: usize = 32;

/// A manifest and the weights files it names. Cheap to clone: the embedded bytes are borrowed.
#[derive(Clone)]
pub struct Weights {
    manifest_text: Cow<'static, str>,
    manifest: Manifest,
    files: BTreeMap<String, Cow<'static, [u8]>>,
}

impl Weights {
    /// The weights compiled into this bundle; `None` in the full bundle.
    pub fn embedded() -> Result<Option<Weights>, JsError> {
        #[cfg(feature = "embed-weights")]
        {
            let manifest = Manifest::parse(embedded::MANIFEST)
                .map_err(|e| js_err(format!("the bundled weights/manifest.json: {e}")))?;
            Ok(Some(Weights {
                manifest_text: Cow::Borrowed(embedded::MANIFEST),
                manifest,
                files: embedded::FILES
                    .iter()
                    .map(|(name, bytes)| (name.to_string(), Cow::Borrowed(*bytes)))
                    .collect(),
            }))
        }
        #[cfg(not(feature = "embed-weights"))]
        Ok(None)
    }

    /// The `weights` argument of a constructor: left out (`undefined`) for the weights compiled
    /// into this bundle, or `{manifest: string, files: {name: Uint8Array}}` as `bundledWeights()`
    /// of the first-load bundle returns it.
    pub fn from_js(call: Call, value: &JsValue) -> Result<Weights, JsError> {
        if value.is_undefined() {
            return Self::embedded()?.ok_or_else(|| {
                call.error(
                    "weights is missing: this bundle carries no weights; pass the first-load \
                     bundle's bundledWeights()",
                )
            });
        }
        let fields = call.object(value, "weights", &["manifest", "files"])?;
        let text = fields.required("manifest", |c, v, n| c.text(v, n, MAX_MANIFEST_CHARS))?;
        let manifest =
            Manifest::parse(&text).map_err(|e| call.error(format!("weights.manifest: {e}")))?;
        let files = fields.required("files", files)?;
        Ok(Weights {
            manifest_text: Cow::Owned(text),
            manifest,
            files,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// The weights file of `kind`, checked against the manifest's SHA-256.
    pub fn model(&self, call: Call, kind: ModelKind) -> Result<&[u8], JsError> {
        let entry = self
            .manifest
            .entry(kind)
            .map_err(|e| call.error(format!("weights.manifest: {e}")))?;
        let bytes = self.files.get(&entry.file).ok_or_else(|| {
            call.error(format!(
                "weights.files has no {:?} (the manifest's {} model)",
                entry.file,
                kind.key()
            ))
        })?;
        if let Some(expected) = &entry.sha256
            && sha256_hex(bytes) != *expected
        {
            return Err(call.error(format!(
                "weights.files[{:?}] does not match the manifest's SHA-256 (a corrupt or other file)",
                entry.file
            )));
        }
        Ok(bytes)
    }

    /// `{manifest, files}` for JS (the files copied into `Uint8Array`s).
    pub fn to_js(&self) -> Result<JsValue, JsError> {
        let files = Object::new();
        for (name, bytes) in &self.files {
            Reflect::set(
                &files,
                &JsValue::from_str(name),
                &Uint8Array::from(&bytes[..]),
            )
            .map_err(|_| js_err("cannot build the weights object"))?;
        }
        let object = Object::new();
        for (name, value) in [
            ("manifest", JsValue::from_str(&self.manifest_text)),
            ("files", files.into()),
        ] {
            Reflect::set(&object, &JsValue::from_str(name), &value)
                .map_err(|_| js_err("cannot build the weights object"))?;
        }
        Ok(object.into())
    }
}

/// `weights.files`: a plain object from file names to `Uint8Array`s.
fn files(
    call: &Call,
    value: &JsValue,
    name: &str,
) -> Result<BTreeMap<String, Cow<'static, [u8]>>, JsError> {
    if !super::js_read::is_plain_object(value).map_err(|e| call.unreadable(name, &e))? {
        return Err(call.error(format!(
            "{name} must be an object from file names to Uint8Arrays, got {}",
            describe(value)
        )));
    }
    let keys = Reflect::own_keys(value).map_err(|e| call.unreadable(name, &e))?;
    if keys.length() as usize > MAX_FILES {
        return Err(call.error(format!(
            "{name} must hold at most {MAX_FILES} files, got {}",
            keys.length()
        )));
    }
    let mut files = BTreeMap::new();
    for key in keys.iter() {
        let Some(file) = key.as_string() else {
            return Err(call.error(format!(
                "{name} has a key that is not a file name: {}",
                describe(&key)
            )));
        };
        let field = format!("{name}[{file:?}]");
        let v = Reflect::get(value, &key).map_err(|e| call.unreadable(&field, &e))?;
        let bytes = call.bytes(&v, &field, MAX_FILE_BYTES)?;
        files.insert(file, Cow::Owned(bytes));
    }
    Ok(files)
}

/// The weights compiled into this bundle, `{manifest, files}`, to hand to the full bundle's
/// constructors (`DigitLab.create(backend, weights)`, `HandwritingTuner.create(…, weights)`).
#[cfg(feature = "embed-weights")]
#[wasm_bindgen(js_name = bundledWeights)]
pub fn bundled_weights() -> Result<JsValue, JsError> {
    super::init_runtime();
    Weights::embedded()?
        .ok_or_else(|| js_err("this bundle carries no weights"))?
        .to_js()
}

/// The committed manifest and the weights file of model `key` as this bundle embeds them (for
/// tests of the import path: the same bytes a user picks from `weights/`).
#[cfg(feature = "embed-weights")]
pub fn bundled_files(key: &str) -> Option<(&'static str, &'static [u8])> {
    let kind = ModelKind::ALL.into_iter().find(|k| k.key() == key)?;
    let manifest = Manifest::parse(embedded::MANIFEST).ok()?;
    let file = &manifest.entry(kind).ok()?.file;
    embedded::FILES
        .iter()
        .find(|(name, _)| name == file)
        .map(|(_, bytes)| (embedded::MANIFEST, *bytes))
}
