/* paylink-auth: the authorization worker (see auth.h). */
#include "auth.h"

int main(int argc, char **argv)
{
    return pl_engine_main(&pl_auth_spec, argc, argv);
}
