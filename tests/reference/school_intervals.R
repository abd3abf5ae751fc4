# A school's mean belonging against the other schools', with a cluster-robust interval:
# the reference for belonging_lib.school_intervals.school_differences.
# Data: PSSM mean scores of the synthetic sample survey (tests/fixtures/school_intervals_pssm.csv).
# Run from the repository root: Rscript tests/reference/school_intervals.R
suppressPackageStartupMessages({library(clubSandwich); library(jsonlite)})
d <- read.csv("tests/fixtures/school_intervals_pssm.csv", colClasses = c(school_id = "character"))
d <- d[!is.na(d$pssm), ]
out <- list()
for (s in c("S01", "S07")) {
  a <- d$pssm[d$school_id == s]; r <- d[d$school_id != s, ]
  va <- var(a) / length(a)
  ct <- coef_test(lm(pssm ~ 1, r), vcov = "CR1S", cluster = r$school_id, test = "naive-t")
  vb <- ct$SE[1]^2; G <- length(unique(r$school_id))
  df <- (va + vb)^2 / (va^2 / (length(a) - 1) + vb^2 / (G - 1))
  est <- mean(a) - ct$beta[1]; se <- sqrt(va + vb); q <- qt(0.975, df)
  out[[s]] <- list(estimate = est, se = se, df = df, ci_low = est - q * se, ci_high = est + q * se)
}
ct <- coef_test(lm(pssm ~ 1, d), vcov = "CR1S", cluster = d$school_id, test = "naive-t")
G <- length(unique(d$school_id)); q <- qt(0.975, G - 1)
out$all <- list(estimate = ct$beta[1], se = ct$SE[1], ci_low = ct$beta[1] - q * ct$SE[1], ci_high = ct$beta[1] + q * ct$SE[1])
write_json(out, "tests/reference/school_intervals.json", digits = 12, auto_unbox = TRUE, pretty = TRUE)
