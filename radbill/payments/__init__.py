"""Online payments: gateways (bKash, SSLCommerz, verified transfer), payment intents and exactly-once settlement."""
