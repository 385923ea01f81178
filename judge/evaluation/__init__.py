"""`judge eval`: measure a judge against human preferences, from judgments files alone."""
