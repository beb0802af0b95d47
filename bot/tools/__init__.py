"""Measurement commands: evaluation (`citebot eval`) and benchmark (`citebot bench`)."""
