"""Co-saliency loader against a malformed-input corpus: each case is a valid tiny saliency folder
with one thing broken, and must end in a BenchlibError naming the file (and the line, where the
file has lines) — never a bare exception, never numbers from bad data."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from benchlib import BenchlibError
from benchlib.chapters.cosaliency.data import load_saliency_folder
from tests._bombs import png_header_bomb, jpeg_header_bomb

H, W = 40, 50
# im0: two co-salient red squares and one blue distractor, as the twins write them
OBJECTS = [{"box": [5, 10, 15, 20], "class": "red", "cosalient": True},
           {"box": [30, 10, 40, 20], "class": "red", "cosalient": True},
           {"box": [5, 30, 11, 36], "class": "blue", "cosalient": False}]


def _valid_tree(root, n=2):
    """Image/*.jpg, GT/*.png, Salient/*.png, Instances/*.json (indented: one key per line)."""
    for d in ("Image", "GT", "Salient", "Instances"):
        (root / d).mkdir(parents=True)
    for i in range(n):
        img = np.full((H, W, 3), 90, np.uint8)
        gt = np.zeros((H, W), np.uint8)
        for x0 in (5, 30):
            img[10:20, x0:x0 + 10] = (200, 40, 40)
            gt[10:20, x0:x0 + 10] = 255
        img[30:36, 5:11] = (40, 40, 200)
        sal = gt.copy()
        sal[30:36, 5:11] = 255
        Image.fromarray(img).save(root / "Image" / f"im{i}.jpg", quality=95)
        Image.fromarray(gt).save(root / "GT" / f"im{i}.png")
        Image.fromarray(sal).save(root / "Salient" / f"im{i}.png")
        _write_objects(root, OBJECTS, i)
    return root


def _write_objects(root, objects, i=0):
    (root / "Instances" / f"im{i}.json").write_text(json.dumps({"objects": objects}, indent=1))




def test_the_valid_tree_loads(tmp_path):
    """The corpus's starting point is accepted, so every refusal below is caused by its one breakage."""
    ds = load_saliency_folder(_valid_tree(tmp_path / "ok"))
    assert len(ds) == 2 and ds[0].boxes.tolist() == [o["box"] for o in OBJECTS]
    assert ds[0].cosalient.tolist() == [True, True, False] and ds[0].classes == ["red", "red", "blue"]


def test_a_bom_and_a_users_symlinked_folder_are_accepted(tmp_path):
    """Valid variants the refusals must not catch: a UTF-8 BOM before the JSON, and an Image/
    folder the user linked in from elsewhere (datasets are often linked, not copied)."""
    root = _valid_tree(tmp_path / "ok")
    p = root / "Instances" / "im0.json"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    os.rename(root / "Image", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", root / "Image")
    ds = load_saliency_folder(root)
    assert ds[0].boxes.tolist() == [o["box"] for o in OBJECTS]


def _set(key, value, k=0):
    def breaks(root):
        objs = json.loads(json.dumps(OBJECTS))
        objs[k][key] = value
        _write_objects(root, objs)
    return breaks


def _raw_json(text):
    def breaks(root):
        (root / "Instances" / "im0.json").write_text(text)
    return breaks


def _raw_bytes(data):
    def breaks(root):
        (root / "Instances" / "im0.json").write_bytes(data)
    return breaks


def _truncate(sub, name):
    def breaks(root):
        p = root / sub / name
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    return breaks


def _duplicate_stem(root):
    Image.open(root / "Image" / "im1.jpg").save(root / "Image" / "im1.png")


def _orphan(sub, name):
    def breaks(root):
        src = root / sub / ("im0" + os.path.splitext(name)[1])
        (root / sub / name).write_bytes(src.read_bytes())
    return breaks


def _junk_gt(root):
    (root / "GT" / "im0.png").write_bytes(b"GIF89a but not really an image at all")


GOOD_JSON = json.dumps({"objects": OBJECTS}, indent=1)
CUT_JSON = GOOD_JSON[:-3]  # the closing "]\n}" cut off: the error is at its last line

# (case id, breakage, file named, line named or None, words of the message)
CASES = [
    ("truncated_image", _truncate("Image", "im1.jpg"), "Image/im1.jpg", None, "not a readable image"),
    ("truncated_gt", _truncate("GT", "im1.png"), "GT/im1.png", None, "not a readable image"),
    ("truncated_salient", _truncate("Salient", "im0.png"), "Salient/im0.png", None, "not a readable image"),
    ("junk_gt", _junk_gt, "GT/im0.png", None, "not a readable image"),
    ("latin1_json", _raw_bytes(GOOD_JSON.replace('"blue"', '"bl\u00e9u"').encode("latin-1")),
     "Instances/im0.json", GOOD_JSON[:GOOD_JSON.index('"blue"')].count("\n") + 1, "not UTF-8"),
    ("nul_json", _raw_bytes(GOOD_JSON.encode().replace(b'"blue"', b'"bl\x00ue"')),
     "Instances/im0.json", GOOD_JSON[:GOOD_JSON.index('"blue"')].count("\n") + 1, "NUL byte"),
    ("utf16_json", _raw_bytes(GOOD_JSON.encode("utf-16")), "Instances/im0.json", 1, "NUL byte"),
    ("invalid_json", _raw_json(CUT_JSON), "Instances/im0.json", CUT_JSON.count("\n") + 1, "not valid JSON"),
    ("nested_too_deep", _raw_json('{"objects": ' + "[" * 100_000 + "]" * 100_000 + "}"),
     "Instances/im0.json", None, "nested too deeply"),
    ("no_objects_key", _raw_json('{"boxes": []}'), "Instances/im0.json", None, "expected"),
    ("objects_not_a_list", _raw_json('{"objects": {"box": [5, 10, 15, 20]}}'), "Instances/im0.json", None, "expected"),
    ("object_not_a_dict", _raw_json('{"objects": [[5, 10, 15, 20]]}'), "Instances/im0.json", None, "object 0 is list"),
    ("object_without_box", _raw_json('{"objects": [{"class": "red"}]}'), "Instances/im0.json", None, "no 'box'"),
    ("box_of_8", _set("box", [5, 10, 15, 20, 30, 10, 40, 20], 0), "Instances/im0.json", None, "4 numbers), got 8"),
    ("box_of_2", _set("box", [5, 10], 1), "Instances/im0.json", None, "4 numbers), got 2"),
    ("box_as_corner_pairs", _set("box", [[5, 10], [15, 20]]), "Instances/im0.json", None, "4 numbers), got 2"),
    ("box_of_strings", _set("box", ["5", "10", "15", "20"]), "Instances/im0.json", None, "other than numbers"),
    ("box_of_booleans", _set("box", [True, True, True, True]), "Instances/im0.json", None, "other than numbers"),
    ("box_with_nan", _raw_json('{"objects": [{"box": [5, NaN, 15, 20]}]}'), "Instances/im0.json", None,
     "NaN is not a number"),
    ("box_outside", _set("box", [40, 10, 60, 20]), "Instances/im0.json", None, "outside the 50×40 image"),
    ("box_empty", _set("box", [15, 10, 15, 20]), "Instances/im0.json", None, "or is empty"),
    ("cosalient_string_false", _set("cosalient", "false", 2), "Instances/im0.json", None,
     "'cosalient' must be JSON true or false, got 'false'"),
    ("cosalient_zero", _set("cosalient", 0, 2), "Instances/im0.json", None, "must be JSON true or false, got 0"),
    ("class_a_list", _set("class", ["red"]), "Instances/im0.json", None, "'class' must be a name"),
    ("duplicate_key", _raw_json('{"objects": [{"box": [5, 10, 15, 20], "box": [30, 10, 40, 20]}]}'),
     "Instances/im0.json", None, "key 'box' appears twice"),
    ("duplicate_object", lambda r: _write_objects(r, OBJECTS + [OBJECTS[1]]), "Instances/im0.json", None,
     "object 3 repeats object 1"),
    ("cosalient_flag_flipped", _set("cosalient", True, 2), "Instances/im0.json", None,
     "object 2 is marked co-salient but its box"),
    ("no_objects_but_salient_gt", _raw_json('{\n "objects": []\n}'), "Instances/im0.json", 2,
     "lists no objects, but its ground truth marks 200 salient pixel(s)"),
    ("only_distractors_but_salient_gt", lambda r: _write_objects(r, OBJECTS[2:]), "Instances/im0.json", 2,
     "lists 1 object(s), none co-salient, but its ground truth marks 200"),
    ("duplicate_image_id", _duplicate_stem, "Image/im1.png", None, "same id 'im1' as im1.jpg"),
    ("orphan_instance_file", _orphan("Instances", "im7.json"), "Instances/im7.json", None, "without an image"),
    ("orphan_salient_mask", _orphan("Salient", "im7.png"), "Salient/im7.png", None, "without an image"),
]


@pytest.mark.parametrize("case, breaks, culprit, line, words", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_refused_naming_the_file(tmp_path, case, breaks, culprit, line, words):
    root = _valid_tree(tmp_path / "tree")
    breaks(root)
    with pytest.raises(BenchlibError) as e:
        load_saliency_folder(root)
    msg = str(e.value)
    assert str(root / culprit) in msg, msg
    assert words in msg, msg
    if line is not None:
        assert f"line {line}:" in msg, msg


def test_an_empty_annotation_of_an_empty_ground_truth_is_accepted(tmp_path):
    """The refusal above is about the contradiction: no objects and no salient pixel agree."""
    root = _valid_tree(tmp_path / "tree", n=1)
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "GT" / "im0.png")
    Image.fromarray(np.zeros((H, W), np.uint8)).save(root / "Salient" / "im0.png")
    _write_objects(root, [])
    assert load_saliency_folder(root)[0].boxes.shape == (0, 4)


def test_the_corpus_is_large_enough():
    assert len(CASES) + 3 >= 12  # + the three bombs below


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))   # a regression cannot take the machine
    from benchlib import BenchlibError
    from benchlib.chapters.cosaliency.data import load_saliency_folder
    for root in sys.argv[1:]:
        try:
            load_saliency_folder(root)
            print("ACCEPTED", root)
        except BenchlibError as e:
            print("refused:", e)
    # VmHWM: peak RSS of this process's own memory; ru_maxrss would also count the parent's RSS
    # at fork time (pytest after the model tests holds ~900 MB), inherited across exec
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
    print("peak_mb", int(hwm.split()[1]) / 1024)
""")


def test_bombs_are_refused_under_a_memory_limit_with_little_memory(tmp_path, monkeypatch):
    """Files whose headers declare 30000 × 30000 pixels (900 MP, ~2.7 GB as RGB) in each of the
    three image folders: refused from the header, in a process that could not decode them anyway."""
    trees = []
    for sub, name in (("Image", "im0.jpg"), ("GT", "im0.png"), ("Salient", "im0.png")):
        root = _valid_tree(tmp_path / sub)
        if name.endswith(".jpg"):
            jpeg_header_bomb(root / sub / name, 30000, 30000)
            monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # PIL's own guard off, to look at it
            with Image.open(root / sub / name) as im:
                assert im.size == (30000, 30000)  # the header does declare 900 MP
        else:
            png_header_bomb(root / sub / name, 30000, 30000)
        trees.append((root, root / sub / name))
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, *(str(r) for r, _ in trees)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "ACCEPTED" not in out.stdout, out.stdout
    refusals = [ln for ln in out.stdout.splitlines() if ln.startswith("refused:")]
    assert len(refusals) == 3, out.stdout
    for msg, (_, culprit) in zip(refusals, trees):
        assert str(culprit) in msg and "30000 × 30000 = 900 MP" in msg, msg
    peak = float(out.stdout.split("peak_mb")[1])
    assert peak < 200, f"peak memory {peak:.0f} MB while refusing bombs"
