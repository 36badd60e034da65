# Argument and switch handling shared by the examples' run scripts (the
# top-level run.sh, examples/dlrm/run.sh, examples/mmoe/run.sh). Source it:
#
#   source "$ROOT/examples/common/run_args.sh"
#   read_switches                   # USE_* and CACHE_MODE from the environment
#   setup_run_args "$ROOT" DEFAULT_DATA "$@"    # [so_path] [pkg] [hccl_json] [data] [ip]
#   print_run_config
#
# setup_run_args validates each argument with a clear message and exports
# SO_PATH (added to LD_LIBRARY_PATH), PYTHONPATH (the package's parent
# first), RANK_TABLE_FILE (unset without a rank table), DATA and HOST_IP.

EXAMPLES_COMMON="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_RANK_TABLE="$EXAMPLES_COMMON/rank_table_1p.json"

die() {  # die MESSAGE [EXIT_CODE=2]
  echo "error: $1" >&2
  exit "${2:-2}"
}

flag01() {  # flag01 NAME DEFAULT -> prints 0 or 1, or exits on other values
  local v="${!1:-$2}"
  case "$v" in 0|1) echo "$v" ;; *) die "$1 must be 0 or 1, got '$v'" ;; esac
}

read_switches() {  # validates and exports the six feature switches
  USE_DYNAMIC=$(flag01 USE_DYNAMIC 1)
  USE_DYNAMIC_EXPANSION=$(flag01 USE_DYNAMIC_EXPANSION 0)
  USE_MULTI_LOOKUP=$(flag01 USE_MULTI_LOOKUP 0)
  USE_FAAE=$(flag01 USE_FAAE 0)
  USE_MODIFY_GRAPH=$(flag01 USE_MODIFY_GRAPH 0)
  CACHE_MODE="${CACHE_MODE:-HBM}"
  case "$CACHE_MODE" in
    HBM|DDR|SSD) ;;
    *) die "CACHE_MODE must be HBM, DDR or SSD, got '$CACHE_MODE'" ;;
  esac
  export USE_DYNAMIC USE_DYNAMIC_EXPANSION USE_MULTI_LOOKUP USE_FAAE USE_MODIFY_GRAPH CACHE_MODE
}

setup_run_args() {  # setup_run_args ROOT DEFAULT_DATA [so_path] [pkg] [hccl_json] [data] [ip]
  local root="$1" default_data="$2"
  shift 2
  [ "$#" -le 5 ] || die "expected at most 5 arguments (so_path pkg hccl_json data ip), got $#"
  local default_so="$root/mx_rec/libasc"
  local so_path="${1:-$default_so}" pkg="${2:-$root/mx_rec}"
  local hccl_json="${3:-$DEFAULT_RANK_TABLE}" data="${4:-$default_data}" ip="${5:-127.0.0.1}"
  local py="${PYTHON:-python3}"

  # Native library: built on a fresh clone when so_path is the default.
  if [ ! -f "$so_path/libasc.so" ]; then
    if [ "$so_path" = "$default_so" ]; then
      echo "libasc.so not found in $so_path: building it with scripts/setup.sh"
      bash "$root/scripts/setup.sh"
    fi
    [ -f "$so_path/libasc.so" ] || die "no libasc.so in so_path '$so_path'" 1
  fi
  SO_PATH="$(cd "$so_path" && pwd)"
  export SO_PATH LD_LIBRARY_PATH="$SO_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

  # Python package: the mx_rec directory itself or a directory holding it.
  [ -d "$pkg" ] || die "pkg '$pkg' is not a directory" 1
  pkg="$(cd "$pkg" && pwd)"
  local pkg_parent
  if [ -f "$pkg/__init__.py" ] && [ "$(basename "$pkg")" = mx_rec ]; then
    pkg_parent="$(dirname "$pkg")"
  elif [ -f "$pkg/mx_rec/__init__.py" ]; then
    pkg_parent="$pkg"
  else
    die "pkg '$pkg' is neither the mx_rec package nor a directory holding it" 1
  fi
  export PYTHONPATH="$pkg_parent${PYTHONPATH:+:$PYTHONPATH}"

  # Rank table: read for its rank count, which must be 1. A path that does
  # not exist means "no rank table" (one rank).
  if [ -f "$hccl_json" ]; then
    local ranks
    ranks="$("$py" "$EXAMPLES_COMMON/rank_table.py" "$hccl_json")" || exit 2
    [ "$ranks" = 1 ] || die "the rank table $hccl_json describes $ranks ranks; the examples run one process (rank 0) only"
    export RANK_TABLE_FILE="$hccl_json"
  else
    echo "no rank table at '$hccl_json': running without one (1 rank)"
    unset RANK_TABLE_FILE
  fi

  # Data: a file, or comma-separated files.
  local one
  local -a files
  IFS=',' read -r -a files <<< "$data"
  for one in "${files[@]}"; do
    [ -f "$one" ] || die "data file '$one' not found" 1
  done
  export DATA="$data"

  "$py" -c 'import ipaddress, sys; ipaddress.ip_address(sys.argv[1])' "$ip" 2>/dev/null \
    || die "ip '$ip' is not an IPv4 or IPv6 address"
  export HOST_IP="$ip"
}

print_run_config() {  # the effective configuration, before anything runs
  echo "so_path:   $SO_PATH"
  echo "pkg:       ${PYTHONPATH%%:*}/mx_rec"
  echo "rank table ${RANK_TABLE_FILE:-(none)}; host $HOST_IP; rank 0 of 1"
  echo "data:      $DATA"
  echo "switches:  USE_DYNAMIC=$USE_DYNAMIC CACHE_MODE=$CACHE_MODE" \
       "USE_FAAE=$USE_FAAE USE_DYNAMIC_EXPANSION=$USE_DYNAMIC_EXPANSION" \
       "USE_MULTI_LOOKUP=$USE_MULTI_LOOKUP USE_MODIFY_GRAPH=$USE_MODIFY_GRAPH"
}
