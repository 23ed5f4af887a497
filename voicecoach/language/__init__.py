"""The script language: text -> tokens, front matter, lines, directives, includes -> a parsed
``Script`` -> the compiled ``Plan`` (every cue at an exact integer sample). Pure: no audio.
"""
