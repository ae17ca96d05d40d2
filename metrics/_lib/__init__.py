"""Private helpers of the built-in metrics: features, Fréchet statistics, fan geometry,
line detection, pairing, figures and the FID Inception network. Not a public API."""
