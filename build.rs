//! Embeds the committed models in the first-load browser bundle (feature `embed-weights`):
//! weights files are named by their content hash (see `src/store`), so the file names come from
//! `weights/manifest.json` at build time. The full bundle gets the same bytes from the page.

use std::path::Path;

/// Manifest keys of the models the page embeds.
const MODELS: [&str; 6] = [
    "ae",
    "dae",
    "dae_wide",
    "vae",
    "classifier",
    "classifier_best",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=weights/manifest.json");
    // Only the first-load browser bundle embeds the weights; native builds read them at run
    // time, the full bundle is handed them by the page.
    if std::env::var_os("CARGO_FEATURE_EMBED_WEIGHTS").is_none() {
        return;
    }
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let weights = Path::new(&root).join("weights");
    let manifest_path = weights.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let manifest: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
    let mut files = String::new();
    for key in MODELS {
        let file = manifest["models"][key]["file"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no model `{key}`", manifest_path.display()));
        let path = weights.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        files += &format!(
            "    ({file:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        );
    }
    let code = format!(
        "/// The committed manifest.\npub const MANIFEST: &str = include_str!({:?});\n\
         /// The weights files it names: (file name, bytes).\n\
         pub const FILES: &[(&str, &[u8])] = &[\n{files}];\n",
        manifest_path.display().to_string()
    );
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("weights.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
