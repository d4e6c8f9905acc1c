#pragma once
// Encoder-decoder models (T5, the classic Transformer) and decoding with them.
//
// Model::forward(source, {.target = &decoder_tokens}) runs teacher forcing:
// the encoder once, the decoder over the whole target at once. Decoding runs
// the encoder once (encode()), then the decoder one token at a time
// (decode_step()), keeping each decoder layer's self-attention keys/values in
// a cache and the cross-attention keys/values of the encoder output, computed
// once per input. Observers see every attention call of both:
//   encode()       Stack::encoder / self            step -1
//   decode_step()  Stack::decoder / causal_self     step = DecoderState::step,
//                  Stack::decoder / cross           query_offset = cached length
//
//   auto model = gaze::load_model("t5-small");
//   auto tokenizers = gaze::load_seq2seq_tokenizers("t5-small");
//   auto& s2s = gaze::as_seq2seq(*model);
//   gaze::Tokens source = gaze::Tokens::from_encodings({tokenizers.source->encode("translate ...")}, 0);
//   gaze::DecodeOptions options;
//   options.beam_size = 4;
//   gaze::DecodeResult out = gaze::decode(s2s, source, options);
//   std::cout << tokenizers.target->decode(out.sequences[0].ids, true);
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "gaze/generation.hpp"
#include "gaze/model.hpp"
#include "gaze/tokenizer.hpp"

namespace gaze {

// What decoding keeps between steps, for a batch of B sequences.
struct DecoderState {
    Tokens source;            // [B, S] encoder tokens: the key side of cross-attention
    Tokens target;            // [B, T] decoder tokens fed so far, the start token first
    Tensor encoder_output;    // [B, S, H] after the encoder's final norm
    Tensor source_key_mask;   // [B, S] additive: 0 for tokens, -inf for padding
    KVCache self_attention;   // per decoder layer [B, capacity, W]; length == target.length
    std::vector<Tensor> cross_keys, cross_values;  // per decoder layer [B, S, W], projected once per input
    int step = 0;             // the index the next decode_step() reports to observers

    int64_t batch() const { return source.batch; }
    int64_t cached() const { return target.length; }  // positions in the self-attention cache
    // Keeps the sequences `rows` of the batch in that order (repeats allowed):
    // beam search expands each input into its beams and reorders them each step.
    void select_rows(std::span<const int64_t> rows);
};

class Seq2SeqModel : public Model {
public:
    // Runs the encoder over `source` and projects its output into every decoder
    // layer's cross-attention keys/values. The state starts with no target
    // token; its cache is sized for `expected_length` targets (it grows if needed).
    virtual DecoderState encode(const Tokens& source, std::span<AttentionObserver* const> observers = {},
                                int64_t expected_length = 0) = 0;
    // Feeds one token per sequence (ids [B], labels for observers optional) at
    // position state.cached() and writes logits [B, V] for the token after it.
    virtual void decode_step(DecoderState& state, std::span<const int32_t> ids, Tensor& logits,
                             std::span<AttentionObserver* const> observers = {},
                             std::span<const std::string> labels = {}) = 0;
    virtual int32_t decoder_start_id() const = 0;
    virtual int32_t eos_id() const = 0;
    virtual int64_t source_vocab() const = 0;  // info().vocab is the target (logits) vocabulary
};

// The model as an encoder-decoder; throws gaze::Error naming its family otherwise.
Seq2SeqModel& as_seq2seq(Model& model);

struct DecodeOptions {
    int beam_size = 1;              // 1: one hypothesis, chosen by `sampling` (greedy by default)
    int64_t max_length = 64;        // generated tokens at most (the start token not counted)
    float length_penalty = 1.0f;    // beam score = sum log p / length^length_penalty
    bool stop_at_eos = true;        // false: always generate max_length tokens
    SamplingOptions sampling;       // beam_size 1 only: greedy, or temperature / top-k / top-p
    std::span<AttentionObserver* const> observers;  // see every step (beams are batch rows)
    const Tokenizer* tokenizer = nullptr;           // names new tokens for observers (else their ids)
};

struct Hypothesis {
    std::vector<int32_t> ids;  // generated ids, the start token excluded, </s> included when reached
    float score = 0.0f;        // sum of log-probabilities (normalised by length for beams)
};

struct DecodeResult {
    std::vector<Hypothesis> sequences;  // the best hypothesis of each input
};

// Greedy search or sampling (beam_size 1), or beam search; each hypothesis
// stops at </s> or max_length. Throws gaze::Error for invalid options.
DecodeResult decode(Seq2SeqModel& model, const Tokens& source, const DecodeOptions& options = {});
DecodeResult sample_decode(Seq2SeqModel& model, const Tokens& source, const DecodeOptions& options = {});
DecodeResult beam_search(Seq2SeqModel& model, const Tokens& source, const DecodeOptions& options = {});

// The decoder input for teacher forcing: the target texts tokenized (</s>
// appended) and shifted right behind the start token (the last token dropped),
// as Hugging Face builds decoder_input_ids from labels; padded to the longest.
Tokens teacher_forcing_input(const Seq2SeqModel& model, const Tokenizer& target_tokenizer,
                             const std::vector<std::string>& targets);
// The same from ids (generated ones, say): [start] + ids, nothing dropped.
Tokens teacher_forcing_input(const Seq2SeqModel& model, const Tokenizer& target_tokenizer,
                             const std::vector<std::vector<int32_t>>& ids);

// The two sides of an encoder-decoder folder. T5 shares one SentencePiece
// model; the Transformer has source_vocabulary.txt and target_vocabulary.txt.
struct Seq2SeqTokenizers {
    std::shared_ptr<const Tokenizer> source, target;
};
Seq2SeqTokenizers load_seq2seq_tokenizers(const std::string& dir);

}  // namespace gaze
