"""A Bayesian model written with scipy.stats and scipy.special, fitted with scipy.optimize.

The legacy code scores a robust regression: Student-t residuals whose scale is a log-normal
parameter, a Gaussian prior on the coefficients, a gamma prior on the scale, and a logistic
link for an "outlier" probability mixing the t likelihood with a wide normal one (combined with
``scipy.special.logsumexp``). It calls SciPy exactly as such code does — frozen and unfrozen
distributions, keyword parameters, Python floats mixed with arrays — and is not changed:
``ga.value_and_grad`` gives ``scipy.optimize.minimize(..., jac=True)`` the posterior's gradient.
"""
import numpy as np
from scipy import optimize, special, stats

import gradarray as ga


# ------------------------------------------------------------------ legacy code (NumPy + SciPy)
def neg_log_posterior(theta, x, y):
    beta, log_scale, logit_outlier = theta[:2], theta[2], theta[3]
    scale = np.exp(log_scale)
    mean = beta[0] + beta[1] * x
    inlier = stats.t.logpdf(y, 4.0, loc=mean, scale=scale)
    outlier = stats.norm(loc=mean, scale=10.0 * scale).logpdf(y)
    p_out = special.expit(logit_outlier)
    log_lik = special.logsumexp(np.stack([np.log1p(-p_out) + inlier, np.log(p_out) + outlier]),
                                axis=0)
    log_prior = (np.sum(stats.norm.logpdf(beta, 0.0, 5.0))
                 + stats.gamma.logpdf(scale, 2.0, scale=1.0) + log_scale      # + log-Jacobian
                 + stats.norm.logpdf(logit_outlier, loc=-3.0, scale=1.0))
    return -(np.sum(log_lik) + log_prior)


# ------------------------------------------------------------------ driver
def main(n=60, maxiter=200, verbose=False):
    rng = np.random.default_rng(7)
    x = np.linspace(-2, 2, n)
    y = 1.5 - 0.8 * x + 0.3 * rng.standard_t(4, size=n)
    y[::13] += 6.0                                              # outliers
    theta0 = np.array([0.0, 0.0, 0.0, -2.0])
    start = float(neg_log_posterior(theta0, x, y))
    result = optimize.minimize(ga.value_and_grad(neg_log_posterior), theta0, args=(x, y),
                               jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
    if verbose:
        print(result.message, start, "->", result.fun, "theta", result.x.round(3))
    return {"losses": [start, float(result.fun)], "result": result, "loss": neg_log_posterior,
            "point": theta0 + 0.1, "args": (x, y)}


if __name__ == "__main__":
    main(verbose=True)
