-- 041: a Decision Manager window is asked for again while a conversion in it names an
-- authorization whose outcome paylink does not know yet.
--
-- Why: paylink-dmupdate matches a conversion to an authorization by the transaction id paylink
-- recorded with its answer. An authorization whose answer never came (status unknown, settled
-- later by the resolver or an operator) has none yet, so a reviewer's decision taken in Decision
-- Manager before it was settled was skipped as "an authorization paylink does not hold" and its
-- window never asked again: the order kept its FS hold for good, or a REJECT was never cancelled
-- nor reversed. Now such a conversion is deferred: the window is recorded here and asked again
-- every cycle (the rest of the cycle goes on, later windows included) until none of its
-- conversions is deferred any more — then the row goes — or for three days, after which the
-- conversions still deferred are logged as errors for an operator and the row goes.
--
-- What it costs to apply: CREATE TABLE only; no lock on any existing table.

CREATE TABLE dm_recheck (
    company        integer     NOT NULL CHECK (company BETWEEN 1 AND 999),
    service_bureau varchar(8)  NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL CHECK (window_end > window_start),
    deferred       integer     NOT NULL CHECK (deferred > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    checked_at     timestamptz,
    PRIMARY KEY (company, service_bureau, window_start)
);
COMMENT ON TABLE dm_recheck IS 'Decision Manager report windows paylink-dmupdate asks for again because a conversion in them names an authorization whose outcome is not known yet (cc_auth_trans status received, sent or unknown): each cycle until none is deferred, at most three days from created_at.';
COMMENT ON COLUMN dm_recheck.company IS 'Company number.';
COMMENT ON COLUMN dm_recheck.service_bureau IS 'The CyberSource service bureau (auth_service, dm_settings).';
COMMENT ON COLUMN dm_recheck.window_start IS 'Start of the report window (GMT), as dm_run recorded it.';
COMMENT ON COLUMN dm_recheck.window_end IS 'End of the report window.';
COMMENT ON COLUMN dm_recheck.deferred IS 'Conversions deferred when the window was last asked for.';
COMMENT ON COLUMN dm_recheck.created_at IS 'When a conversion of the window was first deferred.';
COMMENT ON COLUMN dm_recheck.checked_at IS 'When the window was last asked for again; NULL before.';
