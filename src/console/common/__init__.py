"""Stdlib-only facts and helpers every layer may use: the contract's constants, secret masking."""
