/* paylink-dmupdate: the Decision Manager update (see dmupdate.h). */
#include "dmupdate.h"

int main(int argc, char **argv)
{
    return pl_dmupdate_main(argc, argv);
}
