// One Monte-Carlo sample of the partial Fenchel-Young loss: the free and the
// constrained k-forest of the same perturbed weights W + sigma Z_s.
#pragma once

#include <algorithm>
#include <vector>

#include "diffclust/core/rng.hpp"
#include "diffclust/forest/constrained.hpp"
#include "diffclust/perturb/fused_prim.hpp"
#include "diffclust/perturb/sample.hpp"

namespace diffclust {

// Per-thread buffers of fy_sample.
struct FYScratch {
    std::vector<WeightedEdge<double>> tree;  // the free sample's spanning tree
    std::vector<double> sub, base, z;        // perturbed weights among a few points
    std::vector<u32> lo, hi;                 // their edges
    std::vector<index_t> local;              // 0, 1, ..., m - 1
    std::vector<double> matrix;              // the whole perturbed matrix (with cannot-links)
};

// Solves sample s for both problems. Without cannot-links (the usual case) the
// free tree comes from the fused Prim, the constrained forest from that tree
// (ConstrainedProblem::solve_from_tree), and only the weights inside each
// must-link group or final tree are drawn again -- the same normals, since the
// noise of an edge is a pure function of (seed, sample, edge). With
// cannot-links the perturbed matrix is drawn whole and both problems read it.
template <class T>
void fy_sample(const T* W, index_t n, index_t k, const PerturbSpec& spec, u32 s, const ConstrainedProblem& cp,
               bool refine, PrimWorkspace& ws, FYScratch& fs, SampleForest& free_f, SampleForest& con_f,
               bool pair_next) {
    con_f.labels.resize(static_cast<std::size_t>(n));
    if (!cp.from_tree()) {
        fs.matrix.resize(static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
        perturbed_matrix(W, n, spec.sigma, spec.seed, s, fs.matrix.data());
        dense_forest(fs.matrix.data(), n, k, fs.tree, free_f);
        sort_edges_heaviest_first(free_f.edges);  // both values summed in the same order (below)
        free_f.finish_value();
        con_f.repaired = cp.solve(fs.matrix.data(), refine, con_f.edges, con_f.labels.data(), &ws.pool);
        con_f.finish_value();
        return;
    }
    perturbed_prim(W, n, spec.sigma, spec.seed, s, ws, pair_next);
    // the tree sorted once, heaviest first: the free forest is its first n - k
    // edges, and the constrained greedy reads it in that order
    fs.tree.assign(ws.tree.begin(), ws.tree.end());
    std::sort(fs.tree.begin(), fs.tree.end(), [](const WeightedEdge<double>& a, const WeightedEdge<double>& b) { return heavier(a, b); });
    free_f.edges.assign(fs.tree.begin(), fs.tree.begin() + (n - k));
    {
        UnionFind uf(n);
        for (const auto& e : free_f.edges) uf.unite(e.i, e.j);
        free_f.labels.resize(static_cast<std::size_t>(n));
        uf.first_appearance_labels(free_f.labels.data());
    }
    free_f.repaired = false;
    free_f.finish_value();
    const auto member_tree = [&](const index_t* members, index_t m, std::vector<WeightedEdge<double>>& out) {
        if (m < 2) return;
        const std::size_t mm = static_cast<std::size_t>(m);
        const std::size_t pairs = mm * (mm - 1) / 2;
        fs.lo.resize(pairs);
        fs.hi.resize(pairs);
        fs.base.resize(pairs);
        fs.z.resize(pairs);
        std::size_t e = 0;
        for (index_t a = 0; a + 1 < m; ++a) {  // the pairs (a, b), a < b, row by row; members ascend, so lo < hi
            const T* wrow = W + members[a] * n;
            for (index_t b = a + 1; b < m; ++b, ++e) {
                fs.lo[e] = static_cast<u32>(members[a]);
                fs.hi[e] = static_cast<u32>(members[b]);
                fs.base[e] = static_cast<double>(wrow[members[b]]);
            }
        }
        pair_normals(spec.seed, s, fs.lo.data(), fs.hi.data(), static_cast<index_t>(pairs), spec.sigma, fs.base.data(),
                     fs.z.data());
        fs.sub.resize(mm * mm);
        e = 0;
        for (std::size_t a = 0; a + 1 < mm; ++a) {
            for (std::size_t b = a + 1; b < mm; ++b, ++e) fs.sub[a * mm + b] = fs.sub[b * mm + a] = fs.z[e];
        }
        if (fs.local.size() < mm) {
            const std::size_t from = fs.local.size();
            fs.local.resize(mm);
            for (std::size_t t = from; t < mm; ++t) fs.local[t] = static_cast<index_t>(t);
        }
        const std::size_t before = out.size();
        member_max_tree(fs.sub.data(), m, fs.local.data(), m, out);
        for (std::size_t t = before; t < out.size(); ++t) {  // local ids (i < j) to global ones (ascending members)
            out[t].i = members[out[t].i];
            out[t].j = members[out[t].j];
        }
    };
    // edges heaviest first, as the free forest's: a sample whose two forests are
    // equal has a gap of exactly 0, never a rounding error of either sign
    cp.solve_from_tree(fs.tree, refine, member_tree, con_f.edges, con_f.labels.data(), true);
    con_f.repaired = false;
    con_f.finish_value();
}

}  // namespace diffclust
