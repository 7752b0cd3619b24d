-- 040: a stored value card's row follows the hash key when the key is rotated.
--
-- Why: stored_value_card rows are found by card_hash, an HMAC of the card number under
-- PAYLINK_HASH_KEY_FILE. After the key was rotated (README "Rotating the hash key"), an
-- activation or recharge of a card generated or activated before the rotation hashed its number
-- under the new key only: the card's row was not found — a physical card's ActivateInstrument
-- inserted a second row for the same card, a virtual card's Recharge left its row 'generated'
-- — so the Stored Value Card table misreported the card's status. paylink-svc now, when it
-- marks such a request sent and earlier keys are configured (PAYLINK_HASH_KEY_PREVIOUS_FILES),
-- moves the card's row found under an earlier key to the new key first (workers/svc/svc.c,
-- svc_card_rekey), while it has the number in memory: the only moment its new hash can be made.
--
-- What it costs to apply: CREATE FUNCTION only; no lock on any table.

CREATE FUNCTION paylink_svc_card_rekey(p_bureau varchar, p_hash char(64), p_old char(64)[])
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    IF p_hash IS NULL OR EXISTS (SELECT 1 FROM stored_value_card
                                 WHERE service_bureau = p_bureau AND card_hash = p_hash) THEN
        RETURN NULL;
    END IF;
    UPDATE stored_value_card SET card_hash = p_hash
    WHERE card_id = (SELECT card_id FROM stored_value_card
                     WHERE service_bureau = p_bureau AND card_hash = ANY (p_old)
                     ORDER BY updated_at DESC, card_id DESC LIMIT 1)
    RETURNING card_id INTO v_id;
    RETURN v_id;
EXCEPTION WHEN unique_violation THEN
    -- Another actor wrote the card under the new key meanwhile: its row is the card's now.
    RETURN NULL;
END $$;
COMMENT ON FUNCTION paylink_svc_card_rekey(varchar, char(64), char(64)[]) IS 'Moves the Stored Value Card row of service bureau p_bureau found under one of the earlier hash keys'' hashes p_old (the most recently updated when there are several) to p_hash, the card''s hash under the current key, unless a row already has p_hash. Returns the row''s card_id, NULL when nothing was moved. paylink-svc calls it for an activation or recharge it sends while earlier keys are configured.';
