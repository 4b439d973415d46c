-- What tripped an automatic block: the rule (scanner, auth_failures,
-- unanswered_challenges, flood) and the value (a count, a User-Agent).
ALTER TABLE firewall ADD COLUMN rule TEXT;
ALTER TABLE firewall ADD COLUMN trigger TEXT;
