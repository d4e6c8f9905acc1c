#pragma once
// The pieces of the page's JSON that both page_data_json (whole tensors) and
// PageRecorder (rows streamed from a running model) assemble.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "gaze/views.hpp"
#include "page_encoding.hpp"

namespace gaze::views::detail {

std::string base64(const uint8_t* data, size_t size);
// tokens, shown (display_tokens), special, valid, words.
nlohmann::json side_json(const TokenSide& side);
// One block: labels, tokens, the encoding (with its largest error) and the bytes.
nlohmann::json block_json(const AttentionBlock& block, const BlockEncoder& encoder, int64_t layers, int64_t heads,
                          double error);
// Ranked heads and per-layer means; `order` gives each block's index. Rollout and flow null.
nlohmann::json analysis_json(const std::vector<std::pair<Stack, AttentionKind>>& order,
                             std::vector<HeadProfile> profiles);
nlohmann::json position_json(int64_t dim, int64_t count);
std::string page_json(const std::string& family, nlohmann::json blocks, nlohmann::json analysis,
                      nlohmann::json explain, nlohmann::json position, const PageOptions& options);

}  // namespace gaze::views::detail
