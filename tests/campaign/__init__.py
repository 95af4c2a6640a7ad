"""The damage campaign (issue 14, "A test that tries every object"): a small repository with
several hosts, every object in it damaged in every way, and the real CLI run against each
result. tests/test_damage_campaign.py is the entry point; docs/reliability.md the figures."""
