-- 068: required_response.captured (067) for the rows written before it, from their texts.
--
-- Why: before 067 the resolver recognised an auth+capture the bureau said was captured while it
-- refused, held or failed it by texts on the row: the reason it escalated it with
-- (last_query_result: "captured (ics_bill)"), or the adapter's refusal in the detail
-- ("... while its ccCaptureReply says 100 (captured)", or "a partial approval (110) of an
-- auth+capture captured without the amount captured or authorized"). A query that fails after
-- `wreq retry --now` replaces the reason; with the column set now, such a row is still
-- recognised when an operator refuses it (no `.sdr` of a captured authorization). The resolver
-- still reads the texts beside the column (resolver.c escalated_captured), for rows a release
-- before 067 writes while a rolling deploy runs it against the new schema.
--
-- Every row whose texts say so, whatever its status (only an open or escalated one is ever read
-- for it, but the statement reads the whole table either way: no index serves `escalated`; the
-- rows it writes are the rare captured ones, and resolved rows are included so that the column
-- means the same on every row `wreq show` prints).
--
-- What it costs to apply: one UPDATE that reads required_response once and writes the few
-- captured rows, in a transaction of its own (not 067's: its ALTER's ACCESS EXCLUSIVE lock would
-- have been held through the scan). An UPDATE takes row locks only: the workers and resolvers
-- go on meanwhile.

UPDATE required_response SET captured = true
WHERE operation = 'auth_capture' AND NOT captured
  AND (strpos(last_query_result, 'captured (ics_bill)') > 0
       OR strpos(detail, 'ccCaptureReply says 100 (captured)') > 0
       OR strpos(detail, 'captured without the amount captured') > 0);
