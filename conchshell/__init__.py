"""ConchShell: a picture in, an 8-second piano piece out.

A GAN over Jukebox VQ-VAE latents, conditioned on spatio-temporal features of the picture
(TCNN block maps → Algorithm 1 time-image features → I3D). See DESIGN.md and README.md.
"""

__version__ = "0.1.0"
