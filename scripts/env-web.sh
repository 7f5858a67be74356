# Sourced by build-web and test-web: one target directory and one size-optimised profile for
# every wasm build, so the bundle and the browser tests share the compiled burn + wgpu.
source scripts/env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR}-web"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort
