// Bindings for the metrics and losses: ARI/NMI/MI (contingency.hpp, metrics.hpp),
// Davies-Bouldin, k-means and GMM losses (losses.hpp), cuts (ncut.hpp), DEC (dec.hpp).
// Each converts and checks its arguments (convert.hpp), allocates, releases the GIL and calls the core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>

#include "convert.hpp"
#include "diffclust/metrics/contingency.hpp"
#include "diffclust/metrics/dec.hpp"
#include "diffclust/metrics/losses.hpp"
#include "diffclust/metrics/metrics.hpp"
#include "diffclust/metrics/ncut.hpp"

namespace diffclust::bind {

namespace {

// Two label vectors of the same length (possibly 0), as int64.
struct LabelPair {
    index_array a, b;
    LabelPair(const py::array& a_in, const py::array& b_in)
        : a(as_index(a_in, "labels_true")), b(as_index(b_in, "labels_pred")) {
        require_ndim(a, 1, "labels_true");
        require_ndim(b, 1, "labels_pred");
        if (a.shape(0) != b.shape(0)) {
            value_error("labels_true and labels_pred must have the same length, got " + std::to_string(a.shape(0)) +
                        " and " + std::to_string(b.shape(0)));
        }
    }
    index_t n() const { return a.shape(0); }
};

double adjusted_rand_score_py(const py::array& a_in, const py::array& b_in, std::int64_t n_threads) {
    const LabelPair p(a_in, b_in);
    const int threads = threads_arg(n_threads);
    released guard;  // the kernel touches no Python objects
    return adjusted_rand_index(contingency(p.a.data(), p.b.data(), p.n(), threads));
}

double mutual_info_score_py(const py::array& a_in, const py::array& b_in, std::int64_t n_threads) {
    const LabelPair p(a_in, b_in);
    const int threads = threads_arg(n_threads);
    released guard;  // the kernel touches no Python objects
    return mutual_info(contingency(p.a.data(), p.b.data(), p.n(), threads));
}

double normalized_mutual_info_score_py(const py::array& a_in, const py::array& b_in,
                                       const std::string& average_method, std::int64_t n_threads) {
    const LabelPair p(a_in, b_in);
    const AverageMethod method = parse_average_method(average_method);
    const int threads = threads_arg(n_threads);
    released guard;  // the kernel touches no Python objects
    return normalized_mutual_info(contingency(p.a.data(), p.b.data(), p.n(), threads), method);
}

// A label vector of length n for the rows of X.
inline index_array labels_for(const py::array& labels_in, index_t n, const char* name = "labels") {
    auto labels = as_index(labels_in, name);
    require_shape(labels, {n}, name);
    return labels;
}

template <class T>
double davies_bouldin_score_py(const py::array& X_in, const py::array& labels_in, std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    const auto labels = labels_for(labels_in, n);
    const int threads = threads_arg(n_threads);
    released guard;  // the kernel touches no Python objects
    return davies_bouldin(X.data(), n, d, encode_labels(labels.data(), n, threads), threads);
}

template <class T>
double kmeans_loss_py(const py::array& X_in, const py::array& centers_in, const opt_array& labels_in,
                      std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const auto centers = as_real<double>(centers_in, "centers");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_shape(centers, {-1, d}, "centers");
    const index_t k = require_at_least(centers.shape(0), 1, "the number of centers");
    std::optional<index_array> labels;
    if (labels_in) {
        labels = labels_for(*labels_in, n);
        require_index_range(*labels, 0, k, "labels", "[0, k)");
    }
    const int threads = threads_arg(n_threads);
    const std::int64_t* lab = labels ? labels->data() : nullptr;
    released guard;  // the kernel touches no Python objects
    return kmeans_loss(X.data(), n, d, centers.data(), k, lab, threads);
}

template <class T>
py::tuple gmm_nll_py(const py::array& X_in, const py::array& weights_in, const py::array& means_in,
                     const py::array& covariances_in, const std::string& covariance_type, bool return_samples,
                     std::int64_t n_threads) {
    const auto X = as_real<T>(X_in, "X");
    const auto weights = as_real<double>(weights_in, "weights");
    const auto means = as_real<double>(means_in, "means");
    const auto covariances = as_real<double>(covariances_in, "covariances");
    const index_t n = require_points(X, "X"), d = X.shape(1);
    require_shape(means, {-1, d}, "means");
    const index_t k = require_at_least(means.shape(0), 1, "the number of components");
    require_shape(weights, {k}, "weights");
    const CovarianceType type = parse_covariance_type(covariance_type);
    switch (type) {
        case CovarianceType::full: require_shape(covariances, {k, d, d}, "covariances"); break;
        case CovarianceType::tied: require_shape(covariances, {d, d}, "covariances"); break;
        case CovarianceType::diag: require_shape(covariances, {k, d}, "covariances"); break;
        default: require_shape(covariances, {k}, "covariances"); break;
    }
    const int threads = threads_arg(n_threads);
    py::object samples = py::none();
    double* out = nullptr;
    if (return_samples) {
        auto s = empty<double>({n});
        out = s.mutable_data();
        samples = s;
    }
    double mean = 0.0;
    run_released([&] {
        const GaussianMixture g = make_gaussian_mixture(weights.data(), means.data(), covariances.data(), k, d, type);
        mean = gmm_nll(g, X.data(), n, out, threads);
    });
    return py::make_tuple(mean, samples);
}

template <class T>
py::tuple graph_cuts_dense_py(const py::array& W_in, const py::array& labels_in, std::int64_t n_threads) {
    const auto W = as_real<T>(W_in, "W");
    const index_t n = require_square(W, "W");
    const auto labels = labels_for(labels_in, n);
    const int threads = threads_arg(n_threads);
    CutValues cuts;
    run_released([&] {
        cuts = graph_cuts(DenseGraph<T>{W.data(), n}, encode_labels(labels.data(), n, threads), threads);
    });
    return py::make_tuple(cuts.ncut, cuts.ratio_cut);
}

// The three arrays of a CSR matrix with n rows (and n columns), index type I.
template <class T, class I>
struct CsrArgs {
    carray<I> indptr, indices;
    carray<T> data;
    CsrArgs(const py::array& indptr_in, const py::array& indices_in, const py::array& data_in, index_t n)
        : indptr(as_index<I>(indptr_in, "W.indptr")),
          indices(as_index<I>(indices_in, "W.indices")),
          data(as_real<T>(data_in, "W.data")) {
        require_at_least(n, 1, "n");
        require_ndim(indptr, 1, "W.indptr");
        if (indptr.shape(0) - 1 != n) {
            value_error("W.indptr must have n + 1 = " + std::to_string(n) + " + 1 entries, got shape " +
                        shape_of(indptr));
        }
        require_ndim(indices, 1, "W.indices");
        require_shape(data, {indices.shape(0)}, "W.data");
    }
    CsrGraph<T, I> graph(index_t n) const { return {indptr.data(), indices.data(), data.data(), n, indices.shape(0)}; }
};

template <class T, class I>
py::tuple graph_cuts_csr_py(const py::array& indptr, const py::array& indices, const py::array& data, index_t n,
                            const py::array& labels_in, std::int64_t n_threads) {
    const CsrArgs<T, I> W(indptr, indices, data, n);
    const auto labels = labels_for(labels_in, n);
    const int threads = threads_arg(n_threads);
    CutValues cuts;
    run_released([&] {
        const CsrGraph<T, I> g = W.graph(n);
        check_csr(g);
        cuts = graph_cuts(g, encode_labels(labels.data(), n, threads), threads);
    });
    return py::make_tuple(cuts.ncut, cuts.ratio_cut);
}

// A soft assignment P (n, k), k >= 1.
inline carray<double> assignment_for(const py::array& P_in, index_t n) {
    auto P = as_real<double>(P_in, "P");
    require_shape(P, {n, -1}, "P");
    require_at_least(P.shape(1), 1, "the number of clusters (columns of P)");
    return P;
}

template <class T>
py::tuple soft_ncut_dense_py(const py::array& W_in, const py::array& P_in, std::int64_t n_threads) {
    const auto W = as_real<T>(W_in, "W");
    const index_t n = require_square(W, "W");
    const auto P = assignment_for(P_in, n);
    const index_t k = P.shape(1);
    const int threads = threads_arg(n_threads);
    auto grad = empty<double>({n, k});
    double value = 0.0;
    run_released([&] { value = soft_ncut(DenseGraph<T>{W.data(), n}, P.data(), k, grad.mutable_data(), threads); });
    return py::make_tuple(value, grad);
}

template <class T, class I>
py::tuple soft_ncut_csr_py(const py::array& indptr, const py::array& indices, const py::array& data, index_t n,
                           const py::array& P_in, std::int64_t n_threads) {
    const CsrArgs<T, I> W(indptr, indices, data, n);
    const auto P = assignment_for(P_in, n);
    const index_t k = P.shape(1);
    const int threads = threads_arg(n_threads);
    auto grad = empty<double>({n, k});
    double value = 0.0;
    run_released([&] {
        const CsrGraph<T, I> g = W.graph(n);
        check_csr(g);
        value = soft_ncut(g, P.data(), k, grad.mutable_data(), threads);
    });
    return py::make_tuple(value, grad);
}

py::tuple dec_loss_py(const py::array& Z_in, const py::array& centers_in, double alpha, const opt_array& target_in,
                      std::int64_t n_threads) {
    const auto Z = as_real<double>(Z_in, "Z");
    const auto centers = as_real<double>(centers_in, "centers");
    const auto target = as_real<double>(target_in, "target");
    const index_t n = require_points(Z, "Z"), d = Z.shape(1);
    require_shape(centers, {-1, d}, "centers");
    const index_t k = require_at_least(centers.shape(0), 1, "the number of centers");
    require_positive(alpha, "alpha");
    if (target) require_shape(*target, {n, k}, "target");
    const int threads = threads_arg(n_threads);
    const double* tgt = target ? target->data() : nullptr;
    auto grad_z = empty<double>({n, d});
    auto grad_c = empty<double>({k, d});
    double loss = 0.0;
    run_released([&] {
        loss = dec_loss(Z.data(), n, d, centers.data(), k, alpha, tgt, grad_z.mutable_data(), grad_c.mutable_data(),
                        threads);
    });
    return py::make_tuple(loss, grad_z, grad_c);
}

template <class T, class I>
void def_csr(py::module_& m, const std::string& suffix) {
    m.def(("graph_cuts_csr_" + suffix).c_str(), &graph_cuts_csr_py<T, I>, py::arg("indptr"), py::arg("indices"),
          py::arg("data"), py::arg("n"), py::arg("labels"), py::arg("n_threads"),
          "(ncut, ratio_cut) of a labeling on a CSR affinity.");
    m.def(("soft_ncut_csr_" + suffix).c_str(), &soft_ncut_csr_py<T, I>, py::arg("indptr"), py::arg("indices"),
          py::arg("data"), py::arg("n"), py::arg("P"), py::arg("n_threads"),
          "(value, grad) of the soft normalized cut on a CSR affinity.");
}

template <class T>
void def_typed(py::module_& m, const std::string& suffix) {
    m.def(("davies_bouldin_score_" + suffix).c_str(), &davies_bouldin_score_py<T>, py::arg("X"), py::arg("labels"),
          py::arg("n_threads"), "Davies-Bouldin index.");
    m.def(("kmeans_loss_" + suffix).c_str(), &kmeans_loss_py<T>, py::arg("X"), py::arg("centers"),
          py::arg("labels"), py::arg("n_threads"), "Sum of squared distances to the assigned or nearest center.");
    m.def(("gmm_nll_" + suffix).c_str(), &gmm_nll_py<T>, py::arg("X"), py::arg("weights"), py::arg("means"),
          py::arg("covariances"), py::arg("covariance_type"), py::arg("return_samples"), py::arg("n_threads"),
          "(mean, per-sample or None) negative log-likelihood of a Gaussian mixture.");
    m.def(("graph_cuts_dense_" + suffix).c_str(), &graph_cuts_dense_py<T>, py::arg("W"), py::arg("labels"),
          py::arg("n_threads"), "(ncut, ratio_cut) of a labeling on a dense affinity.");
    m.def(("soft_ncut_dense_" + suffix).c_str(), &soft_ncut_dense_py<T>, py::arg("W"), py::arg("P"),
          py::arg("n_threads"), "(value, grad) of the soft normalized cut on a dense affinity.");
    def_csr<T, std::int32_t>(m, suffix + "_i32");
    def_csr<T, std::int64_t>(m, suffix + "_i64");
}

}  // namespace

void register_metrics(py::module_& m) {
    m.def("adjusted_rand_score", &adjusted_rand_score_py, py::arg("labels_true"), py::arg("labels_pred"),
          py::arg("n_threads"), "Adjusted Rand index of two int64 labelings.");
    m.def("mutual_info_score", &mutual_info_score_py, py::arg("labels_true"), py::arg("labels_pred"),
          py::arg("n_threads"), "Mutual information (nats) of two int64 labelings.");
    m.def("normalized_mutual_info_score", &normalized_mutual_info_score_py, py::arg("labels_true"),
          py::arg("labels_pred"), py::arg("average_method"), py::arg("n_threads"),
          "Normalized mutual information of two int64 labelings.");
    m.def("dec_loss", &dec_loss_py, py::arg("Z"), py::arg("centers"), py::arg("alpha"), py::arg("target"),
          py::arg("n_threads"), "(loss, grad_Z, grad_centers) of DEC's KL(P || Q).");
    def_typed<double>(m, "f64");
    def_typed<float>(m, "f32");
}

}  // namespace diffclust::bind
