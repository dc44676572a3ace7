#!/bin/sh
# Fuzz csrc/pf_frame.c (PF_FUZZ_TARGET=frame, the default) or csrc/pf_proxy.c
# (PF_FUZZ_TARGET=proxy).
#   fuzz/run.sh libfuzzer [SECONDS] [libFuzzer args...]  clang, ASan+UBSan
#   fuzz/run.sh standalone [SECONDS] [SEED]              gcc driver, ASan+UBSan
# Work dir: $PF_FUZZ_DIR (default /tmp/pf_fuzz_TARGET). libFuzzer grows a copy
# of the target's corpus (fuzz/corpus, fuzz/corpus_proxy) there (new
# interesting inputs land in $PF_FUZZ_DIR/corpus; copy small ones back if
# they add coverage).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-standalone}
secs=${2:-60}
target=${PF_FUZZ_TARGET:-frame}
case $target in
frame) seeds="$here/fuzz/corpus" ;;
proxy) seeds="$here/fuzz/corpus_proxy" ;;
*) echo "PF_FUZZ_TARGET: frame or proxy, not $target" >&2; exit 2 ;;
esac
work=${PF_FUZZ_DIR:-/tmp/pf_fuzz_$target}
mkdir -p "$work/corpus"
cp -n "$seeds"/* "$work/corpus/" 2>/dev/null || true
flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-sanitize-recover=all -I$here/csrc"
srcs="$here/csrc/pf_$target.c $here/fuzz/fuzz_$target.c"
[ "$target" = frame ] && srcs="$srcs $here/csrc/pf_buf.c"
case $mode in
libfuzzer)
    shift 2 2>/dev/null || shift $#
    ${CLANG:-clang} $flags -DPF_LIBFUZZER -fsanitize=fuzzer,address,undefined \
        $srcs -o "$work/fuzz_${target}_lf"
    cd "$work"
    exec ./fuzz_${target}_lf -max_total_time="$secs" -max_len=4096 \
        -print_final_stats=1 "$@" corpus
    ;;
standalone)
    seed=${3:-$(date +%s)}
    ${CC:-gcc} $flags -fsanitize=address,undefined $srcs -o "$work/fuzz_$target"
    cd "$work"
    if [ "$target" = frame ]; then
        exec ./fuzz_frame -t "$secs" -s "$seed" "$seeds"
    fi
    exec ./fuzz_proxy -t "$secs" -s "$seed" "$seeds"/*
    ;;
*)
    echo "usage: $0 libfuzzer|standalone [SECONDS] [...]" >&2
    exit 2
    ;;
esac
