# Cluster-robust (CR1S, t with G - 1 df) intervals for attrition and baseline balance,
# the reference for belonging_lib.trials.trial_intervals.
# Run from the repository root: Rscript tests/reference/trial_intervals.R
# The data are a frozen copy of the synthetic sample trial (tests/fixtures/trial_intervals_trial.csv).
suppressPackageStartupMessages({library(clubSandwich); library(jsonlite)})
d <- read.csv("tests/fixtures/trial_intervals_trial.csv", colClasses = c(school_id = "character", pupil_id = "character"))
crs <- function(fit, cl, term) {
  ct <- coef_test(fit, vcov = "CR1S", cluster = cl, test = "naive-t")
  i <- which(rownames(ct) == term | ct$Coef == term)
  G <- length(unique(cl))
  q <- qt(0.975, G - 1)
  list(estimate = ct$beta[i], se = ct$SE[i], ci_low = ct$beta[i] - q * ct$SE[i], ci_high = ct$beta[i] + q * ct$SE[i])
}
out <- list()
tr <- d[d$treat == 1, ]; co <- d[d$treat == 0, ]
out$attrition_treated <- crs(lm(attrited ~ 1, tr), tr$school_id, "(Intercept)")
out$attrition_control <- crs(lm(attrited ~ 1, co), co$school_id, "(Intercept)")
out$attrition_overall <- crs(lm(attrited ~ 1, d), d$school_id, "(Intercept)")
out$attrition_differential <- crs(lm(attrited ~ treat, d), d$school_id, "treat")
a <- d[d$attrited == 0, ]
hj <- function(df) 1 - 3 / (4 * df - 1)
n1 <- sum(a$treat == 1); n2 <- sum(a$treat == 0); j <- hj(n1 + n2 - 2)
for (v in c("pre_belonging", "pre_attain")) {
  x <- a[[v]]; sp <- sqrt(((n1 - 1) * var(x[a$treat == 1]) + (n2 - 1) * var(x[a$treat == 0])) / (n1 + n2 - 2))
  r <- crs(lm(x ~ treat, a), a$school_id, "treat")
  out[[paste0("balance_", v)]] <- lapply(r, function(z) z * j / sp)
}
for (v in c("fsm", "send")) {
  r <- crs(glm(a[[v]] ~ treat, family = binomial, data = a, control = glm.control(epsilon = 1e-14, maxit = 100)), a$school_id, "treat")
  out[[paste0("balance_", v)]] <- lapply(r, function(z) z * j / 1.65)
}
write_json(out, "tests/reference/trial_intervals.json", digits = 12, auto_unbox = TRUE, pretty = TRUE)
