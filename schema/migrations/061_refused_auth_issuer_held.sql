-- 061: what the issuer holds of a CyberSource authorization refused after a partial approval is
-- recorded on its history row, and paylink-reversal reverses that amount, whatever the request
-- names.
--
-- Why: when a CyberSource authorization's answer never comes, the resolver publishes its timeout
-- reversal `<request_id>.tor` for the whole amount asked. An operator who learns the real outcome
-- (`paylinkctl wreq resolve --outcome rejected --amount A`, or a soft decline: the issuer
-- approved A, less than asked, and CyberSource refused it) settles it; when paylink-reversal had
-- not recorded that `.tor`, the resolver published it again for A. But paylink-reversal may only
-- be behind, the first copy still queued on Kafka: it went first, by the authorization's
-- transaction id for the whole amount (a reject records no amount authorized, so the request's
-- amount went), and CyberSource refused a reversal above what it authorized; the copy for A had
-- the same request_id and another fingerprint, so paylink-reversal refused it as an idempotency
-- conflict, and the hold stayed on the cardholder's card until it expired. The reversal's amount
-- is now decided where paylink-reversal reads the authorization: amount_issuer_held, written by
-- the resolver when it applies a refused outcome the issuer holds part of (an operator's reject or
-- soft decline with --amount, or a queried record's answer amount), and rev_prepare
-- (workers/reversal/reversal.c) sends it for any reversal of such an authorization, as it sends
-- an approved one's amount_authorized. The resolver publishes the `.tor` again exactly as first
-- published (the whole request, the same fingerprint): whichever copy goes first goes for the
-- held amount, and the other is answered from its row.
--
-- What it costs to apply: ADD COLUMN without a default (catalogue only: no table rewrite, a
-- brief ACCESS EXCLUSIVE lock of auth_history), its CHECK added NOT VALID (every existing row
-- holds NULL, which passes it: an inline CHECK would have read the whole table under that
-- lock, holding up every store and claim for as long), SET STATISTICS, a comment. At run time:
-- nothing on the hot path (paylink-reversal's look-ups read one more column of the row they
-- already read; the resolver adds one UPDATE of the history row it has just inserted, only for
-- such an outcome).

ALTER TABLE auth_history ADD COLUMN amount_issuer_held numeric(15,2),
    ADD CONSTRAINT auth_history_amount_issuer_held_check CHECK (amount_issuer_held > 0) NOT VALID;
ALTER TABLE auth_history ALTER COLUMN amount_issuer_held SET STATISTICS 25;
COMMENT ON COLUMN auth_history.amount_issuer_held IS 'Of a CyberSource authorization refused (rejected, or declined as a soft decline or while the issuer authorized it) which records no amount authorized: what the issuer holds when it is less than the amount asked (a partial approval, 110), as an operator''s resolution (wreq resolve --amount) or the resolver''s query learnt it (061). paylink-reversal reverses this amount, whatever the reversal request names (above it CyberSource refuses the reversal and the hold stays). NULL: the amount asked, or not known.';
