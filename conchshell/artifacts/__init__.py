"""Every on-disk format of the pipeline, one reader and one writer each.

- `checkpoints`  models/tcnn.pt, models/gan.pt, the I3D identity (and models/vqvae.pt through `jukebox`)
- `jukebox`      the Jukebox VQ-VAE checkpoint in the official layout (`vqvae.pth.tar`'s)
- `i3d`          local I3D weights (Inception-I3D or pytorchvideo r50 layout) → the frozen feature extractor
- `stores`       the HDF5 feature caches (data/features/audio.h5, images.h5) and the picture↔clip dataset
- `info`         `conchshell info`: which artifacts exist, what made them, and whether they agree
"""
