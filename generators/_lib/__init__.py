"""Private helpers of the built-in generators: B-maps, BiomedCLIP encoder, wavelets,
single-source image handling. Not a public API."""
