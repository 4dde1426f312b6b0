"""Job-shop scheduling (JSSP): benchmark instances, the trusted schedule builder and the verifier."""
