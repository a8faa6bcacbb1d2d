"""TTA.dev secrets."""
