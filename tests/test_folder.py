"""memgen.data.folder: a directory of PNG/JPEG images as uint8 [N, S, S, 3]; a folder base in materialize."""

import numpy as np
import pytest
from PIL import Image

from memgen.data import folder, materialize
from memgen.errors import MemgenError


def _solid(size, colour, mode="RGB"):
    return Image.new(mode, size, colour)


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    _solid((40, 20), (255, 0, 0)).save(d / "b.png")  # wide: centre-cropped
    _solid((8, 8), (0, 0, 255)).save(d / "a.jpg", quality=95)  # upscaled
    _solid((16, 16), 128, mode="L").save(d / "sub" / "c.jpeg")  # grey -> RGB
    _solid((12, 30), (0, 255, 0, 0), mode="RGBA").save(d / "sub" / "d.PNG")  # alpha dropped
    (d / ".hidden.txt").write_text("skipped")
    (d / ".cache").mkdir()
    (d / ".cache" / "junk.bin").write_bytes(b"skipped too")
    return d


def test_loads_sorted_resized_rgb(image_dir):
    images = folder.load_image_folder(image_dir, 16)
    assert images.dtype == np.uint8 and images.shape == (4, 16, 16, 3)
    assert [f.name for f in folder.image_files(image_dir)] == ["a.jpg", "b.png", "c.jpeg", "d.PNG"]
    means = images.reshape(4, -1, 3).mean(1)
    np.testing.assert_allclose(means, [[0, 0, 255], [255, 0, 0], [128, 128, 128], [0, 255, 0]], atol=3)
    np.testing.assert_array_equal(images, folder.load_image_folder(image_dir, 16))  # deterministic


def test_centre_crop_then_bicubic():
    left_right = np.zeros((10, 30, 3), dtype=np.uint8)
    left_right[:, 10:20] = 200  # only the centre square survives the crop
    out = folder.square_resize(Image.fromarray(left_right), 10)
    assert out.shape == (10, 10, 3) and (out == 200).all()
    tall = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(8, 4, 3)
    np.testing.assert_array_equal(folder.square_resize(Image.fromarray(tall), 4), tall[2:6])
    half = folder.square_resize(Image.fromarray(np.full((32, 32, 3), 77, np.uint8)), 16)
    assert (half == 77).all()


def test_non_image_file_is_named(image_dir):
    bad = image_dir / "sub" / "notes.txt"
    bad.write_text("not an image")
    with pytest.raises(MemgenError) as excinfo:
        folder.load_image_folder(image_dir, 8)
    assert str(bad) in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_truncated_image_is_named(tmp_path):
    _solid((64, 64), (1, 2, 3)).save(tmp_path / "x.png")
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    noisy.save(tmp_path / "y.png")
    (tmp_path / "y.png").write_bytes((tmp_path / "y.png").read_bytes()[:300])
    with pytest.raises(MemgenError, match="y.png: not a readable image"):
        folder.load_image_folder(tmp_path, 8)


def test_other_formats_are_refused(tmp_path):
    _solid((8, 8), (1, 2, 3)).save(tmp_path / "x.bmp")
    with pytest.raises(MemgenError, match=r"x\.bmp: a BMP image"):
        folder.load_image_folder(tmp_path, 8)


def test_missing_empty_and_bad_size(tmp_path):
    with pytest.raises(MemgenError, match="no such directory"):
        folder.load_image_folder(tmp_path / "nope", 8)
    (tmp_path / ".only_hidden").write_text("x")
    with pytest.raises(MemgenError, match="no images found"):
        folder.load_image_folder(tmp_path, 8)
    with pytest.raises(MemgenError, match="image_size"):
        folder.load_image_folder(tmp_path, 2)
    file = tmp_path / "f.png"
    _solid((8, 8), 0).save(file)
    with pytest.raises(MemgenError, match="not a directory"):
        folder.load_image_folder(file, 8)


def test_folder_base_in_materialize(image_dir):
    everything = folder.load_image_folder(image_dir, 8)
    images, labels, card = materialize.build_training_set("folder:imgs", 2, 0, 8, "heldout", 1,
                                                          folder=image_dir.parent)
    assert images.shape == (3, 8, 8, 3) and (labels == 0).all()
    rows = [next(i for i in range(4) if np.array_equal(im, everything[i])) for im in images]
    assert len(set(rows)) == 3  # base and extra are distinct folder images
    assert card["source"]["kind"] == "folder" and card["source"]["num_images"] == 4
    assert card["source"]["pools"]["extra"]["positions"] == [2, 3]
    held, _, held_card = materialize.build_heldout_set(f"folder:{image_dir}", 1, 0, 8)
    assert held_card["source"]["pools"]["heldout_eval"]["positions"] == [3, 4]
    assert not any(np.array_equal(held[0], im) for im in images)
    with pytest.raises(MemgenError, match="folder:.*asked for 4 base \\+ 1 extra = 5 images, the folder has 4"):
        materialize.build_training_set(f"folder:{image_dir}", 4, 0, 8, "heldout", 1)
