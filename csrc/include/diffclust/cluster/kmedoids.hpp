// k-medoids on a dissimilarity matrix: PAM BUILD initialisation and FasterPAM
// swaps (E. Schubert, P. J. Rousseeuw, "Fast and eager k-medoids clustering:
// O(k) runtime improvement of the PAM, CLARA, and CLARANS algorithms",
// Information Systems 101, 2021).
//
// D is (n, n), row-major; the distance between point o and medoid (or
// candidate) m is read from m's row, D[m, o]. The loss is sum_o D[m_{z_o}, o].
//
// FasterPAM keeps, for every point, its nearest and second-nearest medoid and
// their distances, and for every medoid the removal loss (how much the loss
// grows if that medoid alone is removed). Swapping candidate x_c in for medoid
// i then costs O(n) for all i at once. Swaps are eager: candidates are taken in
// the order 0, 1, ..., n - 1, cyclically, and the best swap for a candidate is
// made as soon as it lowers the loss; the search stops once n candidates in a
// row (or max_iter passes) bring no improvement.
//
// Threads evaluate a batch of upcoming candidates against the current state at
// once; the batch is then scanned in candidate order, and everything after the
// first improving candidate is thrown away and re-evaluated after its swap. So
// every swap is exactly the one the serial algorithm makes, for any number of
// threads.
#pragma once

// The pieces, one concern each:
//   cluster/dissimilarity.hpp      the input check of D
//   cluster/pam_build.hpp          PAM BUILD initialisation
//   cluster/medoid_assignment.hpp  nearest / second-nearest medoids, removal losses
//   cluster/fasterpam.hpp          the eager swap search
#include "diffclust/cluster/dissimilarity.hpp"
#include "diffclust/cluster/fasterpam.hpp"
#include "diffclust/cluster/medoid_assignment.hpp"
#include "diffclust/cluster/pam_build.hpp"
