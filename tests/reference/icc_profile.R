# Reference values for the profile-likelihood intervals of ICC(1) and ICC(2)
# (belonging_lib.reliability.icc, ci_method = "profile").
# Run from the repository root:  Rscript tests/reference/icc_profile.R
# Input (written once from Python, synthetic): tests/reference/data/icc_intervals_fixture.csv,
#   one row per pupil: school, x, y.
# Two outcomes: y, and y_small = y - 0.9 * (its school's mean of y), whose between-school variance is
#   close to 0, so that the lower end of its interval is 0.
# lme4's deviance function (devFunOnly = TRUE) is the REML criterion profiled over the fixed effects
# and the residual variance, as a function of theta = tau / sigma (lambda = theta^2 = tau00 / sigma2).
# theta's estimate is lmer's (bobyqa, rhoend 1e-12). The interval holds every theta whose criterion is within qchisq(level, 1) of the minimum; its ends
# are found by uniroot. ICC(1) = lambda / (1 + lambda), ICC(2) = lambda / (lambda + 1 / n_bar).
# (lme4's confint(method = "profile") profiles the standard deviations one at a time, not their
# ratio, so it gives other intervals.)
# Writes tests/reference/icc_profile.json (R and package versions, input MD5, results).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
out_dir <- "tests/reference"
fx_path <- file.path(out_dir, "data", "icc_intervals_fixture.csv")
d <- read.csv(fx_path, colClasses = c("character", "numeric", "numeric"))
d$y_small <- d$y - 0.9 * ave(d$y, d$school)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-12),
                    check.conv.singular = "ignore", calc.derivs = FALSE)

profile_interval <- function(outcome, level) {
  dd <- data.frame(y = d[[outcome]], g = d$school)
  dev <- lmer(y ~ 1 + (1 | g), data = dd, REML = TRUE, devFunOnly = TRUE)
  fit <- lmer(y ~ 1 + (1 | g), data = dd, REML = TRUE, control = ctrl)
  theta_hat <- unname(getME(fit, "theta"))
  cut <- dev(theta_hat) + qchisq(level, 1)
  f <- function(t) dev(t) - cut
  low <- if (theta_hat == 0 || f(0) <= 0) 0 else
    uniroot(f, c(0, theta_hat), tol = 1e-14)$root
  high <- uniroot(f, c(theta_hat, 50), tol = 1e-14)$root
  lam <- c(theta_hat, low, high)^2
  nbar <- nrow(dd) / length(unique(dd$g))
  list(outcome = outcome, level = level, lambda = lam[1], lambda_ci = lam[2:3],
       icc1 = lam[1] / (1 + lam[1]), icc1_ci = lam[2:3] / (1 + lam[2:3]),
       icc2 = lam[1] / (lam[1] + 1 / nbar), icc2_ci = lam[2:3] / (lam[2:3] + 1 / nbar))
}

out <- list(
  R = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4"))),
  inputs = list(fixture = basename(fx_path), fixture_md5 = unname(tools::md5sum(fx_path))),
  results = list(profile_interval("y", 0.95), profile_interval("y", 0.90),
                 profile_interval("y_small", 0.95))
)
write_json(out, file.path(out_dir, "icc_profile.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("written", file.path(out_dir, "icc_profile.json"), "\n")
