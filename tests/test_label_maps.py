"""Label maps: lus-phantom's anatomy labels, SDM-style conditioning, label-map pairing.

The conditioning test trains a tiny label-map ddpm for 150 steps (~1 min) and measures
that its samples follow the maps they were drawn from: bright where the map says tissue,
dark where it says outside the fan or rib shadow — clearly more than against shuffled maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from usbench.data.phantom import LUSPhantom
from usbench.data.phantom_labels import LABEL_NAMES
from usbench.generators._lib.label_maps import Conditioning, guided_noise, inject_layout
from usbench.metrics._lib.pairing import pair_images
from usbench.plugins import resolve
from usbench.protocols import FitContext
from usbench.samples import SampleBatch
from usbench.testing.generators import BATCH_INVARIANCE_ATOL

DARK = [LABEL_NAMES.index("outside"), LABEL_NAMES.index("rib + shadow")]
BRIGHT = [LABEL_NAMES.index(n) for n in ("soft tissue", "pleura", "A-line", "B-line")]


@pytest.fixture(scope="module")
def phantom():
    return LUSPhantom.from_preset(None, {"n_per_class": "4"}).load_with_truth(image_size=48)


def test_phantom_label_maps_match_the_truth(phantom):
    data, truths = phantom
    assert data.masks.shape == (len(data), 48, 48) and data.mask_names == LABEL_NAMES
    for i, truth in enumerate(truths):
        mask = data.masks[i].numpy()
        assert np.array_equal(mask == 0, ~truth.mask)  # "outside" is exactly the fan's outside
        assert (mask == LABEL_NAMES.index("B-line")).any() == (truth.n_b_lines > 0)
        assert (mask == LABEL_NAMES.index("rib + shadow")).any() == bool(truth.rib_shadow_spans)
        if truth.geometry == "linear":  # the pleura label sits on the pleural row
            rows = np.flatnonzero((mask == LABEL_NAMES.index("pleura")).any(1))
            assert abs(np.median(rows) - truth.pleura_row) <= 1.5


def test_masks_travel_with_subsets_and_count_in_the_hash(phantom):
    data, _ = phantom
    part = data.subset([2, 0])
    assert torch.equal(part.masks[0], data.masks[2]) and part.mask_names == data.mask_names
    other = part.masks.clone()
    other[0, 0, 0] = (int(other[0, 0, 0]) + 1) % len(LABEL_NAMES)
    changed = type(part)(**{**vars(part), "masks": other})
    assert changed.content_hash() != part.content_hash()


def test_spade_starts_as_the_plain_unet():
    from usbench.generators.ddpm import DDPMConfig, build_unet

    cfg = DDPMConfig(image_size=16, base_channels=8, channel_mults=(1, 2), attention_levels=())
    torch.manual_seed(0)
    plain = build_unet(cfg, None)
    torch.manual_seed(0)
    spade = build_unet(cfg, None)
    injection = inject_layout(spade, n_classes=3, hidden=4)
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([1, 5])
    injection.set(torch.rand(2, 3, 16, 16))
    assert torch.allclose(plain(x, t).sample, spade(x, t).sample, atol=1e-6)
    assert len(injection.norms) == 2 * sum(
        len(b.resnets) for b in [spade.mid_block, *spade.up_blocks]
    )


def test_guidance_is_the_classifier_free_formula():
    def predict(x, t, cond):  # a stand-in network whose answer depends on the layout
        return x * 0 + cond.layouts.sum(dim=(1, 2, 3), keepdim=True)

    layouts = torch.ones(2, 3, 4, 4)
    cond = Conditioning(None, layouts)
    x, t = torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long)
    out = guided_noise(predict, x, t, cond, scale=1.5)
    assert torch.allclose(out, torch.full_like(x, 0 + 1.5 * (48 - 0)))
    assert torch.allclose(guided_noise(predict, x, t, cond, scale=1.0), torch.full_like(x, 48.0))


def _contrast(image: torch.Tensor, mask: torch.Tensor) -> float:
    dark, bright = torch.isin(mask, torch.tensor(DARK)), torch.isin(mask, torch.tensor(BRIGHT))
    if not dark.any() or not bright.any():
        return float("nan")
    return float(image[0][bright].mean() - image[0][dark].mean())


def test_samples_follow_their_label_maps(tmp_path: Path, one_thread):
    data = LUSPhantom.from_preset(None, {"n_per_class": "8"}).load(image_size=16)
    selector = (
        "ddpm:conditioning=label-map,image_size=16,train.steps=150,train.checkpoint_every=1000"
    )
    generator = resolve("generators", selector, preset="smoke").build()
    generator.fit(data, FitContext(workdir=tmp_path, seed=0, progress=False))
    batch = generator.sample_from_maps(data.masks, seed=1, sources=data.names)
    assert batch.pairing == "label-map" and batch.sources == data.names
    shuffled = torch.roll(torch.arange(len(data)), 1)
    matched = np.nanmean([_contrast(batch.images[i], data.masks[i]) for i in range(len(data))])
    other = np.nanmean([_contrast(batch.images[i], data.masks[j]) for i, j in enumerate(shuffled)])
    assert matched > 0.05 and matched > 2 * other, (matched, other)
    again = generator.sample_from_maps(data.masks[:3], seed=1)
    # per-sample seeds: the same map gives the same image in another batch (to float noise)
    torch.testing.assert_close(again.images, batch.images[:3], atol=BATCH_INVARIANCE_ATOL, rtol=0)
    with pytest.raises(ValueError, match="sample_from_maps"):
        generator.sample(2, seed=0)


def test_label_map_pairing_looks_in_the_held_out_split(phantom):
    data, _ = phantom
    train, heldout = data.subset([0, 1, 2]), data.subset([3, 4])
    fake = torch.rand(2, 1, 48, 48)
    batch = SampleBatch(fake, sources=(heldout.names[1], train.names[0]), pairing="label-map")
    real, rule = pair_images(batch, train, heldout)
    assert rule == "label-map"
    assert torch.equal(real[0], heldout.images[1]) and torch.equal(real[1], train.images[0])


def test_a_label_map_generator_needs_label_maps(tmp_path, tiny_folder):
    from usbench.data import open_dataset

    data = open_dataset(f"folder:{tiny_folder}", image_size=16)
    generator = resolve("generators", "ddpm:conditioning=label-map", preset="smoke").build()
    with pytest.raises(ValueError, match="needs a dataset with label maps"):
        generator.fit(data, FitContext(workdir=tmp_path, progress=False))


def test_folder_manifest_label_maps_are_cropped_and_resized_like_their_images(tmp_path):
    from PIL import Image

    from usbench.data import open_dataset

    rows = ["file,label,patient_id,mask"]
    for i in range(3):
        image = np.zeros((40, 60), dtype=np.uint8)
        mask = np.zeros((40, 60), dtype=np.uint8)
        image[10:30, 25:35] = 200  # a lesion in the centre; the crop keeps columns 10..49
        mask[10:30, 25:35] = 1
        mask[:, :10] = 2  # cropped away: never reaches the loaded map
        Image.fromarray(image).save(tmp_path / f"im{i}.png")
        Image.fromarray(mask).save(tmp_path / f"m{i}.png")
        rows.append(f"im{i}.png,a,p{i},m{i}.png")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    data = open_dataset(f"folder:{tmp_path},mask_names=background;lesion;edge", image_size=20)
    assert data.masks.shape == (3, 20, 20) and data.mask_names == ("background", "lesion", "edge")
    assert set(data.masks.unique().tolist()) == {0, 1}
    lesion, bright = data.masks[0] == 1, data.images[0, 0] > 0.5  # map on its image's lesion
    assert (lesion & bright).sum() / (lesion | bright).sum() >= 0.75  # half-pixel edges
    rows, cols = torch.nonzero(lesion, as_tuple=True)
    assert float(rows.float().mean()) == pytest.approx(9.5, abs=0.6)  # rows 10..29 of 40
    assert float(cols.float().mean()) == pytest.approx(9.5, abs=0.6)  # cols 15..24 of 40
    with pytest.raises(ValueError, match="only 1 names"):
        open_dataset(f"folder:{tmp_path},mask_names=background", image_size=20)
