//! Embeds the committed models in the browser bundles: weights files are named by their content
//! hash (see `src/store`), so the file names come from `weights/manifest.json` at build time.

use std::path::Path;

/// Manifest keys of the models the page embeds, and the constant each becomes.
const MODELS: [(&str, &str); 6] = [
    ("ae", "AE"),
    ("dae", "DAE"),
    ("dae_wide", "DAE_WIDE"),
    ("vae", "VAE"),
    ("classifier", "CLASSIFIER"),
    ("classifier_best", "CLASSIFIER_BEST"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=weights/manifest.json");
    // Only the browser API embeds the weights; native builds read them at run time.
    if std::env::var_os("CARGO_FEATURE_WEB").is_none() {
        return;
    }
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let weights = Path::new(&root).join("weights");
    let manifest_path = weights.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let manifest: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let mut code = format!(
        "/// The committed manifest.\npub const MANIFEST: &str = include_str!({:?});\n",
        manifest_path.display().to_string()
    );
    for (key, name) in MODELS {
        let file = manifest["models"][key]["file"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no model `{key}`", manifest_path.display()));
        let path = weights.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        code += &format!(
            "/// Weights of `{key}`.\npub const {name}: &[u8] = include_bytes!({:?});\n",
            path.display().to_string()
        );
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("weights.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
