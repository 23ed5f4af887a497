"""Sound: the palette's tones, the streaming mixer (plan + speech -> stereo blocks), and
loudness (the BS.1770 meter, the true-peak limiter, normalisation and its decisions).
"""
