# tools/bench/lib.sh: what the benchmark scripts share (sourced; PROG names the script in errors).

die() {
    printf '%s: error: %s\n' "${PROG:-bench}" "$*" >&2
    exit 2
}

# whole OPTION VALUE [MIN=1]: VALUE is a whole number of at least MIN.
whole() {
    if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < ${3:-1})); then
        die "$1 expects a whole number of at least ${3:-1}, not '$2'"
    fi
}

# worker_name W: W is a worker the benchmark drives.
worker_name() {
    case $1 in
    auth | deposit | reversal | svc) ;;
    *) die "--worker: auth, deposit, reversal or svc" ;;
    esac
}
