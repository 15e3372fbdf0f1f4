"""Data partners (transit operators, canteens, recycling stations): HMAC-signed batches of
behaviour records, credited only for citizens who linked the partner (consent)."""
