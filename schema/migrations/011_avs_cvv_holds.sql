-- 011: holds for address and card verification results.
--
-- Seed "Placing the credit card on hold": the credit card pay type may be placed on hold when it
-- is not approved, when the address verification (AVS) fails, or when the card identification
-- (CVV/CVN) fails. The vendor response table says which hold each code places; AVS and CVV
-- results are codes of their own (letters that overlap with each other), so a row now says which
-- kind of code it describes. Hierarchy: a decline places the hold of its reason code; an approval
-- places the hold of its AVS result, else of its CVV result; a Decision Manager review keeps FS.

ALTER TABLE vendor_response ADD COLUMN response_kind varchar(6) NOT NULL DEFAULT 'reason'
    CHECK (response_kind IN ('reason', 'avs', 'cvv'));
ALTER TABLE vendor_response DROP CONSTRAINT vendor_response_pkey;
ALTER TABLE vendor_response ADD PRIMARY KEY (service_bureau, response_kind, response_code);
COMMENT ON COLUMN vendor_response.response_kind IS 'What response_code is: reason (the bureau''s reason/response code, e.g. 100, 481, SU), avs (an address verification result, e.g. N) or cvv (a card verification result, e.g. N). AVS and CVV rows only place holds (hold_reason) on approved authorizations.';
