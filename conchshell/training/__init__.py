"""Training loops: the demo VQ-VAE, the TCNN classifier and the ConchShell GAN."""
