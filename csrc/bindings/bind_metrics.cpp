// Bindings for the metrics and losses: ARI/NMI/MI (contingency.hpp, metrics.hpp),
// Davies-Bouldin, k-means and GMM losses (losses.hpp), cuts (ncut.hpp), DEC (dec.hpp).
// The Python layer validates; these convert, allocate, release the GIL and call the core.
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

void require_same_length(const index_array& a, const index_array& b) {
    require_ndim(a, 1, "labels_true");
    require_ndim(b, 1, "labels_pred");
    if (a.shape(0) != b.shape(0)) throw py::value_error("labels_true and labels_pred must have the same length");
}

double adjusted_rand_score_py(const index_array& a, const index_array& b, int n_threads) {
    require_same_length(a, b);
    released guard;  // the kernel touches no Python objects
    return adjusted_rand_index(contingency(a.data(), b.data(), a.shape(0), n_threads));
}

double mutual_info_score_py(const index_array& a, const index_array& b, int n_threads) {
    require_same_length(a, b);
    released guard;  // the kernel touches no Python objects
    return mutual_info(contingency(a.data(), b.data(), a.shape(0), n_threads));
}

double normalized_mutual_info_score_py(const index_array& a, const index_array& b, const std::string& average_method,
                                       int n_threads) {
    require_same_length(a, b);
    const AverageMethod method = parse_average_method(average_method);
    released guard;  // the kernel touches no Python objects
    return normalized_mutual_info(contingency(a.data(), b.data(), a.shape(0), n_threads), method);
}

template <class T>
double davies_bouldin_score_py(const carray<T>& X, const index_array& labels, int n_threads) {
    require_ndim(X, 2, "X");
    require_ndim(labels, 1, "labels");
    const index_t n = X.shape(0), d = X.shape(1);
    if (labels.shape(0) != n) throw py::value_error("labels must have one entry per row of X");
    released guard;  // the kernel touches no Python objects
    return davies_bouldin(X.data(), n, d, encode_labels(labels.data(), n, n_threads), n_threads);
}

template <class T>
double kmeans_loss_py(const carray<T>& X, const carray<double>& centers, const std::optional<index_array>& labels,
                      int n_threads) {
    require_ndim(X, 2, "X");
    require_ndim(centers, 2, "centers");
    const index_t n = X.shape(0), d = X.shape(1), k = centers.shape(0);
    if (centers.shape(1) != d) throw py::value_error("centers must have as many columns as X");
    const std::int64_t* lab = nullptr;
    if (labels) {
        require_ndim(*labels, 1, "labels");
        if (labels->shape(0) != n) throw py::value_error("labels must have one entry per row of X");
        lab = labels->data();
    }
    released guard;  // the kernel touches no Python objects
    return kmeans_loss(X.data(), n, d, centers.data(), k, lab, n_threads);
}

template <class T>
py::tuple gmm_nll_py(const carray<T>& X, const carray<double>& weights, const carray<double>& means,
                     const carray<double>& covariances, const std::string& covariance_type, bool return_samples,
                     int n_threads) {
    require_ndim(X, 2, "X");
    require_ndim(means, 2, "means");
    const index_t n = X.shape(0), d = X.shape(1), k = means.shape(0);
    const CovarianceType type = parse_covariance_type(covariance_type);
    if (means.shape(1) != d || weights.ndim() != 1 || weights.shape(0) != k)
        throw py::value_error("weights (k,) and means (k, d) do not match X (n, d)");
    const py::ssize_t expected = type == CovarianceType::full   ? k * d * d
                                 : type == CovarianceType::tied ? d * d
                                 : type == CovarianceType::diag ? k * d
                                                                : k;
    if (covariances.size() != expected) throw py::value_error("covariances has the wrong shape for covariance_type");
    py::object samples = py::none();
    double* out = nullptr;
    if (return_samples) {
        auto s = empty<double>({n});
        out = s.mutable_data();
        samples = s;
    }
    double mean = 0.0;
    {
        released guard;  // the kernel touches no Python objects
        const GaussianMixture g = make_gaussian_mixture(weights.data(), means.data(), covariances.data(), k, d, type);
        mean = gmm_nll(g, X.data(), n, out, n_threads);
    }
    return py::make_tuple(mean, samples);
}

template <class T>
py::tuple graph_cuts_dense_py(const carray<T>& W, const index_array& labels, int n_threads) {
    require_ndim(W, 2, "W");
    const index_t n = W.shape(0);
    if (W.shape(1) != n) throw py::value_error("W must be square");
    if (labels.ndim() != 1 || labels.shape(0) != n) throw py::value_error("labels must have length n");
    CutValues cuts;
    {
        released guard;  // the kernel touches no Python objects
        cuts = graph_cuts(DenseGraph<T>{W.data(), n}, encode_labels(labels.data(), n, n_threads), n_threads);
    }
    return py::make_tuple(cuts.ncut, cuts.ratio_cut);
}

template <class T, class I>
py::tuple graph_cuts_csr_py(const carray<I>& indptr, const carray<I>& indices, const carray<T>& data, index_t n,
                            const index_array& labels, int n_threads) {
    if (indptr.ndim() != 1 || indptr.shape(0) != n + 1) throw py::value_error("W.indptr must have length n + 1");
    if (indices.ndim() != 1 || data.ndim() != 1 || indices.shape(0) != data.shape(0))
        throw py::value_error("W.indices and W.data must be 1-d of the same length");
    if (labels.ndim() != 1 || labels.shape(0) != n) throw py::value_error("labels must have length n");
    CutValues cuts;
    {
        released guard;  // the kernel touches no Python objects
        const CsrGraph<T, I> g{indptr.data(), indices.data(), data.data(), n, indices.shape(0)};
        check_csr(g);
        cuts = graph_cuts(g, encode_labels(labels.data(), n, n_threads), n_threads);
    }
    return py::make_tuple(cuts.ncut, cuts.ratio_cut);
}

template <class T>
py::tuple soft_ncut_dense_py(const carray<T>& W, const carray<double>& P, int n_threads) {
    require_ndim(W, 2, "W");
    require_ndim(P, 2, "P");
    const index_t n = W.shape(0), k = P.shape(1);
    if (W.shape(1) != n || P.shape(0) != n) throw py::value_error("W must be (n, n) and P (n, k)");
    auto grad = empty<double>({n, k});
    double value = 0.0;
    {
        released guard;  // the kernel touches no Python objects
        value = soft_ncut(DenseGraph<T>{W.data(), n}, P.data(), k, grad.mutable_data(), n_threads);
    }
    return py::make_tuple(value, grad);
}

template <class T, class I>
py::tuple soft_ncut_csr_py(const carray<I>& indptr, const carray<I>& indices, const carray<T>& data, index_t n,
                           const carray<double>& P, int n_threads) {
    if (indptr.ndim() != 1 || indptr.shape(0) != n + 1) throw py::value_error("W.indptr must have length n + 1");
    if (indices.ndim() != 1 || data.ndim() != 1 || indices.shape(0) != data.shape(0))
        throw py::value_error("W.indices and W.data must be 1-d of the same length");
    require_ndim(P, 2, "P");
    if (P.shape(0) != n) throw py::value_error("P must have n rows");
    const index_t k = P.shape(1);
    auto grad = empty<double>({n, k});
    double value = 0.0;
    {
        released guard;  // the kernel touches no Python objects
        const CsrGraph<T, I> g{indptr.data(), indices.data(), data.data(), n, indices.shape(0)};
        check_csr(g);
        value = soft_ncut(g, P.data(), k, grad.mutable_data(), n_threads);
    }
    return py::make_tuple(value, grad);
}

py::tuple dec_loss_py(const carray<double>& Z, const carray<double>& centers, double alpha,
                      const std::optional<carray<double>>& target, int n_threads) {
    require_ndim(Z, 2, "Z");
    require_ndim(centers, 2, "centers");
    const index_t n = Z.shape(0), d = Z.shape(1), k = centers.shape(0);
    if (centers.shape(1) != d) throw py::value_error("centers must have as many columns as Z");
    const double* tgt = nullptr;
    if (target) {
        if (target->ndim() != 2 || target->shape(0) != n || target->shape(1) != k)
            throw py::value_error("target must have shape (n, k)");
        tgt = target->data();
    }
    auto grad_z = empty<double>({n, d});
    auto grad_c = empty<double>({k, d});
    double loss = 0.0;
    {
        released guard;  // the kernel touches no Python objects
        loss = dec_loss(Z.data(), n, d, centers.data(), k, alpha, tgt, grad_z.mutable_data(), grad_c.mutable_data(),
                        n_threads);
    }
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
