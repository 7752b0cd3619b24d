#!/usr/bin/env bash
# paylinkctl bureau show / set / audit end to end (seed external-payment-service.txt, "External
# Service Settings": the prefix must begin with https, the Authentication Password's rule, and
# "changes that users make to external service settings are tracked"), and the REVXAHP
# conditions of paylinkctl svc reverse-unused on the pay types of migration 016. Checked in
# auth_service, external_service, auth_service_audit and its view auth_service_changes:
#   show prints the settings, secrets as their references only; a change of EXT is written and
#   audited with who, the old and the new value; a value set again changes and records nothing;
#   a non-https URL prefix or token URL, a weak password (behind its reference), a boolean that
#   is not true/false, ext.* on a CyberSource bureau, a value the database refuses: exit 2, the
#   value unchanged, no audit row, the password never printed; a bureau without External Service
#   Settings gets them when the four required ones come together (audited as an insert);
#   reverse-unused accepts a stored value pay type on EXT (or RLT) and refuses an unknown one,
#   a credit card one, one on a CyberSource bureau, one on an EXT bureau whose flag is off, and
#   the company's M25 netting pay type.
# The demo EXT bureau is changed only in its description (the workers' behaviour does not
# depend on it) and restored at the end; everything else happens on a bureau of this run's own,
# removed at the end.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

run=$(pl_uid)
who="e2e-$run"
clone="X${run: -7}" # an EXT bureau of this run's own (codes have at most 8 characters)
company=998         # pay types and company settings of this run live in a company of their own
pt_ext="E${run: -3}" pt_cc="C${run: -3}" pt_cyb="Y${run: -3}"
tmp=$(mktemp -d)
chmod 700 "$tmp"
weak_pw="weakpass1"  # letters and digits only, ends in a digit: breaks two of the seed's rules
strong_pw="Clone!pw-x$((RANDOM % 10))y"

ctl() { "$PL_CTL" bureau "$@"; }
# ctl_status ARGS...: runs bureau ARGS, output (stdout and stderr) in $out, exit status in $rc.
ctl_status() {
    rc=0
    out=$(ctl "$@" 2>&1) || rc=$?
}
ext_col() { pl_sql "SELECT $1 FROM external_service WHERE service_bureau = :'b'" b="${2:-EXT}"; }
audit_rows() { pl_sql "SELECT count(*) FROM auth_service_audit WHERE changed_by = :'w'" w="$who"; }
last_id() { pl_sql "SELECT coalesce(max(id), 0) FROM auth_service_audit"; }
secret_file() { # NAME CONTENT: a private file holding CONTENT
    (umask 077 && printf '%s\n' "$2" >"$tmp/$1")
}
# refused WHAT ARGS...: bureau ARGS exits 2 and changes nothing: no audit row at all.
refused() {
    local what=$1 before
    shift
    before=$(last_id)
    ctl_status "$@"
    assert_eq "$rc" 2 "$what: exit status"
    assert_eq "$(last_id)" "$before" "$what: no audit row"
}

orig_desc=$(pl_sql "SELECT description FROM auth_service WHERE service_bureau = 'EXT'")
orig_prefix=$(ext_col url_prefix)
orig_token=$(ext_col token_url)
orig_ref=$(ext_col auth_password_ref)
cleanup() {
    pl_sql "DELETE FROM company_setting WHERE company = $company;
            DELETE FROM pay_type WHERE company = $company;
            DELETE FROM auth_service WHERE service_bureau = :'c'" c="$clone" >/dev/null
    "$PL_CTL" bureau set EXT --by "$who" description="$orig_desc" >/dev/null 2>&1
    rm -rf "$tmp"
}
pl_on_exit cleanup

# ---- show: the settings, secrets as references --------------------------------------------------
ctl_status show EXT
assert_eq "$rc" 0 "show EXT: exit status"
show=$out
assert_contains "$show" "protocol=EXT" "show EXT"
assert_contains "$show" "ext.url_prefix=$PAYLINK_SIM_URL/ext" "show EXT"
assert_contains "$show" "ext.token_url=$PAYLINK_SIM_URL/ext/oauth2/token" "show EXT"
assert_contains "$show" "ext.message_version=3.0" "show EXT"
assert_contains "$show" "ext.enabled=true" "show EXT"
assert_contains "$show" "ext.auth_password_ref=file-env:PAYLINK_EXT_CLIENT_SECRET_FILE" "show EXT"
assert_contains "$show" "supports_auth_resubmission=false" "show EXT"
ctl_status show CYB
assert_contains "$out" "secret_ref=file-env:PAYLINK_CYB_TRANSACTION_KEY_FILE" "show CYB"
assert_not_contains "$out" "$(cat "$PAYLINK_CYB_TRANSACTION_KEY_FILE")" "show CYB (the key itself)"
assert_eq "$(grep -c '^ext\.' <<<"$out" || true)" 0 "show CYB: no External Service Settings"
refused "show of an unknown bureau" show "Q${run: -7}"

# ---- set a field of EXT: written and audited with who, old and new --------------------------------
new_desc="External Payment Service ($run)"
ctl_status set EXT --by "$who" description="$new_desc"
assert_eq "$rc" 0 "set EXT description: exit status"
assert_contains "$out" "EXT description: $orig_desc -> $new_desc" "set's report"
assert_eq "$(pl_sql "SELECT description FROM auth_service WHERE service_bureau = 'EXT'")" \
    "$new_desc" "auth_service.description"
assert_eq "$(pl_sql "SELECT table_name || '|' || action || '|' || old_value || '|' || new_value
    FROM auth_service_audit WHERE changed_by = :'w' AND service_bureau = 'EXT'" w="$who")" \
    "auth_service|update|$orig_desc|$new_desc" "the audit row: table, action, old, new"
assert_eq "$(pl_sql "SELECT setting || '|' || changed_by FROM auth_service_changes
    WHERE changed_by = :'w' LIMIT 1" w="$who")" "description|$who" "auth_service_changes"
ctl_status audit EXT --limit 5
assert_contains "$out" "description" "bureau audit EXT"
assert_contains "$out" "by $who: $orig_desc -> $new_desc" "bureau audit EXT"

# The same value again: nothing changes, nothing is recorded.
n=$(audit_rows)
ctl_status set EXT --by "$who" description="$new_desc" ext.message_version=3.0
assert_eq "$rc" 0 "setting the same values: exit status"
assert_contains "$out" "nothing changed" "setting the same values"
assert_eq "$(audit_rows)" "$n" "setting the same values records nothing"

# ---- refused: nothing written, nothing recorded -------------------------------------------------------
refused "a non-https URL prefix" set EXT --by "$who" ext.url_prefix="http://${PAYLINK_SIM_URL#https://}/ext"
assert_contains "$out" "ext.url_prefix: must begin with https://" "the refusal"
assert_eq "$(ext_col url_prefix)" "$orig_prefix" "external_service.url_prefix unchanged"

# With a valid change beside it: the whole command is refused.
refused "a non-https token URL" set EXT --by "$who" description="not $run" \
    ext.token_url="http://${PAYLINK_SIM_URL#https://}/ext/oauth2/token"
assert_contains "$out" "ext.token_url: must begin with https://" "the refusal"
assert_eq "$(ext_col token_url)" "$orig_token" "external_service.token_url unchanged"
assert_eq "$(pl_sql "SELECT description FROM auth_service WHERE service_bureau = 'EXT'")" \
    "$new_desc" "the description beside it unchanged"

secret_file weak "$weak_pw"
refused "a weak password" set EXT --by "$who" ext.auth_password_ref="file:$tmp/weak"
assert_contains "$out" "is refused: no special (non-alphanumeric) character, ends in a digit" \
    "the refusal"
assert_not_contains "$out" "$weak_pw" "the refusal (the password)"
assert_eq "$(ext_col auth_password_ref)" "$orig_ref" "external_service.auth_password_ref unchanged"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_service_audit
    WHERE old_value LIKE '%' || :'p' || '%' OR new_value LIKE '%' || :'p' || '%'" p="$weak_pw")" \
    0 "no audit row holds the password"

refused "a password that is no reference" set EXT --by "$who" ext.auth_password_ref="$strong_pw"
assert_not_contains "$out" "$strong_pw" "the refusal (the password)"
refused "a boolean that is not true or false" set EXT --by "$who" ext.enabled=yes
refused "version 2.0" set EXT --by "$who" ext.message_version=2.0
refused "a field that is not a setting" set EXT --by "$who" protocol=CYB
refused "ext.* on a CyberSource bureau" set CYB --by "$who" ext.enabled=true
assert_contains "$out" "protocol CYB" "the refusal"
# A change that leaves the bureau no URL to send to, or no secret to sign with: every call
# would fail, so it is refused whatever fields it names.
cyb_row() { pl_sql "SELECT test_url || '|' || production_url || '|' || send_to_production || '|' || secret_ref FROM auth_service WHERE service_bureau = 'CYB'"; }
cyb_before=$(cyb_row)
refused "the test URL blanked while it is in use" set CYB --by "$who" test_url=
assert_contains "$out" "test_url would be blank" "the refusal"
refused "production with a blank production URL" set CYB --by "$who" send_to_production=true production_url=
assert_contains "$out" "production_url would be blank" "the refusal"
refused "a CyberSource bureau without its secret" set CYB --by "$who" secret_ref=
assert_contains "$out" "secret_ref would be blank" "the refusal"
# A proxy port without its host: the calls would have gone direct, past the proxy meant.
refused "a proxy port without a proxy host" set CYB --by "$who" proxy_port=3128
assert_contains "$out" "proxy_port without proxy_host" "the refusal"
assert_eq "$(pl_sql "SELECT coalesce(proxy_port::text, '-') FROM auth_service WHERE service_bureau = 'CYB'")" - \
    "CYB has no proxy port"
assert_eq "$(cyb_row)" "$cyb_before" "CYB unchanged"
refused "an unknown bureau" set "Q${run: -7}" --by "$who" description=x
refused "a change without --by" set EXT description=x
assert_eq "$(audit_rows)" "$n" "nothing refused was recorded"

# ---- a bureau without External Service Settings gets them --------------------------------------------
pl_sql "INSERT INTO auth_service (service_bureau, description, protocol)
        VALUES (:'c', 'e2e External Payment Service', 'EXT')" c="$clone" >/dev/null
refused "External Service Settings without all required fields" \
    set "$clone" --by "$who" ext.url_prefix="https://ext.example/$run"
assert_contains "$out" "give ext.url_prefix, ext.auth_user, ext.auth_password_ref and ext.token_url together" \
    "the refusal"
secret_file strong "$strong_pw"
ctl_status set "$clone" --by "$who" ext.url_prefix="https://ext.example/$run" \
    ext.auth_user="clone_$run" ext.auth_password_ref="file:$tmp/strong" \
    ext.token_url="https://ext.example/$run/oauth2/token"
assert_eq "$rc" 0 "the first External Service Settings: exit status"
assert_not_contains "$out" "$strong_pw" "set's report (the password)"
assert_eq "$(pl_sql "SELECT string_agg(field || '=' || new_value, ',' ORDER BY field)
    FROM auth_service_audit WHERE service_bureau = :'c' AND changed_by = :'w' AND action = 'insert'" \
    c="$clone" w="$who")" \
    "auth_password_ref=file:$tmp/strong,auth_user=clone_$run,enabled=false,message_version=3.0,token_url=https://ext.example/$run/oauth2/token,url_prefix=https://ext.example/$run" \
    "audited as an insert: the reference, never the password; the flag off, version 3.0"
assert_eq "$(pl_sql "SELECT count(*) FROM auth_service_audit
    WHERE old_value LIKE '%' || :'p' || '%' OR new_value LIKE '%' || :'p' || '%'" p="$strong_pw")" \
    0 "no audit row holds the password"

ctl_status set "$clone" --by "$who" ext.url_prefix="https://ext2.example/$run"
assert_eq "$rc" 0 "changing the URL prefix: exit status"
assert_eq "$(pl_sql "SELECT old_value || ' -> ' || new_value FROM auth_service_changes
    WHERE service_bureau = :'c' AND setting = 'ext.url_prefix' AND action = 'update'" c="$clone")" \
    "https://ext.example/$run -> https://ext2.example/$run" "auth_service_changes: ext.url_prefix"
assert_eq "$(ext_col url_prefix "$clone")" "https://ext2.example/$run" "external_service.url_prefix"
ctl_status show "$clone"
assert_contains "$out" "ext.auth_password_ref=file:$tmp/strong" "show of the new bureau"
assert_not_contains "$out" "$strong_pw" "show of the new bureau (the password)"

# A value the database refuses (a web service user needs a secret_ref): exit 2, nothing recorded.
refused "a value the database refuses" set "$clone" --by "$who" ws_user=someone
assert_contains "$out" "refused the values" "the refusal"

# ---- REVXAHP: which pay types reverse-unused accepts ----------------------------------------------------
revx() { # PAY_TYPE [COMPANY]: rc and out of a dry run
    rc=0
    out=$("$PL_CTL" svc reverse-unused --company "${2:-$company}" --pay-type "$1" --dry-run 2>&1) ||
        rc=$?
}
pl_sql "INSERT INTO pay_type (company, pay_type, kind, service_bureau) VALUES
        ($company, :'e', 'SVC', :'c'), ($company, :'cc', 'CC', 'EXT'), ($company, :'y', 'SVC', 'CYB')" \
    e="$pt_ext" cc="$pt_cc" y="$pt_cyb" c="$clone" >/dev/null
revx GE 1
assert_eq "$rc" 0 "the demo's stored value pay type on EXT is accepted"
revx GC 1
assert_eq "$rc" 0 "the demo's stored value pay type on RLT is accepted"
revx "Z${run: -3}"
assert_eq "$rc" 1 "an unknown pay type: exit status"
assert_contains "$out" "is not a pay type of company $company" "an unknown pay type"
revx "$pt_cc"
assert_contains "$out" "credit card pay type" "a credit card pay type"
revx "$pt_cyb"
assert_contains "$out" "not to the External Payment Service" "a pay type on CyberSource"
revx "$pt_ext"
assert_eq "$rc" 1 "a pay type on an EXT bureau whose flag is off: exit status"
assert_contains "$out" "External Service flag is off" "a pay type on an EXT bureau whose flag is off"
ctl_status set "$clone" --by "$who" ext.enabled=true
assert_eq "$rc" 0 "the flag on: exit status"
revx "$pt_ext"
assert_eq "$rc" 0 "with the flag on, the pay type is accepted"
pl_sql "INSERT INTO company_setting (company, m25_netting_pay_type) VALUES ($company, :'e')" \
    e="$pt_ext" >/dev/null
revx "$pt_ext"
assert_eq "$rc" 1 "the M25 netting pay type: exit status"
assert_contains "$out" "Default Auth Code for CC Netting" "the M25 netting pay type"

# ---- the password never reached a log -------------------------------------------------------------
assert_logs_clean "$weak_pw"
assert_logs_clean "$strong_pw"
