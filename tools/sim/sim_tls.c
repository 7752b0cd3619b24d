/*
 * sim_tls.c: test CA and server certificate generation with OpenSSL 3 (see sim_tls.h).
 *
 * EC P-256 keys: generation is instant and handshakes are cheaper than with RSA, which
 * matters when a load test opens hundreds of connections at once.
 */
#include "sim_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_DAYS 3650
#define PEM_MAX (64 * 1024)

static int crypto_fail(char *errstr, size_t errstr_size, const char *what)
{
    char detail[200] = "";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, detail, sizeof detail);
    ERR_clear_error();
    return pl_err_set(PL_ERR_STATE, errstr, errstr_size, "%s failed: %s", what, detail);
}

static bool file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p */
static int make_dirs(const char *dir, char *errstr, size_t errstr_size)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "state directory path too long");
    for (char *p = path + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return pl_err_set(PL_ERR_IO, errstr, errstr_size, "mkdir %s: %s", path,
                                  strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    return PL_OK;
}

/* Writes a memory BIO's bytes to dir/name through a temporary file and a rename. */
static int write_bio(const char *dir, const char *name, BIO *bio, mode_t mode, char *errstr,
                     size_t errstr_size)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid());
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "open %s: %s", tmp, strerror(errno));
    /* open() honours the umask; the key must be 0600 whatever it is. */
    int rc = PL_OK;
    if (fchmod(fd, mode) != 0) {
        rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "chmod %s: %s", tmp, strerror(errno));
        goto out;
    }
    for (long off = 0; off < len;) {
        ssize_t n = write(fd, data + off, (size_t)(len - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "write %s: %s", tmp, strerror(errno));
            goto out;
        }
        off += n;
    }
    if (fsync(fd) != 0) {
        rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "fsync %s: %s", tmp, strerror(errno));
        goto out;
    }
out:
    close(fd);
    if (rc == PL_OK && rename(tmp, path) != 0)
        rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "rename %s: %s", path, strerror(errno));
    if (rc != PL_OK)
        unlink(tmp);
    return rc;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/*
 * A certificate for key with subject CN=cn, O=paylink, signed by issuer_key (issuer NULL:
 * self-signed). Returns NULL on failure.
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       bool is_ca)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    if (!x || !serial)
        goto fail;
    if (!X509_set_version(x, X509_VERSION_3) ||
        !BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)))
        goto fail;
    /* An hour of slack for clocks that run behind. */
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), CA_DAYS, 0, NULL))
        goto fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"paylink", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(x, key))
        goto fail;

    X509 *iss = issuer ? issuer : x;
    if (is_ca) {
        if (add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
            add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
            add_ext(x, iss, NID_subject_key_identifier, "hash") < 0)
            goto fail;
    } else {
        if (add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
            add_ext(x, iss, NID_key_usage, "critical,digitalSignature") < 0 ||
            add_ext(x, iss, NID_ext_key_usage, "serverAuth") < 0 ||
            add_ext(x, iss, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1") < 0 ||
            add_ext(x, iss, NID_subject_key_identifier, "hash") < 0 ||
            add_ext(x, iss, NID_authority_key_identifier, "keyid:always") < 0)
            goto fail;
    }
    if (!X509_sign(x, issuer_key, EVP_sha256()))
        goto fail;
    BN_free(serial);
    return x;
fail:
    BN_free(serial);
    X509_free(x);
    return NULL;
}

static int generate(const char *dir, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    EVP_PKEY *ca_key = NULL, *srv_key = NULL;
    X509 *ca = NULL, *srv = NULL;
    BIO *ca_bio = NULL, *srv_bio = NULL, *key_bio = NULL;

    ca_key = EVP_EC_gen("P-256");
    srv_key = EVP_EC_gen("P-256");
    if (!ca_key || !srv_key) {
        rc = crypto_fail(errstr, errstr_size, "EC key generation");
        goto out;
    }
    ca = make_cert(ca_key, "paylink bureau simulator test CA", NULL, ca_key, true);
    srv = ca ? make_cert(srv_key, "localhost", ca, ca_key, false) : NULL;
    if (!srv) {
        rc = crypto_fail(errstr, errstr_size, "certificate signing");
        goto out;
    }
    ca_bio = BIO_new(BIO_s_mem());
    srv_bio = BIO_new(BIO_s_mem());
    key_bio = BIO_new(BIO_s_mem());
    if (!ca_bio || !srv_bio || !key_bio || !PEM_write_bio_X509(ca_bio, ca) ||
        !PEM_write_bio_X509(srv_bio, srv) ||
        !PEM_write_bio_PrivateKey(key_bio, srv_key, NULL, NULL, 0, NULL, NULL)) {
        rc = crypto_fail(errstr, errstr_size, "PEM encoding");
        goto out;
    }
    /* ca.pem last: its presence is what tells a later start that the set is complete. */
    rc = write_bio(dir, "server-key.pem", key_bio, 0600, errstr, errstr_size);
    if (rc == PL_OK)
        rc = write_bio(dir, "server.pem", srv_bio, 0644, errstr, errstr_size);
    if (rc == PL_OK)
        rc = write_bio(dir, "ca.pem", ca_bio, 0644, errstr, errstr_size);
out:
    BIO_free(ca_bio);
    BIO_free(srv_bio);
    /* BIO_free on a memory BIO does not clear it; the key's PEM text is wiped first. */
    if (key_bio) {
        char *data = NULL;
        long len = BIO_get_mem_data(key_bio, &data);
        if (data && len > 0)
            OPENSSL_cleanse(data, (size_t)len);
        BIO_free(key_bio);
    }
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(srv_key);
    return rc;
}

int pl_sim_tls_ensure(const char *dir, bool *generated, char *errstr, size_t errstr_size)
{
    if (generated)
        *generated = false;
    int rc = make_dirs(dir, errstr, errstr_size);
    if (rc < 0)
        return rc;
    if (file_exists(dir, "ca.pem") && file_exists(dir, "server.pem") &&
        file_exists(dir, "server-key.pem"))
        return PL_OK;
    rc = generate(dir, errstr, errstr_size);
    if (rc == PL_OK && generated)
        *generated = true;
    return rc;
}

static int read_file(const char *dir, const char *name, char **out, char *errstr,
                     size_t errstr_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "open %s: %s", path, strerror(errno));
    int rc = PL_OK;
    char *buf = malloc(PEM_MAX + 1);
    size_t len = 0;
    if (!buf) {
        rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, PEM_MAX - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == PEM_MAX) {
            rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "%s is too large", path);
            goto out;
        }
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    if (buf) {
        /* The key file's bytes must not linger in freed memory. */
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    close(fd);
    return rc;
}

int pl_sim_tls_load(const char *dir, char **cert_pem, char **key_pem, char *errstr,
                    size_t errstr_size)
{
    *cert_pem = *key_pem = NULL;
    int rc = read_file(dir, "server.pem", cert_pem, errstr, errstr_size);
    if (rc < 0)
        return rc;
    rc = read_file(dir, "server-key.pem", key_pem, errstr, errstr_size);
    if (rc < 0) {
        free(*cert_pem);
        *cert_pem = NULL;
    }
    return rc;
}
