"""Key material: key logs and the TLS key schedules (PRF, HKDF)."""
