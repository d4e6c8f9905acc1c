#pragma once
// Attention analysis: what the seed notebooks computed by hand, on the
// attention of one sequence.
//
//   SequenceAttention a = collect_attention(recorder, tokens);   // after a forward pass
//   auto links = find_linking_heads(a, "paris", "french");        // best head first
//   auto heads = classify_heads(a);                               // previous-token heads, ...
//   auto rollout = attention_rollout(a.primary());                // Abnar & Zuidema, 2020
//
// Everything here works on plain probability tensors, so it runs as well on
// synthetic attention (tests) or a recorder JSON file as on a live model.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gaze/observer.hpp"
#include "gaze/observers/recorder.hpp"
#include "gaze/observers/top_targets.hpp"
#include "gaze/tensor.hpp"
#include "gaze/tokens.hpp"

namespace gaze {

// ---- the attention of one sequence -------------------------------------------

// One side (rows or columns) of an attention matrix.
struct TokenSide {
    std::vector<std::string> text;
    std::vector<uint8_t> special;  // 1: [CLS], [SEP], <s>, </s>, <|endoftext|>, ...
    std::vector<uint8_t> valid;    // 0: padding
    int64_t size() const { return static_cast<int64_t>(text.size()); }
};

// Sequence b of a batch as one side; a token without a string is `recorded[i]`, else "#id".
TokenSide token_side(const Tokens& tokens, int64_t b, const std::vector<std::string>& recorded = {});

// Every layer of one attention kind (encoder self, decoder causal self, cross).
struct AttentionBlock {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    TokenSide queries, keys;
    std::vector<Tensor> layers;  // one [heads, queries, keys] tensor per layer

    int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
    int64_t heads() const { return layers.empty() ? 0 : layers[0].dim(0); }
    // A cell the model never lets through: causal (key after query), padding.
    bool masked(int64_t query, int64_t key) const;
    // "encoder self", "decoder self", "cross" (for menus and file names).
    std::string label() const;
    bool is_self() const { return kind != AttentionKind::cross; }
};

struct SequenceAttention {
    std::string family;
    std::vector<AttentionBlock> blocks;  // encoder self, decoder self, cross (those present)

    const AttentionBlock* find(Stack stack, AttentionKind kind) const;
    // The main self-attention: the encoder's, else the decoder's. Throws when none.
    const AttentionBlock& primary() const;
};

// Gathers the full-pass (step -1) records of sequence `sequence` of the batch
// into blocks. The recorder must have seen every head and query row (a default
// AttentionRequest). `target` is the decoder input of encoder-decoder models.
SequenceAttention collect_attention(const AttentionRecorder& recorder, const Tokens& input,
                                    const Tokens* target = nullptr, int64_t sequence = 0,
                                    const std::string& family = "");
// The same from a file written by AttentionRecorder::save_json (special tokens
// recognised by their spelling: [CLS], <s>, <|endoftext|>, ...).
SequenceAttention load_recorded_attention(const std::string& json_path, int64_t sequence = 0);

// ---- words ------------------------------------------------------------------

// A word made of the sub-word pieces first..last (inclusive).
struct WordSpan {
    std::string text;  // pieces joined, markers ("##", "Ġ", "▁") removed
    int64_t first = 0;
    int64_t last = 0;
    bool special = false;
};

enum class PieceStyle {
    automatic,      // from the pieces' spelling
    wordpiece,      // "##" marks a continuation (BERT)
    byte_bpe,       // "Ġ" (a space) starts a word; other pieces continue it (GPT-2)
    sentencepiece,  // "▁" starts a word (T5)
    none            // every piece is a word
};
PieceStyle detect_piece_style(const std::vector<std::string>& pieces);

// Groups pieces into words. Special tokens and punctuation-only pieces are
// words of their own.
std::vector<WordSpan> group_words(const std::vector<std::string>& pieces, const std::vector<uint8_t>& special = {},
                                  PieceStyle style = PieceStyle::automatic);
// m [queries, keys] -> [query words, key words]: sum over a word's key pieces,
// mean over its query pieces (rows still sum to 1).
Tensor merge_word_attention(const Tensor& m, const std::vector<WordSpan>& query_words,
                            const std::vector<WordSpan>& key_words);
// Lower-cased, markers removed: what a user types to name a word.
std::string normalize_word(std::string_view word);
// True for a piece made only of punctuation (ASCII or common Unicode marks).
bool is_punctuation(std::string_view piece);

// A piece as a reader wants to see it: byte-level BPE pieces decoded to their
// bytes ("Ġquick" -> " quick"), SentencePiece's "▁" as a space, byte-fallback
// pieces such as "<0x0A>" as their character, a newline as "↵", a tab as
// "⇥", other control or invalid bytes as "\xNN". Special tokens and
// WordPiece pieces are unchanged. `style` automatic: from all `pieces`.
std::vector<std::string> display_tokens(const std::vector<std::string>& pieces,
                                        const std::vector<uint8_t>& special = {},
                                        PieceStyle style = PieceStyle::automatic);

// ---- which head links two words ------------------------------------------------

struct HeadLink {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    int layer = 0;
    int head = 0;
    double from_to = 0;  // word-level weight of `from` (query) on `to` (key)
    double to_from = 0;  // word-level weight of `to` (query) on `from` (key)
    double score = 0;    // the larger of the two
    int64_t from_word = -1, to_word = -1;  // word indices of the best occurrence pair
};
// Every head of every block, best first, scored in both directions at word
// level (so "paris" matches "pa ##ris"). Throws gaze::Error naming the words
// of the text when `from` or `to` is not one of them.
std::vector<HeadLink> find_linking_heads(const SequenceAttention& attention, std::string_view from,
                                         std::string_view to);

// ---- top targets ------------------------------------------------------------

// For each query token, the k keys it attends to most in one layer (head -1:
// mean over heads), through gaze::TopTargets.
std::vector<TokenTargets> top_targets(const AttentionBlock& block, int layer, int head, int k);

// ---- head roles ---------------------------------------------------------------

enum class HeadRole { self, previous, next, first, separator, broad };
const char* to_string(HeadRole role);

struct HeadProfile {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    int layer = 0;
    int head = 0;
    // Mean attention mass, over real query rows, on: the query itself, the
    // previous token, the next token, the first token (the [CLS]/BOS "sink"),
    // [SEP]-like special tokens and punctuation (other than the first token).
    double self = 0, previous = 0, next = 0, first = 0, separator = 0;
    double broad = 0;  // mean row entropy / log(visible keys): 1 = uniform
    HeadRole role = HeadRole::broad;
    double score = 0;  // the role's score
};
// A head whose strongest specific pattern is below this is "broad".
inline constexpr double kHeadRoleThreshold = 0.4;

// A head's profile summed row by row, for attention that arrives in pieces
// (classify_heads on a whole matrix is add_row over its rows). `block` gives
// the tokens and the mask; its layers may be empty. Keep it alive.
class HeadProfileSums {
public:
    explicit HeadProfileSums(const AttentionBlock& block);
    // Row i of the head: the weights of every key of the block.
    void add_row(int64_t i, const float* row);
    HeadProfile profile() const;  // stack and kind set; layer and head are the caller's

private:
    const AttentionBlock& block_;
    std::vector<uint8_t> separator_;  // per key: special or punctuation
    HeadProfile sums_;
    int64_t rows_ = 0, rows_next_ = 0, rows_broad_ = 0;
};

// Profiles every head of the self-attention blocks, ranked: heads with a
// specific role by score, then the broad ones by score.
std::vector<HeadProfile> classify_heads(const SequenceAttention& attention);
std::vector<HeadProfile> classify_heads(const AttentionBlock& block);
// Every head of one block, unranked (layer by layer, head by head).
std::vector<HeadProfile> profile_heads(const AttentionBlock& block);
// The ranking of classify_heads.
void rank_heads(std::vector<HeadProfile>& heads);

struct LayerSummary {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    int layer = 0;
    double self = 0, previous = 0, next = 0, first = 0, separator = 0, broad = 0;  // means over heads
};
std::vector<LayerSummary> summarize_layers(const SequenceAttention& attention);
// Means over the heads of each (stack, kind, layer) in `profiles`, in order of first appearance.
std::vector<LayerSummary> summarize_layers(const std::vector<HeadProfile>& profiles);

// ---- induction heads (Olsson et al., 2022) ----------------------------------------

// The input of the induction detector, as TransformerLens builds it: `prefix`
// (e.g. BOS), then `length` ids drawn uniformly from [lo, hi) without
// `excluded` ones, then the same `length` ids again. Seeded, reproducible.
std::vector<int32_t> repeated_random_ids(int64_t length, int32_t lo, int32_t hi, uint32_t seed,
                                         const std::vector<int32_t>& prefix = {},
                                         const std::vector<int32_t>& excluded = {});

// How much one head [S, S] acts as an induction head on such an input: the
// mean, over the second repeat's positions i, of the weight on i - length + 1
// (the token that followed this token's previous occurrence). Uniform causal
// attention scores about 1 / (1.5 length); a perfect induction head 1.
double induction_score(const Tensor& head, int64_t prefix, int64_t length);

struct InductionScore {
    Stack stack = Stack::encoder;
    AttentionKind kind = AttentionKind::self;
    int layer = 0;
    int head = 0;
    double score = 0;     // induction_score
    double previous = 0;  // mean weight on the previous token over the same rows (induction heads' partners)
    double first = 0;     // mean weight on the first token over the same rows
    bool induction = false;  // score >= kInductionThreshold
};
inline constexpr double kInductionThreshold = 0.4;
// Every head of a self-attention block run on repeated_random_ids(length, ...,
// prefix), best induction score first.
std::vector<InductionScore> induction_scores(const AttentionBlock& block, int64_t prefix, int64_t length);

// ---- rollout and flow (Abnar & Zuidema, 2020) -------------------------------

// The residual-augmented, head-averaged attention of one layer:
//   Â = residual I + (1 - residual) mean_h A_h, rows renormalised.
// layer [heads, S, S] -> [S, S].
Tensor residual_attention(const Tensor& layer, double residual = 0.5);
// Rollout through the layers: R_0 = Â_0, R_l = Â_l R_{l-1}. One [S, S] per
// layer (row i: how much output token i draws on each input token).
std::vector<Tensor> attention_rollout(const std::vector<Tensor>& layers, double residual = 0.5);
std::vector<Tensor> attention_rollout(const AttentionBlock& block, double residual = 0.5);
// Attention flow: the maximum flow from input token j (below layer 0) to token
// i above layer `last_layer` (-1: the top) in the layered graph whose edges
// (token j at level l -> token i at level l+1) have capacity Â_l[i][j].
// [S, S]. Costs S^2 max-flow problems: meant for tens of tokens.
Tensor attention_flow(const std::vector<Tensor>& layers, double residual = 0.5, int last_layer = -1);
Tensor attention_flow(const AttentionBlock& block, double residual = 0.5, int last_layer = -1);

}  // namespace gaze
