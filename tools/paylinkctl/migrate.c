/*
 * migrate.c: lists, checks and applies the numbered SQL migrations (see migrate.h).
 *
 * The rules that protect a database: files are ordered by their number, not by their name
 * (so 10 comes after 9 even without zero padding); an applied file whose bytes changed stops
 * everything before anything is applied; each file and its schema_migrations row commit
 * together, so a failed file leaves no trace and the next run retries it.
 */
#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

/* One row of schema_migrations. */
typedef struct applied_row {
    int version;
    char name[128];
    char checksum[65];
    char applied_at[40];
} applied_row;

typedef struct applied_list {
    applied_row *v;
    size_t n;
} applied_list;

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

int pl_migrate_parse_filename(const char *file, int *version, char *name, size_t namesize)
{
    size_t len = strlen(file);
    if (file[0] == '.' || len < 4 || strcmp(file + len - 4, ".sql") != 0)
        return PL_ERR_NOTFOUND;

    size_t i = 0;
    long v = 0;
    while (file[i] >= '0' && file[i] <= '9') {
        /* Nine digits are plenty and keep v far below INT_MAX. */
        if (i == 9)
            return PL_ERR_INVALID;
        v = v * 10 + (file[i] - '0');
        i++;
    }
    if (i == 0 || v == 0 || file[i] != '_')
        return PL_ERR_INVALID;
    i++;

    size_t name_len = len - 4 - i;
    if (name_len == 0 || name_len >= namesize)
        return PL_ERR_INVALID;
    for (size_t k = 0; k < name_len; k++) {
        if (!is_name_char(file[i + k]))
            return PL_ERR_INVALID;
    }
    memcpy(name, file + i, name_len);
    name[name_len] = '\0';
    *version = (int)v;
    return PL_OK;
}

int pl_migrate_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        return PL_ERR_NOMEM;
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < md_len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0x0f];
    }
    out[64] = '\0';
    return PL_OK;
}

int pl_migrate_read_file(const char *path, char **data, size_t *len, char *errstr,
                         size_t errstr_size)
{
    int rc = PL_OK;
    char *buf = NULL;
    size_t used = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "%s: %s", path, strerror(errno));

    for (;;) {
        if (cap - used < 4096 + 1) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "%s: out of memory", path);
                goto out;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (used > PL_MIGRATE_MAX_FILE) {
            rc = pl_err_set(PL_ERR_TOOBIG, errstr, errstr_size, "%s: larger than %u bytes", path,
                            PL_MIGRATE_MAX_FILE);
            goto out;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "%s: read error", path);
        goto out;
    }
    if (memchr(buf, '\0', used)) {
        rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s: contains a NUL byte", path);
        goto out;
    }
    buf[used] = '\0';
    *data = buf;
    *len = used;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int cmp_version(const void *a, const void *b)
{
    const pl_migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

void pl_migrate_list_free(pl_migration_list *list)
{
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

/* Fills m->path and m->checksum from the file's current bytes. */
static int checksum_file(pl_migration *m, char *errstr, size_t errstr_size)
{
    char *data = NULL;
    size_t len = 0;
    int rc = pl_migrate_read_file(m->path, &data, &len, errstr, errstr_size);
    if (rc == PL_OK) {
        rc = pl_migrate_sha256_hex(data, len, m->checksum);
        if (rc != PL_OK)
            pl_err_set(rc, errstr, errstr_size, "%s: checksum failed", m->path);
    }
    free(data);
    return rc;
}

int pl_migrate_scan(const char *dir, pl_migration_list *out, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    pl_migration_list list = {0};
    size_t cap = 0;
    out->v = NULL;
    out->n = 0;

    DIR *d = opendir(dir);
    if (!d)
        return pl_err_set(PL_ERR_IO, errstr, errstr_size, "migrations directory %s: %s", dir,
                          strerror(errno));

    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        pl_migration m;
        memset(&m, 0, sizeof m);
        int prc = pl_migrate_parse_filename(de->d_name, &m.version, m.name, sizeof m.name);
        if (prc == PL_ERR_NOTFOUND)
            continue;
        if (prc != PL_OK) {
            rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                            "%s/%s: not a migration name (expected NNN_name.sql, NNN > 0)", dir,
                            de->d_name);
            goto out;
        }
        int n1 = snprintf(m.file, sizeof m.file, "%s", de->d_name);
        int n2 = snprintf(m.path, sizeof m.path, "%s/%s", dir, de->d_name);
        if (n1 < 0 || (size_t)n1 >= sizeof m.file || n2 < 0 || (size_t)n2 >= sizeof m.path) {
            rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size, "%s/%s: path too long", dir,
                            de->d_name);
            goto out;
        }
        struct stat st;
        if (stat(m.path, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = pl_err_set(PL_ERR_IO, errstr, errstr_size, "%s: not a readable file", m.path);
            goto out;
        }
        rc = checksum_file(&m, errstr, errstr_size);
        if (rc != PL_OK)
            goto out;
        if (list.n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            pl_migration *nv = realloc(list.v, ncap * sizeof *nv);
            if (!nv) {
                rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
                goto out;
            }
            list.v = nv;
            cap = ncap;
        }
        list.v[list.n++] = m;
    }

    if (list.n > 1)
        qsort(list.v, list.n, sizeof *list.v, cmp_version);
    for (size_t i = 1; i < list.n; i++) {
        if (list.v[i].version == list.v[i - 1].version) {
            rc = pl_err_set(PL_ERR_INVALID, errstr, errstr_size,
                            "%s and %s have the same version %d", list.v[i - 1].file,
                            list.v[i].file, list.v[i].version);
            goto out;
        }
    }
    *out = list;
    list.v = NULL;
out:
    pl_migrate_list_free(&list);
    closedir(d);
    return rc;
}

/* ---- database side ---------------------------------------------------------------------- */

/* The message of a failed libpq call on one line (libpq ends it with a newline). */
static int db_error(PGconn *db, const PGresult *res, char *errstr, size_t errstr_size,
                    const char *what)
{
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(db);
    size_t len = strcspn(msg, "\n");
    return pl_err_set(PL_ERR_DB, errstr, errstr_size, "%s: %.*s", what, (int)len, msg);
}

/* Runs SQL without parameters that returns no rows of interest. */
static int db_run(PGconn *db, const char *sql, char *errstr, size_t errstr_size, const char *what)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = PL_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = db_error(db, res, errstr, errstr_size, what);
    PQclear(res);
    return rc;
}

static bool table_exists(PGconn *db, bool *exists, char *errstr, size_t errstr_size, int *rc)
{
    PGresult *res = PQexec(db, "SELECT to_regclass('public.schema_migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        *rc = db_error(db, res, errstr, errstr_size, "looking for schema_migrations");
        PQclear(res);
        return false;
    }
    *exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return true;
}

static void copy_field(char *dst, size_t dstsize, const char *src)
{
    size_t n = strnlen(src, dstsize - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Loads schema_migrations (empty when the table does not exist yet). */
static int load_applied(PGconn *db, applied_list *out, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    bool exists = false;
    out->v = NULL;
    out->n = 0;
    if (!table_exists(db, &exists, errstr, errstr_size, &rc))
        return rc;
    if (!exists)
        return PL_OK;

    PGresult *res = PQexec(db, "SELECT version, name, checksum,"
                               " to_char(applied_at AT TIME ZONE 'UTC',"
                               " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                               " FROM public.schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = db_error(db, res, errstr, errstr_size, "reading schema_migrations");
        goto out;
    }
    int n = PQntuples(res);
    if (n > 0) {
        out->v = calloc((size_t)n, sizeof *out->v);
        if (!out->v) {
            rc = pl_err_set(PL_ERR_NOMEM, errstr, errstr_size, "out of memory");
            goto out;
        }
    }
    for (int i = 0; i < n; i++) {
        applied_row *r = &out->v[i];
        /* version is an integer column (CHECK > 0), so strtol cannot see garbage here. */
        r->version = (int)strtol(PQgetvalue(res, i, 0), NULL, 10);
        copy_field(r->name, sizeof r->name, PQgetvalue(res, i, 1));
        copy_field(r->checksum, sizeof r->checksum, PQgetvalue(res, i, 2));
        copy_field(r->applied_at, sizeof r->applied_at, PQgetvalue(res, i, 3));
    }
    out->n = (size_t)n;
out:
    PQclear(res);
    return rc;
}

static const applied_row *find_applied(const applied_list *a, int version)
{
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].version == version)
            return &a->v[i];
    }
    return NULL;
}

static bool has_file(const pl_migration_list *files, int version)
{
    for (size_t i = 0; i < files->n; i++) {
        if (files->v[i].version == version)
            return true;
    }
    return false;
}

/* Returns the number of applied files whose checksum differs, printing each to out. */
static size_t report_changed(const pl_migration_list *files, const applied_list *applied, FILE *out)
{
    size_t changed = 0;
    for (size_t i = 0; i < files->n; i++) {
        const applied_row *r = find_applied(applied, files->v[i].version);
        if (r && strcmp(r->checksum, files->v[i].checksum) != 0) {
            fprintf(out, "CHANGED %s: applied %s with checksum %.12s…, the file now has %.12s…\n",
                    files->v[i].file, r->applied_at, r->checksum, files->v[i].checksum);
            changed++;
        }
    }
    return changed;
}

static int create_table(PGconn *db, char *errstr, size_t errstr_size)
{
    static const char sql[] =
        "BEGIN;"
        "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
        " version integer PRIMARY KEY CHECK (version > 0),"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(),"
        " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'));"
        "COMMENT ON TABLE public.schema_migrations IS"
        " 'Migrations of schema/migrations/ applied by paylinkctl migrate, one row per file.';"
        "COMMENT ON COLUMN public.schema_migrations.version IS"
        " 'NNN of the file NNN_name.sql; files apply in this order.';"
        "COMMENT ON COLUMN public.schema_migrations.name IS 'name of the file NNN_name.sql.';"
        "COMMENT ON COLUMN public.schema_migrations.applied_at IS 'When the file was applied.';"
        "COMMENT ON COLUMN public.schema_migrations.checksum IS"
        " 'SHA-256 (hex) of the file as applied; paylinkctl refuses to run when a file changed.';"
        "COMMIT";
    return db_run(db, sql, errstr, errstr_size, "creating schema_migrations");
}

/* Applies one file and records it, in one transaction. */
static int apply_one(PGconn *db, const pl_migration *m, char *errstr, size_t errstr_size)
{
    int rc = PL_OK;
    char *sql = NULL;
    size_t len = 0;
    char checksum[65];
    char version[16];
    bool in_tx = false;

    /*
     * Read the file again and record the checksum of exactly the bytes applied, so an edit
     * between the scan and now cannot be recorded under the old checksum.
     */
    rc = pl_migrate_read_file(m->path, &sql, &len, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;
    rc = pl_migrate_sha256_hex(sql, len, checksum);
    if (rc != PL_OK)
        goto out;
    snprintf(version, sizeof version, "%d", m->version);

    rc = db_run(db, "BEGIN", errstr, errstr_size, m->file);
    if (rc != PL_OK)
        goto out;
    in_tx = true;
    /* PQexec runs the whole file (many statements); trusted DDL from the repository. */
    rc = db_run(db, sql, errstr, errstr_size, m->file);
    if (rc != PL_OK)
        goto out;

    const char *params[3] = {version, m->name, checksum};
    PGresult *res = PQexecParams(db,
                                 "INSERT INTO public.schema_migrations (version, name, checksum)"
                                 " VALUES ($1::integer, $2, $3)",
                                 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = db_error(db, res, errstr, errstr_size, m->file);
    PQclear(res);
    if (rc != PL_OK)
        goto out;

    rc = db_run(db, "COMMIT", errstr, errstr_size, m->file);
    in_tx = false;
out:
    if (in_tx)
        PQclear(PQexec(db, "ROLLBACK"));
    free(sql);
    return rc;
}

int pl_migrate_apply(PGconn *db, const char *dir, FILE *out, char *errstr, size_t errstr_size)
{
    pl_migration_list files = {0};
    applied_list applied = {0};
    bool locked = false;

    int rc = pl_migrate_scan(dir, &files, errstr, errstr_size);
    if (rc != PL_OK)
        return rc;

    /* Notices of CREATE ... IF NOT EXISTS and the like are noise for an operator. */
    rc = db_run(db, "SET client_min_messages = warning", errstr, errstr_size, "setup");
    if (rc != PL_OK)
        goto out;
    rc = db_run(db, "SELECT pg_advisory_lock(" PL_MIGRATE_LOCK_KEY ")", errstr, errstr_size,
                "taking the migration lock");
    if (rc != PL_OK)
        goto out;
    locked = true;

    bool exists = false;
    if (!table_exists(db, &exists, errstr, errstr_size, &rc))
        goto out;
    if (!exists) {
        rc = create_table(db, errstr, errstr_size);
        if (rc != PL_OK)
            goto out;
    }
    rc = load_applied(db, &applied, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;

    size_t changed = report_changed(&files, &applied, out);
    if (changed > 0) {
        rc = pl_err_set(PL_ERR_STATE, errstr, errstr_size,
                        "%zu applied migration(s) changed since they ran; refusing to migrate "
                        "(add a new migration instead of editing an applied one)",
                        changed);
        goto out;
    }
    for (size_t i = 0; i < applied.n; i++) {
        if (!has_file(&files, applied.v[i].version))
            fprintf(out, "warning: applied migration %d (%s) has no file in %s\n",
                    applied.v[i].version, applied.v[i].name, dir);
    }

    size_t done = 0;
    for (size_t i = 0; i < files.n; i++) {
        if (find_applied(&applied, files.v[i].version))
            continue;
        rc = apply_one(db, &files.v[i], errstr, errstr_size);
        if (rc != PL_OK)
            goto out;
        fprintf(out, "applied %s\n", files.v[i].file);
        fflush(out);
        done++;
    }
    if (done == 0)
        fprintf(out, "schema is up to date (%zu migration(s) applied)\n", applied.n);
    else
        fprintf(out, "%zu migration(s) applied\n", done);
out:
    if (locked)
        PQclear(PQexec(db, "SELECT pg_advisory_unlock(" PL_MIGRATE_LOCK_KEY ")"));
    free(applied.v);
    pl_migrate_list_free(&files);
    return rc;
}

int pl_migrate_status(PGconn *db, const char *dir, FILE *out, char *errstr, size_t errstr_size)
{
    pl_migration_list files = {0};
    applied_list applied = {0};

    int rc = pl_migrate_scan(dir, &files, errstr, errstr_size);
    if (rc != PL_OK)
        return rc;
    rc = load_applied(db, &applied, errstr, errstr_size);
    if (rc != PL_OK)
        goto out;

    size_t changed = 0;
    fprintf(out, "%-8s %-32s %-8s %s\n", "version", "name", "state", "applied_at");
    for (size_t i = 0; i < files.n; i++) {
        const pl_migration *m = &files.v[i];
        const applied_row *r = find_applied(&applied, m->version);
        const char *state = "pending";
        if (r && strcmp(r->checksum, m->checksum) != 0) {
            state = "CHANGED";
            changed++;
        } else if (r) {
            state = "applied";
        }
        fprintf(out, "%-8d %-32s %-8s %s\n", m->version, m->name, state, r ? r->applied_at : "");
    }
    for (size_t i = 0; i < applied.n; i++) {
        if (!has_file(&files, applied.v[i].version))
            fprintf(out, "%-8d %-32s %-8s %s\n", applied.v[i].version, applied.v[i].name, "NOFILE",
                    applied.v[i].applied_at);
    }
    if (changed > 0)
        rc = pl_err_set(PL_ERR_STATE, errstr, errstr_size,
                        "%zu applied migration(s) changed since they ran", changed);
out:
    free(applied.v);
    pl_migrate_list_free(&files);
    return rc;
}
