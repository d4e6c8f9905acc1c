#pragma once
// Text generation, one token at a time, with a KV cache, and the attention of
// every step delivered to observers while it runs.
//
//   auto model = gaze::load_model("gpt2");
//   auto tokenizer = gaze::load_tokenizer("gpt2");
//   gaze::AttentionRecorder recorder;                 // or any AttentionObserver
//   gaze::AttentionObserver* observers[] = {&recorder};
//   gaze::GenerationOptions options;
//   options.max_new_tokens = 20;
//   options.observers = observers;
//   options.on_token = [&](int64_t, std::span<const int32_t> ids) {
//       std::cout << tokenizer->decode({ids[0]}) << std::flush;
//       return true;                                  // false stops generation
//   };
//   auto prompt = gaze::Tokens::from_encodings({tokenizer->encode("The cat")}, tokenizer->pad_id());
//   auto result = gaze::generate(gaze::as_causal_lm(*model), prompt, options);
//
// Steps: step 0 is the prompt pass (every prompt row, query positions 0..S-1)
// and produces the first new token; step i >= 1 feeds new token i-1 (query
// position S+i-1) and sees the whole cached context of S+i keys. Observers get
// ForwardInfo::step and AttentionEvent::step = i, so one token's attention can
// be followed over time. The sampling part (SamplingOptions, choose_next_token,
// TokenSampler) is model-agnostic: encoder-decoder models reuse it.
#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <vector>

#include "gaze/model.hpp"
#include "gaze/tokenizer.hpp"

namespace gaze {

// ---- choosing the next token ---------------------------------------------------

// Greedy, or sampling as Hugging Face applies its warpers: temperature, then
// top-k, then top-p (nucleus), then a draw from the softmax.
struct SamplingOptions {
    bool greedy = true;        // argmax (ties: the lowest id); the fields below are ignored
    float temperature = 1.0f;  // > 0; logits are divided by it
    int64_t top_k = 0;         // keep the k most likely tokens (0 = all)
    float top_p = 1.0f;        // keep the smallest set of most likely tokens with mass >= top_p, in (0, 1]
    uint64_t seed = 0;         // seeds the sampler's random generator
    // Throws gaze::Error naming the first invalid value.
    void validate() const;
};

// The next token from one row of logits [V]. Free of any model: every
// generating family (GPT-2, T5) calls it. Thread-safe (scratch is per thread).
int32_t choose_next_token(std::span<const float> logits, const SamplingOptions& options, std::mt19937_64& rng);

// choose_next_token with its own random generator, seeded from options.seed.
class TokenSampler {
public:
    explicit TokenSampler(SamplingOptions options);
    int32_t next(std::span<const float> logits) { return choose_next_token(logits, options_, rng_); }
    const SamplingOptions& options() const { return options_; }

private:
    SamplingOptions options_;
    std::mt19937_64 rng_;
};

// ---- the KV cache --------------------------------------------------------------

// Keys and values of every layer for the positions seen so far, allocated
// once for the longest context, so decoding never reallocates.
struct KVCache {
    std::vector<Tensor> keys, values;  // per layer [B, capacity, heads*d]
    int64_t length = 0;                // positions [0, length) are filled

    // Sizes the cache for layers x [batch, capacity, width] and empties it;
    // reuses the existing storage when it is large enough.
    void reserve(int64_t layers, int64_t batch, int64_t capacity, int64_t width);
    int64_t batch() const { return keys.empty() ? 0 : keys[0].dim(0); }
    int64_t capacity() const { return keys.empty() ? 0 : keys[0].dim(1); }
};

// ---- a model that decodes incrementally ---------------------------------------

struct StepOptions {
    std::span<AttentionObserver* const> observers;  // may be empty
    int step = -1;                                  // reported to observers
};

// A decoder-only language model (GPT-2) that can run a few new positions on
// top of a KV cache.
class CausalLM : public Model {
public:
    // An empty cache for `batch` sequences of up to `max_length` positions.
    virtual KVCache make_cache(int64_t batch, int64_t max_length) const = 0;
    // Runs positions [cache.length, context.length) of `context` (the earlier
    // ones are already in the cache), appends their keys and values, and writes
    // the next-token logits of the last position: logits [B, V]. Padding
    // (mask 0) may appear anywhere; positions count only real tokens, so a
    // left-padded row decodes like an unpadded one. Observers see each layer's
    // attention of the new rows over the whole context.
    virtual void extend(const Tokens& context, KVCache& cache, const StepOptions& options, Tensor& logits) = 0;
};

// The model as a CausalLM; throws gaze::Error for a family that cannot generate.
CausalLM& as_causal_lm(Model& model);

// ---- generate ------------------------------------------------------------------

// Called once per step with the new token of each sequence ([batch]); return
// false to stop after this token.
using TokenCallback = std::function<bool(int64_t step, std::span<const int32_t> ids)>;

struct GenerationOptions {
    int64_t max_new_tokens = 20;
    SamplingOptions sampling;
    // A sequence ends when it produces one of these (it is kept in the output);
    // a finished sequence then repeats it until every sequence has ended.
    std::vector<int32_t> stop_tokens;
    std::span<AttentionObserver* const> observers;
    const Tokenizer* tokenizer = nullptr;  // names new tokens for observers (else their ids)
    TokenCallback on_token;
};

struct GenerationResult {
    int64_t batch = 0;
    int64_t steps = 0;                 // new tokens per sequence
    std::vector<int32_t> ids;          // [batch, steps] new tokens
    std::vector<uint8_t> stopped;      // [batch] 1 where the sequence produced a stop token
    Tokens context;                    // prompt (left-aligned: padding first) + new tokens fed back
    double prefill_ms = 0, decode_ms = 0;

    // The new tokens of sequence b, up to and including its stop token.
    std::vector<int32_t> sequence(int64_t b) const;
};

// Generates up to max_new_tokens for each sequence of `prompt` (a padded batch
// is fine: right padding is moved to the left). Throws gaze::Error when the
// prompt plus the new tokens do not fit the model's context, or for ids
// outside the vocabulary.
GenerationResult generate(CausalLM& model, const Tokens& prompt, const GenerationOptions& options);

}  // namespace gaze
