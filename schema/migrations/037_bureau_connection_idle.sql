-- 037: how long a connection to a bureau may wait idle and still carry the next call, a setting
-- of the bureau (issue 12).
--
-- Why: the workers kept every bureau's connections for 30 s of idleness (CURLOPT_MAXAGE_CONN in
-- common/http.c), under the idle timeout of most load balancers, so that a request is rarely
-- written into a connection the far end is closing (that call's outcome would be unknown). A
-- worker busy in bursts with pauses longer than that opens all its connections again at the
-- start of each burst: at 512 in flight, 512 TLS handshakes at once (~1.5 ms of CPU each on
-- either side, fewer where the bureau resumes sessions) and ~1 s added to the burst's first
-- replies (docs/perf/ROUNDS.md, twenty-sixth and twenty-seventh rounds). Where a bureau keeps
-- idle connections longer, its operator can now say so. The default stays 30 s; the demo's
-- simulator keeps idle connections 300 s and is given 240 (schema/demo.sql).
--
-- A new column with a constant default is a change of the catalog only (no table rewrite); the
-- audit trigger (016) records its changes as any other column's.

ALTER TABLE auth_service
    ADD COLUMN connection_idle_s integer NOT NULL DEFAULT 30
        CHECK (connection_idle_s BETWEEN 1 AND 3600);

COMMENT ON COLUMN auth_service.connection_idle_s IS 'How many seconds a connection to this bureau may wait idle and still carry the next call; one idle longer is closed and the call opens a new one (a TLS handshake). Keep it below the bureau''s (or its load balancer''s) own idle timeout, so that no call is written into a connection the bureau is closing. Default 30.';
