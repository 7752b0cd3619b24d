/*
 * migrate.h: the numbered SQL migrations of schema/migrations/ and `paylinkctl migrate`.
 *
 * A migration is a file NNN_name.sql (NNN: decimal digits, the version; name: letters, digits,
 * '_', '-', '.'). Files are applied in numeric version order, each in its own transaction, and
 * recorded in public.schema_migrations (version, name, applied_at, checksum = SHA-256 of the
 * file's bytes, lowercase hex). An applied file whose bytes changed is refused: a migration
 * that already ran must never be edited, only followed by a new one. Migrations are trusted
 * DDL files from the repository and must not contain BEGIN/COMMIT of their own.
 *
 * Concurrency: pl_migrate_apply holds a session-level advisory lock (PL_MIGRATE_LOCK_KEY)
 * while it reads and writes schema_migrations, so two migrates at once are safe: the second
 * waits, then finds everything applied.
 *
 * Memory: pl_migrate_scan fills a caller-owned pl_migration_list that pl_migrate_list_free
 * releases. Everything else uses caller buffers. Single-threaded (a CLI).
 */
#ifndef PL_MIGRATE_H
#define PL_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "err.h"

/* The advisory lock key: the ASCII bytes of "paylink" as a bigint. */
#define PL_MIGRATE_LOCK_KEY "31632371529379435"

/* Largest migration file accepted (a size cap, not a real limit of the schema). */
#define PL_MIGRATE_MAX_FILE (16u * 1024u * 1024u)

typedef struct pl_migration {
    int version;       /* NNN of NNN_name.sql */
    char name[128];    /* name of NNN_name.sql */
    char file[160];    /* the file name itself */
    char path[4096];   /* directory + file name */
    char checksum[65]; /* SHA-256 of the bytes, hex */
} pl_migration;

typedef struct pl_migration_list {
    pl_migration *v; /* sorted by version, ascending; versions are unique */
    size_t n;
} pl_migration_list;

/*
 * Parses a migration file name. Returns 0 with *version and name filled for NNN_name.sql;
 * PL_ERR_NOTFOUND for a file that is not meant as a migration (no ".sql" suffix, or hidden:
 * starting with '.'), which callers skip; PL_ERR_INVALID for a ".sql" file whose name does not
 * follow the pattern (version 0, no digits, no name, bad characters), which callers refuse,
 * because a misnamed migration silently not running is worse than an error.
 */
int pl_migrate_parse_filename(const char *file, int *version, char *name,
                              size_t namesize) PL_MUSTCHECK;

/* SHA-256 of len bytes as 64 lowercase hex characters + NUL in out. Returns 0 or PL_ERR_NOMEM. */
int pl_migrate_sha256_hex(const void *data, size_t len, char out[65]) PL_MUSTCHECK;

/*
 * Reads a whole file into a malloc'd NUL-terminated buffer (*data, *len without the NUL),
 * refusing files over PL_MIGRATE_MAX_FILE and files containing NUL bytes (PQexec would cut
 * them short). Returns 0, PL_ERR_IO, PL_ERR_TOOBIG, PL_ERR_INVALID or PL_ERR_NOMEM.
 */
int pl_migrate_read_file(const char *path, char **data, size_t *len, char *errstr,
                         size_t errstr_size) PL_MUSTCHECK;

/*
 * Lists the migrations of dir: parses every file name, computes checksums, sorts by version.
 * Returns 0 (an empty directory is a valid, empty list), or PL_ERR_IO (dir unreadable),
 * PL_ERR_INVALID (a misnamed .sql file, or two files with one version), PL_ERR_NOMEM.
 * On error *out is left empty.
 */
int pl_migrate_scan(const char *dir, pl_migration_list *out, char *errstr,
                    size_t errstr_size) PL_MUSTCHECK;

/* Frees the list's array; safe on a zeroed list and twice. */
void pl_migrate_list_free(pl_migration_list *list);

/*
 * Applies the pending migrations of dir to db, printing one line per applied file to out.
 * Creates public.schema_migrations when missing. Refuses (PL_ERR_STATE, nothing applied) when
 * an applied migration's checksum differs from its file. Returns 0, PL_ERR_DB, PL_ERR_STATE,
 * or a pl_migrate_scan error.
 */
int pl_migrate_apply(PGconn *db, const char *dir, FILE *out, char *errstr,
                     size_t errstr_size) PL_MUSTCHECK;

/*
 * Prints the state of every migration (applied with its time, pending, or CHANGED) and any
 * applied version whose file is gone. Changes nothing in the database. Returns 0, PL_ERR_STATE
 * when a checksum differs, or PL_ERR_DB / a pl_migrate_scan error.
 */
int pl_migrate_status(PGconn *db, const char *dir, FILE *out, char *errstr,
                      size_t errstr_size) PL_MUSTCHECK;

#endif
