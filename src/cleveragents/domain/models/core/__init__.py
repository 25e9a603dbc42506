"""Domain models and store protocols: no framework imports here."""
