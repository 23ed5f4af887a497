"""The live sink: the plan's audio streamed to a sound device, with eyes-closed keys."""
