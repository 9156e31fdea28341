"""Files in and out: grid layers, incident writers, the roster, bulletins."""
