/*
 * ctlargs.h: the options of a paylinkctl subcommand ("--name value" or "--name=value"), as
 * `paylinkctl wreq|order|stats|dlq` (opsctl.c) and `paylinkctl svc` (svcctl.c) read them.
 *
 * A subcommand describes its options in a table of pl_ctl_option, each with the subcommands it
 * belongs to, and reads each argument that begins with "--" with pl_ctl_option_read, which
 * finds it, refuses one given twice, and takes its value. Pure functions.
 */
#ifndef PL_CTLARGS_H
#define PL_CTLARGS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pl_ctl_option {
    const char *name; /* "--name" */
    unsigned cmds;    /* the subcommands it belongs to, one bit each (the caller's numbering) */
    bool takes_value;
} pl_ctl_option;

/*
 * Reads argv[*a] as one of the options opts[0..n) of the subcommand whose bit is cmd: its index
 * in *which and its value in *value (after its '=', or the next argument, *a then moved past it;
 * NULL for an option without a value). seen (n flags) marks what was read; an option read
 * before is refused unless its index is `repeatable` (n: none). Returns PL_OK, or
 * PL_ERR_INVALID with errstr set: "<prefix>unknown option (argument #N)" (never echoed: a stray
 * argument may be a card number), "--x given twice", "--x needs a value", "--x takes no value".
 * prefix may be "".
 */
int pl_ctl_option_read(int argc, char **argv, int *a, const pl_ctl_option *opts, size_t n,
                       unsigned cmd, bool *seen, size_t repeatable, const char *prefix,
                       size_t *which, const char **value, char *errstr, size_t errstr_size);

#endif
