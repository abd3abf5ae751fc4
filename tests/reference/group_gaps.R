# Reference values for belonging_lib.models.group_gaps (issue 17, "Who belongs least").
# Run from the repository root:  Rscript tests/reference/group_gaps.R
# Gaps of each group against a reference group, pupils clustered in schools:
#   lme4 + lmerTest (random school intercept, REML, Satterthwaite df) and
#   lm + clubSandwich (CR2, Satterthwaite df); unadjusted and adjusted for covariates.
# Writes tests/reference/group_gaps.json.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(clubSandwich); library(jsonlite)})
f <- "tests/reference/data/group_gaps.csv"
if (!file.exists(f)) {
  set.seed(1717)
  G <- 30; ng <- sample(8:45, G, replace = TRUE); n <- sum(ng)
  school <- rep(sprintf("S%02d", 1:G), ng)
  share <- rep(runif(G, 0.05, 0.5), ng)            # groups unevenly spread over schools
  u <- runif(n)
  group <- ifelse(u < share, "b", ifelse(u < share + 0.15, "c", ifelse(u < share + 0.22, "d", "a")))
  phase <- rep(sample(c("primary", "secondary"), G, replace = TRUE), ng)
  x <- round(rnorm(n), 4)
  y <- 3.5 - 0.3 * (group == "b") - 0.15 * (group == "c") + 0.05 * (group == "d") + 0.2 * x -
       0.2 * (phase == "secondary") + rep(rnorm(G, 0, 0.2), ng) + rnorm(n, 0, 0.6)
  d <- data.frame(school = school, group = group, phase = phase, x = x, y = round(y, 4))
  d$y[c(3, 50)] <- NA; d$group[c(10, 200)] <- NA; d$x[7] <- NA
  write.csv(d, f, row.names = FALSE, na = "")
}
d0 <- read.csv(f, na.strings = "")
cases <- list(unadjusted = character(0), adjusted = c("x", "phase"))
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            lmerTest = as.character(packageVersion("lmerTest")),
            clubSandwich = as.character(packageVersion("clubSandwich")), md5 = unname(tools::md5sum(f)))
for (case in names(cases)) {
  covs <- cases[[case]]
  d <- d0[complete.cases(d0[, c("y", "group", "school", covs)]), ]
  d$group <- relevel(factor(d$group), ref = "a")
  rhs <- paste(c("group", covs), collapse = " + ")
  m <- lmer(as.formula(paste("y ~", rhs, "+ (1 | school)")), d, REML = TRUE)
  s <- summary(m, ddf = "Satterthwaite")$coefficients
  keep <- grep("^group", rownames(s))
  tq <- qt(0.975, s[keep, "df"])
  ml <- list(terms = rownames(s)[keep], estimate = unname(s[keep, "Estimate"]), se = unname(s[keep, "Std. Error"]),
             df = unname(s[keep, "df"]), p = unname(s[keep, "Pr(>|t|)"]),
             ci_low = unname(s[keep, "Estimate"] - tq * s[keep, "Std. Error"]),
             ci_high = unname(s[keep, "Estimate"] + tq * s[keep, "Std. Error"]))
  l <- lm(as.formula(paste("y ~", rhs)), d)
  ct <- coef_test(l, vcov = "CR2", cluster = d$school, test = "Satterthwaite")
  ci <- conf_int(l, vcov = "CR2", cluster = d$school, level = 0.95)
  k <- grep("^group", ct$Coef)
  cr <- list(terms = ct$Coef[k], estimate = unname(ct$beta[k]), se = unname(ct$SE[k]), df = unname(ct$df_Satt[k]),
             p = unname(ct$p_Satt[k]), ci_low = unname(ci$CI_L[k]), ci_high = unname(ci$CI_U[k]))
  out[[case]] <- list(covariates = covs, n = nrow(d), n_excluded = nrow(d0) - nrow(d), multilevel = ml, cr2 = cr)
}
write_json(out, "tests/reference/group_gaps.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote tests/reference/group_gaps.json\n")
