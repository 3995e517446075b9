"""Music metrics: piano transcription (basic-pitch) and scores on notes, key and tempo."""
