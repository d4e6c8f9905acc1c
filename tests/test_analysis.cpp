// Attention analysis on synthetic attention where the right answer is known
// (planted heads, identity attention, hand-computed flows), and the q/k/v
// probe against the golden models' own attention.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "gaze/analysis.hpp"
#include "gaze/attention_probe.hpp"
#include "gaze/gaze.hpp"
#include "gaze/seq2seq.hpp"
#include "golden.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

using Fill = std::function<float(int layer, int head, int64_t i, int64_t j)>;

TokenSide side(const std::vector<std::string>& text) {
    TokenSide s;
    s.text = text;
    for (const auto& t : text) {
        s.special.push_back(t == "[CLS]" || t == "[SEP]" ? 1 : 0);
        s.valid.push_back(1);
    }
    return s;
}

// A self-attention block whose rows are `fill` normalised (uniform where fill gives 0 everywhere).
AttentionBlock make_block(const std::vector<std::string>& tokens, int layers, int heads, const Fill& fill,
                          AttentionKind kind = AttentionKind::self) {
    AttentionBlock b;
    b.kind = kind;
    b.stack = kind == AttentionKind::causal_self ? Stack::decoder : Stack::encoder;
    b.queries = b.keys = side(tokens);
    const auto s = static_cast<int64_t>(tokens.size());
    for (int l = 0; l < layers; ++l) {
        Tensor t({heads, s, s});
        for (int h = 0; h < heads; ++h) {
            for (int64_t i = 0; i < s; ++i) {
                std::vector<double> row(static_cast<size_t>(s));
                double sum = 0;
                for (int64_t j = 0; j < s; ++j) {
                    row[static_cast<size_t>(j)] = b.masked(i, j) ? 0.0 : fill(l, h, i, j);  // fill is called once per cell
                    sum += row[static_cast<size_t>(j)];
                }
                const int64_t visible = kind == AttentionKind::causal_self ? i + 1 : s;
                for (int64_t j = 0; j < s; ++j) {
                    t.at({h, i, j}) = b.masked(i, j) ? 0.0f
                                      : sum > 0   ? static_cast<float>(row[static_cast<size_t>(j)] / sum)
                                                  : 1.0f / static_cast<float>(visible);
                }
            }
        }
        b.layers.push_back(std::move(t));
    }
    return b;
}

const std::vector<std::string> kSentence = {"[CLS]", "the", "cat", "chased", "the", "mouse", "because", "it", "was", "hungry", ".", "[SEP]"};

TEST(Words, WordPiecePiecesMergeIntoWords) {
    const std::vector<std::string> pieces = {"[CLS]", "pa", "##ris", "is", "french", "[SEP]"};
    const auto words = group_words(pieces, {1, 0, 0, 0, 0, 1});
    ASSERT_EQ(words.size(), 5u);
    EXPECT_EQ(words[1].text, "paris");
    EXPECT_EQ(words[1].first, 1);
    EXPECT_EQ(words[1].last, 2);
    EXPECT_TRUE(words[0].special);
    EXPECT_EQ(detect_piece_style(pieces), PieceStyle::wordpiece);
}

TEST(Words, Gpt2PiecesWithoutSpaceMarkerContinueTheWord) {
    const std::vector<std::string> pieces = {"The", "\xC4\xA0" "Par", "is", "\xC4\xA0" "cat", ",", "\xC4\xA0" "sat", "."};
    const auto words = group_words(pieces);
    ASSERT_EQ(words.size(), 6u);
    EXPECT_EQ(words[0].text, "The");
    EXPECT_EQ(words[1].text, "Paris");
    EXPECT_EQ(words[1].last, 2);
    EXPECT_EQ(words[3].text, ",");
    EXPECT_EQ(words[5].text, ".");
    EXPECT_EQ(normalize_word(pieces[1]), "par");
}

TEST(Words, SentencePieceMarkersStartWords) {
    const auto words = group_words({"\xE2\x96\x81" "trans", "late", "\xE2\x96\x81" "it", "</s>"}, {0, 0, 0, 1});
    ASSERT_EQ(words.size(), 3u);
    EXPECT_EQ(words[0].text, "translate");
    EXPECT_TRUE(words[2].special);
}

TEST(Words, MergeSumsKeyPiecesAndAveragesQueryPieces) {
    // 3 pieces: [a, ##b] and [c]; rows sum to 1.
    const Tensor m = Tensor::from_vector({3, 3}, {0.2f, 0.3f, 0.5f, 0.6f, 0.2f, 0.2f, 0.1f, 0.1f, 0.8f});
    const std::vector<WordSpan> words = {{"ab", 0, 1, false}, {"c", 2, 2, false}};
    const Tensor w = merge_word_attention(m, words, words);
    EXPECT_NEAR(w.at({0, 0}), (0.5 + 0.8) / 2, 1e-6);
    EXPECT_NEAR(w.at({0, 1}), (0.5 + 0.2) / 2, 1e-6);
    EXPECT_NEAR(w.at({1, 0}), 0.2, 1e-6);
    EXPECT_NEAR(w.at({1, 1}), 0.8, 1e-6);
}

TEST(FindHead, FindsThePlantedHeadInBothDirectionsAtWordLevel) {
    // "paris" is two pieces; layer 1 head 2: "french" attends to paris (0.5 + 0.4).
    const std::vector<std::string> pieces = {"[CLS]", "pa", "##ris", "is", "french", "[SEP]"};
    SequenceAttention a;
    a.blocks.push_back(make_block(pieces, 2, 3, [](int l, int h, int64_t i, int64_t j) -> float {
        if (l == 1 && h == 2 && i == 4) return j == 1 ? 0.5f : j == 2 ? 0.4f : 0.025f;
        if (l == 0 && h == 1 && (i == 1 || i == 2)) return j == 4 ? 0.6f : 0.08f;  // paris -> french, weaker
        return 1.0f;
    }));
    const auto links = find_linking_heads(a, "Paris", "french");
    ASSERT_EQ(links.size(), 6u);
    EXPECT_EQ(links[0].layer, 1);
    EXPECT_EQ(links[0].head, 2);
    EXPECT_NEAR(links[0].to_from, 0.9, 1e-3);  // french -> paris, summed over the key pieces
    EXPECT_NEAR(links[0].score, 0.9, 1e-3);
    EXPECT_EQ(links[1].layer, 0);
    EXPECT_EQ(links[1].head, 1);
    EXPECT_NEAR(links[1].from_to, 0.6, 1e-3);  // paris -> french, averaged over the query pieces
    // The other direction names the same heads.
    EXPECT_EQ(find_linking_heads(a, "french", "paris")[0].head, 2);
    try {
        find_linking_heads(a, "london", "french");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("'london' is not a word"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("paris"), std::string::npos) << e.what();
    }
}

TEST(Classify, PlantedPreviousTokenHeadIsRankedFirst) {
    SequenceAttention a;
    a.blocks.push_back(make_block(kSentence, 3, 4, [](int l, int h, int64_t i, int64_t j) -> float {
        if (l == 2 && h == 1) return j == i - 1 ? 9.0f : 0.1f;   // previous token
        if (l == 0 && h == 3) return j == i ? 3.0f : 0.1f;       // itself (weaker)
        if (l == 1 && h == 0) return j == 0 ? 2.0f : 0.1f;       // [CLS] (weaker still)
        return 1.0f;                                             // uniform
    }));
    const auto heads = classify_heads(a);
    ASSERT_EQ(heads.size(), 12u);
    EXPECT_EQ(heads[0].layer, 2);
    EXPECT_EQ(heads[0].head, 1);
    EXPECT_EQ(heads[0].role, HeadRole::previous);
    EXPECT_GT(heads[0].score, 0.85);
    EXPECT_EQ(heads[1].role, HeadRole::self);
    EXPECT_EQ(heads[1].layer, 0);
    EXPECT_EQ(heads[2].role, HeadRole::first);
    for (size_t i = 3; i < heads.size(); ++i) {
        EXPECT_EQ(heads[i].role, HeadRole::broad);
        EXPECT_NEAR(heads[i].broad, 1.0, 1e-6);  // uniform rows have the largest entropy
    }
    // The per-layer summary sees the planted previous-token mass in layer 2 only.
    const auto layers = summarize_layers(a);
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_GT(layers[2].previous, layers[0].previous + 0.15);
    EXPECT_GT(layers[0].self, layers[2].self);
}

TEST(Classify, SeparatorAndNextTokenHeads) {
    SequenceAttention a;
    a.blocks.push_back(make_block(kSentence, 1, 2, [](int, int h, int64_t i, int64_t j) -> float {
        if (h == 0) return j == 11 || j == 10 ? 5.0f : 0.05f;  // [SEP] and "."
        return j == i + 1 ? 5.0f : 0.05f;                       // next token
    }));
    const auto heads = classify_heads(a);
    ASSERT_EQ(heads.size(), 2u);
    for (const auto& h : heads) {
        EXPECT_EQ(h.role, h.head == 0 ? HeadRole::separator : HeadRole::next) << "head " << h.head;
        EXPECT_GT(h.score, 0.6);
    }
}

TEST(Classify, CausalHeadsNeverLookAhead) {
    SequenceAttention a;
    a.blocks.push_back(make_block({"The", "\xC4\xA0" "cat", "\xC4\xA0" "sat", "."}, 1, 1,
                                  [](int, int, int64_t i, int64_t j) -> float { return j == i - 1 ? 5.0f : 0.1f; },
                                  AttentionKind::causal_self));
    const auto heads = classify_heads(a);
    ASSERT_EQ(heads.size(), 1u);
    EXPECT_EQ(heads[0].role, HeadRole::previous);
    EXPECT_EQ(heads[0].next, 0.0);
    EXPECT_TRUE(a.blocks[0].masked(0, 1));
    EXPECT_FALSE(a.blocks[0].masked(1, 0));
}

TEST(TopTargets, ThroughTheObserver) {
    const AttentionBlock b = make_block(kSentence, 1, 2, [](int, int h, int64_t i, int64_t j) -> float {
        return h == 1 && j == std::max<int64_t>(i - 1, 0) ? 9.0f : 0.1f;
    });
    const auto top = top_targets(b, 0, 1, 2);
    ASSERT_EQ(top.size(), kSentence.size());
    EXPECT_EQ(top[5].query_token, "mouse");
    EXPECT_EQ(top[5].key_tokens[0], "the");
    EXPECT_EQ(top[5].key_positions[0], 4);
    EXPECT_EQ(top[5].weights.size(), 2u);
    EXPECT_EQ(top_targets(b, 0, -1, 1)[5].head, -1);  // mean over heads
    EXPECT_THROW(top_targets(b, 1, 0, 1), Error);
}

std::vector<Tensor> identity_layers(int layers, int heads, int64_t s) {
    std::vector<Tensor> out;
    for (int l = 0; l < layers; ++l) {
        Tensor t({heads, s, s});
        t.fill(0);
        for (int h = 0; h < heads; ++h)
            for (int64_t i = 0; i < s; ++i) t.at({h, i, i}) = 1;
        out.push_back(std::move(t));
    }
    return out;
}

TEST(Rollout, IdentityAttentionRollsOutToIdentity) {
    const auto r = attention_rollout(identity_layers(4, 3, 5));
    ASSERT_EQ(r.size(), 4u);
    for (const auto& m : r)
        for (int64_t i = 0; i < 5; ++i)
            for (int64_t j = 0; j < 5; ++j) EXPECT_NEAR(m.at({i, j}), i == j ? 1.0 : 0.0, 1e-6);
    const Tensor f = attention_flow(identity_layers(3, 2, 4));
    for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 4; ++j) EXPECT_NEAR(f.at({i, j}), i == j ? 1.0 : 0.0, 1e-6);
}

TEST(Rollout, IsTheProductOfResidualAugmentedLayers) {
    std::mt19937 rng(3);
    SequenceAttention a;
    std::uniform_real_distribution<float> u(0.01f, 1.0f);
    a.blocks.push_back(make_block(kSentence, 2, 3, [&](int, int, int64_t, int64_t) { return u(rng); }));
    const AttentionBlock& b = a.blocks[0];
    const auto r = attention_rollout(b);
    const Tensor a0 = residual_attention(b.layers[0]), a1 = residual_attention(b.layers[1]);
    const RowMatrix expected = a1.matrix() * a0.matrix();
    EXPECT_LT((r[1].matrix() - expected).cwiseAbs().maxCoeff(), 1e-6);
    for (int64_t i = 0; i < r[1].dim(0); ++i) EXPECT_NEAR(r[1].matrix().row(i).sum(), 1.0, 1e-5);
    // Â = 0.5 A + 0.5 I with A the head mean.
    EXPECT_NEAR(a0.at({2, 2}), 0.5 + 0.5 * (b.layers[0].at({0, 2, 2}) + b.layers[0].at({1, 2, 2}) + b.layers[0].at({2, 2, 2})) / 3, 1e-6);
}

TEST(Flow, EqualsRolloutOnOneLayer) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.01f, 1.0f);
    const AttentionBlock b = make_block(kSentence, 1, 4, [&](int, int, int64_t, int64_t) { return u(rng); });
    const Tensor flow = attention_flow(b);
    const Tensor rollout = attention_rollout(b)[0];
    EXPECT_LT(max_abs_diff(flow, rollout), 1e-5);
}

TEST(Flow, IsAMaximumFlowNotAProduct) {
    // Two uniform layers over two tokens, no residual: rollout multiplies
    // (0.5 everywhere) while two disjoint paths of capacity 0.5 carry 1.
    Tensor uniform({1, 2, 2});
    uniform.fill(0.5f);
    const std::vector<Tensor> layers = {uniform, uniform};
    const Tensor flow = attention_flow(layers, 0.0);
    const Tensor rollout = attention_rollout(layers, 0.0).back();
    for (int64_t i = 0; i < 2; ++i) {
        for (int64_t j = 0; j < 2; ++j) {
            EXPECT_NEAR(flow.at({i, j}), 1.0, 1e-6);
            EXPECT_NEAR(rollout.at({i, j}), 0.5, 1e-6);
        }
    }
    // Layer 0 gathers everything into token 0, layer 1 reads token 1 only: all
    // flow comes from input 0, through token 1 of the middle level.
    const Tensor to_first = Tensor::from_vector({1, 2, 2}, {1, 0, 1, 0});
    const Tensor to_second = Tensor::from_vector({1, 2, 2}, {0, 1, 0, 1});
    const Tensor gathered = attention_flow({to_first, to_second}, 0.0);
    for (int64_t i = 0; i < 2; ++i) {
        EXPECT_NEAR(gathered.at({i, 0}), 1.0, 1e-9);
        EXPECT_NEAR(gathered.at({i, 1}), 0.0, 1e-9);
    }
    EXPECT_THROW(attention_flow(layers, 0.5, 2), Error);
}

// Records a synthetic encoder-decoder pass through the observer API.
TEST(Collect, GathersBlocksFromTheRecorderAndItsJson) {
    Tokens source = Tokens::from_encodings({{{1, 2, 3}, {"a", "b", "</s>"}, {}, {0, 0, 1}}}, 0, "<pad>");
    Tokens target = Tokens::from_encodings({{{0, 5}, {"<pad>", "x"}, {}, {1, 0}}}, 0, "<pad>");
    AttentionRecorder recorder;
    auto send = [&](Stack stack, AttentionKind kind, int layer, const Tokens& q, const Tokens& k) {
        Tensor p({1, 2, q.length, k.length});
        for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] = static_cast<float>(i + layer) / 100.0f;
        const std::vector<int> heads = {0, 1};
        std::vector<int64_t> rows;
        for (int64_t i = 0; i < q.length; ++i) rows.push_back(i);
        recorder.on_attention(AttentionEvent{{stack, kind, layer, 2}, -1, p, heads, rows, q, k});
    };
    for (int l = 0; l < 2; ++l) {
        send(Stack::decoder, AttentionKind::cross, l, target, source);
        send(Stack::encoder, AttentionKind::self, l, source, source);
        send(Stack::decoder, AttentionKind::causal_self, l, target, target);
    }
    const SequenceAttention a = collect_attention(recorder, source, &target, 0, "t5");
    ASSERT_EQ(a.blocks.size(), 3u);
    EXPECT_EQ(a.blocks[0].label(), "encoder self");
    EXPECT_EQ(a.blocks[1].label(), "decoder self");
    EXPECT_EQ(a.blocks[2].label(), "cross");
    EXPECT_EQ(a.blocks[2].queries.text[1], "x");
    EXPECT_EQ(a.blocks[2].keys.text[2], "</s>");
    EXPECT_TRUE(a.blocks[0].keys.special[2]);
    EXPECT_TRUE(a.blocks[1].masked(0, 1));
    EXPECT_FALSE(a.blocks[2].masked(0, 2));
    EXPECT_EQ(&a.primary(), &a.blocks[0]);
    EXPECT_NEAR(a.blocks[2].layers[1].at({1, 1, 2}), (1 * 6 + 1 * 3 + 2 + 1) / 100.0, 1e-6);

    const std::string path = (std::filesystem::temp_directory_path() / "gaze_test_recorded.json").string();
    recorder.save_json(path);
    const SequenceAttention loaded = load_recorded_attention(path);
    std::filesystem::remove(path);
    ASSERT_EQ(loaded.blocks.size(), 3u);
    EXPECT_EQ(loaded.blocks[2].label(), "cross");
    EXPECT_TRUE(loaded.blocks[0].keys.special[2]);  // "</s>" recognised by its spelling
    EXPECT_LT(max_abs_diff(loaded.blocks[2].layers[1], a.blocks[2].layers[1]), 1e-7);

    // A recorder that saw only some heads cannot make a block.
    AttentionRecorder partial;
    Tensor p({1, 1, 3, 3});
    const std::vector<int> one = {1};
    const std::vector<int64_t> rows = {0, 1, 2};
    partial.on_attention(AttentionEvent{{Stack::encoder, AttentionKind::self, 0, 2}, -1, p, one, rows, source, source});
    EXPECT_THROW(collect_attention(partial, source), Error);
    // ... nor one that missed a layer.
    AttentionRecorder gap;
    Tensor full({1, 2, 3, 3});
    const std::vector<int> both = {0, 1};
    gap.on_attention(AttentionEvent{{Stack::encoder, AttentionKind::self, 1, 2}, -1, full, both, rows, source, source});
    try {
        collect_attention(gap, source);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("lacks encoder self layer 0"), std::string::npos) << e.what();
    }
}

// ---- the q/k/v probe against the models' own attention -----------------------------

void expect_probe_matches_model(const std::string& dir) {
    auto model = load_model(dir);
    const AttentionProbe probe = AttentionProbe::open(dir);
    for (const auto& c : golden_cases(dir)) {
        if (c.input.batch != 1) continue;
        AttentionRecorder recorder;
        AttentionObserver* observers[] = {&recorder};
        ForwardOptions options;
        options.output_hidden_states = true;
        options.observers = observers;
        const ForwardResult out = model->forward(c.input, options);
        const SequenceAttention a = collect_attention(recorder, c.input);
        for (int l = 0; l < probe.layers(); ++l) {
            const LayerQKV qkv = probe.project(out.hidden_states[static_cast<size_t>(l)], l);
            for (int h = 0; h < probe.heads(); ++h) {
                const HeadComputation hc = compute_head(qkv, h);
                EXPECT_LT(max_abs_diff(hc.weights, a.primary().layers[static_cast<size_t>(l)].select(0, h).clone()), 2e-5)
                    << c.name << " layer " << l << " head " << h;
                EXPECT_NEAR(hc.weights.matrix().row(0).sum(), 1.0, 1e-5);
            }
        }
    }
}

TEST(Probe, RecomputesBertAttention) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    expect_probe_matches_model(dir);
}

TEST(Probe, RecomputesDistilBertAttention) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/distilbert-tiny");
    expect_probe_matches_model(dir);
}

TEST(Probe, RecomputesGpt2AttentionFromTheReferenceHiddenStates) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/gpt2-tiny");
    const AttentionProbe probe = AttentionProbe::open(dir);
    const auto file = SafetensorsFile::open((std::filesystem::path(dir) / "cases" / "text0.safetensors").string());
    for (int l = 0; l < probe.layers(); ++l) {
        const LayerQKV qkv = probe.project(file.load("hidden_states." + std::to_string(l)), l);
        EXPECT_TRUE(qkv.causal);
        const Tensor expected = file.load("attentions." + std::to_string(l));
        for (int h = 0; h < probe.heads(); ++h) {
            const HeadComputation hc = compute_head(qkv, h);
            EXPECT_LT(max_abs_diff(hc.weights, expected.select(0, 0).select(0, h).clone()), 2e-5) << "layer " << l << " head " << h;
            EXPECT_TRUE(std::isinf(hc.masked_scores.at({0, 1})));
            EXPECT_EQ(hc.weights.at({0, 1}), 0.0f);
        }
    }
}

TEST(Probe, RecomputesTheTransformerEncoderAttention) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    auto model = load_model(dir);
    const auto tokenizers = load_seq2seq_tokenizers(dir);
    const Tokens source = Tokens::from_encodings({tokenizers.source->encode("\xD8\xA2 \xD8\xAA \xD8\xB2 \xD9\x85")}, 0);
    const Tokens target = teacher_forcing_input(as_seq2seq(*model), *tokenizers.target, std::vector<std::string>{"a t z m"});
    AttentionRecorder recorder;
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.output_hidden_states = true;
    options.observers = observers;
    options.target = &target;
    const ForwardResult out = model->forward(source, options);
    const SequenceAttention a = collect_attention(recorder, source, &target);
    ASSERT_EQ(a.blocks.size(), 3u);
    const AttentionProbe probe = AttentionProbe::open(dir);
    for (int l = 0; l < probe.layers(); ++l) {
        const LayerQKV qkv = probe.project(out.hidden_states[static_cast<size_t>(l)], l);
        for (int h = 0; h < probe.heads(); ++h) {
            EXPECT_LT(max_abs_diff(compute_head(qkv, h).weights, a.primary().layers[static_cast<size_t>(l)].select(0, h).clone()), 2e-5)
                << "layer " << l << " head " << h;
        }
    }
}

TEST(Probe, ContextIsTheWeightedSumOfValues) {
    GAZE_REQUIRE_FIXTURE(dir, "golden/bert-tiny");
    const AttentionProbe probe = AttentionProbe::open(dir);
    std::mt19937 rng(1);
    const LayerQKV qkv = probe.project(random_tensor({5, probe.hidden()}, rng), 1);
    const HeadComputation hc = compute_head(qkv, 2, std::vector<uint8_t>{1, 1, 1, 1, 0});
    EXPECT_EQ(hc.weights.at({0, 4}), 0.0f);  // a padding key
    for (int64_t c = 0; c < hc.v.dim(1); ++c) {
        double sum = 0;
        for (int64_t j = 0; j < 5; ++j) sum += hc.weights.at({3, j}) * hc.v.at({j, c});
        EXPECT_NEAR(hc.context.at({3, c}), sum, 1e-5);
    }
    EXPECT_THROW(compute_head(qkv, 9), Error);
    EXPECT_THROW(probe.project(random_tensor({5, 3}, rng), 0), Error);
}

}  // namespace
}  // namespace gaze::test
