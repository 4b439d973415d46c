-- What tripped an automatic block: the rule (scanner, auth_failures,
-- unanswered_challenges, flood) and the value (a count, a User-Agent).
ALTER TABLE firewall ADD COLUMN rule TEXT;
ALTER TABLE firewall ADD COLUMN trigger TEXT;

-- Bumped by every change to the firewall list (not by hit counts), so a
-- process can tell that another one changed it.
ALTER TABLE config_version ADD COLUMN firewall_version INTEGER NOT NULL DEFAULT 0;
