// The constraint arguments shared by the constrained and perturbed bindings:
// partial labels and must-link / cannot-link pair lists, converted and checked.
#pragma once

#include <optional>

#include "convert.hpp"
#include "diffclust/forest/constrained.hpp"

namespace diffclust::bind {

// Holds the converted arrays (so the pointers in get() stay valid) for n points:
// labels (n,) with values in [-1, n) (-1 = unknown; the caller remaps labels to
// 0..L-1), pairs (m, 2) of points in [0, n).
struct ConstraintArgs {
    std::optional<index_array> labels, must, cannot;

    ConstraintArgs(const opt_array& known_labels, const opt_array& must_link, const opt_array& cannot_link, index_t n)
        : labels(as_index(known_labels, "labels")),
          must(pair_list(must_link, n, "must_link")),
          cannot(pair_list(cannot_link, n, "cannot_link")) {
        if (labels) {
            require_shape(*labels, {n}, "labels");
            require_index_range(*labels, -1, n, "labels", "[-1, n)");
        }
    }

    Constraints get() const {
        Constraints c;
        if (labels) c.labels = labels->data();
        if (must) {
            c.must = must->data();
            c.n_must = must->shape(0);
        }
        if (cannot) {
            c.cannot = cannot->data();
            c.n_cannot = cannot->shape(0);
        }
        return c;
    }
};

}  // namespace diffclust::bind
