/* paylink-svc: the stored value card worker (see svc.h). */
#include "svc.h"

int main(int argc, char **argv)
{
    return pl_engine_main(&pl_svc_spec, argc, argv);
}
