/* ctlargs.c: a paylinkctl subcommand's options (see ctlargs.h). */
#include "ctlargs.h"

#include <string.h>

#include "err.h"

int pl_ctl_option_read(int argc, char **argv, int *a, const pl_ctl_option *opts, size_t n,
                       unsigned cmd, bool *seen, size_t repeatable, const char *prefix,
                       size_t *which, const char **value, char *errstr, size_t errstr_size)
{
    const char *arg = argv[*a], *eq = strchr(arg, '=');
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    size_t i = 0;
    while (i < n && !(strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0))
        i++;
    if (i == n || !(opts[i].cmds & cmd))
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%sunknown option (argument #%d)",
                          prefix, *a);
    if (seen[i] && i != repeatable)
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s given twice", opts[i].name);
    seen[i] = true;
    *which = i;
    *value = NULL;
    if (opts[i].takes_value) {
        if (eq)
            *value = eq + 1;
        else if (*a + 1 < argc)
            *value = argv[++*a];
        else
            return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s needs a value",
                              opts[i].name);
    } else if (eq) {
        return pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s takes no value", opts[i].name);
    }
    return PL_OK;
}
