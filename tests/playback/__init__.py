"""Tests of voicecoach.playback: the pure parts without a sound server, the live ones through PulseAudio."""
