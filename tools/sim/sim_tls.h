/*
 * sim_tls.h: the simulator's test certificate authority and server certificate.
 *
 * The simulator speaks HTTPS only, like the real bureaus, so the workers' TLS verification
 * is exercised rather than switched off. On first start it makes, in its state directory:
 *   ca.pem          a self-signed test CA (EC P-256, SHA-256, 10 years) — what clients trust
 *                   (PAYLINK_SIM_CA);
 *   server.pem      the server certificate for DNS:localhost and IP:127.0.0.1, signed by the CA;
 *   server-key.pem  its private key (mode 0600).
 * The CA's private key is never written: nothing else is ever signed with it. Files are
 * written to a temporary name and renamed, ca.pem last, so a reader never sees a half file.
 * Later starts reuse the three files. Uses OpenSSL 3 libcrypto. Any thread, but not two
 * processes on one directory at once.
 */
#ifndef PL_SIM_TLS_H
#define PL_SIM_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/*
 * Makes sure dir exists and holds the three files, generating all of them when any is
 * missing (a lone server certificate cannot be re-issued without the CA key).
 * *generated (may be NULL) tells whether new ones were made. Returns 0 or PL_ERR_IO /
 * PL_ERR_NOMEM / PL_ERR_STATE (a libcrypto failure) with a message.
 */
int pl_sim_tls_ensure(const char *dir, bool *generated, char *errstr,
                      size_t errstr_size) PL_MUSTCHECK;

/*
 * Reads dir/server.pem and dir/server-key.pem into NUL-terminated malloc'd strings (caller
 * frees; wipe the key with pl_card_wipe before freeing). Returns 0, PL_ERR_IO or NOMEM.
 */
int pl_sim_tls_load(const char *dir, char **cert_pem, char **key_pem, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

#endif
