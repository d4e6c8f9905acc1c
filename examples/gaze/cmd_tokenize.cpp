// gaze tokenize: the ids and token strings of a text, as the model sees them.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.hpp"

namespace gaze::cli {
namespace {

struct TokenizeOptions {
    std::string model;
    TextInput input;
    bool no_special = false;
    bool json = false;
};

int run(const TokenizeOptions& o) {
    const auto texts = o.input.read();
    if (texts.size() != 1) throw Error("tokenize takes one text");
    const auto tokenizer = load_tokenizer(o.model);
    const Encoding e = tokenizer->encode(texts[0], !o.no_special);
    if (o.json) {
        const nlohmann::json j = {{"ids", e.ids}, {"tokens", e.tokens}};
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }
    for (size_t i = 0; i < e.ids.size(); ++i) std::cout << e.ids[i] << "\t" << printable_token(e.tokens[i]) << "\n";
    return 0;
}

const RegisterCommand registration{{"tokenize", "Print the token ids and strings of a text",
                                    [](CLI::App& app) {
                                        auto o = std::make_shared<TokenizeOptions>();
                                        app.add_option("--model", o->model, "Model folder with tokenizer files")
                                            ->required();
                                        o->input.add_options(app);
                                        app.add_flag("--no-special-tokens", o->no_special,
                                                     "Do not add [CLS]/[SEP] (or the family's equivalents)");
                                        app.add_flag("--json", o->json, "Print {\"ids\": [...], \"tokens\": [...]}");
                                        return [o] { return run(*o); };
                                    }}};

}  // namespace
}  // namespace gaze::cli
