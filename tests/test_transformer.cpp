// The classic Transformer on a real checkpoint (../shared/models/aren-transliteration):
// its published behaviour (greedy and beam-2 transliteration), the cached
// decoder against teacher forcing, the cross-attention alignment, observers
// during decoding, `gaze translate`, the vocabulary tokenizer and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "gaze/gaze.hpp"
#include "gaze/seq2seq.hpp"
#include "gaze/tokenizers/vocabulary.hpp"
#include "test_support.hpp"

namespace gaze::test {
namespace {

constexpr const char* kSource = "آ ت ز م و ن";
constexpr const char* kTarget = "a t z m o n";

struct Translator {
    std::unique_ptr<Model> model;
    Seq2SeqTokenizers tokenizers;
    Seq2SeqModel& s2s() { return as_seq2seq(*model); }
    Tokens source(const std::vector<std::string>& texts) const {
        std::vector<Encoding> e;
        for (const auto& t : texts) e.push_back(tokenizers.source->encode(t));
        return Tokens::from_encodings(e, tokenizers.source->pad_id(), tokenizers.source->pad_token());
    }
    std::string translate(const std::string& text, int beam) {
        DecodeOptions options;
        options.beam_size = beam;
        const DecodeResult r = decode(s2s(), source({text}), options);
        return tokenizers.target->decode(r.sequences.at(0).ids, /*skip_special_tokens=*/true);
    }
};

Translator open_translator(const std::string& dir) { return {load_model(dir), load_seq2seq_tokenizers(dir)}; }

TEST(Transformer, TransliteratesLikeThePublishedModel) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    const ModelInfo& info = t.model->info();
    EXPECT_EQ(info.family, "transformer");
    EXPECT_TRUE(info.is_encoder_decoder);
    EXPECT_EQ(info.layers, 6);
    EXPECT_EQ(info.decoder_layers, 6);
    EXPECT_EQ(info.heads, 8);
    EXPECT_EQ(info.vocab, 43);
    EXPECT_EQ(t.s2s().source_vocab(), 51);
    EXPECT_EQ(t.translate(kSource, 1), kTarget);
    EXPECT_EQ(t.translate(kSource, 2), kTarget);
    EXPECT_EQ(t.translate(kSource, 5), kTarget);
}

TEST(Transformer, GreedyEndsWithEndOfSentence) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    const DecodeResult r = decode(t.s2s(), t.source({kSource}), {});
    ASSERT_FALSE(r.sequences[0].ids.empty());
    EXPECT_EQ(r.sequences[0].ids.back(), t.s2s().eos_id());
    EXPECT_EQ(t.tokenizers.target->id_to_token(t.s2s().decoder_start_id()), "<s>");
    EXPECT_LT(r.sequences[0].score, 0.0f);
}

// The cached decoder (one token at a time) computes what one teacher-forced
// pass computes.
TEST(Transformer, CachedDecodingMatchesTeacherForcing) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    const Tokens source = t.source({kSource});
    const Tokens target = teacher_forcing_input(t.s2s(), *t.tokenizers.target, std::vector<std::string>{kTarget});
    EXPECT_EQ(target.str(0, 0), "<s>");
    EXPECT_EQ(target.length, 7);  // <s> a t z m o n  (</s> only predicted)
    ForwardOptions options;
    options.target = &target;
    options.output_hidden_states = true;
    const ForwardResult full = t.model->forward(source, options);
    EXPECT_EQ(full.hidden_states.size(), 7u);
    EXPECT_EQ(full.decoder_hidden_states.size(), 7u);
    EXPECT_EQ(full.logits.shape(), (Shape{1, 7, 43}));

    DecoderState state = t.s2s().encode(source);
    Tensor logits;
    double worst = 0;
    for (int64_t i = 0; i < target.length; ++i) {
        const int32_t id = target.id(0, i);
        t.s2s().decode_step(state, {&id, 1}, logits);
        for (int64_t v = 0; v < 43; ++v)
            worst = std::max(worst, std::fabs(static_cast<double>(logits.at({0, v})) - full.logits.at({0, i, v})));
    }
    EXPECT_LE(worst, 1e-4);
}

// Cross-attention averaged over heads is a real alignment: output letter i
// looks at source letter i (give or take one), moving monotonically along the
// source. (Layers 2 and 4 are the sharpest; the last is a wider band.)
TEST(Transformer, CrossAttentionAlignsLetters) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    const Tokens source = t.source({kSource});
    const Tokens target = teacher_forcing_input(t.s2s(), *t.tokenizers.target, std::vector<std::string>{kTarget});
    AttentionRequest cross;
    cross.kinds = {AttentionKind::cross};
    cross.layers = {2, 4};
    AttentionRecorder recorder(cross);
    AttentionObserver* observers[] = {&recorder};
    ForwardOptions options;
    options.target = &target;
    options.observers = observers;
    t.model->forward(source, options);
    ASSERT_EQ(recorder.records().size(), 2u);
    for (const auto& record : recorder.records()) {
        const Tensor& p = record.probabilities;  // [1, 8, 7, 6]
        ASSERT_EQ(p.shape(), (Shape{1, 8, 7, 6}));
        // Row i is the step that writes letter i (its query is the letter before).
        int64_t previous = 0;
        for (int64_t i = 0; i < 6; ++i) {
            int64_t best = 0;
            float best_w = -1;
            for (int64_t j = 0; j < 6; ++j) {
                float w = 0;
                for (int64_t h = 0; h < 8; ++h) w += p.at({0, h, i, j}) / 8;
                if (w > best_w) best = j, best_w = w;
            }
            EXPECT_LE(std::abs(best - i), 1) << "layer " << record.site.layer << ", output letter " << i;
            EXPECT_GE(best, previous) << "layer " << record.site.layer << ", output letter " << i;
            previous = best;
        }
    }
}

// Observers see the encoder once, then every decoder step's self- and
// cross-attention with its step index and absolute query position.
TEST(Transformer, ObserversSeeEveryStep) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    struct Steps : AttentionObserver {
        std::vector<ForwardInfo> passes;
        std::vector<std::tuple<Stack, AttentionKind, int, int64_t, int64_t, std::string>> events;
        void on_forward_begin(const ForwardInfo& info) override { passes.push_back(info); }
        void on_attention(const AttentionEvent& e) override {
            events.emplace_back(e.site.stack, e.site.kind, e.step, e.query_positions[0], e.probabilities.dim(3),
                                std::string(e.queries.str(0, e.query_positions[0])));
        }
    } steps;
    AttentionObserver* observers[] = {&steps};
    DecodeOptions options;
    options.observers = observers;
    options.tokenizer = t.tokenizers.target.get();
    const DecodeResult r = decode(t.s2s(), t.source({kSource}), options);
    const auto n = static_cast<int>(r.sequences[0].ids.size());  // a t z m o n </s>
    ASSERT_EQ(n, 7);
    ASSERT_EQ(steps.passes.size(), static_cast<size_t>(n + 1));
    EXPECT_EQ(steps.passes[0].step, -1);
    EXPECT_EQ(steps.passes[0].encoder_layers, 6);
    EXPECT_EQ(steps.passes[0].decoder_layers, 6);
    ASSERT_EQ(steps.events.size(), static_cast<size_t>(6 + n * 12));
    for (int s = 0; s < n; ++s) {
        const auto& self = steps.events[static_cast<size_t>(6 + s * 12)];
        EXPECT_EQ(std::get<0>(self), Stack::decoder);
        EXPECT_EQ(std::get<1>(self), AttentionKind::causal_self);
        EXPECT_EQ(std::get<2>(self), s);
        EXPECT_EQ(std::get<3>(self), s);      // query position = cached length
        EXPECT_EQ(std::get<4>(self), s + 1);  // keys: the whole cached target
        const auto& cross = steps.events[static_cast<size_t>(6 + s * 12 + 1)];
        EXPECT_EQ(std::get<1>(cross), AttentionKind::cross);
        EXPECT_EQ(std::get<4>(cross), 6);  // keys: the source
    }
    // Query tokens are named by the tokenizer: step 1 feeds "a".
    EXPECT_EQ(std::get<5>(steps.events[6]), "<s>");
    EXPECT_EQ(std::get<5>(steps.events[6 + 12]), "a");
}

TEST(Transformer, PaddedBatchTranslatesEachSource) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    const std::vector<std::string> sources = {kSource, "م و ن", "ت"};
    for (int beam : {1, 3}) {
        DecodeOptions options;
        options.beam_size = beam;
        const DecodeResult together = decode(t.s2s(), t.source(sources), options);
        for (size_t b = 0; b < sources.size(); ++b) {
            const DecodeResult alone = decode(t.s2s(), t.source({sources[b]}), options);
            EXPECT_EQ(together.sequences[b].ids, alone.sequences[0].ids) << "source " << b << ", beam " << beam;
        }
    }
    EXPECT_EQ(t.translate("م و ن", 1), "m o n");
}

TEST(Transformer, TranslateCommandShowsTheAlignment) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    if (std::string(GAZE_CLI_PATH).empty()) GTEST_SKIP() << "gaze CLI not built";
    const std::string translate = std::string(GAZE_CLI_PATH) + " translate --model " + dir + " --text '" + kSource + "'";
    for (const char* beam : {"", " --beam 2"}) {
        std::string output;
        ASSERT_EQ(run_command(translate + beam, &output), 0) << output;
        EXPECT_NE(output.find("output:  a t z m o n\n"), std::string::npos) << output;
        EXPECT_NE(output.find("alignment (decoder layer 5 cross-attention, mean over 8 heads)"), std::string::npos) << output;
        // One line per output token (the six letters and </s>), each naming a source letter.
        for (const char* letter : {"a", "t", "z", "m", "o", "n", "</s>"}) {
            const auto at = output.find("\n  " + std::string(letter) + " ");
            ASSERT_NE(at, std::string::npos) << letter << "\n" << output;
            EXPECT_NE(output.find(" <- ", at), std::string::npos) << output;
        }
    }
    // A sharper layer aligns letter for letter.
    std::string output;
    ASSERT_EQ(run_command(translate + " --layer 4", &output), 0) << output;
    EXPECT_NE(output.find("a            <- آ"), std::string::npos) << output;
    EXPECT_NE(output.find("t            <- ت"), std::string::npos) << output;
    EXPECT_NE(output.find("n            <- ن"), std::string::npos) << output;
}

TEST(Transformer, TranslateCommandRejectsUnknownTokens) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    if (std::string(GAZE_CLI_PATH).empty()) GTEST_SKIP() << "gaze CLI not built";
    std::string output;
    const int status = run_command(std::string(GAZE_CLI_PATH) + " translate --model " + dir + " --text 'آ x ن'", &output);
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("gaze: error: unknown token 'x'"), std::string::npos) << output;
}

TEST(VocabularyTokenizer, EncodesAndDecodes) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    const auto source = load_tokenizer(dir);  // the source side
    EXPECT_EQ(source->vocab_size(), 51);          // 50 lines + OpenNMT's implicit <unk>
    EXPECT_EQ(source->token_to_id("<unk>"), 50);
    EXPECT_EQ(source->pad_token(), "<blank>");
    const Encoding e = source->encode("  آ ت\tز  ");  // any ASCII whitespace separates
    EXPECT_EQ(e.ids.size(), 3u);                       // no </s>: append_source_eos is false
    EXPECT_EQ(e.tokens, (std::vector<std::string>{"آ", "ت", "ز"}));
    const auto target = VocabularyTokenizer::open_target(dir);
    const Encoding a = target->encode("a t");
    EXPECT_EQ(a.ids, (std::vector<int32_t>{3, 11, 2}));  // </s> appended on the target side
    EXPECT_EQ(target->decode(a.ids), "a t </s>");
    EXPECT_EQ(target->decode(a.ids, /*skip_special_tokens=*/true), "a t");
    EXPECT_EQ(target->vocab_size(), 43);
    EXPECT_EQ(target->id_to_token(42), "<unk>");  // the model can write it
    // A vocabulary with <unk> maps unknown tokens to it.
    VocabularyTokenizer with_unk({"<blank>", "<unk>", "<s>", "</s>", "x"}, {});
    EXPECT_EQ(with_unk.encode("x y").ids, (std::vector<int32_t>{4, 1}));
}

TEST(VocabularyTokenizer, BadInput) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    const auto source = load_tokenizer(dir);
    try {
        source->encode("آ q ن");
        ADD_FAILURE() << "no error for an unknown token";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("unknown token 'q' (token 1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(source->encode("\xd8"), Error);  // truncated UTF-8
    EXPECT_THROW(source->encode("a\xff"), Error);
    EXPECT_THROW(source->id_to_token(51), Error);
    EXPECT_THROW(source->encode_pair("آ", "ت"), Error);
    EXPECT_THROW(VocabularyTokenizer("/nonexistent/vocab.txt"), Error);
    // A vocabulary that does not fit the model.
    EXPECT_THROW(VocabularyTokenizer(dir + "/source_vocabulary.txt", {.model_vocab_size = 60}), Error);
}

TEST(Transformer, BadInput) {
    GAZE_REQUIRE_FIXTURE(dir, "models/aren-transliteration");
    Translator t = open_translator(dir);
    // Source ids are checked against the source vocabulary (51), targets against the target one (43).
    EXPECT_THROW(t.s2s().encode(Tokens::from_ids({3, 51})), Error);
    const Tokens target = Tokens::from_ids({1, 43});
    ForwardOptions options;
    options.target = &target;
    EXPECT_THROW(t.model->forward(Tokens::from_ids({3, 4}), options), Error);
    DecoderState state = t.s2s().encode(Tokens::from_ids({3, 4}));
    Tensor logits;
    const std::vector<int32_t> two = {1, 1};
    EXPECT_THROW(t.s2s().decode_step(state, two, logits), Error);  // one id per sequence
    // A missing tensor is named.
    const Config config = Config::load(dir + "/config.json");
    const Weights all = Weights::open_folder(dir);
    Weights missing;
    for (const auto& [name, w] : all.tensors())
        if (name != "decoder/layer_3/attention/linear_1/weight") missing.add(name, w);
    try {
        make_model(config, missing);
        ADD_FAILURE() << "no error for a missing tensor";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing tensor 'decoder/layer_3/attention/linear_1/weight'"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace gaze::test
