"""Private helpers of the built-in generators: networks, pyramids and schedules, B-maps,
the BiomedCLIP encoder, wavelets, single-source image handling, per-sample seeding. Not a
public API."""
