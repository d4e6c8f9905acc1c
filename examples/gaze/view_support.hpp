#pragma once
// What the view, find-head, heads and serve commands share: one text through
// the model with the recorder attached, gathered into a SequenceAttention,
// plus the q/k/v probe for the explanatory views.
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "gaze/analysis.hpp"
#include "gaze/attention_probe.hpp"
#include "gaze/views.hpp"

namespace gaze::cli {

// --text/--text-file, --pair, --target, shared by the attention commands.
struct AttentionInput {
    TextInput text;
    std::string pair;    // second segment (BERT sentence pairs)
    std::string target;  // decoder text (encoder-decoder models)
    void add_options(CLI::App& app);
    std::string read_one() const;  // the single text; throws when several are given
};

struct ViewRun {
    Tokens input;
    std::optional<Tokens> target;
    SequenceAttention attention;
    std::vector<Tensor> hidden_states;  // [1, S, H] each: the input of layer l is hidden_states[l]
};

// One forward pass over `text` (with `pair` or `target`) recording every
// attention call. `model_dir` is the folder given to open_model (the
// encoder-decoder tokenizers are read from it).
ViewRun run_for_view(LoadedModel& m, const std::string& model_dir, const std::string& text, const std::string& pair,
                     const std::string& target);

// The probe for the model when its family is one the probe knows (weights
// re-read from the folder; the random 'auto' BERT rebuilt from its seed).
// Empty, with the reason in `why`, otherwise.
std::optional<AttentionProbe> open_probe(const std::string& model_dir, const LoadedModel& m, std::string* why);

// Page data for a run: attention, and the q/k/v of `explain_layer` when a probe is given.
views::PageData page_data(const ViewRun& run, const AttentionProbe* probe, int explain_layer);

// The word list of the main block, for messages.
std::string words_of(const SequenceAttention& attention);

// "0:1,2:3" -> {(0,1), (2,3)}; throws on bad syntax.
std::vector<std::pair<int, int>> parse_head_list(const std::string& text);

}  // namespace gaze::cli
