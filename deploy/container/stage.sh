#!/bin/sh
# stage.sh: what the paylink images ship, decided in one place (deploy/container/Containerfile
# runs it in its build stage; tests/deploy/test_containerfile.sh runs it against a local build
# and checks the result, so the production image cannot quietly gain a tool it must not have).
#
#   stage.sh targets SOURCE_DIR
#       the CMake targets to build: every worker (paylink-<w> for each workers/<w>/main.c),
#       paylinkctl and the bureau simulator
#   stage.sh install BUILD_DIR SOURCE_DIR OUT_DIR
#       OUT_DIR/production/  the workers, paylinkctl and the migrations, laid out as installed
#                            (/usr/local/bin, /usr/local/share/paylink/migrations): all that the
#                            production image copies
#       OUT_DIR/sim/         the bureau simulator alone, for the simulator image (local stack,
#                            tests). Production points at the real bureaus, and the dev broker
#                            (paylink-devbroker) is not staged at all.
set -eu

workers() {
    for d in "$1"/workers/*/; do
        if [ -f "$d/main.c" ]; then
            echo "paylink-$(basename "$d")"
        fi
    done
}

case "${1:-}" in
targets)
    [ $# -eq 2 ] || { echo "usage: $0 targets SOURCE_DIR" >&2; exit 2; }
    echo $(workers "$2") paylinkctl paylink-bureau-sim
    ;;
install)
    [ $# -eq 4 ] || { echo "usage: $0 install BUILD_DIR SOURCE_DIR OUT_DIR" >&2; exit 2; }
    build=$2 src=$3 out=$4
    install -d "$out/production/usr/local/bin" "$out/production/usr/local/share/paylink" \
        "$out/sim/usr/local/bin"
    for t in $(workers "$src") paylinkctl; do
        install -m 0755 "$build/$t" "$out/production/usr/local/bin/"
    done
    install -d "$out/production/usr/local/share/paylink/migrations"
    install -m 0644 "$src"/schema/migrations/*.sql "$out/production/usr/local/share/paylink/migrations/"
    install -m 0755 "$build/paylink-bureau-sim" "$out/sim/usr/local/bin/"
    ;;
*)
    echo "usage: $0 targets SOURCE_DIR | install BUILD_DIR SOURCE_DIR OUT_DIR" >&2
    exit 2
    ;;
esac
