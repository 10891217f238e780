// Bindings for Gaussian mixtures fitted by EM (cluster/gmm.hpp): the initial
// parameters from responsibilities, precision Cholesky factors from precisions, the
// EM fit, and the E-step alone (labels, log-likelihoods, responsibilities).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "convert.hpp"
#include "diffclust/cluster/gmm.hpp"

namespace diffclust::bind {

namespace {

std::vector<py::ssize_t> covariance_shape(CovarianceType type, index_t k, index_t d) {
    switch (type) {
        case CovarianceType::full: return {k, d, d};
        case CovarianceType::tied: return {d, d};
        case CovarianceType::diag: return {k, d};
        default: return {k};
    }
}

void require_covariance_shape(const py::array& a, CovarianceType type, index_t k, index_t d, const char* name) {
    switch (type) {
        case CovarianceType::full: require_shape(a, {k, d, d}, name); break;
        case CovarianceType::tied: require_shape(a, {d, d}, name); break;
        case CovarianceType::diag: require_shape(a, {k, d}, name); break;
        default: require_shape(a, {k}, name); break;
    }
}

// Arrays of the parameters, allocated with the GIL held.
struct ParamArrays {
    py::array_t<double> weights, means, covariances, prec_chol;
    ParamArrays(CovarianceType type, index_t k, index_t d)
        : weights(empty<double>({k})),
          means(empty<double>({k, d})),
          covariances(empty<double>(covariance_shape(type, k, d))),
          prec_chol(empty<double>(covariance_shape(type, k, d))) {}
    void fill(const MixtureParams& p) {
        std::copy(p.weights.begin(), p.weights.end(), weights.mutable_data());
        std::copy(p.means.begin(), p.means.end(), means.mutable_data());
        std::copy(p.covariances.begin(), p.covariances.end(), covariances.mutable_data());
        std::copy(p.prec_chol.begin(), p.prec_chol.end(), prec_chol.mutable_data());
    }
    py::tuple tuple() const { return py::make_tuple(weights, means, covariances, prec_chol); }
};

// Weights, means and precision Cholesky factors checked against X's d: finite, weights
// >= 0 summing to 1, full/tied factors upper triangular with a positive diagonal,
// diag/spherical factors positive.
MixtureParams checked_params(const py::array& weights_in, const py::array& means_in, const py::array& pc_in,
                             CovarianceType type, index_t d) {
    const auto weights = as_real<double>(weights_in, "weights");
    const auto means = as_real<double>(means_in, "means");
    const auto pc = as_real<double>(pc_in, "precisions_cholesky");
    require_shape(means, {-1, d}, "means");
    const index_t k = require_at_least(means.shape(0), 1, "the number of components");
    require_shape(weights, {k}, "weights");
    require_covariance_shape(pc, type, k, d, "precisions_cholesky");
    MixtureParams p;
    p.k = k, p.d = d, p.type = type;
    p.weights.assign(weights.data(), weights.data() + k);
    p.means.assign(means.data(), means.data() + k * d);
    p.prec_chol.assign(pc.data(), pc.data() + pc.size());
    p.covariances.assign(p.prec_chol.size(), 0.0);
    double sum = 0.0;
    for (const double w : p.weights) {
        if (!(w >= 0.0) || !std::isfinite(w)) value_error("weights must be finite and non-negative");
        sum += w;
    }
    if (std::abs(sum - 1.0) > 1e-6) value_error("weights must sum to 1, got " + std::to_string(sum));
    for (const double m : p.means)
        if (!std::isfinite(m)) value_error("means contains NaN or infinity");
    const bool square = type == CovarianceType::full || type == CovarianceType::tied;
    const index_t m = type == CovarianceType::full ? k : 1;
    for (std::size_t i = 0; i < p.prec_chol.size(); ++i) {
        const double v = p.prec_chol[i];
        if (!std::isfinite(v)) value_error("precisions_cholesky contains NaN or infinity");
        if (!square && !(v > 0.0)) value_error("precisions_cholesky must be positive");
    }
    if (square) {
        for (index_t j = 0; j < m; ++j)
            for (index_t t = 0; t < d; ++t)
                for (index_t c = 0; c < d; ++c) {
                    const double v = p.prec_chol[static_cast<std::size_t>(j * d * d + t * d + c)];
                    if ((c < t && v != 0.0) || (c == t && !(v > 0.0)))
                        value_error("precisions_cholesky must be upper triangular with a positive diagonal");
                }
    }
    return p;
}

template <class T>
carray<T> checked_points(const py::array& X_in, index_t& n, index_t& d) {
    auto X = as_real<T>(X_in, "X");
    n = require_points(X, "X");
    d = X.shape(1);
    return X;
}

template <class T>
py::tuple gmm_init_py(const py::array& X_in, index_t k, const std::string& covariance_type, const opt_array& resp_in,
                      const opt_array& labels_in, double reg_covar, std::int64_t n_threads) {
    index_t n = 0, d = 0;
    const auto X = checked_points<T>(X_in, n, d);
    const CovarianceType type = parse_covariance_type(covariance_type);
    require_k(k, n);
    require_nonnegative(reg_covar, "reg_covar");
    if (static_cast<bool>(resp_in) == static_cast<bool>(labels_in)) value_error("give exactly one of resp and labels");
    std::optional<carray<double>> resp;
    std::optional<index_array> labels;
    if (resp_in) {
        resp = as_real<double>(*resp_in, "resp");
        require_shape(*resp, {n, k}, "resp");
    } else {
        labels = as_index(*labels_in, "labels");
        require_shape(*labels, {n}, "labels");
        require_index_range(*labels, -1, k, "labels", "[-1, k)");
    }
    const int threads = threads_arg(n_threads);
    ParamArrays out(type, k, d);
    run_released([&] {
        require_finite(X.data(), n * d, "X", threads);
        GmmResponsibilities src;
        if (resp) {
            require_finite(resp->data(), n * k, "resp", threads, true);
            src.resp = resp->data();
        } else {
            src.labels = labels->data();
        }
        out.fill(gmm_params_from_responsibilities(X.data(), n, d, k, type, src, reg_covar, threads));
    });
    return out.tuple();
}

py::array_t<double> gmm_precision_cholesky_py(const py::array& P_in, const std::string& covariance_type, index_t k,
                                              index_t d) {
    const auto P = as_real<double>(P_in, "precisions_init");
    const CovarianceType type = parse_covariance_type(covariance_type);
    require_at_least(k, 1, "k"), require_at_least(d, 1, "d");
    require_covariance_shape(P, type, k, d, "precisions_init");
    auto out = empty<double>(covariance_shape(type, k, d));
    double* o = out.mutable_data();
    run_released([&] {
        require_finite(P.data(), static_cast<index_t>(P.size()), "precisions_init", 1);
        if (type == CovarianceType::full || type == CovarianceType::tied) {
            const index_t m = type == CovarianceType::full ? k : 1;
            for (index_t j = 0; j < m; ++j)
                for (index_t t = 0; t < d; ++t)
                    for (index_t c = 0; c < t; ++c) {
                        const double a = P.data()[j * d * d + t * d + c], b = P.data()[j * d * d + c * d + t];
                        if (std::abs(a - b) > 1e-8 * (std::abs(a) + std::abs(b)) + 1e-300)
                            throw std::invalid_argument("precisions_init" +
                                                        (type == CovarianceType::full ? "[" + std::to_string(j) + "]"
                                                                                      : std::string()) +
                                                        " is not symmetric");
                    }
        }
        precision_cholesky_from_precisions(P.data(), o, type, k, d);
    });
    return out;
}

template <class T>
py::tuple gmm_fit_py(const py::array& X_in, const std::string& covariance_type, const py::array& weights_in,
                     const py::array& means_in, const py::array& pc_in, index_t max_iter, double tol, double reg_covar,
                     double initial_lower_bound, std::int64_t n_threads) {
    index_t n = 0, d = 0;
    const auto X = checked_points<T>(X_in, n, d);
    const CovarianceType type = parse_covariance_type(covariance_type);
    MixtureParams p = checked_params(weights_in, means_in, pc_in, type, d);
    require_k(p.k, n, "the number of components");
    require_at_least(max_iter, 0, "max_iter");
    require_nonnegative(tol, "tol");
    require_nonnegative(reg_covar, "reg_covar");
    if (std::isnan(initial_lower_bound) || initial_lower_bound == std::numeric_limits<double>::infinity())
        value_error("initial_lower_bound must be finite or -inf");
    const int threads = threads_arg(n_threads);
    ParamArrays out(type, p.k, d);
    auto labels = empty<std::int64_t>({n});
    MixtureFit fit;
    run_released([&] {
        require_finite(X.data(), n * d, "X", threads);
        fit = gmm_fit(X.data(), n, std::move(p), max_iter, tol, reg_covar, threads, initial_lower_bound);
        out.fill(fit.params);
        std::copy(fit.labels.begin(), fit.labels.end(), labels.mutable_data());
    });
    auto history = empty<double>({static_cast<index_t>(fit.lower_bounds.size())});
    auto seconds = empty<double>({static_cast<index_t>(fit.seconds.size())});
    std::copy(fit.lower_bounds.begin(), fit.lower_bounds.end(), history.mutable_data());
    std::copy(fit.seconds.begin(), fit.seconds.end(), seconds.mutable_data());
    return py::make_tuple(out.weights, out.means, out.covariances, out.prec_chol, labels, fit.lower_bound, fit.n_iter,
                          fit.converged, history, seconds);
}

template <class T>
py::tuple gmm_predict_py(const py::array& X_in, const std::string& covariance_type, const py::array& weights_in,
                         const py::array& means_in, const py::array& pc_in, bool return_resp, std::int64_t n_threads) {
    index_t n = 0, d = 0;
    const auto X = checked_points<T>(X_in, n, d);
    const CovarianceType type = parse_covariance_type(covariance_type);
    const MixtureParams p = checked_params(weights_in, means_in, pc_in, type, d);
    const int threads = threads_arg(n_threads);
    auto labels = empty<std::int64_t>({n});
    auto log_prob = empty<double>({n});
    py::object resp = py::none();
    double* r = nullptr;
    if (return_resp) {
        checked_size({n, p.k}, "resp");
        auto a = empty<double>({n, p.k});
        resp = a;
        r = a.mutable_data();
    }
    std::int64_t* lab = labels.mutable_data();
    double* lp = log_prob.mutable_data();
    run_released([&] {
        require_finite(X.data(), n * d, "X", threads);
        gmm_predict(X.data(), n, p, lab, lp, r, threads);
    });
    return py::make_tuple(labels, log_prob, resp);
}

template <class T>
void def_typed(py::module_& m, const std::string& suffix) {
    m.def(("gmm_init_" + suffix).c_str(), &gmm_init_py<T>, py::arg("X"), py::arg("k"), py::arg("covariance_type"),
          py::arg("resp"), py::arg("labels"), py::arg("reg_covar"), py::arg("n_threads"),
          "(weights, means, covariances, precisions_cholesky) from responsibilities or hard labels.");
    m.def(("gmm_fit_" + suffix).c_str(), &gmm_fit_py<T>, py::arg("X"), py::arg("covariance_type"), py::arg("weights"),
          py::arg("means"), py::arg("precisions_cholesky"), py::arg("max_iter"), py::arg("tol"), py::arg("reg_covar"),
          py::arg("initial_lower_bound"), py::arg("n_threads"),
          "EM: (weights, means, covariances, precisions_cholesky, labels, lower_bound, n_iter, converged, "
          "lower_bounds, seconds).");
    m.def(("gmm_predict_" + suffix).c_str(), &gmm_predict_py<T>, py::arg("X"), py::arg("covariance_type"),
          py::arg("weights"), py::arg("means"), py::arg("precisions_cholesky"), py::arg("return_resp"),
          py::arg("n_threads"), "E-step: (labels, log p(x_i), responsibilities or None).");
}

}  // namespace

void register_mixture(py::module_& m) {
    def_typed<float>(m, "f32");
    def_typed<double>(m, "f64");
    m.def("gmm_precision_cholesky", &gmm_precision_cholesky_py, py::arg("precisions"), py::arg("covariance_type"),
          py::arg("k"), py::arg("d"), "Upper-triangular precision Cholesky factors from precision matrices.");
}

}  // namespace diffclust::bind
