"""Neural networks of ConchShell: the Jukebox VQ-VAE, the TCNN image classifiers, I3D, G and D (no I/O)."""
