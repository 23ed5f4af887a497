"""The file sink: a plan rendered, normalised and written atomically as an audio file, with
tags, chapters, captions, and the plan's timeline picture.
"""
