// gaze census-report: one self-contained HTML page from a census.json: a
// layer x head heatmap per statistic (the views' figure code), the top heads of
// each statistic, and for every head its numbers and the corpus text where it
// shows a statistic most; with --model, that text's attention for the top heads.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "cli.hpp"
#include "gaze/analysis.hpp"
#include "gaze/census.hpp"
#include "gaze/views.hpp"

namespace gaze::cli {
namespace {

struct ReportOptions {
    std::string census, out, model, svg_dir, png_dir;
    int top = 5;       // heads listed per statistic
    int examples = 3;  // with --model: attention figures for this many top heads per statistic
};

nlohmann::json read_census(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(buffer.str());
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
        throw Error(path + ": not JSON (" + e.what() + ")");
    }
    if (!j.is_object() || !j.contains("format") || j["format"] != "gaze-census") throw Error(path + ": not a census.json (no \"format\": \"gaze-census\")");
    return j;
}

std::string block_name(const nlohmann::json& head) {
    return head.at("stack").get<std::string>() + " " + head.at("kind").get<std::string>();
}

std::string head_key(const nlohmann::json& head) {
    return block_name(head) + "/" + std::to_string(head.at("layer").get<int>()) + "/" + std::to_string(head.at("head").get<int>());
}

// Layer x head means of one statistic for the heads of one block; missing cells masked.
views::Panel stat_panel(const std::vector<const nlohmann::json*>& heads, const std::string& stat) {
    int layers = 0, width = 0;
    for (const auto* h : heads) {
        layers = std::max(layers, h->at("layer").get<int>() + 1);
        width = std::max(width, h->at("head").get<int>() + 1);
    }
    views::Panel p;
    p.values = Tensor({layers, width});
    p.values.fill(0.0f);
    p.masked.assign(static_cast<size_t>(layers * width), 1);
    for (const auto* h : heads) {
        const auto& v = h->at("mean").at(stat);
        if (v.is_null()) continue;
        const int l = h->at("layer").get<int>(), k = h->at("head").get<int>();
        p.values.at({l, k}) = v.get<float>();
        p.masked[static_cast<size_t>(l * width + k)] = 0;
    }
    for (int l = 0; l < layers; ++l) p.row_labels.push_back("L" + std::to_string(l));
    for (int k = 0; k < width; ++k) p.col_labels.push_back("H" + std::to_string(k));
    return p;
}

// The attention of one example text, as the census ran it (same truncation).
struct ExampleRuns {
    LoadedModel model;
    int64_t max_tokens = 0;
    std::map<int64_t, SequenceAttention> by_line;

    const SequenceAttention& run(int64_t line, const std::string& text) {
        auto it = by_line.find(line);
        if (it != by_line.end()) return it->second;
        Encoding e = model.tokenizer->encode(text);
        truncate_encoding(e, max_tokens);
        const Tokens tokens = Tokens::from_encodings({e}, model.tokenizer->pad_id(), model.tokenizer->pad_token());
        AttentionRecorder recorder;
        AttentionObserver* observers[] = {&recorder};
        ForwardOptions options;
        options.compute_logits = false;
        options.observers = observers;
        model.model->forward(tokens, options);
        return by_line.emplace(line, collect_attention(recorder, tokens, nullptr, 0, model.model->info().family)).first->second;
    }
};

const char* kStyle = R"(body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}h2{margin-top:28px}
.grid{display:flex;flex-wrap:wrap;gap:12px}.fig{border:1px solid #ddd;padding:4px}.fig svg rect{cursor:pointer}
table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}tr.pick{cursor:pointer}tr.pick:hover{background:#eef}
#detail{position:sticky;top:0;background:#fafafa;border:1px solid #ccc;padding:8px 12px;min-height:60px}
.text{white-space:pre-wrap;background:#fff;border:1px solid #ddd;padding:6px;max-height:12em;overflow:auto})";

// Click a heatmap cell (its SVG <title> reads "L3 -> H2: ...") or a table row to see that head.
const char* kScript = R"(const D=JSON.parse(document.getElementById('census-data').textContent);
const byKey={};D.heads.forEach(h=>byKey[h.stack+' '+h.kind+'/'+h.layer+'/'+h.head]=h);
function el(t,x){const e=document.createElement(t);if(x!==undefined)e.textContent=x;return e}
function show(key,stat){const h=byKey[key];const d=document.getElementById('detail');d.textContent='';if(!h)return;
d.appendChild(el('b',h.stack+' '+h.kind+', layer '+h.layer+', head '+h.head+' ('+h.rows+' rows)'));
const t=el('table');const hr=el('tr');['statistic','mean','sd','rows','example line','example score'].forEach(c=>hr.appendChild(el('th',c)));t.appendChild(hr);
D.statistics.forEach(s=>{const r=el('tr');const m=h.mean[s],v=h.variance[s],x=h.examples[s];
[s,m==null?'-':m.toFixed(4),v==null?'-':Math.sqrt(v).toFixed(4),h.count[s],x?x.line:'-',x?x.score.toFixed(3):'-'].forEach(c=>r.appendChild(el('td',String(c))));
r.className='pick';r.onclick=()=>show(key,s);t.appendChild(r)});d.appendChild(t);
const x=h.examples[stat];if(!x)return;const tx=D.texts[String(x.line)];
d.appendChild(el('div','Where it shows '+stat+' most: line '+x.line+' (per-text mean '+x.score.toFixed(3)+')'+(tx&&tx.cut?', text cut':'')));
if(tx)d.appendChild(el('div',tx.text)).className='text';
const f=D.figures[key+'/'+stat];if(f){const w=el('div');w.innerHTML=f;d.appendChild(w)}}
document.querySelectorAll('.fig').forEach(fig=>fig.querySelectorAll('rect').forEach(r=>{const t=r.querySelector('title');if(!t)return;
const m=/^L(\d+) \u2192 H(\d+)/.exec(t.textContent);if(m)r.onclick=()=>show(fig.dataset.block+'/'+m[1]+'/'+m[2],fig.dataset.stat)}));
document.querySelectorAll('tr.pick[data-key]').forEach(r=>r.onclick=()=>show(r.dataset.key,r.dataset.stat));)";

int run(const ReportOptions& o) {
    namespace fs = std::filesystem;
    const nlohmann::json census = read_census(o.census);
    std::string html;
    nlohmann::json figures = nlohmann::json::object();
    try {
        const auto& heads = census.at("heads");
        const auto& stats = census.at("statistics");
        std::map<std::string, std::vector<const nlohmann::json*>> blocks;
        for (const auto& h : heads) blocks[block_name(h)].push_back(&h);

        std::optional<ExampleRuns> runs;
        if (!o.model.empty()) {
            runs.emplace();
            runs->model = open_model(o.model);
            CensusOptions limits;
            limits.max_tokens = census.at("options").value("max_tokens", int64_t{0});
            runs->max_tokens = census_max_tokens(runs->model.model->info(), limits);
        }
        std::ostringstream body;
        const auto& c = census.at("corpus");
        body << "<h1>Head census</h1><p>model " << views::escape_xml(census.at("model").at("path").get<std::string>()) << " ("
             << views::escape_xml(census.at("model").at("family").get<std::string>()) << "), corpus "
             << views::escape_xml(c.at("path").get<std::string>()) << ": " << c.at("texts") << " texts, " << c.at("tokens")
             << " tokens; " << c.at("skipped_lines") << " lines skipped, " << c.at("truncated_texts") << " texts truncated ("
             << c.at("truncated_tokens") << " tokens cut).</p>";
        if (heads.empty()) body << "<p>The census has no heads (an empty corpus?).</p>";
        body << "<div id=\"detail\">Click a heatmap cell or a table row to see a head.</div>";
        for (const auto& stat_json : stats) {
            const std::string stat = stat_json.get<std::string>();
            body << "<h2>" << views::escape_xml(stat) << "</h2><div class=\"grid\">";
            for (const auto& [block, members] : blocks) {
                views::HeatmapStyle style;
                style.title = "mean " + stat;
                style.x_label = "head";
                style.y_label = "layer";
                style.colorbar_label = stat;
                views::Panel panel = stat_panel(members, stat);
                panel.title = block;
                const views::Figure figure = views::heatmap_figure({panel}, style);
                const std::string file = block + "_" + stat;
                std::string safe_file = file;
                for (char& ch : safe_file) ch = ch == ' ' ? '_' : ch;
                if (!o.svg_dir.empty()) views::save_figure(figure, (fs::path(o.svg_dir) / (safe_file + ".svg")).string());
                if (!o.png_dir.empty()) views::save_figure(figure, (fs::path(o.png_dir) / (safe_file + ".png")).string());
                body << "<div class=\"fig\" data-block=\"" << views::escape_xml(block) << "\" data-stat=\"" << views::escape_xml(stat)
                     << "\">" << views::to_svg(figure) << "</div>";
            }
            body << "</div><table><tr><th>top heads</th><th>mean</th><th>sd</th><th>example line</th></tr>";
            int rank = 0;
            for (const auto& t : census.at("top_heads").at(stat)) {
                if (rank >= o.top) break;
                const nlohmann::json* h = nullptr;
                for (const auto* m : blocks[block_name(t)]) {
                    if (m->at("layer") == t.at("layer") && m->at("head") == t.at("head")) h = m;
                }
                if (!h) continue;
                const std::string key = head_key(*h);
                const auto& example = h->at("examples").value(stat, nlohmann::json());
                if (runs && rank < o.examples && !example.is_null()) {
                    const int64_t line = example.at("line").get<int64_t>();
                    const std::string text = census.at("texts").at(std::to_string(line)).at("text").get<std::string>();
                    const SequenceAttention& a = runs->run(line, text);
                    if (const AttentionBlock* b = a.find(h->at("stack") == "encoder" ? Stack::encoder : Stack::decoder,
                                                         h->at("kind") == "self" ? AttentionKind::self : AttentionKind::causal_self)) {
                        figures[key + "/" + stat] = views::to_svg(views::head_figure(*b, h->at("layer").get<int>(), h->at("head").get<int>()));
                    }
                }
                const double variance = h->at("variance").at(stat).is_null() ? 0.0 : h->at("variance").at(stat).get<double>();
                char numbers[96];
                std::snprintf(numbers, sizeof numbers, "<td>%.4f</td><td>%.4f</td>", t.at("mean").get<double>(), std::sqrt(variance));
                body << "<tr class=\"pick\" data-key=\"" << views::escape_xml(key) << "\" data-stat=\"" << views::escape_xml(stat)
                     << "\"><td>" << views::escape_xml(key) << "</td>" << numbers << "<td>"
                     << (example.is_null() ? std::string("-") : std::to_string(example.at("line").get<int64_t>())) << "</td></tr>";
                ++rank;
            }
            body << "</table>";
        }
        nlohmann::json data = {{"heads", heads}, {"statistics", stats}, {"texts", census.at("texts")}, {"figures", figures}};
        html = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>gaze census</title><style>" + std::string(kStyle) +
               "</style></head><body>" + body.str() + "<script type=\"application/json\" id=\"census-data\">" +
               views::escape_json_for_script(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) +
               "</script><script>" + kScript + "</script></body></html>\n";
    } catch (const nlohmann::json::exception& e) {
        throw Error(o.census + ": malformed census (" + e.what() + ")");
    }
    views::write_text_file(o.out, html);
    std::cerr << "wrote " << o.out << "\n";
    return 0;
}

const RegisterCommand registration{
    {"census-report", "An HTML page (and SVG/PNG figures) from a census.json: heatmaps, top heads, example texts",
     [](CLI::App& app) {
         auto o = std::make_shared<ReportOptions>();
         app.add_option("census", o->census, "census.json written by gaze census")->required()->check(CLI::ExistingFile);
         app.add_option("--out", o->out, "HTML file to write")->required();
         app.add_option("--model", o->model, "The census's model folder: draws the top heads' attention on their example texts");
         app.add_option("--svg", o->svg_dir, "Also write each heatmap as SVG into this folder")->check(CLI::ExistingDirectory);
         app.add_option("--png", o->png_dir, "Also write each heatmap as PNG into this folder")->check(CLI::ExistingDirectory);
         app.add_option("--top", o->top, "Heads listed per statistic")->check(CLI::PositiveNumber)->capture_default_str();
         app.add_option("--examples", o->examples, "With --model: attention figures for this many top heads per statistic")
             ->check(CLI::NonNegativeNumber)->capture_default_str();
         return [o] { return run(*o); };
     }}};

}  // namespace
}  // namespace gaze::cli
