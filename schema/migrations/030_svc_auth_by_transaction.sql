-- 030: the stored value authorization a deposit or a void names by its SVATransactionID alone.
--
-- Why: a stored value deposit (paylink-svc) or void (paylink-reversal) may name its
-- authorization by auth_ref.transaction_id instead of auth_ref.request_id. paylink took such a
-- reference for an authorization it does not hold and let the bureau decide, even when the
-- authorization was paylink's own: the deposit claimed nothing on it, was not checked against
-- its card, currency and what remains of it, and did not settle on it (amount_deposited stayed
-- 0), so a later deposit or void by request id counted money already taken. Now the workers
-- resolve such a reference to the authorization of the same company, order and service bureau
-- that the bureau gave that SVATransactionID, and treat the request as if it had named it.
--
-- Only the request's own order is searched: svc_trans has no index on svc_transaction_id, and
-- one would make every stored value answer (which sets it) a non-HOT update; the order's rows
-- are found through svc_trans_order. An SVATransactionID of another order is still one paylink
-- does not hold, and the bureau decides.
--
-- What it costs to apply: CREATE FUNCTION only; no lock on any table.

CREATE FUNCTION paylink_svc_auth_by_transaction(p_company integer, p_order varchar,
                                                p_bureau varchar, p_transaction varchar)
RETURNS varchar LANGUAGE sql STABLE AS $$
    SELECT request_id FROM svc_trans
     WHERE company = p_company AND order_number = p_order AND service_bureau = p_bureau
       AND svc_transaction_id = p_transaction AND p_transaction <> ''
       AND request_type = 'auth'
     ORDER BY received_at DESC, request_id DESC
     LIMIT 1
$$;
COMMENT ON FUNCTION paylink_svc_auth_by_transaction(integer, varchar, varchar, varchar) IS 'The request_id of the stored value authorization (svc_trans, request_type auth) of the company, order and service bureau whose SVATransactionID is p_transaction, NULL when there is none (the newest when the bureau gave one twice, as a simulator restarted against a kept database can): what a deposit or a void naming its authorization by auth_ref.transaction_id alone draws on.';
