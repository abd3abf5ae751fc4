# Reference values for group_gaps(..., pairwise=True): every pair of groups' difference as a contrast
# L beta of one fitted model, with its standard error sqrt(L V L') and the contrast's own df.
# Run from the repository root:  Rscript tests/reference/group_pairwise.R
#   multilevel: lme4 + lmerTest, REML, lmerTest::contest (Satterthwaite df of the contrast);
#   cr2: lm + clubSandwich, CR2, linear_contrast (Satterthwaite df of the contrast).
# Data: tests/reference/data/group_gaps.csv (written by group_gaps.R). Writes tests/reference/group_pairwise.json.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(clubSandwich); library(jsonlite)})
f <- "tests/reference/data/group_gaps.csv"
d0 <- read.csv(f, na.strings = "")
cases <- list(unadjusted = character(0), adjusted = c("x", "phase"))
out <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
            lmerTest = as.character(packageVersion("lmerTest")),
            clubSandwich = as.character(packageVersion("clubSandwich")), md5 = unname(tools::md5sum(f)))
for (case in names(cases)) {
  covs <- cases[[case]]
  d <- d0[complete.cases(d0[, c("y", "group", "school", covs)]), ]
  d$group <- relevel(factor(d$group), ref = "a")
  levs <- levels(d$group)
  rhs <- paste(c("group", covs), collapse = " + ")
  m <- lmer(as.formula(paste("y ~", rhs, "+ (1 | school)")), d, REML = TRUE)
  l <- lm(as.formula(paste("y ~", rhs)), d)
  b <- fixef(m); V <- as.matrix(vcov(m))
  pairs <- list(); ml <- list(); cr <- list()
  for (i in 1:(length(levs) - 1)) for (j in (i + 1):length(levs)) {
    L <- setNames(numeric(length(b)), names(b))
    if (levs[j] != "a") L[paste0("group", levs[j])] <- 1
    if (levs[i] != "a") L[paste0("group", levs[i])] <- -1
    est <- sum(L * b); se <- sqrt(drop(t(L) %*% V %*% L))
    ct <- lmerTest::contest(m, L = L, joint = FALSE, level = 0.95)
    ml[[length(ml) + 1]] <- list(group = levs[j], reference = levs[i], estimate = est, se = se,
                                 estimate_contest = ct$Estimate, se_contest = ct[["Std. Error"]],
                                 df = ct$df, p = ct[["Pr(>|t|)"]], ci_low = ct$lower, ci_high = ct$upper)
    Lc <- matrix(L, nrow = 1)
    lc <- linear_contrast(l, vcov = "CR2", cluster = d$school, contrasts = Lc, level = 0.95, test = "Satterthwaite")
    cr[[length(cr) + 1]] <- list(group = levs[j], reference = levs[i], estimate = lc$Est, se = lc$SE,
                                 df = lc$df, p = 2 * pt(-abs(lc$Est / lc$SE), lc$df), ci_low = lc$CI_L, ci_high = lc$CI_U)
  }
  pick <- function(x, k) sapply(x, `[[`, k)
  tidy <- function(x) list(group = pick(x, "group"), reference = pick(x, "reference"),
                           estimate = pick(x, "estimate"), se = pick(x, "se"), df = pick(x, "df"),
                           p = pick(x, "p"), ci_low = pick(x, "ci_low"), ci_high = pick(x, "ci_high"),
                           p_holm = p.adjust(pick(x, "p"), method = "holm"))
  mm <- tidy(ml)
  mm$estimate_contest <- pick(ml, "estimate_contest"); mm$se_contest <- pick(ml, "se_contest")
  out[[case]] <- list(covariates = covs, n = nrow(d), multilevel = mm, cr2 = tidy(cr))
}
write_json(out, "tests/reference/group_pairwise.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote tests/reference/group_pairwise.json\n")
