-- A refresh never drops a provider answer it received (issue 14).
--
-- `lease_id` names one claim, not only the Broker that made it, so a late
-- release or write from an old claim can never touch a newer one, and a claim
-- whose answer was lost (the connection broke after COMMIT) can still be given
-- back by the id its Broker chose.
alter table credentials add column lease_id uuid;
-- The write-ahead mark of a refresh: set by the claim, before any refresh token
-- is presented, and cleared by whatever outcome is written. A claim that finds
-- it still set knows the previous attempt was interrupted (its Broker died
-- after it may have presented the refresh token), and says so if the provider
-- then refuses the stored token.
alter table credentials add column rotation_started_at timestamptz;
-- The claim whose write stored the current tokens: a Broker whose write
-- committed but whose answer was lost finds its own claim here, instead of
-- mistaking its own write for a sibling's.
alter table credentials add column written_by_lease uuid;
-- `version` is bumped only when the tokens change (activation, refresh).
-- Rewrapping changes ciphertexts, not tokens, so it leaves `version` alone and
-- can never make a refresh's compare-and-set fail.
