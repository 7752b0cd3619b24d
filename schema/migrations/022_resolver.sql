-- 022: no outcome stays unknown. Every worker runs a resolver beside its engine loop
-- (common/resolver.h): it takes open required responses that are due (any replica may: a lease
-- that expires when the replica dies, taken with FOR UPDATE SKIP LOCKED), asks the bureau what
-- became of the request where the bureau can be asked (CyberSource: the On-Demand Single
-- Transaction Query), applies the outcome exactly as the answer would have been applied, and
-- publishes the final reply ("resolved": true). Where the bureau cannot be asked, or after the
-- policy's last query, the row is escalated to an operator (paylinkctl wreq), never failed
-- silently and never sent again blind.

CREATE TABLE resolution_policy (
    protocol            varchar(3)   NOT NULL CHECK (protocol IN ('CYB', 'RLT', 'EXT')),
    worker              varchar(10)  NOT NULL CHECK (worker IN ('auth', 'deposit', 'reversal', 'svc')),
    ask_bureau          boolean      NOT NULL,
    first_query_after_s integer      NOT NULL DEFAULT 10 CHECK (first_query_after_s BETWEEN 0 AND 86400),
    retry_after_s       integer      NOT NULL DEFAULT 30 CHECK (retry_after_s BETWEEN 1 AND 86400),
    backoff_factor      numeric(4,2) NOT NULL DEFAULT 2 CHECK (backoff_factor BETWEEN 1 AND 10),
    max_retry_after_s   integer      NOT NULL DEFAULT 900 CHECK (max_retry_after_s BETWEEN 1 AND 86400),
    not_found_after_s   integer      NOT NULL DEFAULT 120 CHECK (not_found_after_s BETWEEN 0 AND 86400),
    max_queries         integer      NOT NULL DEFAULT 12 CHECK (max_queries BETWEEN 1 AND 1000),
    lease_s             integer      NOT NULL DEFAULT 120 CHECK (lease_s BETWEEN 5 AND 3600),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (protocol, worker),
    CHECK (max_retry_after_s >= retry_after_s)
);
CREATE TRIGGER resolution_policy_touch BEFORE UPDATE ON resolution_policy
    FOR EACH ROW EXECUTE FUNCTION paylink_touch_updated_at();
COMMENT ON TABLE resolution_policy IS 'How the resolver settles a required response, per bureau protocol and worker. A protocol and worker without a row is never asked: its rows are escalated at the first step. Read at every pass (a change applies to rows already open).';
COMMENT ON COLUMN resolution_policy.protocol IS 'Bureau protocol (auth_service.protocol): CYB, RLT, EXT.';
COMMENT ON COLUMN resolution_policy.worker IS 'Worker whose requests this applies to (required_response.worker).';
COMMENT ON COLUMN resolution_policy.ask_bureau IS 'True when the bureau is asked what happened (CyberSource: the On-Demand Single Transaction Query with the report user of dm_settings). False where the bureau has no status call (Customer Engagement) or paylink has none for it yet (the External Payment Service): the first step escalates.';
COMMENT ON COLUMN resolution_policy.first_query_after_s IS 'Seconds after the outcome became unknown before the first step (query or escalation).';
COMMENT ON COLUMN resolution_policy.retry_after_s IS 'Seconds before the second query when the first could not settle the row (the query failed, or the bureau has no record yet).';
COMMENT ON COLUMN resolution_policy.backoff_factor IS 'Each further wait is the previous one times this, up to max_retry_after_s.';
COMMENT ON COLUMN resolution_policy.max_retry_after_s IS 'The longest wait between two queries.';
COMMENT ON COLUMN resolution_policy.not_found_after_s IS 'A bureau''s "no such request" is believed only when the request was sent at least this long ago (a report can lag the payment system); before that, it is asked again.';
COMMENT ON COLUMN resolution_policy.max_queries IS 'Queries before the row is escalated to an operator (the last step).';
COMMENT ON COLUMN resolution_policy.lease_s IS 'How long a resolver may hold a row it took; a replica that dies leaves the row to another once this has passed.';
COMMENT ON COLUMN resolution_policy.updated_at IS 'Last change (kept by a trigger).';

INSERT INTO resolution_policy (protocol, worker, ask_bureau) VALUES
    ('CYB', 'auth', true), ('CYB', 'deposit', true), ('CYB', 'reversal', true),
    ('RLT', 'svc', false), ('RLT', 'reversal', false),
    ('EXT', 'auth', false), ('EXT', 'deposit', false), ('EXT', 'reversal', false),
    ('EXT', 'svc', false);

-- The report user of dm_settings also asks the Single Transaction Query: one Business Center
-- user per bureau, one password reference.
ALTER TABLE dm_settings
    ADD COLUMN query_test_url varchar(300) NOT NULL
        DEFAULT 'https://ebctest.cybersource.com/ebctest/Query'
        CHECK (query_test_url ~ '^https://[^/[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$'),
    ADD COLUMN query_production_url varchar(300) NOT NULL
        DEFAULT 'https://ebc.cybersource.com/ebc/Query'
        CHECK (query_production_url ~ '^https://[^/[:space:][:cntrl:]]+(/[^[:space:][:cntrl:]]*)?$');
COMMENT ON COLUMN dm_settings.query_test_url IS 'The On-Demand Single Transaction Query URL of the test server, asked (with this row''s report user, password and send_to_production) by the resolver of unknown outcomes.';
COMMENT ON COLUMN dm_settings.query_production_url IS 'The On-Demand Single Transaction Query URL of the production server.';

ALTER TABLE required_response
    DROP CONSTRAINT required_response_status_check,
    DROP CONSTRAINT required_response_check,
    ADD CONSTRAINT required_response_status_check
        CHECK (status IN ('open', 'escalated', 'resolved')),
    ADD CONSTRAINT required_response_resolved_at_check
        CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    ADD COLUMN next_query_at timestamptz,
    ADD COLUMN queries integer NOT NULL DEFAULT 0 CHECK (queries >= 0),
    ADD COLUMN last_query_at timestamptz,
    ADD COLUMN last_query_result varchar(300) NOT NULL DEFAULT '',
    ADD COLUMN lease_owner varchar(120),
    ADD COLUMN lease_until timestamptz,
    ADD COLUMN escalated_at timestamptz,
    ADD COLUMN resolved_how varchar(12)
        CHECK (resolved_how IN ('late_answer', 'query', 'operator')),
    ADD COLUMN reply_pending boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT required_response_escalated_check
        CHECK (status <> 'escalated' OR escalated_at IS NOT NULL);
CREATE INDEX required_response_due ON required_response (worker, next_query_at)
    WHERE status = 'open';
CREATE INDEX required_response_reply_pending ON required_response (worker)
    WHERE reply_pending;
COMMENT ON COLUMN required_response.status IS 'open (the resolver works on it), escalated (the resolver could not settle it: an operator must, paylinkctl wreq resolve), resolved.';
COMMENT ON COLUMN required_response.resolution IS 'The outcome it was resolved with: approved, declined, error (nothing happened at the bureau, or it failed), cancelled.';
COMMENT ON COLUMN required_response.next_query_at IS 'When the resolver takes the row next; NULL before its first step (then created_at + the policy''s first_query_after_s).';
COMMENT ON COLUMN required_response.queries IS 'How many times the resolver asked the bureau.';
COMMENT ON COLUMN required_response.last_query_at IS 'When the bureau was last asked.';
COMMENT ON COLUMN required_response.last_query_result IS 'What the last query said (not found yet, the query failed and why), for operators; never card data.';
COMMENT ON COLUMN required_response.lease_owner IS 'The resolver (worker instance) that took the row last.';
COMMENT ON COLUMN required_response.lease_until IS 'Until when lease_owner holds the row; after that another replica may take it.';
COMMENT ON COLUMN required_response.escalated_at IS 'When the row was escalated to an operator (kept when an operator asks for another query).';
COMMENT ON COLUMN required_response.resolved_how IS 'How it was resolved: late_answer (the bureau''s answer arrived after all), query (the bureau was asked), operator (paylinkctl wreq resolve).';
COMMENT ON COLUMN required_response.reply_pending IS 'True while the final reply of a resolution is still to be published (the resolver publishes it, also after a crash between the commit and the publish).';

-- A late answer also settles an escalated row, and says so.
CREATE OR REPLACE FUNCTION paylink_close_required_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE required_response
       SET status = 'resolved',
           resolution = CASE NEW.status WHEN 'approved' THEN 'approved'
                                        WHEN 'error' THEN 'error' ELSE 'declined' END,
           resolved_how = 'late_answer',
           resolved_by = 'paylink-' || TG_ARGV[0],
           resolution_note = 'the bureau''s answer arrived after the outcome was reported unknown',
           resolved_at = now(),
           lease_owner = NULL, lease_until = NULL
     WHERE worker = TG_ARGV[0] AND request_id = NEW.request_id AND status IN ('open', 'escalated');
    RETURN NULL;
END $$;

-- The WREQ view with the resolver's columns.
CREATE VIEW required_response_work AS
SELECT r.id, r.request_id, r.worker, r.service_bureau, s.protocol, r.operation, r.amount,
       r.currency, r.reason, r.status, r.queries, r.last_query_result, r.created_at,
       now() - r.created_at AS age, coalesce(r.next_query_at, r.created_at
           + make_interval(secs => coalesce(p.first_query_after_s, 10))) AS next_step_at,
       r.escalated_at, r.lease_owner, r.lease_until
  FROM required_response r
  LEFT JOIN auth_service s ON s.service_bureau = r.service_bureau
  LEFT JOIN resolution_policy p ON p.protocol = s.protocol AND p.worker = r.worker
 WHERE r.status IN ('open', 'escalated')
 ORDER BY r.created_at;
COMMENT ON VIEW required_response_work IS 'DBA view: required responses still to settle with the resolver''s progress (queries, last result, next step, lease) and escalations; oldest first.';
