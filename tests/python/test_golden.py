"""The golden cases through Python: the same numbers as Hugging Face (and so
as the C++ API, which tests/test_golden_*.cpp hold to the same tolerances)."""
import numpy as np
import pytest

import gaze
from conftest import golden_case

ATTENTION_TOL = 1e-5  # probabilities
HIDDEN_TOL = 1e-4     # hidden states and logits


def close(actual, expected, tol, what):
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    diff = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    print(f"{what}: max abs difference {diff:.2e}")
    assert diff <= tol, f"{what}: max abs difference {diff} > {tol}"


def close_hidden_and_logits(r, ref, what):
    for i, h in enumerate(r.hidden_states):
        close(h, ref[f"hidden_states.{i}"][0], HIDDEN_TOL, f"{what} hidden_states.{i}")
    if "logits" in ref:
        close(r.logits, ref["logits"][0], HIDDEN_TOL, f"{what} logits")
    else:
        close(r.logits[-1], ref["logits_last"][0], HIDDEN_TOL, f"{what} logits_last")


_models = {}


def model(name, folder):
    if name not in _models:
        _models[name] = gaze.load(str(folder))
    return _models[name]


@pytest.mark.parametrize("name", ["bert-tiny", "distilbert-tiny"])
@pytest.mark.parametrize("case", ["text0", "text1", "text2", "text3", "pair"])
def test_encoder_golden(name, case):
    folder, meta, ref = golden_case(name, case)
    m = model(name, folder)
    r = m.run(meta["text"], pair=meta.get("text_pair"))
    assert r.tokens == meta["tokens"][0]
    assert r.ids == meta["input_ids"][0]
    layers = m.info["layers"]
    assert r.attentions.shape == (layers, m.info["heads"], len(r.tokens), len(r.tokens))
    for l in range(layers):
        close(r.attentions[l], ref[f"attentions.{l}"][0], ATTENTION_TOL, f"{name}/{case} attentions.{l}")
    assert len(r.hidden_states) == layers + 1
    close_hidden_and_logits(r, ref, f"{name}/{case}")


@pytest.mark.parametrize("case", ["text0", "text1", "text2"])
def test_gpt2_golden_forward_and_generation(case):
    folder, meta, ref = golden_case("gpt2-tiny", case)
    m = model("gpt2-tiny", folder)
    r = m.run(meta["text"])
    assert r.ids == meta["input_ids"][0]
    assert list(r.blocks) == ["decoder self"]
    for l in range(2):
        close(r.attentions[l], ref[f"attentions.{l}"][0], ATTENTION_TOL, f"gpt2/{case} attentions.{l}")
    assert len(r.hidden_states) == 3
    close_hidden_and_logits(r, ref, f"gpt2/{case}")

    streamed = []
    g = m.generate(meta["text"], max_new_tokens=meta["max_new_tokens"], on_token=lambda s, i, t: streamed.append(i))
    assert g.ids == ref["generated_ids"][0].tolist()
    assert streamed == g.ids
    last = g.steps[-1]["decoder self"]
    for l in range(2):
        close(last[l], ref[f"generate_last_step_attentions.{l}"][0], ATTENTION_TOL, f"gpt2/{case} last step attentions.{l}")


@pytest.mark.parametrize("case", ["pair0", "pair1"])
def test_t5_golden_teacher_forcing_and_generation(case):
    folder, meta, ref = golden_case("t5-tiny", case)
    m = model("t5-tiny", folder)
    r = m.run(meta["text"], target=meta["decoder_input_ids"][0])
    assert r.tokens == meta["tokens"][0]
    assert r.target_tokens == meta["decoder_tokens"][0]
    assert list(r.blocks) == ["encoder self", "decoder self", "cross"]
    for l in range(2):
        close(r.encoder_attentions[l], ref[f"encoder_attentions.{l}"][0], ATTENTION_TOL, f"t5/{case} encoder_attentions.{l}")
        close(r.decoder_attentions[l], ref[f"decoder_attentions.{l}"][0], ATTENTION_TOL, f"t5/{case} decoder_attentions.{l}")
        close(r.cross_attentions[l], ref[f"cross_attentions.{l}"][0], ATTENTION_TOL, f"t5/{case} cross_attentions.{l}")
    for i, h in enumerate(r.hidden_states):
        close(h, ref[f"encoder_hidden_states.{i}"][0], HIDDEN_TOL, f"t5/{case} encoder_hidden_states.{i}")
    for i, h in enumerate(r.decoder_hidden_states):
        close(h, ref[f"decoder_hidden_states.{i}"][0], HIDDEN_TOL, f"t5/{case} decoder_hidden_states.{i}")
    close(r.logits, ref["logits"][0], HIDDEN_TOL, f"t5/{case} logits")
    # Teacher forcing from the target text builds the same decoder input.
    assert m.run(meta["text"], target=meta["target_text"]).target_ids == meta["decoder_input_ids"][0]

    g = m.generate(meta["text"], max_new_tokens=meta["max_new_tokens"])
    expected = ref["generated_ids"][0].tolist()
    assert g.ids == expected[:len(g.ids)] and (len(g.ids) == len(expected) or g.ids[-1] == 1)
    if len(g.ids) == len(expected):
        last = g.steps[-1]["cross"]
        for l in range(2):
            close(last[l], ref[f"generate_last_step_cross_attentions.{l}"][0], ATTENTION_TOL,
                  f"t5/{case} last step cross_attentions.{l}")
