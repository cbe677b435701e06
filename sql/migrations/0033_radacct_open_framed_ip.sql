-- The portal's front door (portal/walled.py) names a walled customer by the Framed-IP-Address of their open
-- session (radbill.services.walled_garden.customer_by_address) on every GET / without a login, anyone's visit
-- included: without this index each one is a scan of all of radacct (python -m bench.walled_garden).
CREATE INDEX radacct_open_framed_ip ON radacct (framedipaddress) WHERE acctstoptime IS NULL;
