"""Real labelled videos for evaluation: the official UCF101 / HMDB51 split layouts (splits), bounded PyAV
decoding (decode), the test-time frame geometry (frames) and the 14 UCF101-P corruptions (corruptions)."""
