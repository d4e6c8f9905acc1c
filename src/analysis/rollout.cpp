// Attention rollout and attention flow (Abnar & Zuidema, "Quantifying
// Attention Flow in Transformers", ACL 2020).
#include <algorithm>
#include <limits>
#include <queue>

#include "gaze/analysis.hpp"
#include "gaze/error.hpp"

namespace gaze {
namespace {

void check_layers(const std::vector<Tensor>& layers) {
    if (layers.empty()) throw Error("rollout/flow: no layers");
    const Shape& first = layers[0].shape();
    for (const auto& l : layers) {
        if (l.rank() != 3 || l.dim(1) != l.dim(2) || l.shape() != first) {
            throw Error("rollout/flow: expected equal [heads, S, S] self-attention layers, got " + l.shape().str());
        }
    }
}

// Dinic's maximum flow on double capacities.
class MaxFlow {
public:
    explicit MaxFlow(int nodes) : adjacency_(static_cast<size_t>(nodes)), level_(static_cast<size_t>(nodes)),
                                  next_(static_cast<size_t>(nodes)) {}

    void add_edge(int from, int to, double capacity) {
        adjacency_[static_cast<size_t>(from)].push_back(static_cast<int>(edges_.size()));
        edges_.push_back({to, capacity, capacity});
        adjacency_[static_cast<size_t>(to)].push_back(static_cast<int>(edges_.size()));
        edges_.push_back({from, 0.0, 0.0});
    }

    double run(int source, int sink) {
        for (auto& e : edges_) e.residual = e.capacity;
        double total = 0;
        while (bfs(source, sink)) {
            std::fill(next_.begin(), next_.end(), 0);
            while (true) {
                const double pushed = dfs(source, sink, std::numeric_limits<double>::infinity());
                if (pushed <= kEps) break;
                total += pushed;
            }
        }
        return total;
    }

private:
    struct Edge {
        int to;
        double capacity, residual;
    };
    static constexpr double kEps = 1e-12;
    std::vector<Edge> edges_;
    std::vector<std::vector<int>> adjacency_;
    std::vector<int> level_;
    std::vector<size_t> next_;

    bool bfs(int source, int sink) {
        std::fill(level_.begin(), level_.end(), -1);
        std::queue<int> queue;
        level_[static_cast<size_t>(source)] = 0;
        queue.push(source);
        while (!queue.empty()) {
            const int u = queue.front();
            queue.pop();
            for (int id : adjacency_[static_cast<size_t>(u)]) {
                const Edge& e = edges_[static_cast<size_t>(id)];
                if (e.residual > kEps && level_[static_cast<size_t>(e.to)] < 0) {
                    level_[static_cast<size_t>(e.to)] = level_[static_cast<size_t>(u)] + 1;
                    queue.push(e.to);
                }
            }
        }
        return level_[static_cast<size_t>(sink)] >= 0;
    }

    double dfs(int u, int sink, double limit) {
        if (u == sink) return limit;
        auto& adj = adjacency_[static_cast<size_t>(u)];
        for (size_t& i = next_[static_cast<size_t>(u)]; i < adj.size(); ++i) {
            const int id = adj[i];
            Edge& e = edges_[static_cast<size_t>(id)];
            if (e.residual <= kEps || level_[static_cast<size_t>(e.to)] != level_[static_cast<size_t>(u)] + 1) continue;
            const double pushed = dfs(e.to, sink, std::min(limit, e.residual));
            if (pushed > kEps) {
                e.residual -= pushed;
                edges_[static_cast<size_t>(id ^ 1)].residual += pushed;
                return pushed;
            }
        }
        return 0.0;
    }
};

}  // namespace

Tensor residual_attention(const Tensor& layer, double residual) {
    if (layer.rank() != 3 || layer.dim(1) != layer.dim(2)) {
        throw Error("residual_attention: expected [heads, S, S], got " + layer.shape().str());
    }
    if (residual < 0 || residual > 1) throw Error("residual_attention: the residual weight must be in [0, 1]");
    const int64_t heads = layer.dim(0), s = layer.dim(1);
    Tensor out({s, s});
    for (int64_t i = 0; i < s; ++i) {
        double sum = 0;
        for (int64_t j = 0; j < s; ++j) {
            double mean = 0;
            for (int64_t h = 0; h < heads; ++h) mean += layer.at({h, i, j});
            const double v = (1.0 - residual) * mean / static_cast<double>(heads) + (i == j ? residual : 0.0);
            out.at({i, j}) = static_cast<float>(v);
            sum += v;
        }
        if (sum > 0) {
            for (int64_t j = 0; j < s; ++j) out.at({i, j}) = static_cast<float>(out.at({i, j}) / sum);
        }
    }
    return out;
}

std::vector<Tensor> attention_rollout(const std::vector<Tensor>& layers, double residual) {
    check_layers(layers);
    std::vector<Tensor> out;
    for (const auto& layer : layers) {
        Tensor a = residual_attention(layer, residual);
        if (!out.empty()) {
            Tensor r(a.shape());
            r.matrix() = a.matrix() * out.back().matrix();
            a = std::move(r);
        }
        out.push_back(std::move(a));
    }
    return out;
}

std::vector<Tensor> attention_rollout(const AttentionBlock& block, double residual) {
    if (!block.is_self()) throw Error("rollout needs a self-attention block, not " + block.label());
    return attention_rollout(block.layers, residual);
}

Tensor attention_flow(const std::vector<Tensor>& layers, double residual, int last_layer) {
    check_layers(layers);
    const int total = static_cast<int>(layers.size());
    if (last_layer < 0) last_layer = total - 1;
    if (last_layer >= total) throw Error("flow: layer " + std::to_string(last_layer) + " is past the last layer");
    const int64_t s = layers[0].dim(1);
    const int levels = last_layer + 2;
    auto node = [s](int level, int64_t token) { return static_cast<int>(level * s + token); };
    MaxFlow graph(static_cast<int>(levels * s));
    for (int l = 0; l <= last_layer; ++l) {
        const Tensor a = residual_attention(layers[static_cast<size_t>(l)], residual);
        for (int64_t i = 0; i < s; ++i) {
            for (int64_t j = 0; j < s; ++j) {
                const float c = a.at({i, j});
                if (c > 0) graph.add_edge(node(l, j), node(l + 1, i), c);
            }
        }
    }
    Tensor out({s, s});
    for (int64_t i = 0; i < s; ++i) {
        for (int64_t j = 0; j < s; ++j) {
            out.at({i, j}) = static_cast<float>(graph.run(node(0, j), node(levels - 1, i)));
        }
    }
    return out;
}

Tensor attention_flow(const AttentionBlock& block, double residual, int last_layer) {
    if (!block.is_self()) throw Error("flow needs a self-attention block, not " + block.label());
    return attention_flow(block.layers, residual, last_layer);
}

}  // namespace gaze
