"""Sentence meaning from a small language model, run in numpy: the optional semantic reader feature.

all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions, Apache 2.0) maps a question and a sentence to unit vectors
whose cosine says how close their meanings are, where BM25 only sees shared words ("how far does the train go"
and "covering a distance of 139km"). The model is read from a folder the host provides (``model.safetensors``
and ``vocab.txt``, as published); nothing is downloaded, and no deep-learning package is needed: the forward
pass below is BERT's, in numpy (600–1,700 tokens a second on two cores, busy to quiet).
"""

from __future__ import annotations

import json
import re
import struct
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.core.location import ModelError, check_model_folder

Vectors = npt.NDArray[np.float32]

MAX_TOKENS = 256  # the model's max_seq_length (sentence-transformers' setting), [CLS] and [SEP] included
MAX_WORD_CHARS = 100  # longer words are [UNK], as in BERT's WordPiece
BATCH_TOKENS = 4096  # padded tokens a batch holds: bounds the attention matrices' memory
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Every tensor of a .safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ModelError(f"{path} is not a safetensors file")
    (header_length,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + header_length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path} is not a safetensors file ({error})") from error
    if not isinstance(header, dict):
        raise ModelError(f"{path} is not a safetensors file (its header is no JSON object)")
    start = 8 + header_length
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = _DTYPES.get(entry["dtype"])
            if dtype is None:
                raise ModelError(f"{path}: tensor {name} has type {entry['dtype']}, not one of {sorted(_DTYPES)}")
            begin, end = entry["data_offsets"]
            if start + end > len(data):
                raise ModelError(f"{path} is cut short (a download that did not finish?): install the model again")
            count = (end - begin) // np.dtype(dtype).itemsize
            tensors[name] = np.frombuffer(data, dtype=dtype, count=count, offset=start + begin).reshape(entry["shape"])
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError) as error:  # a damaged header: the host is told, not a traceback
            raise ModelError(
                f"{path}: tensor {name} is not described as safetensors describes one ({error!r})"
            ) from None
    return tensors


# --- tokenizer: BERT's uncased basic tokenizer, then WordPiece -------------------------------------------


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    # BERT counts every non-letter, non-digit ASCII symbol as punctuation ("$", "^", "`"), not only category P.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0x2A700 <= code <= 0x2B81F
        or 0x2B820 <= code <= 0x2CEAF
        or 0xF900 <= code <= 0xFAFF
        or 0x2F800 <= code <= 0x2FA1F
    )


_WHITESPACE = re.compile(r"\s+")


def basic_words(text: str) -> list[str]:
    """Lower-cased, accent-free words and single punctuation marks, as BERT's basic tokenizer splits them."""
    cleaned: list[str] = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD or (unicodedata.category(char).startswith("C") and char not in "\t\n\r"):
            continue
        cleaned.append(f" {char} " if _is_cjk(code) else char)
    words: list[str] = []
    for word in _WHITESPACE.sub(" ", "".join(cleaned)).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(char for char in word if unicodedata.category(char) != "Mn")
        piece = ""
        for char in word:
            if _is_punctuation(char):
                if piece:
                    words.append(piece)
                    piece = ""
                words.append(char)
            else:
                piece += char
        if piece:
            words.append(piece)
    return words


class WordPiece:
    """Greedy longest-match-first sub-word ids over BERT's vocabulary."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.ids = {token: index for index, token in enumerate(vocabulary)}
        missing = [token for token in ("[UNK]", "[CLS]", "[SEP]") if token not in self.ids]
        if missing:
            raise ModelError(f"the vocabulary has no {', '.join(missing)}: it is not a BERT WordPiece vocabulary")
        self.unknown = self.ids["[UNK]"]
        self.cls = self.ids["[CLS]"]
        self.sep = self.ids["[SEP]"]
        self.size = len(vocabulary)
        self._cache: dict[str, list[int]] = {}

    @classmethod
    def from_file(cls, path: Path) -> WordPiece:
        try:
            return cls(path.read_text(encoding="utf-8").splitlines())
        except UnicodeDecodeError as error:
            raise ModelError(f"{path} is not UTF-8 text ({error}): install the model again") from None
        except ModelError as error:
            raise ModelError(f"{path}: {error}") from None

    def word_ids(self, word: str) -> list[int]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        ids: list[int] = []
        start = 0
        while start < len(word) and len(word) <= MAX_WORD_CHARS:
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    break
                end -= 1
            if end == start:  # no piece matches here: the whole word is unknown
                break
            ids.append(self.ids[piece])
            start = end
        if start < len(word):
            ids = [self.unknown]
        if len(self._cache) < 200_000:
            self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """[CLS] text's pieces [SEP], cut to MAX_TOKENS."""
        ids = [self.cls]
        for word in basic_words(text):
            ids.extend(self.word_ids(word))
            if len(ids) >= MAX_TOKENS - 1:
                break
        return [*ids[: MAX_TOKENS - 1], self.sep]


# --- the model ---------------------------------------------------------------------------------------------


def _gelu(values: Vectors) -> Vectors:
    """GELU, in place: the tanh form (within 5e-4 of the exact erf one BERT uses, and four times as fast here)."""
    cube = values * values
    cube *= np.float32(0.044715)
    cube += 1.0
    cube *= values
    cube *= np.float32(np.sqrt(2.0 / np.pi))
    np.tanh(cube, out=cube)
    cube += 1.0
    values *= cube
    values *= np.float32(0.5)
    return values


def _layer_norm(values: Vectors, weight: Vectors, bias: Vectors, eps: float = 1e-12) -> Vectors:
    mean = values.mean(axis=-1, keepdims=True)
    centred = values - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return (centred / np.sqrt(variance + eps) * weight + bias).astype(np.float32)


def _attention_heads(folder: Path) -> int:
    """num_attention_heads of the folder's config.json (12, MiniLM's, when it has none)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 12
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{folder / 'config.json'} is not JSON ({error})") from error
    heads = config.get("num_attention_heads", 12) if isinstance(config, dict) else None
    if not isinstance(heads, int) or heads < 1:
        raise ModelError(f"{folder / 'config.json'}: num_attention_heads should be a positive number")
    return heads


@dataclass(frozen=True)
class _Layer:
    qkv: Vectors  # (hidden, 3·hidden): query, key and value projections side by side, one matmul
    qkv_bias: Vectors
    attention_out: Vectors
    attention_out_bias: Vectors
    attention_norm: tuple[Vectors, Vectors]
    intermediate: Vectors
    intermediate_bias: Vectors
    output: Vectors
    output_bias: Vectors
    output_norm: tuple[Vectors, Vectors]


class SentenceEncoder:
    """Unit vectors for sentences: BERT, mean-pooled over the tokens, normalised (sentence-transformers' recipe)."""

    def __init__(self, folder: Path) -> None:
        check_model_folder(folder)
        self.folder = folder
        self.heads = _attention_heads(folder)
        self.tokenizer = WordPiece.from_file(folder / "vocab.txt")
        weights = read_safetensors(folder / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

        def tensor(name: str) -> Vectors:
            try:
                return np.array(weights[prefix + name], dtype=np.float32)  # a copy: the file's bytes are freed
            except KeyError:
                raise ModelError(f"{folder}: the model has no {name}; it is not a BERT model") from None

        def linear(name: str) -> tuple[Vectors, Vectors]:  # stored (out, in); kept (in, out) for x @ W
            return np.ascontiguousarray(tensor(name + ".weight").T), tensor(name + ".bias")

        self.words = tensor("embeddings.word_embeddings.weight")
        self.positions = tensor("embeddings.position_embeddings.weight")
        self.token_type = tensor("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = (tensor("embeddings.LayerNorm.weight"), tensor("embeddings.LayerNorm.bias"))
        self.layers: list[_Layer] = []
        index = 0
        while prefix + f"encoder.layer.{index}.attention.self.query.weight" in weights:
            name = f"encoder.layer.{index}."
            projections = [linear(name + f"attention.self.{part}") for part in ("query", "key", "value")]
            attention_out, attention_out_bias = linear(name + "attention.output.dense")
            intermediate, intermediate_bias = linear(name + "intermediate.dense")
            output, output_bias = linear(name + "output.dense")
            self.layers.append(
                _Layer(
                    qkv=np.ascontiguousarray(np.concatenate([weight for weight, _ in projections], axis=1)),
                    qkv_bias=np.concatenate([bias for _, bias in projections]),
                    attention_out=attention_out,
                    attention_out_bias=attention_out_bias,
                    attention_norm=(
                        tensor(name + "attention.output.LayerNorm.weight"),
                        tensor(name + "attention.output.LayerNorm.bias"),
                    ),
                    intermediate=intermediate,
                    intermediate_bias=intermediate_bias,
                    output=output,
                    output_bias=output_bias,
                    output_norm=(tensor(name + "output.LayerNorm.weight"), tensor(name + "output.LayerNorm.bias")),
                )
            )
            index += 1
        if not self.layers:
            raise ModelError(f"{folder}: the model has no encoder layers; it is not a BERT model")
        if self.words.ndim != 2 or self.tokenizer.size > self.words.shape[0]:  # ids past the table: IndexError later
            raise ModelError(
                f"{folder}: vocab.txt has {self.tokenizer.size} words, the model {self.words.shape[0]}: "
                "they are not one model's files"
            )
        self.dimensions = int(self.words.shape[1])
        if self.dimensions % self.heads:
            raise ModelError(f"{folder}: {self.dimensions} dimensions do not split into {self.heads} attention heads")
        try:  # tensors that do not fit together (two models' files mixed) fail here, not at the first question
            self.encode(["a check"])
        except ValueError as error:
            raise ModelError(f"{folder}: the model's tensors do not fit together ({error})") from None

    def _forward(self, token_ids: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]) -> Vectors:
        batch, length = token_ids.shape
        hidden = self.dimensions
        head_size = hidden // self.heads
        states = self.words[token_ids] + self.positions[:length] + self.token_type
        states = _layer_norm(states, *self.embedding_norm)
        # Padding is never attended to: -1e4 before the softmax, as BERT's extended attention mask.
        mask_bias = np.where(mask, np.float32(0.0), np.float32(-1e4))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_size))
        states = states.reshape(batch * length, hidden)  # linear layers as one 2-D matmul: BLAS's fast path
        for layer in self.layers:
            qkv = (states @ layer.qkv + layer.qkv_bias).reshape(batch, length, 3, self.heads, head_size)
            query, key, value = qkv.transpose(2, 0, 3, 1, 4)
            scores = (query @ key.transpose(0, 1, 3, 2)) * scale + mask_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            attended = context @ layer.attention_out + layer.attention_out_bias
            states = _layer_norm(attended + states, *layer.attention_norm)
            inner = _gelu(states @ layer.intermediate + layer.intermediate_bias)
            states = _layer_norm(inner @ layer.output + layer.output_bias + states, *layer.output_norm)
        states = states.reshape(batch, length, hidden)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit vector a text, in order; texts of similar length are batched together."""
        encoded = [self.tokenizer.encode(text) for text in texts]
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda position: len(encoded[position]))
        start = 0
        while start < len(order):
            # Shortest first, so a batch's last text is its longest: the batch pads every text to that length.
            end = start + 1
            while end < len(order) and (end - start + 1) * len(encoded[order[end]]) <= BATCH_TOKENS:
                end += 1
            members = order[start:end]
            longest = len(encoded[members[-1]])
            token_ids = np.zeros((len(members), longest), dtype=np.int64)
            mask = np.zeros((len(members), longest), dtype=np.bool_)
            for row, position in enumerate(members):
                ids = encoded[position]
                token_ids[row, : len(ids)] = ids
                mask[row, : len(ids)] = True
            vectors[members] = self._forward(token_ids, mask)
            start = end
        return vectors


class CachedEncoder:
    """A SentenceEncoder that remembers the vectors of the last texts it encoded (sentences recur across questions)."""

    def __init__(self, encoder: SentenceEncoder, capacity: int = 50_000) -> None:
        self.encoder = encoder
        self.capacity = capacity
        self._vectors: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()  # questions are read in worker threads, several at once

    def encode(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing), strict=True):
                self._vectors[text] = vector
        rows = []
        for text in texts:
            self._vectors.move_to_end(text)
            rows.append(self._vectors[text])
        while len(self._vectors) > self.capacity:
            self._vectors.popitem(last=False)
        if not rows:
            return np.zeros((0, self.encoder.dimensions), dtype=np.float32)
        return np.stack(rows)
