"""``lus`` rebuilt from a (fake) clone of the upstream POCUS repository.

The fake clone (``_fake_pocus``) is a real git repository whose files say what the
selection must do with them; frame counts follow Born et al.'s 3 Hz rule by hand.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from _fake_pocus import EXPECTED_FRAMES, FILES, UNLISTED, make_clone
from click.testing import CliRunner

from usbench.cli import main
from usbench.data.download import ChecksumError
from usbench.data.pocus_frames import frame_step, sampled_indices
from usbench.data.pocus_full import POCUSLungFull
from usbench.data.pocus_selection import is_noncommercial
from usbench.data.pocus_upstream import UpstreamUnavailable
from usbench.data.splits import patient_kfold


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return make_clone(tmp_path_factory.mktemp("pocus-upstream"))


def lus(commit: str, **options) -> POCUSLungFull:
    return POCUSLungFull.from_preset(None, {"commit": commit, **options})


def test_born_sampling_rule():
    assert frame_step(30, 3) == 10 and frame_step(24, 3) == 8 and frame_step(10, 3) == 3
    assert frame_step(2, 3) == 1 and frame_step(0, 3) == 1  # slower than 3 Hz / unknown
    assert sampled_indices(30, 3, 25, 30) == [0, 10, 20]
    assert sampled_indices(30, 3, 1000, 30) == list(range(0, 300, 10))  # capped at 30
    assert len(sampled_indices(30, 3, 1000, 0)) == 100


def test_noncommercial_licences_are_recognised():
    for text in ("CC BY-NC 4.0", "CC BY-NC-SA 4.0", "cc by-nc-nd", "non-commercial use"):
        assert is_noncommercial(text), text
    for text in ("CC BY 4.0", "CC BY-SA 4.0", "Apache-2.0", "None", "", "CC0 (since 2019)"):
        assert not is_noncommercial(text), text


def test_selection_licences_probes_classes(clone):
    root, commit = clone
    chosen = lus(commit).selection(root)
    assert {f.path for f in chosen.kept} == {f.path for f in FILES if f.kept}
    reasons = dict(chosen.excluded)
    assert reasons["data/pocus_videos/convex/Cov-nc.mp4"] == "non-commercial licence"
    assert reasons["data/pocus_images/linear/Cov-lin.png"] == "probe linear"
    assert reasons["data/pocus_images/convex/Vir-g.png"] == "class viral"
    assert reasons[UNLISTED] == "no metadata row"
    wide = lus(commit, linear="true", viral="true", noncommercial="true").selection(root)
    assert {f.path for f in wide.kept} == {f.path for f in FILES}


def test_frames_patients_and_manifest(clone):
    root, commit = clone
    data = lus(commit).load(image_size=32, root=root)
    counts = dict(zip(data.class_names, np.bincount(data.labels.numpy()).tolist(), strict=True))
    assert counts == EXPECTED_FRAMES
    by_file = dict(zip(data.names, data.patient_ids, strict=True))
    assert by_file["covid/convex/Cov-a_f0003.png"] == "10"
    assert "covid/convex/Cov-a_f0001.png" not in by_file  # 9 fps at 3 Hz: every 3rd frame
    # both pneumonia stills lack a patient id: grouped by their source, conservatively
    assert by_file["pneumonia/convex/Pne-d.png"] == by_file["pneumonia/convex/Pne-e.png"]
    assert by_file["pneumonia/convex/Pne-d.png"] == "source-7"
    assert set(data.probes) == {"convex"}
    folder, rows = lus(commit).build(root)
    manifest = list(csv.DictReader(io.StringIO((folder / "manifest.csv").read_text())))
    assert manifest == rows and len(rows) == len(data)
    assert {r["licence"] for r in rows} == {"CC BY 4.0", "CC BY-SA 4.0", "Apache-2.0"}


def test_a_patient_never_straddles_folds(clone):
    root, commit = clone
    data = lus(commit).load(image_size=16, root=root)
    for train, test in patient_kfold(data, k=3, seed=0):
        assert not {data.patient_ids[i] for i in train} & {data.patient_ids[i] for i in test}


def test_options_change_the_dataset_identity(clone):
    root, commit = clone
    base = lus(commit).load(image_size=16, root=root)
    slower = lus(commit, frame_rate="1.5").load(image_size=16, root=root)
    assert len(slower) < len(base) and slower.content_hash() != base.content_hash()


def test_a_modified_file_is_refused(tmp_path, monkeypatch):
    # a cache of its own: frames built from verified files stay valid, so a shared cache
    # from another test of the same commit would (rightly) not read the files again
    monkeypatch.setenv("USBENCH_CACHE", str(tmp_path / "cache"))
    root, commit = make_clone(tmp_path / "upstream")
    (root / "data/pocus_images/convex/Cov-f.png").write_bytes(b"not the committed bytes")
    with pytest.raises(ChecksumError, match="git -C .* checkout"):
        lus(commit).load(image_size=16, root=root)


def test_a_folder_without_the_commit_says_how_to_get_it(tmp_path, clone):
    with pytest.raises(UpstreamUnavailable, match="git clone|git fetch"):
        lus("0" * 40).load(image_size=16, root=clone[0])
    with pytest.raises(UpstreamUnavailable, match="not a git clone"):
        lus(clone[1]).load(image_size=16, root=tmp_path)


def test_data_info_prints_classes_patients_and_exclusions(clone):
    root, commit = clone
    result = CliRunner().invoke(
        main, ["data", "info", f"lus:commit={commit}", "--data-root", str(root)]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "covid" in out and "non-commercial licence" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    # class, videos, images, frames, patients
    assert lines["covid"][1:5] == ["1", "1", "8", "2"]
    assert lines["pneumonia"][1:5] == ["0", "2", "2", "1"]
    assert lines["regular"][1:5] == ["2", "0", "11", "2"]
