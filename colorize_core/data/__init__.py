"""Stage 1, data: pixels in, Lab tensors out. Colour conversion, ab bins, decoding, the data
set registry, the Lab cache, the seeded split and its batches, augmentation."""
