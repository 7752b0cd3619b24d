#!/usr/bin/env bash
# test_containerfile.sh SOURCE_DIR BUILD_DIR: the production image holds the workers, paylinkctl
# and the migrations, and nothing else of ours: no bureau simulator, no dev broker, no compiler.
#
# No container engine is needed (none runs where the tests run). Two checks instead:
#  1. deploy/container/Containerfile, read stage by stage: the final stage (and the stages it
#     is built FROM) installs no compiler or -dev package, copies nothing from the build
#     context and from the build stage only /out/production/, names neither the simulator nor
#     the dev broker, and runs as a non-root numeric user; the build stage stages with
#     stage.sh.
#  2. deploy/container/stage.sh, run against this build tree: /out/production gets exactly
#     paylink-<w> for every workers/<w>/main.c, paylinkctl and the migrations.
#  3. Every shared library those executables name (their NEEDED entries) comes from a package
#     the final stage installs, or from libc6 (debian:12-slim's): an image whose programs
#     cannot start fails here (with dpkg, as on Debian; not checked for a sanitizer build,
#     whose runtime libraries no image ships).
set -euo pipefail
src=${1:?usage: test_containerfile.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: test_containerfile.sh SOURCE_DIR BUILD_DIR}
containerfile=$src/deploy/container/Containerfile
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

# ---- 1. the Containerfile ----------------------------------------------------------------------

# Joins continuation lines, drops comments; prints "<stage index> <instruction line>".
instructions() {
    sed -e 's/[[:space:]]*#.*$//' "$containerfile" |
        awk '{ if (sub(/\\[[:space:]]*$/, "")) { buf = buf $0 " "; next }
               line = buf $0; buf = ""; if (line ~ /^[[:space:]]*$/) next
               if (toupper(line) ~ /^[[:space:]]*FROM[[:space:]]/) n++
               print n, line }'
}
mapfile -t lines < <(instructions)
[ "${#lines[@]}" -gt 0 ] || { echo "FAIL: cannot read $containerfile" >&2; exit 1; }

declare -A stage_index stage_base
last=0
for l in "${lines[@]}"; do
    idx=${l%% *}
    inst=${l#* }
    if [[ ${inst^^} =~ ^[[:space:]]*FROM[[:space:]]+([^[:space:]]+)([[:space:]]+AS[[:space:]]+([^[:space:]]+))? ]]; then
        base=${BASH_REMATCH[1],,}
        name=${BASH_REMATCH[3],,}
        stage_base[$idx]=$base
        [ -n "$name" ] && stage_index[$name]=$idx
        last=$idx
    fi
done

# The final stage and every stage of this file it is built on.
chain=()
i=$last
while :; do
    chain+=("$i")
    base=${stage_base[$i]}
    [ -n "${stage_index[$base]:-}" ] || break
    i=${stage_index[$base]}
done
echo "final stage: ${chain[*]} (bases: $(for c in "${chain[@]}"; do printf '%s ' "${stage_base[$c]}"; done))"

in_chain() {
    local c
    for c in "${chain[@]}"; do [ "$c" = "$1" ] && return 0; done
    return 1
}

runtime_pkgs=" libc6 "
forbidden_pkg='(^|[[:space:]])(build-essential|gcc|g\+\+|cc|clang|cmake|make|pkg-config|valgrind|python3|libcmocka[^[:space:]]*|[^[:space:]]+-dev)([[:space:]]|$)'
user=""
copied_production=0
build_stage=${stage_index[build]:-}
[ -n "$build_stage" ] || fail "no stage named build"
for l in "${lines[@]}"; do
    idx=${l%% *}
    inst=${l#* }
    upper=${inst^^}
    if in_chain "$idx"; then
        if [[ $upper =~ ^[[:space:]]*RUN ]] && [[ $inst =~ apt-get[[:space:]].*install ]]; then
            pkgs=${inst#*install}
            for w in ${pkgs%%&&*}; do
                [[ $w == -* ]] || runtime_pkgs+="$w "
            done
            if [[ $pkgs =~ $forbidden_pkg ]]; then
                fail "the final image installs a build tool or -dev package: '${BASH_REMATCH[2]}'"
            fi
        fi
        if [[ $upper =~ ^[[:space:]]*(COPY|ADD) ]]; then
            if [[ $inst =~ --from=([^[:space:]]+)[[:space:]]+([^[:space:]]+)[[:space:]]+([^[:space:]]+) ]]; then
                if [ "${BASH_REMATCH[1],,}" != build ] || [ "${BASH_REMATCH[2]}" != /out/production/ ]; then
                    fail "the final image copies '${BASH_REMATCH[2]}' from '${BASH_REMATCH[1]}': only /out/production/ from build"
                else
                    copied_production=1
                fi
            else
                fail "the final image copies from the build context: $inst"
            fi
        fi
        if [[ $inst =~ (bureau-sim|devbroker|/out/sim) ]]; then
            fail "the final image names ${BASH_REMATCH[1]}: $inst"
        fi
        if [[ $upper =~ ^[[:space:]]*USER[[:space:]] ]] &&
            [[ $inst =~ ^[[:space:]]*[^[:space:]]+[[:space:]]+([^[:space:]]+) ]]; then
            user=${BASH_REMATCH[1]}
        fi
    fi
    if [ "$idx" = "$build_stage" ] && [[ $upper =~ ^[[:space:]]*RUN ]] &&
        [[ $inst == *"stage.sh install /build /src /out"* ]]; then
        staged=1
    fi
done
[ "$copied_production" = 1 ] && pass "the final stage copies /out/production/ from build" ||
    fail "the final stage does not copy /out/production/ from the build stage"
[ "${staged:-0}" = 1 ] && pass "the build stage stages with stage.sh" ||
    fail "the build stage does not run 'stage.sh install /build /src /out'"
if [[ $user =~ ^([0-9]+)(:([0-9]+))?$ ]] && [ "${BASH_REMATCH[1]}" != 0 ] &&
    [ "${BASH_REMATCH[3]:-1}" != 0 ]; then
    pass "the final image runs as $user"
else
    fail "the final image must end with USER <non-zero uid>:<gid> (numeric, for runAsNonRoot), not '${user:-none}'"
fi

# ---- 2. stage.sh against this build ---------------------------------------------------------

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
if ! sh "$src/deploy/container/stage.sh" install "$build" "$src" "$out" >"$out/log" 2>&1; then
    cat "$out/log" >&2
    fail "stage.sh install failed (are the workers, paylinkctl and paylink-bureau-sim built?)"
else
    want=$(
        for d in "$src"/workers/*/; do
            [ -f "$d/main.c" ] && echo "usr/local/bin/paylink-$(basename "$d")"
        done
        echo usr/local/bin/paylinkctl
        for f in "$src"/schema/migrations/*.sql; do
            echo "usr/local/share/paylink/migrations/$(basename "$f")"
        done
    )
    got=$(cd "$out/production" && find . -type f | sed 's|^\./||')
    if [ "$(sort <<<"$want")" = "$(sort <<<"$got")" ]; then
        pass "production holds exactly: $(tr '\n' ' ' <<<"$want" | sed 's|usr/local/share/paylink/migrations/[^ ]* ||g')+ the migrations"
    else
        fail "production tree differs from what it must hold:"
        diff <(sort <<<"$want") <(sort <<<"$got") >&2 || true
    fi
    if [ "$(cd "$out/sim" && find . -type f)" = ./usr/local/bin/paylink-bureau-sim ]; then
        pass "the simulator is staged apart, alone"
    else
        fail "the simulator tree holds more than paylink-bureau-sim"
    fi
    # ---- 3. the shared libraries of what is staged ----
    if ! command -v dpkg >/dev/null || ! command -v readelf >/dev/null; then
        echo "note: no dpkg or readelf here: the libraries the executables need are not checked"
    else
        for exe in "$out"/production/usr/local/bin/*; do
            needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
            if grep -qE '^lib(asan|ubsan)\.' <<<"$needed"; then
                echo "note: $(basename "$exe") is a sanitizer build: its libraries are not checked"
                continue
            fi
            missing=""
            for lib in $needed; do
                pkgs=$(dpkg -S "*/$lib" 2>/dev/null | cut -d: -f1 | tr ', ' '\n\n' | sort -u)
                ok=0
                for p in $pkgs; do
                    [[ $runtime_pkgs == *" $p "* ]] && ok=1
                done
                [ "$ok" = 1 ] || missing+="$lib (${pkgs//$'\n'/ }) "
            done
            if [ -z "$missing" ]; then
                pass "$(basename "$exe"): every library it needs is installed: $(tr '\n' ' ' <<<"$needed")"
            else
                fail "$(basename "$exe") needs what the final image does not install: $missing(installs:$runtime_pkgs)"
            fi
        done
    fi
    targets=$(sh "$src/deploy/container/stage.sh" targets "$src")
    [[ " $targets " == *" paylinkctl "* && " $targets " == *" paylink-bureau-sim "* &&
        " $targets " != *"devbroker"* ]] && pass "targets: $targets" ||
        fail "stage.sh targets: '$targets'"
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "all checks passed"
