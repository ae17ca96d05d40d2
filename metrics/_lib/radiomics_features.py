"""Radiomic features of 2-D images as the Fréchet Radiomics Distance (FRD v1) defines them.

The features come from pyradiomics itself, configured as the ``frd-score`` package's
FRDv1 2-D extraction (Konz, Osuala et al., *Fréchet Radiomic Distance*, MedIA 2026):

* image filters: Original, Laplacian of Gaussian (σ = 2, 3, 4, 5 mm) and the first-level
  wavelet decompositions. On a 2-D image (a ``1×H×W`` volume) pyradiomics skips LoG (it
  needs at least 4 voxels along every axis) and ``force2D`` keeps 4 wavelet bands (LL,
  LH, HL, HH), so the features come from 5 images: 77 per image plus 13 numeric
  diagnostics, a 398-d vector — exactly what ``frd-score`` computes on 2-D images;
* feature classes: all first-order, 22 GLCM features (every one except the deprecated
  sum average/MCC), all GLRLM, GLSZM and NGTDM;
* settings: intensity normalisation (scale 100, shift 300), B-spline resampling to
  2×2 mm pixels (pixel spacing 1 mm), pad distance 10, pre-crop, ``force2D`` along the
  first axis, bin width 5, label 1;
* mask: the whole image except its corner pixel (a one-voxel hole that keeps
  pyradiomics from treating the mask as an empty bounding box);
* image: 8-bit grey values (0-255) as a ``1×H×W`` SimpleITK volume, spacing 1, at its own
  size (no resize) — the way ``frd-score`` reads an 8-bit PNG;
* vector: every feature value, then every numeric ``diagnostics_*`` entry, in
  pyradiomics' output order (``frd-score`` keeps these to reproduce the paper's numbers).

Set statistics (:func:`normalise_to_reference`) follow ``frd-score``'s v1 pipeline: rows
holding NaN dropped, float32, z-scored with the reference set's mean and (population)
standard deviation, then every column with a NaN or infinity in either set dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from usbench.protocols import MetricUnavailable

LOG_SIGMA_MM = (2.0, 3.0, 4.0, 5.0)
GLCM_FEATURES = (
    "Autocorrelation",
    "JointAverage",
    "ClusterProminence",
    "ClusterShade",
    "ClusterTendency",
    "Contrast",
    "Correlation",
    "DifferenceAverage",
    "DifferenceEntropy",
    "DifferenceVariance",
    "JointEnergy",
    "JointEntropy",
    "Imc1",
    "Imc2",
    "Idm",
    "Idmn",
    "Id",
    "Idn",
    "InverseVariance",
    "MaximumProbability",
    "SumEntropy",
    "SumSquares",
)
EXTRACTION_SETTINGS: dict[str, Any] = {
    "normalize": True,
    "normalizeScale": 100,
    "interpolator": "sitkBSpline",
    "resampledPixelSpacing": [2, 2, 0],
    "padDistance": 10,
    "preCrop": True,
    "force2D": True,
    "force2Ddimension": 0,
    "binWidth": 5,
    "voxelArrayShift": 300,
    "label": 1,
}
INSTALL_FIX = (
    "install pyradiomics (its sdist needs numpy at build time): "
    "pip install versioneer wheel && pip install --no-build-isolation pyradiomics==3.0.1"
)


def extraction_parameters() -> dict[str, Any]:
    """The pyradiomics parameter dict of FRDv1's 2-D extraction."""
    return {
        "imageType": {"Original": {}, "LoG": {"sigma": list(LOG_SIGMA_MM)}, "Wavelet": {}},
        "featureClass": {
            "firstorder": None,
            "glcm": list(GLCM_FEATURES),
            "glrlm": None,
            "glszm": None,
            "ngtdm": None,
        },
        "setting": dict(EXTRACTION_SETTINGS),
    }


def installed_pyradiomics() -> str | None:
    """The installed pyradiomics version, or None when it is missing."""
    try:
        import radiomics
    except ImportError:
        return None
    return str(radiomics.__version__)


def pyradiomics_version() -> str:
    """The installed pyradiomics version; MetricUnavailable (with the fix) if absent."""
    version = installed_pyradiomics()
    if version is None:
        raise MetricUnavailable("frd needs pyradiomics, which is not installed.", INSTALL_FIX)
    return version


def build_extractor() -> Any:
    """A ``RadiomicsFeatureExtractor`` configured as FRDv1 2-D, pyradiomics logging quiet."""
    pyradiomics_version()
    import radiomics
    from radiomics import featureextractor

    radiomics.setVerbosity(logging.ERROR)
    return featureextractor.RadiomicsFeatureExtractor(extraction_parameters())


def to_grey_levels(image: np.ndarray) -> np.ndarray:
    """``H×W`` image in [0, 1] → float32 8-bit grey levels (0…255, rounded)."""
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.float32)


def image_features(extractor: Any, grey: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Names and values (float64 ``F``) of one ``H×W`` grey-level image's radiomic vector."""
    import SimpleITK as sitk

    volume = sitk.GetImageFromArray(grey[np.newaxis].astype(np.float32))
    mask_array = np.ones((1, *grey.shape), np.uint8)
    mask_array[0, 0, 0] = 0
    mask = sitk.GetImageFromArray(mask_array)
    for item in (volume, mask):
        item.SetSpacing((1.0, 1.0, 1.0))
    output = extractor.execute(volume, mask)
    names, values = [], []
    for name, value in output.items():
        if "diagnostics" not in name:
            names.append(name.replace("original_", ""))
            values.append(float(value))
            continue
        try:
            values.append(float(value))
        except (TypeError, ValueError):
            continue  # versions, hashes, tuples: not features
        names.append(name)
    return names, np.asarray(values, np.float64)


def normalise_to_reference(
    reference: np.ndarray, other: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FRDv1's set normalisation of raw feature rows (``n₁×F`` reference, ``n₂×F`` other).

    Returns ``(reference, other, kept)``: both z-scored by the reference set (float32, as
    ``frd-score``), rows with NaN removed beforehand, and the boolean ``F`` mask of the
    columns kept (finite in both sets after normalisation).
    """
    ref, oth = (x[~np.isnan(x).any(axis=1)].astype(np.float32) for x in (reference, other))
    if min(len(ref), len(oth)) < 2:
        raise ValueError("fewer than 2 images with finite radiomic features in a set")
    mean, std = np.nanmean(ref, axis=0), np.nanstd(ref, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref_z, oth_z = (ref - mean) / std, (oth - mean) / std
    kept = np.isfinite(ref_z).all(axis=0) & np.isfinite(oth_z).all(axis=0)
    return ref_z[:, kept], oth_z[:, kept], kept
