/* paylink-deposit: the deposit worker (see deposit.h). */
#include "deposit.h"

int main(int argc, char **argv)
{
    return pl_engine_main(&pl_deposit_spec, argc, argv);
}
