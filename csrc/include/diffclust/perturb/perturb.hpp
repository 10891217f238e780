// Perturbed maximum-weight k-forests (Stewart et al., 2023, DESIGN §2).
//
// For symmetric Gaussian noise Z_s (one normal per edge, from rng.hpp) and
// scale sigma, sample s solves the k-forest of S + sigma Z_s. Estimates:
//   A_eps = mean_s A_s,  M_eps = mean_s M_s,  F_eps = mean_s <A_s, S + sigma Z_s>.
// Unconstrained samples fuse the noise into Prim: each edge's normal is drawn
// where Prim reads the edge, so memory per thread is O(n) plus the integer
// count accumulators. A and M are accumulated as integer counts (exact, order
// independent) and samples are split in fixed chunks, so the result is
// bit-identical for any thread count.
//
// Files: fused_prim.hpp (per-sample fused Prim solvers), sample.hpp (one
// sample's solve, chunking), accumulate.hpp (counts and estimates),
// forward.hpp, fy_loss.hpp, vjp.hpp.
#pragma once

#include "diffclust/perturb/accumulate.hpp"
#include "diffclust/perturb/forward.hpp"
#include "diffclust/perturb/fused_prim.hpp"
#include "diffclust/perturb/fy_loss.hpp"
#include "diffclust/perturb/sample.hpp"
#include "diffclust/perturb/vjp.hpp"
