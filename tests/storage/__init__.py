"""Tests of voicecoach.storage: atomic files and the checked cache entries."""
