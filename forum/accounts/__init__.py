"""Accounts: members, signing up and in, profiles."""
