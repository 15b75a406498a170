"""Helpers the test folders share: sample paths, servers, launchers and assertions (imported as tests.support.NAME)."""
