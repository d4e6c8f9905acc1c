"""The Python API beyond the golden numbers: errors, observers, analysis,
views, the toy attention, threads and memory."""
import re
import threading
import time

import numpy as np
import pytest

import gaze
from conftest import fixture


@pytest.fixture(scope="module")
def bert():
    return gaze.load(str(fixture("golden", "bert-tiny")))


@pytest.fixture(scope="module")
def sentence(bert):
    return bert.run("Emily always wanted to visit Paris so she took some French lessons")


# ---- precisions ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype,bound", [("bf16", 2e-2), ("int8", 5e-2)])
def test_lower_precisions_keep_attention_close_to_f32(bert, dtype, bound):
    text = "Emily always wanted to visit Paris so she took some French lessons"
    exact = bert.run(text).attentions
    low = gaze.load(str(fixture("golden", "bert-tiny")), dtype=dtype).run(text).attentions
    assert low.shape == exact.shape
    diff = float(np.abs(low - exact).max())
    assert 0 < diff <= bound, diff  # not bit-identical (it did change precision), within the bound


# ---- errors -------------------------------------------------------------------------

def test_errors_are_gaze_errors_with_the_library_message(bert, tmp_path):
    with pytest.raises(gaze.Error, match="model folder not found"):
        gaze.load(str(tmp_path / "missing"))
    with pytest.raises(gaze.Error, match="dtype: unknown dtype 'f64'"):
        gaze.load(str(fixture("golden", "bert-tiny")), dtype="f64")
    with pytest.raises(gaze.Error, match="do not run on CUDA yet"):
        gaze.load(str(fixture("golden", "bert-tiny")), device="cuda")
    with pytest.raises(gaze.Error, match="only encoder-decoder models"):
        bert.run("a cat", target="un chat")
    with pytest.raises(gaze.Error, match="outside the vocabulary"):
        bert.run([101, 10**6, 102])
    with pytest.raises(gaze.Error, match="max_new_tokens"):
        gaze.load(str(fixture("golden", "gpt2-tiny"))).generate("x", max_new_tokens=0)
    with pytest.raises(gaze.Error, match="cannot generate|generate"):
        bert.generate("a cat", max_new_tokens=2)
    with pytest.raises(gaze.Error):
        gaze.load(str(fixture("golden", "gpt2-tiny"))).generate("x", max_new_tokens=2, greedy=False, top_p=0.0)
    assert issubclass(gaze.Error, RuntimeError)


def test_analysis_errors_name_the_argument(sentence):
    with pytest.raises(gaze.Error, match="layer 7"):
        gaze.heatmap(sentence, 7, 0)
    with pytest.raises(gaze.Error, match="head 9"):
        gaze.top_targets(sentence, 0, 9)
    with pytest.raises(gaze.Error, match="block 'cross'"):
        gaze.rollout(sentence, block="cross")
    with pytest.raises(gaze.Error, match="london"):
        gaze.find_head(sentence, "london", "french")
    with pytest.raises(gaze.Error, match="not a gaze.Observer"):
        sentence_model = gaze.load(str(fixture("golden", "bert-tiny")))
        sentence_model.run("a cat", observers=[object()])


# ---- results and analysis ---------------------------------------------------------------

def test_result_arrays_share_one_buffer_and_are_read_only(sentence):
    a = sentence.attentions
    assert a.dtype == np.float32 and a.ndim == 4 and not a.flags.writeable
    assert np.allclose(a.sum(-1), 1.0, atol=1e-5)
    # The same memory every time: numpy views the result's buffer.
    assert sentence.attentions.__array_interface__["data"][0] == a.__array_interface__["data"][0]
    assert sentence.blocks["encoder self"].__array_interface__["data"][0] == a.__array_interface__["data"][0]
    del sentence  # the array keeps its buffer alive on its own
    assert np.isfinite(a).all()


def test_find_head_heads_rollout_flow_top_targets(sentence):
    links = gaze.find_head(sentence, "paris", "french")
    assert len(links) == 2 * 4 and links[0]["score"] >= links[-1]["score"]
    profiles = gaze.heads(sentence)
    assert len(profiles) == 8 and {p["role"] for p in profiles} <= {"self", "previous", "next", "first", "separator", "broad"}
    roll = gaze.rollout(sentence)
    assert roll.shape == (2, len(sentence.tokens), len(sentence.tokens))
    assert np.allclose(roll.sum(-1), 1.0, atol=1e-4)
    flow = gaze.flow(sentence)
    assert flow.shape == roll.shape[1:] and (flow >= 0).all()
    top = gaze.top_targets(sentence, layer=-1, head=-1, k=3)
    assert len(top) == len(sentence.tokens) and all(len(t["key_tokens"]) == 3 for t in top)
    # Top-1 is the row maximum of the mean over heads.
    mean = sentence.attentions[-1].mean(0)
    assert [t["key_positions"][0] for t in top] == list(mean.argmax(-1))


def test_python_observer_gets_only_what_it_requests(bert, sentence):
    class LastLayerHead0(gaze.Observer):
        def __init__(self):
            super().__init__()
            self.events = []

        def request(self):
            return gaze.Request(layers=[1], heads=[0])

        def on_attention(self, event):
            self.events.append((event.layer, event.heads, event.probabilities.copy(), event.query_tokens[0]))

    obs = LastLayerHead0()
    r = bert.run(sentence.text, observers=[obs])
    assert [(e[0], e[1]) for e in obs.events] == [(1, [0])]
    np.testing.assert_array_equal(obs.events[0][2][0, 0], r.attentions[1, 0])
    assert obs.events[0][3] == r.tokens


def test_observer_exception_reaches_the_caller(bert):
    class Broken(gaze.Observer):
        def on_attention(self, event):
            raise ValueError("observer failed on purpose")

    with pytest.raises(ValueError, match="on purpose"):
        bert.run("a cat", observers=[Broken()])
    assert bert.run("a cat").attentions.shape[0] == 2  # the model still works


def test_builtin_observers(bert, sentence):
    rec, stats, top = gaze.Recorder(), gaze.Statistics(), gaze.TopTargets(k=2, request=gaze.Request(layers=[0]))
    bert.run(sentence.text, observers=[rec, stats, top], attentions=False)
    assert [x["name"] for x in rec.records] == ["attentions.0", "attentions.1"]
    np.testing.assert_allclose(rec.records[1]["probabilities"][0], sentence.attentions[1], atol=0)
    assert len(stats.results()) == 8
    assert all(0 <= s["entropy"] <= np.log(len(sentence.tokens)) + 1e-6 for s in stats.results())
    assert {t["layer"] for t in top.results()} == {0} and all(len(t["weights"]) == 2 for t in top.results())


def test_generation_attention_per_step():
    m = gaze.load(str(fixture("golden", "gpt2-tiny")))
    seen = []
    g = m.generate("The cat", max_new_tokens=4, greedy=False, temperature=0.8, top_k=20, seed=3,
                   on_token=lambda step, i, text: seen.append(step) or step < 2)
    assert seen == [0, 1, 2] and len(g.ids) == 3  # on_token returning False stops
    prompt = len(g.prompt_tokens)
    shapes = [s["decoder self"].shape for s in g.steps]
    assert shapes == [(2, 4, prompt, prompt), (2, 4, 1, prompt + 1), (2, 4, 1, prompt + 2)]
    again = m.generate("The cat", max_new_tokens=3, greedy=False, temperature=0.8, top_k=20, seed=3)
    assert again.ids == g.ids  # seeded sampling repeats


def test_random_gpt_from_a_config():
    m = gaze.random_gpt2(config={"n_layer": 3, "n_head": 2, "n_embd": 32, "n_positions": 64}, seed=1)
    r = m.run("hello world")
    assert r.attentions.shape == (3, 2, 11, 11)
    assert np.allclose(np.triu(r.attentions, 1), 0)  # causal
    with pytest.raises(gaze.Error, match="at least 257"):
        gaze.random_gpt2(vocab_size=100)


# ---- toy attention on user arrays ---------------------------------------------------------

def test_attention_on_numpy_matches_the_formula_and_masks_padding():
    rng = np.random.default_rng(0)
    Q, K, V = (rng.standard_normal((2, 5, 8)).astype(np.float32) for _ in range(3))
    mask = np.array([1, 1, 1, 0, 0])
    out, w = gaze.attention(Q, K, V, mask=mask)
    scores = Q @ K.transpose(0, 2, 1) / np.sqrt(8)
    scores[..., mask == 0] = -np.inf
    ref = np.exp(scores - scores.max(-1, keepdims=True))
    ref /= ref.sum(-1, keepdims=True)
    np.testing.assert_allclose(w, ref, atol=1e-6)
    np.testing.assert_allclose(out, ref @ V, atol=1e-5)
    assert (w[..., 3:] == 0).all()
    _, causal = gaze.attention(Q[0], K[0], V[0], causal=True)
    assert np.allclose(np.triu(causal, 1), 0)
    with pytest.raises(gaze.Error, match="shapes do not fit"):
        gaze.attention(Q, K[:, :, :4], V)


# ---- views ---------------------------------------------------------------------------

def test_views_are_self_contained_and_carry_the_tokens(sentence, tmp_path):
    for view in (gaze.head_view(sentence), gaze.model_view(sentence), gaze.heatmap(sentence, 1, 2),
                 gaze.explain(sentence, layer=0, head=1)):
        html = view._repr_html_()
        assert html.startswith("<iframe") and "srcdoc=" in html
        page = view.html()
        assert "paris" in page and "french" in page
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
        assert view.to_svg().startswith("<svg") or view.to_svg().startswith("<?xml")
        assert view._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert gaze.head_view(sentence).save(str(tmp_path / "v.html")).endswith("v.html")
    assert (tmp_path / "v.html").read_text().startswith("<!DOCTYPE html>")
    gaze.heatmap(sentence, 0, 0).save(str(tmp_path / "h.png"))
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    for fig in (gaze.layer_heads(sentence, 0), gaze.layer_means(sentence), gaze.compare_heads(sentence, [(0, 1), (1, 2)]),
                gaze.matrix(sentence, gaze.flow(sentence), "flow"), gaze.position_encoding(20, 16),
                gaze.causal_mask(sentence), gaze.step(sentence, 0, 0, 2), gaze.heatmap(np.eye(3), labels=["a", "b", "c"])):
        assert "<svg" in fig.to_svg()


def test_qkv_step_by_step_agrees_with_the_recorded_attention(sentence):
    c = gaze.qkv(sentence, layer=1, head=2)
    np.testing.assert_allclose(c["weights"], sentence.attentions[1, 2], atol=1e-5)
    np.testing.assert_allclose(c["scores"], c["q"] @ c["k"].T * c["scale"], atol=1e-4)


# ---- threads and memory -----------------------------------------------------------------

def test_forward_passes_release_the_gil():
    # Two models (one pass at a time per model), run from two threads while
    # the main thread keeps taking timestamps. A pass that held the GIL
    # would leave no main-thread timestamp strictly inside its interval.
    models = [gaze.random_gpt2(n_layer=4, n_head=4, n_embd=128, n_positions=512, seed=s) for s in (0, 1)]
    text = "the quick brown fox jumps over the lazy dog " * 8
    intervals = []

    def work(m):
        for _ in range(4):
            t0 = time.perf_counter()
            m.run(text)
            intervals.append((t0, time.perf_counter()))

    threads = [threading.Thread(target=work, args=(m,)) for m in models]
    stamps = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        stamps.append(time.perf_counter())
    for t in threads:
        t.join()
    inside = sum(1 for t0, t1 in intervals for s in stamps if t0 < s < t1)
    assert len(intervals) == 8 and inside > 0


def _rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_no_memory_growth_over_1000_runs(bert):
    text = "The cat sat on the mat because it was tired."
    for _ in range(100):  # warm up: buffers at their final sizes
        gaze.heads(bert.run(text, logits=False))
    before = _rss_kib()
    for _ in range(1000):
        r = bert.run(text, logits=False)
        r.attentions.sum()
        gaze.heads(r)
    grown = _rss_kib() - before
    print(f"RSS grew by {grown} KiB over 1000 runs")
    assert grown < 8 * 1024
