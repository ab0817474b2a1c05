"""StyleGAN2 in GenLab: layers, mapping, generator, discriminator, losses, DiffAugment, method,
projection, the rosinality converter and the explore functions the tab calls."""
