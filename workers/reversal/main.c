/* paylink-reversal: the authorization reversal worker (see reversal.h). */
#include "reversal.h"

int main(int argc, char **argv)
{
    return pl_engine_main(&pl_reversal_spec, argc, argv);
}
