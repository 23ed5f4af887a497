"""Tests of voicecoach.sound: tones, the mixer, the loudness meter, limiter and normalisation."""
