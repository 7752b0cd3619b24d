-- 023: the safe step for an authorization that cannot be confirmed. When the bureau cannot say
-- what became of a CyberSource authorization (its transaction query keeps failing, or there is
-- no report user to ask with), the resolver does not leave the cardholder's funds held: it asks
-- paylink-reversal for CyberSource's timeout authorization reversal (a reversal request
-- "<auth request_id>.tor" naming the authorization; the reversal finds it at the bureau by the
-- merchantTransactionIdentifier every authorization carries), then settles the authorization
-- from the reversal's outcome ("resolution": "timeout_reversal"). Where no reversal can be made
-- the row is escalated, as before.

ALTER TABLE resolution_policy
    ADD COLUMN reverse_unconfirmed boolean NOT NULL DEFAULT false,
    ADD COLUMN reverse_after_s integer NOT NULL DEFAULT 60
        CHECK (reverse_after_s BETWEEN 0 AND 86400);
COMMENT ON COLUMN resolution_policy.reverse_unconfirmed IS 'True: an authorization the bureau cannot confirm (the last query failed, or it cannot be asked) is reversed by a timeout authorization reversal instead of escalated (CyberSource authorizations; only where the bureau has Send reversal). The row is escalated when the reversal itself fails.';
COMMENT ON COLUMN resolution_policy.reverse_after_s IS 'The timeout reversal is sent no sooner than this long after the authorization was sent (CyberSource asks for 60 s).';
UPDATE resolution_policy SET reverse_unconfirmed = true WHERE protocol = 'CYB' AND worker = 'auth';

ALTER TABLE required_response
    ALTER COLUMN resolved_how TYPE varchar(16),
    DROP CONSTRAINT required_response_resolved_how_check,
    ADD CONSTRAINT required_response_resolved_how_check
        CHECK (resolved_how IN ('late_answer', 'query', 'operator', 'timeout_reversal')),
    ADD COLUMN reversal_request_id varchar(50),
    ADD COLUMN reversal_requested_at timestamptz,
    ADD CONSTRAINT required_response_reversal_check
        CHECK ((reversal_request_id IS NULL) = (reversal_requested_at IS NULL));
COMMENT ON COLUMN required_response.resolved_how IS 'How it was resolved: late_answer (the bureau''s answer arrived after all), query (the bureau was asked), timeout_reversal (an authorization that could not be confirmed was reversed, or the bureau had none to reverse), operator (paylinkctl wreq resolve).';
COMMENT ON COLUMN required_response.reversal_request_id IS 'The timeout reversal the resolver asked paylink-reversal for (auth_reversal.request_id "<request_id>.tor"), NULL when none.';
COMMENT ON COLUMN required_response.reversal_requested_at IS 'When that reversal was first requested.';
COMMENT ON COLUMN required_response.escalated_at IS 'When the row was last escalated to an operator (kept while an operator''s wreq retry has it open again, set anew when it is escalated again).';
