# Sourced by the bench scripts: make_archive NAME GEN-ARGS... generates $DATA/NAME with
# trailscope-gen ($GEN) unless a whole one is already there (its truth.json is written last).
# $BENCH names the script in its messages.
make_archive() { # NAME GEN-ARGS...
  local name=$1; shift
  if [ ! -f "$DATA/$name/truth.json" ]; then
    rm -rf "${DATA:?}/$name"
    echo "${BENCH:-bench}: generating $DATA/$name (trailscope-gen $*)" >&2
    "$GEN" "$DATA/$name" "$@" >&2
  fi
}
