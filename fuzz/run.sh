#!/bin/sh
# Fuzz csrc/pf_frame.c.
#   fuzz/run.sh libfuzzer [SECONDS] [libFuzzer args...]  clang, ASan+UBSan
#   fuzz/run.sh standalone [SECONDS] [SEED]              gcc driver, ASan+UBSan
# Work dir: $PF_FUZZ_DIR (default /tmp/pf_fuzz_frame). libFuzzer grows a copy
# of fuzz/corpus there (new interesting inputs land in $PF_FUZZ_DIR/corpus;
# copy small ones back to fuzz/corpus if they add coverage).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-standalone}
secs=${2:-60}
work=${PF_FUZZ_DIR:-/tmp/pf_fuzz_frame}
mkdir -p "$work/corpus"
cp -n "$here"/fuzz/corpus/* "$work/corpus/" 2>/dev/null || true
flags="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -fno-sanitize-recover=all -I$here/csrc"
srcs="$here/csrc/pf_frame.c $here/csrc/pf_buf.c $here/fuzz/fuzz_frame.c"
case $mode in
libfuzzer)
    shift 2 2>/dev/null || shift $#
    ${CLANG:-clang} $flags -DPF_LIBFUZZER -fsanitize=fuzzer,address,undefined \
        $srcs -o "$work/fuzz_frame_lf"
    cd "$work"
    exec ./fuzz_frame_lf -max_total_time="$secs" -max_len=4096 \
        -print_final_stats=1 "$@" corpus
    ;;
standalone)
    seed=${3:-$(date +%s)}
    ${CC:-gcc} $flags -fsanitize=address,undefined $srcs -o "$work/fuzz_frame"
    cd "$work"
    exec ./fuzz_frame -t "$secs" -s "$seed" "$here/fuzz/corpus"
    ;;
*)
    echo "usage: $0 libfuzzer|standalone [SECONDS] [...]" >&2
    exit 2
    ;;
esac
