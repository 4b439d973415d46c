-- Every address of every IP entry, so the rule on shared egress addresses
-- looks up the entries an address is shared with instead of reading every
-- entry: a bulk write costs O(N + M), not O(N * M).
CREATE TABLE ip_auth_addresses (
    entry_id   INTEGER NOT NULL REFERENCES ip_auth_entries (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL,
    egress     INTEGER NOT NULL,
    address    TEXT NOT NULL
);
CREATE INDEX ip_auth_addresses_address ON ip_auth_addresses (address);
CREATE INDEX ip_auth_addresses_entry ON ip_auth_addresses (entry_id);

INSERT INTO ip_auth_addresses (entry_id, account_id, egress, address)
SELECT e.id, e.account_id, json_extract(e.data, '$.direction') = 'egress', a.value
FROM ip_auth_entries e, json_each(e.data, '$.addresses') a;
