# Reference values for belonging_lib.models.multilevel(weights=) (issue 28): R's WeMix.
# Run from the repository root:  Rscript tests/reference/wemix.R
# WeMix is not in Debian; it must be installed for R to find it (from its public source).
# Writes tests/reference/wemix.json: R's and each package's version, the exact calls, an MD5 of every
# input file, and for each model the fixed effects with WeMix's sandwich SEs, the variance
# components (with WeMix's sandwich SEs) and the pseudo-log-likelihood.
if (!requireNamespace("WeMix", quietly = TRUE)) {
  message("WeMix is not installed: tests/reference/wemix.json is kept as it is")
  quit(status = 0)
}
suppressPackageStartupMessages({library(WeMix); library(jsonlite)})
dir <- "tests/reference/data"
f_fix <- file.path(dir, "wemix_fixture.csv")
# PISA 2012 USA (MLMusingR), kept beside the project (not in it); BELONGING_SHARED names another place
f_pisa <- file.path(Sys.getenv("BELONGING_SHARED", "../shared"), "data/wemix/pisa2012_usa_mlmusingr.csv")
# ---- fixture (synthetic): 30 schools sampled with unequal probabilities, pupils within them with
# unequal probabilities; a random intercept and a random slope of x
if (!file.exists(f_fix)) {
  set.seed(20261207)
  J <- 30; rows <- list()
  for (s in 1:J) {
    u0 <- rnorm(1, 0, 0.7); u1 <- rnorm(1, 0, 0.3); nj <- sample(6:25, 1)
    x <- round(rnorm(nj), 4); female <- rbinom(nj, 1, 0.5)
    y <- 2 + 0.5 * x + 0.3 * female + u0 + u1 * x + rnorm(nj)
    w_school <- round(runif(1, 5, 60) * exp(0.3 * u0), 4)
    w_pupil <- round(w_school * runif(nj, 1, 4) * exp(0.2 * (y > 2)), 4)   # total weight: school x conditional
    rows[[s]] <- data.frame(school = sprintf("S%02d", s), x = x, female = female, y = round(y, 4),
                            w_school = w_school, w_pupil = w_pupil)
  }
  write.csv(do.call(rbind, rows), f_fix, row.names = FALSE)
}
fix <- read.csv(f_fix, colClasses = c(school = "character"))
# conditional pupil weight = total / school, then scaled within schools (the WeMix vignette's methods)
scale_within <- function(d, method) {
  wc <- d$w_pupil / d$w_school
  if (method == "cluster_size") wc <- wc * ave(wc, d$school, FUN = length) / ave(wc, d$school, FUN = sum)
  if (method == "effective_size") wc <- wc * ave(wc, d$school, FUN = sum) / ave(wc^2, d$school, FUN = sum)
  d$wc <- wc
  d
}
grab <- function(m) {
  vd <- m$varDF
  list(terms = names(m$coef), estimate = unname(m$coef), se = unname(m$SE),
       variance = as.list(m$vars), loglik = m$lnl,
       varcomp = list(grp = vd$grp, var1 = ifelse(is.na(vd$var1), "", vd$var1),
                      var2 = ifelse(is.na(vd$var2), "", vd$var2), vcov = vd$vcov, se = vd$SEvcov))
}
calls <- list(
  fixture_ri = "mix(y ~ x + female + (1 | school), data = d, weights = c('wc', 'w_school'), cWeights = TRUE)",
  fixture_rs = "mix(y ~ x + female + (1 + x | school), data = d, weights = c('wc', 'w_school'), cWeights = TRUE)",
  fixture_dg = "mix(y ~ x + female + (1 | school) + (0 + x | school), data = d, weights = c('wc', 'w_school'), cWeights = TRUE)",
  scaling = "wc = w_pupil / w_school; cluster_size: wc * n_j / sum_j(wc); effective_size: wc * sum_j(wc) / sum_j(wc^2); none: wc",
  pisa_ri = "mix(pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 | schoolid), data = pisa, weights = c('w_fstuwt', 'w_fschwt'))",
  pisa_dg = "mix(pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 | schoolid) + (0 + escs | schoolid), data = pisa, weights = c('w_fstuwt', 'w_fschwt'))"
)
models <- list()
for (method in c("none", "cluster_size", "effective_size")) {
  d <- scale_within(fix, method)
  models[[paste0("fixture_ri_", method)]] <- grab(mix(y ~ x + female + (1 | school), data = d,
                                                      weights = c("wc", "w_school"), cWeights = TRUE))
  models[[paste0("fixture_rs_", method)]] <- grab(mix(y ~ x + female + (1 + x | school), data = d,
                                                      weights = c("wc", "w_school"), cWeights = TRUE))
  # uncorrelated random intercept and slope (the intercept-slope covariance fixed at 0)
  models[[paste0("fixture_dg_", method)]] <- grab(mix(y ~ x + female + (1 | school) + (0 + x | school), data = d,
                                                      weights = c("wc", "w_school"), cWeights = TRUE))
}
files <- f_fix
if (file.exists(f_pisa)) {
  pisa <- read.csv(f_pisa)
  models[["pisa_ri"]] <- grab(mix(pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 | schoolid), data = pisa,
                                  weights = c("w_fstuwt", "w_fschwt")))
  # the vignette's Table 2: a random slope of escs uncorrelated with the random intercept
  models[["pisa_dg"]] <- grab(mix(pv1math ~ st29q03 + sc14q02 + st04q01 + escs + (1 | schoolid) + (0 + escs | schoolid),
                                  data = pisa, weights = c("w_fstuwt", "w_fschwt")))
  files <- c(files, f_pisa)
}
out <- list(
  r_version = R.version.string,
  packages = list(WeMix = as.character(packageVersion("WeMix")), lme4 = as.character(packageVersion("lme4")),
                  Matrix = as.character(packageVersion("Matrix")), jsonlite = as.character(packageVersion("jsonlite"))),
  md5 = as.list(setNames(unname(tools::md5sum(files)), basename(files))),
  calls = calls, models = models
)
write_json(out, "tests/reference/wemix.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
