# Sourced by the scripts: one persistent target directory outside the clone, so repeated runs
# (and CI on the same machine) reuse the ~11-minute burn build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/digit-lab/target}"
