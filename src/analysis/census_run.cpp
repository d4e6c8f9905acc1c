// run_census: reads a corpus range window by window, batches each window's
// texts by length, runs them through the model with a CensusObserver, and
// checkpoints between windows.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "gaze/census.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

// FNV-1a, 64 bit: identifies the consumed part of the corpus in a checkpoint.
struct Fnv1a {
    uint64_t h = 14695981039346656037ull;
    void add(std::string_view bytes) {
        for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
    }
};

struct Line {
    int64_t start = 0;
    std::string bytes;     // without the newline
    bool newline = false;  // ended by '\n' (the last line may not be)
};

// Lines of a file from the first line starting at or after `begin`.
class LineReader {
public:
    LineReader(const std::string& path, int64_t begin) : path_(path), in_(path, std::ios::binary) {
        if (!in_) throw Error("cannot read corpus " + path);
        offset_ = begin;
        if (begin > 0) {  // the line that straddles `begin` belongs to the range before
            in_.seekg(begin - 1);
            char c = 0;
            in_.get(c);
            offset_ = begin;
            if (c != '\n') {
                std::string rest;
                std::getline(in_, rest);
                offset_ = begin + static_cast<int64_t>(rest.size()) + (in_.eof() ? 0 : 1);
            }
        }
        in_.clear();
        in_.seekg(offset_);
    }
    int64_t offset() const { return offset_; }  // start of the next line
    bool next(Line& line) {
        if (in_.peek() == std::char_traits<char>::eof()) return false;
        line.start = offset_;
        std::getline(in_, line.bytes);
        line.newline = !in_.eof();
        if (in_.bad()) throw Error("error reading corpus " + path_);
        offset_ += static_cast<int64_t>(line.bytes.size()) + (line.newline ? 1 : 0);
        in_.clear();
        return true;
    }

private:
    std::string path_;
    std::ifstream in_;
    int64_t offset_ = 0;
};

struct Cursor {
    int64_t offset = 0;  // next line to read
    int64_t lines = 0;   // lines consumed in the range
    int64_t texts = 0;   // texts (parsed lines) consumed in the range, for --limit
    uint64_t hash = Fnv1a{}.h;
    bool done = false;
};

struct Item {
    int64_t line = 0;
    std::string text;
    Encoding encoding;
};

std::string fingerprint(const CensusOptions& o, const CorpusRange& r, CorpusFormat format, int64_t max_tokens) {
    std::ostringstream s;
    s << "format=" << static_cast<int>(format) << " field=" << o.field << " on_error=" << static_cast<int>(o.on_error)
      << " limit=" << o.limit << " max_tokens=" << max_tokens << " batch=" << o.batch_size << "/" << o.batch_tokens
      << " window=" << o.window_bytes << " examples=" << o.example_min_rows << " statistics=" << o.statistics
      << " range=" << r.begin << "-" << r.end << "@" << r.first_line << "/" << r.first_text << " model=" << o.model_fingerprint;
    return s.str();
}

void write_checkpoint(const std::string& path, const std::string& print, int64_t corpus_bytes, const Cursor& c,
                      const CensusState& state) {
    const nlohmann::json j = {{"format", "gaze-census-checkpoint"},
                              {"version", 1},
                              {"fingerprint", print},
                              {"corpus_bytes", corpus_bytes},
                              {"cursor", {c.offset, c.lines, c.texts, std::to_string(c.hash), c.done}},
                              {"state", nlohmann::json::parse(state.serialize())}};
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << j.dump();
        if (!out.flush()) throw Error("cannot write checkpoint " + tmp);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);  // atomic: a crash leaves the old checkpoint or the new one
    if (ec) throw Error("cannot write checkpoint " + path + ": " + ec.message());
}

// Loads a checkpoint, refusing one made for other settings or a corpus that changed since.
void read_checkpoint(const std::string& path, const std::string& print, const std::string& corpus, int64_t corpus_bytes,
                     int64_t range_begin, Cursor& c, CensusState& state) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read checkpoint " + path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(buffer.str());
        if (j.at("format") != "gaze-census-checkpoint" || j.at("version") != 1) throw Error("checkpoint " + path + ": unknown format");
        // The size first: a grown or shrunk corpus also moves the ranges in the fingerprint.
        const int64_t bytes = j.at("corpus_bytes").get<int64_t>();
        if (bytes != corpus_bytes) {
            throw Error("corpus " + corpus + " changed since checkpoint " + path + " (" + std::to_string(bytes) +
                        " bytes then, " + std::to_string(corpus_bytes) + " now): refusing to resume");
        }
        if (j.at("fingerprint").get<std::string>() != print) {
            throw Error("checkpoint " + path + " was made with other settings (" + j.at("fingerprint").get<std::string>() +
                        "; now " + print + "): rerun without --resume or with the same options");
        }
        const auto& k = j.at("cursor");
        c.offset = k.at(0).get<int64_t>();
        c.lines = k.at(1).get<int64_t>();
        c.texts = k.at(2).get<int64_t>();
        c.hash = std::stoull(k.at(3).get<std::string>());
        c.done = k.at(4).get<bool>();
        state = CensusState::deserialize(j.at("state").dump(), "checkpoint " + path);
    } catch (const nlohmann::json::exception& e) {
        throw Error("checkpoint " + path + " is not readable (" + e.what() + ")");
    } catch (const std::logic_error& e) {
        throw Error("checkpoint " + path + " is not readable (" + e.what() + ")");
    }
    // The bytes the checkpoint counted must be the bytes still there.
    if (c.offset < range_begin || c.offset > corpus_bytes) throw Error("checkpoint " + path + ": cursor outside the corpus");
    std::ifstream corpus_in(corpus, std::ios::binary);
    corpus_in.seekg(range_begin);
    Fnv1a hash;
    std::vector<char> block(1 << 16);
    for (int64_t left = c.offset - range_begin; left > 0;) {
        const int64_t n = std::min<int64_t>(left, static_cast<int64_t>(block.size()));
        if (!corpus_in.read(block.data(), n)) throw Error("cannot read corpus " + corpus);
        hash.add(std::string_view(block.data(), static_cast<size_t>(n)));
        left -= n;
    }
    if (hash.h != c.hash) {
        throw Error("corpus " + corpus + " changed since checkpoint " + path + " (its first " +
                    std::to_string(c.offset - range_begin) + " bytes in this range differ): refusing to resume");
    }
}

}  // namespace

CorpusFormat corpus_format(const std::string& path, CorpusFormat format) {
    if (format != CorpusFormat::automatic) return format;
    const std::string ext = std::filesystem::path(path).extension().string();
    return ext == ".jsonl" || ext == ".ndjson" ? CorpusFormat::jsonl : CorpusFormat::text;
}

CorpusLine parse_corpus_line(std::string_view line, CorpusFormat format, const std::string& field, std::string& text,
                             std::string& error) {
    if (format == CorpusFormat::automatic) {
        throw Error("parse_corpus_line: the format must be text or jsonl (corpus_format resolves automatic)");
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r\f\v") == std::string_view::npos) return CorpusLine::blank;
    if (format == CorpusFormat::text) {
        text = std::string(line);
        return CorpusLine::text;
    }
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        error = std::string("invalid JSON (") + e.what() + ")";
        return CorpusLine::malformed;
    }
    if (!j.is_object()) {
        error = "not a JSON object";
        return CorpusLine::malformed;
    }
    const auto it = j.find(field);
    if (it == j.end()) {
        error = "no field \"" + field + "\"";
        return CorpusLine::malformed;
    }
    if (!it->is_string()) {
        error = "field \"" + field + "\" is not a string";
        return CorpusLine::malformed;
    }
    text = it->get<std::string>();
    return CorpusLine::text;
}

int64_t census_max_tokens(const ModelInfo& info, const CensusOptions& options) {
    int64_t m = info.max_positions > 0 ? info.max_positions : 0;
    if (options.max_tokens > 0) m = m > 0 ? std::min(m, options.max_tokens) : options.max_tokens;
    return m;
}

int64_t truncate_encoding(Encoding& e, int64_t max) {
    const int64_t n = static_cast<int64_t>(e.ids.size());
    if (max <= 0 || n <= max) return 0;
    const bool keep_last = max >= 2 && !e.special.empty() && e.special.back();
    auto cut = [&](auto& v) {
        if (v.empty()) return;
        auto last = v.back();
        v.resize(static_cast<size_t>(max));
        if (keep_last) v.back() = last;
    };
    cut(e.ids);
    cut(e.tokens);
    cut(e.type_ids);
    cut(e.special);
    return n - max;
}

int64_t corpus_size(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw Error("cannot read corpus " + path + ": " + ec.message());
    return static_cast<int64_t>(size);
}

std::vector<CorpusRange> split_corpus(int64_t size, int parts, int64_t window_bytes) {
    if (parts < 1) throw Error("split_corpus: parts must be >= 1");
    if (window_bytes < 1) throw Error("census: window bytes must be >= 1");
    const int64_t windows = (size + window_bytes - 1) / window_bytes;
    std::vector<CorpusRange> out;
    for (int p = 0; p < parts; ++p) {
        CorpusRange r;
        r.begin = std::min(size, windows * p / parts * window_bytes);
        r.end = p + 1 == parts ? size : std::min(size, windows * (p + 1) / parts * window_bytes);
        out.push_back(r);
    }
    return out;
}

RangeCounts count_corpus_range(const std::string& path, const CorpusRange& range, const CensusOptions& options) {
    const CorpusFormat format = corpus_format(path, options.format);
    const int64_t end = range.end < 0 ? corpus_size(path) : range.end;
    LineReader reader(path, range.begin);
    RangeCounts counts;
    Line line;
    std::string text, error;
    while (reader.offset() < end && reader.next(line)) {
        ++counts.lines;
        if (parse_corpus_line(line.bytes, format, options.field, text, error) == CorpusLine::text) ++counts.texts;
    }
    return counts;
}

bool run_census(Model& model, const Tokenizer& tokenizer, const std::string& corpus, const CorpusRange& range_in,
                const CensusOptions& options, CensusState& state, const CensusCallbacks& callbacks) {
    const ModelInfo& info = model.info();
    if (info.is_encoder_decoder) {
        throw Error("census: " + info.family + " is an encoder-decoder model; the census runs encoders and decoder-only models");
    }
    if (options.batch_size < 1 || options.batch_tokens < 1) throw Error("census: batch size and batch tokens must be >= 1");
    const int64_t bytes = corpus_size(corpus);
    CorpusRange range = range_in;
    if (range.end < 0 || range.end > bytes) range.end = bytes;
    const CorpusFormat format = corpus_format(corpus, options.format);
    const int64_t max_tokens = census_max_tokens(info, options);
    const std::string print = fingerprint(options, range, format, max_tokens);

    Cursor cursor;
    cursor.offset = range.begin;
    if (options.resume && !options.checkpoint_path.empty() && std::filesystem::exists(options.checkpoint_path)) {
        read_checkpoint(options.checkpoint_path, print, corpus, bytes, range.begin, cursor, state);
    }
    CensusObserver observer(state, options.example_min_rows);
    AttentionObserver* observers[] = {&observer};
    ForwardOptions forward;
    forward.compute_logits = false;
    if (options.statistics) forward.observers = observers;

    auto fail_or_skip = [&](int64_t line, const std::string& message) {
        if (options.on_error == OnError::fail) {
            throw Error(corpus + ":" + std::to_string(line) + ": " + message + " (--on-error skip skips such lines)");
        }
        ++state.corpus.skipped_lines;
        if (state.corpus.errors.size() < kCensusReportedErrors) state.corpus.errors.emplace_back(line, message);
    };
    CensusProgress progress;
    progress.bytes_total = range.end - range.begin;
    int64_t since_checkpoint = 0;
    LineReader reader(corpus, cursor.offset);
    Fnv1a hash{cursor.hash};
    Line line;
    while (!cursor.done) {
        // One window: the lines starting in [offset rounded down to a window, + window_bytes).
        const int64_t window_end = std::min(range.end, (cursor.offset / options.window_bytes + 1) * options.window_bytes);
        std::vector<Item> items;
        while (reader.offset() < window_end) {
            if (options.limit >= 0 && range.first_text + cursor.texts >= options.limit) break;
            if (!reader.next(line)) break;
            hash.add(line.bytes);
            if (line.newline) hash.add("\n");
            const int64_t number = range.first_line + cursor.lines;
            ++cursor.lines;
            ++state.corpus.lines;
            Item item;
            std::string error;
            const CorpusLine parsed = parse_corpus_line(line.bytes, format, options.field, item.text, error);
            if (parsed == CorpusLine::blank) {
                ++state.corpus.blank_lines;
                continue;
            }
            if (parsed == CorpusLine::malformed) {
                fail_or_skip(number, error);
                continue;
            }
            ++cursor.texts;
            try {
                item.encoding = tokenizer.encode(item.text);
            } catch (const Error& e) {
                fail_or_skip(number, e.what());
                continue;
            }
            const int64_t cut = truncate_encoding(item.encoding, max_tokens);
            if (cut > 0) {
                ++state.corpus.truncated_texts;
                state.corpus.truncated_tokens += cut;
            }
            if (item.encoding.ids.empty()) {
                ++state.corpus.empty_texts;
                continue;
            }
            item.line = number;
            items.push_back(std::move(item));
        }
        cursor.offset = reader.offset();
        cursor.hash = hash.h;
        cursor.done = cursor.offset >= range.end || (options.limit >= 0 && range.first_text + cursor.texts >= options.limit);

        // Batches of similar length: sorted by (length, line), so a window always batches the same way.
        std::vector<size_t> order(items.size());
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return items[a].encoding.ids.size() < items[b].encoding.ids.size();
        });
        for (size_t first = 0; first < order.size();) {
            size_t last = first + 1;
            while (last < order.size() && static_cast<int64_t>(last - first) < options.batch_size &&
                   static_cast<int64_t>((last - first + 1) * items[order[last]].encoding.ids.size()) <= options.batch_tokens) {
                ++last;
            }
            std::vector<Encoding> encodings;
            std::vector<int64_t> lines;
            std::vector<std::string_view> texts;
            int64_t tokens = 0;
            for (size_t k = first; k < last; ++k) {
                const Item& it = items[order[k]];
                encodings.push_back(it.encoding);
                lines.push_back(it.line);
                texts.push_back(it.text);
                tokens += static_cast<int64_t>(it.encoding.ids.size());
            }
            const Tokens batch = Tokens::from_encodings(encodings, tokenizer.pad_id(), tokenizer.pad_token());
            observer.set_batch_texts(std::move(lines), std::move(texts));
            model.forward(batch, forward);
            state.corpus.texts += static_cast<int64_t>(last - first);
            state.corpus.tokens += tokens;
            progress.texts += static_cast<int64_t>(last - first);
            progress.tokens += tokens;
            since_checkpoint += static_cast<int64_t>(last - first);
            progress.bytes_done = std::min(cursor.offset, range.end) - range.begin;
            if (callbacks.progress) callbacks.progress(progress);
            first = last;
        }
        progress.bytes_done = std::min(cursor.offset, range.end) - range.begin;
        if (callbacks.progress) callbacks.progress(progress);

        const bool stop = !cursor.done && callbacks.stop_requested && callbacks.stop_requested();
        const bool due = options.checkpoint_every > 0 && (since_checkpoint >= options.checkpoint_every || cursor.done);
        if (!options.checkpoint_path.empty() && (due || stop)) {
            write_checkpoint(options.checkpoint_path, print, bytes, cursor, state);
            since_checkpoint = 0;
            if (callbacks.checkpoint_written) callbacks.checkpoint_written(range.first_text + cursor.texts);
        }
        if (stop) return false;
    }
    return true;
}

}  // namespace gaze
