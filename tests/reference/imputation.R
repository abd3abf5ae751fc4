# Reference values for belonging_lib.imputation.pool (Rubin's rules).
# Run from tests/reference/:  Rscript imputation.R   -> imputation.json
# Inputs are fixed numbers written below (no data file), so the reference is exact.
# Runs from the repository root (make references) or from tests/reference.
if (dir.exists("tests/reference")) setwd("tests/reference")
suppressPackageStartupMessages({
  library(mitools); library(mice); library(jsonlite)
})

# Five imputations, three terms: estimates and standard errors (made-up but realistic).
est <- rbind(
  c(2.10, 0.512, -0.31),
  c(2.25, 0.498, -0.27),
  c(1.98, 0.530, -0.35),
  c(2.17, 0.505, -0.22),
  c(2.06, 0.521, -0.30))
se <- rbind(
  c(0.20, 0.050, 0.110),
  c(0.21, 0.049, 0.108),
  c(0.19, 0.052, 0.112),
  c(0.20, 0.051, 0.109),
  c(0.22, 0.050, 0.111))
terms <- c("Intercept", "belonging", "fsm")
colnames(est) <- terms; colnames(se) <- terms
m <- nrow(est)

results <- lapply(seq_len(m), function(i) est[i, ])
variances <- lapply(seq_len(m), function(i) diag(se[i, ]^2, nrow = 3, ncol = 3))
rubin <- MIcombine(results, variances)

# Barnard-Rubin small-sample df, as in mice::pool (the published formula).
dfcom <- 120
br <- lapply(seq_along(terms), function(j) pool.scalar(est[, j], se[, j]^2, n = dfcom + 1, k = 1))

out <- list(
  r_version = R.version.string,
  packages = list(mitools = as.character(packageVersion("mitools")),
                  mice = as.character(packageVersion("mice"))),
  calls = c("mitools::MIcombine(results, variances)",
            "mice::pool.scalar(Q, U, n = dfcom + 1, k = 1) for each term, dfcom = 120"),
  input = list(terms = terms, estimate = est, se = se, df_complete = dfcom),
  rubin = list(estimate = unname(coef(rubin)), variance = unname(diag(vcov(rubin))),
               df = unname(rubin$df), fmi = unname(rubin$missinfo)),
  barnard_rubin = list(estimate = sapply(br, function(p) p$qbar), variance = sapply(br, function(p) p$t),
                       df = sapply(br, function(p) p$df), fmi = sapply(br, function(p) p$fmi),
                       riv = sapply(br, function(p) p$r))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "imputation.json")
