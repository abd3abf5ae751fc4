# Reference values for belonging_lib.models.risk_ratio (ratio of two shares with a log-scale interval).
# Run from the repository root:  Rscript tests/reference/ratios.R
# Reads tests/reference/data/robust_clustered.csv (made by tests/reference/robust.R);
# writes tests/reference/ratios.json.
suppressPackageStartupMessages({library(sandwich); library(clubSandwich); library(jsonlite); library(tools)})

file <- "tests/reference/data/robust_clustered.csv"
d <- read.csv(file)
z <- qnorm(0.975)

one <- function(num, den) {
  s <- d[d$fsm %in% c(num, den), ]
  s$grp <- factor(ifelse(s$fsm == num, "num", "den"), levels = c("den", "num"))
  a <- sum(s$high[s$grp == "num"]); n1 <- sum(s$grp == "num")
  c0 <- sum(s$high[s$grp == "den"]); n0 <- sum(s$grp == "den")
  # Katz (1978): hand formula for the variance of log RR
  log_rr <- log(a / n1) - log(c0 / n0)
  se_katz <- sqrt(1 / a - 1 / n1 + 1 / c0 - 1 / n0)
  # Zou (2004) modified Poisson: glm with log link, cluster-robust sandwich
  fit <- glm(high ~ grp, family = poisson(link = "log"), data = s)
  v_cl <- vcovCL(fit, cluster = ~school, type = "HC1")
  v_cr <- vcovCR(fit, cluster = s$school, type = "CR1S")
  v_hc0 <- vcovHC(fit, type = "HC0")
  b <- unname(coef(fit)["grpnum"])
  se_cl <- sqrt(v_cl["grpnum", "grpnum"])
  list(numerator = num, denominator = den, count_numerator = a, n_numerator = n1,
       count_denominator = c0, n_denominator = n0, n_clusters = length(unique(s$school)),
       estimate = exp(log_rr), glm_estimate = exp(b),
       katz = list(se = se_katz, ci_low = exp(log_rr - z * se_katz), ci_high = exp(log_rr + z * se_katz),
                   p = 2 * pnorm(-abs(log_rr / se_katz)), glm_hc0_se = sqrt(v_hc0["grpnum", "grpnum"])),
       cluster = list(se = se_cl, ci_low = exp(b - z * se_cl), ci_high = exp(b + z * se_cl),
                      p = 2 * pnorm(-abs(b / se_cl)),
                      clubsandwich_cr1s_se = sqrt(as.matrix(v_cr)["grpnum", "grpnum"])))
}

ref <- list(
  generated_by = "tests/reference/ratios.R",
  r_version = R.version.string,
  packages = list(sandwich = as.character(packageVersion("sandwich")),
                  clubSandwich = as.character(packageVersion("clubSandwich")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  options = paste("Katz: var(log RR) = 1/a - 1/n1 + 1/c - 1/n0; cluster: glm(high ~ group, poisson(log)),",
                  "sandwich::vcovCL(cluster = ~school, type = 'HC1') (= clubSandwich CR1S); normal limits, level 0.95"),
  inputs = list(robust_clustered.csv = unname(md5sum(file))),
  fsm0_vs_fsm1 = one(0, 1),
  fsm1_vs_fsm0 = one(1, 0)
)
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "tests/reference/ratios.json")
cat("wrote tests/reference/ratios.json\n")
