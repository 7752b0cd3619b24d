-- 020: the two identity columns 019 left without a comment (every column is documented).
COMMENT ON COLUMN dm_run.id IS 'Identity of the run.';
COMMENT ON COLUMN dm_decision.id IS 'Identity of the recorded conversion; decisions are published in this order.';
