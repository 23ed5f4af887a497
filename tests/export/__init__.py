"""Tests of voicecoach.export: the file sink (writer, encoder, tags, captions, offload, jobs, timeline)."""
