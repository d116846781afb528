"""Connected lighting: TALQ 2.7.1 sensor values in, night-round light overrides out."""
