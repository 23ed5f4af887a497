"""Where files live and how they are written: the package's data, the cache folder and its
checked entries, atomic writes.
"""
