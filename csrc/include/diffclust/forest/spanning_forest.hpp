// Maximum-weight k-forests: everything of the forest layer but the constrained
// greedy, for callers that want it all.
//   forest/dense_checks.hpp   finiteness and symmetry of a dense matrix; symmetrisation
//   forest/prim.hpp           Prim over a weight source (and the simple block sources)
//   forest/prim_sources.hpp   the fast sources: dense rows, points (every metric)
//   forest/prim_kernels.hpp   their vectorised steps
//   forest/kruskal.hpp        Kruskal on edge lists
//   forest/kforest.hpp        the k-forest entry points (dense, batched, points)
#pragma once

#include "diffclust/forest/dense_checks.hpp"
#include "diffclust/forest/kforest.hpp"
#include "diffclust/forest/kruskal.hpp"
#include "diffclust/forest/prim.hpp"
#include "diffclust/forest/prim_sources.hpp"
