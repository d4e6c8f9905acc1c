#pragma once
// How the page stores attention probabilities: compactly enough that a
// 2,048-token view of a 22-layer, 32-head model stays a few tens of MB.
// Every row of every head is encoded on its own (so rows can arrive in any
// order, e.g. streamed from a running model), in one of three layouts, chosen
// per page by size (viewer script: core.js, GZ.decodeRow):
//   dense16  each visible cell as uint16 p * 65535               (error <= 7.7e-6)
//   dense8   uint16 row max m * 65535, then each visible cell as
//            uint8 round(255 p / m)                                (error <= m / 510)
//   top_k    uint16 m, uint16 rest mass * 65535, then k entries
//            (uint16 key, uint8 round(255 p / m)) of the row's largest
//            weights (key 0xFFFF: unused); the rest's mass is spread
//            evenly over the row's other visible keys
// "Visible" cells of a row are keys 0..limit-1 (limit = i + keys - queries + 1
// for causal blocks, all keys otherwise); top_k spreads the rest over the
// unmasked ones (padding excluded). All integers little-endian.
#include <cstdint>
#include <string>
#include <vector>

#include "gaze/analysis.hpp"

namespace gaze::views {

enum class ProbabilityLayout { dense16, dense8, top_k };
const char* to_string(ProbabilityLayout layout);

struct ProbabilityEncoding {
    ProbabilityLayout layout = ProbabilityLayout::dense16;
    int top_k = 0;  // top_k only
};

// The dimensions of one block as the encoder needs them.
struct BlockShape {
    int64_t layers = 0, heads = 0, queries = 0, keys = 0;
    bool causal = false;
};

// The most precise layout whose bytes for all `blocks` fit `budget`
// (dense16 while it fits a quarter of it); top_k's k as large as fits, at
// least 1 and at most 64.
ProbabilityEncoding choose_encoding(const std::vector<BlockShape>& blocks, int64_t budget);

// Encodes the rows of one block's heads into one byte buffer. add_row may be
// called from several threads for different (layer, head) pairs.
class BlockEncoder {
public:
    // `block` gives the tokens and the mask (its layers may be empty); keep it alive.
    BlockEncoder(const AttentionBlock& block, int64_t layers, int64_t heads, ProbabilityEncoding encoding);

    // Row i of a head: the weights of every key. Returns the largest absolute
    // difference between the row and what the page will decode.
    double add_row(int64_t layer, int64_t head, int64_t i, const float* row);

    const std::vector<uint8_t>& bytes() const { return bytes_; }
    ProbabilityEncoding encoding() const { return encoding_; }
    // The bytes of one encoded row (for tests): decode it as the page does.
    std::vector<float> decode_row(int64_t layer, int64_t head, int64_t i) const;

private:
    int64_t visible(int64_t i) const;  // cells stored for row i (dense layouts)
    size_t row_offset(int64_t layer, int64_t head, int64_t i) const;
    void decode(const uint8_t* at, int64_t i, float* row) const;

    const AttentionBlock& block_;
    int64_t layers_, heads_, queries_, keys_;
    ProbabilityEncoding encoding_;
    std::vector<size_t> row_start_;  // byte offset of each row inside one head's plane, and the plane size
    std::vector<int64_t> open_before_;  // unmasked keys before j (top_k's spread)
    std::vector<uint8_t> bytes_;
};

// "each row's 8 largest weights ..." for the page and the docs.
std::string describe(ProbabilityEncoding encoding);

}  // namespace gaze::views
